/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is on the other end of a connection: its ids and supplementary groups,
 * read once from the socket when the connection is accepted, and handed on
 * as this plain struct to the code that decides what the caller may do, so
 * that none of it reads the connection or /proc.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sbx_caller {
    pid_t pid; /* as of connect(), for messages only */
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups as of connect(); owned */
    size_t n_groups;
};

/*
 * Reads SO_PEERCRED and SO_PEERGROUPS of a connected AF_UNIX socket.  The
 * kernel took both at connect(): they do not change afterwards.  When the
 * groups cannot be read the caller has none but its primary one, so that a
 * failure never grants a membership.  -errno when SO_PEERCRED fails.
 */
int sbx_caller_from_socket(int fd, struct sbx_caller *ret);
void sbx_caller_done(struct sbx_caller *c);

/* Whether the caller has gid as its primary or a supplementary group. */
static inline bool sbx_caller_in_group(const struct sbx_caller *c, gid_t gid)
{
    if (c->gid == gid)
        return true;
    for (size_t i = 0; i < c->n_groups; i++)
        if (c->groups[i] == gid)
            return true;
    return false;
}
