/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ext4 superblock reader: crafted superblocks in, refusals and reasons out. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/image-super.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define MIB (1024ull * 1024)

static void put16(unsigned char *raw, size_t off, uint16_t v)
{
    raw[off] = (unsigned char)v;
    raw[off + 1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *raw, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        raw[off + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* An 8 MiB filesystem of 4 KiB blocks without metadata_csum (so no checksum to fix up). */
static void plain(unsigned char raw[SBX_IMAGE_SUPER_SIZE])
{
    memset(raw, 0, SBX_IMAGE_SUPER_SIZE);
    put32(raw, 0x04, 2048);   /* s_blocks_count_lo */
    put32(raw, 0x18, 2);      /* s_log_block_size: 4096 */
    put32(raw, 0x20, 32768);  /* s_blocks_per_group */
    put16(raw, 0x38, 0xef53); /* s_magic */
    put32(raw, 0x60, 0x2c2);  /* filetype, extents, 64bit, flex_bg */
    put32(raw, 0x64, 0x3);    /* sparse_super, large_file */
    put32(raw, 0x100, 0xc);   /* user_xattr, acl */
}

static struct sbx_image_super decode(const unsigned char *raw)
{
    struct sbx_image_super sb;
    sbx_image_super_decode(raw, &sb);
    return sb;
}

/* explain() on raw for a device of dev_bytes; the message, or "" when nothing explains it. */
static const char *explain(const unsigned char *raw, uint64_t dev_bytes, bool writable,
                           unsigned kernel)
{
    static struct sbx_error e;
    struct sbx_image_super sb = decode(raw);
    e = (struct sbx_error){ 0 };
    if (sbx_image_super_explain(&sb, dev_bytes, writable, kernel, &e) == 0)
        return "";
    return e.msg;
}

static void test_decodes_fields(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    plain(raw);
    put32(raw, 0x150, 1); /* s_blocks_count_hi, counted because of 64bit */
    memcpy(raw + 0x200, "errors=panic", 12);
    struct sbx_image_super sb = decode(raw);
    CU_ASSERT_EQUAL(0xef53, sb.magic);
    CU_ASSERT_EQUAL((1ull << 32) + 2048, sb.blocks_count);
    CU_ASSERT_EQUAL(2, sb.log_block_size);
    CU_ASSERT_EQUAL(0xc, sb.default_mount_opts);
    CU_ASSERT_STRING_EQUAL("errors=panic", sb.mount_opts);
    CU_ASSERT_TRUE(sb.csum_ok);

    /* Without 64bit the high half is not part of the count. */
    put32(raw, 0x60, 0x242);
    CU_ASSERT_EQUAL(2048, decode(raw).blocks_count);

    /* A mount options field without a NUL stays a string of 64 bytes. */
    memset(raw + 0x200, 'a', 64);
    raw[0x240] = 'b';
    CU_ASSERT_EQUAL(64, strlen(decode(raw).mount_opts));
}

static void test_well_formed_explains_nothing(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    plain(raw);
    CU_ASSERT_STRING_EQUAL("", explain(raw, 8 * MIB, false, 0));
    CU_ASSERT_STRING_EQUAL("", explain(raw, 8 * MIB, true, 0));
    /* Unknown read-only-compatible features do not stop a read-only mount. */
    put32(raw, 0x64, 0x3 | 0x80000000u);
    CU_ASSERT_STRING_EQUAL("", explain(raw, 8 * MIB, false, 0));
}

static void test_bad_magic(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE] = { 0 };
    CU_ASSERT_STRING_EQUAL("not an ext4 filesystem (no ext4 superblock at byte 1024)",
                           explain(raw, 8 * MIB, false, 0));
}

static void test_bad_geometry(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    plain(raw);
    CU_ASSERT_STRING_EQUAL("bad geometry: the superblock counts 2048 blocks of 4096 bytes, but "
                           "the file holds 512 (2097152 bytes): it is truncated or not this "
                           "filesystem's image",
                           explain(raw, 2 * MIB, false, 0));
    /* One byte short of the last block. */
    CU_ASSERT_NOT_EQUAL(0, strlen(explain(raw, 8 * MIB - 1, false, 0)));

    /* A count near 2^64 with 64 KiB blocks: no product that could wrap is computed. */
    put32(raw, 0x04, 0xffffffffu);
    put32(raw, 0x150, 0xffffffffu);
    put32(raw, 0x18, 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(explain(raw, UINT64_MAX, false, 0), "bad geometry"));

    plain(raw);
    put32(raw, 0x18, 40);
    CU_ASSERT_STRING_EQUAL("bad geometry: block size 2^40 KiB, at most 64 KiB",
                           explain(raw, 8 * MIB, false, 0));
    plain(raw);
    put32(raw, 0x20, 0);
    CU_ASSERT_STRING_EQUAL("bad geometry: 2048 blocks in groups of 0",
                           explain(raw, 8 * MIB, false, 0));
}

static void test_unsupported_features(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    plain(raw);
    put32(raw, 0x60, 0x2c2 | 0x40000000u);
    CU_ASSERT_STRING_EQUAL("the image uses unsupported ext4 features (incompat 0x40000000)",
                           explain(raw, 8 * MIB, false, 0));
    put32(raw, 0x60, 0x2c2 | 0x8 | 0x1);
    CU_ASSERT_STRING_EQUAL(
        "the image uses unsupported ext4 features (compression, journal_dev, incompat 0x9)",
        explain(raw, 8 * MIB, false, 0));

    /* casefold and encrypt depend on how the kernel was built. */
    put32(raw, 0x60, 0x2c2 | 0x20000);
    CU_ASSERT_STRING_EQUAL("the image uses unsupported ext4 features (casefold, incompat 0x20000)",
                           explain(raw, 8 * MIB, false, SBX_IMAGE_KERNEL_ENCRYPT));
    CU_ASSERT_STRING_EQUAL("", explain(raw, 8 * MIB, false, SBX_IMAGE_KERNEL_CASEFOLD));
    put32(raw, 0x60, 0x2c2 | 0x10000);
    CU_ASSERT_NOT_EQUAL(0, strlen(explain(raw, 8 * MIB, false, SBX_IMAGE_KERNEL_CASEFOLD)));
    CU_ASSERT_STRING_EQUAL("", explain(raw, 8 * MIB, false, SBX_IMAGE_KERNEL_ENCRYPT));

    /* An unknown read-only-compatible feature refuses a writable mount only. */
    plain(raw);
    put32(raw, 0x64, 0x3 | 0x100000);
    CU_ASSERT_PTR_NOT_NULL(strstr(explain(raw, 8 * MIB, true, 0), "ro_compat 0x100000"));
}

static void test_mount_options(void)
{
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    struct sbx_image_super sb;

    /* What the daemon overrides is accepted. */
    plain(raw);
    const char *ok = "errors=panic,warn_on_error,noblock_validity";
    memcpy(raw + 0x200, ok, strlen(ok));
    sb = decode(raw);
    CU_ASSERT_EQUAL(0, sbx_image_super_check(&sb, false, &e));

    /* Anything else is refused, naming exactly what. */
    plain(raw);
    const char *bad = "errors=panic,debug,,abort";
    memcpy(raw + 0x200, bad, strlen(bad));
    sb = decode(raw);
    CU_ASSERT_EQUAL(-EINVAL, sbx_image_super_check(&sb, false, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "mount options 'debug,abort'"));

    /* A full field without a NUL, and the debug bit of the default mount options. */
    plain(raw);
    memset(raw + 0x200, 'x', 64);
    sb = decode(raw);
    CU_ASSERT_EQUAL(-EINVAL, sbx_image_super_check(&sb, false, &e));
    plain(raw);
    put32(raw, 0x100, 0xc | 0x1);
    sb = decode(raw);
    CU_ASSERT_EQUAL(-EINVAL, sbx_image_super_check(&sb, false, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "'debug'"));

    /* Multi-mount protection: fine read-only, refused read-write. */
    plain(raw);
    put32(raw, 0x60, 0x2c2 | 0x100);
    sb = decode(raw);
    CU_ASSERT_EQUAL(0, sbx_image_super_check(&sb, false, &e));
    CU_ASSERT_EQUAL(-EINVAL, sbx_image_super_check(&sb, true, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "multi-mount protection"));

    /* Not ext4: nothing to refuse here, the mount says what it is. */
    memset(raw, 0, sizeof(raw));
    memcpy(raw + 0x200, "debug", 5);
    sb = decode(raw);
    CU_ASSERT_EQUAL(0, sbx_image_super_check(&sb, false, &e));
}

/* The superblock of a real mkfs.ext4 image (metadata_csum on), read from its file. */
static void test_real_checksum(void)
{
    char dir[] = "/tmp/sbx-test-super-XXXXXX", path[64], cmd[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/img", dir);
    snprintf(cmd, sizeof(cmd),
             "mkfs.ext4 -q -F -O metadata_csum %s 8M >/dev/null 2>&1 && "
             "tune2fs -E mount_opts=errors=panic %s >/dev/null 2>&1",
             path, path);
    CU_ASSERT_EQUAL_FATAL(0, system(cmd));
    FILE *f = fopen(path, "r+e");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    struct sbx_image_super sb;
    CU_ASSERT_EQUAL(0, sbx_image_super_read(fileno(f), &sb));
    CU_ASSERT_TRUE(sb.csum_ok);
    CU_ASSERT_STRING_EQUAL("errors=panic", sb.mount_opts);
    struct sbx_error e = { 0 };
    CU_ASSERT_EQUAL(0, sbx_image_super_explain(&sb, 8 * MIB, false, 0, &e));

    /* One changed byte (the mount options) and the checksum no longer matches. */
    unsigned char raw[SBX_IMAGE_SUPER_SIZE];
    CU_ASSERT_EQUAL(sizeof(raw), pread(fileno(f), raw, sizeof(raw), SBX_IMAGE_SUPER_OFFSET));
    raw[0x200] = 'E';
    CU_ASSERT_STRING_EQUAL("the superblock's checksum does not match: the image is corrupt",
                           explain(raw, 8 * MIB, false, 0));
    fclose(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT_EQUAL(0, system(cmd));
}

static void test_short_file(void)
{
    int fd = memfd_create("short", MFD_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(0, ftruncate(fd, 2047));
    struct sbx_image_super sb;
    CU_ASSERT_EQUAL(-ENODATA, sbx_image_super_read(fd, &sb));
    CU_ASSERT_EQUAL(0, ftruncate(fd, 2048));
    CU_ASSERT_EQUAL(0, sbx_image_super_read(fd, &sb));
    CU_ASSERT_EQUAL(0, sb.magic);
    close(fd);
}

/* A fresh image made by mkfs.ext4 with opts, SIZE bytes, opened read-write; its fd. */
static int mkfs_image(const char *opts, const char *size, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "/tmp/sbx-test-groups-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[96], cmd[512];
    snprintf(path, sizeof(path), "%s/img", dir);
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s %s %s >/dev/null 2>&1", opts, path, size);
    if (system(cmd) != 0)
        return -1;
    return open(path, O_RDWR | O_CLOEXEC);
}

static void rm_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT_EQUAL(0, system(cmd));
}

/* groups_check on fd as it is now; its message, or "" when it passes. */
static const char *groups(int fd, uint64_t bytes)
{
    static struct sbx_error e;
    struct sbx_image_super sb;
    e = (struct sbx_error){ 0 };
    CU_ASSERT_EQUAL_FATAL(0, sbx_image_super_read(fd, &sb));
    int r = sbx_image_groups_check(fd, &sb, bytes, &e);
    CU_ASSERT(r == 0 || (r == -EUCLEAN && e.err == EUCLEAN));
    return r == 0 ? "" : e.msg;
}

static void put_at(int fd, off_t off, uint32_t v)
{
    unsigned char b[4];
    put32(b, 0, v);
    CU_ASSERT_EQUAL(4, pwrite(fd, b, 4, off));
}

/* What mkfs.ext4 makes passes, whatever the layout. */
static void test_groups_of_real_images(void)
{
    static const char *const opts[] = {
        "-b 1024 -O ^flex_bg",
        "-b 1024",
        "-b 4096 -O 64bit",
        "-b 4096 -O ^64bit",
        "-b 2048 -I 1024 -N 100",
        "-b 4096 -g 1024",
        "-b 4096 -O meta_bg,^resize_inode",
    };
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        char dir[64];
        int fd = mkfs_image(opts[i], "64M", dir, sizeof(dir));
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_STRING_EQUAL("", groups(fd, 64 * MIB));
        close(fd);
        rm_dir(dir);
    }
}

/*
 * Descriptors that ext4 refuses: without flex_bg a group's metadata must lie
 * in the group itself, with it anywhere in the filesystem.  1 KiB blocks, no
 * metadata_csum (the superblock's checksum would otherwise need fixing):
 * the table is in block 2, groups are 8192 blocks from block 1, 32 bytes
 * per descriptor.
 */
static void test_groups_corrupt(void)
{
    char dir[64];
    int fd = mkfs_image("-b 1024 -O ^flex_bg,^metadata_csum,^64bit", "32M", dir, sizeof(dir));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_STRING_EQUAL("", groups(fd, 32 * MIB));
    /* Group 2's inode table moved into group 0. */
    put_at(fd, 2048 + 2 * 32 + 8, 300);
    CU_ASSERT_STRING_EQUAL(
        "the filesystem is corrupt: group 2's inode table (block 300) is outside "
        "its group (blocks 16385 to 24576); e2fsck -fn shows it too",
        groups(fd, 32 * MIB));
    close(fd);
    rm_dir(dir);

    fd = mkfs_image("-b 1024 -O ^metadata_csum,^64bit", "32M", dir, sizeof(dir));
    CU_ASSERT_FATAL(fd >= 0);
    /* With flex_bg, group 1's block bitmap past the filesystem's end; block 0 for group 0. */
    put_at(fd, 2048 + 1 * 32 + 0, 40000);
    CU_ASSERT_STRING_EQUAL("the filesystem is corrupt: group 1's block bitmap (block 40000) is "
                           "outside the filesystem (blocks 1 to 32767); e2fsck -fn shows it too",
                           groups(fd, 32 * MIB));
    put_at(fd, 2048 + 0, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(groups(fd, 32 * MIB), "group 0's block bitmap (block 0)"));
    close(fd);
    rm_dir(dir);
}

/* The geometry the descriptors depend on, as ext4 checks it. */
static void test_groups_geometry(void)
{
    char dir[64];
    int fd = mkfs_image("-b 1024 -O ^metadata_csum,^64bit", "32M", dir, sizeof(dir));
    CU_ASSERT_FATAL(fd >= 0);
    struct sbx_image_super sb;
    CU_ASSERT_EQUAL_FATAL(0, sbx_image_super_read(fd, &sb));
    put_at(fd, 1024 + 0x00, sb.inodes_count + 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(groups(fd, 32 * MIB), "bad geometry: "));
    put_at(fd, 1024 + 0x00, sb.inodes_count);
    put_at(fd, 1024 + 0x20, 8 * 1024 + 1);
    CU_ASSERT_STRING_EQUAL("bad geometry: 8193 blocks per group, at most 8192 with blocks of 1024 "
                           "bytes",
                           groups(fd, 32 * MIB));
    close(fd);
    rm_dir(dir);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_decodes_fields),
        SBX_TEST(test_well_formed_explains_nothing),
        SBX_TEST(test_bad_magic),
        SBX_TEST(test_bad_geometry),
        SBX_TEST(test_unsupported_features),
        SBX_TEST(test_mount_options),
        SBX_TEST(test_real_checksum),
        SBX_TEST(test_short_file),
        SBX_TEST(test_groups_of_real_images),
        SBX_TEST(test_groups_corrupt),
        SBX_TEST(test_groups_geometry),
    };
    return sbx_test_main("image-super", tests, ARRAY_SIZE(tests));
}
