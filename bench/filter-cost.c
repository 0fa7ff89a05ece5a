/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the policy filter alone costs a passthrough syscall, with no sandbox
 * around it: getppid in a loop, in a child process per round, under no
 * filter, under an allow-all filter that reads only `arch`, under one that
 * also reads the instruction pointer (which the kernel cannot cache, so it
 * runs for every call), under the daemon's compiled default policy (as root:
 * with and without SBX_POLICY_GUEST_ROOT, whichever the guest gets), and
 * under that policy as pid 1 of a new pid namespace, as a sandbox's guest.
 * The rounds take turns, so that a change of load hits every variant alike;
 * it prints the minimum and the median ns per call of each.  Where mode
 * `off` costs more than the allow-all filter here, the difference is in the
 * policy; where this shows them equal, it is in the sandbox around the
 * process.  The allow-all filter is the floor of any filter the kernel
 * caches: what it costs over no filter is seccomp's entry work, which no
 * policy can remove; what the instruction-pointer variant costs over it is
 * what the cache saves.
 *
 *   filter-cost [ROUNDS [ITERATIONS]]
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"

enum { V_NONE, V_ALLOW, V_ALLOW_IP, V_POLICY, V_POLICY_PIDNS, V_N };
static const char *const names[V_N] = { "no filter", "allow-all (arch only)",
                                        "allow-all, reads the ip", "default policy (guest root)",
                                        "default policy, new pid ns" };

struct prog {
    struct sock_filter *insns;
    unsigned short len;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int policy_prog(struct prog *ret)
{
    struct sbx_policy *p = NULL;
    int r = sbx_policy_new_default(&p);
    if (r < 0)
        return r;
    int fd = memfd_create("filter-cost", MFD_CLOEXEC);
    if (fd < 0) {
        sbx_policy_free(p);
        return -errno;
    }
    r = sbx_policy_export_bpf(p, SBX_POLICY_GUEST_ROOT, fd);
    sbx_policy_free(p);
    struct stat st;
    if (r >= 0 && fstat(fd, &st) < 0)
        r = -errno;
    if (r >= 0) {
        ret->len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
        ret->insns = malloc((size_t)st.st_size);
        if (!ret->insns || pread(fd, ret->insns, (size_t)st.st_size, 0) != st.st_size)
            r = -EIO;
    }
    close(fd);
    return r;
}

/* One round in a child: installs prog (if any), loops, writes ns per call to the pipe. */
static double round_ns(const struct prog *prog, bool pidns, long iters)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | (pidns ? CLONE_NEWPID : 0), 0, 0, 0, 0);
    if (pid == 0) {
        close(pfd[0]);
        if (prog) {
            struct sock_fprog fp = { .len = prog->len, .filter = prog->insns };
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
                _exit(1);
        }
        for (long i = 0; i < iters / 100; i++)
            syscall(SYS_getppid);
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            syscall(SYS_getppid);
        double ns = (now_ns() - t0) / (double)iters;
        _exit(write(pfd[1], &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
    }
    close(pfd[1]);
    double ns = -1;
    if (pid < 0 || read(pfd[0], &ns, sizeof(ns)) != sizeof(ns))
        ns = -1;
    close(pfd[0]);
    int st;
    if (pid > 0)
        waitpid(pid, &st, 0);
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 21;
    long iters = argc > 2 ? atol(argv[2]) : 1000000;
    if (rounds < 1 || iters < 100) {
        fprintf(stderr, "usage: filter-cost [ROUNDS [ITERATIONS]]\n");
        return 2;
    }
    struct sock_filter allow[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    /* The same, but it loads instruction_pointer first: the kernel's
     * action cache cannot prove a constant result, so the filter runs. */
    struct sock_filter allow_ip[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct prog progs[V_N] = { { NULL, 0 }, { allow, 4 }, { allow_ip, 5 } };
    int r = policy_prog(&progs[V_POLICY]);
    progs[V_POLICY_PIDNS] = progs[V_POLICY];
    if (r < 0) {
        fprintf(stderr, "filter-cost: cannot compile the default policy: %s\n", strerror(-r));
        return 1;
    }
    double *ns = calloc((size_t)rounds * V_N, sizeof(double));
    if (!ns)
        return 1;
    for (int k = 0; k < rounds; k++)
        for (int v = 0; v < V_N; v++)
            if ((ns[v * rounds + k] =
                     round_ns(v == V_NONE ? NULL : &progs[v], v == V_POLICY_PIDNS, iters)) < 0) {
                fprintf(stderr, "filter-cost: a round of %s failed\n", names[v]);
                return 1;
            }
    printf("%-30s %10s %10s  (%d rounds of %ld getppid, policy %u instructions)\n", "variant",
           "min ns", "median ns", rounds, iters, progs[V_POLICY].len);
    for (int v = 0; v < V_N; v++) {
        double *s = ns + v * rounds;
        qsort(s, (size_t)rounds, sizeof(double), cmp_double);
        printf("%-30s %10.1f %10.1f\n", names[v], s[0], s[rounds / 2]);
    }
    free(ns);
    free(progs[V_POLICY].insns);
    return 0;
}
