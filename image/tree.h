/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tree an image is built from, in memory: directories, their entries
 * and inodes (shared by hard links), with file contents in an unlinked
 * spool file.  Archive entries are applied to it one by one, layer after
 * layer, with OCI whiteouts; nothing is ever written to a host path named
 * by an entry, so an archive cannot reach outside the image.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/error.h"

enum sbx_tree_type {
    SBX_TREE_DIR,
    SBX_TREE_REG,
    SBX_TREE_SYMLINK,
    SBX_TREE_CHR,
    SBX_TREE_BLK,
    SBX_TREE_FIFO,
    SBX_TREE_SOCK,
    SBX_TREE_HARDLINK, /* only in an entry: link to the existing entry `link` */
};

/* Limits on what one build may hold; an entry over any of them fails the build. */
struct sbx_tree_limits {
    uint64_t max_entries;
    uint64_t max_bytes;  /* sum of the regular files' sizes, every layer counted */
    uint32_t max_path;   /* bytes of an entry's name */
    uint32_t max_depth;  /* components of an entry's name */
    uint32_t max_xattrs; /* bytes of one entry's xattr names and values */
};
extern const struct sbx_tree_limits sbx_tree_default_limits;

struct sbx_tree_xattr {
    char *name;
    void *value;
    size_t len;
};

struct sbx_tree_node;

struct sbx_tree_inode {
    enum sbx_tree_type type;
    uint32_t mode; /* permission bits, setuid, setgid and sticky only */
    uint32_t uid, gid;
    int64_t mtime;
    uint32_t mtime_nsec;
    uint64_t rdev_major, rdev_minor;
    uint64_t size; /* regular file: bytes at spool_off in the spool */
    uint64_t spool_off;
    uint8_t sha256[32]; /* regular file: of its content */
    char *target;       /* symlink */
    struct sbx_tree_xattr *xattrs;
    size_t nxattrs;
    uint32_t refs;                   /* entries that name this inode */
    uint32_t out_ino;                /* assigned by the writer */
    struct sbx_tree_node **children; /* directory, sorted by name */
    size_t nchildren, capchildren;
};

struct sbx_tree_node {
    char *name;
    struct sbx_tree_inode *inode;
    unsigned layer; /* the layer that made it, for opaque directories */
};

/* One entry of an archive, as a source hands it over. */
struct sbx_tree_entry {
    const char *path;
    enum sbx_tree_type type;
    uint32_t mode;
    uint32_t uid, gid;
    int64_t mtime;
    uint32_t mtime_nsec;
    uint64_t rdev_major, rdev_minor;
    uint64_t size;
    const char *link; /* symlink target, or the hard link's existing entry */
    const struct sbx_tree_xattr *xattrs;
    size_t nxattrs;
    /* Reads the regular file's content: bytes read, 0 at the end, -errno. */
    ssize_t (*read)(void *ctx, void *buf, size_t len);
    void *read_ctx;
};

struct sbx_tree {
    struct sbx_tree_node root;
    struct sbx_tree_limits limits;
    int spool_fd;
    uint64_t spool_end;
    uint64_t entries, bytes, inodes;
    int64_t max_mtime;
};

/* spool_dir holds the unlinked spool file (O_TMPFILE).  0, or -errno with err set. */
int sbx_tree_init(struct sbx_tree *t, const struct sbx_tree_limits *limits, const char *spool_dir,
                  struct sbx_error *err);
void sbx_tree_free(struct sbx_tree *t);

/*
 * Applies one entry of layer `layer`.  With whiteouts, `.wh.NAME` removes
 * NAME from the layers below and `.wh..wh..opq` empties its directory of
 * them.  Fails with err naming the entry.
 */
int sbx_tree_apply(struct sbx_tree *t, const struct sbx_tree_entry *e, unsigned layer,
                   bool whiteouts, struct sbx_error *err);

/* The entry at path, symlinks not followed; NULL if there is none. */
struct sbx_tree_node *sbx_tree_lookup(struct sbx_tree *t, const char *path);

/* Reads len bytes of a regular file's content at off. */
int sbx_tree_read(const struct sbx_tree *t, const struct sbx_tree_inode *ino, uint64_t off,
                  void *buf, size_t len);

/*
 * A digest of the whole tree (names, types, modes, owners, times, devices,
 * targets, xattrs, contents, hard link groups): the same tree gives the
 * same digest, whichever source it came from.
 */
void sbx_tree_digest(const struct sbx_tree *t, uint8_t out[32]);

/* Calls fn for every entry, parents before children, names in byte order. */
int sbx_tree_walk(struct sbx_tree *t,
                  int (*fn)(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *node),
                  void *ctx);
