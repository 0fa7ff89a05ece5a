/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an fd a client sends proves: the access it was opened with. */
#pragma once

#include <stddef.h>

#include "sbx/error.h"

/*
 * A client proves a right to a file only by the access its fd was opened
 * with: fstat answers on any fd, an O_PATH one too, which anyone who can
 * search the directory may open.  need is a mask of these; 0 asks only that
 * the fd is a real open file (not O_PATH).
 */
enum sbx_fdcheck_need {
    SBX_FDCHECK_READ = 1 << 0,  /* opened O_RDONLY or O_RDWR */
    SBX_FDCHECK_WRITE = 1 << 1, /* opened O_WRONLY or O_RDWR */
};

/*
 * Returns 0 when fd was opened with every access in need, else -EBADF and
 * *ret_why, a phrase for people saying what the fd lacks.
 */
int sbx_fdcheck_access(int fd, unsigned need, const char **ret_why);

/*
 * A process's stdio from a client (RUN, EXEC): each fd must be a real open
 * file (not O_PATH, which proves nothing yet could be reopened through
 * /proc/self/fd) and not a directory (openat(fd, "..") would walk out of
 * the root).  Which way each is open is the caller's business, as natively.
 * On failure e names the stream and its fd number in the frame (first is
 * stdin's), as "stdin (FRAME fd N): why".
 */
int sbx_fdcheck_stdio(const int fds[3], const char *frame, int first, struct sbx_error *e);
