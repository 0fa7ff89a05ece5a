/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The syscall cost probe of the benchmark harness: runs one syscall (or pair)
 * in a tight loop and prints the mean cost per iteration in nanoseconds.
 * Built static (gcc -static -O2) so that it runs unchanged natively, in an
 * image, under bwrap, strace and gVisor.
 *
 * Usage: syscall-loop [--allow-all-filter] getppid|pread|openclose|fork
 *            ITERATIONS [PATH]
 * --allow-all-filter installs, before the loop, a seccomp filter that reads
 * only `arch` and allows every call: the kernel's action cache skips it, so
 * what it costs over no filter is the floor of any seccomp policy, which
 * the harness shows next to mode off.
 * pread reads 64 bytes at offset 0 of PATH (default /dev/zero); openclose
 * opens PATH (default /bench/data) read-only and closes it; fork forks a
 * child that exits at once and waits for it. The syscalls go through libc
 * wrappers, as a real program's do. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int loop_getppid(long n, const char *path)
{
    (void)path;
    for (long i = 0; i < n; i++)
        if (getppid() < 0)
            return -errno;
    return 0;
}

static int loop_pread(long n, const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (long i = 0; i < n; i++)
        if (pread(fd, buf, sizeof(buf), 0) < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
    close(fd);
    return 0;
}

static int loop_openclose(long n, const char *path)
{
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        close(fd);
    }
    return 0;
}

static int loop_fork(long n, const char *path)
{
    (void)path;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return -errno;
        if (pid == 0)
            _exit(0);
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return -ECHILD;
    }
    return 0;
}

static int allow_all_filter(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return -errno;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*loop)(long n, const char *path);
        const char *default_path;
    } tests[] = {
        { "getppid", loop_getppid, NULL },
        { "pread", loop_pread, "/dev/zero" },
        { "openclose", loop_openclose, "/bench/data" },
        { "fork", loop_fork, NULL },
    };
    if (argc > 1 && strcmp(argv[1], "--allow-all-filter") == 0) {
        int err = allow_all_filter();
        if (err < 0) {
            fprintf(stderr, "syscall-loop: cannot install the allow-all filter: %s\n",
                    strerror(-err));
            return 1;
        }
        argv++;
        argc--;
    }
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: syscall-loop [--allow-all-filter] getppid|pread|openclose|fork "
                        "ITERATIONS [PATH]\n");
        return 2;
    }
    char *end;
    long n = strtol(argv[2], &end, 10);
    if (*end != '\0' || n <= 0) {
        fprintf(stderr, "syscall-loop: bad iteration count '%s'\n", argv[2]);
        return 2;
    }
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (strcmp(argv[1], tests[i].name) != 0)
            continue;
        const char *path = argc == 4 ? argv[3] : tests[i].default_path;
        /* A short warm-up so page faults and first-call costs (and, in the
         * rewrite mode, the patching of the call site) stay out of the loop. */
        int err = tests[i].loop(n / 100 + 1, path);
        long long t0 = now_ns();
        if (err == 0)
            err = tests[i].loop(n, path);
        long long t1 = now_ns();
        if (err < 0) {
            fprintf(stderr, "syscall-loop: %s on %s: %s\n", argv[1], path ? path : "-",
                    strerror(-err));
            return 1;
        }
        printf("%.1f\n", (double)(t1 - t0) / (double)n);
        return 0;
    }
    fprintf(stderr, "syscall-loop: unknown test '%s'\n", argv[1]);
    return 2;
}
