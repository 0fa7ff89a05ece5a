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
#include <sched.h>
#include <stdbool.h>
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
#include "sbx/notify.h"

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

/* ---- in the guest child (init is single-threaded: nothing runs beside the child) ---- */

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

/*
 * Everything the guest child computes for itself is computed before the
 * clone (struct child_args): the child shares init's memory until its exec,
 * so it allocates nothing and calls no library that may (libcap does).
 */
struct child_args {
    const struct sbx_spec *spec;
    const struct sbx_init_fds *fds;
    const char *path;
    char **env; /* the guest's environment, with the exec request in trampoline modes */
    int status_w, notify;
    struct sock_fprog *prog;
    int ncaps;            /* capabilities the running kernel knows */
    uint64_t non_default; /* signals whose action is not the default, bit 0 signal 1 */
    int close[2];         /* init's descriptors the child closes first */
};

/*
 * The identity calls as raw syscalls, which change the calling process
 * alone: glibc's wrappers consult its own idea of the process's threads,
 * which in a child on init's memory is init's.
 */
static int drop_privileges(const struct sbx_spec *spec, int ncaps)
{
    /* Root in the sandbox gains nothing from execve, and cannot undo that. */
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS) < 0)
        return -1;
    /* Every capability the running kernel knows, not just those of our headers. */
    for (int c = 0; c < ncaps; c++) {
        if (c < 64 && (spec->caps_keep & (1ULL << c)))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return -1;
    }
    if (!(spec->flags & SBX_SPEC_KEEP_GROUPS) &&
        syscall(SYS_setgroups, (size_t)spec->n_groups, spec->groups) < 0)
        return -1;
    if (syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0)
        return -1;
    if (syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0)
        return -1;

    /* Permitted, effective and inheritable: the kept ones, nothing else. */
    uint64_t keep = ncaps >= 64 ? spec->caps_keep : spec->caps_keep & ((1ULL << ncaps) - 1);
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2] = { 0 };
    for (int i = 0; i < 2; i++) {
        uint32_t half = (uint32_t)(keep >> (32 * i));
        data[i] = (struct __user_cap_data_struct){ half, half, half };
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -1;
    /* Kept capabilities survive execve only through the ambient set. */
    for (int c = 0; c < 64; c++)
        if ((keep & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
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
 * The signals whose action is not the default, asked of the kernel one by
 * one: a bit per signal, bit 0 signal 1.  init never changes an action, so
 * they are those it was started with, asked once; the spare asks before its
 * request comes (sbx_init_note_signals).
 */
static uint64_t non_default_signals(void)
{
    static uint64_t set;
    static bool known;
    if (known)
        return set;
    for (int sig = 1; sig <= 64 && sig < _NSIG; sig++) {
        struct sigaction old;
        /* glibc refuses the real-time signals it keeps for itself: counted, and left to it. */
        if (sigaction(sig, NULL, &old) < 0 || old.sa_handler != SIG_DFL)
            set |= 1ULL << (sig - 1);
    }
    known = true;
    return set;
}

void sbx_init_note_signals(void)
{
    (void)non_default_signals();
}

/*
 * The guest starts with every signal at its default action and none blocked:
 * an ignored disposition survives exec, and the daemon ignores SIGPIPE (and
 * may have inherited more), which would otherwise leak into every guest.
 * Only the signals that are not at their default are reset: a sigaction per
 * signal number is most of the guest's setup otherwise.
 */
static int reset_signals(uint64_t set)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
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

static _noreturn_ void guest_child(const struct child_args *a)
{
    const struct sbx_spec *spec = a->spec;
    const struct sbx_init_fds *fds = a->fds;
    int status = fd_move(a->status_w, SBX_FD_STATUS, spec->mode == SBX_MODE_OFF);
    if (status < 0)
        child_fail(a->status_w, errno, SBX_STAGE_SETUP, 125);
    if (fd_move(a->notify, SBX_FD_NOTIFY, spec->mode == SBX_MODE_OFF) < 0)
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
    if (place_passed(fds) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    /* Every other fd of init (control socket, image mount, bind sources...) goes. */
    if (syscall(SYS_close_range, 3 + fds->n_pass, SBX_FD_NOTIFY - 1, 0) < 0 ||
        syscall(SYS_close_range, SBX_FD_NOTIFY + 1, SBX_FD_STATUS - 1, 0) < 0 ||
        syscall(SYS_close_range,
                spec->mode == SBX_MODE_OFF ? SBX_FD_STATUS + 1 : SBX_FD_TRAMPOLINE + 1, ~0U, 0) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);

    umask(spec->umask);
    if (reset_signals(a->non_default) < 0 || apply_rlimits(spec) < 0 ||
        drop_privileges(spec, a->ncaps) < 0)
        child_fail(status, errno, SBX_STAGE_SETUP, 125);
    /* After pivot_root, so the path resolves in the sandbox's tree, with the guest's rights. */
    if (chdir(spec->cwd ? spec->cwd : "/") < 0)
        child_fail(status, errno, SBX_STAGE_CWD, 125);

    if (spec->mode == SBX_MODE_OFF) {
        if (sbx_init_notify_install(a->prog) < 0)
            child_fail(status, errno, SBX_STAGE_FILTER, 125);
        execve(a->path, spec->argv, a->env);
        child_fail(status, errno, SBX_STAGE_EXEC, errno == ENOENT ? 127 : 126);
    }

    /* The trampoline installs the filter itself, around its own gate. */
    syscall(SYS_execveat, SBX_FD_TRAMPOLINE, "", spec->argv, a->env, AT_EMPTY_PATH);
    child_fail(status, errno, SBX_STAGE_SETUP, 125);
}

static int child_main(void *arg)
{
    const struct child_args *a = arg;
    /* init's ends of the status pipe and of the listener's socket. */
    close(a->close[0]);
    close(a->close[1]);
    guest_child(a);
}

/*
 * Starts guest_child in a process that shares init's memory until its exec
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does), on a stack of its own:
 * init is suspended meanwhile.  A fork would copy init's page tables for a
 * process that replaces them at once, and each page the child writes would
 * cost it a copy-on-write fault.  init's signals are blocked across the
 * clone, so that no handler of init's runs on the child's stack before the
 * child has reset them (reset_signals unblocks them at the end).  The
 * descriptors (no CLONE_FILES) are the child's own, as after a fork.
 *
 * Two children are forked instead.  One that installs a filter with a
 * listener (`off` mode with kill rules): its exec may already wait for the
 * listener, which reaches the daemon only through init (read_status).  And
 * one that takes other ids than init's: the kernel resets the dumpable flag
 * of the memory of a process whose uid or gid changes to fs.suid_dumpable,
 * and that memory would be init's, which must stay undumpable (and out of
 * ptrace's reach of the guest's uid) whatever the host's setting.
 */
static pid_t spawn_child(struct child_args *a, int status_r, int notify_r)
{
    enum { STACK = 256 << 10 };
    const size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    static char *stack;
    a->close[0] = status_r;
    a->close[1] = notify_r;
    bool own_ids = a->spec->uid == geteuid() && a->spec->gid == getegid();
    if (!own_ids ||
        (a->spec->mode == SBX_MODE_OFF && sbx_notify_in_prog(a->prog->filter, a->prog->len))) {
        pid_t pid = fork();
        if (pid == 0)
            child_main(a);
        return pid;
    }
    if (!stack) {
        void *m = mmap(NULL, STACK + guard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        /* Below the stack, a page that faults rather than reaching other memory. */
        if (mprotect(m, guard, PROT_NONE) < 0) {
            munmap(m, STACK + guard);
            return -1;
        }
        stack = m;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_main, stack + guard + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    int err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return pid;
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
    struct child_args a = {
        .spec = spec,
        .fds = fds,
        .path = path,
        .status_w = pipefd[1],
        .notify = notify[1],
        .prog = &prog,
        .ncaps = (int)cap_max_bits(),
        .non_default = non_default_signals(),
    };
    /* Last, so that nothing after it changes the errno of its failure. */
    a.env = spec->mode == SBX_MODE_OFF ? spec->env : request_env(spec, path);
    pid_t pid = a.env ? spawn_child(&a, pipefd[0], notify[0]) : -1;
    int err = errno;
    if (a.env != spec->env)
        free(a.env);
    free(prog.filter);
    close(pipefd[1]);
    close(notify[1]);
    if (pid < 0) {
        close(pipefd[0]);
        close(notify[0]);
        return sbx_error_set_errno(e, err, "start the guest process");
    }
    struct sbx_status_record rec;
    ssize_t n = read_status(pipefd[0], notify[0], ctl, exec_id, &rec);
    err = errno;
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
