/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext4 superblock of a guest image, read by the daemon itself: what it
 * refuses before mounting, and why the kernel refused a mount (ext4 logs its
 * reasons to the kernel log only, never to the fs context).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/error.h"

#define SBX_IMAGE_SUPER_OFFSET 1024 /* bytes into the device */
#define SBX_IMAGE_SUPER_SIZE 1024

/* The few fields the daemon looks at, decoded from their little-endian bytes. */
struct sbx_image_super {
    uint16_t magic;          /* 0xef53 */
    uint32_t log_block_size; /* block size = 1024 << log_block_size */
    uint64_t blocks_count;   /* with the high half when the 64bit feature is on */
    uint32_t blocks_per_group;
    uint32_t first_data_block;
    uint32_t inodes_count, inodes_per_group;
    uint16_t inode_size; /* 128 for revision 0, which has no field for it */
    uint16_t desc_size;  /* of a group descriptor: 32 without the 64bit feature */
    uint32_t feature_compat, feature_incompat, feature_ro_compat;
    uint32_t default_mount_opts; /* EXT4_DEFM_* bits (tune2fs -o) */
    char mount_opts[65];         /* s_mount_opts (tune2fs -E mount_opts=), NUL-terminated */
    bool csum_ok;                /* its checksum matches, or it has none (no metadata_csum) */
};

/* Optional features that this kernel may have been built without. */
#define SBX_IMAGE_KERNEL_ENCRYPT (1u << 0)
#define SBX_IMAGE_KERNEL_CASEFOLD (1u << 1)

/* Decodes a superblock; every value is taken as it is, none is trusted. */
void sbx_image_super_decode(const unsigned char raw[SBX_IMAGE_SUPER_SIZE],
                            struct sbx_image_super *ret);

/* Reads and decodes the superblock of fd (bounded pread): 0, -ENODATA when fd is too short,
 * or -errno. */
int sbx_image_super_read(int fd, struct sbx_image_super *ret);

/*
 * What the daemon refuses to mount (read-write if writable) whatever the
 * kernel would say: mount options chosen by the superblock that the daemon
 * cannot override, and multi-mount protection on a writable image.  0, or
 * -EINVAL with e saying what and how to clear it.
 */
int sbx_image_super_check(const struct sbx_image_super *sb, bool writable, struct sbx_error *e);

/*
 * The group descriptors of fd's filesystem, checked as ext4 checks them at
 * every mount (ext4_check_descriptors), with the geometry they depend on:
 * each group's bitmaps and inode table must lie inside the group (inside the
 * filesystem with flex_bg).  Lets the daemon refuse a corrupt image before
 * the kernel parses it.  0 when they pass or cannot be checked here (meta_bg,
 * bigalloc, a table over 16 MiB: the kernel checks those), -EUCLEAN with e saying
 * which group and what is wrong, or -errno when fd cannot be read.
 */
int sbx_image_groups_check(int fd, const struct sbx_image_super *sb, uint64_t dev_bytes,
                           struct sbx_error *e);

/*
 * Why ext4 would refuse to mount this superblock on a device of dev_bytes
 * (read-write if writable, on a kernel with the optional features in
 * kernel_features): 1 with the first reason found in e, or 0 when none of
 * the checks here explains it.
 */
int sbx_image_super_explain(const struct sbx_image_super *sb, uint64_t dev_bytes, bool writable,
                            unsigned kernel_features, struct sbx_error *e);
