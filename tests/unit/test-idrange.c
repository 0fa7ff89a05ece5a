/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host id blocks of sandboxes' user namespaces (daemon/idrange.c,
 * daemon/idmap.c): subordinate id files parse as shadow-utils writes them
 * and malformed ones are refused by line, ranges cut into whole blocks,
 * first-fit allocation that reuses a freed block and never hands out one
 * twice, and the map of a bind's idmap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/idmap.h"
#include "daemon/idrange.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define B SBX_IDRANGE_SIZE

static void test_parse(void)
{
    struct sbx_idrange r[4];
    size_t n = 9;
    unsigned line = 9;
    const char *text = "# comment\nalice:100000:65536\nsandboxd:1000000:131072\n\n"
                       "4242:5000000:65536\nsandboxdx:1:2\n";
    uid_t uid = 4242;
    CU_ASSERT_EQUAL(sbx_idrange_parse(text, "sandboxd", &uid, r, 4, &n, &line), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(line, 0);
    CU_ASSERT_EQUAL(r[0].start, 1000000);
    CU_ASSERT_EQUAL(r[0].count, 131072);
    CU_ASSERT_EQUAL(r[1].start, 5000000);
    /* Without a uid, a numeric line is someone else's. */
    CU_ASSERT_EQUAL(sbx_idrange_parse(text, "sandboxd", NULL, r, 4, &n, &line), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(sbx_idrange_parse("", "sandboxd", NULL, r, 4, &n, &line), 0);
    CU_ASSERT_EQUAL(n, 0);
}

static void test_parse_refused(void)
{
    static const char *const bad[] = {
        "a:1:2\nsandboxd:1\n",      "sandboxd:x:65536\n",          "sandboxd:1:-5\n",
        "a:1:2\nsandboxd::65536\n", "sandboxd:4294901760:65536\n", "sandboxd:99999999999:1\n",
        "a:1:2\nsandboxd:1:2:3\n",
    };
    static const unsigned lines[] = { 2, 1, 1, 2, 1, 1, 2 };
    struct sbx_idrange r[4];
    size_t n;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        unsigned line = 0;
        CU_ASSERT_EQUAL(sbx_idrange_parse(bad[i], "sandboxd", NULL, r, 4, &n, &line), -EINVAL);
        CU_ASSERT_EQUAL(line, lines[i]);
    }
    unsigned line = 0;
    CU_ASSERT_EQUAL(
        sbx_idrange_parse("sandboxd:1:2\nsandboxd:3:4\n", "sandboxd", NULL, r, 1, &n, &line),
        -E2BIG);
    CU_ASSERT_EQUAL(line, 2);
}

static void test_blocks(void)
{
    /* Whole blocks only: 100000+2.5 blocks gives 2, and the gid side limits the count. */
    struct sbx_idrange u[] = { { 100000, 5 * B / 2 }, { 1u << 30, B } };
    struct sbx_idrange g[] = { { 200000, 2 * B } };
    struct sbx_idrange_pool p;
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_init(&p, u, 2, g, 1), 0);
    CU_ASSERT_EQUAL(p.n_blocks, 2);
    struct sbx_ids a, b, c;
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&p, &a), 0);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&p, &b), 0);
    CU_ASSERT_EQUAL(a.uid, 100000);
    CU_ASSERT_EQUAL(a.gid, 200000);
    CU_ASSERT_EQUAL(b.uid, 100000 + B);
    CU_ASSERT_EQUAL(b.gid, 200000 + B);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&p, &c), -ENOSPC);
    CU_ASSERT_EQUAL(sbx_idrange_block_of(&p, 100000 + B + 7), 1);
    CU_ASSERT_EQUAL(sbx_idrange_block_of(&p, 99999), -1);
    /* A freed block is the next one handed out; freeing twice frees nothing more. */
    sbx_idrange_release(&p, &a);
    CU_ASSERT_EQUAL(a.block, -1);
    sbx_idrange_release(&p, &a);
    CU_ASSERT_EQUAL(p.n_used, 1);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&p, &c), 0);
    CU_ASSERT_EQUAL(c.uid, 100000);
    CU_ASSERT_FALSE(sbx_idrange_mark(&p, 1));
    sbx_idrange_pool_free(&p);
}

static void test_overlap_refused(void)
{
    struct sbx_idrange u[] = { { 100000, B }, { 100000 + B / 2, B } };
    struct sbx_idrange g[] = { { 100000, 2 * B } };
    struct sbx_idrange_pool p;
    CU_ASSERT_EQUAL(sbx_idrange_init(&p, u, 2, g, 1), -ENOTUNIQ);
    CU_ASSERT_EQUAL(sbx_idrange_init(&p, u, 1, NULL, 0), 0);
    CU_ASSERT_FALSE(sbx_idrange_configured(&p));
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&p, &(struct sbx_ids){ 0 }), -ENOSPC);
}

static void test_load_files(void)
{
    char dir[] = "/tmp/sbx-test-idrange.XXXXXX", uid_file[64], gid_file[64];
    struct sbx_error e = { 0 };
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(uid_file, sizeof(uid_file), "%s/subuid", dir);
    snprintf(gid_file, sizeof(gid_file), "%s/subgid", dir);
    struct sbx_idrange_pool p;
    /* Missing files: nothing configured, no error. */
    CU_ASSERT_EQUAL(sbx_idrange_load(&p, "sbx-test-nobody", uid_file, gid_file, &e), 0);
    CU_ASSERT_FALSE(sbx_idrange_configured(&p));
    FILE *f = fopen(uid_file, "we");
    fputs("sbx-test-nobody:1000000:196608\n", f);
    fclose(f);
    f = fopen(gid_file, "we");
    fputs("other:1:65536\nsbx-test-nobody:1000000:bad\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(sbx_idrange_load(&p, "sbx-test-nobody", uid_file, gid_file, &e), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "subgid:2:"));
    f = fopen(gid_file, "we");
    fputs("sbx-test-nobody:2000000:196608\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(sbx_idrange_load(&p, "sbx-test-nobody", uid_file, gid_file, &e), 0);
    CU_ASSERT_EQUAL(p.n_blocks, 3);
    sbx_idrange_pool_free(&p);
    unlink(uid_file);
    unlink(gid_file);
    rmdir(dir);
}

/*
 * Two pools of the same ranges, as two daemons given the same files, share one
 * lock file: each block goes to one of them at a time, and a block comes back
 * when its holder releases it or ends (the kernel drops an OFD lock on close).
 */
static void test_lock_shared(void)
{
    char dir[] = "/tmp/sbx-test-idrange.XXXXXX", lock[64];
    struct sbx_error e = { 0 };
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(lock, sizeof(lock), "%s/ids.lock", dir);
    struct sbx_idrange u[] = { { 100000, 3 * B } };
    struct sbx_idrange g[] = { { 900000, 3 * B } };
    struct sbx_idrange_pool a, b;
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_init(&a, u, 1, g, 1), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_init(&b, u, 1, g, 1), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_lock(&a, lock, &e), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_lock(&b, lock, &e), 0);
    struct sbx_ids a0, a1, b0, b1;
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&a, &a0), 0);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&b, &b0), 0);
    CU_ASSERT_EQUAL(a0.uid, 100000);
    CU_ASSERT_EQUAL(b0.uid, 100000 + B);
    CU_ASSERT_EQUAL(b0.gid, 900000 + B);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&a, &a1), 0);
    CU_ASSERT_EQUAL(a1.uid, 100000 + 2 * B);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&b, &b1), -ENOSPC);
    sbx_idrange_release(&a, &a0);
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&b, &b1), 0);
    CU_ASSERT_EQUAL(b1.uid, 100000);
    /* a ends: its block 2 is free for b. */
    sbx_idrange_pool_free(&a);
    struct sbx_ids b2;
    CU_ASSERT_EQUAL(sbx_idrange_alloc(&b, &b2), 0);
    CU_ASSERT_EQUAL(b2.uid, 100000 + 2 * B);
    sbx_idrange_pool_free(&b);
    /* Another user's lock file could deny every block: refused. */
    CU_ASSERT_EQUAL(chown(lock, 65534, 65534), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_init(&a, u, 1, g, 1), 0);
    CU_ASSERT_EQUAL(sbx_idrange_lock(&a, lock, &e), -EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, lock));
    sbx_idrange_pool_free(&a);
    unlink(lock);
    CU_ASSERT_EQUAL(symlink("/etc/passwd", lock), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_idrange_init(&a, u, 1, g, 1), 0);
    CU_ASSERT_EQUAL(sbx_idrange_lock(&a, lock, &e), -ELOOP);
    sbx_idrange_pool_free(&a);
    unlink(lock);
    rmdir(dir);
}

static void test_bind_map(void)
{
    char buf[256];
    /* Caller 1000 is guest 0 of the block at 1000000; the block itself maps to nothing. */
    CU_ASSERT_EQUAL(sbx_idmap_bind_map(1000, 1000000, 1000000, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "0 0 1000\n1001 1001 998999\n1065536 1065536 4293901759\n"
                                "1000 1000000 1\n");
    /* Caller 0, and a block at the top. */
    CU_ASSERT_EQUAL(sbx_idmap_bind_map(0, 4294901760u - B + 5, 4294901760u - B, buf, sizeof(buf)),
                    0);
    CU_ASSERT_STRING_EQUAL(buf, "1 1 4294836223\n4294901760 4294901760 65535\n0 4294836229 1\n");
    CU_ASSERT_EQUAL(sbx_idmap_bind_map(0, 5, 0, buf, 8), -ENAMETOOLONG);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_parse),           SBX_TEST(test_parse_refused), SBX_TEST(test_blocks),
        SBX_TEST(test_overlap_refused), SBX_TEST(test_load_files),    SBX_TEST(test_lock_shared),
        SBX_TEST(test_bind_map),
    };
    return sbx_test_main("idrange", tests, ARRAY_SIZE(tests));
}
