/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy -> BPF: each test compiles a policy, installs the exported program
 * in a forked child and checks what syscalls then do.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"
#include "sbx/notify.h"

/* Exit codes of the children: 0 = every check passed, else the failing check's line. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed at line %d: %s (errno %d)\n", __LINE__, #cond, errno);   \
            return __LINE__ % 250 + 1;                                                             \
        }                                                                                          \
    } while (0)

/* The syscall's result as -errno, or its return value. */
static long sys(long nr, long a0, long a1, long a2)
{
    errno = 0;
    long r = syscall(nr, a0, a1, a2);
    return r < 0 ? -errno : r;
}

static struct sbx_policy *parse_or_die(const char *yaml)
{
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    int r = sbx_policy_parse(yaml, strlen(yaml), "test.yaml", &p, &diags);
    if (r < 0) {
        char *text = sbx_diags_format(&diags);
        fprintf(stderr, "parse failed (%d):\n%s", r, text ? text : "");
        free(text);
    }
    sbx_diags_free(&diags);
    CU_ASSERT_EQUAL_FATAL(r, 0);
    return p;
}

/* Exports p for a sandbox with flags and reads the program back into *prog. */
static int load(const struct sbx_policy *p, unsigned flags, struct sock_fprog *prog)
{
    int fd = memfd_create("test-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = sbx_policy_export_bpf(p, flags, fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct sock_filter)) {
        close(fd);
        return -EINVAL;
    }
    struct sock_filter *insns = malloc((size_t)st.st_size);
    if (!insns || pread(fd, insns, (size_t)st.st_size, 0) != st.st_size) {
        free(insns);
        close(fd);
        return -EIO;
    }
    close(fd);
    *prog = (struct sock_fprog){ .len = (unsigned short)(st.st_size / sizeof(*insns)),
                                 .filter = insns };
    return 0;
}

/*
 * Installs p's program here with seccomp_flags; with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER returns the listener.  kill_fallback
 * first turns the kill rules into plain kills, as an installer does that
 * cannot have a listener.
 */
static int install_as(const struct sbx_policy *p, unsigned flags, unsigned seccomp_flags,
                      bool kill_fallback)
{
    struct sock_fprog prog;
    int r = load(p, flags, &prog);
    if (r < 0)
        return r;
    if (kill_fallback)
        sbx_notify_to_kill(prog.filter, prog.len);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        r = -errno;
    else if ((r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, seccomp_flags, &prog)) < 0)
        r = -errno;
    free(prog.filter);
    return r;
}

static int install(const struct sbx_policy *p, unsigned flags)
{
    int r = install_as(p, flags, 0, false);
    return r < 0 ? r : 0;
}

/*
 * The errno of a filter installed before the policy's, for the calls whose
 * outcome a test checks: they never run, so a test needs no real files or
 * sockets.  Of two filters that both return an errno the newer one's wins,
 * so a call fails with MARK exactly when the policy lets it through.
 */
#define MARK 4001
static const int marked[] = {
    SYS_socket, SYS_socketpair, SYS_chmod,   SYS_fchmod, SYS_fchmodat, 452 /* fchmodat2 */,
    SYS_creat,  SYS_mknod,      SYS_mknodat, SYS_open,   SYS_openat,   SYS_openat2,
};

static int install_marker(void)
{
    struct sock_filter insns[2 + 2 * ARRAY_SIZE(marked) + 1];
    size_t n = 0;
    insns[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < ARRAY_SIZE(marked); i++) {
        insns[n++] =
            (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)marked[i], 0, 1);
        insns[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | MARK);
    }
    insns[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return -errno;
    return 0;
}

struct body {
    struct sbx_policy *policy;
    unsigned flags;
    bool marker; /* install_marker first */
    int (*checks)(void);
};

static int run_body(void *arg)
{
    struct body *b = arg;
    if (b->marker && install_marker() < 0) {
        fprintf(stderr, "install_marker: %s\n", strerror(errno));
        return 253;
    }
    int r = install(b->policy, b->flags);
    if (r < 0) {
        fprintf(stderr, "install: %s\n", strerror(-r));
        return 255;
    }
    return b->checks();
}

/* Runs checks under p in a child; returns the child's wait status. */
static int run_under(struct sbx_policy *p, int (*checks)(void))
{
    struct body b = { .policy = p, .checks = checks };
    int st = sbx_test_fork(run_body, &b, 10);
    sbx_policy_free(p);
    return st;
}

static struct sbx_policy *default_policy(void)
{
    struct sbx_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&p), 0);
    return p;
}

static int checks_baseline(void)
{
    /* Allowed things still work. */
    CHECK(sys(SYS_getpid, 0, 0, 0) == getpid());
    CHECK(sys(SYS_unshare, CLONE_FILES, 0, 0) == 0);
    CHECK(sys(SYS_unshare, CLONE_FS, 0, 0) == 0);
    CHECK(sys(SYS_personality, 0xffffffff, 0, 0) >= 0);
    CHECK(sys(SYS_personality, PER_LINUX, 0, 0) >= 0);

    /* Root could mount here; the baseline says no before the kernel looks at the target. */
    CHECK(sys(SYS_mount, (long)"none", (long)"/nonexistent-target", (long)"tmpfs") == -EPERM);
    CHECK(sys(SYS_umount2, (long)"/", 0, 0) == -EPERM);
    CHECK(sys(SYS_unshare, CLONE_NEWNS, 0, 0) == -EPERM);
    CHECK(sys(SYS_unshare, CLONE_FILES | CLONE_NEWUSER, 0, 0) == -EPERM);
    CHECK(sys(SYS_unshare, CLONE_NEWTIME, 0, 0) == -EPERM);
    CHECK(sys(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0) == -EPERM);
    CHECK(sys(SYS_setns, 0, 0, 0) == -EPERM);
    CHECK(sys(SYS_clone3, 0, 0, 0) == -ENOSYS);
    CHECK(sys(SYS_bpf, 0, 0, 0) == -EPERM);
    CHECK(sys(SYS_io_uring_setup, 1, 0, 0) == -EPERM);
    CHECK(sys(SYS_keyctl, 0, 0, 0) == -EPERM);
    CHECK(sys(SYS_ptrace, PTRACE_ATTACH, getppid(), 0) == -EPERM);
    CHECK(sys(SYS_ptrace, PTRACE_SEIZE, getppid(), 0) == -EPERM);
    /* Other ptrace requests reach the kernel: no tracee here, so ESRCH. */
    CHECK(sys(SYS_ptrace, PTRACE_CONT, getppid(), 0) == -ESRCH);

    /* TIOCSTI is refused whatever the high half of the command holds. */
    CHECK(sys(SYS_ioctl, 0, TIOCSTI, (long)"x") == -EPERM);
    CHECK(sys(SYS_ioctl, 0, (long)(0x100000000ul | TIOCSTI), (long)"x") == -EPERM);
    CHECK(sys(SYS_ioctl, 0, TIOCLINUX, (long)"x") == -EPERM);
    /* Other ioctls reach the kernel: FIONREAD works on a memfd. */
    int fd = memfd_create("x", MFD_CLOEXEC), n = -1;
    CHECK(fd >= 0);
    CHECK(sys(SYS_ioctl, fd, FIONREAD, (long)&n) == 0 && n == 0);

    CHECK(sys(SYS_personality, PER_BSD, 0, 0) == -EPERM);
    CHECK(sys(SYS_personality, 0x100000000l | PER_BSD, 0, 0) == -EPERM);
    CHECK(sys(SYS_personality, ADDR_NO_RANDOMIZE, 0, 0) == -EPERM);
    return 0;
}

static void test_default_baseline(void)
{
    int st = run_under(default_policy(), checks_baseline);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static int checks_x32(void)
{
    /* An x32 syscall number on the native ABI: a foreign ABI kills the process. */
    syscall(0x40000000 | SYS_getpid);
    return 0;
}

static void test_foreign_abi_killed(void)
{
    int st = run_under(default_policy(), checks_x32);
    CU_ASSERT(SBX_TEST_SIGNALED(st, SIGSYS));
}

static int checks_no_baseline(void)
{
    /* Without the baseline the kernel decides: root may create a mount namespace. */
    CHECK(sys(SYS_unshare, CLONE_NEWNS, 0, 0) == 0);
    CHECK(sys(SYS_clone3, 0, 0, 0) != -ENOSYS);
    return 0;
}

static void test_baseline_none(void)
{
    struct sbx_policy *p = default_policy();
    p->baseline = false;
    int st = run_under(p, checks_no_baseline);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

/* Default deny with allow lists, errno rules and argument conditions. */
static const char rules_yaml[] =
    "syscalls:\n"
    "  default: errno ENOTSUP\n"
    "  rules:\n"
    "    - { action: allow, syscalls: [exit_group, exit, write, getpid, close, rt_sigreturn] }\n"
    "    - { action: allow, syscalls: [unshare, ioctl, memfd_create] }\n"
    "    - { action: errno EACCES, syscalls: [mkdir, mkdirat] }\n"
    "    - { action: allow, syscalls: [socket], args: [{ index: 0, op: eq, value: AF_UNIX }] }\n"
    "    - { action: errno 77, syscalls: [dup],\n"
    "        args: [{ index: 0, op: masked_eq, mask: 0xff, value: 0x42 }] }\n"
    "    - { action: allow, syscalls: [dup3], args: [{ index: 2, op: ge, value: O_CLOEXEC }] }\n"
    "    - { action: trace, syscalls: [getgid] }\n"
    "    - { action: log, syscalls: [getegid] }\n"
    "    - { action: kill, syscalls: [getppid] }\n"
    "    - { action: trap, syscalls: [geteuid] }\n";

static int checks_rules(void)
{
    CHECK(sys(SYS_getpid, 0, 0, 0) == getpid());
    CHECK(sys(SYS_getuid, 0, 0, 0) == -ENOTSUP);
    CHECK(sys(SYS_mkdir, (long)"/tmp/x", 0700, 0) == -EACCES);
    CHECK(sys(SYS_mkdirat, AT_FDCWD, (long)"/tmp/x", 0700) == -EACCES);

    /* Argument conditions: true lets the call through, false falls to the default. */
    long fd = sys(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(sys(SYS_socket, AF_INET, SOCK_STREAM, 0) == -ENOTSUP);
    CHECK(sys(SYS_dup, 0x142, 0, 0) == -77);
    CHECK(sys(SYS_dup, 0x43, 0, 0) == -ENOTSUP);
    CHECK(sys(SYS_dup3, fd, 100, O_CLOEXEC) == 100);
    CHECK(sys(SYS_dup3, fd, 101, 0) == -ENOTSUP);

    /* trace and log reach the kernel. */
    CHECK(sys(SYS_getgid, 0, 0, 0) == (long)getgid());
    CHECK(sys(SYS_getegid, 0, 0, 0) >= 0);

    /* The baseline runs first: a rule allowing unshare or ioctl does not reopen what it denies. */
    CHECK(sys(SYS_unshare, CLONE_FILES, 0, 0) == 0);
    CHECK(sys(SYS_unshare, CLONE_NEWNS, 0, 0) == -EPERM);
    CHECK(sys(SYS_ioctl, 0, TIOCSTI, (long)"x") == -EPERM);
    int mfd = (int)sys(SYS_memfd_create, (long)"x", MFD_CLOEXEC, 0), n = -1;
    CHECK(mfd >= 0);
    CHECK(sys(SYS_ioctl, mfd, FIONREAD, (long)&n) == 0 && n == 0);
    CHECK(sys(SYS_mount, (long)"none", (long)"/nonexistent-target", (long)"tmpfs") == -EPERM);
    CHECK(sys(SYS_clone3, 0, 0, 0) == -ENOSYS);
    return 0;
}

static void test_rules(void)
{
    int st = run_under(parse_or_die(rules_yaml), checks_rules);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static int checks_kill(void)
{
    sys(SYS_getppid, 0, 0, 0);
    return 0;
}

/* Without a listener, a kill rule is a plain kill: the process dies of SIGSYS. */
static int run_kill_fallback(void *arg)
{
    struct sbx_policy *p = arg;
    if (install_as(p, 0, 0, true) < 0)
        return 255;
    return checks_kill();
}

static void test_kill_action_fallback(void)
{
    struct sbx_policy *p = parse_or_die(rules_yaml);
    int st = sbx_test_fork(run_kill_fallback, p, 10);
    sbx_policy_free(p);
    CU_ASSERT(SBX_TEST_SIGNALED(st, SIGSYS));
}

/*
 * A kill rule compiles to a user notification: the caller stops in the
 * kernel, its call not made, and the listener reads which call it was.  The
 * holder of the listener then kills it with SIGSYS, as sandboxd does.  The
 * caller writes to a pipe once its call returns: nothing may arrive.
 */
static int run_kill_notify(void *arg)
{
    struct sbx_policy *p = arg;
    int pfd[2];
    CHECK(pipe2(pfd, O_CLOEXEC) == 0);
    int listener = install_as(p, 0, SECCOMP_FILTER_FLAG_NEW_LISTENER, false);
    CHECK(listener >= 0);
    pid_t caller = fork();
    CHECK(caller >= 0);
    if (caller == 0) {
        sys(SYS_getppid, 0, 0, 0);
        _exit(write(pfd[1], "r", 1) == 1 ? 0 : 1);
    }
    close(pfd[1]);
    struct seccomp_notif_sizes sizes;
    CHECK(sys(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, (long)&sizes) == 0);
    struct seccomp_notif *n = calloc(1, sizes.seccomp_notif);
    CHECK(n);
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) == 0);
    CHECK(n->data.nr == SYS_getppid);
    CHECK(n->pid == (uint32_t)caller);
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) == 0);
    CHECK(kill(caller, SIGSYS) == 0);
    int st;
    CHECK(waitpid(caller, &st, 0) == caller);
    CHECK(SBX_TEST_SIGNALED(st, SIGSYS));
    char c;
    CHECK(read(pfd[0], &c, 1) == 0);
    free(n);
    return 0;
}

static void test_kill_action(void)
{
    struct sbx_policy *p = parse_or_die("syscalls:\n"
                                        "  default: allow\n"
                                        "  rules: [ { action: kill, syscalls: [getppid] } ]\n");
    int st = sbx_test_fork(run_kill_notify, p, 10);
    sbx_policy_free(p);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static volatile sig_atomic_t trapped_nr = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    trapped_nr = si->si_syscall;
}

static int checks_trap(void)
{
    /* The handler was installed before the filter; the trapped call itself never ran. */
    sys(SYS_geteuid, 0, 0, 0);
    CHECK(trapped_nr == SYS_geteuid);
    return 0;
}

static int run_trap_body(void *arg)
{
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return 254;
    return run_body(arg);
}

static void test_trap_action(void)
{
    struct body b = { .policy = parse_or_die(rules_yaml), .checks = checks_trap };
    int st = sbx_test_fork(run_trap_body, &b, 10);
    sbx_policy_free(b.policy);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

/* Rules whose action equals the default are dropped (libseccomp refuses them), not errors. */
static const char default_allow_yaml[] = "syscalls:\n"
                                         "  default: allow\n"
                                         "  rules:\n"
                                         "    - { action: allow, syscalls: [read, write] }\n"
                                         "    - { action: trace, syscalls: [execve] }\n"
                                         "    - { action: errno EACCES, syscalls: [mkdir] }\n";

static int checks_default_allow(void)
{
    CHECK(sys(SYS_getuid, 0, 0, 0) == (long)getuid());
    CHECK(sys(SYS_mkdir, (long)"/nonexistent-dir/x", 0700, 0) == -EACCES);
    CHECK(sys(SYS_unshare, CLONE_NEWNS, 0, 0) == -EPERM);
    return 0;
}

static void test_default_allow_with_rules(void)
{
    int st = run_under(parse_or_die(default_allow_yaml), checks_default_allow);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

/* Runs checks under p compiled for flags, behind the marker filter. */
static int run_marked(struct sbx_policy *p, unsigned flags, int (*checks)(void))
{
    struct body b = { .policy = p, .flags = flags, .marker = true, .checks = checks };
    int st = sbx_test_fork(run_body, &b, 10);
    sbx_policy_free(p);
    return st;
}

static long sys4(long nr, long a0, long a1, long a2, long a3)
{
    errno = 0;
    long r = syscall(nr, a0, a1, a2, a3);
    return r < 0 ? -errno : r;
}

static bool kept_family(long f)
{
    return f == AF_UNIX || f == AF_INET || f == AF_INET6 || f == AF_NETLINK || f == AF_PACKET;
}

static int checks_families(void)
{
    /* Every family up to past the kernel's last, for socket and socketpair alike. */
    for (long f = 0; f < 64; f++) {
        long want = kept_family(f) ? -MARK : -EAFNOSUPPORT;
        CHECK(sys(SYS_socket, f, SOCK_STREAM, 0) == want);
        CHECK(sys4(SYS_socketpair, f, SOCK_STREAM, 0, 0) == want);
    }
    CHECK(sys(SYS_socket, AF_VSOCK, SOCK_STREAM, 0) == -EAFNOSUPPORT);
    CHECK(sys(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0) == -EAFNOSUPPORT);
    CHECK(sys(SYS_socket, AF_BLUETOOTH, SOCK_RAW, 0) == -EAFNOSUPPORT);
    CHECK(sys(SYS_socket, 0x7fffffff, SOCK_STREAM, 0) == -EAFNOSUPPORT);
    /* The kernel would read AF_VSOCK or AF_INET here; the high half is refused whatever it holds.
     */
    CHECK(sys(SYS_socket, 0x100000000l | AF_VSOCK, SOCK_STREAM, 0) == -EAFNOSUPPORT);
    CHECK(sys(SYS_socket, 0x100000000l | AF_INET, SOCK_STREAM, 0) == -EAFNOSUPPORT);

    /* Netlink keeps every protocol but the device events, whatever the high half holds. */
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) == -MARK);
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_DGRAM, NETLINK_AUDIT) == -MARK);
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) == -EPROTONOSUPPORT);
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT) ==
          -EPROTONOSUPPORT);
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_RAW, 0x100000000l | NETLINK_KOBJECT_UEVENT) ==
          -EPROTONOSUPPORT);
    /* Only socket() takes a protocol to refuse; the kernel has no netlink socketpair. */
    CHECK(sys4(SYS_socketpair, AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT, 0) == -MARK);
    return 0;
}

static void test_socket_families(void)
{
    int st = run_marked(default_policy(), 0, checks_families);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static int checks_families_host(void)
{
    CHECK(sys(SYS_socket, AF_VSOCK, SOCK_STREAM, 0) == -MARK);
    CHECK(sys(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0) == -MARK);
    CHECK(sys(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) == -MARK);
    CHECK(sys4(SYS_socketpair, AF_TIPC, SOCK_STREAM, 0, 0) == -MARK);
    return 0;
}

static void test_network_host_keeps_families(void)
{
    int st = run_marked(parse_or_die("network: host\n"), 0, checks_families_host);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static const char rw_bind_yaml[] =
    "filesystem:\n"
    "  mounts: [{ type: bind, source: /srv, target: /srv, readonly: false }]\n";

static int checks_setid_refused(void)
{
    static const long setid[] = { S_ISUID | 0755, S_ISGID | 0755, S_ISUID | S_ISGID | 0777,
                                  0x10000 | S_ISUID | 0755 };
    const long at = AT_FDCWD, f = (long)"/nonexistent/f";
    for (size_t i = 0; i < ARRAY_SIZE(setid); i++) {
        long m = setid[i];
        CHECK(sys(SYS_chmod, f, m, 0) == -EPERM);
        CHECK(sys(SYS_fchmod, 0, m, 0) == -EPERM);
        CHECK(sys4(SYS_fchmodat, at, f, m, 0) == -EPERM);
        CHECK(sys4(452 /* fchmodat2 */, at, f, m, 0) == -EPERM);
        CHECK(sys(SYS_creat, f, m, 0) == -EPERM);
        CHECK(sys(SYS_mknod, f, S_IFREG | m, 0) == -EPERM);
        CHECK(sys4(SYS_mknodat, at, f, S_IFREG | m, 0) == -EPERM);
        CHECK(sys(SYS_open, f, O_WRONLY | O_CREAT, m) == -EPERM);
        CHECK(sys(SYS_open, f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, m) == -EPERM);
        CHECK(sys(SYS_open, f, O_WRONLY | O_TMPFILE, m) == -EPERM);
        CHECK(sys4(SYS_openat, at, f, O_RDWR | O_CREAT, m) == -EPERM);
        CHECK(sys4(SYS_openat, at, f, O_RDWR | O_TMPFILE, m) == -EPERM);
        /* Without O_CREAT or O_TMPFILE the kernel ignores the mode: so does the filter. */
        CHECK(sys(SYS_open, f, O_RDONLY, m) == -MARK);
        CHECK(sys4(SYS_openat, at, f, O_RDWR | O_DIRECTORY, m) == -MARK);
    }
    /* Modes without set-id bits pass, the sticky bit too. */
    CHECK(sys(SYS_chmod, f, 0755, 0) == -MARK);
    CHECK(sys(SYS_chmod, f, S_ISVTX | 0777, 0) == -MARK);
    CHECK(sys(SYS_fchmod, 0, 0600, 0) == -MARK);
    CHECK(sys4(SYS_fchmodat, at, f, 0644, 0) == -MARK);
    CHECK(sys4(452, at, f, 0644, 0) == -MARK);
    CHECK(sys(SYS_creat, f, 0644, 0) == -MARK);
    CHECK(sys(SYS_mknod, f, S_IFIFO | 0644, 0) == -MARK);
    CHECK(sys4(SYS_mknodat, at, f, S_IFREG | 0644, 0) == -MARK);
    CHECK(sys(SYS_open, f, O_WRONLY | O_CREAT, 0644) == -MARK);
    CHECK(sys4(SYS_openat, at, f, O_WRONLY | O_CREAT, 0644) == -MARK);
    /* openat2's mode sits behind a pointer: the whole call falls back to openat. */
    CHECK(sys4(SYS_openat2, at, f, 0, 0) == -ENOSYS);
    return 0;
}

static void test_setid_refused_root_rw_bind(void)
{
    int st = run_marked(parse_or_die(rw_bind_yaml), SBX_POLICY_GUEST_ROOT, checks_setid_refused);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static void test_setid_refused_root_writable_image(void)
{
    int st = run_marked(parse_or_die("filesystem: { writable_image: true }\n"),
                        SBX_POLICY_GUEST_ROOT, checks_setid_refused);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static void test_setid_refused_root_capable(void)
{
    /* Another uid, but a capability to become root or to change a file root owns. */
    static const char *const caps[] = { "CAP_SETUID", "CAP_SETGID", "CAP_FOWNER", "CAP_CHOWN",
                                        "CAP_FSETID" };
    for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "%sprocess: { capabilities: [%s] }\n", rw_bind_yaml, caps[i]);
        int st = run_marked(parse_or_die(yaml), 0, checks_setid_refused);
        CU_ASSERT(SBX_TEST_EXITED(st, 0));
    }
}

static int checks_setid_allowed(void)
{
    CHECK(sys(SYS_chmod, (long)"/nonexistent/f", S_ISUID | 0755, 0) == -MARK);
    CHECK(sys(SYS_fchmod, 0, S_ISGID | 0755, 0) == -MARK);
    CHECK(sys(SYS_open, (long)"/nonexistent/f", O_WRONLY | O_CREAT, S_ISUID | 0755) == -MARK);
    CHECK(sys4(SYS_openat2, AT_FDCWD, (long)"/nonexistent/f", 0, 0) == -MARK);
    return 0;
}

static void test_setid_allowed_elsewhere(void)
{
    /* Another guest uid; root where writes vanish or a bind is read-only; no baseline. */
    int st = run_marked(parse_or_die(rw_bind_yaml), 0, checks_setid_allowed);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
    st = run_marked(default_policy(), SBX_POLICY_GUEST_ROOT, checks_setid_allowed);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
    st = run_marked(parse_or_die("filesystem:\n"
                                 "  mounts: [{ type: bind, source: /srv, target: /srv }]\n"),
                    SBX_POLICY_GUEST_ROOT, checks_setid_allowed);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
    st = run_marked(parse_or_die("filesystem:\n"
                                 "  mounts: [{ type: bind, source: /srv, target: /srv, "
                                 "readonly: false }]\n"
                                 "process: { capabilities: [CAP_NET_BIND_SERVICE] }\n"),
                    0, checks_setid_allowed);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
    struct sbx_policy *p = parse_or_die(rw_bind_yaml);
    p->baseline = false;
    st = run_marked(p, SBX_POLICY_GUEST_ROOT, checks_setid_allowed);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
}

static void test_export_flags(void)
{
    struct sbx_policy *p = default_policy();
    int fd = memfd_create("test-bpf", MFD_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(sbx_policy_export_bpf(p, 1u << 7, fd), -EINVAL);
    CU_ASSERT_EQUAL(sbx_policy_export_bpf(p, SBX_POLICY_GUEST_ROOT, fd), 0);
    close(fd);
    sbx_policy_free(p);
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_default_baseline),
    SBX_TEST(test_foreign_abi_killed),
    SBX_TEST(test_baseline_none),
    SBX_TEST(test_rules),
    SBX_TEST(test_kill_action),
    SBX_TEST(test_kill_action_fallback),
    SBX_TEST(test_trap_action),
    SBX_TEST(test_default_allow_with_rules),
    SBX_TEST(test_socket_families),
    SBX_TEST(test_network_host_keeps_families),
    SBX_TEST(test_setid_refused_root_rw_bind),
    SBX_TEST(test_setid_refused_root_writable_image),
    SBX_TEST(test_setid_refused_root_capable),
    SBX_TEST(test_setid_allowed_elsewhere),
    SBX_TEST(test_export_flags),
};

int main(void)
{
    return sbx_test_main("policy-compile", tests, ARRAY_SIZE(tests));
}
