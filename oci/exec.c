/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec: a new process in a running container.  A child of the caller (its
 * pid goes to --pid-file, it exits with the process's status) joins the
 * container's cgroup and namespaces, then starts the process with the same
 * code sbx-init starts the guest with (sbx_init_spawn_guest in
 * init/guest.c): the same drop of identity and capabilities,
 * rlimits, no_new_privs, the container's compiled filter and, in trap and
 * rewrite modes, the trampoline.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "init/init.h"
#include "oci/monitor.h"
#include "oci/oci.h"
#include "sbx/macro.h"

struct exec_opts {
    const char *process, *console, *pid_file, *id;
    bool detach;
    unsigned n_pass; /* --preserve-fds */
};

static int parse_exec(int argc, char **argv, struct exec_opts *o, struct sbx_error *e)
{
    static const struct option opts[] = {
        { "process", required_argument, NULL, 'p' },
        { "console-socket", required_argument, NULL, 'c' },
        { "pid-file", required_argument, NULL, 'P' },
        { "detach", no_argument, NULL, 'd' },
        { "tty", no_argument, NULL, 't' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct exec_opts){ 0 };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+p:dt", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            o->process = optarg;
            break;
        case 'c':
            o->console = optarg;
            break;
        case 'P':
            o->pid_file = optarg;
            break;
        case 'd':
            o->detach = true;
            break;
        case 't': /* process.terminal says it; --tty comes along with it. */
            break;
        case 'f': {
            int r = sbx_oci_preserve_fds(optarg, &o->n_pass, e);
            if (r < 0)
                return r;
            break;
        }
        default:
            return sbx_error_set(e, EINVAL, "exec: bad option");
        }
    }
    if (!o->process)
        return sbx_error_set(e, EOPNOTSUPP, "exec: only --process FILE is supported");
    if (optind != argc - 1)
        return sbx_error_set(e, EINVAL, "exec: expects exactly one container id after --process");
    o->id = argv[optind];
    return 0;
}

/* The program as execvp finds it, in the container's tree (the caller is inside it). */
static int resolve(const struct sbx_spec *spec, char *out, size_t len)
{
    const char *name = spec->argv[0];
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return 0;
    }
    const char *p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (uint32_t i = 0; i < spec->envc; i++)
        if (!strncmp(spec->env[i], "PATH=", 5))
            p = spec->env[i] + 5;
    while (*p) {
        size_t n = strcspn(p, ":");
        struct stat st;
        if (snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", name) < (int)len &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode))
            return 0;
        p += n + (p[n] == ':');
    }
    return -ENOENT;
}

static int join_cgroup(const struct sbx_oci_state *s)
{
    const char *dirs[2 + SBX_CG_N] = { s->cg.v2_path, s->cg.v1_path[0], s->cg.v1_path[1],
                                       s->cg.v1_path[2], s->freezer_v1 };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        if (!dirs[i])
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dirs[i]);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            return sbx_neg_errno();
    }
    return 0;
}

static int read_filter(const char *dir, struct sbx_error *e)
{
    char path[PATH_MAX], buf[65536];
    snprintf(path, sizeof(path), "%s/filter.bpf", dir);
    _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = in < 0 ? -1 : read(in, buf, sizeof(buf));
    if (n <= 0)
        return sbx_error_set(e, errno ? errno : EIO, "the container's filter %s: %s", path,
                             strerror(errno ? errno : EIO));
    _cleanup_close_ int fd = memfd_create("sbx-bpf", MFD_CLOEXEC);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        return sbx_error_set(e, errno, "memfd: %s", strerror(errno));
    return TAKE_FD(fd);
}

struct exec_status {
    int32_t err;
    int32_t pid;
    char msg[1024];
};

/* Passes signals on to the process until it ends; its status as an exit code. */
static int wait_forwarding(pid_t pid)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGCHLD);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (w < 0 && errno != EINTR)
            return 125;
        struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 125;
        struct signalfd_siginfo si;
        if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            syscall(SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo, NULL, 0);
    }
}

static _noreturn_ void exec_child(const struct sbx_oci_state *s, struct sbx_oci_process *proc,
                                  const int *ns, int bpf, int tramp, int stats, unsigned n_pass,
                                  const char *console, int status_w)
{
    struct exec_status st = { 0 };
    struct sbx_error ie = { 0 };
    struct sbx_error e = { 0 };
    char path[PATH_MAX];
    _cleanup_close_ int master = -EBADF, slave = -EBADF;
    ssize_t n;
    prctl(PR_SET_NAME, "sbx-oci-exec");
    /* Signals are for the process: held for wait_forwarding (the process starts with none held). */
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGCHLD);
    sigprocmask(SIG_BLOCK, &all, NULL);
    /* The console socket is a path on the host: connected before the mount namespace changes. */
    _cleanup_close_ int csock = -EBADF;
    int r = 0;
    if ((proc->spec.flags & SBX_SPEC_TTY) && !console) {
        r = sbx_error_set(&e, EINVAL, "exec: process.terminal needs --console-socket");
        goto fail;
    }
    if ((proc->spec.flags & SBX_SPEC_TTY) && (r = csock = sbx_oci_console_connect(console, &e)) < 0)
        goto fail;
    r = join_cgroup(s);
    if (r < 0) {
        sbx_error_set(&e, r, "exec: join the container's cgroup: %s", strerror(-r));
        goto fail;
    }
    /* The mount namespace last: the others are opened by fd, but setns needs them all. */
    for (int i = 0; i < 6; i++)
        if (setns(ns[i], 0) < 0) {
            r = sbx_error_set(&e, errno, "exec: join the container's namespaces: %s",
                              strerror(errno));
            goto fail;
        }
    if (resolve(&proc->spec, path, sizeof(path)) < 0) {
        r = sbx_error_set(&e, ENOENT, "exec: \"%s\": executable file not found in $PATH",
                          proc->spec.argv[0]);
        goto fail;
    }
    /* --preserve-fds: fds 3.. of this process, which main() left open. */
    int pass[SBX_OCI_MAX_BINDS];
    for (unsigned i = 0; i < n_pass; i++)
        pass[i] = 3 + (int)i;
    struct sbx_init_fds fds = { .image = -EBADF,
                                .stdio = { 0, 1, 2 },
                                .policy = bpf,
                                .trampoline = tramp,
                                .stats = stats,
                                .pass = pass,
                                .n_pass = n_pass };
    if (proc->spec.flags & SBX_SPEC_TTY) {
        if (sbx_init_open_pty(&proc->spec, &master, &slave, &ie) < 0) {
            r = sbx_error_set(&e, ie.err, "exec: %s", ie.msg);
            goto fail;
        }
        if (proc->console_rows || proc->console_cols) {
            struct winsize ws = { .ws_row = proc->console_rows, .ws_col = proc->console_cols };
            ioctl(master, TIOCSWINSZ, &ws);
        }
        if ((r = sbx_oci_console_send(csock, console, master, &e)) < 0)
            goto fail;
        csock = sbx_close(csock);
        fds.stdio[0] = fds.stdio[1] = fds.stdio[2] = slave;
    }
    unsigned kind;
    pid_t pid = sbx_init_spawn_guest(&proc->spec, &fds, path, -EBADF, 0, &ie, &kind);
    if (pid < 0) {
        r = sbx_error_set(&e, ie.err, "exec: %s", ie.msg);
        goto fail;
    }
    master = sbx_close(master);
    slave = sbx_close(slave);
    st.pid = pid;
    n = write(status_w, &st, sizeof(st));
    close(status_w);
    _exit(n == (ssize_t)sizeof(st) ? wait_forwarding(pid) : 125);
fail:
    st.err = r < 0 ? -r : EIO;
    /* The report on the pipe has room for the first 1023 bytes. */
    snprintf(st.msg, sizeof(st.msg), "%.*s", (int)sizeof(st.msg) - 1, e.msg);
    n = write(status_w, &st, sizeof(st));
    _exit(n < 0 ? 125 : st.err == ENOENT ? 127 : 126);
}

int sbx_oci_cmd_exec(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    struct exec_opts o;
    int r = parse_exec(argc, argv, &o, e);
    if (r < 0)
        return r;
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    if ((r = sbx_oci_state_dir(g->root, o.id, dir, sizeof(dir), e)) < 0 ||
        (r = sbx_oci_state_read(dir, &s, e)) < 0)
        return r;
    struct sbx_oci_process proc = { 0 };
    int ns[6] = { -1, -1, -1, -1, -1, -1 };
    int bpf = -EBADF, tramp = -EBADF, stats = -EBADF, status[2] = { -1, -1 };
    const char *st = sbx_oci_status(&s);
    if (strcmp(st, "running") != 0) {
        r = sbx_error_set(e, EINVAL, "cannot exec in a container that is %s", st);
        goto out;
    }
    if ((r = sbx_oci_process_load(o.process, s.mode, &proc, e)) < 0 ||
        (r = bpf = read_filter(dir, e)) < 0)
        goto out;
    if (s.mode != SBX_MODE_OFF && ((r = tramp = sbx_blob_memfd_trampoline()) < 0 ||
                                   (r = stats = sbx_oci_stats_memfd()) < 0)) {
        sbx_error_set(e, r, "the trampoline: %s", strerror(-r));
        goto out;
    }
    static const char *const names[6] = { "cgroup", "ipc", "uts", "net", "pid", "mnt" };
    for (int i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)s.init, names[i]);
        if ((ns[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
            r = sbx_error_set(e, errno, "exec: %s: %s", p, strerror(errno));
            goto out;
        }
    }
    /* Opened by pid: it must still be the container's init once they are open. */
    if (!sbx_oci_alive(s.init, s.init_start)) {
        r = sbx_error_set(e, ESRCH, "container not running");
        goto out;
    }
    if (pipe2(status, O_CLOEXEC) < 0) {
        r = sbx_error_set(e, errno, "pipe: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(status[0]);
        exec_child(&s, &proc, ns, bpf, tramp, stats, o.n_pass, o.console, status[1]);
    }
    close(status[1]);
    status[1] = -1;
    if (pid < 0) {
        r = sbx_error_set(e, errno, "fork: %s", strerror(errno));
        goto out;
    }
    struct exec_status es = { 0 };
    if (sbx_oci_read_full(status[0], &es, sizeof(es)) != (ssize_t)sizeof(es) || es.err) {
        es.msg[sizeof(es.msg) - 1] = '\0';
        r = sbx_error_set(e, es.err ? es.err : EIO, "%s", es.err ? es.msg : "exec: setup ended");
        waitpid(pid, NULL, 0);
        goto out;
    }
    if (o.pid_file && (r = sbx_oci_write_pid_file(o.pid_file, pid, e)) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        goto out;
    }
    if (!o.detach) {
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
            ;
        r = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    }
out:
    for (int i = 0; i < 6; i++)
        sbx_close(ns[i]);
    sbx_close(status[0]);
    sbx_close(bpf);
    sbx_close(tramp);
    sbx_close(stats);
    sbx_oci_process_free(&proc);
    sbx_oci_state_free(&s);
    return r;
}
