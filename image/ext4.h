/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing an image tree as an ext4 filesystem with libext2fs, in one pass. */
#pragma once

#include <stdint.h>

#include "image/tree.h"
#include "sbx/error.h"

#define SBX_EXT4_BLOCK_SIZE 4096

/*
 * The size the filesystem of t needs: its content (data, directory,
 * symlink and xattr blocks) plus 10 %, plus the inode tables of its
 * inodes plus 10 %, plus 16 MiB, in MiB steps.
 */
uint64_t sbx_ext4_size(const struct sbx_tree *t);

/* Progress: inodes written of the total. */
typedef void (*sbx_ext4_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * Writes the filesystem of t to fd (an empty regular file, made `bytes`
 * long here).  seed (32 bytes, from the input) gives the UUID and the
 * directory hash seed; every time in it is the input's.  Fails with err
 * naming the entry the filesystem could not take.
 */
int sbx_ext4_write(struct sbx_tree *t, int fd, uint64_t bytes, const uint8_t seed[32],
                   sbx_ext4_progress_fn progress, void *progress_ctx, struct sbx_error *e);
