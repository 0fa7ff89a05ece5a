/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Descriptor calls through a patched site behave natively at every number:
 * close, dup2, dup3 and fcntl on 1019-1023 (where the trampoline once kept
 * its own descriptors, and guarded them with EBADF) and on the guest's own
 * lower descriptors, also when the descriptor comes with high bits set (the
 * kernel reads an unsigned int).  The trampoline gates none of these calls:
 * through a patched site they take the fast entry's passthrough.  Natively,
 * and without a MODE, the same results are expected and only the site's
 * state is not checked.
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
    /* Two traps of a gated call (munmap) patch the site. */
    GUEST_CHECK(rwf_sys3(SYS_munmap, 1, 1, 0) == -EINVAL, "munmap(1, 1) through the site");
    GUEST_CHECK(rwf_sys3(SYS_munmap, 1, 1, 0) == -EINVAL, "munmap(1, 1) through the site");
    uint8_t b = rwf_sys3_site[0];
    if (!strcmp(mode, "rewrite"))
        GUEST_CHECK(b == 0xeb, "site not patched after two traps: %#x", b);
    else if (!strcmp(mode, "trap") || !strcmp(mode, "native"))
        GUEST_CHECK(b == 0x0f, "site patched without rewrite mode: %#x", b);

    for (int round = 0; round < 3; round++) {
        for (long fd = 1019; fd <= 1023; fd++) {
            long hi = fd | HIGH;
            GUEST_CHECK(rwf_sys3(SYS_dup2, 0, fd, 0) == fd, "dup2(0, %ld)", fd);
            GUEST_CHECK(rwf_sys3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC) == 0, "fcntl(%ld, F_SETFD)",
                        fd);
            GUEST_CHECK(rwf_sys3(SYS_fcntl, hi, F_GETFD, 0) == FD_CLOEXEC, "fcntl(%#lx, F_GETFD)",
                        hi);
            GUEST_CHECK(rwf_sys3(SYS_close, hi, 0, 0) == 0, "close(%#lx)", hi);
            GUEST_CHECK(rwf_sys3(SYS_close, fd, 0, 0) == -EBADF, "close(%ld) twice", fd);
            GUEST_CHECK(rwf_sys3(SYS_dup3, 0, hi, O_CLOEXEC) == fd, "dup3(0, %#lx)", hi);
            GUEST_CHECK(rwf_sys3(SYS_close, fd, 0, 0) == 0, "close(%ld)", fd);
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
