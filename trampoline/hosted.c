/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two syscall helpers rewrite-elf.c calls, for its hosted builds (the
 * decoder tests and sbx-sitemap): libc's syscall(2) and pread(2).  The
 * trampoline itself has its own, in entry.S and util.c.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tramp.h"

long sbx_tramp_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long r = syscall(nr, a1, a2, a3, a4, a5, a6);
    return r == -1 ? -errno : r;
}

long sbx_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}
