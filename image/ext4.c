/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext4 writer of image builds.  libext2fs makes the filesystem in the
 * output file directly (as mke2fs and its -d option do, without a tree on
 * the host and without root): every inode, directory entry, extent and
 * xattr is written from the in-memory tree.  Its output is a function of
 * the tree and the seed alone: inodes are allocated in the tree's sorted
 * order, the UUID and hash seed come from the seed, and every time (inodes
 * and superblock) from the input.
 */
#include "image/ext4.h"

#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

#define BS SBX_EXT4_BLOCK_SIZE
#define INODE_SIZE 256
/* Fits in the inode: a fast symlink (i_block holds 60 bytes less the NUL). */
#define FAST_SYMLINK_MAX 59

struct size_ctx {
    uint64_t blocks, inodes;
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static int size_node(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    struct size_ctx *s = ctx;
    struct sbx_tree_inode *i = n->inode;
    /* A directory entry: 8 bytes and the name, in 4-byte steps; twice for slack. */
    parent->inode->out_ino += (uint32_t)((8 + strlen(n->name) + 3) & ~3u);
    if (i->out_ino == UINT32_MAX)
        return 0; /* another name of an inode counted */
    s->inodes++;
    if (i->type == SBX_TREE_REG)
        /* Four extents (of up to 128 MiB) fit in the inode; more need a block per 340. */
        s->blocks += div_up(i->size, BS) + i->size / (512ULL << 20);
    if (i->type == SBX_TREE_SYMLINK && strlen(i->target) > FAST_SYMLINK_MAX)
        s->blocks++;
    if (i->nxattrs)
        s->blocks++;
    if (i->type != SBX_TREE_DIR)
        i->out_ino = UINT32_MAX;
    return 0;
}

static int size_dirs(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    struct size_ctx *s = ctx;
    if (n->inode->type == SBX_TREE_DIR)
        s->blocks += 2 * div_up(n->inode->out_ino + 24, BS) + 1;
    n->inode->out_ino = 0;
    return 0;
}

uint64_t sbx_ext4_size(const struct sbx_tree *ct)
{
    struct sbx_tree *t = (struct sbx_tree *)ct; /* out_ino is scratch, cleared again */
    struct size_ctx s = { .inodes = 1 };
    t->root.inode->out_ino = 0;
    sbx_tree_walk(t, size_node, &s);
    s.blocks += 2 * div_up(t->root.inode->out_ino + 24, BS) + 1;
    t->root.inode->out_ino = 0;
    sbx_tree_walk(t, size_dirs, &s);
    uint64_t inodes = s.inodes + s.inodes / 10 + 64;
    uint64_t bytes = (s.blocks + s.blocks / 10) * BS + inodes * INODE_SIZE + (16ULL << 20);
    return div_up(bytes, 1ULL << 20) << 20;
}

/* The number of inodes a filesystem of `bytes` gets for t. */
static uint64_t inode_count(const struct sbx_tree *t, uint64_t bytes)
{
    uint64_t want = t->inodes + t->inodes / 10 + 64;
    /* At least one per 16 KiB, as mke2fs gives, so that --size leaves room to grow. */
    uint64_t dflt = bytes / 16384;
    uint64_t n = want > dflt ? want : dflt;
    return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : n;
}

struct writer {
    ext2_filsys fs;
    struct sbx_tree *t;
    struct sbx_error *err; /* what failed, for the caller */
    uint64_t done;
    sbx_ext4_progress_fn progress;
    void *progress_ctx;
    char path[8192]; /* of the entry being written, for messages */
    size_t pathlen;
};

static int fail(struct writer *w, errcode_t e, const char *what)
{
    return sbx_error_set(
        w->err, e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL ? ENOSPC : EIO,
        "'%s': %s: %s%s", w->pathlen ? w->path : "/", what, error_message(e),
        e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL ||
                e == EXT2_ET_DIR_NO_SPACE_FOR_CSUM
            ? " (give a larger --size)"
            : "");
}

static int file_type(enum sbx_tree_type t)
{
    switch (t) {
    case SBX_TREE_DIR:
        return EXT2_FT_DIR;
    case SBX_TREE_REG:
        return EXT2_FT_REG_FILE;
    case SBX_TREE_SYMLINK:
        return EXT2_FT_SYMLINK;
    case SBX_TREE_CHR:
        return EXT2_FT_CHRDEV;
    case SBX_TREE_BLK:
        return EXT2_FT_BLKDEV;
    case SBX_TREE_FIFO:
        return EXT2_FT_FIFO;
    case SBX_TREE_SOCK:
        return EXT2_FT_SOCK;
    default:
        return EXT2_FT_UNKNOWN;
    }
}

static unsigned mode_type(enum sbx_tree_type t)
{
    switch (t) {
    case SBX_TREE_DIR:
        return LINUX_S_IFDIR;
    case SBX_TREE_REG:
        return LINUX_S_IFREG;
    case SBX_TREE_SYMLINK:
        return LINUX_S_IFLNK;
    case SBX_TREE_CHR:
        return LINUX_S_IFCHR;
    case SBX_TREE_BLK:
        return LINUX_S_IFBLK;
    case SBX_TREE_FIFO:
        return LINUX_S_IFIFO;
    default:
        return LINUX_S_IFSOCK;
    }
}

static errcode_t link_entry(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                            int type)
{
    errcode_t e = ext2fs_link(fs, dir, name, ino, type);
    if (e == EXT2_ET_DIR_NO_SPACE) {
        if ((e = ext2fs_expand_dir(fs, dir)) != 0)
            return e;
        e = ext2fs_link(fs, dir, name, ino, type);
    }
    return e;
}

static uint32_t time_extra(const struct sbx_tree_inode *i)
{
    /* Bits 0-1 extend the seconds past 2038; the rest are nanoseconds. */
    uint64_t epoch = ((uint64_t)i->mtime - (uint64_t)(int32_t)i->mtime) >> 32;
    return (uint32_t)(i->mtime_nsec << 2) | (uint32_t)(epoch & 3);
}

/* Mode, owner, times and link count of an inode just made, from the tree. */
static int set_attrs(struct writer *w, ext2_ino_t ino, const struct sbx_tree_inode *i)
{
    struct ext2_inode_large in;
    errcode_t e = ext2fs_read_inode_full(w->fs, ino, (struct ext2_inode *)&in, sizeof(in));
    if (e)
        return fail(w, e, "cannot read its inode back");
    in.i_mode = (__u16)(mode_type(i->type) | (i->mode & 07777));
    in.i_uid = (__u16)i->uid;
    ext2fs_set_i_uid_high(in, i->uid >> 16);
    in.i_gid = (__u16)i->gid;
    ext2fs_set_i_gid_high(in, i->gid >> 16);
    in.i_atime = in.i_ctime = in.i_mtime = in.i_crtime = (__u32)i->mtime;
    if (in.i_extra_isize >= 24)
        in.i_atime_extra = in.i_ctime_extra = in.i_mtime_extra = in.i_crtime_extra = time_extra(i);
    if (i->type != SBX_TREE_DIR)
        in.i_links_count = (__u16)i->refs;
    e = ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)&in, sizeof(in));
    return e ? fail(w, e, "cannot write its inode") : 0;
}

static int set_xattrs(struct writer *w, ext2_ino_t ino, const struct sbx_tree_inode *i)
{
    if (i->nxattrs == 0)
        return 0;
    struct ext2_xattr_handle *h = NULL;
    errcode_t e = ext2fs_xattrs_open(w->fs, ino, &h);
    if (!e)
        e = ext2fs_xattrs_read(h);
    for (size_t k = 0; !e && k < i->nxattrs; k++)
        if ((e = ext2fs_xattr_set(h, i->xattrs[k].name, i->xattrs[k].value, i->xattrs[k].len)))
            snprintf(w->path + w->pathlen, sizeof(w->path) - w->pathlen, " (xattr %s)",
                     i->xattrs[k].name);
    errcode_t c = h ? ext2fs_xattrs_close(&h) : 0;
    if (!e)
        e = c;
    return e ? fail(w, e, "cannot store its xattrs") : 0;
}

static bool all_zero(const char *buf, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (buf[k])
            return false;
    return true;
}

/* The content from the spool; whole blocks of zeros become holes. */
static int write_content(struct writer *w, ext2_ino_t ino, const struct sbx_tree_inode *i)
{
    ext2_file_t f;
    errcode_t e = ext2fs_file_open(w->fs, ino, EXT2_FILE_WRITE, &f);
    if (e)
        return fail(w, e, "cannot open its inode");
    static char buf[1 << 20];
    uint64_t off = 0;
    int r = 0;
    while (!e && r == 0 && off < i->size) {
        size_t len = i->size - off < sizeof(buf) ? (size_t)(i->size - off) : sizeof(buf);
        if ((r = sbx_tree_read(w->t, i, off, buf, len)) < 0) {
            sbx_error_set(w->err, r, "'%s': cannot read its content from the spool: %s", w->path,
                          strerror(-r));
            break;
        }
        for (size_t p = 0; !e && p < len; p += BS) {
            size_t n = len - p < BS ? len - p : BS;
            if (n == BS && all_zero(buf + p, n)) {
                e = ext2fs_file_llseek(f, off + p + n, EXT2_SEEK_SET, NULL);
                continue;
            }
            unsigned int got;
            e = ext2fs_file_write(f, buf + p, (unsigned int)n, &got);
            if (!e && got != n)
                e = EXT2_ET_SHORT_WRITE;
        }
        off += len;
    }
    if (!e && r == 0)
        e = ext2fs_file_set_size2(f, i->size);
    errcode_t c = ext2fs_file_close(f);
    if (r < 0)
        return r;
    if (!e)
        e = c;
    return e ? fail(w, e, "cannot write its content") : 0;
}

static int new_inode(struct writer *w, ext2_ino_t dir, const struct sbx_tree_inode *i,
                     ext2_ino_t *ret)
{
    errcode_t e = ext2fs_new_inode(w->fs, dir, (int)(mode_type(i->type) | i->mode), NULL, ret);
    return e ? fail(w, e, "cannot allocate an inode") : 0;
}

/* A regular file, device, fifo or socket: an inode, linked into dir. */
static int make_plain(struct writer *w, ext2_ino_t dir, const char *name,
                      const struct sbx_tree_inode *i, ext2_ino_t *ret)
{
    ext2_ino_t ino;
    int r = new_inode(w, dir, i, &ino);
    if (r < 0)
        return r;
    errcode_t e = link_entry(w->fs, dir, name, ino, file_type(i->type));
    if (e)
        return fail(w, e, "cannot link it into its directory");
    ext2fs_inode_alloc_stats2(w->fs, ino, +1, 0);
    struct ext2_inode_large in;
    memset(&in, 0, sizeof(in));
    in.i_mode = (__u16)(mode_type(i->type) | i->mode);
    in.i_links_count = 1;
    in.i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
    if (i->type == SBX_TREE_CHR || i->type == SBX_TREE_BLK) {
        /* The old encoding where it fits, as the kernel writes it. */
        uint32_t maj = (uint32_t)i->rdev_major, min = (uint32_t)i->rdev_minor;
        if (maj < 256 && min < 256) {
            in.i_block[0] = maj * 256 + min;
        } else {
            in.i_block[1] = (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
        }
    }
    if (i->type == SBX_TREE_REG && ext2fs_has_feature_extents(w->fs->super)) {
        ext2_extent_handle_t h;
        if ((e = ext2fs_extent_open2(w->fs, ino, (struct ext2_inode *)&in, &h)))
            return fail(w, e, "cannot start its extent tree");
        ext2fs_extent_free(h);
    }
    if ((e = ext2fs_write_new_inode(w->fs, ino, (struct ext2_inode *)&in)))
        return fail(w, e, "cannot write its inode");
    if (i->type == SBX_TREE_REG && i->size && (r = write_content(w, ino, i)) < 0)
        return r;
    *ret = ino;
    return 0;
}

static int make_symlink(struct writer *w, ext2_ino_t dir, const char *name,
                        const struct sbx_tree_inode *i, ext2_ino_t *ret)
{
    ext2_ino_t ino;
    int r = new_inode(w, dir, i, &ino);
    if (r < 0)
        return r;
    errcode_t e = ext2fs_symlink(w->fs, dir, ino, name, i->target);
    if (e == EXT2_ET_DIR_NO_SPACE) {
        if ((e = ext2fs_expand_dir(w->fs, dir)) == 0)
            e = ext2fs_symlink(w->fs, dir, ino, name, i->target);
    }
    if (e)
        return fail(w, e, "cannot make the symlink");
    *ret = ino;
    return 0;
}

static int make_dir(struct writer *w, ext2_ino_t dir, const char *name,
                    const struct sbx_tree_inode *i, ext2_ino_t *ret)
{
    ext2_ino_t ino;
    int r = new_inode(w, dir, i, &ino);
    if (r < 0)
        return r;
    errcode_t e = ext2fs_mkdir(w->fs, dir, ino, name);
    if (e == EXT2_ET_DIR_NO_SPACE) {
        if ((e = ext2fs_expand_dir(w->fs, dir)) == 0)
            e = ext2fs_mkdir(w->fs, dir, ino, name);
    }
    if (e)
        return fail(w, e, "cannot make the directory");
    *ret = ino;
    return 0;
}

static int write_node(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n);

static int write_dir(struct writer *w, struct sbx_tree_node *d)
{
    size_t mark = w->pathlen;
    for (size_t k = 0; k < d->inode->nchildren; k++) {
        struct sbx_tree_node *c = d->inode->children[k];
        int r = write_node(w, d, c);
        if (r < 0)
            return r;
        if (c->inode->type == SBX_TREE_DIR && (r = write_dir(w, c)) < 0)
            return r;
        w->pathlen = mark;
        w->path[mark] = '\0';
    }
    return 0;
}

static int write_node(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    struct writer *w = ctx;
    struct sbx_tree_inode *i = n->inode;
    ext2_ino_t dir = parent->inode->out_ino;
    int len = snprintf(w->path + w->pathlen, sizeof(w->path) - w->pathlen, "/%s", n->name);
    if (len > 0 && w->pathlen + (size_t)len < sizeof(w->path))
        w->pathlen += (size_t)len;
    if (i->out_ino) {
        /* Another name of an inode written already: a hard link. */
        errcode_t e = link_entry(w->fs, dir, n->name, i->out_ino, file_type(i->type));
        return e ? fail(w, e, "cannot link it into its directory") : 0;
    }
    ext2_ino_t ino = 0;
    int r;
    switch (i->type) {
    case SBX_TREE_DIR:
        r = make_dir(w, dir, n->name, i, &ino);
        break;
    case SBX_TREE_SYMLINK:
        r = make_symlink(w, dir, n->name, i, &ino);
        break;
    default:
        r = make_plain(w, dir, n->name, i, &ino);
        break;
    }
    if (r < 0 || (r = set_attrs(w, ino, i)) < 0 || (r = set_xattrs(w, ino, i)) < 0)
        return r;
    i->out_ino = ino;
    w->done++;
    if (w->progress && (w->done & 1023) == 0)
        w->progress(w->progress_ctx, w->done, w->t->inodes);
    return 0;
}

static int clear_ino(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    n->inode->out_ino = 0;
    return 0;
}

static int make_fs(struct writer *w, int fd, uint64_t bytes, const uint8_t seed[32])
{
    struct ext2_super_block param;
    memset(&param, 0, sizeof(param));
    ext2fs_blocks_count_set(&param, bytes / BS);
    param.s_log_block_size = 2; /* 1024 << 2 */
    param.s_rev_level = EXT2_DYNAMIC_REV;
    param.s_inode_size = INODE_SIZE;
    param.s_inodes_count = (__u32)inode_count(w->t, bytes);
    /* What mke2fs gives ext4, less the journal (the image is mounted read-only). */
    param.s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_DIR_INDEX;
    param.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
                               EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG;
    param.s_feature_ro_compat =
        EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
        EXT4_FEATURE_RO_COMPAT_HUGE_FILE | EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
        EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE;
    param.s_log_groups_per_flex = 4;
    param.s_default_mount_opts = 0;
    /* The library closes the descriptor it was given; the caller keeps its own. */
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dfd < 0)
        return sbx_neg_errno();
    char name[16];
    snprintf(name, sizeof(name), "%d", dfd);
    errcode_t e = ext2fs_initialize(name, EXT2_FLAG_64BITS, &param, unixfd_io_manager, &w->fs);
    if (e) {
        close(dfd);
        return sbx_error_set(w->err, EIO, "cannot make the filesystem: %s", error_message(e));
    }
    ext2_filsys fs = w->fs;
    /* Times the library sets itself (superblock, new inodes) are the input's too. */
    time_t now = w->t->max_mtime > 0 ? (time_t)w->t->max_mtime : 1;
    fs->now = now;
    struct ext2_super_block *sb = fs->super;
    memcpy(sb->s_uuid, seed, 16);
    memcpy(sb->s_hash_seed, seed + 16, 16);
    sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
    sb->s_flags |= EXT2_FLAGS_UNSIGNED_HASH;
    sb->s_mkfs_time = sb->s_wtime = sb->s_lastcheck = (__u32)now;
    sb->s_max_mnt_count = (__u16)-1;
    sb->s_checkinterval = 0;
    sb->s_min_extra_isize = sb->s_want_extra_isize =
        sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
    snprintf((char *)sb->s_volume_name, sizeof(sb->s_volume_name), "sandboxd");
    if ((e = ext2fs_allocate_tables(fs))) {
        return sbx_error_set(w->err, EIO, "cannot allocate the filesystem's tables: %s",
                             error_message(e));
    }
    /* The reserved inodes, as mke2fs marks them. */
    for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(sb); i++)
        ext2fs_inode_alloc_stats2(fs, i, +1, 0);
    ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
    ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
    if ((e = ext2fs_update_bb_inode(fs, NULL)) ||
        (e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, 0))) {
        return sbx_error_set(w->err, EIO, "cannot make the root directory: %s", error_message(e));
    }
    return 0;
}

int sbx_ext4_write(struct sbx_tree *t, int fd, uint64_t bytes, const uint8_t seed[32],
                   sbx_ext4_progress_fn progress, void *progress_ctx, struct sbx_error *e)
{
    initialize_ext2_error_table();
    if (ftruncate(fd, (off_t)bytes) < 0) {
        return sbx_error_set_errno(e, errno, "cannot make the output %llu bytes long",
                                   (unsigned long long)bytes);
    }
    struct writer w = { .t = t, .err = e, .progress = progress, .progress_ctx = progress_ctx };
    int r = make_fs(&w, fd, bytes, seed);
    if (r < 0) {
        if (w.fs)
            ext2fs_free(w.fs);
        return r;
    }
    sbx_tree_walk(t, clear_ino, NULL);
    t->root.inode->out_ino = EXT2_ROOT_INO;
    r = set_attrs(&w, EXT2_ROOT_INO, t->root.inode);
    if (r == 0)
        r = set_xattrs(&w, EXT2_ROOT_INO, t->root.inode);
    /* lost+found, as mke2fs makes it, unless the tree has its own. */
    struct sbx_tree_node *lf = sbx_tree_lookup(t, "lost+found");
    if (r == 0 && !lf) {
        ext2_ino_t ino;
        errcode_t ec = ext2fs_mkdir(w.fs, EXT2_ROOT_INO, 0, "lost+found");
        if (!ec)
            ec = ext2fs_lookup(w.fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &ino);
        for (int k = 0; !ec && k < 3; k++)
            ec = ext2fs_expand_dir(w.fs, ino);
        if (ec)
            r = fail(&w, ec, "cannot make lost+found");
    }
    if (r == 0)
        r = write_dir(&w, &t->root);
    if (r == 0 && progress)
        progress(progress_ctx, w.done, t->inodes);
    if (r < 0) {
        ext2fs_free(w.fs);
        return r;
    }
    errcode_t ec = ext2fs_close_free(&w.fs);
    if (ec)
        return sbx_error_set(e, EIO, "cannot write the filesystem out: %s", error_message(ec));
    return 0;
}
