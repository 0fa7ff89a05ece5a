/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Assembly of the trampoline: the gate, the process entry, the jump into the
 * guest, the signal restorer, the landing pad of cloned children and the
 * fast entry of rewritten syscall sites.
 *
 * Signal-safety contract: no state and no stack use beyond what each routine
 * documents; every routine is reentrant.  The gate is the only `syscall`
 * instruction the filter lets through (besides rt_sigreturn and the startup
 * probe, which is meant to trap).
 */

#include "entry-abi.h"

/* The gate sits first in .text, at SBX_TRAMPOLINE_GATE (see tramp.ld). */
    .section .text.sbx_gate, "ax", @progbits
    .globl sbx_tramp_gate
    .hidden sbx_tramp_gate
    .type sbx_tramp_gate, @function
sbx_tramp_gate:
    syscall
    ret
    .size sbx_tramp_gate, . - sbx_tramp_gate

/* long sbx_tramp_syscall6(nr, a1, a2, a3, a4, a5, a6): C ABI to kernel ABI. */
    .globl sbx_tramp_syscall6
    .hidden sbx_tramp_syscall6
    .type sbx_tramp_syscall6, @function
sbx_tramp_syscall6:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    jmp sbx_tramp_gate
    .size sbx_tramp_syscall6, . - sbx_tramp_syscall6

    .text

/*
 * Process entry.  The kernel's stack (argc, argv, envp, auxv, strings) stays
 * where it is; C runs 8 KiB below it so the guest's tables can be rebuilt in
 * place on top of the old ones (see loader.c).
 */
    .globl _start
    .hidden _start
    .type _start, @function
_start:
    xor %ebp, %ebp
    mov %rsp, %rdi
    lea -SBX_ENTRY_C_STACK_GAP(%rsp), %rsp
    and $-16, %rsp
    call sbx_tramp_main
    hlt
    .size _start, . - _start

/* void sbx_tramp_enter(sp, entry): clean registers, like a fresh exec. */
    .globl sbx_tramp_enter
    .hidden sbx_tramp_enter
    .type sbx_tramp_enter, @function
sbx_tramp_enter:
    mov %rsi, -8(%rdi)
    mov %rdi, %rsp
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    cld
    jmp *-8(%rsp)
    .size sbx_tramp_enter, . - sbx_tramp_enter

/* Signal restorer: rt_sigreturn is let through the filter from anywhere. */
    .globl sbx_tramp_restorer
    .hidden sbx_tramp_restorer
    .type sbx_tramp_restorer, @function
sbx_tramp_restorer:
    mov $SBX_ENTRY_NR_RT_SIGRETURN, %eax
    syscall
    hlt
    .size sbx_tramp_restorer, . - sbx_tramp_restorer

/*
 * long sbx_tramp_probe_syscall(nr): syscall nr, with every argument zero,
 * outside the gate.  Under our filter a gated nr traps; the handler notices
 * the address and dispatches it as usual.  Zero arguments keep the probe
 * harmless for a number like rt_sigprocmask, trapped or not.
 */
    .globl sbx_tramp_probe_syscall
    .hidden sbx_tramp_probe_syscall
    .type sbx_tramp_probe_syscall, @function
    .globl sbx_tramp_probe_ret
    .hidden sbx_tramp_probe_ret
sbx_tramp_probe_syscall:
    mov %rdi, %rax
    xor %edi, %edi
    xor %esi, %esi
    xor %edx, %edx
    xor %r10d, %r10d
    xor %r8d, %r8d
    xor %r9d, %r9d
    syscall
sbx_tramp_probe_ret:
    ret
    .size sbx_tramp_probe_syscall, . - sbx_tramp_probe_syscall

/*
 * Landing pad of a child cloned with its own stack.  The gate's `ret` popped
 * this address from the child's stack; %rsp now points at a struct
 * sbx_clone_frame (virt-proc.c) that ends exactly at the guest's stack
 * pointer.  Run the C fixup, then restore the guest's registers with rax = 0
 * and return to the guest's code after its syscall.
 */
    .globl sbx_tramp_clone_child
    .hidden sbx_tramp_clone_child
    .type sbx_tramp_clone_child, @function
sbx_tramp_clone_child:
    mov %rsp, %rbx
    mov %rsp, %rdi
    and $-16, %rsp
    call sbx_tramp_child_fixup
    mov %rbx, %rsp
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    popfq
    ret
    .size sbx_tramp_clone_child, . - sbx_tramp_clone_child

/*
 * Fast entry from a rewritten site's stub (rewrite.c).  On entry rax = nr
 * (zero-extended imm32), the arguments are in rdi, rsi, rdx, r10, r8, r9 as
 * for `syscall`, and the stub has stepped SBX_RW_RED_ZONE (128) bytes below
 * the guest's stack pointer (red zone) before calling us.  Like a real syscall, it returns the
 * result in rax, leaves r11 = the flags, clobbers rcx (the stub sets it to
 * the site's return address) and preserves every other register and the
 * flags.  The passthrough path tail-jumps to the gate, whose `ret` returns
 * to the stub.  Signals may arrive anywhere in here: their frames go below our
 * stack use, and a gate syscall they interrupt restarts (or fails with
 * EINTR) exactly as the guest's own would.
 *
 * Passthrough calls (no entry in sbx_tramp_virt_fn) go straight through the
 * gate.  The others go to sbx_tramp_fast_call (handler.c), which runs the
 * dispatcher or answers 1: then we return SBX_RW_STUB_ALT_DELTA (20) bytes
 * further into the stub, which re-issues the site's own `syscall` (with rax
 * = nr) so that the call takes the trap path with a full ucontext.
 */
    .globl sbx_tramp_fast_entry
    .hidden sbx_tramp_fast_entry
    .type sbx_tramp_fast_entry, @function
sbx_tramp_fast_entry:
    /*
     * Save the arithmetic flags without pushf/popf (slow): lahf takes SF,
     * ZF, AF, PF and CF into ah, seto takes OF into al.  DF is never
     * changed on this path.
     */
    mov %rax, %rcx
    lahf
    seto %al
    mov %rax, %r11
    cmp $SBX_ENTRY_NSYSCALLS, %rcx
    jae .Lfast_restore_slow
    /* A number the trace records (trace.c) takes the slow path. */
    lea sbx_trace_sel(%rip), %rax
    cmpb $0, (%rax,%rcx)
    jne .Lfast_restore_slow
    lea sbx_tramp_virt_fn(%rip), %rax
    cmpq $0, (%rax,%rcx,8)
    jne .Lfast_restore_slow
.Lfast_pass:
    mov sbx_tramp_patched_ctr(%rip), %rax
    test %rax, %rax
    jz 1f
    /*
     * Not locked: a locked add costs about 25 ns here, a quarter of a
     * getppid.  Increments racing in two threads (or processes) on the same
     * counter can be lost; patched[] is a statistic.
     */
    incq (%rax,%rcx,8)
1:  mov %r11, %rax
    add $0x7f, %al              /* OF = (al == 1) */
    sahf
    mov %rcx, %rax
    /* The kernel keeps the flags across the syscall and leaves them in r11. */
    jmp sbx_tramp_gate

.Lfast_restore_slow:
    mov %r11, %rax
    add $0x7f, %al
    sahf
    mov %rcx, %rax
    pushfq
    cld
    push %r9
    push %r8
    push %r10
    push %rdx
    push %rsi
    push %rdi
    push %rax
    sub $SBX_FAST_FRAME_NR, %rsp   /* struct sbx_fast_frame: ret, nr, a[6] (entry-abi.h) */
    mov %rsp, %rdi
    push %rbp
    mov %rsp, %rbp
    and $-16, %rsp
    call sbx_tramp_fast_call
    mov %rbp, %rsp
    pop %rbp
    test %eax, %eax
    pop %rax                    /* the result */
    pop %r11                    /* nr */
    pop %rdi
    pop %rsi
    pop %rdx
    pop %r10
    pop %r8
    pop %r9
    jz 2f
    mov %r11, %rax
    /* Past the frame and the flags: the stub's return address, moved to its trap path. */
    addq $SBX_RW_STUB_ALT_DELTA, (SBX_FAST_FRAME_RIP - SBX_FAST_FRAME_SIZE)(%rsp)
2:  mov (%rsp), %r11
    popfq
    ret
    .size sbx_tramp_fast_entry, . - sbx_tramp_fast_entry

    .section .note.GNU-stack, "", @progbits
