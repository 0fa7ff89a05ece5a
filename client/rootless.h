/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Rootless runs: a private daemon in a user namespace of the caller's, with no root anywhere. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "sbx/error.h"

struct sbx_rootless {
    bool active;                   /* sandboxctl is in its user and mount namespaces */
    bool cgroup;                   /* the caller's own cgroup is delegated (writable) */
    char state_dir[PATH_MAX - 32]; /* the private daemon's, the caller's own */
    char mnt[PATH_MAX];            /* fuse2fs's mount point, or "" */
    pid_t fuse;                    /* fuse2fs serving an image there, or 0 */
};

/*
 * Moves sandboxctl into a new user namespace where the caller is uid 0
 * (guest ids 0-65535 onto the caller and its subordinate range when
 * /etc/subuid and /etc/subgid give one and newuidmap exists, else the
 * caller's own ids alone) and a new mount namespace, and makes the private
 * daemon's state directory.  -errno with e saying what failed and the fix;
 * the notes of a run with less (only the own ids, no delegated cgroup) are
 * printed.
 */
int sbx_rootless_enter(struct sbx_rootless *rl, struct sbx_error *e);

/*
 * The root to send for what the caller named (path, opened as fd before
 * sandboxctl entered its namespaces): a directory, opened again inside them
 * (the daemon can clone only a mount of its own namespace) and checked to
 * be the same; or an ext4 image, served read-only by fuse2fs, whose mount's
 * root is returned.  A new fd, or -errno with e set.
 */
int sbx_rootless_root(struct sbx_rootless *rl, const char *path, int fd, struct sbx_error *e);

/*
 * Refuses the run's limit options (RUN's "memory=..." and the like) when no
 * cgroup would enforce them, naming the fix.  0, or -EPERM with e set.
 */
int sbx_rootless_check_limits(const struct sbx_rootless *rl, char *const *options, uint32_t n,
                              struct sbx_error *e);

/* Unmounts fuse2fs's mount and waits for fuse2fs to end. */
void sbx_rootless_done(struct sbx_rootless *rl);
