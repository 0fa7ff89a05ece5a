/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-init, the guest: hostname and loopback for the sandbox, then a child
 * that drops everything (session, fds, identity, capabilities, rlimits,
 * no_new_privs, seccomp) and becomes the guest program, either directly
 * (`off` mode) or through the trampoline.  Every failed step is reported
 * over the status pipe and the guest does not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init.h"
#include "sbx/abi.h"
#include "sbx/macro.h"

#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_KEEP_CAPS (1 << 4)
#endif

int sbx_init_uts_net(const struct sbx_spec *spec, const struct sbx_init_premade *pre,
                     struct sbx_error *e)
{
    const char *name = spec->hostname ? spec->hostname : "sandbox";
    if (sethostname(name, strlen(name)) < 0)
        return sbx_error_set_errno(e, errno, "sethostname");
    if ((spec->flags & SBX_SPEC_NET_HOST) || pre->lo_up)
        return 0;
    return sbx_init_lo_up(e);
}

int sbx_init_lo_up(struct sbx_error *e)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return sbx_error_set_errno(e, errno, "socket for loopback setup");
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return sbx_error_set_errno(e, errno, "get lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return sbx_error_set_errno(e, errno, "bring lo up");
    return 0;
}

/* ---- in the guest child (init is single-threaded, so fork left it whole) ---- */

static _noreturn_ void child_fail(int status_fd, int err, int stage, int code)
{
    struct sbx_status_record rec = { .err = err > 0 ? err : EIO, .stage = stage };
    ssize_t n _unused_ = write(status_fd, &rec, sizeof(rec));
    _exit(code);
}

/* Puts fd at exactly `want` (cloexec as asked) and returns want, or -1. */
static int fd_move(int fd, int want, int cloexec)
{
    if (fd == want)
        return fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0) < 0 ? -1 : want;
    return dup3(fd, want, cloexec ? O_CLOEXEC : 0);
}

static int drop_privileges(const struct sbx_spec *spec)
{
    /* Root in the sandbox gains nothing from execve, and cannot undo that. */
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS) < 0)
        return -1;
    /* Every capability the running kernel knows, not just those of our headers. */
    int ncaps = (int)cap_max_bits();
    for (int c = 0; c < ncaps; c++) {
        if (c < 64 && (spec->caps_keep & (1ULL << c)))
            continue;
        if (cap_drop_bound((cap_value_t)c) < 0)
            return -1;
    }
    if (!(spec->flags & SBX_SPEC_KEEP_GROUPS) && setgroups(spec->n_groups, spec->groups) < 0)
        return -1;
    if (setresgid(spec->gid, spec->gid, spec->gid) < 0)
        return -1;
    if (setresuid(spec->uid, spec->uid, spec->uid) < 0)
        return -1;

    cap_t caps = cap_init(); /* all sets empty */
    if (!caps)
        return -1;
    cap_value_t keep[64];
    int n = 0;
    for (int c = 0; c < ncaps && c < 64; c++)
        if (spec->caps_keep & (1ULL << c))
            keep[n++] = c;
    if (n > 0 && (cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) < 0 ||
                  cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) < 0 ||
                  cap_set_flag(caps, CAP_INHERITABLE, n, keep, CAP_SET) < 0)) {
        cap_free(caps);
        return -1;
    }
    int r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0)
        return -1;
    /* One call; libcap's cap_reset_ambient probes every capability first. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -1;
    /* Kept capabilities survive execve only through the ambient set. */
    for (int i = 0; i < n; i++)
        if (cap_set_ambient(keep[i], CAP_SET) < 0)
            return -1;
    /* SECBIT_KEEP_CAPS needs no clearing: execve always clears it. */
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int apply_rlimits(const struct sbx_spec *spec)
{
    for (uint32_t i = 0; i < spec->n_rlimits; i++) {
        struct rlimit rl = { .rlim_cur = spec->rlimits[i].cur, .rlim_max = spec->rlimits[i].max };
        if (setrlimit((int)spec->rlimits[i].resource, &rl) < 0)
            return -1;
    }
    return 0;
}

/*
 * The signals whose action is not the default, from /proc/self/status (the
 * sandbox's own procfs, mounted by init): a bit per signal, bit 0 signal 1.
 * Returns 0, or -1 where it cannot be read, and the caller resets them all.
 */
static int non_default_signals(uint64_t *ret)
{
    char buf[2048];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *ign = strstr(buf, "\nSigIgn:\t"), *cgt = strstr(buf, "\nSigCgt:\t");
    if (!ign || !cgt)
        return -1;
    char *end;
    errno = 0;
    uint64_t a = strtoull(ign + 9, &end, 16);
    if (errno || *end != '\n')
        return -1;
    uint64_t b = strtoull(cgt + 9, &end, 16);
    if (errno || *end != '\n')
        return -1;
    *ret = a | b;
    return 0;
}

/*
 * The guest starts with every signal at its default action and none blocked:
 * an ignored disposition survives exec, and the daemon ignores SIGPIPE (and
 * may have inherited more), which would otherwise leak into every guest.
 * Only the signals that are not at their default are reset: a sigaction per
 * signal number is most of the guest's setup otherwise.
 */
static int reset_signals(void)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    uint64_t set = ~0ULL;
    if (non_default_signals(&set) < 0)
        set = ~0ULL;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || (sig <= 64 && !(set & (1ULL << (sig - 1)))))
            continue;
        /* glibc reserves a few real-time signals and refuses them: not ours to reset. */
        if (sigaction(sig, &dfl, NULL) < 0 && errno != EINVAL)
            return -1;
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * The guest's environment followed by the exec request (abi.h): the tagged
 * mode, then the path.  Returns the new envp (NULL-terminated, pointing
 * into spec->env and static storage), or NULL with errno set.
 */
static char **request_env(const struct sbx_spec *spec, const char *path)
{
    static char mode[64];
    snprintf(mode, sizeof(mode), "%s%s", SBX_EXEC_TAG,
             spec->mode == SBX_MODE_REWRITE ? SBX_MODE_NAME_REWRITE : SBX_MODE_NAME_TRAP);
    if (strlen(mode) + strlen(path) + 2 > SBX_EXEC_REQUEST_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    size_t n = 0;
    while (spec->env && spec->env[n])
        n++;
    char **env = calloc(n + 3, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        env[i] = spec->env[i];
    env[n] = mode;
    env[n + 1] = (char *)path;
    return env;
}

/*
 * The fds passed for the guest go to 3, 4, ...: by way of copies above
 * that range, as init's own fds (which the child no longer needs: the
 * fixed ones are at their SBX_FD_* slots already) may sit there.  The
 * copies go with the close_range that follows.
 */
static int place_passed(const struct sbx_init_fds *fds)
{
    int tmp[SBX_PROTO_MAX_FDS];
    int first = 3 + (int)fds->n_pass;
    for (unsigned i = 0; i < fds->n_pass; i++)
        if ((tmp[i] = fcntl(fds->pass[i], F_DUPFD_CLOEXEC, first)) < 0)
            return -1;
    for (unsigned i = 0; i < fds->n_pass; i++)
        if (dup2(tmp[i], 3 + (int)i) < 0)
            return -1;
    return 0;
}

static _noreturn_ void guest_child(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                                   const char *path, int status_w, int notify,
                                   struct sock_fprog *prog)
{
    int status = fd_move(status_w, SBX_FD_STATUS, spec->mode == SBX_MODE_OFF);
    if (status < 0)
        child_fail(status_w, errno, SBX_STAGE_SETUP, 125);
    if (fd_move(notify, SBX_FD_NOTIFY, spec->mode == SBX_MODE_OFF) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    if (setsid() < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);

    /* stdio first, to slots 0-2, from fds that are all >= 3. */
    for (int i = 0; i < 3; i++)
        if (dup2(fds->stdio[i], i) < 0)
            child_fail(status, errno, SBX_STAGE_SETUP, 125);
    /* A pty's slave becomes the controlling terminal of the new session: job control works. */
    if ((spec->flags & SBX_SPEC_TTY) && ioctl(0, TIOCSCTTY, 0) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    if (spec->mode != SBX_MODE_OFF &&
        (fd_move(fds->stats, SBX_FD_STATS, 0) < 0 || fd_move(fds->policy, SBX_FD_POLICY, 0) < 0 ||
         fd_move(fds->trampoline, SBX_FD_TRAMPOLINE, 0) < 0))
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    char **env = spec->mode == SBX_MODE_OFF ? spec->env : request_env(spec, path);
    if (!env || place_passed(fds) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    /* Every other fd of init (control socket, image mount, bind sources...) goes. */
    if (syscall(SYS_close_range, 3 + fds->n_pass, SBX_FD_NOTIFY - 1, 0) < 0 ||
        syscall(SYS_close_range, SBX_FD_NOTIFY + 1, SBX_FD_STATUS - 1, 0) < 0 ||
        syscall(SYS_close_range,
                spec->mode == SBX_MODE_OFF ? SBX_FD_STATUS + 1 : SBX_FD_TRAMPOLINE + 1, ~0U, 0) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);

    umask(spec->umask);
    if (reset_signals() < 0 || apply_rlimits(spec) < 0 || drop_privileges(spec) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    /* After pivot_root, so the path resolves in the sandbox's tree, with the guest's rights. */
    if (chdir(spec->cwd ? spec->cwd : "/") < 0)
        child_fail(status, errno, SBX_STAGE_CWD, 125);

    if (spec->mode == SBX_MODE_OFF) {
        if (sbx_init_notify_install(prog) < 0)
            child_fail(status, errno, SBX_STAGE_FILTER, 125);
        execve(path, spec->argv, spec->env);
        child_fail(status, errno, SBX_STAGE_EXEC, errno == ENOENT ? 127 : 126);
    }

    /* The trampoline installs the filter itself, around its own gate. */
    syscall(SYS_execveat, SBX_FD_TRAMPOLINE, "", spec->argv, env, AT_EMPTY_PATH);
    child_fail(status, errno, SBX_STAGE_SETUP, 125);
}

/* ---- back in init ---- */

int sbx_init_open_pty(const struct sbx_spec *spec, int *ret_master, int *ret_slave,
                      struct sbx_error *e)
{
    /*
     * Inside the new root: the sandbox's own devpts instance, mounted by init
     * (no policy mount may cover /dev).  No symlink is followed, and what
     * opens must be a devpts node: init is root here, and this open is not to
     * be pointed anywhere else.
     */
    struct open_how how = {
        .flags = O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    _cleanup_close_ int m = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof(how));
    if (m < 0)
        return sbx_error_set_errno(e, errno, "open /dev/pts/ptmx for the guest's terminal");
    struct statfs sfs;
    if (fstatfs(m, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC)
        return sbx_error_set_errno(e, EPERM, "/dev/pts/ptmx is not the sandbox's devpts");
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
        return sbx_error_set_errno(e, errno, "unlock the guest's pty");
    _cleanup_close_ int sl = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sl < 0)
        return sbx_error_set_errno(e, errno, "open the slave of the guest's pty");
    /* The guest's own terminal, as login makes it: programs reopen it by name. */
    if (fchown(sl, spec->uid, spec->gid) < 0 || fchmod(sl, 0620) < 0)
        return sbx_error_set_errno(e, errno, "give the guest's pty to uid %u", spec->uid);
    *ret_master = TAKE_FD(m);
    *ret_slave = TAKE_FD(sl);
    return 0;
}

static int read_policy(int fd, struct sock_fprog *prog, struct sbx_error *e)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_error_set_errno(e, errno, "policy program");
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
        st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return sbx_error_set_errno(e, EINVAL, "policy program has a bad size (%lld bytes)",
                                   (long long)st.st_size);
    struct sock_filter *f = malloc((size_t)st.st_size);
    if (!f)
        return sbx_error_set_errno(e, ENOMEM, "policy program");
    if (pread(fd, f, (size_t)st.st_size, 0) != st.st_size) {
        free(f);
        return sbx_error_set_errno(e, errno ? errno : EIO, "read policy program");
    }
    prog->filter = f;
    prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    return 0;
}

/*
 * Reads the guest's startup status; meanwhile, the listener of the policy's
 * kill rules goes to the daemon as soon as it comes (notify.c), since
 * a call of the starting guest may already wait for it.
 */
static ssize_t read_status(int status, int notify, int ctl, uint32_t exec_id,
                           struct sbx_status_record *rec)
{
    for (;;) {
        struct pollfd p[2] = { { .fd = status, .events = POLLIN },
                               { .fd = notify, .events = POLLIN } };
        if (poll(p, notify >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (notify >= 0 && p[1].revents) {
            int r = sbx_init_notify_forward(notify, ctl, exec_id);
            if (r < 0) {
                errno = -r;
                return -1;
            }
            if (r > 0 || (p[1].revents & POLLHUP))
                notify = -EBADF;
        }
        if (p[0].revents) {
            ssize_t n;
            do
                n = read(status, rec, sizeof(*rec));
            while (n < 0 && errno == EINTR);
            return n;
        }
    }
}

int sbx_init_spawn_guest(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                         const char *path, int ctl, uint32_t exec_id, struct sbx_error *e,
                         unsigned *ret_kind)
{
    struct sock_fprog prog = { 0 };
    *ret_kind = SBX_EXIT_SETUP;
    if (spec->mode == SBX_MODE_OFF && read_policy(fds->policy, &prog, e) < 0)
        return -e->err;
    int pipefd[2], notify[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        free(prog.filter);
        return sbx_error_set_errno(e, errno, "status pipe");
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify) < 0) {
        free(prog.filter);
        close(pipefd[0]);
        close(pipefd[1]);
        return sbx_error_set_errno(e, errno, "socket for the seccomp listener");
    }
    pid_t pid = fork();
    if (pid < 0) {
        free(prog.filter);
        close(pipefd[0]);
        close(pipefd[1]);
        close(notify[0]);
        close(notify[1]);
        return sbx_error_set_errno(e, errno, "fork the guest");
    }
    if (pid == 0) {
        close(pipefd[0]);
        close(notify[0]);
        guest_child(spec, fds, path, pipefd[1], notify[1], &prog);
    }
    free(prog.filter);
    close(pipefd[1]);
    close(notify[1]);
    struct sbx_status_record rec;
    ssize_t n = read_status(pipefd[0], notify[0], ctl, exec_id, &rec);
    int err = errno;
    close(pipefd[0]);
    close(notify[0]);
    if (n < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return sbx_error_set_errno(e, err, "hand the seccomp listener to sandboxd");
    }
    if (n == 0)
        return pid; /* end of file: the guest is running */
    waitpid(pid, NULL, 0);
    if (n != sizeof(rec))
        return sbx_error_set_errno(e, EPROTO, "guest startup status");
    errno = rec.err;
    switch (rec.stage) {
    case SBX_STAGE_EXEC:
    case SBX_STAGE_LOAD:
        *ret_kind = rec.err == ENOENT ? SBX_EXIT_NOTFOUND : SBX_EXIT_NOEXEC;
        return sbx_error_set_errno(e, rec.err, "%s", path);
    case SBX_STAGE_FILTER:
        return sbx_error_set_errno(e, rec.err, "install the seccomp filter");
    case SBX_STAGE_CWD:
        return sbx_error_set_errno(e, rec.err, "working directory %s", spec->cwd ? spec->cwd : "/");
    default:
        return sbx_error_set_errno(e, rec.err, "prepare the guest process");
    }
}
