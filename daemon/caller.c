/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon/caller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "sbx/macro.h"

static void read_groups(int fd, struct sbx_caller *c)
{
    /*
     * With a buffer too small the kernel answers ERANGE and the size it
     * needs; the groups were taken at connect() and do not grow between the
     * two calls.
     */
    socklen_t len = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0 || errno != ERANGE || !len)
        return;
    gid_t *groups = malloc(len);
    if (!groups)
        return;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
        free(groups);
        return;
    }
    c->groups = groups;
    c->n_groups = len / sizeof(gid_t);
}

int sbx_caller_from_socket(int fd, struct sbx_caller *ret)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return sbx_neg_errno();
    *ret = (struct sbx_caller){ .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
    read_groups(fd, ret);
    return 0;
}

void sbx_caller_done(struct sbx_caller *c)
{
    free(c->groups);
    c->groups = NULL;
    c->n_groups = 0;
}
