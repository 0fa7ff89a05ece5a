/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One read or one write of a small kernel file (procfs, cgroupfs): what
 * such files take or give in a single call, which is what their interfaces
 * promise (a uid_map or a cgroup limit is taken in one write or not at all).
 */
#pragma once

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

/* Reads up to len - 1 bytes of path into buf, NUL-terminated; their count or -errno. */
static inline int sbx_read_small(const char *path, char *buf, size_t len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sbx_neg_errno();
    ssize_t n = read(fd, buf, len - 1);
    if (n < 0)
        return sbx_neg_errno();
    buf[n] = '\0';
    return (int)n;
}

/* Writes text to path in one write: 0, -errno, or -EIO when the file took only part. */
static inline int sbx_write_small(const char *path, const char *text)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return sbx_neg_errno();
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (n < 0)
        return sbx_neg_errno();
    return (size_t)n == len ? 0 : -EIO;
}
