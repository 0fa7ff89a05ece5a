/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy's kill rules, carried out by the daemon.  They compile to
 * SECCOMP_RET_USER_NOTIF (include/sbx/notify.h), and the listener comes from
 * init (NOTIFY).  A caller waits in the kernel, its call not made, until the
 * daemon reads the notification: the daemon then knows the syscall and kills
 * the calling thread with SIGSYS, as SECCOMP_RET_KILL_PROCESS would.  It
 * never answers a notification, so no call of a kill rule ever runs.
 *
 * SIGSYS alone is not the whole kill: a process that catches or blocks it
 * would live on.  One that catches it (its handler could fork a child that
 * nobody watches) gets SIGKILL instead.  A thread that notifies again after
 * SIGSYS gets SIGKILL at once, and a process still alive KILL_GRACE_MS after
 * its SIGSYS gets SIGKILL then; so does, at once, a process beyond the
 * MAX_PENDING watched at a time.  Anything that keeps the daemon from carrying out a kill (the
 * listener fails, a pidfd cannot be had) kills the whole sandbox: the kill
 * rules fail closed.
 */
#include "daemon/killnotif.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/sandbox.h"
#include "sbx/macro.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define KILL_GRACE_MS 500
#define MAX_PENDING 16     /* processes given SIGSYS and not yet seen to die */
#define RECV_PER_WAKEUP 64 /* notifications read before the loop serves others */

/*
 * A process given SIGSYS and not yet seen to die.  It is known by the
 * calling thread's tid and start time, not by a pidfd: a sandbox holds no
 * descriptor for it (the daemon's budget of descriptors per connection),
 * and a tid reused within the grace period would also have to start in the
 * same clock tick.  The thread, not the group's leader: a leader that has
 * ended while its threads run reads as a zombie, which is no sign of the
 * process's end, while the thread waits in its call until the process dies.
 */
struct pending {
    pid_t tid;
    pid_t tgid;               /* 0: a free slot */
    unsigned long long start; /* of tid */
    uint64_t deadline_ms;
};

struct sbx_killnotif {
    struct sbx_sandbox *s; /* NULL once the sandbox let go */
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    unsigned handles_open;
    struct seccomp_notif *n; /* sized as the kernel says */
    size_t n_size;
    struct pending pending[MAX_PENDING];
    char *first_name; /* the first killed call, by name */
    unsigned kills;
    unsigned sigkills; /* of them, ended with SIGKILL after SIGSYS did not do it */
    char message[256];
};

static void on_closed(uv_handle_t *h)
{
    struct sbx_killnotif *k = h->data;
    if (--k->handles_open > 0)
        return;
    sbx_close(k->fd);
    free(k->n);
    free(k->first_name);
    free(k);
}

void sbx_killnotif_free(struct sbx_killnotif *k)
{
    if (!k)
        return;
    k->s = NULL;
    uv_close((uv_handle_t *)&k->poll, on_closed);
    uv_close((uv_handle_t *)&k->timer, on_closed);
}

const char *sbx_killnotif_syscall(const struct sbx_killnotif *k)
{
    return k ? k->first_name : NULL;
}

const char *sbx_killnotif_describe(struct sbx_killnotif *k, int main_signal)
{
    if (!k || !k->first_name)
        return NULL;
    char more[48] = "";
    if (k->kills > 1)
        snprintf(more, sizeof(more), " (and %u more)", k->kills - 1);
    if (main_signal == SIGSYS)
        snprintf(k->message, sizeof(k->message),
                 "killed by SIGSYS: the seccomp policy's kill action, on syscall %s%s",
                 k->first_name, more);
    else if (main_signal == SIGKILL && k->sigkills)
        snprintf(k->message, sizeof(k->message),
                 "killed by SIGKILL: the seccomp policy's kill action, on syscall %s%s, after "
                 "SIGSYS did not end the process (it ignores, blocks or catches SIGSYS)",
                 k->first_name, more);
    else
        snprintf(k->message, sizeof(k->message),
                 "a process was killed by the seccomp policy's kill action, on syscall %s%s",
                 k->first_name, more);
    return k->message;
}

/* Ends the sandbox when a kill cannot be carried out: no call of a kill rule may go on. */
static void fail_closed(struct sbx_killnotif *k, const char *what)
{
    sbx_warn("sandbox %llu: %s: %m; killing the sandbox", (unsigned long long)k->s->id, what);
    uv_poll_stop(&k->poll);
    sbx_sandbox_kill(k->s, "killed: sandboxd could not carry out the seccomp policy's kill action");
}

/*
 * The start time of thread or process pid (field 22 of /proc/PID/stat), or 0
 * when it is gone or a zombie.  The command name in parentheses may hold
 * anything: the fields are counted from its last ')'.
 */
static unsigned long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2; /* field 3, the state */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

static bool alive(const struct pending *p)
{
    return p->tgid > 0 && start_time(p->tid) == p->start;
}

/* SIGKILL to the process p names, by a pidfd checked against its thread's start time. */
static void kill_pending(const struct pending *p)
{
    _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, p->tgid, 0);
    if (fd >= 0 && alive(p))
        syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
}

static void on_grace(uv_timer_t *t)
{
    struct sbx_killnotif *k = t->data;
    uint64_t now = uv_now(t->loop);
    bool left = false;
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        struct pending *p = &k->pending[i];
        if (p->tgid == 0)
            continue;
        if (alive(p) && now < p->deadline_ms) {
            left = true;
            continue;
        }
        /* It caught, ignored or blocked SIGSYS: the kill rule still ends it. */
        if (alive(p)) {
            k->sigkills++;
            kill_pending(p);
        }
        p->tgid = 0;
    }
    if (!left)
        uv_timer_stop(t);
}

/*
 * The thread group of tid, from /proc (the notification names the thread
 * only), and whether the process catches SIGSYS (SigCgt, a hex mask whose
 * bit n-1 is signal n).  A status too long to hold SigCgt counts as one
 * that catches it.
 */
static pid_t tgid_of(pid_t tid, bool *catches_sigsys)
{
    char path[64], buf[8192];
    *catches_sigsys = true;
    snprintf(path, sizeof(path), "/proc/%d/status", tid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *c = strstr(buf, "\nSigCgt:");
    if (c)
        *catches_sigsys = (strtoull(c + 8, NULL, 16) >> (SIGSYS - 1)) & 1;
    const char *t = strstr(buf, "\nTgid:");
    return t ? (pid_t)strtol(t + 6, NULL, 10) : -1;
}

static struct pending *pending_of(struct sbx_killnotif *k, pid_t tid)
{
    for (unsigned i = 0; i < MAX_PENDING; i++)
        if (k->pending[i].tgid > 0 && k->pending[i].tid == tid && alive(&k->pending[i]))
            return &k->pending[i];
    return NULL;
}

/* A slot for one more process, after letting go of those that died. */
static struct pending *free_pending(struct sbx_killnotif *k)
{
    for (unsigned i = 0; i < MAX_PENDING; i++)
        if (k->pending[i].tgid > 0 && !alive(&k->pending[i]))
            k->pending[i].tgid = 0;
    for (unsigned i = 0; i < MAX_PENDING; i++)
        if (k->pending[i].tgid == 0)
            return &k->pending[i];
    return NULL;
}

static void note_kill(struct sbx_killnotif *k, int nr)
{
    k->kills++;
    if (k->first_name)
        return;
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
    if (name || asprintf(&name, "syscall %d", nr) >= 0)
        k->first_name = name;
}

/*
 * One notification.  The pid in it is the thread's, in the daemon's pid
 * namespace; the thread stays in the kernel until it is signalled, so it
 * cannot exit on its own meanwhile, but another thread of its process may
 * end it and the pid be reused.  The pidfds are opened first and the
 * notification checked afterwards: if it is still valid, they name the
 * thread that made it.
 */
static int kill_caller(struct sbx_killnotif *k)
{
    const struct seccomp_notif *n = k->n;
    pid_t tid = (pid_t)n->pid;
    bool catches;
    pid_t tgid = tgid_of(tid, &catches);
    _cleanup_close_ int thread = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    bool have_thread = thread >= 0;
    _cleanup_close_ int group = tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -EBADF;
    /* Read while the caller is known to wait (below): after the signal, tid may be reused. */
    unsigned long long start = start_time(tid);
    uint64_t id = n->id;
    if (ioctl(k->fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
        return 0; /* the caller is gone, or a signal took it out of its call */
    if (group < 0 || start == 0)
        return -1; /* the caller waits, and this daemon cannot watch it */
    note_kill(k, n->data.nr);
    struct pending *p = pending_of(k, tid);
    struct pending *slot = p ? NULL : free_pending(k);
    /*
     * A second call after SIGSYS, or no room to watch the first: SIGKILL now.
     * So too for a guest's own SIGSYS handler (off mode; in the others the
     * trampoline's handler dies of a SIGSYS from outside): it would run the
     * guest's code after the kill, and a child it forks would outlive it.
     */
    int sig = slot && !(k->s->guest_sigsys && catches) ? SIGSYS : SIGKILL;
    int r;
    if (have_thread)
        r = (int)syscall(SYS_pidfd_send_signal, thread, sig, NULL, 0);
    else if (tid == tgid)
        r = (int)syscall(SYS_pidfd_send_signal, group, sig, NULL, 0);
    else
        r = (int)syscall(SYS_tgkill, tgid, tid, sig);
    if (r < 0 && errno != ESRCH)
        return -1;
    k->sigkills += sig == SIGKILL && r == 0;
    if (sig == SIGKILL || r < 0)
        return 0;
    *slot = (struct pending){ .tid = tid,
                              .tgid = tgid,
                              .start = start,
                              .deadline_ms = uv_now(k->poll.loop) + KILL_GRACE_MS };
    if (!uv_is_active((uv_handle_t *)&k->timer))
        uv_timer_start(&k->timer, on_grace, KILL_GRACE_MS / 5, KILL_GRACE_MS / 5);
    return 0;
}

static void on_notify(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct sbx_killnotif *k = h->data;
    if (!k->s)
        return;
    if (status < 0) {
        errno = -status;
        fail_closed(k, "seccomp listener");
        return;
    }
    for (unsigned i = 0; i < RECV_PER_WAKEUP; i++) {
        /* RECV blocks when nothing waits: ask poll first, which does not. */
        struct pollfd p = { .fd = k->fd, .events = POLLIN };
        if (poll(&p, 1, 0) != 1)
            return;
        if (!(p.revents & POLLIN)) {
            uv_poll_stop(h); /* POLLHUP: no process is left under the filter */
            return;
        }
        memset(k->n, 0, k->n_size);
        if (ioctl(k->fd, SECCOMP_IOCTL_NOTIF_RECV, k->n) < 0) {
            if (errno == ENOENT || errno == EINTR)
                continue; /* the caller went away between poll and RECV */
            fail_closed(k, "read the seccomp listener");
            return;
        }
        if (kill_caller(k) < 0) {
            fail_closed(k, "kill the caller of a syscall the policy kills");
            return;
        }
    }
}

int sbx_killnotif_start(struct sbx_sandbox *s, int fd, struct sbx_killnotif **ret)
{
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
        return sbx_neg_errno();
    struct sbx_killnotif *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->n_size = sizes.seccomp_notif > sizeof(*k->n) ? sizes.seccomp_notif : sizeof(*k->n);
    k->n = calloc(1, k->n_size);
    if (!k->n) {
        free(k);
        return -ENOMEM;
    }
    k->s = s;
    k->fd = fd;
    uv_loop_t *loop = s->d->loop;
    int r = uv_poll_init(loop, &k->poll, fd);
    if (r < 0) {
        free(k->n);
        free(k);
        return r;
    }
    uv_timer_init(loop, &k->timer);
    k->poll.data = k->timer.data = k;
    k->handles_open = 2;
    r = uv_poll_start(&k->poll, UV_READABLE, on_notify);
    if (r < 0) {
        k->fd = -EBADF; /* the caller still owns it on failure */
        sbx_killnotif_free(k);
        return r;
    }
    *ret = k;
    return 0;
}
