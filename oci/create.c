/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * create, start and run.  `create` forks the monitor, the process whose pid
 * goes to --pid-file: a child of the engine (conmon and the containerd shim
 * are subreapers, so it stays theirs when `create` exits) that exits with
 * the container's status.  The monitor makes the cgroup, starts sbx-init in
 * new namespaces with clone3 and hands it the SPEC, exactly as the daemon
 * does (daemon/sandbox.c); sbx-init builds the root and stops short of the
 * guest (SBX_SPEC_WAIT_START).  `start` connects to the monitor's socket in
 * the state directory, and the monitor tells sbx-init to go on.  From then
 * on the monitor passes the signals it gets on to the guest (that is what
 * `kill` sends it) and ends with the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/init-spawn.h"
#include "init/init.h"
#include "daemon/spawn-report.h"
#include "oci/monitor.h"
#include "oci/oci.h"
#include "sbx/macro.h"
#include "sbx/notify.h"

/* What the monitor tells `create` once sbx-init waits (or why it could not get there). */
struct created_msg {
    int32_t err; /* 0: ready */
    int32_t init;
    uint64_t init_start;
    char cgroup_v2[PATH_MAX];
    char cgroup_v1[SBX_CG_N][PATH_MAX];
    char freezer_v1[PATH_MAX];
    char msg[1024];
};

/* The cgroup base of cgroupsPath's parent on each hierarchy, made if missing. */
static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return sbx_neg_errno();
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? sbx_neg_errno() : 0;
}

static bool is_fs(const char *path, unsigned long magic)
{
    struct statfs sfs;
    return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == magic;
}

static const char *const ctrl_names[SBX_CG_N] = { "memory", "pids", "cpu" };

/*
 * A cgroup root for cgroupsPath: v2 (the unified hierarchy, wherever it is
 * mounted) for placement and the controllers it has, v1 for the others, as
 * daemon/cgroup.c chooses them.
 */
static int cgroup_root_for(const char *cgroups_path, const struct sbx_cg_limits *lim,
                           const struct sbx_oci_cpu *cpu, struct sbx_cgroup_root *r,
                           char **ret_name, struct sbx_error *e)
{
    *r = (struct sbx_cgroup_root){ 0 };
    _cleanup_free_ char *parent = strdup(cgroups_path);
    if (!parent)
        return -ENOMEM;
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1])
        return sbx_error_set(e, EINVAL, "linux.cgroupsPath: %s has no name", cgroups_path);
    if (!(*ret_name = strdup(slash + 1)))
        return -ENOMEM;
    *slash = '\0';
    const char *v2mnt = is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC) ? "/sys/fs/cgroup"
                        : is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC)
                            ? "/sys/fs/cgroup/unified"
                            : NULL;
    int err;
    if (v2mnt) {
        if (asprintf(&r->v2_base, "%s%s", v2mnt, parent) < 0)
            return -ENOMEM;
        if ((err = mkdir_p(r->v2_base)) < 0)
            return sbx_error_set(e, err, "create cgroup %s: %s", r->v2_base, strerror(-err));
        char path[PATH_MAX + 32], ctrls[512] = "";
        snprintf(path, sizeof(path), "%s/cgroup.controllers", r->v2_base);
        FILE *f = fopen(path, "re");
        if (f) {
            if (!fgets(ctrls, sizeof(ctrls), f))
                ctrls[0] = '\0';
            fclose(f);
        }
        for (int c = 0; c < SBX_CG_N; c++) {
            if (!strstr(ctrls, ctrl_names[c]))
                continue;
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", r->v2_base);
            _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
            char req[16];
            int n = snprintf(req, sizeof(req), "+%s", ctrl_names[c]);
            r->v2_ctrl[c] = fd >= 0 && write(fd, req, (size_t)n) == n;
        }
    }
    for (int c = 0; c < SBX_CG_N; c++) {
        uint64_t want = c == SBX_CG_MEMORY ? lim->memory
                        : c == SBX_CG_PIDS ? lim->pids
                                           : lim->cpu_millis | cpu->shares;
        char mnt[64];
        snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s", ctrl_names[c]);
        if (r->v2_ctrl[c] || !want || !is_fs(mnt, CGROUP_SUPER_MAGIC))
            continue;
        if (asprintf(&r->v1_base[c], "%s%s", mnt, parent) < 0)
            return -ENOMEM;
        if ((err = mkdir_p(r->v1_base[c])) < 0)
            return sbx_error_set(e, err, "create cgroup %s: %s", r->v1_base[c], strerror(-err));
    }
    return 0;
}

/*
 * pause needs a freezer: cgroup v2 has one in every group; a host without
 * v2 has the v1 freezer hierarchy, and init goes into a group of it (its
 * children follow).  0 with ret empty when there is v2, or neither.
 */
static int freezer_v1_for(const char *cgroups_path, const struct sbx_cgroup *cg, pid_t init,
                          char *ret, size_t len, struct sbx_error *e)
{
    ret[0] = '\0';
    if (cg->v2_path || !is_fs("/sys/fs/cgroup/freezer", CGROUP_SUPER_MAGIC))
        return 0;
    if (snprintf(ret, len, "/sys/fs/cgroup/freezer%s", cgroups_path) >= (int)len)
        return sbx_error_set(e, ENAMETOOLONG, "freezer cgroup: path too long");
    int r = mkdir_p(ret);
    char procs[PATH_MAX + 16], pid[16];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", ret);
    int n = snprintf(pid, sizeof(pid), "%d", (int)init);
    _cleanup_close_ int fd = r < 0 ? -EBADF : open(procs, O_WRONLY | O_CLOEXEC);
    if (r < 0 || fd < 0 || write(fd, pid, (size_t)n) != n) {
        r = r < 0 ? r : sbx_neg_errno();
        rmdir(ret);
        return sbx_error_set(e, r, "freezer cgroup %s: %s", ret, strerror(-r));
    }
    return 0;
}

static void cgroup_root_free(struct sbx_cgroup_root *r)
{
    free(r->v2_base);
    for (int c = 0; c < SBX_CG_N; c++)
        free(r->v1_base[c]);
    *r = (struct sbx_cgroup_root){ 0 };
}

/*
 * linux.sysctl: written from the monitor after joining init's network and
 * ipc namespaces, whose /proc/sys entries are those of the writer's
 * namespaces, before the guest exists.
 */
static int apply_sysctl(const struct sbx_oci_config *c, pid_t init, struct sbx_error *e)
{
    for (size_t i = 0; i < c->n_sysctl; i++) {
        const char *key = c->sysctl[i].key;
        char ns[64], path[PATH_MAX];
        snprintf(ns, sizeof(ns), "/proc/%d/ns/%s", (int)init,
                 !strncmp(key, "net.", 4) ? "net" : "ipc");
        _cleanup_close_ int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, 0) < 0)
            return sbx_error_set(e, errno, "linux.sysctl.%s: join the sandbox's namespace: %s", key,
                                 strerror(errno));
        int n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
        for (char *p = path + 10; p < path + n; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t len = strlen(c->sysctl[i].value);
        if (fd < 0 || write(fd, c->sysctl[i].value, len) != (ssize_t)len)
            return sbx_error_set(e, errno, "linux.sysctl.%s: write %s: %s", key, path,
                                 strerror(errno));
    }
    return 0;
}

static int send_spec(int ctl, struct sbx_spec *spec, const int *fixed, unsigned n_fixed,
                     const int *binds, unsigned n_binds)
{
    int fds[SBX_PROTO_MAX_FDS];
    unsigned n = 0;
    if (n_fixed + n_binds > SBX_PROTO_MAX_FDS)
        return -E2BIG;
    for (unsigned i = 0; i < n_fixed; i++)
        fds[n++] = fixed[i];
    for (unsigned i = 0; i < n_binds; i++)
        fds[n++] = binds[i];
    struct sbx_buf b = { 0 };
    int r = sbx_spec_encode(spec, &b);
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, fds, n);
    sbx_buf_free(&b);
    return r;
}

/* The trampoline's statistics file; sandboxd-oci does not report them, but the trampoline maps it.
 */
int sbx_oci_stats_memfd(void)
{
    _cleanup_close_ int fd = memfd_create("sbx-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return sbx_neg_errno();
    if (ftruncate(fd, sizeof(struct sbx_stats)) < 0)
        return sbx_neg_errno();
    uint64_t magic = SBX_STATS_MAGIC;
    if (pwrite(fd, &magic, sizeof(magic), 0) != sizeof(magic))
        return -EIO;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

/* A report of sbx-init as an error message, in the words podman matches (runc's). */
static int report_fail(const struct sbx_msg_report *rep, struct sbx_error *e)
{
    const char *m = rep->message ? rep->message : "sandbox setup failed";
    if (rep->kind == SBX_EXIT_NOTFOUND)
        return sbx_error_set(e, ENOENT, "exec: %s: executable file not found in $PATH", m);
    if (rep->kind == SBX_EXIT_NOEXEC)
        return sbx_error_set(e, EACCES, "exec: %s: permission denied", m);
    if (rep->kind == SBX_EXIT_SETUP || rep->kind == SBX_EXIT_NOTFOUND)
        return sbx_error_set(e, (int)rep->code, "sandbox setup: %s", m);
    return sbx_error_set(e, EIO, "the container ended during setup");
}

/* Reads init's frames until READY (0), with the pty's master to the console socket first. */
static int wait_ready(int ctl, const char *console, const struct sbx_oci_process *proc,
                      struct sbx_error *e)
{
    for (;;) {
        struct sbx_frame f = { 0 };
        int r = sbx_proto_recv(ctl, &f);
        if (r <= 0)
            return sbx_error_set(e, EPIPE, "sandbox init ended during setup");
        if (sbx_msg_empty_decode(&f, SBX_MSG_READY) == 0) {
            sbx_frame_clear(&f);
            return 0;
        }
        if (f.type == SBX_MSG_TTY && sbx_msg_tty_decode(&f) == 0 && f.n_fds == 1) {
            if (proc->console_rows || proc->console_cols) {
                struct winsize ws = { .ws_row = proc->console_rows, .ws_col = proc->console_cols };
                ioctl(f.fds[0], TIOCSWINSZ, &ws);
            }
            r = console ? sbx_oci_send_console(console, f.fds[0], e)
                        : sbx_error_set(e, EINVAL, "process.terminal needs --console-socket");
            sbx_frame_clear(&f);
            if (r < 0)
                return r;
            continue;
        }
        struct sbx_msg_report rep = { 0 };
        if (sbx_msg_report_decode(&f, &rep) == 0) {
            r = report_fail(&rep, e);
            sbx_msg_report_free(&rep);
            sbx_frame_clear(&f);
            return r;
        }
        sbx_frame_clear(&f);
        return sbx_error_set(e, EPROTO, "sandbox init sent an unexpected frame");
    }
}

/* The listening socket `start` connects to: ctl in the state directory. */
static int listen_ctl(const char *dir, struct sbx_error *e)
{
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (dfd < 0 || s < 0)
        return sbx_error_set(e, errno, "control socket in %s: %s", dir, strerror(errno));
    /* Through the directory's fd: the state root may be deeper than sun_path allows. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/ctl", dfd);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0)
        return sbx_error_set(e, errno, "control socket in %s: %s", dir, strerror(errno));
    return TAKE_FD(s);
}

struct monitor {
    const struct sbx_oci_config *c;
    const char *dir;
    const char *console;
    int tree, bpf, trampoline, stats;
    int *bind_fds;
    unsigned n_pass;      /* fds 3.. for the guest (--preserve-fds) */
    int ns[SBX_OCI_NS_N]; /* the namespaces to join, or -EBADF */
    int status_w;
};

static _noreturn_ void monitor_fail(int status_w, struct created_msg *m, int err,
                                    const struct sbx_error *e)
{
    m->err = err < 0 ? -err : err ? err : EIO;
    /* The report on the pipe has room for the first 1023 bytes. */
    snprintf(m->msg, sizeof(m->msg), "%.*s", (int)sizeof(m->msg) - 1, e->msg);
    ssize_t n _unused_ = write(status_w, m, sizeof(*m));
    _exit(1);
}

static _noreturn_ void monitor_main(const struct monitor *mo)
{
    const struct sbx_oci_config *c = mo->c;
    struct sbx_error e = { 0 };
    struct created_msg *m = calloc(1, sizeof(*m));
    int r;
    if (!m)
        _exit(1);
    /* What ps shows: the process the engine waits for, not a create that hangs. */
    prctl(PR_SET_NAME, "sbx-oci-monitor");
    /* The engine's terminal signals are not the container's; `kill` is how signals arrive. */
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGCHLD);
    sigprocmask(SIG_BLOCK, &all, NULL);
    if (c->proc.has_oom_score_adj) {
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", c->proc.oom_score_adj);
        _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, (size_t)n) != n)
            monitor_fail(mo->status_w, m, errno,
                         &(struct sbx_error){ .msg = "process.oomScoreAdj: cannot be set" });
    }
    struct sbx_cgroup_root root;
    _cleanup_free_ char *name = NULL;
    struct sbx_cgroup cg = { .v2_fd = -EBADF };
    struct sbx_error ce = { 0 };
    if ((r = cgroup_root_for(c->cgroups_path, &c->limits, &c->cpu, &root, &name, &e)) < 0)
        monitor_fail(mo->status_w, m, r, &e);
    if ((r = sbx_cgroup_create(&root, name, &c->limits, &cg, &ce)) < 0) {
        sbx_error_set(&e, r, "cgroup %s: %s", c->cgroups_path, ce.msg);
        /* The parents made for it go when nothing else is in them (rmdir refuses otherwise). */
        if (root.v2_base)
            rmdir(root.v2_base);
        for (int k = 0; k < SBX_CG_N; k++)
            if (root.v1_base[k])
                rmdir(root.v1_base[k]);
        monitor_fail(mo->status_w, m, r, &e);
    }
    r = sbx_oci_cpu_apply(&root, &cg, &c->cpu, &e);
    cgroup_root_free(&root);
    if (r < 0) {
        sbx_oci_cgroup_destroy(&cg, NULL);
        monitor_fail(mo->status_w, m, r, &e);
    }
    /*
     * The monitor joins them, and sbx-init is cloned into them: the
     * namespaces it makes are the rest.
     */
    uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWCGROUP;
    bool joined_uts = mo->ns[SBX_OCI_NS_UTS] >= 0;
    for (int k = 0; k < SBX_OCI_NS_N; k++) {
        int flag = sbx_oci_ns_clone_flag(k);
        if (mo->ns[k] >= 0 && setns(mo->ns[k], flag) < 0) {
            sbx_error_set(&e, errno, "linux.namespaces: join %s: %s", c->join_path[k],
                          strerror(errno));
            sbx_oci_cgroup_destroy(&cg, NULL);
            monitor_fail(mo->status_w, m, -errno, &e);
        }
        if (mo->ns[k] < 0 && (k != SBX_OCI_NS_NET || !c->net_host))
            ns_flags |= (uint64_t)flag;
        sbx_close(mo->ns[k]);
    }
    /*
     * sbx-init names its uts namespace, "sandbox" when the config does not:
     * in a pod's joined one, the name it already has is kept.
     */
    char joined_host[HOST_NAME_MAX + 1] = "";
    if (joined_uts && !c->proc.spec.hostname && gethostname(joined_host, sizeof(joined_host)) < 0) {
        sbx_error_set(&e, errno, "linux.namespaces: the joined uts namespace's name: %s",
                      strerror(errno));
        sbx_oci_cgroup_destroy(&cg, NULL);
        monitor_fail(mo->status_w, m, -errno, &e);
    }
    int sp[2], report[2], procs[SBX_CG_N];
    _cleanup_close_ int init_memfd = sbx_blob_memfd_init();
    if (init_memfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
        (r = sbx_spawn_report_open(report)) < 0) {
        sbx_error_set(&e, errno, "sandbox init: %s", strerror(errno));
        sbx_oci_cgroup_destroy(&cg, NULL);
        monitor_fail(mo->status_w, m, -EIO, &e);
    }
    if ((r = sbx_cgroup_v1_procs_open(&cg, procs)) < 0) {
        sbx_error_set(&e, r, "open the v1 cgroups: %s", strerror(-r));
        sbx_oci_cgroup_destroy(&cg, NULL);
        monitor_fail(mo->status_w, m, r, &e);
    }
    /* The monitor blocks the signals it passes on; init starts with none blocked. */
    struct sbx_init_spawn spawn = { .exe = init_memfd,
                                    .ctl = sp[1],
                                    .cgroup_fd = cg.v2_fd,
                                    .v1_procs = procs,
                                    .report = report[1],
                                    .ns_flags = ns_flags,
                                    .unblock_signals = true };
    int pidfd = -1;
    pid_t init = sbx_init_spawn(&spawn, &pidfd);
    close(sp[1]);
    close(report[1]);
    if (init >= 0)
        sbx_cgroup_v1_self_attached(&cg, procs);
    for (int k = 0; k < SBX_CG_N; k++)
        sbx_close(procs[k]);
    int ctl = sp[0];
    if (init < 0) {
        sbx_error_set(&e, init, "clone3 sandbox init: %s", strerror(-init));
        sbx_oci_cgroup_destroy(&cg, NULL);
        monitor_fail(mo->status_w, m, init, &e);
    }
    uint64_t init_start = sbx_oci_start_time(init);
    r = freezer_v1_for(c->cgroups_path, &cg, init, m->freezer_v1, sizeof(m->freezer_v1), &e);
    if (r >= 0)
        r = apply_sysctl(c, init, &e);
    if (r >= 0) {
        struct sbx_spec spec = c->proc.spec;
        spec.staging = (char *)mo->dir;
        spec.flags |= SBX_SPEC_WAIT_START;
        if (joined_host[0])
            spec.hostname = joined_host;
        spec.n_pass = mo->n_pass;
        int fixed[7] = { mo->tree, 0, 1, 2, mo->bpf, mo->trampoline, mo->stats };
        int extra[SBX_PROTO_MAX_FDS];
        for (uint32_t i = 0; i < spec.n_binds; i++)
            extra[i] = mo->bind_fds[i];
        for (unsigned i = 0; i < mo->n_pass; i++)
            extra[spec.n_binds + i] = 3 + (int)i;
        r = send_spec(ctl, &spec, fixed, spec.mode == SBX_MODE_OFF ? 5 : 7, extra,
                      spec.n_binds + mo->n_pass);
        if (r < 0)
            sbx_error_set(&e, r, "send the spec to sandbox init: %s", strerror(-r));
    }
    /*
     * sbx-init holds its own copies now.  The container's stdio too: the
     * monitor keeps none of the engine's pipes open, so that they end when
     * the container's process closes them, as with runc.
     */
    _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; r >= 0 && null >= 0 && i < 3; i++)
        dup2(null, i);
    sbx_close(mo->tree);
    for (uint32_t i = 0; i < c->proc.spec.n_binds; i++)
        sbx_close(mo->bind_fds[i]);
    for (unsigned i = 0; i < mo->n_pass; i++)
        close(3 + (int)i);
    if (r >= 0)
        r = wait_ready(ctl, mo->console, &c->proc, &e);
    int lsock = r >= 0 ? listen_ctl(mo->dir, &e) : -EBADF;
    if (r < 0 || lsock < 0) {
        kill(init, SIGKILL);
        waitpid(init, NULL, 0);
        /* A child that failed before it became sbx-init says which step. */
        struct sbx_error why = { 0 };
        if (sbx_spawn_report_read(report[0], &why))
            sbx_error_set(&e, EIO, "sandbox init: %s", why.msg);
        sbx_oci_cgroup_destroy(&cg, m->freezer_v1[0] ? m->freezer_v1 : NULL);
        monitor_fail(mo->status_w, m, r < 0 ? r : lsock, &e);
    }
    m->init = init;
    m->init_start = init_start;
    snprintf(m->cgroup_v2, sizeof(m->cgroup_v2), "%s", cg.v2_path ? cg.v2_path : "");
    for (int k = 0; k < SBX_CG_N; k++)
        snprintf(m->cgroup_v1[k], sizeof(m->cgroup_v1[k]), "%s",
                 cg.v1_path[k] ? cg.v1_path[k] : "");
    ssize_t n _unused_ = write(mo->status_w, m, sizeof(*m));
    close(mo->status_w);
    close(report[0]);
    free(m);
    /* The cgroup is `delete`'s to remove; the monitor only lets go of its descriptor. */
    sbx_close(cg.v2_fd);
    struct sbx_oci_watch w = {
        .ctl = ctl, .init = init, .init_pidfd = pidfd, .listen = lsock, .guest_pidfd = -EBADF
    };
    _exit(sbx_oci_watch(&w));
}

struct create_opts {
    const char *bundle, *pid_file, *console, *id;
    unsigned n_pass; /* --preserve-fds */
};

static int parse_create(int argc, char **argv, struct create_opts *o, struct sbx_error *e)
{
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "pid-file", required_argument, NULL, 'p' },
        { "console-socket", required_argument, NULL, 'c' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { "no-pivot", no_argument, NULL, 'P' },
        { "no-new-keyring", no_argument, NULL, 'k' },
        { "detach", no_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'K' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct create_opts){ .bundle = "." };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+b:d", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o->bundle = optarg;
            break;
        case 'p':
            o->pid_file = optarg;
            break;
        case 'c':
            o->console = optarg;
            break;
        case 'f': {
            int r = sbx_oci_preserve_fds(optarg, &o->n_pass, e);
            if (r < 0)
                return r;
            break;
        }
        case 'P': /* pivot_root is how sbx-init enters the root: --no-pivot asks for less. */
        case 'k': /* A sandbox never joins a session keyring: the baseline denies keyctl. */
        case 'd': /* run: the monitor is detached from the terminal anyway. */
        case 'K':
            break;
        default:
            return sbx_error_set(e, EINVAL, "%s: bad option", argv[0]);
        }
    }
    if (optind != argc - 1)
        return sbx_error_set(e, EINVAL, "%s: expects exactly one container id", argv[0]);
    o->id = argv[optind];
    return 0;
}

static void now_rfc3339(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

/* The filter, compiled once here, kept for exec in the state directory. */
static int compile_filter(const struct sbx_oci_config *c, const char *dir, struct sbx_error *e)
{
    _cleanup_close_ int fd = memfd_create("sbx-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return sbx_error_set(e, errno, "memfd: %s", strerror(errno));
    bool root_ids = c->proc.spec.uid == 0 || c->proc.spec.gid == 0;
    for (uint32_t i = 0; i < c->proc.spec.n_groups; i++)
        root_ids |= c->proc.spec.groups[i] == 0;
    int r = sbx_policy_export_bpf(c->policy, root_ids ? SBX_POLICY_GUEST_ROOT : 0, fd);
    if (r < 0)
        return sbx_error_set(e, r, "linux.seccomp: cannot compile the filter: %s", strerror(-r));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/filter.bpf", dir);
    _cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return sbx_error_set(e, errno, "write %s: %s", path, strerror(errno));
    struct sock_filter buf[BPF_MAXINSNS];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    if (n <= 0 || n % (ssize_t)sizeof(buf[0]))
        return sbx_error_set(e, EIO, "cannot read the compiled filter back");
    /*
     * The daemon names a killed syscall through a listener; a runtime has no
     * daemon to hold one, so kill rules are the kernel's plain kill, as runc's.
     */
    sbx_notify_to_kill(buf, (unsigned long)n / sizeof(buf[0]));
    if (pwrite(fd, buf, (size_t)n, 0) != n || write(out, buf, (size_t)n) != n)
        return sbx_error_set(e, EIO, "write %s", path);
    return TAKE_FD(fd);
}

/* Opens the bundle's trees: the root and every bind source, as detached clones. */
static int open_trees(const struct sbx_oci_config *c, int *ret_tree, int *binds,
                      struct sbx_error *e)
{
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, c->root_path,
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        return sbx_error_set(e, errno, "root.path %s: %s", c->root_path, strerror(errno));
    for (uint32_t i = 0; i < c->proc.spec.n_binds; i++) {
        const struct sbx_oci_bind *b = &c->binds[i];
        binds[i] =
            (int)syscall(SYS_open_tree, AT_FDCWD, b->source,
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (b->recursive ? AT_RECURSIVE : 0));
        if (binds[i] < 0) {
            int err = errno;
            for (uint32_t k = 0; k < i; k++)
                close(binds[k]);
            close(tree);
            return sbx_error_set(e, err, "mounts: bind source %s: %s", b->source, strerror(err));
        }
    }
    *ret_tree = tree;
    return 0;
}

/* create; on success the container is "created" and *ret_monitor is the monitor. */
static int do_create(const struct sbx_oci_global *g, const struct create_opts *o,
                     pid_t *ret_monitor, struct sbx_error *e)
{
    char dir[PATH_MAX];
    int r = sbx_oci_state_dir(g->root, o->id, dir, sizeof(dir), e);
    if (r < 0)
        return r;
    if ((r = mkdir_p(g->root)) < 0)
        return sbx_error_set(e, r, "state root %s: %s", g->root, strerror(-r));
    if (mkdir(dir, 0700) < 0)
        return errno == EEXIST
                   ? sbx_error_set(e, EEXIST, "container with id %s already exists", o->id)
                   : sbx_error_set(e, errno, "mkdir %s: %s", dir, strerror(errno));
    struct sbx_oci_config c = { 0 };
    int tree = -EBADF, bpf = -EBADF, tramp = -EBADF, stats = -EBADF, status[2] = { -1, -1 };
    int binds[SBX_OCI_MAX_BINDS];
    int ns[SBX_OCI_NS_N] = { -EBADF, -EBADF, -EBADF };
    char bundle[PATH_MAX];
    if (!realpath(o->bundle, bundle)) {
        r = sbx_error_set(e, errno, "bundle %s: %s", o->bundle, strerror(errno));
        goto out;
    }
    if ((r = sbx_oci_config_load(bundle, o->id, g->systemd_cgroup, &c, e)) < 0)
        goto out;
    if (c.proc.spec.n_binds + o->n_pass > SBX_OCI_MAX_BINDS) {
        r = sbx_error_set(e, E2BIG, "--preserve-fds %u with %u bind mounts: more than %d fds",
                          o->n_pass, c.proc.spec.n_binds, SBX_OCI_MAX_BINDS);
        goto out;
    }
    if ((r = sbx_oci_ns_open(g->root, &c, ns, e)) < 0 || (r = bpf = compile_filter(&c, dir, e)) < 0)
        goto out;
    if (c.proc.spec.mode != SBX_MODE_OFF && ((r = tramp = sbx_blob_memfd_trampoline()) < 0 ||
                                             (r = stats = sbx_oci_stats_memfd()) < 0)) {
        sbx_error_set(e, r, "the trampoline: %s", strerror(-r));
        goto out;
    }
    if ((r = open_trees(&c, &tree, binds, e)) < 0)
        goto out;
    if (pipe2(status, O_CLOEXEC) < 0) {
        r = sbx_error_set(e, errno, "pipe: %s", strerror(errno));
        close(tree);
        for (uint32_t i = 0; i < c.proc.spec.n_binds; i++)
            close(binds[i]);
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(status[0]);
        struct monitor mo = { .c = &c,
                              .dir = dir,
                              .console = o->console,
                              .tree = tree,
                              .bpf = bpf,
                              .trampoline = tramp,
                              .stats = stats,
                              .bind_fds = binds,
                              .n_pass = o->n_pass,
                              .status_w = status[1] };
        memcpy(mo.ns, ns, sizeof(ns));
        monitor_main(&mo);
    }
    close(status[1]);
    close(tree);
    for (uint32_t i = 0; i < c.proc.spec.n_binds; i++)
        close(binds[i]);
    if (pid < 0) {
        r = sbx_error_set(e, errno, "fork: %s", strerror(errno));
        goto out;
    }
    struct created_msg *m = calloc(1, sizeof(*m));
    ssize_t n = m ? sbx_oci_read_full(status[0], m, sizeof(*m)) : -1;
    if (n != (ssize_t)sizeof(*m) || m->err) {
        r = sbx_error_set(e, m && n == (ssize_t)sizeof(*m) ? m->err : EIO, "%s",
                          m && n == (ssize_t)sizeof(*m) ? m->msg : "the monitor ended");
        waitpid(pid, NULL, 0);
        free(m);
        goto out;
    }
    char created[64];
    now_rfc3339(created, sizeof(created));
    struct sbx_oci_state s = {
        .id = (char *)o->id,
        .bundle = bundle,
        .rootfs = c.root_path,
        .created = created,
        .annotations_json = c.annotations_json,
        .monitor = pid,
        .monitor_start = sbx_oci_start_time(pid),
        .init = m->init,
        .init_start = m->init_start,
        .mode = c.proc.spec.mode,
        .cg = { .name = NULL,
                .v2_path = *m->cgroup_v2 ? m->cgroup_v2 : NULL,
                .v1_path = { *m->cgroup_v1[0] ? m->cgroup_v1[0] : NULL,
                             *m->cgroup_v1[1] ? m->cgroup_v1[1] : NULL,
                             *m->cgroup_v1[2] ? m->cgroup_v1[2] : NULL },
                .v2_fd = -EBADF },
        .freezer_v1 = *m->freezer_v1 ? m->freezer_v1 : NULL,
    };
    r = sbx_oci_state_write(dir, &s, e);
    free(m);
    if (r >= 0 && o->pid_file)
        r = sbx_oci_write_pid_file(o->pid_file, pid, e);
    if (r < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        goto out;
    }
    *ret_monitor = pid;
out:
    sbx_oci_ns_close(ns);
    sbx_close(status[0]);
    sbx_close(bpf);
    sbx_close(tramp);
    sbx_close(stats);
    sbx_oci_config_free(&c);
    if (r < 0) {
        /* Nothing of a failed create stays: the monitor removed its cgroup before it said so. */
        sbx_oci_state_remove(dir);
    }
    return r;
}

int sbx_oci_cmd_create(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    struct create_opts o;
    pid_t pid;
    int r = parse_create(argc, argv, &o, e);
    return r < 0 ? r : do_create(g, &o, &pid, e);
}

static int do_start(const struct sbx_oci_global *g, const char *id, struct sbx_error *e)
{
    char dir[PATH_MAX];
    int r = sbx_oci_state_dir(g->root, id, dir, sizeof(dir), e);
    if (r < 0)
        return r;
    struct sbx_oci_state s;
    if ((r = sbx_oci_state_read(dir, &s, e)) < 0)
        return r;
    const char *st = sbx_oci_status(&s);
    _cleanup_close_ int dfd = -EBADF, sock = -EBADF;
    if (strcmp(st, "created") != 0) {
        r = sbx_error_set(e, EINVAL, "cannot start a container that is %s", st);
        goto out;
    }
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/ctl", dfd);
    if (dfd < 0 || sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = sbx_error_set(e, errno, "start %s: the monitor does not answer: %s", id,
                          strerror(errno));
        goto out;
    }
    struct sbx_oci_start_reply rep = { 0 };
    char go = 's';
    if (write(sock, &go, 1) != 1 ||
        sbx_oci_read_full(sock, &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
        r = sbx_error_set(e, EPIPE, "start %s: the monitor ended", id);
        goto out;
    }
    if (rep.err) {
        rep.msg[sizeof(rep.msg) - 1] = '\0';
        r = sbx_error_set(e, rep.err, "%s", rep.msg);
        goto out;
    }
    s.started = true;
    s.guest = rep.guest;
    s.guest_start = sbx_oci_start_time(rep.guest);
    r = sbx_oci_state_write(dir, &s, e);
out:
    sbx_oci_state_free(&s);
    return r;
}

int sbx_oci_cmd_start(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    if (argc != 2)
        return sbx_error_set(e, EINVAL, "start: expects exactly one container id");
    return do_start(g, argv[1], e);
}

/* run: create and start, then wait for the monitor and end with the container's status. */
int sbx_oci_cmd_run(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    struct create_opts o;
    pid_t pid;
    int r = parse_create(argc, argv, &o, e);
    if (r < 0 || (r = do_create(g, &o, &pid, e)) < 0)
        return r;
    if ((r = do_start(g, o.id, e)) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
