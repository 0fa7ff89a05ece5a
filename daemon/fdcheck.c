/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The access check behind every fd a client sends (image, stdio, bind
 * sources): the daemon is root, so what it does with a client's fd must be
 * what the client's own open already allowed.
 */
#include "daemon/fdcheck.h"

#include <errno.h>
#include <fcntl.h>

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
