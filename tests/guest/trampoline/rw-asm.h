/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hand-written syscall sites for the rewrite-mode guests: each function is
 * a symbol (a known start for the rewriter) holding one `mov $imm32,%eax ;
 * syscall` site (b8 imm32 0f 05), so the tests control exactly what gets
 * patched.  Include once per program.
 */
#pragma once

#include <errno.h>
#include <stdint.h>

#include "rw-regs.h"

/* Site functions: C calling convention in, raw kernel result out. */
long rw_getpid(void);                                                  /* site 39 */
long rw_getppid(void);                                                 /* site 110 */
long rw_read(long fd, void *buf, long n);                              /* site 0 */
long rw_fork(void);                                                    /* site 57 */
long rw_sigprocmask(long how, const void *set, void *oset, long size); /* site 14 */
long rw_munmap(void *addr, long len);                                  /* site 11 */
/*
 * Only the syscalls the trampoline gates trap and get patched lazily: these
 * make a gated call with a known answer and no side effect on the
 * rewriter (which munmap has, in threads), readlink(NULL, 1, 1): EFAULT.
 */
#define RW_GETFD_ANSWER (-(long)EFAULT)
long rw_getfd(void); /* site 89 */
/* Jumps straight to the `syscall` of its readlink site, eax = 89 too. */
long rw_branch_getfd(void);
extern const uint8_t rw_getpid_site[], rw_getppid_site[], rw_getfd_site[], rw_branch_site[];
extern const uint8_t rw_sigprocmask_site[], rw_munmap_site[];

/*
 * A leaf that fills its red zone and the registers a syscall preserves,
 * makes munmap(rdi = in[6], rsi = in[7]) through a site (in[6] is unaligned),
 * and stores into out[]: [0] the result, [1] the number of red-zone words
 * (16) that kept their value, [2] rbx, [3] rbp, [4] r12, [5] r13, [6] r14,
 * [7] r15, [8] rdi, [9] rsi, [10] rdx, [11] r8, [12] r9, [13] r10, [14] the
 * flags after it (CF and DF were set before).  in[] gives the values put into the registers.
 */
void rw_regs(uint64_t *out, const uint64_t *in);
extern const uint8_t rw_regs_site[];

#define RW_FLAG_CF 0x1
#define RW_FLAG_DF 0x400

/* Assembler text, one instruction a line, with the RW_REGS_* pieces between. */
/* clang-format off */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl rw_getpid\n.type rw_getpid,@function\n"
        "rw_getpid:\n"
        ".globl rw_getpid_site\nrw_getpid_site:\n"
        "    mov $39, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_getpid, .-rw_getpid\n"

        ".p2align 4\n"
        ".globl rw_getppid\n.type rw_getppid,@function\n"
        "rw_getppid:\n"
        ".globl rw_getppid_site\nrw_getppid_site:\n"
        "    mov $110, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_getppid, .-rw_getppid\n"

        ".p2align 4\n"
        ".globl rw_read\n.type rw_read,@function\n"
        "rw_read:\n"
        "    mov $0, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_read, .-rw_read\n"

        ".p2align 4\n"
        ".globl rw_fork\n.type rw_fork,@function\n"
        "rw_fork:\n"
        "    mov $57, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_fork, .-rw_fork\n"

        ".p2align 4\n"
        ".globl rw_sigprocmask\n.type rw_sigprocmask,@function\n"
        "rw_sigprocmask:\n"
        "    mov %rcx, %r10\n"
        ".globl rw_sigprocmask_site\nrw_sigprocmask_site:\n"
        "    mov $14, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_sigprocmask, .-rw_sigprocmask\n"

        ".p2align 4\n"
        ".globl rw_munmap\n.type rw_munmap,@function\n"
        "rw_munmap:\n"
        ".globl rw_munmap_site\nrw_munmap_site:\n"
        "    mov $11, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_munmap, .-rw_munmap\n"

        ".p2align 4\n"
        ".globl rw_getfd\n.type rw_getfd,@function\n"
        "rw_getfd:\n"
        "    xor %edi, %edi\n"
        "    mov $1, %esi\n"
        "    mov $1, %edx\n"
        ".globl rw_getfd_site\nrw_getfd_site:\n"
        "    mov $89, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rw_getfd, .-rw_getfd\n"

        /* Jumps over its mov to the syscall. */
        ".p2align 4\n"
        ".globl rw_branch_getfd\n.type rw_branch_getfd,@function\n"
        "rw_branch_getfd:\n"
        "    xor %edi, %edi\n"
        "    mov $1, %esi\n"
        "    mov $1, %edx\n"
        "    mov $89, %eax\n"
        "    jmp 1f\n"
        ".globl rw_branch_site\nrw_branch_site:\n"
        "    mov $89, %eax\n"
        "1:  syscall\n"
        "    ret\n"
        ".size rw_branch_getfd, .-rw_branch_getfd\n"

        ".p2align 4\n"
        ".globl rw_regs\n.type rw_regs,@function\n"
        "rw_regs:\n"
        RW_REGS_ENTER
        "    stc\n"
        "    std\n"
        ".globl rw_regs_site\nrw_regs_site:\n"
        "    mov $11, %eax\n"
        "    syscall\n"
        /* Flags first, from below the red zone. */
        "    lea -128(%rsp), %rsp\n"
        "    pushf\n"
        "    pop %rcx\n"
        "    lea 128(%rsp), %rsp\n"
        "    cld\n"
        RW_REGS_RETURN
        ".size rw_regs, .-rw_regs\n");
/* clang-format on */
