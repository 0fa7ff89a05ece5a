/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two ends of the register/red-zone leaf functions of the rewrite-mode
 * guests (rw_regs in rw-asm.h, rws_regs in rw-syscalls.c), as assembler
 * text, for f(uint64_t *out, const uint64_t *in).
 *
 * RW_REGS_ENTER saves the callee-saved registers, pushes out, fills the 16
 * red-zone words below the stack pointer with a pattern and loads rbx, rbp,
 * r12-r15, rdi, rsi, rdx, r8-r10 from in[0..11]; rax then points at in[].
 */
#pragma once

/* Assembler text, one instruction a line. */
/* clang-format off */
#define RW_REGS_ENTER \
    "    push %rbx\n" \
    "    push %rbp\n" \
    "    push %r12\n" \
    "    push %r13\n" \
    "    push %r14\n" \
    "    push %r15\n" \
    "    push %rdi\n" \
    "    mov %rsi, %rax\n" \
    "    movabs $0x0101010101010101, %r8\n" \
    "    mov $16, %ecx\n" \
    "2:  mov %rcx, %rdx\n" \
    "    imul %r8, %rdx\n" \
    "    neg %rcx\n" \
    "    mov %rdx, (%rsp,%rcx,8)\n" \
    "    neg %rcx\n" \
    "    dec %rcx\n" \
    "    jnz 2b\n" \
    "    mov 0(%rax), %rbx\n" \
    "    mov 8(%rax), %rbp\n" \
    "    mov 16(%rax), %r12\n" \
    "    mov 24(%rax), %r13\n" \
    "    mov 32(%rax), %r14\n" \
    "    mov 40(%rax), %r15\n" \
    "    mov 48(%rax), %rdi\n" \
    "    mov 56(%rax), %rsi\n" \
    "    mov 64(%rax), %rdx\n" \
    "    mov 72(%rax), %r8\n" \
    "    mov 80(%rax), %r9\n" \
    "    mov 88(%rax), %r10\n"

/*
 * RW_REGS_RETURN: with the syscall's result in rax and the flags in rcx,
 * stores them, rbx, rbp, r12-r15, rdi, rsi, rdx, r8-r10 into out[] (its
 * address pushed last, at (%rsp)), counts the 16 red-zone words that kept
 * their value into out[1], restores the callee-saved registers and returns.
 */
#define RW_REGS_RETURN \
    "    mov (%rsp), %r11\n" \
    "    mov %rax, 0(%r11)\n" \
    "    mov %rcx, 112(%r11)\n" \
    "    mov %rbx, 16(%r11)\n" \
    "    mov %rbp, 24(%r11)\n" \
    "    mov %r12, 32(%r11)\n" \
    "    mov %r13, 40(%r11)\n" \
    "    mov %r14, 48(%r11)\n" \
    "    mov %r15, 56(%r11)\n" \
    "    mov %rdi, 64(%r11)\n" \
    "    mov %rsi, 72(%r11)\n" \
    "    mov %rdx, 80(%r11)\n" \
    "    mov %r8, 88(%r11)\n" \
    "    mov %r9, 96(%r11)\n" \
    "    mov %r10, 104(%r11)\n" \
    "    xor %eax, %eax\n" \
    "    movabs $0x0101010101010101, %r8\n" \
    "    mov $16, %ecx\n" \
    "3:  mov %rcx, %rdx\n" \
    "    imul %r8, %rdx\n" \
    "    neg %rcx\n" \
    "    cmp %rdx, (%rsp,%rcx,8)\n" \
    "    jne 4f\n" \
    "    inc %eax\n" \
    "4:  neg %rcx\n" \
    "    dec %rcx\n" \
    "    jnz 3b\n" \
    "    mov %rax, 8(%r11)\n" \
    "    pop %rdi\n" \
    "    pop %r15\n" \
    "    pop %r14\n" \
    "    pop %r13\n" \
    "    pop %r12\n" \
    "    pop %rbp\n" \
    "    pop %rbx\n" \
    "    ret\n"
/* clang-format on */
