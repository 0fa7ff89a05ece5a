/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest cannot get around the policy or break the trampoline: a mount
 * issued straight at the gate still gets the policy's EPERM, and the
 * trampoline's mappings refuse to be unmapped; of sandbox init's
 * descriptors at most the stats page's is left (the launcher asks for it as
 * `--stats` does), and it is the guest's to close like any other.
 */
#include <stdint.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "guest.h"
#include "layout.h"
#include "sbx/abi.h"

/* Calls the gate (`syscall; ret`) with the kernel's syscall convention. */
static long gate_call(long nr, long a1, long a2, long a3, long a4, long a5)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    long ret;
    __asm__ volatile("sub $128, %%rsp\n\t"
                     "call *%[gate]\n\t"
                     "add $128, %%rsp"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
                       "r"(r8), [gate] "r"((uintptr_t)SBX_TRAMPOLINE_GATE)
                     : "rcx", "r11", "memory");
    return ret;
}

int main(void)
{
    guest_name = "gate";
    long r = gate_call(SYS_mount, (long)"none", (long)"/mnt", (long)"tmpfs", 0, 0);
    GUEST_CHECK(r == -EPERM, "mount through the gate returned %ld", r);
    GUEST_CHECK(gate_call(SYS_getppid, 0, 0, 0, 0, 0) == getppid(), "getppid through the gate");
    GUEST_CHECK(mount("none", "/mnt", "tmpfs", 0, NULL) == -1 && errno == EPERM, "mount()");

    void *gate_page = (void *)(uintptr_t)(SBX_TRAMPOLINE_GATE & ~0xfffULL);
    GUEST_CHECK(munmap(gate_page, 4096) == -1 && errno == EINVAL, "munmap of the trampoline");
    GUEST_CHECK(mprotect(gate_page, 4096, PROT_READ | PROT_WRITE) == -1, "mprotect");
    GUEST_CHECK(mmap(gate_page, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
                    MAP_FAILED,
                "mmap MAP_FIXED over the trampoline");

    GUEST_CHECK(fcntl(SBX_FD_TRAMPOLINE, F_GETFD) == -1, "trampoline fd left open");
    GUEST_CHECK(fcntl(SBX_FD_POLICY, F_GETFD) == -1, "policy fd left open");
    GUEST_CHECK(fcntl(SBX_FD_STATUS, F_GETFD) == -1, "status fd left open");
    GUEST_CHECK(dup2(0, SBX_FD_TRAMPOLINE) == SBX_FD_TRAMPOLINE, "dup2 onto 1023");
    GUEST_CHECK(syscall(SYS_close_range, 3, ~0U, 0) == 0, "close_range");
    GUEST_CHECK(fcntl(SBX_FD_TRAMPOLINE, F_GETFD) == -1, "close_range left 1023 open");
    GUEST_CHECK(fcntl(SBX_FD_STATS, F_GETFD) == -1, "close_range left 1021 open");

    int fd = dup(1);
    GUEST_CHECK(fd > 2, "dup");
    GUEST_CHECK(syscall(SYS_close_range, 0, fd, CLOSE_RANGE_CLOEXEC) == 0, "close_range from 0");
    GUEST_CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC, "close_range(0, %d) left fd %d alone", fd, fd);
    for (int i = 0; i <= 2; i++)
        fcntl(i, F_SETFD, 0);
    close(fd);
    return guest_pass();
}
