#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

int vmp_signalfd(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int vmp_read_signal(int fd, int *sender_pid) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) {
        if (sender_pid) *sender_pid = (int)info.ssi_pid;
        return (int)info.ssi_signo;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
}

int vmp_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

short vmp_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0x80;
#endif
}

void vmp_runner_signal_mask(sigset_t *set) {
    static const int listed[] = {
        /* Term */ SIGHUP, SIGINT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGPOLL, SIGPROF, SIGVTALRM,
#ifdef SIGSTKFLT
        SIGSTKFLT,
#endif
#ifdef SIGPWR
        SIGPWR,
#endif
        /* Core */ SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS, SIGXCPU, SIGXFSZ,
        /* Stop */ SIGTSTP, SIGTTIN, SIGTTOU,
        SIGCHLD,
    };
    sigemptyset(set);
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) sigaddset(set, listed[i]);
    /* Real-time signals (default: Term). sigaddset refuses the ones the C library keeps for itself. */
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++) sigaddset(set, s);
}

const char *vmp_signal_abbrev(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    return sigabbrev_np(sig);
#else
    (void)sig;
    return NULL;
#endif
}

int vmp_ficlone(int dst_fd, int src_fd) {
#ifdef FICLONE
    return ioctl(dst_fd, FICLONE, src_fd);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}

#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

static int vmp_unix_address(int dirfd, const char *name, struct sockaddr_un *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int n = snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", dirfd, name);
    if (n < 0 || (size_t)n >= sizeof addr->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int vmp_unix_listen(int dirfd, const char *name) {
    struct sockaddr_un addr;
    if (vmp_unix_address(dirfd, name, &addr) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int vmp_unix_connect(int dirfd, const char *name) {
    struct sockaddr_un addr;
    if (vmp_unix_address(dirfd, name, &addr) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc;
    do { rc = connect(fd, (struct sockaddr *)&addr, sizeof addr); } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int vmp_peer_uid(int fd, unsigned int *uid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = (unsigned int)cred.uid;
    return 0;
}

int vmp_accept(int fd) {
    int c;
    do { c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); } while (c < 0 && errno == EINTR);
    return c;
}

long vmp_send(int fd, const void *buf, unsigned long len) {
    ssize_t n;
    do { n = send(fd, buf, len, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return (long)n;
}
