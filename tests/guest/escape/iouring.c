/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring: a ring of its own, whose operations would run in the kernel's
 * workers, out of the seccomp filter's sight.
 */
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(SYS_io_uring_setup, 4, &p);
    esc_report("setup", fd);
    if (fd >= 0)
        close((int)fd);
    /* No ring behind fd 999: EBADF from the kernel. */
    esc_report("enter", syscall(SYS_io_uring_enter, 999, 0, 0, 0, NULL, 0));
    esc_report("register", syscall(SYS_io_uring_register, 999, 0, NULL, 0));
    return 0;
}
