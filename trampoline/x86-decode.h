/*
 * x86-64 instruction length decoder: how many bytes the instruction at a
 * given address occupies, for the rewriter to find instruction boundaries.
 * Built into the freestanding trampoline and into a hosted library that
 * tests/unit/test-x86-decode.c checks against Zydis.
 *
 * Signal-safety contract: pure functions over the bytes they are given; no
 * state, no syscalls.  Callable from the SIGSYS handler and the fast entry.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The architectural limit on the length of one instruction. */
#define SBX_X86_MAX_INSN 15

/*
 * Length of the 64-bit mode instruction at p, reading at most avail bytes.
 * Handles legacy prefixes, REX, VEX2/VEX3, EVEX, XOP, the one-byte map and
 * the 0F, 0F38, 0F3A maps, ModRM, SIB, displacements and immediates.
 * 3DNow! (0F 0F) is refused.  Returns the length (1..15), or -1 for
 * an opcode that is invalid in 64-bit mode, an instruction longer than 15
 * bytes or one that does not fit in avail.
 */
int sbx_x86_insn_len(const uint8_t *p, size_t avail);
