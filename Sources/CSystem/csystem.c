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
