/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext4 superblock, decoded by hand: fixed offsets, little-endian fields,
 * plain bounded arithmetic.  The image is hostile, so nothing here trusts a
 * value beyond the range checks it makes itself, and nothing is mapped.
 */
#include "daemon/image-super.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

#define EXT4_MAGIC 0xef53
#define EXT4_MAX_LOG_BLOCK_SIZE 6 /* 64 KiB blocks */

/* Offsets into struct ext4_super_block. */
#define OFF_INODES_COUNT 0x00
#define OFF_BLOCKS_LO 0x04
#define OFF_FIRST_DATA_BLOCK 0x14
#define OFF_LOG_BLOCK_SIZE 0x18
#define OFF_BLOCKS_PER_GROUP 0x20
#define OFF_INODES_PER_GROUP 0x28
#define OFF_MAGIC 0x38
#define OFF_REV_LEVEL 0x4c
#define OFF_INODE_SIZE 0x58
#define OFF_FEATURE_COMPAT 0x5c
#define OFF_FEATURE_INCOMPAT 0x60
#define OFF_FEATURE_RO_COMPAT 0x64
#define OFF_DESC_SIZE 0xfe
#define OFF_DEFAULT_MOUNT_OPTS 0x100
#define OFF_BLOCKS_HI 0x150
#define OFF_CHECKSUM_TYPE 0x175
#define OFF_MOUNT_OPTS 0x200
#define LEN_MOUNT_OPTS 64
#define OFF_CHECKSUM 0x3fc

#define INCOMPAT_META_BG 0x10
#define INCOMPAT_64BIT 0x80
#define INCOMPAT_FLEX_BG 0x200
#define INCOMPAT_MMP 0x100
#define INCOMPAT_ENCRYPT 0x10000
#define INCOMPAT_CASEFOLD 0x20000
#define RO_COMPAT_BIGALLOC 0x200
#define RO_COMPAT_METADATA_CSUM 0x400
#define DEFM_DEBUG 0x1

/* What ext4 mounts at all (EXT4_FEATURE_INCOMPAT_SUPP), and read-write (RO_COMPAT_SUPP). */
#define INCOMPAT_KNOWN 0x3e7d6u
#define RO_COMPAT_KNOWN 0x1a77fu

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32C as ext4 uses it: seed ~0, no final inversion. */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return crc;
}

void sbx_image_super_decode(const unsigned char raw[SBX_IMAGE_SUPER_SIZE],
                            struct sbx_image_super *ret)
{
    struct sbx_image_super sb = {
        .magic = le16(raw + OFF_MAGIC),
        .log_block_size = le32(raw + OFF_LOG_BLOCK_SIZE),
        .blocks_count = le32(raw + OFF_BLOCKS_LO),
        .blocks_per_group = le32(raw + OFF_BLOCKS_PER_GROUP),
        .first_data_block = le32(raw + OFF_FIRST_DATA_BLOCK),
        .inodes_count = le32(raw + OFF_INODES_COUNT),
        .inodes_per_group = le32(raw + OFF_INODES_PER_GROUP),
        .inode_size = le32(raw + OFF_REV_LEVEL) == 0 ? 128 : le16(raw + OFF_INODE_SIZE),
        .desc_size = 32,
        .feature_compat = le32(raw + OFF_FEATURE_COMPAT),
        .feature_incompat = le32(raw + OFF_FEATURE_INCOMPAT),
        .feature_ro_compat = le32(raw + OFF_FEATURE_RO_COMPAT),
        .default_mount_opts = le32(raw + OFF_DEFAULT_MOUNT_OPTS),
        .csum_ok = true,
    };
    if (sb.feature_incompat & INCOMPAT_64BIT) {
        sb.blocks_count |= (uint64_t)le32(raw + OFF_BLOCKS_HI) << 32;
        sb.desc_size = le16(raw + OFF_DESC_SIZE);
    }
    memcpy(sb.mount_opts, raw + OFF_MOUNT_OPTS, LEN_MOUNT_OPTS);
    sb.mount_opts[LEN_MOUNT_OPTS] = '\0';
    /* Type 1 is the only checksum ext4 knows; the kernel refuses any other. */
    if (sb.feature_ro_compat & RO_COMPAT_METADATA_CSUM)
        sb.csum_ok = raw[OFF_CHECKSUM_TYPE] == 1 &&
                     crc32c(~0u, raw, OFF_CHECKSUM) == le32(raw + OFF_CHECKSUM);
    *ret = sb;
}

int sbx_image_super_read(int fd, struct sbx_image_super *ret)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    ssize_t n = pread(fd, raw, sizeof(raw), SBX_IMAGE_SUPER_OFFSET);
    if (n < 0)
        return sbx_neg_errno();
    if (n != (ssize_t)sizeof(raw))
        return -ENODATA;
    sbx_image_super_decode(raw, ret);
    return 0;
}

/* The options the daemon passes itself, which override the superblock's. */
static bool overridden(const char *opt)
{
    static const char *const names[] = {
        "errors=continue", "errors=remount-ro", "errors=panic",     "warn_on_error",
        "nowarn_on_error", "block_validity",    "noblock_validity",
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcmp(opt, names[i]) == 0)
            return true;
    return false;
}

int sbx_image_super_check(const struct sbx_image_super *sb, bool writable, struct sbx_error *e)
{
    if (sb->magic != EXT4_MAGIC)
        return 0; /* not ext4 at all: the mount says so */
    /*
     * A read-write mount of an MMP filesystem sleeps in the kernel for up to
     * twice the check interval the image chooses (hours), and the daemon
     * mounts in its event loop.  A loop device of a private file needs no
     * protection against other hosts.
     */
    if (writable && (sb->feature_incompat & INCOMPAT_MMP))
        return sbx_error_set(
            e, EINVAL,
            "the image uses multi-mount protection (mmp), which sandboxd does not mount "
            "read-write (clear it with tune2fs -O ^mmp)");
    if (sb->default_mount_opts & DEFM_DEBUG) {
        return sbx_error_set(
            e, EINVAL,
            "the image's superblock asks for the mount option 'debug'; sandboxd does not "
            "mount with it (clear it with tune2fs -o ^debug)");
    }
    /*
     * The kernel applies these before the daemon's own options.  Those the
     * daemon overrides are harmless; any other (debug, abort, and whatever
     * later kernels add) is refused rather than left to the image.
     */
    char opts[sizeof(sb->mount_opts)], refused[sizeof(sb->mount_opts)] = "";
    snprintf(opts, sizeof(opts), "%s", sb->mount_opts);
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (overridden(o))
            continue;
        size_t used = strlen(refused);
        snprintf(refused + used, sizeof(refused) - used, "%s%s", used ? "," : "", o);
    }
    if (!refused[0])
        return 0;
    return sbx_error_set(
        e, EINVAL,
        "the image's superblock asks for mount options '%s'; sandboxd mounts images with "
        "options of its own (clear them with tune2fs -E mount_opts=)",
        refused);
}

static const struct {
    uint32_t bit;
    const char *name;
} incompat_names[] = {
    { 0x1, "compression" },
    { 0x8, "journal_dev" },
    { 0x1000, "dirdata" },
    { INCOMPAT_ENCRYPT, "encrypt" },
    { INCOMPAT_CASEFOLD, "casefold" },
};

/* "a, b (incompat 0xN)" for the bits of unsup. */
static void name_features(uint32_t unsup, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(incompat_names) && used < len; i++)
        if (unsup & incompat_names[i].bit)
            used += (size_t)snprintf(buf + used, len - used, "%s, ", incompat_names[i].name);
    if (used < len)
        snprintf(buf + used, len - used, "incompat 0x%x", unsup);
}

int sbx_image_super_explain(const struct sbx_image_super *sb, uint64_t dev_bytes, bool writable,
                            unsigned kernel_features, struct sbx_error *e)
{
    if (sb->magic != EXT4_MAGIC) {
        sbx_error_set(e, EINVAL, "not an ext4 filesystem (no ext4 superblock at byte 1024)");
        return 1;
    }
    if (!sb->csum_ok) {
        sbx_error_set(e, EINVAL, "the superblock's checksum does not match: the image is corrupt");
        return 1;
    }
    if (sb->log_block_size > EXT4_MAX_LOG_BLOCK_SIZE) {
        sbx_error_set(e, EINVAL, "bad geometry: block size 2^%u KiB, at most 64 KiB",
                      sb->log_block_size);
        return 1;
    }
    uint32_t block = 1024u << sb->log_block_size;
    uint64_t have = dev_bytes / block;
    if (sb->blocks_count == 0 || sb->blocks_per_group == 0) {
        sbx_error_set(e, EINVAL, "bad geometry: %llu blocks in groups of %u",
                      (unsigned long long)sb->blocks_count, sb->blocks_per_group);
        return 1;
    }
    if (sb->blocks_count > have) {
        sbx_error_set(e, EINVAL,
                      "bad geometry: the superblock counts %llu blocks of %u bytes, but the file "
                      "holds %llu (%llu bytes): it is truncated or not this filesystem's image",
                      (unsigned long long)sb->blocks_count, block, (unsigned long long)have,
                      (unsigned long long)dev_bytes);
        return 1;
    }
    uint32_t known = INCOMPAT_KNOWN;
    if (!(kernel_features & SBX_IMAGE_KERNEL_ENCRYPT))
        known &= ~(uint32_t)INCOMPAT_ENCRYPT;
    if (!(kernel_features & SBX_IMAGE_KERNEL_CASEFOLD))
        known &= ~(uint32_t)INCOMPAT_CASEFOLD;
    uint32_t unsup = sb->feature_incompat & ~known;
    if (unsup) {
        char names[160];
        name_features(unsup, names, sizeof(names));
        sbx_error_set(e, EINVAL, "the image uses unsupported ext4 features (%s)", names);
        return 1;
    }
    unsup = sb->feature_ro_compat & ~RO_COMPAT_KNOWN;
    if (writable && unsup) {
        sbx_error_set(e, EINVAL,
                      "the image uses ext4 features that this kernel mounts read-only only "
                      "(ro_compat 0x%x), and the policy asks for a writable image",
                      unsup);
        return 1;
    }
    return 0;
}

/* Descriptor fields (struct ext4_group_desc): the low halves, then the high ones of 64bit. */
#define GD_BLOCK_BITMAP 0x00
#define GD_INODE_BITMAP 0x04
#define GD_INODE_TABLE 0x08
#define GD_HI 0x20 /* the three high halves follow, in the same order */
#define GD_SIZE_64BIT 64
#define GD_TABLE_MAX (16u << 20)

static bool power_of_two(uint32_t v)
{
    return v && !(v & (v - 1));
}

/* The geometry the descriptors are read with, as ext4 refuses it; 0 or -EUCLEAN with e. */
static int check_geometry(const struct sbx_image_super *sb, uint32_t block, uint64_t groups,
                          struct sbx_error *e)
{
    if (sb->blocks_per_group > 8 * block)
        return sbx_error_set(
            e, EUCLEAN, "bad geometry: %u blocks per group, at most %u with blocks of %u bytes",
            sb->blocks_per_group, 8 * block, block);
    if (sb->inode_size < 128 || sb->inode_size > block || !power_of_two(sb->inode_size))
        return sbx_error_set(e, EUCLEAN, "bad geometry: inodes of %u bytes", sb->inode_size);
    if (sb->inodes_per_group < block / sb->inode_size || sb->inodes_per_group > 8 * block)
        return sbx_error_set(e, EUCLEAN,
                             "bad geometry: %u inodes per group, %u to %u with blocks of %u bytes",
                             sb->inodes_per_group, block / sb->inode_size, 8 * block, block);
    if (groups * sb->inodes_per_group != sb->inodes_count)
        return sbx_error_set(e, EUCLEAN, "bad geometry: %u inodes, but %llu groups of %u inodes",
                             sb->inodes_count, (unsigned long long)groups, sb->inodes_per_group);
    if ((sb->feature_incompat & INCOMPAT_64BIT) &&
        (sb->desc_size < GD_SIZE_64BIT || sb->desc_size > 1024 || !power_of_two(sb->desc_size)))
        return sbx_error_set(e, EUCLEAN, "bad geometry: group descriptors of %u bytes",
                             sb->desc_size);
    return 0;
}

static uint64_t gd_field(const unsigned char *gd, unsigned off, bool wide)
{
    return le32(gd + off) | (wide ? (uint64_t)le32(gd + GD_HI + off) << 32 : 0);
}

/*
 * One descriptor, whose bitmaps and inode table (itb blocks) must lie in
 * blocks first..last: its group's, or with flex_bg the whole filesystem's.
 * 0 or -EUCLEAN with e.
 */
static int check_group(const unsigned char *gd, bool wide, bool flex, uint64_t g, uint64_t first,
                       uint64_t last, uint32_t itb, struct sbx_error *e)
{
    static const struct {
        unsigned off;
        const char *what;
    } parts[] = {
        { GD_BLOCK_BITMAP, "block bitmap" },
        { GD_INODE_BITMAP, "inode bitmap" },
        { GD_INODE_TABLE, "inode table" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        uint64_t at = gd_field(gd, parts[i].off, wide);
        uint64_t end = parts[i].off == GD_INODE_TABLE ? at + itb - 1 : at;
        if (at >= first && end >= at && end <= last)
            continue;
        return sbx_error_set(
            e, EUCLEAN,
            "the filesystem is corrupt: group %llu's %s (block %llu) is outside %s "
            "(blocks %llu to %llu); e2fsck -fn shows it too",
            (unsigned long long)g, parts[i].what, (unsigned long long)at,
            flex ? "the filesystem" : "its group", (unsigned long long)first,
            (unsigned long long)last);
    }
    return 0;
}

int sbx_image_groups_check(int fd, const struct sbx_image_super *sb, uint64_t dev_bytes,
                           struct sbx_error *e)
{
    if (sb->magic != EXT4_MAGIC || !sb->csum_ok || sb->log_block_size > EXT4_MAX_LOG_BLOCK_SIZE ||
        sb->blocks_per_group == 0 || sb->first_data_block >= sb->blocks_count ||
        (sb->feature_incompat & INCOMPAT_META_BG) || (sb->feature_ro_compat & RO_COMPAT_BIGALLOC))
        return 0; /* what the superblock says of itself is explained after the mount fails */
    uint32_t block = 1024u << sb->log_block_size;
    if (sb->blocks_count > dev_bytes / block)
        return 0;
    uint64_t groups =
        (sb->blocks_count - sb->first_data_block + sb->blocks_per_group - 1) / sb->blocks_per_group;
    int r = check_geometry(sb, block, groups, e);
    if (r < 0)
        return r;
    uint64_t table = groups * sb->desc_size;
    if (table > GD_TABLE_MAX)
        return 0;
    _cleanup_free_ unsigned char *gdt = malloc(table);
    if (!gdt)
        return -ENOMEM;
    /* The table starts in the block after the superblock's. */
    uint64_t off = ((uint64_t)sb->first_data_block + 1) * block;
    for (uint64_t done = 0; done < table;) {
        ssize_t n = pread(fd, gdt + done, table - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        if (n == 0)
            return 0; /* past the end: the kernel's own checks say so */
        done += (uint64_t)n;
    }
    bool flex = sb->feature_incompat & INCOMPAT_FLEX_BG;
    bool wide = (sb->feature_incompat & INCOMPAT_64BIT) && sb->desc_size >= GD_SIZE_64BIT;
    uint32_t itb =
        (uint32_t)(((uint64_t)sb->inodes_per_group * sb->inode_size + block - 1) / block);
    uint64_t first = sb->first_data_block;
    for (uint64_t g = 0; g < groups; g++) {
        uint64_t last =
            g == groups - 1 || flex ? sb->blocks_count - 1 : first + sb->blocks_per_group - 1;
        r = check_group(gdt + g * sb->desc_size, wide, flex, g, first, last, itb, e);
        if (r < 0)
            return r;
        if (!flex)
            first += sb->blocks_per_group;
    }
    return 0;
}
