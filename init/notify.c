/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-init, the listener of the policy's kill rules (include/sbx/notify.h).
 * The process that installs the filter is under it from then on: any call it
 * makes may be one the policy kills, and that call's notification waits for
 * a reader of the listener, which then must already be out of reach of the
 * process.  So a helper that shares the installer's descriptor table but not
 * its filter (clone with CLONE_FILES, before the filter) takes the listener
 * out: it sends it to init over SBX_FD_NOTIFY and closes it in the shared
 * table, and only then lets the installer go on.  Init passes it to the
 * daemon at once (NOTIFY, or INIT_EXEC_NOTIFY for an exec'd process, which
 * installs a filter of its own), even while the process is still starting.  The
 * trampoline does the same in trap and rewrite modes (trampoline/filter.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init/init.h"
#include "sbx/abi.h"
#include "sbx/macro.h"
#include "sbx/notify.h"

static int send_listener(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } c = { 0 };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

/* A seccomp listener answers an id it does not know with ENOENT; nothing else does. */
static bool is_listener(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode))
        return false;
    uint64_t id = 0;
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 || errno == ENOENT;
}

/*
 * The helper: waits for the listener to appear in the shared table, sends
 * it, closes it and the socket, and closes done_w, which tells the installer.
 * If the installer is gone first, so is the reason to wait.  If the listener
 * cannot be sent, the installer must not run on: the helper, which is under
 * no filter, says why on the status pipe and kills it.
 */
static _noreturn_ void handover(pid_t installer, int done_w)
{
    for (;;) {
        for (int fd = SBX_NOTIFY_SCAN_FIRST; fd < SBX_NOTIFY_SCAN_END; fd++) {
            if (fd == done_w || !is_listener(fd))
                continue;
            int err = send_listener(SBX_FD_NOTIFY, fd) < 0 ? errno : 0;
            close(fd);
            close(SBX_FD_NOTIFY);
            if (err) {
                struct sbx_status_record rec = { .err = err, .stage = SBX_STAGE_FILTER };
                ssize_t n _unused_ = write(SBX_FD_STATUS, &rec, sizeof(rec));
                kill(installer, SIGKILL);
            }
            close(done_w);
            _exit(0);
        }
        if (kill(installer, 0) < 0)
            _exit(1);
        sched_yield();
    }
}

int sbx_init_notify_install(struct sock_fprog *prog)
{
    if (!sbx_notify_in_prog(prog->filter, prog->len)) {
        close(SBX_FD_NOTIFY);
        return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
    }
    int done[2];
    if (pipe2(done, O_CLOEXEC) < 0)
        return -1;
    pid_t installer = getpid();
    /* A child of init, not of the guest, which would otherwise find it among its own. */
    pid_t helper = (pid_t)syscall(SYS_clone, CLONE_FILES | CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (helper == 0)
        handover(installer, done[1]);
    if (helper > 0 && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, prog) >= 0) {
        /* Under the filter from here on; the helper delivers the listener regardless. */
        char byte;
        ssize_t n;
        do
            n = read(done[0], &byte, 1);
        while (n < 0 && errno == EINTR);
        return n == 0 ? 0 : -1;
    }
    /* No listener: the kill rules kill all the same, without a name. */
    if (helper > 0)
        kill(helper, SIGKILL);
    close(done[0]);
    close(done[1]);
    close(SBX_FD_NOTIFY);
    sbx_notify_to_kill(prog->filter, prog->len);
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
}

int sbx_init_notify_forward(int sock, int ctl, uint32_t exec_id)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } c;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)
    };
    ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EAGAIN ? 0 : sbx_neg_errno();
    if (n == 0)
        return 0; /* the guest's end is closed: no kill rule, or no listener to be had */
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (n != 1 || !cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    _cleanup_close_ int fd = -EBADF;
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    struct sbx_buf b = { 0 };
    int r;
    if (exec_id) {
        struct sbx_msg_exec_signal m = { .id = exec_id };
        r = sbx_msg_exec_signal_encode(SBX_MSG_INIT_EXEC_NOTIFY, &m, &b);
    } else {
        sbx_proto_begin(&b, SBX_MSG_NOTIFY);
        r = sbx_proto_finish(&b);
    }
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, &fd, 1);
    sbx_buf_free(&b);
    return r < 0 ? r : 1;
}
