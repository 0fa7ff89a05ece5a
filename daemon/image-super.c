/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext4 superblock, decoded by hand: fixed offsets, little-endian fields,
 * plain bounded arithmetic.  The image is hostile, so nothing here trusts a
 * value beyond the range checks it makes itself, and nothing is mapped.
 */
#include "daemon/image-super.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

#define EXT4_MAGIC 0xef53
#define EXT4_MAX_LOG_BLOCK_SIZE 6 /* 64 KiB blocks */

/* Offsets into struct ext4_super_block. */
#define OFF_BLOCKS_LO 0x04
#define OFF_LOG_BLOCK_SIZE 0x18
#define OFF_BLOCKS_PER_GROUP 0x20
#define OFF_MAGIC 0x38
#define OFF_FEATURE_COMPAT 0x5c
#define OFF_FEATURE_INCOMPAT 0x60
#define OFF_FEATURE_RO_COMPAT 0x64
#define OFF_DEFAULT_MOUNT_OPTS 0x100
#define OFF_BLOCKS_HI 0x150
#define OFF_CHECKSUM_TYPE 0x175
#define OFF_MOUNT_OPTS 0x200
#define LEN_MOUNT_OPTS 64
#define OFF_CHECKSUM 0x3fc

#define INCOMPAT_64BIT 0x80
#define INCOMPAT_MMP 0x100
#define INCOMPAT_ENCRYPT 0x10000
#define INCOMPAT_CASEFOLD 0x20000
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
        .feature_compat = le32(raw + OFF_FEATURE_COMPAT),
        .feature_incompat = le32(raw + OFF_FEATURE_INCOMPAT),
        .feature_ro_compat = le32(raw + OFF_FEATURE_RO_COMPAT),
        .default_mount_opts = le32(raw + OFF_DEFAULT_MOUNT_OPTS),
        .csum_ok = true,
    };
    if (sb.feature_incompat & INCOMPAT_64BIT)
        sb.blocks_count |= (uint64_t)le32(raw + OFF_BLOCKS_HI) << 32;
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

int sbx_image_super_check(const struct sbx_image_super *sb, bool writable, char *msg, size_t len)
{
    if (sb->magic != EXT4_MAGIC)
        return 0; /* not ext4 at all: the mount says so */
    /*
     * A read-write mount of an MMP filesystem sleeps in the kernel for up to
     * twice the check interval the image chooses (hours), and the daemon
     * mounts in its event loop.  A loop device of a private file needs no
     * protection against other hosts.
     */
    if (writable && (sb->feature_incompat & INCOMPAT_MMP)) {
        snprintf(msg, len,
                 "the image uses multi-mount protection (mmp), which sandboxd does not mount "
                 "read-write (clear it with tune2fs -O ^mmp)");
        return -EINVAL;
    }
    if (sb->default_mount_opts & DEFM_DEBUG) {
        snprintf(msg, len,
                 "the image's superblock asks for the mount option 'debug'; sandboxd does not "
                 "mount with it (clear it with tune2fs -o ^debug)");
        return -EINVAL;
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
    snprintf(msg, len,
             "the image's superblock asks for mount options '%s'; sandboxd mounts images with "
             "options of its own (clear them with tune2fs -E mount_opts=)",
             refused);
    return -EINVAL;
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
                            unsigned kernel_features, char *msg, size_t len)
{
    if (sb->magic != EXT4_MAGIC) {
        snprintf(msg, len, "not an ext4 filesystem (no ext4 superblock at byte 1024)");
        return 1;
    }
    if (!sb->csum_ok) {
        snprintf(msg, len, "the superblock's checksum does not match: the image is corrupt");
        return 1;
    }
    if (sb->log_block_size > EXT4_MAX_LOG_BLOCK_SIZE) {
        snprintf(msg, len, "bad geometry: block size 2^%u KiB, at most 64 KiB", sb->log_block_size);
        return 1;
    }
    uint32_t block = 1024u << sb->log_block_size;
    uint64_t have = dev_bytes / block;
    if (sb->blocks_count == 0 || sb->blocks_per_group == 0) {
        snprintf(msg, len, "bad geometry: %llu blocks in groups of %u",
                 (unsigned long long)sb->blocks_count, sb->blocks_per_group);
        return 1;
    }
    if (sb->blocks_count > have) {
        snprintf(msg, len,
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
        snprintf(msg, len, "the image uses unsupported ext4 features (%s)", names);
        return 1;
    }
    unsup = sb->feature_ro_compat & ~RO_COMPAT_KNOWN;
    if (writable && unsup) {
        snprintf(msg, len,
                 "the image uses ext4 features that this kernel mounts read-only only "
                 "(ro_compat 0x%x), and the policy asks for a writable image",
                 unsup);
        return 1;
    }
    return 0;
}
