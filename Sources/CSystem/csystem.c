#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
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

int vmp_ficlone(int dst_fd, int src_fd) {
#ifdef FICLONE
    return ioctl(dst_fd, FICLONE, src_fd);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}
