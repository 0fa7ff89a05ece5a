/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The gate prefix of the trampoline's seccomp program.  Only the syscalls
 * the trampoline virtualizes must come from the gate: for those numbers the
 * prefix reads the instruction pointer and traps a call from anywhere else.
 * Every other number reaches the policy after loads of arch and nr alone,
 * so that where the policy allows it by number the kernel's action cache
 * (5.11+) allows it without running the filter at all.  Numbers with the
 * x32 bit or beyond are gated as well, as every syscall was before: the
 * trampoline never lets a number it does not know bypass its handler.
 *
 * Signal-safety contract: pure; startup only (see gate-prog.h).
 */
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <asm/unistd.h>

#include "gate-prog.h"

/*
 * What the trampoline must see, by reason: exec (it loads the new program
 * itself), the signal disposition and every call that carries a signal mask
 * (SIGSYS stays the trampoline's), new processes and threads (clone onto a
 * new stack, the rewriter's per-process state), the mapping calls that
 * create executable code or could touch the trampoline's own ranges, and
 * the readlink and open of /proc/self/exe.  No descriptor call: the guest
 * has no descriptor of the trampoline's to guard (under `--stats` it may
 * close or replace the stats page's, which costs it only its counts).
 * handler.c's table must not name a number missing here;
 * sbx_tramp_setup_filter gates its table as well.
 */
static const uint16_t gated_nrs[] = {
    __NR_rt_sigaction, __NR_rt_sigprocmask, __NR_rt_sigsuspend, __NR_ppoll,    __NR_epoll_pwait,
    __NR_epoll_pwait2, __NR_signalfd,       __NR_signalfd4,     __NR_pselect6, __NR_execve,
    __NR_execveat,     __NR_clone,          __NR_fork,          __NR_vfork,    __NR_clone3,
    __NR_mmap,         __NR_munmap,         __NR_mremap,        __NR_mprotect, __NR_pkey_mprotect,
    __NR_madvise,      __NR_readlink,       __NR_readlinkat,    __NR_open,     __NR_openat,
    __NR_openat2,
};

void sbx_gate_mark_gated(uint8_t *gated)
{
    for (size_t i = 0; i < sizeof(gated_nrs) / sizeof(gated_nrs[0]); i++)
        gated[gated_nrs[i]] = 1;
}

/* What a traced sandbox gates besides the list (trace.c); nothing in the hosted builds. */
static uint8_t also_gated[SBX_STATS_NSYSCALLS];

void sbx_gate_also(const uint8_t *gated)
{
    for (size_t i = 0; i < SBX_STATS_NSYSCALLS; i++)
        also_gated[i] |= gated[i];
}

int sbx_gate_is_gated(uint32_t nr)
{
    if (nr >= SBX_GATE_X32_BIT || (nr < SBX_STATS_NSYSCALLS && also_gated[nr]))
        return 1;
    for (size_t i = 0; i < sizeof(gated_nrs) / sizeof(gated_nrs[0]); i++)
        if (gated_nrs[i] == nr)
            return 1;
    return 0;
}

#define LD_ABS(off) ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define JMP(op, k, jt, jf) ((struct sock_filter)BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (jt), (jf)))
#define JA(k) ((struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (k)))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

/* The IP check: two loads, two compares (from the gate: on to the policy), the TRAP. */
#define IP_CHECK_LEN 5

/*
 *   0   ld arch;  != x86_64 -> policy
 *   2   ld nr;    >= x32 bit -> ip check
 *   4.. the gated numbers as a search tree: ip check when nr is one of them,
 *       policy when not (a plain ja policy when there are none)
 *   ip: ld ip low;  != gate low -> trap
 *       ld ip high; == gate high -> policy
 *       ret TRAP
 *   policy...
 * The prefix leaves nothing behind that the policy relies on: the policy
 * starts with its own loads, and its jumps are relative.
 *
 * A tree rather than a compare per gated number: when the filter is
 * attached, the kernel runs the program once for every syscall number to
 * fill its action cache, so each instruction a number passes costs every
 * sandbox's start, about 460 times over.  A number passes some six
 * instructions of the tree where it passed up to 27 compares in a row,
 * which was half of what the kernel emulated for the whole program.
 */
/*
 * With gated NULL (a traced sandbox: the trampoline records every call),
 * every number but rt_sigreturn is gated, with one compare:
 *   0   ld arch;  != x86_64 -> policy
 *   2   ld nr;    == rt_sigreturn -> policy
 *   ip: as above
 */
static size_t build_all(struct sock_filter *out, size_t cap, uint64_t gate_ret,
                        const struct sock_filter *policy, size_t n)
{
    size_t prefix = 4 + IP_CHECK_LEN;
    if (prefix > cap || n > cap - prefix)
        return 0;
    size_t pol = prefix, i = 0;
    out[i++] = LD_ABS(offsetof(struct seccomp_data, arch));
    out[i] = JMP(BPF_JEQ, AUDIT_ARCH_X86_64, 0, (uint8_t)(pol - i - 1));
    i++;
    out[i++] = LD_ABS(offsetof(struct seccomp_data, nr));
    out[i] = JMP(BPF_JEQ, __NR_rt_sigreturn, (uint8_t)(pol - i - 1), 0);
    i++;
    out[i++] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer));
    out[i++] = JMP(BPF_JEQ, (uint32_t)gate_ret, 0, 2);
    out[i++] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer) + 4);
    out[i++] = JMP(BPF_JEQ, (uint32_t)(gate_ret >> 32), 1, 0);
    out[i++] = RET(SECCOMP_RET_TRAP);
    for (size_t k = 0; k < n; k++)
        out[i++] = policy[k];
    return i;
}

/*
 * The search tree over the sorted gated numbers g[lo, hi): an inner node
 * splits at its middle number (jge: the upper half), a leaf of at most
 * `leaf` numbers compares each in turn.  Its length in instructions.
 */
static size_t tree_len(size_t lo, size_t hi, size_t leaf)
{
    if (hi - lo <= leaf)
        return hi - lo;
    size_t mid = lo + (hi - lo) / 2;
    return 1 + tree_len(lo, mid, leaf) + tree_len(mid, hi, leaf);
}

/* Writes the tree at out[i...]: a gated number jumps to ip, any other to pol.  The next i. */
static size_t tree_emit(struct sock_filter *out, size_t i, const uint16_t *g, size_t lo, size_t hi,
                        size_t leaf, size_t ip, size_t pol)
{
    if (hi - lo <= leaf) {
        for (size_t j = lo; j < hi; j++, i++)
            out[i] =
                JMP(BPF_JEQ, g[j], (uint8_t)(ip - i - 1), (uint8_t)(j + 1 == hi ? pol - i - 1 : 0));
        return i;
    }
    size_t mid = lo + (hi - lo) / 2;
    out[i] = JMP(BPF_JGE, g[mid], (uint8_t)tree_len(lo, mid, leaf), 0);
    i = tree_emit(out, i + 1, g, lo, mid, leaf, ip, pol);
    return tree_emit(out, i, g, mid, hi, leaf, ip, pol);
}

/* The farthest a prefix jump may reach: 8 bits, from index 1 (arch) to the policy. */
#define PREFIX_MAX_JUMP 255

size_t sbx_gate_build(struct sock_filter *out, size_t cap, const uint8_t *gated, uint64_t gate_ret,
                      const struct sock_filter *policy, size_t n)
{
    if (!gated)
        return build_all(out, cap, gate_ret, policy, n);
    uint16_t g[SBX_GATE_MAX_GATED];
    size_t ngated = 0;
    for (size_t nr = 0; nr < SBX_STATS_NSYSCALLS; nr++) {
        if (!gated[nr])
            continue;
        if (ngated == SBX_GATE_MAX_GATED)
            return 0;
        g[ngated++] = (uint16_t)nr;
    }
    /*
     * Leaves as small as the jumps and the room the policy leaves allow:
     * the smaller, the fewer instructions a number passes, but the more
     * nodes the tree has.  One leaf of all the numbers is the old list,
     * which always fits (gate-prog.h).
     */
    size_t leaf = 2, tree = 1; /* with no gated number, a ja */
    for (; ngated; leaf++) {
        tree = tree_len(0, ngated, leaf);
        if (4 + tree + IP_CHECK_LEN - 2 <= PREFIX_MAX_JUMP &&
            4 + tree + IP_CHECK_LEN <= SBX_FILTER_PREFIX_MAX)
            break;
        if (leaf >= ngated)
            return 0;
    }
    size_t prefix = 4 + tree + IP_CHECK_LEN;
    if (prefix > cap || n > cap - prefix)
        return 0;

    size_t ip = 4 + tree, pol = prefix, i = 0;
    out[i++] = LD_ABS(offsetof(struct seccomp_data, arch));
    out[i] = JMP(BPF_JEQ, AUDIT_ARCH_X86_64, 0, (uint8_t)(pol - i - 1));
    i++;
    out[i++] = LD_ABS(offsetof(struct seccomp_data, nr));
    out[i] = JMP(BPF_JGE, SBX_GATE_X32_BIT, (uint8_t)(ip - i - 1), 0);
    i++;
    if (ngated) {
        i = tree_emit(out, i, g, 0, ngated, leaf, ip, pol);
    } else {
        out[i] = JA((uint32_t)(pol - i - 1));
        i++;
    }
    out[i++] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer));
    out[i++] = JMP(BPF_JEQ, (uint32_t)gate_ret, 0, 2);
    out[i++] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer) + 4);
    out[i++] = JMP(BPF_JEQ, (uint32_t)(gate_ret >> 32), 1, 0);
    out[i++] = RET(SECCOMP_RET_TRAP);
    for (size_t k = 0; k < n; k++)
        out[i++] = policy[k];
    return i;
}
