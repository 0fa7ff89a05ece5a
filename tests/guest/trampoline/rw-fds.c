/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trampoline's one kept descriptor (SBX_FD_STATS, which the launcher
 * keeps as `--stats` does) through a patched site: close, dup2, dup3 and
 * fcntl(F_SETFD) of them fail with EBADF, also when the descriptor comes
 * with high bits set (the kernel reads an unsigned int), while the same
 * calls on the guest's own descriptors below them stay plain passthrough
 * calls (the fast entry lets those through without leaving the fast path).
 * Natively, and without a MODE, only the guest's own descriptors are
 * checked.
 *
 *   rw-fds [MODE]    MODE: trap, rewrite or native (what to expect); without
 *                    it either state of the site is accepted
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "guest.h"
#include "sbx/abi.h"

long rwf_sys3(long nr, long a, long b, long c);
extern const uint8_t rwf_sys3_site[];

/* A register site with three arguments; its slot is in the padding after it. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl rwf_sys3\n.type rwf_sys3,@function\n"
        "rwf_sys3:\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    mov %rdx, %rsi\n"
        "    mov %rcx, %rdx\n"
        ".globl rwf_sys3_site\nrwf_sys3_site:\n"
        "    syscall\n"
        "    ret\n"
        ".size rwf_sys3, .-rwf_sys3\n"
        ".p2align 4\n");

#define HIGH 0x100000000L

int main(int argc, char **argv)
{
    guest_name = "rw-fds";
    const char *mode = argc > 1 ? argv[1] : "any";
    int sandboxed = !strcmp(mode, "trap") || !strcmp(mode, "rewrite");
    /* Two traps of a gated call patch the site (an ungated one never traps). */
    long fl = fcntl(0, F_GETFD);
    GUEST_CHECK(rwf_sys3(SYS_fcntl, 0, F_GETFD, 0) == fl, "fcntl(0, F_GETFD) through the site");
    GUEST_CHECK(rwf_sys3(SYS_fcntl, 0, F_GETFD, 0) == fl, "fcntl(0, F_GETFD) through the site");
    uint8_t b = rwf_sys3_site[0];
    if (!strcmp(mode, "rewrite"))
        GUEST_CHECK(b == 0xeb, "site not patched after two traps: %#x", b);
    else if (!strcmp(mode, "trap") || !strcmp(mode, "native"))
        GUEST_CHECK(b == 0x0f, "site patched without rewrite mode: %#x", b);

    const long kept[] = { SBX_FD_STATS };
    /* Natively (and without a MODE) those numbers are nothing special. */
    const unsigned nkept = sandboxed ? sizeof(kept) / sizeof(kept[0]) : 0;
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < nkept; i++) {
            long fd = kept[i];
            GUEST_CHECK(rwf_sys3(SYS_close, fd, 0, 0) == -EBADF, "close(%ld)", fd);
            GUEST_CHECK(rwf_sys3(SYS_close, fd | HIGH, 0, 0) == -EBADF, "close(%#lx)", fd | HIGH);
            GUEST_CHECK(rwf_sys3(SYS_dup2, 0, fd, 0) == -EBADF, "dup2(0, %ld)", fd);
            GUEST_CHECK(rwf_sys3(SYS_dup2, 0, fd | HIGH, 0) == -EBADF, "dup2(0, %#lx)", fd | HIGH);
            GUEST_CHECK(rwf_sys3(SYS_dup3, 0, fd, 0) == -EBADF, "dup3(0, %ld)", fd);
            GUEST_CHECK(rwf_sys3(SYS_fcntl, fd, F_SETFD, 0) == -EBADF, "fcntl(%ld, F_SETFD)", fd);
            GUEST_CHECK(rwf_sys3(SYS_fcntl, fd | HIGH, F_SETFD, 0) == -EBADF,
                        "fcntl(%#lx, F_SETFD)", fd | HIGH);
            long r = rwf_sys3(SYS_fcntl, fd, F_GETFD, 0);
            GUEST_CHECK(r >= 0, "fd %ld is no longer open: %ld", fd, r);
        }
        /* The guest's own descriptors: plain calls. */
        int p[2];
        GUEST_CHECK(pipe(p) == 0, "pipe");
        GUEST_CHECK(rwf_sys3(SYS_dup2, p[1], 100, 0) == 100, "dup2(%d, 100)", p[1]);
        GUEST_CHECK(rwf_sys3(SYS_dup3, p[1], 101, O_CLOEXEC) == 101, "dup3(%d, 101)", p[1]);
        GUEST_CHECK(rwf_sys3(SYS_fcntl, 101, F_GETFD, 0) == FD_CLOEXEC, "fcntl(101, F_GETFD)");
        GUEST_CHECK(rwf_sys3(SYS_fcntl, 101, F_SETFD, 0) == 0, "fcntl(101, F_SETFD)");
        GUEST_CHECK(rwf_sys3(SYS_fcntl, 101, F_GETFD, 0) == 0, "fcntl(101, F_GETFD) after");
        GUEST_CHECK(rwf_sys3(SYS_write, 100, (long)"z", 1) == 1, "write to the dup");
        char c = 0;
        GUEST_CHECK(read(p[0], &c, 1) == 1 && c == 'z', "read back");
        /* High bits: the kernel closes descriptor 100 for 0x100000064. */
        GUEST_CHECK(rwf_sys3(SYS_close, 100 | HIGH, 0, 0) == 0, "close(%#lx)", 100 | HIGH);
        GUEST_CHECK(rwf_sys3(SYS_close, 100, 0, 0) == -EBADF, "close(100) twice");
        GUEST_CHECK(rwf_sys3(SYS_close, 101, 0, 0) == 0, "close(101)");
        GUEST_CHECK(rwf_sys3(SYS_close, p[0], 0, 0) == 0 && rwf_sys3(SYS_close, p[1], 0, 0) == 0,
                    "close the pipe");
    }
    return guest_pass();
}
