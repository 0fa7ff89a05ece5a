/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode (issue 5): syscall sites in guest code are sent through a
 * per-site stub that calls the fast entry (entry.S) instead of trapping:
 * `mov $imm32,%eax ; syscall` by a `jmp` over its mov, any other `syscall`
 * by a short jmp to a jmp in nearby dead padding (rewrite-site.h).  See
 * docs/trampoline.md.
 *
 * Signal-safety contract: called from startup (single-threaded) and from
 * the SIGSYS handler and the fast entry's slow path, in any thread and
 * possibly nested.  The shared state (stub areas, registered code, the
 * threaded flag) is only changed under a try-lock; a caller that does not
 * get the lock leaves its code unpatched, so nesting cannot deadlock.  Guest
 * signals are blocked while guest code is not executable.
 */
#pragma once

#include "entry-abi.h"
#include "tramp.h"

/* entry.S: where stubs call. */
void sbx_tramp_fast_entry(void);

/* Points the fast entry at the stats page; called once at startup. */
void sbx_rw_init(void);
/* The hot sites for an exec request's ":hot=" option (abi.h) into buf[0..cap); its length. */
size_t sbx_rw_hot_export(char *buf, size_t cap);
/* Enters the hot sites of a ":hot=" option into this process's stats page (startup). */
void sbx_rw_hot_import(const char *hex, size_t len);

/*
 * Code at [addr, addr + len) was just mapped readable but not executable,
 * from fd at file offset off (fd < 0: anonymous), and nobody can run it yet.
 * Registers it for lazy patching (file-backed, single-threaded) or patches
 * the sites proven in it, then gives the range its final prot.  Returns the
 * result of that last mprotect.
 */
int sbx_rw_new_code(uint64_t addr, uint64_t len, int prot, int fd, uint64_t off);

/* mmap with PROT_EXEC, rewriting what it maps; returns what mmap returns. */
long sbx_rw_mmap(long addr, long len, long prot, long flags, long fd, long off);
/* mprotect adding PROT_EXEC, rewriting the range when that is safe. */
long sbx_rw_mprotect(long addr, long len, long prot);

/*
 * A trapped syscall returns to ip (the address after its `syscall`): in a
 * single-threaded process, patch the site before it when it lies in
 * registered code and decoding from the last known start before it lands
 * exactly on it.
 */
void sbx_rw_lazy(uint64_t ip);

/* Whether [addr, addr + len) touches a stub area (guests may not change them). */
int sbx_rw_owns(uint64_t addr, uint64_t len);

/*
 * A clone sharing memory is about to start a thread: patch all registered
 * code while the process is still single-threaded; from then on code is
 * only patched before it becomes executable.
 */
void sbx_rw_note_threads(void);
/*
 * An exit or exit_group trapped at ip: counts its site for the sandbox's
 * other processes (sbx_rw_lazy, which would, runs after the call returns).
 */
void sbx_rw_note_exit(uint64_t ip);
/*
 * Before a fork (no shared memory), single-threaded: patch the sites that
 * became hot in the sandbox since the last time, so the child inherits them.
 */
void sbx_rw_before_fork(void);
/* In the child of a fork: it has one thread again. */
void sbx_rw_after_fork(void);
/* [addr, addr + len) is unmapped or remapped: forget registered code there. */
void sbx_rw_forget(uint64_t addr, uint64_t len);
