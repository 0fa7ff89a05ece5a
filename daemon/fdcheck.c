/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The access check behind every fd a client sends (image, stdio, bind
 * sources): the daemon is root, so what it does with a client's fd must be
 * what the client's own open already allowed.
 */
#include "daemon/fdcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "sbx/macro.h"

int sbx_fdcheck_access(int fd, unsigned need, const char **ret_why)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        *ret_why = "not an open fd";
        return -EBADF;
    }
    if (fl & O_PATH) {
        *ret_why = "an O_PATH fd, which proves no right to read or write the file";
        return -EBADF;
    }
    int acc = fl & O_ACCMODE;
    if ((need & SBX_FDCHECK_READ) && acc != O_RDONLY && acc != O_RDWR) {
        *ret_why = "not open for reading";
        return -EBADF;
    }
    if ((need & SBX_FDCHECK_WRITE) && acc != O_WRONLY && acc != O_RDWR) {
        *ret_why = "not open for writing";
        return -EBADF;
    }
    return 0;
}

int sbx_fdcheck_stdio(const int fds[3], const char *frame, int first, struct sbx_error *e)
{
    static const char *const names[] = { "stdin", "stdout", "stderr" };
    for (int i = 0; i < 3; i++) {
        const char *why;
        struct stat st;
        int r = sbx_fdcheck_access(fds[i], 0, &why);
        if (r >= 0 && fstat(fds[i], &st) < 0) {
            why = "cannot be examined (fstat failed)";
            r = sbx_neg_errno();
        } else if (r >= 0 && S_ISDIR(st.st_mode)) {
            why = "a directory, which would give the guest a way out of its root";
            r = -EISDIR;
        }
        if (r < 0)
            return sbx_error_set(e, r, "%s (%s fd %d): %s", names[i], frame, i + first, why);
    }
    return 0;
}
