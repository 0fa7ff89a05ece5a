/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trampoline's seccomp filter: the gate prefix (gate-prog.c), which
 * traps the calls the trampoline must see unless they come from its gate,
 * followed verbatim by the policy's own program from SBX_FD_POLICY.
 * Installed once per sandbox.
 *
 * Signal-safety contract: startup only (single-threaded); the static program
 * buffer is not touched afterwards.  The startup probe deliberately traps
 * into the SIGSYS handler, which sets sbx_tramp_probe_hit.
 */
#include <asm/stat.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>

#include "gate-prog.h"
#include "trace.h"
#include "tramp.h"
#include "virt.h"
#include "sbx/abi.h"
#include "sbx/trace.h"

#define SECCOMP_MODE_FILTER_VALUE 2

static struct sock_filter prog[BPF_MAXINSNS];
static struct sock_filter policy[BPF_MAXINSNS];

/* Whether our filter already runs: a gated syscall outside the gate must trap. */
static int ours_installed(void)
{
    if (sbx_sys1(__NR_prctl, PR_GET_SECCOMP) != SECCOMP_MODE_FILTER_VALUE)
        return 0;
    sbx_tramp_probe_hit = 0;
    sbx_tramp_probe_syscall(__NR_rt_sigprocmask);
    return sbx_tramp_probe_hit;
}

int sbx_tramp_setup_filter(void)
{
    if (ours_installed())
        return 0; /* a re-exec inside the sandbox */

    struct stat st;
    long r = sbx_sys2(__NR_fstat, SBX_FD_POLICY, (long)&st);
    if (r < 0)
        return (int)r;
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
        (uint64_t)st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
    r = sbx_pread_full(SBX_FD_POLICY, policy, (size_t)st.st_size, 0);
    if (r < 0)
        return (int)r;
    if ((size_t)r != (size_t)st.st_size)
        return -EINVAL;

    /*
     * Whatever handler.c virtualizes is gated, even a number the list in
     * gate-prog.c lacks; rt_sigreturn is not: it must run on the signal frame
     * from anywhere (the restorer of the guest's own handlers).
     */
    static uint8_t gated[SBX_STATS_NSYSCALLS];
    sbx_gate_mark_gated(gated);
    for (size_t nr = 0; nr < SBX_STATS_NSYSCALLS; nr++)
        if (sbx_tramp_virt_fn[nr] && nr != __NR_rt_sigreturn)
            gated[nr] = 1;
    /*
     * A traced sandbox gates the numbers it records (trace.c): every one
     * for --trace, those of the policy's trace rules, or, when they are too
     * many for the prefix, every one.
     */
    static uint8_t sel[SBX_STATS_NSYSCALLS];
    int trace = sbx_trace_wanted(sel);
    if (trace == SBX_TRACE_SELECT)
        for (size_t nr = 0; nr < SBX_STATS_NSYSCALLS; nr++)
            gated[nr] |= sel[nr] && nr != __NR_rt_sigreturn;
    size_t len = sbx_gate_build(prog, BPF_MAXINSNS, trace == SBX_TRACE_ALL ? 0 : gated,
                                SBX_TRAMPOLINE_GATE_RET, policy, n);
    if (len == 0 && trace == SBX_TRACE_SELECT)
        len = sbx_gate_build(prog, BPF_MAXINSNS, 0, SBX_TRAMPOLINE_GATE_RET, policy, n);
    if (len == 0)
        return -E2BIG;

    struct sock_fprog fprog = { .len = (unsigned short)len, .filter = prog };
    r = sbx_tramp_install_filter(&fprog);
    if (r < 0)
        return (int)r;
    sbx_sys1(__NR_close, SBX_FD_POLICY);
    return 1;
}
