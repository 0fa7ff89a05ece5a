/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode: the two shapes of syscall site, and the proofs that make a
 * site safe to patch (rewrite.c patches; this file only reads bytes).
 *
 * A mov site is `b8 imm32 0f 05` (mov $imm32,%eax ; syscall): its mov
 * becomes `e9 rel32` to a stub that loads eax itself.  Any other proven
 * `syscall` (eax from a register, `xor %eax,%eax`, memory) is a syscall
 * site: its two bytes become `eb rel8` to a slot, 5 bytes of dead alignment
 * padding nearby that become `e9 rel32` to the stub (the rest of the last
 * padding instruction it covers becomes 90s).  Either way every original
 * instruction boundary stays a boundary holding an equivalent instruction,
 * so a branch to any of them, a signal frame or a return address pointing at
 * one, keeps working.
 *
 * Signal-safety contract: pure functions over bytes in memory; no state, no
 * syscalls.  Built into the trampoline and into a hosted library for tests.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* b8 imm32 0f 05 */
#define SBX_RW_MOV_LEN 7
/* The jmp rel32 written into a slot. */
#define SBX_RW_SLOT_LEN 5

/* A slot: `e9 rel32` at [at, at + 5), 90s in [at + 5, end). */
struct sbx_rw_slot {
    uint64_t at, end;
};

/* Whether p holds a mov site (never rt_sigreturn's, which must trap). */
int sbx_rw_is_mov_site(const uint8_t *p);

/*
 * Whether the `syscall` at sc (inside code starting at lo) visibly makes a
 * call the trampoline does not gate: right after `mov $nr,%eax` with nr
 * ungated, or after `xor %eax,%eax` (read).  Such a call never traps and
 * goes to the kernel faster from its own site than through a stub, so
 * eager patching leaves it alone.  Only a hint: a branch straight to the
 * `syscall` with another number still traps and is patched lazily.
 */
int sbx_rw_known_ungated(uint64_t lo, uint64_t sc);

/*
 * Whether decoding from the last known point st[] at or before at lands
 * exactly on it, without passing hi (st sorted; at most 256 KiB of decoding).
 */
int sbx_rw_prove(const uint64_t *st, size_t nst, uint64_t hi, uint64_t at);

/*
 * A slot for the syscall at sc (`0f 05`, inside code bytes [lo, hi) with
 * known points st[]): within rel8 reach of sc + 2, made of padding
 * instructions that follow an instruction that never falls through (ret,
 * jmp, ud2, hlt), in a stretch between known points that decodes cleanly
 * from one to the next, where no direct branch or call found in the
 * surrounding +-260 bytes (all of it decoded) points into that padding, and
 * not overlapping taken[0..ntaken).  sc itself must be a proven boundary of
 * that decoding.  Returns 1 and fills *out with the slot nearest to sc, or 0.
 */
int sbx_rw_find_slot(const uint64_t *st, size_t nst, uint64_t lo, uint64_t hi, uint64_t sc,
                     const struct sbx_rw_slot *taken, size_t ntaken, struct sbx_rw_slot *out);

/* A site to patch: a mov site (slot.at == 0) or a syscall site and its slot. */
struct sbx_rw_patch {
    uint64_t site;
    struct sbx_rw_slot slot;
};

/*
 * The sites of code bytes [lo, hi) (known points st[]), proven one by one:
 * a byte search for `syscall`, then a mov site proven from the last known
 * point before it, or else a syscall site with a slot not in
 * taken[0..*ntaken).  A `syscall` for which skip(lo, sc) is true (its site
 * is patched already) is passed over, and so is one sbx_rw_known_ungated
 * names; skip may be NULL.  Appends to
 * out[n..max) and its slots to taken[]; returns the new n.
 */
size_t sbx_rw_candidates(const uint64_t *st, size_t nst, uint64_t lo, uint64_t hi,
                         int (*skip)(uint64_t lo, uint64_t sc), struct sbx_rw_patch *out, size_t n,
                         size_t max, struct sbx_rw_slot *taken, size_t *ntaken);
