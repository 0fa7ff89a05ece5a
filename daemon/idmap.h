/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* User namespace id maps: a sandbox's, and namespaces made only to idmap a mount. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Writes uid_map and gid_map ("INSIDE OUTSIDE COUNT" lines) of pid's user namespace. */
int sbx_idmap_write(pid_t pid, const char *uid_map, const char *gid_map);

/*
 * A new user namespace with these maps, held by its fd alone (the process
 * made to own it is gone): for mount_setattr(MOUNT_ATTR_IDMAP).  Its fd, or -errno.
 */
int sbx_idmap_userns(const char *uid_map, const char *gid_map);

/*
 * The map of a bind mount's idmap: host id `caller` appears as `to` (an id
 * of the block from `block`, SBX_IDRANGE_SIZE long), every other host id
 * outside the block as itself, so that the guest has on the bind what the
 * caller's "other" and own permissions give, and what it makes there is the
 * caller's.  Lines into buf; -ENAMETOOLONG if it is too small.
 */
int sbx_idmap_bind_map(uint32_t caller, uint32_t to, uint32_t block, char *buf, size_t len);

/* Idmaps the detached mount tree mnt (recursively) with the user namespace userns_fd. */
int sbx_idmap_mount(int mnt, int userns_fd);
