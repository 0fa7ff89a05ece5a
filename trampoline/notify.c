/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The filter's install with a listener for the policy's kill rules
 * (include/sbx/notify.h), as init/notify.c does it in `off` mode: a
 * helper that shares this process's descriptor table but not its filter
 * (clone with CLONE_FILES, made before the filter) sends the listener to
 * sandbox init over SBX_FD_NOTIFY and closes it, before the trampoline
 * makes more than one call under the filter: a call the policy kills waits
 * for a reader of the listener, and none may be in the guest's reach.
 *
 * Signal-safety contract: startup only, single-threaded, before any guest
 * code; the helper is a separate process with a copy of the memory.
 */
#include <linux/filter.h>
#include <linux/ioctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/socket.h>
#include <asm/stat.h>

#include "tramp.h"
#include "sbx/abi.h"
#include "sbx/notify.h"

#define SIGKILL_NR 9
#define SIGCHLD_NR 17
#define PIPE_CLOEXEC 02000000
#define MODE_FMT 0170000
#define MODE_FIFO 0010000
#define MODE_CHR 0020000
#define MODE_SOCK 0140000
#define SOL_SOCKET_NR 1
#define SCM_RIGHTS_NR 1
#define MSG_NOSIGNAL_NR 0x4000

struct k_iovec {
    void *base;
    size_t len;
};

struct k_msghdr {
    void *name;
    int namelen;
    struct k_iovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned flags;
};

struct k_cmsg_fd {
    size_t len;
    int level;
    int type;
    int fd;
    int pad;
};

static long send_listener(int fd)
{
    char byte = 0;
    struct k_iovec iov = { &byte, 1 };
    struct k_cmsg_fd c = {
        .len = 16 + sizeof(int), .level = SOL_SOCKET_NR, .type = SCM_RIGHTS_NR, .fd = fd
    };
    struct k_msghdr mh = { .iov = &iov, .iovlen = 1, .control = &c, .controllen = sizeof(c) };
    long n;
    do
        n = sbx_sys3(__NR_sendmsg, SBX_FD_NOTIFY, (long)&mh, MSG_NOSIGNAL_NR);
    while (n == -EINTR);
    return n == 1 ? 0 : n < 0 ? n : -EIO;
}

static int is_listener(int fd)
{
    struct stat st;
    if (sbx_sys2(__NR_fstat, fd, (long)&st) < 0)
        return 0;
    unsigned fmt = st.st_mode & MODE_FMT;
    if (fmt == MODE_FIFO || fmt == MODE_CHR || fmt == MODE_SOCK)
        return 0;
    uint64_t id = 0;
    long r = sbx_sys3(__NR_ioctl, fd, SECCOMP_IOCTL_NOTIF_ID_VALID, (long)&id);
    return r == 0 || r == -ENOENT;
}

/* The helper: see init/notify.c, handover(). */
static SBX_NORETURN void handover(long installer, int done_w)
{
    for (;;) {
        for (int fd = SBX_NOTIFY_SCAN_FIRST; fd < SBX_NOTIFY_SCAN_END; fd++) {
            if (fd == done_w || !is_listener(fd))
                continue;
            long err = send_listener(fd);
            sbx_sys1(__NR_close, fd);
            sbx_sys1(__NR_close, SBX_FD_NOTIFY);
            if (err < 0) {
                struct sbx_status_record rec = { .err = (int)-err, .stage = SBX_STAGE_FILTER };
                sbx_sys3(__NR_write, SBX_FD_STATUS, (long)&rec, sizeof(rec));
                sbx_sys2(__NR_kill, installer, SIGKILL_NR);
            }
            sbx_sys1(__NR_close, done_w);
            sbx_exit(0);
        }
        if (sbx_sys2(__NR_kill, installer, 0) < 0)
            sbx_exit(1);
        sbx_sys0(__NR_sched_yield);
    }
}

int sbx_tramp_install_filter(struct sock_fprog *fp)
{
    if (!sbx_notify_in_prog(fp->filter, fp->len)) {
        sbx_sys1(__NR_close, SBX_FD_NOTIFY);
        return (int)sbx_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)fp);
    }
    int done[2];
    long r = sbx_sys2(__NR_pipe2, (long)done, PIPE_CLOEXEC);
    if (r < 0)
        return (int)r;
    long installer = sbx_sys0(__NR_getpid);
    /* A child of init, not of the guest, which would otherwise find it among its own. */
    long helper = sbx_sys5(__NR_clone, CLONE_FILES | CLONE_PARENT | SIGCHLD_NR, 0, 0, 0, 0);
    if (helper == 0)
        handover(installer, done[1]);
    if (helper > 0 && sbx_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
                               SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)fp) >= 0) {
        /* Under the filter from here on; the helper delivers the listener regardless. */
        char byte;
        long n;
        do
            n = sbx_sys3(__NR_read, done[0], (long)&byte, 1);
        while (n == -EINTR);
        sbx_sys1(__NR_close, done[0]);
        return n == 0 ? 0 : n < 0 ? (int)n : -EIO;
    }
    /* No listener: the kill rules kill all the same, without a name. */
    if (helper > 0)
        sbx_sys2(__NR_kill, helper, SIGKILL_NR);
    sbx_sys1(__NR_close, done[0]);
    sbx_sys1(__NR_close, done[1]);
    sbx_sys1(__NR_close, SBX_FD_NOTIFY);
    sbx_notify_to_kill(fp->filter, fp->len);
    return (int)sbx_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)fp);
}
