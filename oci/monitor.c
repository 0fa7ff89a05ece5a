/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The monitor, once `create` has returned: it waits for `start`, then passes
 * every signal it receives on to the guest (`kill` signals the monitor; it
 * is the pid the engine knows), and exits with the guest's status when
 * sbx-init reports it.  SIGKILL cannot be passed on, and need not be: the
 * monitor dies, and sbx-init, whose parent death signal is SIGKILL, takes
 * the sandbox with it.  Also the small helpers create and exec share.
 */
#include "oci/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"

int sbx_oci_exit_status(unsigned kind, unsigned code)
{
    switch (kind) {
    case SBX_EXIT_EXITED:
        return (int)(code & 0xff);
    case SBX_EXIT_SIGNALED:
        return 128 + (int)code;
    case SBX_EXIT_NOTFOUND:
        return 127;
    case SBX_EXIT_NOEXEC:
        return 126;
    default:
        return 125;
    }
}

/* A pidfd's pid, from its fdinfo. */
static pid_t pidfd_pid(int pidfd)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nPid:");
    return p ? (pid_t)strtol(p + 5, NULL, 10) : -1;
}

/* How init ended when its socket closed without a report. */
static int init_status(pid_t init)
{
    int st;
    while (waitpid(init, &st, 0) < 0)
        if (errno != EINTR)
            return 125;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 125;
}

/* START to init, then its GUEST (running) or REPORT (the guest could not start). */
static void do_start(struct sbx_oci_watch *w, int client, int *ret_exit)
{
    struct sbx_oci_start_reply rep = { 0 };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_empty_encode(SBX_MSG_START, &b);
    if (r >= 0)
        r = sbx_proto_send(w->ctl, &b, NULL, 0);
    sbx_buf_free(&b);
    while (r >= 0) {
        struct sbx_frame f = { 0 };
        r = sbx_proto_recv(w->ctl, &f);
        if (r <= 0) {
            r = -EPIPE;
            snprintf(rep.msg, sizeof(rep.msg), "sandbox init ended before the guest started");
            *ret_exit = init_status(w->init);
            break;
        }
        if (f.type == SBX_MSG_GUEST && sbx_msg_guest_decode(&f) == 0 && f.n_fds == 1) {
            w->guest_pidfd = f.fds[0];
            f.fds[0] = -1;
            f.n_fds = 0;
            rep.guest = pidfd_pid(w->guest_pidfd);
            sbx_frame_clear(&f);
            break;
        }
        struct sbx_msg_report report = { 0 };
        if (sbx_msg_report_decode(&f, &report) == 0) {
            r = -(int)(report.code ? report.code : EIO);
            snprintf(rep.msg, sizeof(rep.msg), "%s%s",
                     report.kind == SBX_EXIT_NOTFOUND ? "executable file not found in $PATH: " : "",
                     report.message ? report.message : "the guest did not start");
            *ret_exit = sbx_oci_exit_status(report.kind, report.code);
            sbx_msg_report_free(&report);
        } else {
            r = -EPROTO;
            snprintf(rep.msg, sizeof(rep.msg), "sandbox init sent an unexpected frame");
            *ret_exit = 125;
        }
        sbx_frame_clear(&f);
    }
    rep.err = r < 0 ? -r : 0;
    ssize_t n _unused_ = write(client, &rep, sizeof(rep));
}

int sbx_oci_watch(struct sbx_oci_watch *w)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGCHLD);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        return 125;
    for (;;) {
        struct pollfd p[3] = {
            { .fd = w->ctl, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
            { .fd = w->listen, .events = POLLIN },
        };
        if (poll(p, w->listen >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 125;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (w->guest_pidfd >= 0) {
                    syscall(SYS_pidfd_send_signal, w->guest_pidfd, sig, NULL, 0);
                } else {
                    /* Not started: there is no guest to signal; the container ends. */
                    kill(w->init, SIGKILL);
                    init_status(w->init);
                    return 128 + sig;
                }
            }
        }
        if (w->listen >= 0 && (p[2].revents & POLLIN)) {
            _cleanup_close_ int c = accept4(w->listen, NULL, NULL, SOCK_CLOEXEC);
            char cmd;
            if (c >= 0 && read(c, &cmd, 1) == 1 && cmd == 's') {
                int code = -1;
                do_start(w, c, &code);
                w->listen = sbx_close(w->listen);
                if (code >= 0)
                    return code;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            struct sbx_frame f = { 0 };
            int r = sbx_proto_recv(w->ctl, &f);
            if (r <= 0)
                return init_status(w->init);
            struct sbx_msg_report rep = { 0 };
            if (sbx_msg_report_decode(&f, &rep) == 0) {
                int code = sbx_oci_exit_status(rep.kind, rep.code);
                sbx_msg_report_free(&rep);
                sbx_frame_clear(&f);
                init_status(w->init);
                return code;
            }
            sbx_frame_clear(&f);
        }
    }
}

int sbx_oci_console_connect(const char *path, struct sbx_error *e)
{
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return sbx_error_set(e, ENAMETOOLONG, "--console-socket %s: path too long", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return sbx_error_set(e, errno, "--console-socket %s: %s", path, strerror(errno));
    return TAKE_FD(s);
}

int sbx_oci_send_console(const char *path, int fd, struct sbx_error *e)
{
    _cleanup_close_ int s = sbx_oci_console_connect(path, e);
    return s < 0 ? s : sbx_oci_console_send(s, path, fd, e);
}

int sbx_oci_console_send(int s, const char *path, int fd, struct sbx_error *e)
{
    /* As runc: one byte of payload naming the terminal, the master in SCM_RIGHTS. */
    char name[] = "/dev/ptmx";
    struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u = { { 0 } };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
        return sbx_error_set(e, errno, "--console-socket %s: send: %s", path, strerror(errno));
    return 0;
}

int sbx_oci_write_pid_file(const char *path, pid_t pid, struct sbx_error *e)
{
    char tmp[4096 + 16], buf[32];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return sbx_error_set(e, ENAMETOOLONG, "--pid-file: path too long");
    int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n || rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return sbx_error_set(e, err, "--pid-file %s: %s", path, strerror(err));
    }
    return 0;
}

void sbx_oci_cgroup_destroy(struct sbx_cgroup *cg, const char *freezer_v1)
{
    char *parents[2 + SBX_CG_N] = { NULL };
    const char *dirs[2 + SBX_CG_N] = { cg->v2_path, cg->v1_path[0], cg->v1_path[1], cg->v1_path[2],
                                       freezer_v1 };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (dirs[i] && (parents[i] = strdup(dirs[i])) && strrchr(parents[i], '/'))
            *strrchr(parents[i], '/') = '\0';
    sbx_cgroup_destroy(cg);
    /* The freezer group empties with the others (they held the same processes). */
    for (int i = 0; freezer_v1 && i < 5000 && rmdir(freezer_v1) < 0 && errno == EBUSY; i++)
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    /*
     * The parent made for it (cgroupsPath's directory) goes too once no other
     * container is in it; rmdir refuses while one is.  A hierarchy's root
     * and systemd's slices (its own, even where it does not run) stay.
     */
    for (size_t i = 0; i < ARRAY_SIZE(parents); i++) {
        size_t len = parents[i] ? strlen(parents[i]) : 0;
        if (len > 15 && strncmp(parents[i], "/sys/fs/cgroup/", 15) == 0 &&
            strchr(parents[i] + 15, '/') && (len < 6 || strcmp(parents[i] + len - 6, ".slice")))
            rmdir(parents[i]);
        free(parents[i]);
    }
}

int sbx_oci_preserve_fds(const char *arg, unsigned *ret, struct sbx_error *e)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || n > SBX_OCI_MAX_BINDS)
        return sbx_error_set(e, EINVAL, "--preserve-fds: %s is not a number up to %d", arg,
                             SBX_OCI_MAX_BINDS);
    for (unsigned long i = 0; i < n; i++)
        if (fcntl(3 + (int)i, F_GETFD) < 0)
            return sbx_error_set(e, EBADF, "--preserve-fds %lu: fd %lu is not open", n, 3 + i);
    *ret = (unsigned)n;
    return 0;
}

ssize_t sbx_oci_read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int sbx_oci_parse_signal(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end)
        return n > 0 && n < _NSIG ? (int)n : -EINVAL;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && !strcasecmp(abbrev, s))
            return sig;
    }
    if (!strncasecmp(s, "RTMIN+", 6) || !strncasecmp(s, "RTMAX-", 6)) {
        n = strtol(s + 6, &end, 10);
        int sig = s[5] == '+' ? SIGRTMIN + (int)n : SIGRTMAX - (int)n;
        return !*end && n >= 0 && sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -EINVAL;
    }
    return -EINVAL;
}
