/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's reason for a failed mount: which /dev/kmsg records are taken,
 * and how their text is cut and cleaned.  Records are written as the kernel
 * formats them, so no kernel log is needed.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "daemon/kmsg.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define DEV "loop3"

static bool take(const char *rec, char *out, size_t len)
{
    return sbx_kmsg_take(rec, strlen(rec), DEV, out, len);
}

static void test_records_of_the_device_only(void)
{
    char out[SBX_KMSG_REASON_MAX] = "";
    CU_ASSERT_FALSE(take("6,1201,11535267258,-;loop3: detected capacity change from 0 to 83968\n",
                         out, sizeof(out)));
    /* Another loop device, whose number starts the same. */
    CU_ASSERT_FALSE(take("3,1202,11535269750,-;EXT4-fs (loop33): group descriptors corrupted!\n",
                         out, sizeof(out)));
    CU_ASSERT_TRUE(take("3,1203,11535269750,-;EXT4-fs (loop3): ext4_check_descriptors: Block "
                        "bitmap for group 0 not in group (block 0)!\n"
                        " SUBSYSTEM=block\n DEVICE=b7:3\n",
                        out, sizeof(out)));
    CU_ASSERT_TRUE(take("3,1204,11535271589,-;EXT4-fs (loop3): group descriptors corrupted!\n", out,
                        sizeof(out)));
    CU_ASSERT_STRING_EQUAL(
        "ext4_check_descriptors: Block bitmap for group 0 not in group (block 0)!; "
        "group descriptors corrupted!",
        out);
    /* ext4's errors and warnings name the device another way. */
    out[0] = '\0';
    CU_ASSERT_TRUE(take("3,1205,1,-;EXT4-fs error (device loop3): __ext4_fill_super:5544: inode "
                        "#2: comm sandboxd: iget: checksum invalid\n",
                        out, sizeof(out)));
    CU_ASSERT_TRUE(take("4,1206,1,-;EXT4-fs warning (device loop3): ext4_multi_mount_protect\n",
                        out, sizeof(out)));
    CU_ASSERT_FALSE(take("3,1207,1,-;EXT4-fs error (device loop30): other\n", out, sizeof(out)));
    CU_ASSERT_STRING_EQUAL("__ext4_fill_super:5544: inode #2: comm sandboxd: iget: checksum "
                           "invalid; ext4_multi_mount_protect",
                           out);
    /* Not a record at all: no ';' after the header. */
    CU_ASSERT_FALSE(take("EXT4-fs (loop3): no header\n", out, sizeof(out)));
}

static void test_cut_and_cleaned(void)
{
    char out[16] = "";
    /* Bytes outside printable ASCII become '?'. */
    CU_ASSERT_TRUE(take("3,1,1,-;EXT4-fs (loop3): a\tb\x1b"
                        "c\xff\n",
                        out, sizeof(out)));
    CU_ASSERT_STRING_EQUAL("a?b?c?", out);
    /* A text too long for what is left ends with "...", within the buffer. */
    CU_ASSERT_TRUE(take("3,2,1,-;EXT4-fs (loop3): 0123456789abcdef\n", out, sizeof(out)));
    CU_ASSERT_EQUAL(sizeof(out) - 1, strlen(out));
    CU_ASSERT_STRING_EQUAL("a?b?c?; 0123...", out);
    CU_ASSERT_TRUE(take("3,3,1,-;EXT4-fs (loop3): more\n", out, sizeof(out)));
    CU_ASSERT_EQUAL(sizeof(out) - 1, strlen(out));
}

/* Reading stops at the end of what the fd holds (EAGAIN), taking the records that match. */
static void test_collect_reads_to_the_end(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(0, pipe2(p, O_CLOEXEC | O_NONBLOCK));
    const char *rec = "3,9,1,-;EXT4-fs (loop3): bad superblock\n";
    CU_ASSERT_EQUAL_FATAL((ssize_t)strlen(rec), write(p[1], rec, strlen(rec)));
    char out[SBX_KMSG_REASON_MAX] = "";
    CU_ASSERT_EQUAL(1, sbx_kmsg_collect(p[0], DEV, out, sizeof(out)));
    CU_ASSERT_STRING_EQUAL("bad superblock", out);
    CU_ASSERT_EQUAL(0, sbx_kmsg_collect(p[0], DEV, out, sizeof(out)));
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_records_of_the_device_only),
        SBX_TEST(test_cut_and_cleaned),
        SBX_TEST(test_collect_reads_to_the_end),
    };
    return sbx_test_main("kmsg", tests, ARRAY_SIZE(tests));
}
