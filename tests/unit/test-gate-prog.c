/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the trampoline's seccomp program (trampoline/gate-prog.c in front
 * of the compiled policy).  This kernel has no CONFIG_SECCOMP_CACHE_DEBUG,
 * so /proc/PID/seccomp_cache cannot say which syscalls the kernel's action
 * cache allows without running the filter.  The test decides it as the
 * kernel does when a filter is attached: for each syscall number, with arch
 * and nr as the only known inputs, the program must reach a return of
 * exactly SECCOMP_RET_ALLOW through instructions whose outcome depends on
 * nothing else.  A load of any other field of seccomp_data (the instruction
 * pointer, an argument) or an instruction the kernel does not emulate makes
 * the number uncacheable.  A second interpreter, with every field known,
 * checks that the prefix changes no decision of the policy.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "gate-prog.h"
#include "layout.h"
#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define NR_MAX SBX_STATS_NSYSCALLS

struct prog {
    struct sock_filter insns[BPF_MAXINSNS];
    size_t n;
};

/* ---- the kernel's cache decision, emulated ---- */

/* Whether prog returns SECCOMP_RET_ALLOW for nr on x86-64 whatever the other fields hold. */
static bool const_allow(const struct prog *p, uint32_t nr)
{
    uint32_t acc = 0;
    for (size_t pc = 0; pc < p->n; pc++) {
        const struct sock_filter *f = &p->insns[pc];
        bool taken;
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (f->k == offsetof(struct seccomp_data, nr))
                acc = nr;
            else if (f->k == offsetof(struct seccomp_data, arch))
                acc = AUDIT_ARCH_X86_64;
            else
                return false; /* a value the cache cannot know */
            continue;
        case BPF_ALU | BPF_AND | BPF_K:
            acc &= f->k;
            continue;
        case BPF_RET | BPF_K:
            return f->k == SECCOMP_RET_ALLOW;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            continue;
        case BPF_JMP | BPF_JEQ | BPF_K:
            taken = acc == f->k;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            taken = acc > f->k;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            taken = acc >= f->k;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            taken = (acc & f->k) != 0;
            break;
        default:
            return false; /* not emulated by the kernel either */
        }
        pc += taken ? f->jt : f->jf;
    }
    return false; /* fell off the end: never cached */
}

/* ---- a full interpreter of what the programs use, for the decisions themselves ---- */

static uint32_t run(const struct prog *p, const struct seccomp_data *d)
{
    uint32_t acc = 0;
    for (size_t pc = 0; pc < p->n; pc++) {
        const struct sock_filter *f = &p->insns[pc];
        bool taken;
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            CU_ASSERT_FATAL(f->k % 4 == 0 && f->k < sizeof(*d));
            memcpy(&acc, (const char *)d + f->k, sizeof(acc));
            continue;
        case BPF_ALU | BPF_AND | BPF_K:
            acc &= f->k;
            continue;
        case BPF_RET | BPF_K:
            return f->k;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            continue;
        case BPF_JMP | BPF_JEQ | BPF_K:
            taken = acc == f->k;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            taken = acc > f->k;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            taken = acc >= f->k;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            taken = (acc & f->k) != 0;
            break;
        default:
            CU_FAIL_FATAL("an instruction the interpreter does not know");
            return 0;
        }
        pc += taken ? f->jt : f->jf;
    }
    CU_FAIL_FATAL("the program fell off its end");
    return 0;
}

/*
 * How many instructions of full's prefix (all but its last policy_n) x86-64
 * call nr passes before it reaches the policy or a return: what the kernel
 * emulates for nr when it fills its action cache.
 */
static size_t prefix_steps(const struct prog *full, size_t policy_n, uint32_t nr)
{
    size_t start = full->n - policy_n, steps = 0;
    uint32_t acc = 0;
    for (size_t pc = 0; pc < start; pc++, steps++) {
        const struct sock_filter *f = &full->insns[pc];
        if (f->code == (BPF_LD | BPF_W | BPF_ABS)) {
            if (f->k != offsetof(struct seccomp_data, nr) &&
                f->k != offsetof(struct seccomp_data, arch))
                return steps + 1; /* the ip check: the cache stops here */
            acc = f->k == offsetof(struct seccomp_data, nr) ? nr : AUDIT_ARCH_X86_64;
        } else if (f->code == (BPF_JMP | BPF_JA)) {
            pc += f->k;
        } else if (f->code == (BPF_JMP | BPF_JEQ | BPF_K)) {
            pc += acc == f->k ? f->jt : f->jf;
        } else if (f->code == (BPF_JMP | BPF_JGE | BPF_K)) {
            pc += acc >= f->k ? f->jt : f->jf;
        } else {
            CU_FAIL_FATAL("an instruction the prefix does not use");
        }
    }
    return steps;
}

/* ---- the programs ---- */

/* The policy's program as the daemon writes it for a sandbox (mode off installs it alone). */
static void policy_prog(const struct sbx_policy *pol, unsigned flags, struct prog *ret)
{
    int fd = memfd_create("test-bpf", MFD_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(sbx_policy_export_bpf(pol, flags, fd), 0);
    struct stat st;
    CU_ASSERT_FATAL(fstat(fd, &st) == 0 && st.st_size > 0 &&
                    (size_t)st.st_size <= sizeof(ret->insns));
    CU_ASSERT_EQUAL_FATAL(pread(fd, ret->insns, (size_t)st.st_size, 0), st.st_size);
    ret->n = (size_t)st.st_size / sizeof(struct sock_filter);
    close(fd);
}

static uint8_t gated[NR_MAX];

/* What the trampoline installs in trap and rewrite mode (the same program in both). */
static void gated_prog(const struct prog *policy, struct prog *ret)
{
    memset(gated, 0, sizeof(gated));
    sbx_gate_mark_gated(gated);
    ret->n = sbx_gate_build(ret->insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET, policy->insns,
                            policy->n);
    CU_ASSERT_FATAL(ret->n > policy->n);
}

static struct sbx_policy *default_policy(void)
{
    struct sbx_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&p), 0);
    return p;
}

/* The shipped policies/default.yaml, parsed as the daemon parses it. */
static struct sbx_policy *shipped_default(void)
{
    FILE *fp = fopen("../../policies/default.yaml", "r");
    CU_ASSERT_FATAL(fp != NULL);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof(text), fp);
    fclose(fp);
    CU_ASSERT_FATAL(len > 0 && len < sizeof(text));
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL_FATAL(sbx_policy_parse(text, len, "default.yaml", &p, &diags), 0);
    sbx_diags_free(&diags);
    return p;
}

static const long hot[] = {
    SYS_getppid,         SYS_getpid,       SYS_gettid, SYS_read,       SYS_write,
    SYS_pread64,         SYS_pwrite64,     SYS_futex,  SYS_lseek,      SYS_fstat,
    SYS_newfstatat,      SYS_getrandom,    SYS_wait4,  SYS_exit_group, SYS_brk,
    SYS_clock_nanosleep, SYS_rt_sigreturn, SYS_close,  SYS_fcntl,      SYS_dup2,
};
static const long trampoline_must_see[] = {
    SYS_execve, SYS_execveat, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_clone,  SYS_clone3,
    SYS_fork,   SYS_vfork,    SYS_mmap,         SYS_mprotect,       SYS_munmap, SYS_mremap,
    SYS_open,   SYS_openat,   SYS_openat2,      SYS_readlink,
};

static void check_hot_cached(const struct prog *policy, const struct prog *full)
{
    for (size_t i = 0; i < ARRAY_SIZE(hot); i++) {
        if (!const_allow(policy, (uint32_t)hot[i]) || !const_allow(full, (uint32_t)hot[i]))
            fprintf(stderr, "syscall %ld is not constant-allow\n", hot[i]);
        CU_ASSERT(const_allow(policy, (uint32_t)hot[i]));
        CU_ASSERT(const_allow(full, (uint32_t)hot[i]));
    }
    for (size_t i = 0; i < ARRAY_SIZE(trampoline_must_see); i++)
        CU_ASSERT(!const_allow(full, (uint32_t)trampoline_must_see[i]));
}

/* The prefix costs the cache exactly the gated numbers; x32 numbers are never cached. */
static void check_only_gated_lost(const struct prog *policy, const struct prog *full)
{
    for (uint32_t nr = 0; nr < NR_MAX; nr++)
        CU_ASSERT_EQUAL(const_allow(full, nr), !gated[nr] && const_allow(policy, nr));
    CU_ASSERT(!const_allow(full, SBX_GATE_X32_BIT | SYS_getppid));
}

static struct seccomp_data data(uint32_t arch, uint32_t nr, uint64_t ip, uint64_t arg)
{
    return (struct seccomp_data){ .nr = (int)nr,
                                  .arch = arch,
                                  .instruction_pointer = ip,
                                  .args = { arg, arg, arg, arg, arg, arg } };
}

/*
 * Gated numbers from anywhere but the gate trap; from the gate, and every
 * other number from anywhere, get the policy's own answer.
 */
static void check_decisions(const struct prog *policy, const struct prog *full)
{
    static const uint64_t ips[] = { 0x401000, SBX_TRAMPOLINE_GATE_RET,
                                    SBX_TRAMPOLINE_GATE_RET + (1ull << 32),
                                    (uint32_t)SBX_TRAMPOLINE_GATE_RET };
    static const uint64_t args[] = { 0, 1, 2, 10, 0x800, 0xffffffffffffffffull };
    static const uint32_t archs[] = { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 };
    for (size_t a = 0; a < ARRAY_SIZE(archs); a++) {
        for (uint32_t nr = 0; nr < NR_MAX + 8; nr++) {
            for (size_t i = 0; i < ARRAY_SIZE(ips); i++) {
                for (size_t g = 0; g < ARRAY_SIZE(args); g++) {
                    struct seccomp_data d = data(archs[a], nr, ips[i], args[g]);
                    uint32_t want = run(policy, &d);
                    bool must_trap = archs[a] == AUDIT_ARCH_X86_64 && nr < NR_MAX && gated[nr] &&
                                     ips[i] != SBX_TRAMPOLINE_GATE_RET;
                    CU_ASSERT_EQUAL(run(full, &d), must_trap ? SECCOMP_RET_TRAP : want);
                }
            }
        }
    }
    struct seccomp_data x32 = data(AUDIT_ARCH_X86_64, SBX_GATE_X32_BIT | SYS_execve, 0x401000, 0);
    CU_ASSERT_EQUAL(run(full, &x32), SECCOMP_RET_TRAP);
}

static void check_policy(struct sbx_policy *pol, unsigned flags)
{
    static struct prog policy, full;
    policy_prog(pol, flags, &policy);
    gated_prog(&policy, &full);
    check_hot_cached(&policy, &full);
    check_only_gated_lost(&policy, &full);
    check_decisions(&policy, &full);
    sbx_policy_free(pol);
}

/* ---- tests ---- */

static void test_default_policy_cached(void)
{
    check_policy(default_policy(), 0);
}

static void test_default_policy_guest_root_cached(void)
{
    check_policy(default_policy(), SBX_POLICY_GUEST_ROOT);
}

static void test_shipped_default_cached(void)
{
    check_policy(shipped_default(), 0);
}

/* Rules that read arguments make their numbers uncacheable, gated or not, and nothing else. */
static void test_arg_rules_uncached(void)
{
    static struct prog policy;
    struct sbx_policy *pol = default_policy();
    policy_prog(pol, SBX_POLICY_GUEST_ROOT, &policy);
    sbx_policy_free(pol);
    CU_ASSERT(!const_allow(&policy, SYS_socket));
    CU_ASSERT(!const_allow(&policy, SYS_socketpair));
    CU_ASSERT(const_allow(&policy, SYS_getppid));
}

/* The gated set covers what the trampoline virtualizes, and rt_sigreturn stays ungated. */
static void test_gated_set(void)
{
    memset(gated, 0, sizeof(gated));
    sbx_gate_mark_gated(gated);
    for (size_t i = 0; i < ARRAY_SIZE(trampoline_must_see); i++)
        CU_ASSERT(gated[trampoline_must_see[i]]);
    for (size_t i = 0; i < ARRAY_SIZE(hot); i++)
        CU_ASSERT(!gated[hot[i]]);
}

/* A program that does not fit is refused, not cut. */
static void test_too_long(void)
{
    static struct prog policy, full;
    memset(gated, 0, sizeof(gated));
    sbx_gate_mark_gated(gated);
    policy.n = BPF_MAXINSNS;
    for (size_t i = 0; i < policy.n; i++)
        policy.insns[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    CU_ASSERT_EQUAL(sbx_gate_build(full.insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET,
                                   policy.insns, policy.n),
                    0);
    memset(gated, 1, sizeof(gated));
    CU_ASSERT_EQUAL(
        sbx_gate_build(full.insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET, policy.insns, 1),
        0);
}

/* The longest policy the parser accepts fits behind the longest prefix. */
static void test_policy_room(void)
{
    static struct prog policy, full;
    memset(gated, 0, sizeof(gated));
    for (size_t nr = 0; nr < SBX_GATE_MAX_GATED; nr++)
        gated[nr] = 1;
    policy.n = BPF_MAXINSNS - SBX_FILTER_PREFIX_MAX;
    for (size_t i = 0; i < policy.n; i++)
        policy.insns[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    full.n = sbx_gate_build(full.insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET, policy.insns,
                            policy.n);
    CU_ASSERT(full.n > policy.n && full.n <= BPF_MAXINSNS);
}

/*
 * Filling the kernel's action cache runs the program for every number: the
 * gated numbers are a search tree, not a compare each, so that any number
 * passes a few instructions of the prefix (with 26 gated, a list in a row
 * made the last ungated ones pass 31).
 */
static void test_prefix_short(void)
{
    static struct prog policy, full;
    struct sbx_policy *pol = default_policy();
    policy_prog(pol, 0, &policy);
    sbx_policy_free(pol);
    gated_prog(&policy, &full);
    size_t most = 0;
    for (uint32_t nr = 0; nr < NR_MAX; nr++) {
        size_t k = prefix_steps(&full, policy.n, nr);
        most = k > most ? k : most;
    }
    if (most > 12)
        fprintf(stderr, "a number passes %zu instructions of the prefix\n", most);
    CU_ASSERT(most <= 12);
}

/*
 * Every size of the gated set up to the most it may hold (a traced sandbox
 * adds the numbers it records) builds a prefix that traps exactly the gated
 * numbers from outside the gate and hands every other call, and a gated
 * one from the gate, to the policy, which alone decides (here it returns
 * a marker).
 */
static void test_gated_sets_of_every_size(void)
{
    static struct prog policy, full;
    policy.n = 1;
    policy.insns[0] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 77);
    for (size_t m = 0; m <= SBX_GATE_MAX_GATED; m++) {
        memset(gated, 0, sizeof(gated));
        /* Spread over the table, with neighbours and gaps: nr = 5k/2 for k < m. */
        for (size_t k = 0; k < m; k++)
            gated[(5 * k) / 2] = 1;
        full.n = sbx_gate_build(full.insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET,
                                policy.insns, policy.n);
        CU_ASSERT_FATAL(full.n > policy.n);
        for (uint32_t nr = 0; nr < NR_MAX + 8; nr++) {
            bool g = nr < NR_MAX && gated[nr];
            struct seccomp_data out = data(AUDIT_ARCH_X86_64, nr, 0x401000, 0),
                                in = data(AUDIT_ARCH_X86_64, nr, SBX_TRAMPOLINE_GATE_RET, 0),
                                i386 = data(AUDIT_ARCH_I386, nr, 0x401000, 0);
            CU_ASSERT_EQUAL(run(&full, &out), g ? SECCOMP_RET_TRAP : SECCOMP_RET_ERRNO | 77);
            CU_ASSERT_EQUAL(run(&full, &in), SECCOMP_RET_ERRNO | 77);
            CU_ASSERT_EQUAL(run(&full, &i386), SECCOMP_RET_ERRNO | 77);
        }
    }
    memset(gated, 0, sizeof(gated));
    for (size_t k = 0; k <= SBX_GATE_MAX_GATED; k++)
        gated[k] = 1;
    CU_ASSERT_EQUAL(sbx_gate_build(full.insns, BPF_MAXINSNS, gated, SBX_TRAMPOLINE_GATE_RET,
                                   policy.insns, policy.n),
                    0);
}

/*
 * The prefix of a traced sandbox (gated NULL): every number but rt_sigreturn
 * traps from outside the gate, so the trampoline sees and records each
 * call; from the gate (and rt_sigreturn from anywhere) the policy decides
 * as before; nothing but rt_sigreturn stays in the action cache.
 */
static void test_trace_gates_all(void)
{
    static struct prog policy, full;
    struct sbx_policy *pol = default_policy();
    policy_prog(pol, 0, &policy);
    full.n = sbx_gate_build(full.insns, BPF_MAXINSNS, NULL, SBX_TRAMPOLINE_GATE_RET, policy.insns,
                            policy.n);
    CU_ASSERT_FATAL(full.n > policy.n);
    for (uint32_t nr = 0; nr < NR_MAX; nr++)
        CU_ASSERT_EQUAL(const_allow(&full, nr), nr == SYS_rt_sigreturn);
    static const uint64_t ips[] = { 0x401000, SBX_TRAMPOLINE_GATE_RET,
                                    SBX_TRAMPOLINE_GATE_RET + (1ull << 32) };
    for (uint32_t nr = 0; nr < NR_MAX + 8; nr++)
        for (size_t i = 0; i < ARRAY_SIZE(ips); i++) {
            struct seccomp_data d = data(AUDIT_ARCH_X86_64, nr, ips[i], 0);
            bool must_trap = nr != SYS_rt_sigreturn && ips[i] != SBX_TRAMPOLINE_GATE_RET;
            CU_ASSERT_EQUAL(run(&full, &d), must_trap ? SECCOMP_RET_TRAP : run(&policy, &d));
            struct seccomp_data i386 = data(AUDIT_ARCH_I386, nr, ips[i], 0);
            CU_ASSERT_EQUAL(run(&full, &i386), run(&policy, &i386));
        }
    sbx_policy_free(pol);
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_default_policy_cached),
    SBX_TEST(test_prefix_short),
    SBX_TEST(test_gated_sets_of_every_size),
    SBX_TEST(test_default_policy_guest_root_cached),
    SBX_TEST(test_shipped_default_cached),
    SBX_TEST(test_arg_rules_uncached),
    SBX_TEST(test_gated_set),
    SBX_TEST(test_too_long),
    SBX_TEST(test_policy_room),
    SBX_TEST(test_trace_gates_all),
};

int main(void)
{
    return sbx_test_main("gate-prog", tests, ARRAY_SIZE(tests));
}
