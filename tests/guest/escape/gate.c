/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trampoline attacked from its own address space: a mount issued
 * straight at the gate (the one syscall instruction the filter lets through
 * to the policy), the gate's page made writable through the gate itself and
 * rewritten with code of the guest's, whose syscall sits where the gate's
 * did, and the SIGSYS handler's code overwritten before a trapped call.
 * None of it gets past the policy.  In `off` mode there is no trampoline
 * and the program says so.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "escape.h"
#include "layout.h"

static long gate_call(uintptr_t gate, long nr, long a1, long a2, long a3)
{
    long ret;
    __asm__ volatile("sub $128, %%rsp\n\t"
                     "call *%[gate]\n\t"
                     "add $128, %%rsp"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), [gate] "r"(gate)
                     : "rcx", "r11", "r10", "r8", "r9", "memory");
    return ret;
}

static void say_raw(const char *label, long r)
{
    esc_say(label, r < 0 && r > -4096 ? (int)-r : 0);
}

static int page_mapped(uintptr_t addr)
{
    unsigned char vec;
    return mincore((void *)(addr & ~0xfffUL), 4096, &vec) == 0;
}

static const uintptr_t gate = SBX_TRAMPOLINE_GATE;

static int rewrite_gate(void *unused)
{
    (void)unused;
    uintptr_t page = gate & ~0xfffUL;
    long r = gate_call(gate, SYS_mprotect, (long)page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    say_raw("gate-mprotect", r);
    if (r < 0)
        return 0;
    /* syscall ; ret at the gate's own address, written by the guest. */
    static const unsigned char code[] = { 0x0f, 0x05, 0xc3 };
    memcpy((void *)gate, code, sizeof(code));
    say_raw("rewritten-gate-mount",
            gate_call(gate, SYS_mount, (long)"none", (long)"/tmp", (long)"tmpfs"));
    /* The same bytes further on: not the gate, so the filter traps them. */
    memcpy((void *)(gate + 64), code, sizeof(code));
    say_raw("copied-gate-mount",
            gate_call(gate + 64, SYS_mount, (long)"none", (long)"/tmp", (long)"tmpfs"));
    return 0;
}

static int smash_handler(void *unused)
{
    (void)unused;
    uintptr_t page = gate & ~0xfffUL;
    if (gate_call(gate, SYS_mprotect, (long)page, 0x4000, PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
        return EPERM;
    /* Everything but the gate itself becomes int3. */
    memset((void *)page, 0xcc, gate - page);
    memset((void *)(gate + 3), 0xcc, 0x4000 - (gate + 3 - page));
    return esc_rc(syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
}

int main(void)
{
    if (!page_mapped(gate)) {
        puts("gate absent");
        return 0;
    }
    say_raw("gate-mount", gate_call(gate, SYS_mount, (long)"none", (long)"/tmp", (long)"tmpfs"));
    say_raw("gate-unshare", gate_call(gate, SYS_unshare, 0x10000000, 0, 0));
    esc_child("rewrite", rewrite_gate, NULL);
    esc_child("smash-then-mount", smash_handler, NULL);
    return 0;
}
