/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by the hosted parts: cleanup attributes and ownership hand-off. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand ownership of a pointer or fd out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _p = (p);                                                                    \
        (p) = NULL;                                                                                \
        _p;                                                                                        \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd = (fd);                                                                            \
        (fd) = -EBADF;                                                                             \
        _fd;                                                                                       \
    })

static inline void sbx_freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(sbx_freep)

/* Closes an fd and keeps errno intact, so that it can run on error paths. */
static inline int sbx_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -EBADF;
}
static inline void sbx_closep(int *fd)
{
    *fd = sbx_close(*fd);
}
#define _cleanup_close_ _cleanup_(sbx_closep)

/* Negative errno of the last failed libc call, never 0. */
static inline int sbx_neg_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}
