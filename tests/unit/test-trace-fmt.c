/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The --trace decoder (client/trace-fmt.c): every table entry (its name is
 * libseccomp's for its number, its argument letters are known ones, it
 * prints as many arguments as it declares), every argument kind against
 * the line strace prints for the same call, results and errors, the cut
 * of long strings, records a guest scribbled on, and the filters.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/prctl.h>
#include <linux/sched.h>

#include "client/trace-fmt.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define KINDS "dDuxpfFsboOmPMaAESXtkTcghvwWirleLnRzqUCKYIGjVHNQZ_yJ"

static struct sbx_trace_rec rec(uint32_t nr, int64_t ret, uint64_t a0, uint64_t a1, uint64_t a2,
                                uint64_t a3, uint64_t a4, uint64_t a5)
{
    struct sbx_trace_rec r = { .nr = nr, .tid = 7, .kind = SBX_TRACE_SYSCALL, .ret = ret };
    r.args[0] = a0, r.args[1] = a1, r.args[2] = a2, r.args[3] = a3, r.args[4] = a4;
    r.args[5] = a5;
    r.sarg[0] = r.sarg[1] = SBX_TRACE_NOARG;
    return r;
}

static void copy(struct sbx_trace_rec *r, int slot, unsigned arg, const void *p, size_t n)
{
    memcpy(r->str[slot], p, n);
    r->sarg[slot] = (uint8_t)arg;
    r->slen[slot] = (uint16_t)n;
}

static void expect(const struct sbx_trace_rec *r, const char *want)
{
    char line[1024];
    sbx_trace_format(r, line, sizeof(line));
    if (strcmp(line, want) != 0)
        fprintf(stderr, "\n  got:  %s\n  want: %s\n", line, want);
    CU_ASSERT_STRING_EQUAL(line, want);
}

/* Every entry: libseccomp's name, known letters, and one printed argument per letter. */
static void test_every_entry(void)
{
    size_t n = sbx_trace_decl_count();
    CU_ASSERT(n > 150);
    for (size_t i = 0; i < n; i++) {
        uint32_t nr = sbx_trace_decl_nr(i);
        const struct sbx_trace_decl *d = sbx_trace_decl(nr);
        CU_ASSERT_FATAL(d != NULL);
        char *lib = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, (int)nr);
        if (!lib || strcmp(lib, d->name) != 0)
            fprintf(stderr, "entry %u: %s, libseccomp says %s\n", nr, d->name,
                    lib ? lib : "nothing");
        CU_ASSERT(lib && strcmp(lib, d->name) == 0);
        free(lib);
        CU_ASSERT(strlen(d->args) <= 6);
        CU_ASSERT(strspn(d->args, KINDS) == strlen(d->args));
        CU_ASSERT(d->ret == 'd' || d->ret == 'x' || d->ret == 'o');
        /* With every argument 0 and nothing copied, each prints as one token. */
        struct sbx_trace_rec r = rec(nr, 0, 0, 0, 0, 0, 0, 0);
        char line[1024];
        sbx_trace_format(&r, line, sizeof(line));
        size_t want = strlen(d->args);
        if (want && d->args[want - 1] == 'O')
            want--; /* no O_CREAT: no mode */
        for (const char *p = d->args; *p; p++)
            want -= *p == '_'; /* not printed */
        size_t commas = 0;
        for (const char *p = line; (p = strstr(p, ", ")); p += 2)
            commas++;
        CU_ASSERT_EQUAL(commas, want ? want - 1 : 0);
        CU_ASSERT(strncmp(line, d->name, strlen(d->name)) == 0 && line[strlen(d->name)] == '(');
        CU_ASSERT(strstr(line, ") = 0") != NULL);
    }
}

/* Each argument kind, as strace prints it. */
static void test_kinds(void)
{
    struct sbx_trace_rec r;
    uint64_t set;

    r = rec(SYS_openat, 3, (uint64_t)AT_FDCWD, 1, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    copy(&r, 0, 1, "/etc/hosts", 10);
    expect(&r, "openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3");
    r = rec(SYS_openat, -ENOENT, 5, 1, O_WRONLY | O_CREAT | O_TRUNC, 0644, 0, 0);
    copy(&r, 0, 1, "x", 1);
    expect(&r, "openat(5, \"x\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 ENOENT (No such file or "
               "directory)");
    r = rec(SYS_open, 4, 1, O_RDWR | O_TMPFILE, 0600, 0, 0, 0);
    copy(&r, 0, 0, "/tmp", 4);
    expect(&r, "open(\"/tmp\", O_RDWR|O_TMPFILE, 0600) = 4");
    r = rec(SYS_write, 3, 1, 0x1000, 3, 0, 0, 0);
    copy(&r, 0, 1, "hi\n", 3);
    expect(&r, "write(1, \"hi\\n\", 3) = 3");
    r = rec(SYS_read, 40, 0, 0x1000, 832, 0, 0, 0);
    static const char elf[40] = "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1";
    copy(&r, 0, 1, elf, sizeof(elf));
    expect(&r, "read(0, \"\\177ELF\\2\\1\\1\\0\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0\\0"
               "\\0\\0\\0\\0\\0\\0\\0\"..., 832) = 40");
    r = rec(SYS_read, -EAGAIN, 0, 0x7ffd0000, 10, 0, 0, 0);
    expect(&r, "read(0, 0x7ffd0000, 10) = -1 EAGAIN (Resource temporarily unavailable)");
    r = rec(SYS_lseek, 10, 3, (uint64_t)-5, SEEK_END, 0, 0, 0);
    expect(&r, "lseek(3, -5, 2) = 10");
    r = rec(SYS_mmap, 0x7f0000000000, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
            (uint64_t)-1, 0);
    expect(&r, "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
               "0x7f0000000000");
    r = rec(SYS_mprotect, 0, 0x5db000, 4096, PROT_NONE, 0, 0, 0);
    expect(&r, "mprotect(0x5db000, 4096, PROT_NONE) = 0");
    r = rec(SYS_mmap, -ENOMEM, 0x1000, 4096, PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, 3, 0);
    expect(&r, "mmap(0x1000, 4096, PROT_EXEC, MAP_SHARED|MAP_FIXED_NOREPLACE, 3, 0) = -1 ENOMEM "
               "(Cannot allocate memory)");
    r = rec(SYS_access, -ENOENT, 1, R_OK | X_OK, 0, 0, 0, 0);
    copy(&r, 0, 0, "/etc/ld.so.preload", 18);
    expect(&r, "access(\"/etc/ld.so.preload\", R_OK|X_OK) = -1 ENOENT (No such file or directory)");
    r = rec(SYS_faccessat2, 0, 3, 1, F_OK, AT_EACCESS, 0, 0);
    copy(&r, 0, 1, "a", 1);
    expect(&r, "faccessat2(3, \"a\", F_OK, AT_EACCESS) = 0");
    struct stat st = { .st_mode = S_IFREG | 0644, .st_size = 1234 };
    r = rec(SYS_newfstatat, 0, 3, 1, 2, AT_EMPTY_PATH, 0, 0);
    copy(&r, 0, 1, "", 0);
    copy(&r, 1, 2, (const char *)&st + 24, 32);
    expect(&r, "newfstatat(3, \"\", {st_mode=S_IFREG|0644, st_size=1234, ...}, AT_EMPTY_PATH) = 0");
    st = (struct stat){ .st_mode = S_IFCHR | 0666, .st_rdev = (1 << 8) | 3 };
    r = rec(SYS_fstat, 0, 1, 2, 0, 0, 0, 0);
    copy(&r, 1, 1, (const char *)&st + 24, 32);
    expect(&r, "fstat(1, {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}) = 0");
    struct statx sx = { .stx_mask = STATX_BASIC_STATS,
                        .stx_mode = S_IFDIR | 0755,
                        .stx_size = 4096 };
    r = rec(SYS_statx, 0, (uint64_t)AT_FDCWD, 1, AT_SYMLINK_NOFOLLOW, 0x7ff, 5, 0);
    copy(&r, 0, 1, "/", 1);
    copy(&r, 1, 4, &sx, 56);
    expect(&r, "statx(AT_FDCWD, \"/\", AT_SYMLINK_NOFOLLOW, 0x7ff, {stx_mask=0x7ff, "
               "stx_mode=S_IFDIR|0755, stx_size=4096, ...}) = 0");
    r = rec(SYS_fstat, -EBADF, 9, 0x1000, 0, 0, 0, 0);
    expect(&r, "fstat(9, 0x1000) = -1 EBADF (Bad file descriptor)");
    int64_t ts[2] = { 1, 500 };
    r = rec(SYS_clock_nanosleep, 0, CLOCK_MONOTONIC, 0, 1, 0, 0, 0);
    copy(&r, 0, 2, ts, 16);
    expect(&r, "clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=1, tv_nsec=500}, NULL) = 0");
    r = rec(SYS_socket, 3, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0);
    expect(&r, "socket(AF_INET6, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0) = 3");
    r = rec(SYS_socket, -EAFNOSUPPORT, 99, SOCK_STREAM, 0, 0, 0, 0);
    expect(&r, "socket(99, SOCK_STREAM, 0) = -1 EAFNOSUPPORT (Address family not supported by "
               "protocol)");
    unsigned char sin[16] = { AF_INET, 0, 0x1f, 0x90, 127, 0, 0, 1 };
    r = rec(SYS_connect, -ECONNREFUSED, 3, 1, 16, 0, 0, 0);
    copy(&r, 0, 1, sin, 16);
    expect(&r, "connect(3, {sa_family=AF_INET, sin_port=htons(8080), "
               "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 ECONNREFUSED (Connection refused)");
    char sun[12] = { AF_UNIX, 0, '/', 'r', 'u', 'n', '/', 's' };
    r = rec(SYS_bind, 0, 3, 1, 10, 0, 0, 0);
    copy(&r, 0, 1, sun, 10);
    expect(&r, "bind(3, {sa_family=AF_UNIX, sun_path=\"/run/s\"}, 10) = 0");
    char abs[8] = { AF_UNIX, 0, 0, 'x', 'y' };
    r = rec(SYS_connect, 0, 3, 1, 5, 0, 0, 0);
    copy(&r, 0, 1, abs, 5);
    expect(&r, "connect(3, {sa_family=AF_UNIX, sun_path=@\"xy\"}, 5) = 0");
    r = rec(SYS_clone, 12, CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD, 0, 0, 0x1000, 0, 0);
    expect(&r,
           "clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x1000, 0) = 12");
    r = rec(SYS_kill, 0, 5, SIGTERM, 0, 0, 0, 0);
    expect(&r, "kill(5, SIGTERM) = 0");
    r = rec(SYS_tgkill, 0, 5, 6, 40, 0, 0, 0);
    expect(&r, "tgkill(5, 6, SIGRT_8) = 0");
    set = 3ull << 31;
    r = rec(SYS_rt_sigprocmask, 0, SIG_UNBLOCK, 1, 0, 8, 0, 0);
    copy(&r, 0, 1, &set, 8);
    expect(&r, "rt_sigprocmask(SIG_UNBLOCK, [RTMIN RT_1], NULL, 8) = 0");
    set = (1ull << (SIGINT - 1)) | (1ull << (SIGCHLD - 1));
    r = rec(SYS_rt_sigprocmask, 0, SIG_BLOCK, 1, 0, 8, 0, 0);
    copy(&r, 0, 1, &set, 8);
    expect(&r, "rt_sigprocmask(SIG_BLOCK, [INT CHLD], NULL, 8) = 0");
    set = ~(1ull << (SIGKILL - 1));
    copy(&r, 0, 1, &set, 8);
    r.args[0] = SIG_SETMASK;
    expect(&r, "rt_sigprocmask(SIG_SETMASK, ~[KILL], NULL, 8) = 0");
    uint64_t sa[4] = { 0x401000, 0x04000000 | 0x10000000, 0x402000, 1ull << (SIGTERM - 1) };
    r = rec(SYS_rt_sigaction, 0, SIGINT, 1, 0, 8, 0, 0);
    copy(&r, 0, 1, sa, 32);
    expect(&r, "rt_sigaction(SIGINT, {sa_handler=0x401000, sa_mask=[TERM], "
               "sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x402000}, NULL, 8) = 0");
    sa[0] = 1, sa[1] = 0, sa[3] = 0;
    copy(&r, 0, 1, sa, 32);
    expect(&r, "rt_sigaction(SIGINT, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, NULL, 8) = 0");
    /* glibc's int sa_flags with SA_RESETHAND, sign-extended: the kernel keeps 32 bits. */
    sa[0] = 0, sa[1] = (uint64_t)(int64_t)(int32_t)0x84000000u, sa[2] = 0x402000;
    copy(&r, 0, 1, sa, 32);
    expect(&r, "rt_sigaction(SIGINT, {sa_handler=SIG_DFL, sa_mask=[], "
               "sa_flags=SA_RESTORER|SA_RESETHAND, sa_restorer=0x402000}, NULL, 8) = 0");
    r = rec(SYS_execve, 0, 1, 2, 0, 0, 0, 0);
    copy(&r, 0, 0, "/bin/sh", 7);
    copy(&r, 1, 1, "sh\0-c\0true", 11);
    expect(&r, "execve(\"/bin/sh\", [\"sh\", \"-c\", \"true\"], NULL) = 0");
    r.flags = SBX_TRACE_TRUNC1;
    expect(&r, "execve(\"/bin/sh\", [\"sh\", \"-c\", \"true\", ...], NULL) = 0");
    int status = 3 << 8;
    r = rec(SYS_wait4, 9, (uint64_t)-1, 1, WNOHANG, 0, 0, 0);
    copy(&r, 0, 1, &status, 4);
    expect(&r, "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], WNOHANG, NULL) = 9");
    status = SIGKILL;
    copy(&r, 0, 1, &status, 4);
    r.args[2] = __WALL;
    expect(&r, "wait4(-1, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}], __WALL, NULL) = 9");
    r = rec(SYS_ioctl, 0, 1, 0x5413, 0x1000, 0, 0, 0);
    expect(&r, "ioctl(1, TIOCGWINSZ, 0x1000) = 0");
    r = rec(SYS_ioctl, -ENOTTY, 1, 0xdead, 0, 0, 0, 0);
    expect(&r, "ioctl(1, 0xdead, 0) = -1 ENOTTY (Inappropriate ioctl for device)");
    r = rec(SYS_prctl, 0, PR_SET_NAME, 0x1000, 0, 0, 0, 0);
    expect(&r, "prctl(PR_SET_NAME, 0x1000, 0, 0, 0) = 0");
    r = rec(SYS_fcntl, 0x8002, 3, F_GETFL, 0, 0, 0, 0);
    expect(&r, "fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)");
    r = rec(SYS_fcntl, 1, 3, F_GETFD, 0, 0, 0, 0);
    expect(&r, "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)");
    r = rec(SYS_fcntl, 0, 3, F_SETFD, FD_CLOEXEC, 0, 0, 0);
    expect(&r, "fcntl(3, F_SETFD, 0x1) = 0");
    r = rec(SYS_fcntl, -EBADF, 9, F_GETFD, 0, 0, 0, 0);
    expect(&r, "fcntl(9, F_GETFD) = -1 EBADF (Bad file descriptor)");
    uint64_t lim[2] = { 8388608, UINT64_MAX };
    r = rec(SYS_prlimit64, 0, 0, RLIMIT_STACK, 0, 1, 0, 0);
    copy(&r, 1, 3, lim, 16);
    expect(&r,
           "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8388608, rlim_max=RLIM64_INFINITY}) = 0");
    int fds[2] = { 3, 4 };
    r = rec(SYS_pipe2, 0, 1, O_CLOEXEC, 0, 0, 0, 0);
    copy(&r, 0, 0, fds, 8);
    expect(&r, "pipe2([3, 4], O_CLOEXEC) = 0");
    r.args[1] = 0;
    expect(&r, "pipe2([3, 4], 0) = 0");
    r = rec(SYS_uname, 0, 1, 0, 0, 0, 0, 0);
    copy(&r, 0, 0, "Linux\0\0\0", 8);
    expect(&r, "uname({sysname=\"Linux\", ...}) = 0");
    r = rec(SYS_clock_gettime, 0, CLOCK_BOOTTIME, 0, 0, 0, 0, 0);
    expect(&r, "clock_gettime(CLOCK_BOOTTIME, NULL) = 0");
    r = rec(SYS_madvise, 0, 0x1000, 4096, MADV_DONTNEED, 0, 0, 0);
    expect(&r, "madvise(0x1000, 4096, MADV_DONTNEED) = 0");
    r = rec(SYS_mremap, 0x2000, 0x1000, 4096, 8192, MREMAP_MAYMOVE, 0, 0);
    expect(&r, "mremap(0x1000, 4096, 8192, MREMAP_MAYMOVE, NULL) = 0x2000");
    r = rec(SYS_arch_prctl, 0, 0x1002, 0x1000, 0, 0, 0, 0);
    expect(&r, "arch_prctl(ARCH_SET_FS, 0x1000) = 0");
    r = rec(SYS_getrandom, 8, 0x1000, 8, 1, 0, 0, 0);
    expect(&r, "getrandom(0x1000, 8, GRND_NONBLOCK) = 8");
    r = rec(SYS_umask, 022, 077, 0, 0, 0, 0, 0);
    expect(&r, "umask(077) = 022");
    r = rec(SYS_mkdirat, -EEXIST, (uint64_t)AT_FDCWD, 1, 0755, 0, 0, 0);
    copy(&r, 0, 1, "d", 1);
    expect(&r, "mkdirat(AT_FDCWD, \"d\", 0755) = -1 EEXIST (File exists)");
    r = rec(SYS_unlinkat, 0, 3, 1, AT_REMOVEDIR, 0, 0, 0);
    copy(&r, 0, 1, "d", 1);
    expect(&r, "unlinkat(3, \"d\", AT_REMOVEDIR) = 0");
    r = rec(SYS_getcwd, 2, 1, 4096, 0, 0, 0, 0);
    copy(&r, 0, 0, "/\0", 2);
    expect(&r, "getcwd(\"/\", 4096) = 2");
    r = rec(SYS_readlink, 12, 1, 2, 4096, 0, 0, 0);
    copy(&r, 0, 0, "/proc/self/exe", 14);
    copy(&r, 1, 1, "/bin/busybox", 12);
    expect(&r, "readlink(\"/proc/self/exe\", \"/bin/busybox\", 4096) = 12");
    r = rec(SYS_brk, 0x6f0000100000, 0, 0, 0, 0, 0, 0);
    expect(&r, "brk(NULL) = 0x6f0000100000");
    r = rec(SYS_exit_group, 0, 3, 0, 0, 0, 0, 0);
    r.flags = SBX_TRACE_NORET;
    expect(&r, "exit_group(3) = ?");
    r = rec(SYS_dup3, 4, 3, 4, O_CLOEXEC, 0, 0, 0);
    expect(&r, "dup3(3, 4, O_CLOEXEC) = 4");
    r = rec(SYS_getppid, 1, 0, 0, 0, 0, 0, 0);
    expect(&r, "getppid() = 1");
    r = rec(SYS_wait4, -512, 0, 0, 0, 0, 0, 0);
    expect(&r, "wait4(0, NULL, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)");
}

/* Signals delivered to a guest handler, as strace prints them. */
static void test_signals(void)
{
    struct sbx_trace_rec r = rec(SIGCHLD, 0, 1, 3, 0, 7, 0, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, si_uid=0, "
               "si_status=7, ...} ---");
    r = rec(SIGUSR1, 0, 0, 2, 65534, 0, 0, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=2, si_uid=65534} ---");
    r = rec(SIGTERM, 0, (uint64_t)-6, 2, 0, 0, 0, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGTERM {si_signo=SIGTERM, si_code=SI_TKILL, si_pid=2, si_uid=0} ---");
    r = rec(SIGSEGV, 0, 1, 0, 0, 0, 0x10, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---");
    r = rec(SIGSEGV, 0, 1, 0, 0, 0, 0, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---");
    r = rec(SIGALRM, 0, 0x80, 0, 0, 0, 0, 0);
    r.kind = SBX_TRACE_SIGNAL;
    expect(&r, "--- SIGALRM {si_signo=SIGALRM, si_code=SI_KERNEL} ---");
}

/* Numbers without an entry: libseccomp's name and six arguments in hex; beyond it, a number. */
/* The end of a process killed by a signal, from the wait4 that reaped it. */
static void test_killed(void)
{
    char line[128];
    int pid = 0, sig = 0;
    bool core = false;
    int st = SIGSEGV | 0x80; /* WCOREDUMP */
    struct sbx_trace_rec r = rec(SYS_wait4, 3, (uint64_t)-1, 0x1000, 0, 0, 0, 0);
    copy(&r, 0, 1, &st, 4);
    CU_ASSERT(sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    CU_ASSERT(pid == 3 && sig == SIGSEGV && core);
    sbx_trace_format_killed(sig, core, line, sizeof(line));
    CU_ASSERT_STRING_EQUAL(line, "+++ killed by SIGSEGV (core dumped) +++");
    sbx_trace_format_killed(SIGKILL, false, line, sizeof(line));
    CU_ASSERT_STRING_EQUAL(line, "+++ killed by SIGKILL +++");
    /* An exit, a failed or empty wait, no status copied: nothing. */
    st = 7 << 8;
    copy(&r, 0, 1, &st, 4);
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    st = SIGTERM;
    copy(&r, 0, 1, &st, 4);
    r.ret = 0;
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    r.ret = -ECHILD;
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    r = rec(SYS_wait4, 3, (uint64_t)-1, 0, 0, 0, 0, 0);
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    /* waitid: its siginfo, printed as strace does; WNOWAIT reaps nothing. */
    int32_t si[12] = { SIGCHLD, 0, 2, 0, 5, 0, SIGTERM, 0, 3, 0, 1, 0 };
    r = rec(SYS_waitid, 0, 1, 5, 0x1000, WEXITED, 0, 0);
    copy(&r, 0, 2, si, 48);
    expect(&r, "waitid(P_PID, 5, {si_signo=SIGCHLD, si_code=CLD_KILLED, si_pid=5, si_uid=0, "
               "si_status=SIGTERM, si_utime=3, si_stime=1}, WEXITED, NULL) = 0");
    CU_ASSERT(sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    CU_ASSERT(pid == 5 && sig == SIGTERM && !core);
    r.args[3] = WEXITED | WNOWAIT;
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    si[2] = 1, si[6] = 0;
    r = rec(SYS_waitid, 0, 0, 0, 0x1000, WEXITED, 0, 0);
    copy(&r, 0, 2, si, 48);
    expect(&r, "waitid(P_ALL, 0, {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5, si_uid=0, "
               "si_status=0, si_utime=3, si_stime=1}, WEXITED, NULL) = 0");
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    memset(si, 0, sizeof(si));
    r = rec(SYS_waitid, 0, 0, 0, 0x1000, WEXITED | WNOHANG, 0, 0);
    copy(&r, 0, 2, si, 48);
    expect(&r, "waitid(P_ALL, 0, {}, WNOHANG|WEXITED, NULL) = 0");
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
    /* Only wait4's status counts. */
    r = rec(SYS_read, 4, 0, 0x1000, 4, 0, 0, 0);
    copy(&r, 0, 1, &st, 4);
    CU_ASSERT(!sbx_trace_reaped_killed(&r, &pid, &sig, &core));
}

static void test_unknown(void)
{
    struct sbx_trace_rec r = rec(SYS_io_uring_setup, 5, 8, 0x1000, 0, 0, 0, 0);
    CU_ASSERT_PTR_NULL(sbx_trace_decl(SYS_io_uring_setup));
    expect(&r, "io_uring_setup(0x8, 0x1000, 0, 0, 0, 0) = 5");
    r = rec(1000, -ENOSYS, 0, 0, 0, 0, 0, 0);
    expect(&r, "syscall_1000(0, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)");
    r = rec(SYS_getpid, -4000, 0, 0, 0, 0, 0, 0);
    expect(&r, "getpid() = -1 E4000");
}

/* Strings: quoting, the 32-byte cut of buffers, the record's cut flag, lengths a guest forged. */
static void test_strings(void)
{
    struct sbx_trace_rec r = rec(SYS_write, 40, 1, 0x1000, 40, 0, 0, 0);
    copy(&r, 0, 1, "0123456789abcdefghijklmnopqrstuvwxyzABCD", 40);
    expect(&r, "write(1, \"0123456789abcdefghijklmnopqrstuv\"..., 40) = 40");
    r = rec(SYS_chdir, 0, 1, 0, 0, 0, 0, 0);
    char path[SBX_TRACE_STR];
    memset(path, 'a', sizeof(path));
    copy(&r, 0, 0, path, sizeof(path));
    r.flags = SBX_TRACE_TRUNC0;
    char want[200];
    snprintf(want, sizeof(want), "chdir(\"%.*s\"...) = 0", SBX_TRACE_STR, path);
    expect(&r, want);
    /* A length over the record's room is not believed: the pointer is printed. */
    r = rec(SYS_chdir, 0, 0x1000, 0, 0, 0, 0, 0);
    r.sarg[0] = 0;
    r.slen[0] = 60000;
    expect(&r, "chdir(0x1000) = 0");
    r = rec(SYS_write, 4, 1, 0x1000, 4, 0, 0, 0);
    copy(&r, 0, 1, "\"\\\t\r", 4);
    expect(&r, "write(1, \"\\\"\\\\\\t\\r\", 4) = 4");
    /* A line cut by the caller's buffer stays NUL-terminated. */
    char small[8];
    r = rec(SYS_getppid, 1, 0, 0, 0, 0, 0, 0);
    CU_ASSERT_EQUAL(sbx_trace_format(&r, small, sizeof(small)), 7);
    CU_ASSERT_STRING_EQUAL(small, "getppid");
}

static void test_filters(void)
{
    struct sbx_trace_filter f;
    struct sbx_error err = { 0 };
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "open,execve,%network", &err), 0);
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_open));
    CU_ASSERT(!sbx_trace_filter_match(&f, SYS_openat));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_execve));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_connect));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_socket));
    CU_ASSERT(!sbx_trace_filter_match(&f, SYS_read));
    CU_ASSERT(!sbx_trace_filter_match(&f, 100000));
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "file", &err), 0);
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_openat));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_execve));
    CU_ASSERT(!sbx_trace_filter_match(&f, SYS_read));
    CU_ASSERT(!sbx_trace_filter_match(&f, SYS_fstat));
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "%process,%memory", &err), 0);
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_clone));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_exit_group));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_mmap));
    CU_ASSERT(!sbx_trace_filter_match(&f, SYS_write));
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "%signal,%desc,%ipc,%creds", &err), 0);
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_rt_sigaction));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_fstat));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_shmget));
    CU_ASSERT(sbx_trace_filter_match(&f, SYS_getuid));
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "all", &err), 0);
    CU_ASSERT(sbx_trace_filter_match(&f, 100000));
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "open,nosuchcall", &err), -EINVAL);
    CU_ASSERT(strstr(err.msg, "'nosuchcall'") != NULL);
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "%nosuch", &err), -EINVAL);
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "", &err), -EINVAL);
    CU_ASSERT_EQUAL(sbx_trace_filter_parse(&f, "open,,read", &err), -EINVAL);
}

/* An iovec element in data form (include/sbx/trace.h) at *at of buf. */
static void iov_data(char *buf, size_t *at, uint64_t len, const char *data, size_t n, bool cut)
{
    memcpy(buf + *at, &len, 8);
    buf[*at + 8] = (char)(n | (cut ? SBX_TRACE_IOV_CUT : 0));
    memcpy(buf + *at + 9, data, n);
    *at += 9 + n;
}

static void wide(struct sbx_trace_rec *r, unsigned arg, const void *p, size_t n)
{
    CU_ASSERT_FATAL(n <= 2 * SBX_TRACE_STR);
    memcpy(r->str, p, n);
    r->sarg[0] = (uint8_t)arg;
    r->slen[0] = (uint16_t)n;
    r->flags |= SBX_TRACE_WIDE;
}

/* iovecs, msghdr, pollfds and directory entries, as strace prints them. */
static void test_structs(void)
{
    struct sbx_trace_rec r;
    char b[2 * SBX_TRACE_STR];
    size_t at;

    /* writev: every element with its data. */
    r = rec(SYS_writev, 6, 1, 0x1000, 2, 0, 0, 0);
    at = 1;
    b[0] = 2;
    iov_data(b, &at, 5, "hello", 5, false);
    iov_data(b, &at, 1, "\n", 1, false);
    wide(&r, 1, b, at);
    expect(&r,
           "writev(1, [{iov_base=\"hello\", iov_len=5}, {iov_base=\"\\n\", iov_len=1}], 2) = 6");
    /* readv: the data read, cut at 32 bytes, an element the result did not reach, more elements
     * than the record holds. */
    r = rec(SYS_readv, 40, 3, 0x1000, 3, 0, 0, 0);
    at = 1;
    b[0] = 2;
    iov_data(b, &at, 4096, "0123456789abcdefghijklmnopqrstuv", 32, true);
    iov_data(b, &at, 10, "", 0, false);
    wide(&r, 1, b, at);
    expect(&r, "readv(3, [{iov_base=\"0123456789abcdefghijklmnopqrstuv\"..., iov_len=4096}, "
               "{iov_base=\"\", iov_len=10}, ...], 3) = 40");
    /* A failed call copies nothing: the address. */
    r = rec(SYS_readv, -EFAULT, 3, 0x1000, 3, 0, 0, 0);
    expect(&r, "readv(3, 0x1000, 3) = -1 EFAULT (Bad address)");
    /* A count the call did not pass is the guest's scribbling: the address. */
    r = rec(SYS_writev, 6, 1, 0x1000, 1, 0, 0, 0);
    b[0] = 2;
    wide(&r, 1, b, at);
    expect(&r, "writev(1, 0x1000, 1) = 6");
    /* pwritev2: the offset, pos_h left out, the flags. */
    r = rec(SYS_pwritev2, 2, 4, 0x1000, 1, 512, 0, 0);
    at = 1;
    b[0] = 1;
    iov_data(b, &at, 2, "ab", 2, false);
    wide(&r, 1, b, at);
    expect(&r, "pwritev2(4, [{iov_base=\"ab\", iov_len=2}], 1, 512, 0) = 2");
    /* process_vm_readv: the local side with its data, the remote side as addresses. */
    r = rec(SYS_process_vm_readv, 3, 9, 0x1000, 1, 0x2000, 1, 0);
    at = 1;
    b[0] = 1;
    iov_data(b, &at, 3, "abc", 3, false);
    copy(&r, 0, 1, b, at);
    char rb[17] = { (char)(1 | SBX_TRACE_IOV_ADDR) };
    uint64_t rv[2] = { 0x7ffd1000, 3 };
    memcpy(rb + 1, rv, 16);
    copy(&r, 1, 3, rb, sizeof(rb));
    expect(&r, "process_vm_readv(9, [{iov_base=\"abc\", iov_len=3}], 1, [{iov_base=0x7ffd1000, "
               "iov_len=3}], 1, 0) = 3");

    /* sendmsg with one iovec and no control data; recvmsg with SCM_RIGHTS. */
    struct sbx_trace_msghdr h = { .iovlen = 1 };
    memcpy(b, &h, sizeof(h));
    at = sizeof(h);
    b[at++] = 1;
    iov_data(b, &at, 2, "hi", 2, false);
    r = rec(SYS_sendmsg, 2, 3, 0x1000, MSG_NOSIGNAL, 0, 0, 0);
    wide(&r, 1, b, at);
    expect(&r, "sendmsg(3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=\"hi\", iov_len=2}], "
               "msg_iovlen=1, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 2");
    h = (struct sbx_trace_msghdr){ .control = 0x3000,
                                   .controllen = 24,
                                   .cmsg_len = 20,
                                   .cmsg_level = SOL_SOCKET,
                                   .cmsg_type = SCM_RIGHTS,
                                   .iovlen = 1,
                                   .flags = MSG_CMSG_CLOEXEC,
                                   .ncmsg = 1,
                                   .cmsg_ndata = 4,
                                   .cmsg_data = { 7 } };
    memcpy(b, &h, sizeof(h));
    at = sizeof(h);
    b[at++] = 1;
    iov_data(b, &at, 4096, "x", 1, false);
    r = rec(SYS_recvmsg, 1, 3, 0x1000, MSG_CMSG_CLOEXEC, 0, 0, 0);
    wide(&r, 1, b, at);
    expect(&r,
           "recvmsg(3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=\"x\", iov_len=4096}], "
           "msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, "
           "cmsg_type=SCM_RIGHTS, cmsg_data=[7]}], msg_controllen=24, "
           "msg_flags=MSG_CMSG_CLOEXEC}, MSG_CMSG_CLOEXEC) = 1");
    /* Two control messages (the first: credentials), a name; a msghdr cut short is printed as
     * its address. */
    h.ncmsg = 2;
    h.cmsg_type = SCM_CREDENTIALS;
    h.cmsg_len = 28;
    h.cmsg_ndata = 12;
    memcpy(h.cmsg_data, (int32_t[]){ 2, 0, 65534 }, 12);
    h.name = 0x4000;
    h.namelen = 16;
    memcpy(b, &h, sizeof(h));
    r = rec(SYS_recvmsg, 1, 3, 0x1000, 0, 0, 0, 0);
    wide(&r, 1, b, at);
    expect(&r, "recvmsg(3, {msg_name=0x4000, msg_namelen=16, msg_iov=[{iov_base=\"x\", "
               "iov_len=4096}], msg_iovlen=1, msg_control=[{cmsg_len=28, cmsg_level=SOL_SOCKET, "
               "cmsg_type=SCM_CREDENTIALS, cmsg_data={pid=2, uid=0, gid=65534}}, ...], "
               "msg_controllen=24, msg_flags=MSG_CMSG_CLOEXEC}, 0) = 1");
    r = rec(SYS_recvmsg, 1, 3, 0x1000, 0, 0, 0, 0);
    wide(&r, 1, b, 10);
    expect(&r, "recvmsg(3, 0x1000, 0) = 1");

    /* poll: events in, the revents of the ready ones in the result; a timeout. */
    struct pollfd pf[3] = { { 3, POLLIN, POLLIN | POLLHUP }, { 4, POLLOUT, 0 }, { 5, POLLIN, 0 } };
    r = rec(SYS_poll, 1, 0x1000, 3, (uint64_t)-1, 0, 0, 0);
    wide(&r, 0, pf, sizeof(pf));
    expect(&r, "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}, {fd=5, events=POLLIN}], 3, "
               "-1) = 1 ([{fd=3, revents=POLLIN|POLLHUP}])");
    pf[0].revents = 0;
    pf[1].fd = -1;
    r = rec(SYS_ppoll, 0, 0x1000, 2, 0x2000, 0, 8, 0);
    wide(&r, 0, pf, 2 * sizeof(pf[0]));
    expect(&r, "ppoll([{fd=3, events=POLLIN}, {fd=-1}], 2, 0x2000, NULL, 8) = 0 (Timeout)");
    /* More descriptors than the record holds. */
    r = rec(SYS_poll, 0, 0x1000, 30, 0, 0, 0, 0);
    wide(&r, 0, pf, 2 * sizeof(pf[0]));
    expect(&r, "poll([{fd=3, events=POLLIN}, {fd=-1}, ...], 30, 0) = 0 (Timeout)");

    /* getdents64: the number of entries, as strace prints it without -v. */
    uint32_t ents = 5;
    r = rec(SYS_getdents64, 136, 3, 0x55d0c6a5e2c0, 32768, 0, 0, 0);
    copy(&r, 0, 1, &ents, 4);
    expect(&r, "getdents64(3, 0x55d0c6a5e2c0 /* 5 entries */, 32768) = 136");
    r = rec(SYS_getdents64, -EBADF, 9, 0x1000, 32768, 0, 0, 0);
    expect(&r, "getdents64(9, 0x1000, 32768) = -1 EBADF (Bad file descriptor)");
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_every_entry), SBX_TEST(test_kinds),   SBX_TEST(test_unknown),
    SBX_TEST(test_strings),     SBX_TEST(test_filters), SBX_TEST(test_signals),
    SBX_TEST(test_structs),     SBX_TEST(test_killed),
};

int main(void)
{
    return sbx_test_main("trace-fmt", tests, ARRAY_SIZE(tests));
}
