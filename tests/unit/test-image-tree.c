/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory tree of image builds (image/tree.c): layers over layers
 * with whiteouts and opaque directories, overrides, hard links, the
 * refusals that keep an archive inside its image, the limits, and the
 * tree digest.
 */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "image/tree.h"
#include "sbx-test.h"
#include "sbx/macro.h"

/* What the last failing call said. */
static struct sbx_error err;

struct content {
    const char *data;
    size_t off;
};

/* A source that fails to read and says nothing of it, as a callback may. */
static ssize_t read_denied(void *ctx, void *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return -EACCES;
}

static ssize_t read_content(void *ctx, void *buf, size_t len)
{
    struct content *c = ctx;
    size_t left = strlen(c->data) - c->off;
    size_t n = left < len ? left : len;
    memcpy(buf, c->data + c->off, n);
    c->off += n;
    return (ssize_t)n;
}

static int add(struct sbx_tree *t, unsigned layer, const char *path, enum sbx_tree_type type,
               const char *data_or_link)
{
    struct content c = { .data = data_or_link ? data_or_link : "" };
    struct sbx_tree_entry e = {
        .path = path,
        .type = type,
        .mode = type == SBX_TREE_DIR ? 0755 : 0644,
        .mtime = 1000 + layer,
    };
    if (type == SBX_TREE_REG) {
        e.size = strlen(c.data);
        e.read = read_content;
        e.read_ctx = &c;
    } else {
        e.link = data_or_link;
    }
    return sbx_tree_apply(t, &e, layer, true, &err);
}

static void tree_new(struct sbx_tree *t, const struct sbx_tree_limits *l)
{
    CU_ASSERT_FATAL(sbx_tree_init(t, l, "/tmp", &err) == 0);
}

static bool has(struct sbx_tree *t, const char *path)
{
    return sbx_tree_lookup(t, path) != NULL;
}

static char *content_of(struct sbx_tree *t, const char *path, char *buf, size_t len)
{
    struct sbx_tree_node *n = sbx_tree_lookup(t, path);
    if (!n || n->inode->type != SBX_TREE_REG || n->inode->size >= len)
        return NULL;
    if (sbx_tree_read(t, n->inode, 0, buf, n->inode->size) < 0)
        return NULL;
    buf[n->inode->size] = '\0';
    return buf;
}

static void test_whiteouts(void)
{
    struct sbx_tree t;
    tree_new(&t, NULL);
    CU_ASSERT(add(&t, 1, "a/", SBX_TREE_DIR, NULL) == 0);
    CU_ASSERT(add(&t, 1, "a/f", SBX_TREE_REG, "lower") == 0);
    CU_ASSERT(add(&t, 1, "a/g", SBX_TREE_REG, "g") == 0);
    CU_ASSERT(add(&t, 1, "d/", SBX_TREE_DIR, NULL) == 0);
    CU_ASSERT(add(&t, 1, "d/old", SBX_TREE_REG, "old") == 0);
    CU_ASSERT(add(&t, 1, "d/sub/x", SBX_TREE_REG, "x") == 0);
    /* Layer 2: a new entry of d first, then the opaque marker: the new one stays. */
    CU_ASSERT(add(&t, 2, "d/new", SBX_TREE_REG, "new") == 0);
    CU_ASSERT(add(&t, 2, "d/.wh..wh..opq", SBX_TREE_REG, NULL) == 0);
    CU_ASSERT(add(&t, 2, "a/.wh.f", SBX_TREE_REG, NULL) == 0);
    CU_ASSERT(add(&t, 2, "a/.wh.missing", SBX_TREE_REG, NULL) == 0);
    CU_ASSERT(add(&t, 2, "nodir/.wh.x", SBX_TREE_REG, NULL) == 0);
    CU_ASSERT(!has(&t, "a/f"));
    CU_ASSERT(has(&t, "a/g"));
    CU_ASSERT(!has(&t, "d/old"));
    CU_ASSERT(!has(&t, "d/sub"));
    CU_ASSERT(has(&t, "d/new"));
    CU_ASSERT(!has(&t, "d/.wh..wh..opq"));
    CU_ASSERT(!has(&t, "a/.wh.missing"));
    CU_ASSERT(!has(&t, "nodir"));
    /* A whiteout then the name again, in a later layer. */
    CU_ASSERT(add(&t, 3, "a/f", SBX_TREE_REG, "again") == 0);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(content_of(&t, "a/f", buf, sizeof(buf)), "again");
    CU_ASSERT(add(&t, 3, "a/.wh..wh.plnk", SBX_TREE_REG, NULL) == -EOPNOTSUPP);
    CU_ASSERT(strstr(err.msg, "a/.wh..wh.plnk") != NULL);
    sbx_tree_free(&t);
}

static void test_overrides(void)
{
    struct sbx_tree t;
    char buf[64];
    tree_new(&t, NULL);
    CU_ASSERT(add(&t, 1, "f", SBX_TREE_REG, "file") == 0);
    CU_ASSERT(add(&t, 1, "d/x", SBX_TREE_REG, "x") == 0);
    CU_ASSERT(add(&t, 2, "f/", SBX_TREE_DIR, NULL) == 0);
    CU_ASSERT(sbx_tree_lookup(&t, "f")->inode->type == SBX_TREE_DIR);
    CU_ASSERT(add(&t, 2, "d", SBX_TREE_REG, "now a file") == 0);
    CU_ASSERT(!has(&t, "d/x"));
    CU_ASSERT_STRING_EQUAL(content_of(&t, "d", buf, sizeof(buf)), "now a file");
    /* A directory again keeps its entries and takes the new attributes. */
    CU_ASSERT(add(&t, 2, "f/in", SBX_TREE_REG, "in") == 0);
    struct sbx_tree_entry e = { .path = "f", .type = SBX_TREE_DIR, .mode = 040700, .uid = 5 };
    CU_ASSERT(sbx_tree_apply(&t, &e, 3, true, &err) == 0);
    CU_ASSERT(has(&t, "f/in"));
    CU_ASSERT_EQUAL(sbx_tree_lookup(&t, "f")->inode->mode, 0700);
    CU_ASSERT_EQUAL(sbx_tree_lookup(&t, "f")->inode->uid, 5);
    /* Missing parents are made; "./" prefixes and doubled slashes are one name. */
    CU_ASSERT(add(&t, 1, "./p//q/./r", SBX_TREE_REG, "r") == 0);
    CU_ASSERT(has(&t, "p/q/r"));
    sbx_tree_free(&t);
}

static void test_hardlinks(void)
{
    struct sbx_tree t;
    tree_new(&t, NULL);
    CU_ASSERT(add(&t, 1, "bin/a", SBX_TREE_REG, "shared") == 0);
    CU_ASSERT(add(&t, 2, "bin/b", SBX_TREE_HARDLINK, "bin/a") == 0);
    CU_ASSERT(add(&t, 2, "c", SBX_TREE_HARDLINK, "./bin/b") == 0);
    struct sbx_tree_node *a = sbx_tree_lookup(&t, "bin/a"), *c = sbx_tree_lookup(&t, "c");
    CU_ASSERT_PTR_EQUAL(a->inode, c->inode);
    CU_ASSERT_EQUAL(a->inode->refs, 3);
    /* Removing one name keeps the others. */
    CU_ASSERT(add(&t, 3, "bin/.wh.a", SBX_TREE_REG, NULL) == 0);
    CU_ASSERT_EQUAL(c->inode->refs, 2);
    /* A link onto its own target's name is harmless. */
    CU_ASSERT(add(&t, 3, "c", SBX_TREE_HARDLINK, "c") == 0);
    CU_ASSERT_EQUAL(sbx_tree_lookup(&t, "c")->inode->refs, 2);
    CU_ASSERT(add(&t, 3, "x", SBX_TREE_HARDLINK, "nothing") == -ENOENT);
    CU_ASSERT(strstr(err.msg, "entry 'x': a hard link to 'nothing', which is not") != NULL);
    CU_ASSERT(add(&t, 3, "y", SBX_TREE_HARDLINK, "bin") == -EPERM);
    CU_ASSERT(add(&t, 3, "z", SBX_TREE_HARDLINK, "../etc/passwd") == -EPERM);
    CU_ASSERT(add(&t, 3, "z", SBX_TREE_HARDLINK, "/etc/passwd") == -EPERM);
    CU_ASSERT(!has(&t, "x") && !has(&t, "y") && !has(&t, "z"));
    sbx_tree_free(&t);
}

static void test_refusals(void)
{
    struct sbx_tree t;
    tree_new(&t, NULL);
    CU_ASSERT(add(&t, 1, "../x", SBX_TREE_REG, "x") == -EPERM);
    CU_ASSERT(strstr(err.msg, "entry '../x': a '..' component") != NULL);
    CU_ASSERT(add(&t, 1, "a/../../x", SBX_TREE_REG, "x") == -EPERM);
    CU_ASSERT(add(&t, 1, "/etc/x", SBX_TREE_REG, "x") == -EPERM);
    CU_ASSERT(strstr(err.msg, "an absolute name") != NULL);
    CU_ASSERT(add(&t, 1, "l", SBX_TREE_SYMLINK, "/etc") == 0);
    CU_ASSERT(add(&t, 1, "l/passwd", SBX_TREE_REG, "x") == -ELOOP);
    CU_ASSERT(strstr(err.msg, "'l' is a symlink") != NULL);
    CU_ASSERT(add(&t, 1, "l/.wh.passwd", SBX_TREE_REG, NULL) == -ELOOP);
    CU_ASSERT(add(&t, 1, "f", SBX_TREE_REG, "x") == 0);
    CU_ASSERT(add(&t, 1, "f/g", SBX_TREE_REG, "x") == -ENOTDIR);
    CU_ASSERT(add(&t, 1, "s", SBX_TREE_SYMLINK, "") == -EINVAL);
    /* A symlink is kept as one, dangling too, 0777 whatever the archive said. */
    CU_ASSERT(add(&t, 1, "dangling", SBX_TREE_SYMLINK, "../../no/such") == 0);
    CU_ASSERT_STRING_EQUAL(sbx_tree_lookup(&t, "dangling")->inode->target, "../../no/such");
    CU_ASSERT_EQUAL(sbx_tree_lookup(&t, "dangling")->inode->mode, 0777);
    CU_ASSERT(add(&t, 1, "", SBX_TREE_REG, "x") == -EINVAL);
    sbx_tree_free(&t);
}

static void test_limits(void)
{
    struct sbx_tree_limits l = {
        .max_entries = 4, .max_bytes = 10, .max_path = 32, .max_depth = 3, .max_xattrs = 16
    };
    struct sbx_tree t;
    tree_new(&t, &l);
    CU_ASSERT(add(&t, 1, "a/b/c/d", SBX_TREE_REG, "x") == -ENAMETOOLONG);
    CU_ASSERT(strstr(err.msg, "deeper than 3") != NULL);
    CU_ASSERT(add(&t, 1, "0123456789012345678901234567890123", SBX_TREE_REG, "x") == -ENAMETOOLONG);
    CU_ASSERT(add(&t, 1, "big", SBX_TREE_REG, "01234567890") == -EFBIG);
    CU_ASSERT(strstr(err.msg, "entry 'big'") != NULL);
    struct sbx_tree_xattr x = { .name = "user.long", .value = "0123456789", .len = 10 };
    struct sbx_tree_entry e = { .path = "xa", .type = SBX_TREE_DIR, .xattrs = &x, .nxattrs = 1 };
    CU_ASSERT(sbx_tree_apply(&t, &e, 1, false, &err) == -E2BIG);
    CU_ASSERT(strstr(err.msg, "entry 'xa': 19 bytes of xattrs") != NULL);
    CU_ASSERT(add(&t, 1, "e", SBX_TREE_REG, "x") == -E2BIG);
    CU_ASSERT(strstr(err.msg, "more than 4 entries") != NULL);
    sbx_tree_free(&t);
    /* Content longer or shorter than the entry's size. */
    tree_new(&t, NULL);
    struct content c = { .data = "abc" };
    struct sbx_tree_entry s = {
        .path = "short", .type = SBX_TREE_REG, .size = 5, .read = read_content, .read_ctx = &c
    };
    CU_ASSERT(sbx_tree_apply(&t, &s, 1, false, &err) == -EIO);
    CU_ASSERT(!has(&t, "short"));
    /* A failure the callee did not describe is named by its entry. */
    struct sbx_tree_entry d = {
        .path = "denied", .type = SBX_TREE_REG, .size = 1, .read = read_denied
    };
    CU_ASSERT(sbx_tree_apply(&t, &d, 1, false, &err) == -EACCES);
    CU_ASSERT(strstr(err.msg, "entry 'denied': Permission denied") != NULL);
    sbx_tree_free(&t);
}

static void test_digest(void)
{
    struct sbx_tree a, b;
    uint8_t da[32], db[32];
    tree_new(&a, NULL);
    tree_new(&b, NULL);
    /* The same tree in another order, through another history. */
    CU_ASSERT(add(&a, 1, "x", SBX_TREE_REG, "1") == 0);
    CU_ASSERT(add(&a, 1, "y", SBX_TREE_HARDLINK, "x") == 0);
    CU_ASSERT(add(&b, 1, "gone", SBX_TREE_REG, "g") == 0);
    CU_ASSERT(add(&b, 1, "x", SBX_TREE_REG, "1") == 0);
    CU_ASSERT(add(&b, 1, "y", SBX_TREE_HARDLINK, "x") == 0);
    CU_ASSERT(add(&b, 1, ".wh.gone", SBX_TREE_REG, NULL) == 0);
    sbx_tree_digest(&a, da);
    sbx_tree_digest(&b, db);
    CU_ASSERT(memcmp(da, db, 32) == 0);
    /* A copy is not a hard link. */
    CU_ASSERT(add(&b, 2, "y", SBX_TREE_REG, "1") == 0);
    sbx_tree_digest(&b, db);
    CU_ASSERT(memcmp(da, db, 32) != 0);
    sbx_tree_free(&a);
    sbx_tree_free(&b);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        { "whiteouts and opaque directories hide the layers below only", test_whiteouts },
        { "later layers override: file and directory either way", test_overrides },
        { "hard links share an inode, to existing non-directories only", test_hardlinks },
        { "'..', absolute names and writes through symlinks are refused", test_refusals },
        { "entry count, name, depth, size and xattr limits, named", test_limits },
        { "the digest is the tree's, not its history's", test_digest },
    };
    return sbx_test_main("image-tree", tests, ARRAY_SIZE(tests));
}
