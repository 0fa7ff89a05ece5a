/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SIGSYS handler: every syscall the guest makes outside the gate lands
 * here.  It decodes the call from the ucontext, counts it, dispatches it
 * (virtualize or pass through the gate) and stores the result in the saved
 * RAX, so that rt_sigreturn resumes the guest right after its syscall.  In
 * rewrite mode it may then patch the site lazily (rewrite.c).  The
 * dispatcher is shared with the fast entry's slow path (entry.S), which
 * runs it without a ucontext.
 *
 * Signal-safety contract: installed with SA_SIGINFO | SA_NODEFER |
 * SA_RESTORER and an empty mask, so it can nest (a signal interrupting a
 * blocking gate call may trap again) and runs in many threads at once.  It
 * keeps its state on the stack of the interrupted thread, uses a few hundred
 * bytes of it on the passthrough path, writes shared memory only with atomic
 * adds (the stats page), and reaches the kernel only through the gate.
 */
#include <asm/unistd.h>
#include <linux/fcntl.h>

#include "sbx/abi.h"
#include "entry-abi.h"
#include "rewrite.h"
#include "trace.h"
#include "virt.h"

volatile int sbx_tramp_probe_hit;

static void count(long nr)
{
    if (!sbx_tramp.stats_mapped || nr < 0 || nr >= SBX_STATS_NSYSCALLS)
        return;
    struct sbx_stats *st = (struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR;
    __atomic_fetch_add(&st->trapped[nr], 1, __ATOMIC_RELAXED);
}

static long v_sigsuspend(struct sbx_call *c)
{
    return sbx_virt_mask_arg(c, 0, 1);
}
static long v_ppoll(struct sbx_call *c)
{
    return sbx_virt_mask_arg(c, 3, 4);
}
static long v_epoll_pwait(struct sbx_call *c)
{
    return sbx_virt_mask_arg(c, 4, 5);
}
static long v_signalfd(struct sbx_call *c)
{
    return sbx_virt_mask_arg(c, 1, 2);
}
static long v_execve(struct sbx_call *c)
{
    long *a = c->a;
    return sbx_virt_execveat(c, AT_FDCWD, (const char *)a[0], (char **)a[1], (char **)a[2], 0);
}
static long v_execveat(struct sbx_call *c)
{
    long *a = c->a;
    return sbx_virt_execveat(c, (int)a[0], (const char *)a[1], (char **)a[2], (char **)a[3],
                             (int)a[4]);
}
static long v_readlink(struct sbx_call *c)
{
    long *a = c->a;
    return sbx_virt_readlink(c, AT_FDCWD, (const char *)a[0], (char *)a[1], a[2]);
}
/*
 * The filter lets rt_sigreturn through from anywhere, so it never traps; a
 * syscall site (whose number comes from a register) may send it to the fast
 * entry, whose slow path hands it back to the trap path (a real syscall on
 * the guest's stack).  This entry only makes the fast entry take that path.
 */
static long v_sigreturn(struct sbx_call *c)
{
    (void)c;
    return -ENOSYS;
}
static long v_open(struct sbx_call *c)
{
    return sbx_virt_open(c, AT_FDCWD, (const char *)c->a[0], c->a[1], 0);
}
static long v_openat(struct sbx_call *c)
{
    return sbx_virt_open(c, (int)c->a[0], (const char *)c->a[1], c->a[2], 0);
}
/* struct open_how: flags, mode, resolve (u64 each); a short or missing one goes through. */
static long v_openat2(struct sbx_call *c)
{
    const uint64_t *how = (const uint64_t *)c->a[2];
    if (!how || (size_t)c->a[3] < 3 * sizeof(uint64_t))
        return sbx_call_gate(c);
    return sbx_virt_open(c, (int)c->a[0], (const char *)c->a[1], (long)how[0], (long)how[2]);
}
static long v_readlinkat(struct sbx_call *c)
{
    long *a = c->a;
    return sbx_virt_readlink(c, (int)a[0], (const char *)a[1], (char *)a[2], a[3]);
}

/*
 * The syscalls the trampoline handles itself; everything else goes through
 * the gate.  One table for the SIGSYS handler and the fast entry (which
 * reads it from assembly to tell a plain passthrough from the rest).
 */
sbx_virt_fn *const sbx_tramp_virt_fn[SBX_STATS_NSYSCALLS] = {
    [__NR_rt_sigreturn] = v_sigreturn,
    [__NR_rt_sigaction] = sbx_virt_rt_sigaction,
    [__NR_rt_sigprocmask] = sbx_virt_rt_sigprocmask,
    [__NR_rt_sigsuspend] = v_sigsuspend,
    [__NR_ppoll] = v_ppoll,
    [__NR_epoll_pwait] = v_epoll_pwait,
    [__NR_epoll_pwait2] = v_epoll_pwait,
    [__NR_signalfd] = v_signalfd,
    [__NR_signalfd4] = v_signalfd,
    [__NR_pselect6] = sbx_virt_pselect6,
    [__NR_execve] = v_execve,
    [__NR_execveat] = v_execveat,
    [__NR_clone] = sbx_virt_clone,
    [__NR_fork] = sbx_virt_clone,
    [__NR_vfork] = sbx_virt_clone,
    [__NR_clone3] = sbx_virt_clone3,
    [__NR_munmap] = sbx_virt_mm,
    [__NR_mremap] = sbx_virt_mm,
    [__NR_mprotect] = sbx_virt_mm,
    [__NR_pkey_mprotect] = sbx_virt_mm,
    [__NR_madvise] = sbx_virt_mm,
    [__NR_mmap] = sbx_virt_mm,
    [__NR_readlink] = v_readlink,
    [__NR_readlinkat] = v_readlinkat,
    [__NR_open] = v_open,
    [__NR_openat] = v_openat,
    [__NR_openat2] = v_openat2,
};

static long dispatch(struct sbx_call *c)
{
    if (c->nr >= 0 && c->nr < SBX_STATS_NSYSCALLS && sbx_tramp_virt_fn[c->nr])
        return sbx_tramp_virt_fn[c->nr](c);
    return sbx_call_gate(c);
}

/* What the fast entry's slow path saved: the call and room for its result. */
struct sbx_fast_frame {
    long ret;
    long nr;
    long a[6];
};

/* The order in which entry.S pushes the frame, and the tables it indexes. */
_Static_assert(offsetof(struct sbx_fast_frame, ret) == SBX_FAST_FRAME_RET, "fast frame: ret");
_Static_assert(offsetof(struct sbx_fast_frame, nr) == SBX_FAST_FRAME_NR, "fast frame: nr");
_Static_assert(offsetof(struct sbx_fast_frame, a[0]) == SBX_FAST_FRAME_A0, "fast frame: rdi");
_Static_assert(offsetof(struct sbx_fast_frame, a[1]) == SBX_FAST_FRAME_A0 + 8, "fast frame: rsi");
_Static_assert(offsetof(struct sbx_fast_frame, a[2]) == SBX_FAST_FRAME_A0 + 16, "fast frame: rdx");
_Static_assert(offsetof(struct sbx_fast_frame, a[3]) == SBX_FAST_FRAME_A0 + 24, "fast frame: r10");
_Static_assert(offsetof(struct sbx_fast_frame, a[4]) == SBX_FAST_FRAME_A0 + 32, "fast frame: r8");
_Static_assert(offsetof(struct sbx_fast_frame, a[5]) == SBX_FAST_FRAME_A0 + 40, "fast frame: r9");
_Static_assert(sizeof(struct sbx_fast_frame) == SBX_FAST_FRAME_SIZE, "fast frame: size");
_Static_assert(SBX_ENTRY_NSYSCALLS == SBX_STATS_NSYSCALLS, "fast entry: table size");
_Static_assert(sizeof(sbx_tramp_virt_fn) / sizeof(sbx_tramp_virt_fn[0]) == SBX_ENTRY_NSYSCALLS,
               "fast entry: sbx_tramp_virt_fn");
_Static_assert(sizeof(sbx_trace_sel) == SBX_ENTRY_NSYSCALLS, "fast entry: sbx_trace_sel");
_Static_assert(SBX_ENTRY_NR_RT_SIGRETURN == __NR_rt_sigreturn, "restorer: rt_sigreturn");

int sbx_tramp_fast_call(struct sbx_fast_frame *f);

/*
 * The fast entry's slow path: a virtualized call from a rewritten site.
 * Calls that need the interrupted context (clone onto a new stack copies the
 * registers) take the trap path instead: returns 1 and the stub re-issues the
 * `syscall`.  So do rt_sigreturn, which must run on the guest's own stack,
 * and numbers outside the table, which a syscall site (number from a
 * register) may pass: the kernel and the filter then see exactly the guest's
 * call.  rt_sigprocmask stays here: with no signal frame it goes to the
 * kernel directly (sbx_virt_rt_sigprocmask).
 */
int sbx_tramp_fast_call(struct sbx_fast_frame *f)
{
    struct sbx_call c = {
        .nr = f->nr,
        .a = { f->a[0], f->a[1], f->a[2], f->a[3], f->a[4], f->a[5] },
        .uc = NULL,
    };
    if (c.nr < 0 || c.nr >= SBX_STATS_NSYSCALLS || c.nr == __NR_rt_sigreturn ||
        c.nr == __NR_clone3 || (c.nr == __NR_clone && c.a[1]))
        return 1;
    if (sbx_tramp.stats_mapped) {
        struct sbx_stats *st = (struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR;
        /* Not locked, as in entry.S: a statistic, and a locked add costs a quarter of a call. */
        st->patched[c.nr]++;
    }
    /* The virtualizers may point the arguments at copies of their own: trace the guest's. */
    const struct sbx_call guest = c;
    int trace = sbx_trace_wants(c.nr);
    if (trace)
        sbx_trace_before(&c);
    f->ret = dispatch(&c);
    if (trace)
        sbx_trace_call(&guest, f->ret);
    return 0;
}

static void sigsys_handler(int sig, struct sbx_siginfo *si, void *ctx)
{
    struct sbx_ucontext *uc = ctx;
    if (si->si_code != SBX_SYS_SECCOMP) {
        sbx_virt_foreign_sigsys(sig, si, uc);
        return;
    }
    /*
     * The policy itself asked for a trap on a call the trampoline made
     * through the gate: passing it through again would loop.  Fail it.
     */
    if (si->call_addr == SBX_TRAMPOLINE_GATE_RET) {
        uc->mc.rax = (uint64_t)-ENOSYS;
        return;
    }
    if (si->call_addr == (uint64_t)sbx_tramp_probe_ret)
        sbx_tramp_probe_hit = 1;

    struct sbx_call c = {
        .nr = si->syscall,
        .a = { (long)uc->mc.rdi, (long)uc->mc.rsi, (long)uc->mc.rdx, (long)uc->mc.r10,
               (long)uc->mc.r8, (long)uc->mc.r9 },
        .uc = uc,
    };
    count(c.nr);
    if (sbx_tramp.mode == SBX_MODE_REWRITE && (c.nr == __NR_exit_group || c.nr == __NR_exit))
        sbx_rw_note_exit(si->call_addr);
    /* The startup probe is the trampoline's own call, not the guest's. */
    int trace = sbx_trace_wants(c.nr) && si->call_addr != (uint64_t)sbx_tramp_probe_ret;
    const struct sbx_call guest = c;
    if (trace)
        sbx_trace_before(&c);
    uc->mc.rax = (uint64_t)dispatch(&c);
    if (trace)
        sbx_trace_call(&guest, (long)uc->mc.rax);
    if (sbx_tramp.mode == SBX_MODE_REWRITE)
        sbx_rw_lazy(si->call_addr);
}

int sbx_tramp_install_handler(void)
{
    struct sbx_ksigaction sa = {
        .handler = (uint64_t)sigsys_handler,
        .flags = SBX_SA_SIGINFO | SBX_SA_NODEFER | SBX_SA_RESTORER,
        .restorer = (uint64_t)sbx_tramp_restorer,
        .mask = 0,
    };
    return (int)sbx_sys4(__NR_rt_sigaction, SBX_SIGSYS, (long)&sa, 0, sizeof(sa.mask));
}
