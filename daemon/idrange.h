/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host ids for sandboxes' user namespaces: the subordinate uid and gid ranges
 * of one dedicated user (/etc/subuid, /etc/subgid), cut into blocks of
 * SBX_IDRANGE_SIZE ids, one block per live sandbox.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/error.h"

/* Whose subordinate ids the daemon hands out, and where they are, unless configured. */
#define SBX_IDRANGE_DEFAULT_USER "sandboxd"
#define SBX_IDRANGE_DEFAULT_SUBUID "/etc/subuid"
#define SBX_IDRANGE_DEFAULT_SUBGID "/etc/subgid"
/*
 * Where every daemon of the host locks the blocks it hands out, so that two
 * daemons given the same ranges (a service and a root `sandboxctl run` with
 * no daemon, or two services on two sockets) never give two sandboxes one block.
 */
#define SBX_IDRANGE_DEFAULT_LOCK "/run/sandboxd-ids.lock"

/* Guest ids 0..SBX_IDRANGE_SIZE-1 map to one block of host ids. */
#define SBX_IDRANGE_SIZE 65536u
/* Blocks one daemon hands out at most (the rest of a larger range stays unused). */
#define SBX_IDRANGE_MAX_BLOCKS 65536u
/* Ranges read per file at most. */
#define SBX_IDRANGE_MAX_RANGES 64u

struct sbx_idrange {
    uint32_t start, count;
};

/* One block: guest ids 0.. map to host uids from uid and host gids from gid. */
struct sbx_ids {
    int block; /* -1: none (the host's user namespace) */
    uint32_t uid, gid;
};

struct sbx_idrange_pool {
    uint32_t *uid_base, *gid_base; /* block i's first host uid and gid */
    uint8_t *used;                 /* one bit per block */
    unsigned n_blocks, n_used;
    int lock_fd; /* the host-wide lock file (sbx_idrange_lock), or -1 */
};

/*
 * The ranges of user (by name, or by uid when it has one) in the text of a
 * subuid or subgid file: lines NAME:START:COUNT, '#' comments.  A range that
 * would wrap or reach id 2^32-1, a malformed line, or more than max ranges is
 * refused (-EINVAL, -E2BIG) with line set to its number.
 */
int sbx_idrange_parse(const char *text, const char *user, const uid_t *uid, struct sbx_idrange *ret,
                      size_t max, size_t *ret_n, unsigned *line);

/*
 * Builds the pool from the two files.  A missing file, or a file with no
 * range of the user, gives an empty pool (0); a file that cannot be read or
 * is malformed gives -errno with e saying which and where.
 */
int sbx_idrange_load(struct sbx_idrange_pool *p, const char *user, const char *subuid,
                     const char *subgid, struct sbx_error *e);
/* Builds the pool from parsed ranges: blocks at whole multiples of SBX_IDRANGE_SIZE in each. */
int sbx_idrange_init(struct sbx_idrange_pool *p, const struct sbx_idrange *uids, size_t n_uids,
                     const struct sbx_idrange *gids, size_t n_gids);
void sbx_idrange_pool_free(struct sbx_idrange_pool *p);

static inline bool sbx_idrange_configured(const struct sbx_idrange_pool *p)
{
    return p->n_blocks > 0;
}

/*
 * Opens (creating it, mode 0600) the lock file that every daemon of the host
 * shares: from then on a block is handed out only while this pool holds an
 * OFD write lock on its uid and gid ranges in that file (byte offsets uid and
 * 2^32 + gid), which the kernel drops when the daemon ends however it ends.
 * The file must be a regular file of the daemon's own uid.
 */
int sbx_idrange_lock(struct sbx_idrange_pool *p, const char *path, struct sbx_error *e);

/*
 * The lowest block free here and, with a lock file, not held by another
 * daemon; -ENOSPC when there is none, another -errno when the lock fails.
 */
int sbx_idrange_alloc(struct sbx_idrange_pool *p, struct sbx_ids *ret);
/* Gives back a block (ids->block -1: nothing); ids->block becomes -1. */
void sbx_idrange_release(struct sbx_idrange_pool *p, struct sbx_ids *ids);
/* The block that host uid belongs to, or -1. */
int sbx_idrange_block_of(const struct sbx_idrange_pool *p, uint32_t uid);
/* Marks a block in use (a process of it outlived the daemon that ran it); false if it was. */
bool sbx_idrange_mark(struct sbx_idrange_pool *p, int block);
/*
 * Marks in use every block that a process of the host runs as (its real,
 * effective or saved uid): a sandbox of a daemon that ended may not be gone
 * yet.  The number of blocks marked.
 */
unsigned sbx_idrange_mark_running(struct sbx_idrange_pool *p);
