/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The numbers entry.S shares with the C code: the size of the syscall
 * tables the fast entry indexes, the C stack gap of the process entry, the
 * layout of the rewrite stubs that call the fast entry, and the frame its
 * slow path pushes.  entry.S includes this file, so it holds #defines only;
 * the C side checks each number against its own definition with
 * _Static_assert (handler.c, rewrite-stub.c).
 *
 * Signal-safety contract: constants only, nothing to run.
 */
#pragma once

/* Entries of sbx_tramp_virt_fn[] and sbx_trace_sel[] (SBX_STATS_NSYSCALLS, abi.h). */
#define SBX_ENTRY_NSYSCALLS 512

/* __NR_rt_sigreturn, which the signal restorer issues. */
#define SBX_ENTRY_NR_RT_SIGRETURN 15

/* _start runs C this far below the kernel's stack, which main.c rebuilds in place. */
#define SBX_ENTRY_C_STACK_GAP 8192

/* The guest's red zone, which a stub steps over before it calls the fast entry. */
#define SBX_RW_RED_ZONE 128

/*
 * A stub (rewrite-stub.c has the instructions): SBX_RW_STUB_SIZE bytes
 * each, after a header of SBX_RW_STUB_HDR bytes whose first 8 hold the
 * fast entry's address.  The stub's `call` is at *_STUB_CALL and returns to
 * *_STUB_RET; when the call must take the trap path the fast entry returns
 * SBX_RW_STUB_ALT_DELTA bytes further, to *_STUB_ALT (MOV_: a mov site's
 * stub, SC_: a syscall site's).
 */
#define SBX_RW_STUB_SIZE 64
#define SBX_RW_STUB_HDR 64
#define SBX_RW_STUB_ALT_DELTA 20
#define SBX_RW_MOV_STUB_CALL 10
#define SBX_RW_MOV_STUB_RET 16
#define SBX_RW_MOV_STUB_ALT (SBX_RW_MOV_STUB_RET + SBX_RW_STUB_ALT_DELTA)
#define SBX_RW_SC_STUB_CALL 5
#define SBX_RW_SC_STUB_RET 11
#define SBX_RW_SC_STUB_ALT (SBX_RW_SC_STUB_RET + SBX_RW_STUB_ALT_DELTA)

/*
 * struct sbx_fast_frame (handler.c), as the fast entry's slow path pushes
 * it: r9, r8, r10, rdx, rsi, rdi (a[5] down to a[0]), rax (nr), then 8
 * bytes for the result, so that the lowest address is ret.  The saved flags
 * sit just above the frame, the stub's return address above them.
 */
#define SBX_FAST_FRAME_RET 0
#define SBX_FAST_FRAME_NR 8
#define SBX_FAST_FRAME_A0 16
#define SBX_FAST_FRAME_SIZE 64
#define SBX_FAST_FRAME_FLAGS SBX_FAST_FRAME_SIZE
#define SBX_FAST_FRAME_RIP (SBX_FAST_FRAME_SIZE + 8)
