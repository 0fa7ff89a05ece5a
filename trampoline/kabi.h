/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel ABI structures the trampoline uses directly (it has no libc):
 * rt_sigaction's struct, the SIGSYS siginfo, the x86-64 ucontext.
 *
 * Signal-safety contract: type definitions only.
 */
#pragma once

#include <stdint.h>
#include <asm/sigcontext.h>

#define SBX_SIGSYS 31
#define SBX_SIGKILL 9
#define SBX_SIGSTOP 19
#define SBX_SIGBIT(s) (1ULL << ((s)-1))
#define SBX_SYS_SECCOMP 1
#define SBX_SI_USER 0
#define SBX_SI_TKILL (-6)

#define SBX_SA_SIGINFO 0x00000004UL
#define SBX_SA_RESTORER 0x04000000UL
#define SBX_SA_NODEFER 0x40000000UL
#define SBX_SA_RESETHAND 0x80000000UL
#define SBX_SIG_DFL 0UL
#define SBX_SIG_IGN 1UL

struct sbx_ksigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};

struct sbx_siginfo {
    int32_t si_signo;
    int32_t si_errno;
    int32_t si_code;
    int32_t pad0;
    uint64_t call_addr; /* SIGSYS: address after the syscall instruction */
    int32_t syscall;
    uint32_t arch;
    uint8_t rest[128 - 32];
};

struct sbx_ucontext {
    uint64_t uc_flags;
    uint64_t uc_link;
    uint64_t ss_sp;
    int32_t ss_flags;
    int32_t ss_pad;
    uint64_t ss_size;
    struct sigcontext mc;
    uint64_t uc_sigmask;
};

_Static_assert(sizeof(struct sigcontext) == 256, "x86-64 sigcontext");
_Static_assert(__builtin_offsetof(struct sbx_ucontext, mc) == 40, "ucontext layout");
_Static_assert(__builtin_offsetof(struct sbx_ucontext, uc_sigmask) == 296, "ucontext layout");
