/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

/* What an instruction does to the flow of control, for the rewriter. */
enum sbx_x86_flow {
    SBX_X86_NEXT, /* falls through to the next instruction, no branch */
    SBX_X86_PAD,  /* nop (90, 66 90, 0f 1f /0) or int3 (cc): alignment padding */
    SBX_X86_JCC,  /* jcc, loop, jrcxz, xbegin: a relative target, falls through */
    SBX_X86_CALL, /* call rel32: target, falls through */
    SBX_X86_JMP,  /* jmp rel8/rel32: target, never falls through */
    SBX_X86_END,  /* ret, indirect jmp, ud2, hlt: never falls through, target unknown */
    SBX_X86_ODD,  /* a relative branch with an operand-size prefix (CPUs disagree on it) */
};

/*
 * The flow of the len-byte instruction (len from sbx_x86_insn_len) at p,
 * which sits at address at; for JCC, CALL and JMP *target is set to the
 * branch target.  Anything not listed above (VEX, EVEX, far and indirect
 * calls, syscall, int) is SBX_X86_NEXT.
 */
enum sbx_x86_flow sbx_x86_insn_flow(const uint8_t *p, int len, uint64_t at, uint64_t *target);
