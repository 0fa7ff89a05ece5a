/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The syscalls the SIGSYS handler does not simply pass through the gate.
 * Each takes the trapped call and returns the value for the guest's RAX.
 *
 * Signal-safety contract: every function here runs inside the SIGSYS
 * handler, possibly in several threads at once and nested in itself (a
 * signal can interrupt a blocking gate call).  State lives on the stack or in
 * the ucontext; the only shared state is the virtual SIGSYS disposition
 * (virt-signal.c), published by an atomic index switch between two slots.
 * Memory is mapped by the execve path (a scratch area it always unmaps when
 * the exec fails) and by rewriting (stub pages, scratch buffers, the known
 * instruction starts of registered ranges; rewrite.c says which it keeps).
 */
#pragma once

#include "kabi.h"
#include "tramp.h"

struct sbx_call {
    long nr;
    long a[6];
    struct sbx_ucontext *uc; /* NULL from the fast entry: see sbx_tramp_fast_call */
};

typedef long sbx_virt_fn(struct sbx_call *c);
/* handler.c: the virtualized syscalls by number (NULL: through the gate). */
extern sbx_virt_fn *const sbx_tramp_virt_fn[];

static inline long sbx_call_gate(const struct sbx_call *c)
{
    return sbx_tramp_syscall6(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
}

/* virt-signal.c */
long sbx_virt_rt_sigaction(struct sbx_call *c);
long sbx_virt_rt_sigprocmask(struct sbx_call *c);
/* Passes c through with the sigset pointed to by argument idx minus SIGSYS. */
long sbx_virt_mask_arg(struct sbx_call *c, int idx, int size_idx);
long sbx_virt_pselect6(struct sbx_call *c);
/* A SIGSYS that is not a seccomp trap: deliver to the guest's virtual handler. */
void sbx_virt_foreign_sigsys(int sig, struct sbx_siginfo *si, struct sbx_ucontext *uc);

/* virt-exec.c */
long sbx_virt_execveat(struct sbx_call *c, int dirfd, const char *path, char **argv, char **envp,
                       int flags);

/* virt-proc.c */
long sbx_virt_clone(struct sbx_call *c);
long sbx_virt_clone3(struct sbx_call *c);
long sbx_virt_mm(struct sbx_call *c);
long sbx_virt_readlink(struct sbx_call *c, int dirfd, const char *path, char *buf, long size);
/* open, openat, openat2 (resolve: its RESOLVE_* flags, 0 for the others). */
long sbx_virt_open(struct sbx_call *c, int dirfd, const char *path, long flags, long resolve);
/* Whether path names this process's /proc exe link (self, thread-self or its pid). */
int sbx_virt_is_self_exe(const char *path);
