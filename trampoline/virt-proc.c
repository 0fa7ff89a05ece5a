/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process-level virtualization: clone/clone3/vfork, the trampoline's own
 * mappings, and /proc/self/exe.
 *
 * A child cloned onto a new stack cannot return through the SIGSYS frame,
 * which lives on the parent's stack.  Before the call, the handler writes the
 * guest's registers (rax = 0) just below the child's stack pointer, under a
 * return address pointing at sbx_tramp_clone_child; the child's first
 * instruction is the gate's `ret`, which lands there, and the landing pad
 * restores the registers and returns to the guest's code with the stack
 * pointer the guest asked for.
 *
 * Signal-safety contract: runs in the SIGSYS handler; state on the stack;
 * sbx_tramp_child_fixup runs in the new child on the guest's new stack,
 * below the frame, before any guest code.
 */
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/openat2.h>

#include "sbx/abi.h"
#include "rewrite.h"
#include "virt.h"

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

struct sbx_clone_frame {
    uint64_t flags;
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax, rflags;
    uint64_t rip;
};

void sbx_tramp_clone_child(void);
void sbx_tramp_child_fixup(const struct sbx_clone_frame *f);

/* What CLONE_CLEAR_SIGHAND would have done, without touching SIGSYS. */
static void clear_sighand(uint64_t flags)
{
    if (!(flags & CLONE_CLEAR_SIGHAND))
        return;
    for (int sig = 1; sig <= 64; sig++) {
        struct sbx_ksigaction old;
        if (sig == SBX_SIGSYS || sig == SBX_SIGKILL || sig == SBX_SIGSTOP)
            continue;
        if (sbx_sys4(__NR_rt_sigaction, sig, 0, (long)&old, 8) < 0 || old.handler <= SBX_SIG_IGN)
            continue;
        struct sbx_ksigaction dfl = { .handler = SBX_SIG_DFL };
        sbx_sys4(__NR_rt_sigaction, sig, (long)&dfl, 0, 8);
    }
}

void sbx_tramp_child_fixup(const struct sbx_clone_frame *f)
{
    clear_sighand(f->flags);
}

/* Prepares the child's stack below top; returns the stack pointer to pass. */
static uint64_t push_frame(const struct sbx_ucontext *uc, uint64_t top, uint64_t flags)
{
    struct sbx_clone_frame *f = (struct sbx_clone_frame *)(top - sizeof(*f));
    const struct sigcontext *m = &uc->mc;
    *f = (struct sbx_clone_frame){
        .flags = flags,
        .r15 = m->r15,
        .r14 = m->r14,
        .r13 = m->r13,
        .r12 = m->r12,
        .r11 = m->r11,
        .r10 = m->r10,
        .r9 = m->r9,
        .r8 = m->r8,
        .rdi = m->rdi,
        .rsi = m->rsi,
        .rbp = m->rbp,
        .rbx = m->rbx,
        .rdx = m->rdx,
        .rcx = m->rcx,
        .rax = 0,
        .rflags = m->eflags,
        .rip = m->rip,
    };
    uint64_t *ret = (uint64_t *)f - 1;
    *ret = (uint64_t)sbx_tramp_clone_child;
    return (uint64_t)ret;
}

/* A child sharing memory without its own stack would scribble on our frame. */
static uint64_t unshare_vm(uint64_t flags)
{
    if ((flags & CLONE_VM) && !(flags & CLONE_THREAD))
        flags &= ~(uint64_t)(CLONE_VM | CLONE_VFORK);
    return flags;
}

/* A clone without a new stack: its child returns here, single-threaded. */
static long fork_like(struct sbx_call *c)
{
    sbx_rw_before_fork();
    long r = sbx_call_gate(c);
    if (r == 0)
        sbx_rw_after_fork();
    return r;
}

long sbx_virt_clone(struct sbx_call *c)
{
    if (c->nr == __NR_vfork || c->nr == __NR_fork) {
        c->nr = __NR_fork;
        return fork_like(c);
    }
    uint64_t flags = (uint64_t)c->a[0];
    if (!c->a[1]) {
        c->a[0] = (long)unshare_vm(flags);
        return fork_like(c);
    }
    if (flags & CLONE_VM)
        sbx_rw_note_threads();
    c->a[1] = (long)push_frame(c->uc, (uint64_t)c->a[1], flags & 0xffffffffULL);
    return sbx_call_gate(c);
}

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

long sbx_virt_clone3(struct sbx_call *c)
{
    size_t size = (size_t)c->a[1];
    struct clone_args_v2 args = { 0 };
    if (!c->a[0])
        return -EFAULT;
    if (size < 64 || size > sizeof(args))
        return sbx_call_gate(c);
    memcpy(&args, (const void *)c->a[0], size);
    if (!args.stack) {
        args.flags = unshare_vm(args.flags);
        c->a[0] = (long)&args;
        long r = fork_like(c);
        if (r == 0)
            clear_sighand(args.flags);
        return r;
    }
    if (args.flags & CLONE_VM)
        sbx_rw_note_threads();
    uint64_t top = args.stack + args.stack_size;
    if (args.stack_size < 1024 || top < args.stack)
        return -EINVAL;
    uint64_t sp = push_frame(c->uc, top, args.flags);
    args.stack_size = sp - args.stack;
    c->a[0] = (long)&args;
    return sbx_call_gate(c);
}

/* The trampoline's own mappings and the stubs of rewritten sites. */
static int overlaps_self(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    if (end < addr)
        end = UINT64_MAX;
    return (addr < sbx_tramp.guard_hi && end > sbx_tramp.guard_lo) || sbx_rw_owns(addr, len);
}

long sbx_virt_mm(struct sbx_call *c)
{
    uint64_t addr = (uint64_t)c->a[0], len = (uint64_t)c->a[1];
    switch (c->nr) {
    case __NR_munmap:
    case __NR_madvise:
        if (overlaps_self(addr, len))
            return -EINVAL;
        if (c->nr == __NR_munmap)
            sbx_rw_forget(addr, len);
        break;
    case __NR_mprotect:
    case __NR_pkey_mprotect:
        if (overlaps_self(addr, len))
            return -EACCES;
        if (c->nr == __NR_mprotect)
            return sbx_rw_mprotect(c->a[0], c->a[1], c->a[2]);
        sbx_rw_forget(addr, len);
        break;
    case __NR_mremap:
        if (overlaps_self(addr, len) ||
            ((c->a[3] & MREMAP_FIXED) && overlaps_self((uint64_t)c->a[4], (uint64_t)c->a[2])))
            return -EINVAL;
        sbx_rw_forget(addr, len);
        if (c->a[3] & MREMAP_FIXED)
            sbx_rw_forget((uint64_t)c->a[4], (uint64_t)c->a[2]);
        break;
    case __NR_mmap:
        if ((c->a[3] & MAP_FIXED) && !(c->a[3] & MAP_FIXED_NOREPLACE) && overlaps_self(addr, len))
            return -ENOMEM;
        if (c->a[3] & MAP_FIXED)
            sbx_rw_forget(addr, len);
        return sbx_rw_mmap(c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
    }
    return sbx_call_gate(c);
}

int sbx_virt_is_self_exe(const char *path)
{
    static const char proc[] = "/proc/";
    if (sbx_streq(path, "/proc/self/exe") || sbx_streq(path, "/proc/thread-self/exe"))
        return 1;
    /* Compared up to the first difference: path may be shorter than "/proc/". */
    for (size_t i = 0; i < sizeof(proc) - 1; i++)
        if (path[i] != proc[i])
            return 0;
    char buf[48];
    size_t n = sizeof(proc) - 1;
    memcpy(buf, proc, n);
    n += sbx_utoa((uint64_t)sbx_sys0(__NR_getpid), buf + n);
    memcpy(buf + n, "/exe", 5);
    return sbx_streq(path, buf);
}

/*
 * open of the exe link: the kernel's link leads to the trampoline's memfd,
 * so the program's file is opened by the path it was loaded from instead
 * (with the guest's flags and rights).  A native process cannot write the
 * file it runs (ETXTBSY), and the program, mapped by us rather than exec'd,
 * is not write-denied by the kernel: an open for writing gets ETXTBSY here,
 * after the access check that would come first (EACCES, EROFS).  O_PATH
 * opens go through unchanged, to the memfd, which the kernel write-denies
 * as an exec'd file: a reopen of it for writing through /proc/self/fd gets
 * ETXTBSY as natively (the price: such a descriptor names the memfd).
 * O_NOFOLLOW (ELOOP) and openat2's RESOLVE_NO_MAGICLINKS / NO_SYMLINKS
 * (ELOOP) are native as they are: such calls go through unchanged too.
 */
long sbx_virt_open(struct sbx_call *c, int dirfd, const char *path, long flags, long resolve)
{
    if (!path || (dirfd != AT_FDCWD && path[0] != '/') || (flags & (O_NOFOLLOW | O_PATH)) ||
        (resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)) || !sbx_virt_is_self_exe(path))
        return sbx_call_gate(c);
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
        long r = sbx_sys4(__NR_faccessat, AT_FDCWD, (long)sbx_tramp.exe_path, 2 /* W_OK */, 0);
        return r < 0 ? r : -ETXTBSY;
    }
    struct sbx_call o = *c;
    if (c->nr == __NR_open) {
        o.a[0] = (long)sbx_tramp.exe_path;
    } else {
        o.a[0] = AT_FDCWD;
        o.a[1] = (long)sbx_tramp.exe_path;
    }
    return sbx_call_gate(&o);
}

long sbx_virt_readlink(struct sbx_call *c, int dirfd, const char *path, char *buf, long size)
{
    if (!path || size <= 0 || (dirfd != AT_FDCWD && path[0] != '/') || !sbx_virt_is_self_exe(path))
        return sbx_call_gate(c);
    size_t n = sbx_tramp.exe_len < (size_t)size ? sbx_tramp.exe_len : (size_t)size;
    memcpy(buf, sbx_tramp.exe_path, n);
    return (long)n;
}
