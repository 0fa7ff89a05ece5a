/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The IP-gate prefix of the trampoline's seccomp program, planned without
 * side effects so that a unit test can run the whole program on the host
 * (tests/unit/test-gate-prog.c) as the kernel's action cache does.
 *
 * Signal-safety contract: pure functions over caller-provided buffers; used
 * at startup only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>

#include "sbx/abi.h"

/* Numbers at or above this (the x32 bit and beyond) are gated whatever the set says. */
#define SBX_GATE_X32_BIT 0x40000000u

/* The most syscall numbers the prefix can gate: its jumps are 8 bits wide. */
#define SBX_GATE_MAX_GATED 200
/*
 * The longest prefix fits the room every policy leaves: as a search tree
 * sbx_gate_build keeps it within that room, and a compare per number (the
 * tree with one leaf, its longest jumps) always fits.
 */
_Static_assert(4 + SBX_GATE_MAX_GATED + 1 + 5 <= SBX_FILTER_PREFIX_MAX,
               "the gate prefix outgrows SBX_FILTER_PREFIX_MAX");

/*
 * Marks in gated[0..SBX_STATS_NSYSCALLS) the syscalls the trampoline must see
 * (handler.c virtualizes them); leaves the other entries as they are.
 */
void sbx_gate_mark_gated(uint8_t *gated);

/* Whether gate-prog's list gates nr (any x32 number is gated), or sbx_gate_also added it. */
int sbx_gate_is_gated(uint32_t nr);
/*
 * Adds the numbers marked in gated[0..SBX_STATS_NSYSCALLS) to what
 * sbx_gate_is_gated answers: a traced sandbox gates them too, so the
 * rewriter must patch their sites as well.
 */
void sbx_gate_also(const uint8_t *gated);

/*
 * Writes to out[0..cap) the gate prefix for the numbers marked in gated
 * (NULL: every number but rt_sigreturn, for tracing), followed by the
 * policy's n instructions.  Returns the program's length,
 * or 0 when it does not fit in cap or gates too many numbers.
 */
size_t sbx_gate_build(struct sock_filter *out, size_t cap, const uint8_t *gated, uint64_t gate_ret,
                      const struct sock_filter *policy, size_t n);
