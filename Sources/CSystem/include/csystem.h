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

#endif
