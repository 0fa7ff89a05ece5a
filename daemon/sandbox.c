/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One sandbox's life in the daemon: clone3 into new namespaces and the
 * sandbox's cgroup, exec sbx-init from its sealed memfd at once, hand it the
 * SPEC and fds, then follow it by pidfd until it exits and clean up.
 */
#include "daemon/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/idmap.h"
#include "daemon/image.h"
#include "init/init.h"
#include "daemon/init-spawn.h"
#include "daemon/killnotif.h"
#include "daemon/log.h"
#include "daemon/spawn-report.h"
#include "daemon/spare.h"
#include "sbx/macro.h"
#include "sbx/trace.h"

/*
 * The trampoline's counters, shared with every process of the sandbox.  Its
 * size is sealed: a guest that could shrink it would make every mapping of it
 * fault.  The contents stay the guest's to scribble on (statistics only).
 * Only `--stats` makes the trampoline keep the descriptor open (counts that
 * survive exec); otherwise it maps the page and closes the fd, so the guest
 * sees no descriptor of ours.
 */
static int stats_memfd(bool keep_fd, bool trace, const uint64_t *select)
{
    _cleanup_close_ int fd = memfd_create("sbx-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return sbx_neg_errno();
    if (ftruncate(fd, trace ? (off_t)sbx_trace_memfd_size() : (off_t)sizeof(struct sbx_stats)) < 0)
        return sbx_neg_errno();
    uint64_t head[2] = { SBX_STATS_MAGIC, keep_fd ? SBX_STATS_KEEP_FD : 0 };
    if (pwrite(fd, head, sizeof(head), 0) != sizeof(head))
        return -EIO;
    struct sbx_trace_ring h = { .magic = SBX_TRACE_MAGIC,
                                .what = select ? SBX_TRACE_SELECT : SBX_TRACE_ALL };
    if (select)
        memcpy(h.select, select, sizeof(h.select));
    if (trace && pwrite(fd, &h, sizeof(h), SBX_TRACE_OFFSET) != sizeof(h))
        return -EIO;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

void sbx_sandbox_premake_stats(struct sbx_sandbox *s)
{
    int fd = stats_memfd(false, false, NULL);
    if (fd >= 0)
        s->stats_fd = fd;
}

/*
 * The run's statistics page: a spare's (made before the request) when the
 * run asks for no trace, told to keep its descriptor under --stats; a new
 * one for a trace, whose ring it holds; none in mode off.
 */
static int run_stats(struct sbx_sandbox *s, const struct sbx_sandbox_params *p)
{
    bool keep_fd = s->want_stats || p->trace;
    if (p->spec->mode == SBX_MODE_OFF || p->trace)
        s->stats_fd = sbx_close(s->stats_fd);
    if (p->spec->mode == SBX_MODE_OFF)
        return 0;
    if (s->stats_fd < 0) {
        s->stats_fd = stats_memfd(keep_fd, p->trace, p->trace_select);
        return s->stats_fd < 0 ? s->stats_fd : 0;
    }
    uint64_t flags = SBX_STATS_KEEP_FD;
    if (keep_fd && pwrite(s->stats_fd, &flags, sizeof(flags), offsetof(struct sbx_stats, flags)) !=
                       sizeof(flags))
        return -EIO;
    return 0;
}

/* clone3 + exec of sbx-init (daemon/init-spawn.c), in the sandbox's namespaces. */
static pid_t spawn_init(struct sbx_daemon *d, int ctl_child, int cgroup_fd,
                        const int v1_procs[SBX_CG_N], int report, bool net_host, int maps_done,
                        int *ret_pidfd)
{
    struct sbx_init_spawn a = {
        .exe = d->init_memfd,
        .ctl = ctl_child,
        .cgroup_fd = cgroup_fd,
        .v1_procs = v1_procs,
        .report = report,
        .ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                    (net_host ? 0 : CLONE_NEWNET) | (maps_done >= 0 ? CLONE_NEWUSER : 0),
        .maps_done = maps_done,
        .userns_cwd = d->staging_dir,
        /* The daemon raised its own nofile limit; the sandbox gets the one it was started with. */
        .nofile = d->child_nofile.rlim_max ? &d->child_nofile : NULL,
    };
    return sbx_init_spawn(&a, ret_pidfd);
}

/*
 * With a user namespace of its own, the image's files keep the owners the
 * image gave them, as the guest sees them: its mount is idmapped with the
 * sandbox's namespace.  A bind maps the caller's own ids to the guest's
 * (sbx_idmap_bind_map): what the guest makes there is the caller's on the
 * host, and it may do there only what the caller could.  A directory root
 * is the host's own files, so it is mapped as a bind is: with the
 * sandbox's namespace, host id N would be guest id N, and a guest that may
 * be any id of its namespace could read every host file below 65536.
 */
static int idmap_mounts(struct sbx_sandbox *s, const struct sbx_sandbox_params *p, int image)
{
    if (s->userns_fd < 0)
        return 0;
    bool dir_root = s->image->loop_nr < 0;
    int r;
    if (!dir_root && image >= 0 && (r = sbx_idmap_mount(image, s->userns_fd)) < 0)
        return r;
    if (!p->spec->n_binds && !dir_root)
        return 0;
    char uid_map[256], gid_map[256];
    if ((r = sbx_idmap_bind_map(p->caller_uid, s->ids.uid + p->spec->uid, s->ids.uid, uid_map,
                                sizeof(uid_map))) < 0 ||
        (r = sbx_idmap_bind_map(p->caller_gid, s->ids.gid + p->spec->gid, s->ids.gid, gid_map,
                                sizeof(gid_map))) < 0)
        return r;
    _cleanup_close_ int ns = sbx_idmap_userns(uid_map, gid_map);
    if (ns < 0)
        return ns;
    if (dir_root && (r = sbx_idmap_mount(image, ns)) < 0)
        return r;
    for (uint32_t i = 0; i < p->spec->n_binds; i++)
        if ((r = sbx_idmap_mount(p->bind_fds[i], ns)) < 0)
            return r;
    return 0;
}

static int send_spec(struct sbx_sandbox *s, const struct sbx_sandbox_params *p, bool prepared)
{
    /*
     * Each sandbox attaches its own copy of the cached image mount.  A spare
     * asked to build a root has one already, idmapped (spare_prepare), kept
     * for a run of that image (sandbox_launch): with a prepared root, init
     * builds from it only if that root is not there.
     */
    bool premade = s->prepared_image >= 0;
    _cleanup_close_ int image =
        premade ? TAKE_FD(s->prepared_image)
                : (int)syscall(SYS_open_tree, s->image->mount_fd, "",
                               OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (image < 0)
        return sbx_neg_errno();
    int r = idmap_mounts(s, p, premade ? -EBADF : image);
    if (r < 0)
        return r;
    int fds[SBX_PROTO_MAX_FDS];
    unsigned n = 0;
    fds[n++] = image;
    for (int i = 0; i < 3; i++)
        fds[n++] = p->stdio[i];
    fds[n++] = p->policy_bpf_fd;
    if (p->spec->mode != SBX_MODE_OFF) {
        fds[n++] = s->image->trampoline_fd >= 0 ? s->image->trampoline_fd : s->d->trampoline_memfd;
        fds[n++] = s->stats_fd;
    }
    if (n + p->spec->n_binds > SBX_PROTO_MAX_FDS)
        return -E2BIG;
    for (uint32_t i = 0; i < p->spec->n_binds; i++)
        fds[n++] = p->bind_fds[i];
    struct sbx_spec spec = *p->spec;
    if (prepared)
        spec.flags |= SBX_SPEC_PREPARED;
    struct sbx_buf b = { 0 };
    r = sbx_spec_encode(&spec, &b);
    if (r >= 0)
        r = sbx_proto_send(s->ctl_fd, &b, fds, n);
    sbx_buf_free(&b);
    return r;
}

enum { SBX_H_PID = 1, SBX_H_CTL = 2, SBX_H_TIMER = 4 };

static void on_handle_closed(uv_handle_t *h)
{
    struct sbx_sandbox *s = h->data;
    if (--s->handles_open > 0)
        return;
    struct sbx_daemon *d = s->d;
    free(s);
    sbx_daemon_maybe_exit(d);
}

static void sandbox_unlink(struct sbx_sandbox *s)
{
    for (struct sbx_sandbox **p = &s->d->sandboxes; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            return;
        }
    }
}

/* The one way up: what the owner, the code that started the sandbox, hears. */
static int notify_owner(struct sbx_sandbox *s, const struct sbx_sandbox_note *n)
{
    return s->owner.notify ? s->owner.notify(s->owner.ctx, s, n) : 0;
}

/* A frame of init's that is not the sandbox's own (exec's): 1 when the owner took it. */
static bool owner_takes_frame(struct sbx_sandbox *s, struct sbx_frame *f)
{
    struct sbx_sandbox_note n = { .what = SBX_SANDBOX_INIT_FRAME, .frame = f };
    return notify_owner(s, &n) > 0;
}

/*
 * An ended sandbox's cgroup is removed in libuv's thread pool: rmdir, and
 * the cgroup.kill it may need, can wait on the kernel for milliseconds
 * (an RCU grace period, a memory cgroup going offline), which the loop
 * must not spend while others wait for it.  The daemon exits only once
 * every one is done (sbx_daemon_maybe_exit), so none is left behind.
 */
struct cgroup_reap {
    uv_work_t work;
    struct sbx_daemon *d;
    struct sbx_cgroup cg;
};

static void reap_cgroup(uv_work_t *w)
{
    struct cgroup_reap *r = w->data;
    sbx_cgroup_destroy(&r->cg);
}

static void cgroup_reaped(uv_work_t *w, int status)
{
    (void)status; /* nothing cancels this work */
    struct cgroup_reap *r = w->data;
    struct sbx_daemon *d = r->d;
    free(r);
    d->cgroup_reaps--;
    sbx_daemon_maybe_exit(d);
}

static void release_cgroup(struct sbx_sandbox *s)
{
    struct cgroup_reap *r = s->cg.name ? malloc(sizeof(*r)) : NULL;
    if (r) {
        *r = (struct cgroup_reap){ .d = s->d, .cg = s->cg };
        r->work.data = r;
        if (uv_queue_work(s->d->loop, &r->work, reap_cgroup, cgroup_reaped) == 0) {
            s->d->cgroup_reaps++;
            s->cg = (struct sbx_cgroup){ .v2_fd = -EBADF };
            return;
        }
        free(r);
    }
    sbx_cgroup_destroy(&s->cg);
}

/* Everything the sandbox holds goes, and the struct after libuv lets go of it. */
void sbx_sandbox_finish(struct sbx_sandbox *s)
{
    sandbox_unlink(s);
    notify_owner(s, &(struct sbx_sandbox_note){ .what = SBX_SANDBOX_GONE });
    sbx_killnotif_free(s->killnotif);
    s->killnotif = NULL;
    release_cgroup(s);
    /* init is reaped, so is every process of its pid namespace: the ids are free. */
    s->userns_fd = sbx_close(s->userns_fd);
    s->prepared_image = sbx_close(s->prepared_image);
    sbx_idrange_release(&s->d->ids, &s->ids);
    sbx_image_release(&s->d->images, s->image, sbx_daemon_now(s->d));
    s->image = NULL;
    sbx_proto_rx_clear(&s->rx);
    sbx_msg_report_free(&s->report);
    s->stats_fd = sbx_close(s->stats_fd);
    s->guest_pidfd = sbx_close(s->guest_pidfd);
    s->spawn_report = sbx_close(s->spawn_report);
    s->handles_open = (unsigned)__builtin_popcount(s->handles_inited);
    if (s->handles_open == 0) {
        struct sbx_daemon *d = s->d;
        sbx_close(s->ctl_fd);
        sbx_close(s->pidfd);
        free(s);
        sbx_daemon_maybe_exit(d);
        return;
    }
    if (s->handles_inited & SBX_H_PID)
        uv_close((uv_handle_t *)&s->pid_poll, on_handle_closed);
    if (s->handles_inited & SBX_H_CTL)
        uv_close((uv_handle_t *)&s->ctl_poll, on_handle_closed);
    if (s->handles_inited & SBX_H_TIMER)
        uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    /* uv_close stopped the polls synchronously, so the fds can go now. */
    s->ctl_fd = sbx_close(s->ctl_fd);
    s->pidfd = sbx_close(s->pidfd);
}

/* Read with pread, never mapped: whatever a guest did to the file, the daemon cannot fault. */
static int read_stats(struct sbx_sandbox *s, struct sbx_msg_exit *m)
{
    if (s->stats_fd < 0 || !s->want_stats)
        return 0;
    struct sbx_stats *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    if (pread(s->stats_fd, st, sizeof(*st), 0) != (ssize_t)sizeof(*st)) {
        free(st);
        return -EIO;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < SBX_STATS_NSYSCALLS; i++)
        n += st->trapped[i] || st->patched[i];
    m->stats = calloc(n ? n : 1, sizeof(*m->stats));
    if (!m->stats) {
        free(st);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < SBX_STATS_NSYSCALLS; i++) {
        if (!st->trapped[i] && !st->patched[i])
            continue;
        m->stats[m->n_stats++] = (struct sbx_stat_entry){ .nr = i,
                                                          .trapped = st->trapped[i],
                                                          .patched = st->patched[i] };
    }
    free(st);
    return 0;
}

/* Whether the child of clone3 failed before it became sbx-init; s->spawn_msg says how. */
bool sbx_sandbox_spawn_failed(struct sbx_sandbox *s)
{
    struct sbx_error why = { 0 };
    if (!sbx_spawn_report_read(s->spawn_report, &why))
        return false;
    snprintf(s->spawn_msg, sizeof(s->spawn_msg), "the sandbox's init %.160s (the guest never ran)",
             why.msg);
    return true;
}

/* How the sandbox ended, from init's report and what the daemon saw. */
static void describe_exit(struct sbx_sandbox *s, const siginfo_t *si, struct sbx_msg_exit *m)
{
    if (s->timed_out) {
        m->kind = SBX_EXIT_TIMEOUT;
        m->message = (char *)s->kill_reason;
    } else if (s->have_report) {
        m->kind = s->report.kind;
        m->code = s->report.code;
        m->message = s->report.message;
        if (m->kind == SBX_EXIT_SIGNALED && m->code == SIGKILL && sbx_cgroup_oom_killed(&s->cg)) {
            m->kind = SBX_EXIT_OOM;
            m->message = "killed: out of memory (the policy's memory limit)";
        }
        /*
         * The policy's kill rules are the daemon's to carry out (killnotif.c),
         * so it knows the call.  A SIGSYS without one is the kernel's kill of
         * a call of another architecture, or the guest's own signal.
         */
        bool sigsys = m->kind == SBX_EXIT_SIGNALED && m->code == SIGSYS;
        if (!m->message)
            m->message = (char *)sbx_killnotif_describe(
                s->killnotif, m->kind == SBX_EXIT_SIGNALED ? (int)m->code : 0);
        if (sigsys && !m->message)
            m->message = "killed by SIGSYS: not by a kill rule of the policy, so by a syscall "
                         "of another architecture (i386, x32), which the policy always kills, "
                         "or by a signal";
    } else if (s->killed) {
        m->kind = SBX_EXIT_SIGNALED;
        m->code = SIGKILL;
        m->message = (char *)s->kill_reason;
    } else if (sbx_cgroup_oom_killed(&s->cg)) {
        m->kind = SBX_EXIT_OOM;
        m->message = "killed: out of memory (the policy's memory limit)";
    } else if (si && si->si_code == CLD_EXITED && si->si_status == SBX_SPAWN_EXIT_STATUS &&
               sbx_sandbox_spawn_failed(s)) {
        m->kind = SBX_EXIT_SETUP;
        m->code = EIO;
        m->message = s->spawn_msg;
    } else {
        m->kind = SBX_EXIT_SETUP;
        m->code = EIO;
        m->message = si && si->si_code == CLD_EXITED ? "sandbox init exited without a report"
                                                     : "sandbox init was killed";
    }
}

/*
 * Tells the client how the sandbox ended, once: as soon as init reports the
 * guest's end, so the client does not wait for the sandbox's teardown (the
 * mount namespace goes with init's exit), or when init is gone without a report.
 * A sandbox with a writable image is the exception: see release_writable.
 */
static void report_exit(struct sbx_sandbox *s, const siginfo_t *si)
{
    if (s->exit_sent)
        return;
    s->exit_sent = true;
    struct sbx_msg_exit m = { 0 };
    describe_exit(s, si, &m);
    m.killed_syscall = (char *)sbx_killnotif_syscall(s->killnotif);
    int r = read_stats(s, &m);
    if (r < 0)
        sbx_warn("sandbox %llu: cannot read its syscall counts: %s", (unsigned long long)s->id,
                 strerror(-r));
    /* Told once: the owner's ctx is forgotten before it hears. */
    void *ctx = s->owner.ctx;
    s->owner.ctx = NULL;
    if (s->owner.notify)
        s->owner.notify(ctx, s,
                        &(struct sbx_sandbox_note){ .what = SBX_SANDBOX_EXITED, .exit = &m });
    free(m.stats);
    /* The client has its answer: the next sandbox is prepared once it has gone. */
    sbx_sandbox_refill_spare_soon(s->d);
}

#define RELEASE_POLL_MS 10
#define RELEASE_POLLS 200

static void on_release_poll(uv_timer_t *t)
{
    struct sbx_sandbox *s = t->data;
    bool busy = sbx_image_file_busy(&s->d->images, s->image_dev, s->image_ino);
    if (busy && ++s->release_polls < RELEASE_POLLS)
        return;
    if (busy)
        sbx_warn("sandbox %llu: its writable image is still attached to a loop device %d ms "
                 "after the sandbox ended; it stays in use until the holder lets go",
                 (unsigned long long)s->id, RELEASE_POLL_MS * RELEASE_POLLS);
    uv_timer_stop(t);
    report_exit(s, &s->init_si);
    sbx_sandbox_finish(s);
}

/* In libuv's thread pool: this close is the final unmount, and writes what init's syncfs left. */
static void close_writable_mount(uv_work_t *w)
{
    struct sbx_sandbox *s = w->data;
    s->release_fd = sbx_close(s->release_fd);
}

static void writable_mount_closed(uv_work_t *w, int status)
{
    (void)status; /* nothing cancels this work */
    struct sbx_sandbox *s = w->data;
    struct sbx_image *img = s->image;
    s->image = NULL;
    if (sbx_image_release(&s->d->images, img, sbx_daemon_now(s->d)) == -EBUSY &&
        uv_timer_start(&s->timer, on_release_poll, RELEASE_POLL_MS, RELEASE_POLL_MS) == 0)
        return;
    report_exit(s, &s->init_si);
    sbx_sandbox_finish(s);
}

/*
 * The client of a writable image reads or reuses the file as soon as it has
 * its EXIT, so that waits until init is gone (with it its mount namespace and
 * every mount of the image in it), the daemon's own mount is closed, and the
 * loop device has let go of the file: by then ext4 has written everything
 * back through the loop device into the file, and the next run may mount it.
 * init wrote the data back before it ended; the rest of the unmount (the
 * journal, the superblock, the loop device's flush) still takes a while, so
 * the daemon's close runs in libuv's thread pool, and the sandbox keeps its
 * reference (the image stays exclusive) until it returns.  The unmount
 * normally completes within that close; a process that still holds the
 * filesystem (an fd passed out of the sandbox) is waited for a while, then
 * reported, and the image stays exclusive until it is free.
 */
static void release_writable(struct sbx_sandbox *s, const siginfo_t *si)
{
    s->init_si = *si;
    s->image_dev = s->image->dev;
    s->image_ino = s->image->ino;
    s->release_fd = sbx_image_take_mount(s->image);
    s->release_work.data = s;
    /* It fails only without a work callback. */
    (void)uv_queue_work(s->d->loop, &s->release_work, close_writable_mount, writable_mount_closed);
}

static void on_init_exit(uv_poll_t *h, int status, int events)
{
    struct sbx_sandbox *s = h->data;
    siginfo_t si = { 0 };
    if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
        return; /* not yet: a spurious wakeup */
    uv_poll_stop(&s->pid_poll);
    /* Init's last report may still sit in the socket. */
    struct sbx_frame f;
    while (!s->have_report && sbx_proto_rx_read(&s->rx, s->ctl_fd, &f) == 1) {
        if (f.type == SBX_MSG_REPORT && sbx_msg_report_decode(&f, &s->report) >= 0)
            s->have_report = true;
        sbx_frame_clear(&f);
    }
    if (s->writable_image && s->image) {
        release_writable(s, &si);
        return;
    }
    report_exit(s, &si);
    sbx_sandbox_finish(s);
}

/*
 * The guest's process group is orphaned (its parent, init, is in another
 * session), so the kernel drops a SIGTSTP, SIGTTIN or SIGTTOU whose default
 * action would stop it.  The daemon does what that default would do, and
 * sends SIGSTOP, unless the guest catches or ignores the signal.  /proc is
 * read by the pid in fdinfo; if that pid were reused meanwhile, only the
 * choice of signal could be wrong: the signal itself goes by pidfd.
 */
static int stop_signal_for(int pidfd, int sig)
{
    if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
        return sig;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    int pid = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return sig;
    while (fgets(line, sizeof(line), f))
        sscanf(line, "Pid: %d", &pid);
    fclose(f);
    if (pid <= 0)
        return sig;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (!(f = fopen(path, "re")))
        return sig;
    unsigned long long caught = 0, ignored = 0;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "SigCgt: %llx", &caught);
        sscanf(line, "SigIgn: %llx", &ignored);
    }
    fclose(f);
    return (caught | ignored) & (1ULL << (sig - 1)) ? sig : SIGSTOP;
}

static int deliver(struct sbx_sandbox *s, int sig)
{
    if (syscall(SYS_pidfd_send_signal, s->guest_pidfd, stop_signal_for(s->guest_pidfd, sig), NULL,
                0) < 0)
        return sbx_neg_errno();
    return 0;
}

int sbx_sandbox_signal(struct sbx_sandbox *s, uint32_t signo)
{
    if (s->killed || s->have_report)
        return -ESRCH;
    /* Before init has handed over the guest: kept, at most once per signal, like the kernel. */
    if (s->guest_pidfd < 0) {
        s->pending_signals |= 1ULL << (signo - 1);
        return 0;
    }
    return deliver(s, (int)signo);
}

/*
 * GUEST from init: the pidfd of the guest's main process, once; the signals
 * kept go now.  Signal 0 proves the fd is a pidfd; ESRCH proves it too: a
 * short guest may be gone, and reaped by init, before the daemon reads this.
 */
static bool on_guest(struct sbx_sandbox *s, struct sbx_frame *f)
{
    if (s->guest_pidfd >= 0 || f->n_fds != 1 || sbx_msg_guest_decode(f) < 0 ||
        (syscall(SYS_pidfd_send_signal, f->fds[0], 0, NULL, 0) < 0 && errno != ESRCH))
        return false;
    s->guest_pidfd = TAKE_FD(f->fds[0]);
    for (int sig = 1; sig <= SBX_SIGNAL_MAX; sig++)
        if (s->pending_signals & (1ULL << (sig - 1)))
            deliver(s, sig);
    s->pending_signals = 0;
    notify_owner(s, &(struct sbx_sandbox_note){ .what = SBX_SANDBOX_GUEST_STARTED });
    sbx_sandbox_refill_spare_while_running(s->d);
    return true;
}

/*
 * NOTIFY from init: the listener of the policy's kill rules, once.  If the
 * daemon cannot watch it, no call of a kill rule would ever end: the sandbox goes.
 */
static bool on_notify_fd(struct sbx_sandbox *s, struct sbx_frame *f)
{
    if (s->killnotif || f->n_fds != 1 || sbx_msg_notify_decode(f) < 0)
        return false;
    int r = sbx_killnotif_start(s, f->fds[0], &s->killnotif);
    if (r < 0) {
        sbx_warn("sandbox %llu: cannot watch the seccomp listener: %s", (unsigned long long)s->id,
                 strerror(-r));
        sbx_sandbox_kill(s, "killed: sandboxd cannot carry out the seccomp policy's kill rules");
        return true;
    }
    f->fds[0] = -EBADF;
    return true;
}

/* Only a pty master goes to the client: a character device of major 5, minor 2. */
static bool is_pty_master(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 &&
           minor(st.st_rdev) == 2;
}

/* TTY from init: the master of the guest's pty, passed on to the client, once. */
static bool on_tty(struct sbx_sandbox *s, struct sbx_frame *f)
{
    if (!s->want_tty || s->tty_sent || f->n_fds != 1 || sbx_msg_tty_decode(f) < 0 ||
        !is_pty_master(f->fds[0]))
        return false;
    s->tty_sent = true;
    if (notify_owner(s, &(struct sbx_sandbox_note){ .what = SBX_SANDBOX_TTY, .fd = f->fds[0] }) < 0)
        sbx_info("sandbox %llu: cannot hand the terminal to the client", (unsigned long long)s->id);
    return true;
}

static void on_ctl(uv_poll_t *h, int status, int events)
{
    struct sbx_sandbox *s = h->data;
    struct sbx_frame f;
    int r = sbx_proto_rx_read(&s->rx, s->ctl_fd, &f);
    if (r == 0)
        return;
    if (r == 1) {
        if (f.type == SBX_MSG_REPORT && !s->have_report &&
            sbx_msg_report_decode(&f, &s->report) >= 0) {
            s->have_report = true;
            sbx_frame_clear(&f);
            if (!s->writable_image)
                report_exit(s, NULL);
            return;
        }
        if ((f.type == SBX_MSG_TTY && on_tty(s, &f)) ||
            (f.type == SBX_MSG_GUEST && on_guest(s, &f)) ||
            (f.type == SBX_MSG_NOTIFY && on_notify_fd(s, &f)) || owner_takes_frame(s, &f)) {
            sbx_frame_clear(&f);
            return;
        }
        sbx_frame_clear(&f);
        sbx_warn("sandbox %llu: unexpected frame from init", (unsigned long long)s->id);
    }
    /* EOF or garbage: init is ending (or broken); the pidfd tells the rest. */
    uv_poll_stop(&s->ctl_poll);
}

static void on_timeout(uv_timer_t *t)
{
    struct sbx_sandbox *s = t->data;
    sbx_info("sandbox %llu: timeout, killing it", (unsigned long long)s->id);
    s->timed_out = true;
    sbx_sandbox_kill(s, "killed: the policy's timeout expired");
}

void sbx_sandbox_kill(struct sbx_sandbox *s, const char *why)
{
    if (s->killed)
        return;
    s->killed = true;
    s->kill_reason = why;
    /* SIGKILL to init takes its whole pid namespace with it. */
    if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        sbx_warn("sandbox %llu: cannot kill init: %m", (unsigned long long)s->id);
}

/*
 * Kills init and reaps it within a second: for when the loop cannot watch its
 * pidfd.  poll works whether or not libuv made the pidfd non-blocking (a
 * blocking waitid fails with EAGAIN on a non-blocking one).
 */
void sbx_sandbox_kill_and_reap_now(struct sbx_sandbox *s)
{
    syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
    struct pollfd p = { .fd = s->pidfd, .events = POLLIN };
    while (poll(&p, 1, 1000) < 0 && errno == EINTR)
        ;
    siginfo_t si = { 0 };
    if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
        sbx_warn("sandbox %llu: init did not exit within 1 s of SIGKILL: it stays a zombie "
                 "until sandboxd exits",
                 (unsigned long long)s->id);
}

/* A killed init is gone: reaped, its sandbox goes. */
static void on_killed_exit(uv_poll_t *h, int status, int events)
{
    struct sbx_sandbox *s = h->data;
    siginfo_t si = { 0 };
    int r = waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG);
    if (r == 0 && si.si_pid == 0)
        return; /* not yet: a spurious wakeup */
    if (r < 0 && errno == EINTR)
        return;
    uv_poll_stop(&s->pid_poll);
    sbx_sandbox_finish(s);
}

/*
 * Ends a sandbox that never got going, or the spare: SIGKILL to init, which
 * is reaped when the loop sees its pidfd become readable, never by waiting in
 * the loop.  The sandbox must be on the daemon's list, so that a stopping
 * daemon waits for the reaping; nothing is reported to anyone.
 */
void sbx_sandbox_kill_then_reap(struct sbx_sandbox *s)
{
    s->exit_sent = true;
    s->owner.ctx = NULL;
    s->killed = true;
    if (s->handles_inited & SBX_H_CTL)
        uv_poll_stop(&s->ctl_poll);
    if (s->handles_inited & SBX_H_TIMER)
        uv_timer_stop(&s->timer);
    if (uv_poll_start(&s->pid_poll, UV_READABLE, on_killed_exit) < 0) {
        sbx_sandbox_kill_and_reap_now(s);
        sbx_sandbox_finish(s);
        return;
    }
    if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        sbx_warn("sandbox %llu: cannot kill init: %m", (unsigned long long)s->id);
}

/*
 * The part of a sandbox that does not depend on the request: its cgroup,
 * new namespaces, and sbx-init exec'd and waiting for its SPEC.  A warm
 * daemon keeps one of these ready (the spare), which takes clone3 and the
 * exec of init off the path of the next run.
 */
/*
 * Gives the new init its user namespace's maps (guest ids 0..65535 to the
 * block), keeps an fd of the namespace for idmapped mounts, and lets init go.
 */
static int give_maps(struct sbx_sandbox *s, int maps_done, struct sbx_error *e)
{
    char uid_map[64], gid_map[64], path[64];
    snprintf(uid_map, sizeof(uid_map), "0 %u %u\n", s->ids.uid, SBX_IDRANGE_SIZE);
    snprintf(gid_map, sizeof(gid_map), "0 %u %u\n", s->ids.gid, SBX_IDRANGE_SIZE);
    int r = sbx_idmap_write(s->pid, uid_map, gid_map);
    if (r < 0) {
        sbx_error_set_errno(e, r, "cannot write the id maps of the sandbox's user namespace");
        return r;
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)s->pid);
    if ((s->userns_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        r = sbx_neg_errno();
        sbx_error_set_errno(e, r, "cannot open the sandbox's user namespace");
        return r;
    }
    if (write(maps_done, "1", 1) != 1) {
        r = sbx_neg_errno();
        sbx_error_set_errno(e, r, "cannot let the sandbox's init go on");
        return r;
    }
    return 0;
}

int sbx_sandbox_spawn(struct sbx_daemon *d, bool net_host, bool userns, struct sbx_sandbox **ret,
                      struct sbx_error *e)
{
    struct sbx_sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct sbx_sandbox){
        .d = d,
        .id = ++d->next_id,
        .pidfd = -EBADF,
        .ctl_fd = -EBADF,
        .stats_fd = -EBADF,
        .guest_pidfd = -EBADF,
        .spawn_report = -EBADF,
        .cg = { .v2_fd = -EBADF },
        .net_host = net_host,
        .ids = { .block = -1 },
        .userns_fd = -EBADF,
        .prepared_image = -EBADF,
    };
    sbx_proto_rx_init(&s->rx);
    int ctl[2] = { -EBADF, -EBADF };
    _cleanup_close_ int maps_done = -EBADF;
    int maps[2] = { -EBADF, -EBADF };
    char name[64];
    snprintf(name, sizeof(name), "sbx-%d-%llu", (int)getpid(), (unsigned long long)s->id);
    /* Limits of a run are mostly the defaults: the launch then moves init nowhere. */
    int r = sbx_cgroup_create(&d->cgroups, name, &d->default_limits, &s->cg, e);
    if (r < 0)
        goto fail;
    if (userns && (r = sbx_idrange_alloc(&d->ids, &s->ids)) < 0) {
        sbx_error_set(
            e, r,
            "every block of host ids is in use (%u sandboxes with a user namespace of their "
            "own): give user %s more subordinate ids",
            d->ids.n_blocks, d->cfg.subid_user);
        goto fail;
    }
    if (userns && pipe2(maps, O_CLOEXEC) < 0) {
        r = sbx_neg_errno();
        sbx_error_set_errno(e, r, "pipe");
        goto fail;
    }
    maps_done = maps[1];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
        r = sbx_neg_errno();
        sbx_error_set_errno(e, r, "socketpair");
        goto fail;
    }
    s->ctl_fd = ctl[0];
    int report[2];
    if ((r = sbx_spawn_report_open(report)) < 0) {
        sbx_close(ctl[1]);
        sbx_error_set_errno(e, r, "pipe");
        goto fail;
    }
    s->spawn_report = report[0];
    int procs[SBX_CG_N];
    if ((r = sbx_cgroup_v1_procs_open(&s->cg, procs)) < 0) {
        sbx_close(ctl[1]);
        sbx_close(report[1]);
        sbx_error_set_errno(e, r, "cannot open the sandbox's v1 cgroup");
        goto fail;
    }
    s->pid = spawn_init(d, ctl[1], s->cg.v2_fd, procs, report[1], net_host, maps[0], &s->pidfd);
    sbx_close(ctl[1]);
    sbx_close(report[1]);
    sbx_close(maps[0]);
    if (s->pid >= 0)
        sbx_cgroup_v1_self_attached(&s->cg, procs);
    for (int c = 0; c < SBX_CG_N; c++)
        sbx_close(procs[c]);
    if (s->pid < 0) {
        r = s->pid;
        sbx_error_set_errno(e, r, "clone3 of the sandbox");
        goto fail;
    }
    if (userns && (r = give_maps(s, maps_done, e)) < 0) {
        sbx_sandbox_kill_and_reap_now(s);
        goto fail;
    }
    if ((r = uv_poll_init(d->loop, &s->pid_poll, s->pidfd)) < 0) {
        sbx_error_set(e, r, "cannot watch the sandbox: %s", uv_strerror(r));
        sbx_sandbox_kill_and_reap_now(s);
        goto fail;
    }
    s->pid_poll.data = s;
    s->handles_inited |= SBX_H_PID;
    *ret = s;
    return 0;
fail:
    sbx_close(s->ctl_fd);
    sbx_close(s->pidfd);
    sbx_close(s->spawn_report);
    sbx_close(s->userns_fd);
    sbx_idrange_release(&d->ids, &s->ids);
    sbx_cgroup_destroy(&s->cg);
    free(s);
    return r;
}

static int start_watching(struct sbx_sandbox *s)
{
    uv_loop_t *loop = s->d->loop;
    int r;
    if ((r = uv_poll_init(loop, &s->ctl_poll, s->ctl_fd)) < 0)
        return r;
    s->ctl_poll.data = s;
    s->handles_inited |= SBX_H_CTL;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->handles_inited |= SBX_H_TIMER;
    if ((r = uv_poll_start(&s->pid_poll, UV_READABLE, on_init_exit)) < 0 ||
        (r = uv_poll_start(&s->ctl_poll, UV_READABLE | UV_DISCONNECT, on_ctl)) < 0)
        return r;
    if (s->timeout_ms && (r = uv_timer_start(&s->timer, on_timeout, s->timeout_ms, 0)) < 0)
        return r;
    return 0;
}

/* Gives a spawned sandbox its request: limits, spec, fds; then follows it. */
static int sandbox_launch(struct sbx_sandbox *s, const struct sbx_sandbox_params *p, bool prepared,
                          struct sbx_error *e)
{
    struct sbx_daemon *d = s->d;
    s->owner = p->owner;
    /*
     * A spare's reference to its prepared image: the run holds its own.  The
     * spare's copy of that image's mount serves a run of the same image,
     * prepared root or not; another image's goes now.
     */
    if (s->image != p->image)
        s->prepared_image = sbx_close(s->prepared_image);
    sbx_image_release(&d->images, s->image, sbx_daemon_now(d));
    s->image = p->image;
    s->writable_image = p->image->writable;
    s->timeout_ms = p->timeout_ms;
    s->want_stats = p->stats;
    s->want_tty = p->spec->flags & SBX_SPEC_TTY;
    s->guest_sigsys = p->spec->mode == SBX_MODE_OFF;
    int r;
    if ((r = sbx_cgroup_limit(&d->cgroups, &s->cg, &p->limits, e)) < 0)
        return r;
    if ((r = sbx_cgroup_attach_v1(&s->cg, s->pid)) < 0) {
        sbx_error_set_errno(e, r, "cannot move the sandbox into its cgroup");
        return r;
    }
    /* A trace's ring is in the stats memfd: the fd is kept across exec as for --stats. */
    if ((r = run_stats(s, p)) < 0) {
        sbx_error_set_errno(e, r, "cannot create the statistics memfd");
        return r;
    }
    struct sbx_sandbox_note trace = { .what = SBX_SANDBOX_TRACE, .fd = s->stats_fd };
    if (p->trace && s->stats_fd >= 0 && (r = notify_owner(s, &trace)) < 0) {
        sbx_error_set_errno(e, r, "cannot send the trace ring");
        return r;
    }
    if ((r = send_spec(s, p, prepared)) < 0) {
        sbx_error_set_errno(e, r, "cannot hand the spec to sandbox init");
        return r;
    }
    if (fcntl(s->ctl_fd, F_SETFL, O_NONBLOCK) < 0) {
        r = sbx_neg_errno();
        sbx_error_set_errno(e, r, "cannot watch the sandbox");
        return r;
    }
    if ((r = start_watching(s)) < 0) {
        sbx_error_set(e, r, "cannot watch the sandbox: %s", uv_strerror(r));
        return r;
    }
    return 0;
}

int sbx_sandbox_start(struct sbx_daemon *d, const struct sbx_sandbox_params *p,
                      struct sbx_sandbox **ret, struct sbx_error *e)
{
    struct sbx_sandbox *s = NULL;
    struct sbx_root_key key = { .set = false };
    bool eligible = sbx_root_key(p, &key), prepared = false;
    if (d->spare && d->spare->net_host == p->net_host && (d->spare->ids.block >= 0) == p->userns) {
        s = d->spare;
        d->spare = NULL;
        prepared = eligible && sbx_root_key_eq(&s->prepared, &key);
        sbx_debug("sandbox %llu: the spare, %s", (unsigned long long)s->id,
                  prepared          ? "with its root prepared"
                  : s->prepared.set ? "its prepared root left unused"
                                    : "with no prepared root");
    } else {
        int r = sbx_sandbox_spawn(d, p->net_host, p->userns, &s, e);
        if (r < 0) {
            sbx_image_release(&d->images, p->image, sbx_daemon_now(d));
            return r;
        }
    }
    /* The next spare prepares the root of the last run that could use one. */
    if (eligible)
        d->last_root = key;
    s->next = d->sandboxes;
    d->sandboxes = s;
    int r = sandbox_launch(s, p, prepared, e);
    if (r < 0) {
        /* Nothing ran yet: init goes once reaped, without a report. */
        sbx_sandbox_kill_then_reap(s);
        return r;
    }
    *ret = s;
    return 0;
}
