/*
 * The SIGSYS handler: every syscall the guest makes outside the gate lands
 * here.  It decodes the call from the ucontext, counts it, dispatches it
 * (virtualize or pass through the gate) and stores the result in the saved
 * RAX, so that rt_sigreturn resumes the guest right after its syscall.
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
#include "virt.h"

volatile int sbx_tramp_probe_hit;

static void count(long nr)
{
    if (!sbx_tramp.stats_mapped || nr < 0 || nr >= SBX_STATS_NSYSCALLS)
        return;
    struct sbx_stats *st = (struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR;
    __atomic_fetch_add(&st->trapped[nr], 1, __ATOMIC_RELAXED);
}

static long dispatch(struct sbx_call *c)
{
    long *a = c->a;
    switch (c->nr) {
    case __NR_rt_sigaction:
        return sbx_virt_rt_sigaction(c);
    case __NR_rt_sigprocmask:
        return sbx_virt_rt_sigprocmask(c);
    case __NR_rt_sigsuspend:
        return sbx_virt_mask_arg(c, 0, 1);
    case __NR_ppoll:
        return sbx_virt_mask_arg(c, 3, 4);
    case __NR_epoll_pwait:
    case __NR_epoll_pwait2:
        return sbx_virt_mask_arg(c, 4, 5);
    case __NR_signalfd:
    case __NR_signalfd4:
        return sbx_virt_mask_arg(c, 1, 2);
    case __NR_pselect6:
        return sbx_virt_pselect6(c);
    case __NR_execve:
        return sbx_virt_execveat(c, AT_FDCWD, (const char *)a[0], (char **)a[1],
                                 (char **)a[2], 0);
    case __NR_execveat:
        return sbx_virt_execveat(c, (int)a[0], (const char *)a[1], (char **)a[2], (char **)a[3],
                                 (int)a[4]);
    case __NR_clone:
    case __NR_vfork:
        return sbx_virt_clone(c);
    case __NR_clone3:
        return sbx_virt_clone3(c);
    case __NR_munmap:
    case __NR_mremap:
    case __NR_mprotect:
    case __NR_pkey_mprotect:
    case __NR_madvise:
    case __NR_mmap:
        return sbx_virt_mm(c);
    case __NR_close:
    case __NR_dup2:
    case __NR_dup3:
    case __NR_close_range:
    case __NR_fcntl:
        return sbx_virt_fd(c);
    case __NR_readlink:
        return sbx_virt_readlink(c, AT_FDCWD, (const char *)a[0], (char *)a[1], a[2]);
    case __NR_readlinkat:
        return sbx_virt_readlink(c, (int)a[0], (const char *)a[1], (char *)a[2], a[3]);
    default:
        return sbx_call_gate(c);
    }
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
    uc->mc.rax = (uint64_t)dispatch(&c);
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
