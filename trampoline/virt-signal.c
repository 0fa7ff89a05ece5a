/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signal virtualization.  SIGSYS belongs to the trampoline: the guest's
 * rt_sigaction(SIGSYS) is recorded and read back but never installed, and
 * SIGSYS is taken out of every signal mask the guest hands the kernel, so a
 * trap can always be delivered.  A trapped rt_sigprocmask is emulated on the
 * saved mask in the ucontext, because the mask in force during the handler is
 * replaced by that one at rt_sigreturn; from a rewritten site there is no such
 * frame and it goes to the kernel.
 *
 * rt_sigtimedwait is passed through unchanged: its set names signals to
 * dequeue, and the kernel unblocks them while waiting instead of blocking
 * them, so it can never hold back a trap (a trap is synchronous to the
 * thread's own syscalls, which it is not making while it waits).
 *
 * Signal-safety contract: runs inside the SIGSYS handler, reentrant.  The
 * virtual disposition lives in two slots; a writer fills the slot not in use
 * and then publishes it with one atomic store, so readers see a whole
 * struct.  Two guest threads changing the disposition at the same moment may
 * lose one of the updates (as one of them would be overwritten natively).
 */
#include <linux/signal.h>

#include "trace.h"
#include "virt.h"

#define SIGSET_BYTES 8
#define UNBLOCKABLE (SBX_SIGBIT(SBX_SIGSYS) | SBX_SIGBIT(SBX_SIGKILL) | SBX_SIGBIT(SBX_SIGSTOP))

static struct sbx_ksigaction guest_sigsys[2];
static int guest_sigsys_cur;

static struct sbx_ksigaction get_guest_sigsys(void)
{
    return guest_sigsys[__atomic_load_n(&guest_sigsys_cur, __ATOMIC_ACQUIRE)];
}

static void set_guest_sigsys(const struct sbx_ksigaction *sa)
{
    int next = __atomic_load_n(&guest_sigsys_cur, __ATOMIC_RELAXED) ^ 1;
    guest_sigsys[next] = *sa;
    __atomic_store_n(&guest_sigsys_cur, next, __ATOMIC_RELEASE);
}

long sbx_virt_rt_sigaction(struct sbx_call *c)
{
    int sig = (int)c->a[0];
    const struct sbx_ksigaction *act = (const struct sbx_ksigaction *)c->a[1];
    struct sbx_ksigaction *oact = (struct sbx_ksigaction *)c->a[2];

    if (sig != SBX_SIGSYS) {
        if (!act || c->a[3] != SIGSET_BYTES)
            return sbx_trace_signals ? sbx_trace_rt_sigaction(c, NULL) : sbx_call_gate(c);
        struct sbx_ksigaction copy = *act;
        copy.mask &= ~SBX_SIGBIT(SBX_SIGSYS);
        c->a[1] = (long)&copy;
        /* --trace: the handler is wrapped, so that each delivery is recorded (trace.c). */
        return sbx_trace_signals ? sbx_trace_rt_sigaction(c, &copy) : sbx_call_gate(c);
    }
    if (c->a[3] != SIGSET_BYTES)
        return -EINVAL;
    struct sbx_ksigaction old = get_guest_sigsys();
    if (act) {
        struct sbx_ksigaction copy = *act;
        copy.mask &= ~UNBLOCKABLE;
        set_guest_sigsys(&copy);
    }
    if (oact)
        *oact = old;
    return 0;
}

long sbx_virt_rt_sigprocmask(struct sbx_call *c)
{
    int how = (int)c->a[0];
    const uint64_t *set = (const uint64_t *)c->a[1];
    uint64_t *oset = (uint64_t *)c->a[2];

    if (c->a[3] != SIGSET_BYTES)
        return -EINVAL;
    if (!c->uc) {
        /*
         * From a rewritten site (the fast entry) no signal frame will restore
         * a mask: the kernel's mask is the guest's, and the call goes to the
         * kernel with the unblockable signals taken out of the set.
         */
        uint64_t copy;
        if (set) {
            copy = *set & ~UNBLOCKABLE;
            c->a[1] = (long)&copy;
        }
        return sbx_call_gate(c);
    }
    uint64_t old = c->uc->uc_sigmask;
    if (set) {
        uint64_t s = *set, cur = old;
        switch (how) {
        case SIG_BLOCK:
            cur |= s;
            break;
        case SIG_UNBLOCK:
            cur &= ~s;
            break;
        case SIG_SETMASK:
            cur = s;
            break;
        default:
            return -EINVAL;
        }
        c->uc->uc_sigmask = cur & ~UNBLOCKABLE;
    }
    if (oset)
        *oset = old;
    return 0;
}

long sbx_virt_mask_arg(struct sbx_call *c, int idx, int size_idx)
{
    const uint64_t *mask = (const uint64_t *)c->a[idx];
    if (!mask || c->a[size_idx] != SIGSET_BYTES)
        return sbx_call_gate(c);
    uint64_t copy = *mask & ~SBX_SIGBIT(SBX_SIGSYS);
    c->a[idx] = (long)&copy;
    return sbx_call_gate(c);
}

long sbx_virt_pselect6(struct sbx_call *c)
{
    /* The sixth argument points at { const sigset_t *ss; size_t ss_len; }. */
    const uint64_t *data = (const uint64_t *)c->a[5];
    if (!data || !data[0] || data[1] != SIGSET_BYTES)
        return sbx_call_gate(c);
    uint64_t mask = *(const uint64_t *)data[0] & ~SBX_SIGBIT(SBX_SIGSYS);
    uint64_t copy[2] = { (uint64_t)&mask, SIGSET_BYTES };
    c->a[5] = (long)copy;
    return sbx_call_gate(c);
}

void sbx_virt_foreign_sigsys(int sig, struct sbx_siginfo *si, struct sbx_ucontext *uc)
{
    struct sbx_ksigaction sa = get_guest_sigsys();
    /*
     * A signal from outside the sandbox has si_pid 0 (its sender is not in
     * the guest's pid namespace): sandboxd carrying out a kill rule of the
     * policy.  It kills as the default does whatever the guest asked for:
     * ignored, the guest would run on after its call (which then fails with
     * EINTR), and a handler of the guest's could fork a child that nobody
     * watches for the kill, which would so outlive it.
     */
    int32_t sender = (int32_t)(uint32_t)si->call_addr; /* si_pid shares the slot */
    int outside = (si->si_code == SBX_SI_USER || si->si_code == SBX_SI_TKILL) && sender == 0;
    if (sa.handler == SBX_SIG_IGN && !outside)
        return;
    if (sa.handler == SBX_SIG_DFL || sa.handler == SBX_SIG_IGN || outside) {
        /* Die of SIGSYS as the guest would: default action, then resend. */
        struct sbx_ksigaction dfl = { .handler = SBX_SIG_DFL };
        sbx_sys4(__NR_rt_sigaction, SBX_SIGSYS, (long)&dfl, 0, SIGSET_BYTES);
        sbx_sys3(__NR_tgkill, sbx_sys0(__NR_getpid), sbx_sys0(__NR_gettid), SBX_SIGSYS);
        return;
    }
    if (sa.flags & SBX_SA_RESETHAND) {
        struct sbx_ksigaction dfl = { .handler = SBX_SIG_DFL };
        set_guest_sigsys(&dfl);
    }
    if (sa.flags & SBX_SA_SIGINFO)
        ((void (*)(int, void *, void *))sa.handler)(sig, si, uc);
    else
        ((void (*)(int))sa.handler)(sig);
}
