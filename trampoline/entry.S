/*
 * Assembly of the trampoline: the gate, the process entry, the jump into the
 * guest, the signal restorer and the landing pad of cloned children.
 *
 * Signal-safety contract: no state and no stack use beyond what each routine
 * documents; every routine is reentrant.  The gate is the only `syscall`
 * instruction the filter lets through (besides rt_sigreturn and the startup
 * probe, which is meant to trap).
 */

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
    lea -8192(%rsp), %rsp
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
    mov $15, %eax
    syscall
    hlt
    .size sbx_tramp_restorer, . - sbx_tramp_restorer

/*
 * long sbx_tramp_probe_syscall(nr): a syscall outside the gate.  Under our
 * filter it traps; the handler notices the address and passes it through.
 */
    .globl sbx_tramp_probe_syscall
    .hidden sbx_tramp_probe_syscall
    .type sbx_tramp_probe_syscall, @function
    .globl sbx_tramp_probe_ret
    .hidden sbx_tramp_probe_ret
sbx_tramp_probe_syscall:
    mov %rdi, %rax
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

    .section .note.GNU-stack, "", @progbits
