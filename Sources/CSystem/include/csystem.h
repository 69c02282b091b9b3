#ifndef VMPROV_CSYSTEM_H
#define VMPROV_CSYSTEM_H

#include <signal.h>

/* A signalfd for the signals in `mask` (which the caller has blocked); -1 on error. */
int vmp_signalfd(const sigset_t *mask);
/* The next signal number from a signalfd, 0 when none is pending, -1 on error. */
int vmp_read_signal(int fd, int *sender_pid);
/* Become a child subreaper, so orphans of our children are ours to reap (PID 1 is one already). */
int vmp_set_child_subreaper(void);
/* posix_spawn's POSIX_SPAWN_SETSID flag value on this system. */
short vmp_spawn_setsid_flag(void);
/* Shares src's blocks with dst (FICLONE reflink); 0 on success, -1 with errno (EOPNOTSUPP, EXDEV ...) when the
   file system cannot. */
int vmp_ficlone(int dst_fd, int src_fd);

/* The signals `vmprov run` takes over: every signal whose default action (signal(7)) terminates, dumps core or
   stops the process (all but SIGKILL and SIGSTOP, which cannot be caught), the real-time signals, and SIGCHLD. */
void vmp_runner_signal_mask(sigset_t *set);
/* The signal's abbreviation without "SIG" ("TERM"), or NULL when the C library cannot say. */
const char *vmp_signal_abbrev(int sig);

/* A listening UNIX stream socket (close-on-exec, non-blocking, backlog 8) bound to `name` inside the folder open
   as `dirfd` (through /proc/self/fd, so no path component is looked up again); -1 with errno. */
int vmp_unix_listen(int dirfd, const char *name);
/* A connected UNIX stream socket (close-on-exec, blocking) to `name` inside the folder open as `dirfd`; -1 with
   errno (ENOENT, ECONNREFUSED ...). */
int vmp_unix_connect(int dirfd, const char *name);
/* accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), retrying EINTR; -1 with errno (EAGAIN when none is waiting). */
int vmp_accept(int fd);
/* send(2) with MSG_NOSIGNAL (a peer that went away is EPIPE, never SIGPIPE), retrying EINTR. */
long vmp_send(int fd, const void *buf, unsigned long len);
/* The uid of the process at the other end of a UNIX socket (SO_PEERCRED); 0 on success, -1 with errno. */
int vmp_peer_uid(int fd, unsigned int *uid);

#endif
