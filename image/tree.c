/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory tree of an image build (image/tree.h).  Names are split
 * into components here and looked up in the tree, never on the host:
 * `..` and absolute names are refused, an existing symlink is never
 * followed (an entry under it is refused), and a hard link must name an
 * entry already in the tree.
 */
#include "image/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/macro.h"

const struct sbx_tree_limits sbx_tree_default_limits = {
    .max_entries = 4000000,
    .max_bytes = 256ULL << 30,
    .max_path = 4096,
    .max_depth = 256,
    .max_xattrs = 3072,
};

/* ext4's limit on one name. */
#define NAME_MAX_BYTES 255
/* ext4's limit on a symlink's target (one block, less its terminating NUL). */
#define TARGET_MAX_BYTES 4095

#define ERR(err, r, ...) sbx_error_set((err), (r), __VA_ARGS__)

static struct sbx_tree_inode *inode_new(enum sbx_tree_type type)
{
    struct sbx_tree_inode *i = calloc(1, sizeof(*i));
    if (i)
        i->type = type;
    return i;
}

static void node_free(struct sbx_tree *t, struct sbx_tree_node *n);

static void inode_unref(struct sbx_tree *t, struct sbx_tree_inode *i)
{
    if (!i || --i->refs > 0)
        return;
    for (size_t k = 0; k < i->nchildren; k++)
        node_free(t, i->children[k]);
    free(i->children);
    for (size_t k = 0; k < i->nxattrs; k++) {
        free(i->xattrs[k].name);
        free(i->xattrs[k].value);
    }
    free(i->xattrs);
    free(i->target);
    free(i);
    t->inodes--;
}

static void node_free(struct sbx_tree *t, struct sbx_tree_node *n)
{
    inode_unref(t, n->inode);
    free(n->name);
    free(n);
}

int sbx_tree_init(struct sbx_tree *t, const struct sbx_tree_limits *limits, const char *spool_dir,
                  struct sbx_error *err)
{
    *t = (struct sbx_tree){ .limits = limits ? *limits : sbx_tree_default_limits, .spool_fd = -1 };
    t->root.name = strdup("");
    t->root.inode = inode_new(SBX_TREE_DIR);
    if (!t->root.name || !t->root.inode)
        return -ENOMEM;
    t->root.inode->mode = 0755;
    t->root.inode->refs = 1;
    t->inodes = 1;
    t->spool_fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t->spool_fd < 0)
        return ERR(err, sbx_neg_errno(), "cannot make a spool file in %s: %s", spool_dir,
                   strerror(errno));
    return 0;
}

void sbx_tree_free(struct sbx_tree *t)
{
    inode_unref(t, t->root.inode);
    t->root.inode = NULL;
    free(t->root.name);
    t->root.name = NULL;
    t->spool_fd = sbx_close(t->spool_fd);
}

/* The index of name in dir, or where it would go (with *found false). */
static size_t child_find(const struct sbx_tree_inode *dir, const char *name, bool *found)
{
    size_t lo = 0, hi = dir->nchildren;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(dir->children[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int child_insert(struct sbx_tree_inode *dir, size_t at, struct sbx_tree_node *n)
{
    if (dir->nchildren == dir->capchildren) {
        size_t cap = dir->capchildren ? dir->capchildren * 2 : 8;
        struct sbx_tree_node **c = realloc(dir->children, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        dir->children = c;
        dir->capchildren = cap;
    }
    memmove(dir->children + at + 1, dir->children + at, (dir->nchildren - at) * sizeof(n));
    dir->children[at] = n;
    dir->nchildren++;
    return 0;
}

static void child_remove(struct sbx_tree *t, struct sbx_tree_inode *dir, size_t at)
{
    node_free(t, dir->children[at]);
    memmove(dir->children + at, dir->children + at + 1,
            (dir->nchildren - at - 1) * sizeof(*dir->children));
    dir->nchildren--;
}

/*
 * Splits path into components in buf (NUL-separated), skipping empty and
 * `.` ones.  Refuses absolute names and `..` (which no well-formed layer
 * has) rather than guessing what they meant.
 */
static int split(struct sbx_tree *t, const char *what, const char *path, char *buf, char **comps,
                 unsigned *ncomps, struct sbx_error *err)
{
    size_t len = strlen(path);
    if (len > t->limits.max_path)
        return ERR(err, -ENAMETOOLONG, "%s '%.64s...': a name of %zu bytes, over the limit of %u",
                   what, path, len, t->limits.max_path);
    if (path[0] == '/')
        return ERR(err, -EPERM, "%s '%s': an absolute name, refused", what, path);
    memcpy(buf, path, len + 1);
    unsigned n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0)
            return ERR(err, -EPERM, "%s '%s': a '..' component, refused", what, path);
        if (strlen(c) > NAME_MAX_BYTES)
            return ERR(err, -ENAMETOOLONG, "%s '%s': a component longer than %d bytes", what, path,
                       NAME_MAX_BYTES);
        if (n == t->limits.max_depth)
            return ERR(err, -ENAMETOOLONG, "%s '%s': deeper than %u components", what, path,
                       t->limits.max_depth);
        comps[n++] = c;
    }
    *ncomps = n;
    return 0;
}

/*
 * The directory that holds comps[0..n-1], made (as root's 0755, time 0)
 * where missing when create is set.  A symlink or a file in the way is an
 * error: writing through a symlink is how archives escape.  NULL with
 * *ret 0 when it is missing and create is not set.
 */
static struct sbx_tree_inode *walk_dirs(struct sbx_tree *t, const char *path, char **comps,
                                        unsigned n, bool create, unsigned layer, int *ret,
                                        struct sbx_error *err)
{
    struct sbx_tree_inode *dir = t->root.inode;
    *ret = 0;
    for (unsigned k = 0; k < n; k++) {
        bool found;
        size_t at = child_find(dir, comps[k], &found);
        if (found) {
            struct sbx_tree_inode *c = dir->children[at]->inode;
            if (c->type == SBX_TREE_SYMLINK) {
                *ret =
                    ERR(err, -ELOOP, "entry '%s': '%s' is a symlink; writing through it is refused",
                        path, comps[k]);
                return NULL;
            }
            if (c->type != SBX_TREE_DIR) {
                *ret = ERR(err, -ENOTDIR, "entry '%s': '%s' is not a directory", path, comps[k]);
                return NULL;
            }
            dir = c;
            continue;
        }
        if (!create)
            return NULL;
        struct sbx_tree_node *nn = calloc(1, sizeof(*nn));
        if (!nn || !(nn->name = strdup(comps[k])) || !(nn->inode = inode_new(SBX_TREE_DIR))) {
            if (nn)
                free(nn->name);
            free(nn);
            *ret = -ENOMEM;
            return NULL;
        }
        nn->inode->mode = 0755;
        nn->inode->refs = 1;
        nn->layer = layer;
        t->inodes++;
        if ((*ret = child_insert(dir, at, nn)) < 0) {
            node_free(t, nn);
            return NULL;
        }
        dir = nn->inode;
    }
    return dir;
}

struct sbx_tree_node *sbx_tree_lookup(struct sbx_tree *t, const char *path)
{
    _cleanup_free_ char *buf = malloc(strlen(path) + 1);
    _cleanup_free_ char **comps = calloc(t->limits.max_depth + 1, sizeof(char *));
    unsigned n;
    struct sbx_error ignored;
    if (!buf || !comps || split(t, "entry", path, buf, comps, &n, &ignored) < 0)
        return NULL;
    if (n == 0)
        return &t->root;
    int r;
    struct sbx_tree_inode *dir = walk_dirs(t, path, comps, n - 1, false, 0, &r, &ignored);
    if (!dir)
        return NULL;
    bool found;
    size_t at = child_find(dir, comps[n - 1], &found);
    return found ? dir->children[at] : NULL;
}

static int set_xattrs(struct sbx_tree *t, struct sbx_tree_inode *i, const struct sbx_tree_entry *e,
                      struct sbx_error *err)
{
    size_t total = 0;
    for (size_t k = 0; k < e->nxattrs; k++)
        total += strlen(e->xattrs[k].name) + e->xattrs[k].len;
    if (total > t->limits.max_xattrs)
        return ERR(err, -E2BIG, "entry '%s': %zu bytes of xattrs, over the limit of %u", e->path,
                   total, t->limits.max_xattrs);
    for (size_t k = 0; k < i->nxattrs; k++) {
        free(i->xattrs[k].name);
        free(i->xattrs[k].value);
    }
    free(i->xattrs);
    i->xattrs = NULL;
    i->nxattrs = 0;
    if (e->nxattrs == 0)
        return 0;
    i->xattrs = calloc(e->nxattrs, sizeof(*i->xattrs));
    if (!i->xattrs)
        return -ENOMEM;
    for (size_t k = 0; k < e->nxattrs; k++) {
        struct sbx_tree_xattr *x = &i->xattrs[k];
        x->name = strdup(e->xattrs[k].name);
        x->value = malloc(e->xattrs[k].len ? e->xattrs[k].len : 1);
        if (!x->name || !x->value) {
            free(x->name);
            free(x->value);
            return -ENOMEM;
        }
        memcpy(x->value, e->xattrs[k].value, e->xattrs[k].len);
        x->len = e->xattrs[k].len;
        i->nxattrs++;
    }
    return 0;
}

static void set_attrs(struct sbx_tree *t, struct sbx_tree_inode *i, const struct sbx_tree_entry *e)
{
    /* Some tools write the file type into the mode field too. */
    i->mode = e->mode & 07777;
    i->uid = e->uid;
    i->gid = e->gid;
    i->mtime = e->mtime;
    i->mtime_nsec = e->mtime_nsec < 1000000000 ? e->mtime_nsec : 0;
    if (e->mtime > t->max_mtime)
        t->max_mtime = e->mtime;
}

/* Copies the entry's content to the end of the spool, hashing it on the way. */
static int spool(struct sbx_tree *t, struct sbx_tree_inode *i, const struct sbx_tree_entry *e,
                 struct sbx_error *err)
{
    if (e->size > t->limits.max_bytes - t->bytes)
        return ERR(err, -EFBIG,
                   "entry '%s': %llu bytes would take the build over its limit of %llu", e->path,
                   (unsigned long long)e->size, (unsigned long long)t->limits.max_bytes);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -ENOMEM;
    }
    char buf[65536];
    uint64_t done = 0;
    int r = 0;
    while (e->read) {
        ssize_t n = e->read(e->read_ctx, buf, sizeof(buf));
        if (n < 0) {
            r = (int)n;
            break;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > e->size - done) {
            r = ERR(err, -EFBIG, "entry '%s': more content than its size of %llu", e->path,
                    (unsigned long long)e->size);
            break;
        }
        if (pwrite(t->spool_fd, buf, (size_t)n, (off_t)(t->spool_end + done)) != n) {
            r = ERR(err, sbx_neg_errno(), "entry '%s': cannot write to the spool file: %s", e->path,
                    strerror(errno));
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        done += (uint64_t)n;
    }
    if (r == 0 && done != e->size)
        r = ERR(err, -EIO, "entry '%s': %llu bytes of content where its size says %llu", e->path,
                (unsigned long long)done, (unsigned long long)e->size);
    if (r == 0) {
        EVP_DigestFinal_ex(md, i->sha256, NULL);
        i->spool_off = t->spool_end;
        i->size = done;
        t->spool_end += done;
        t->bytes += done;
    }
    EVP_MD_CTX_free(md);
    return r;
}

static int apply_whiteout(struct sbx_tree *t, const struct sbx_tree_entry *e, char **comps,
                          unsigned n, unsigned layer, struct sbx_error *err)
{
    const char *base = comps[n - 1];
    int r;
    struct sbx_tree_inode *dir = walk_dirs(t, e->path, comps, n - 1, false, layer, &r, err);
    if (!dir)
        return r; /* nothing below to hide */
    if (strcmp(base, ".wh..wh..opq") == 0) {
        for (size_t k = dir->nchildren; k-- > 0;)
            if (dir->children[k]->layer < layer)
                child_remove(t, dir, k);
        return 0;
    }
    if (strncmp(base, ".wh..wh.", 8) == 0)
        return ERR(err, -EOPNOTSUPP,
                   "entry '%s': an unsupported whiteout (only .wh.NAME and "
                   ".wh..wh..opq are known)",
                   e->path);
    const char *name = base + 4;
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return ERR(err, -EINVAL, "entry '%s': a whiteout of no name", e->path);
    bool found;
    size_t at = child_find(dir, name, &found);
    if (found)
        child_remove(t, dir, at);
    return 0;
}

static int apply_entry(struct sbx_tree *t, const struct sbx_tree_entry *e, unsigned layer,
                       bool whiteouts, struct sbx_error *err)
{
    if (t->entries >= t->limits.max_entries)
        return ERR(err, -E2BIG, "entry '%s': more than %llu entries", e->path,
                   (unsigned long long)t->limits.max_entries);
    t->entries++;
    _cleanup_free_ char *buf = malloc(strlen(e->path) + 1);
    _cleanup_free_ char **comps = calloc(t->limits.max_depth + 1, sizeof(char *));
    if (!buf || !comps)
        return -ENOMEM;
    unsigned n;
    int r = split(t, "entry", e->path, buf, comps, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        /* The root itself ("./"): only its attributes. */
        if (e->type != SBX_TREE_DIR)
            return ERR(err, -EINVAL, "entry '%s': the root must be a directory", e->path);
        set_attrs(t, t->root.inode, e);
        return set_xattrs(t, t->root.inode, e, err);
    }
    if (whiteouts && strncmp(comps[n - 1], ".wh.", 4) == 0)
        return apply_whiteout(t, e, comps, n, layer, err);

    /* A hard link's target is found before anything at the link's own name goes. */
    struct sbx_tree_inode *linked = NULL;
    if (e->type == SBX_TREE_HARDLINK) {
        _cleanup_free_ char *lbuf = malloc(strlen(e->link) + 1);
        _cleanup_free_ char **lcomps = calloc(t->limits.max_depth + 1, sizeof(char *));
        unsigned ln;
        if (!lbuf || !lcomps)
            return -ENOMEM;
        char what[64 + 4096];
        snprintf(what, sizeof(what), "entry '%s': hard link target", e->path);
        if ((r = split(t, what, e->link, lbuf, lcomps, &ln, err)) < 0)
            return r;
        struct sbx_tree_inode *ldir =
            ln ? walk_dirs(t, e->link, lcomps, ln - 1, false, layer, &r, err) : NULL;
        bool found = false;
        size_t at = ldir ? child_find(ldir, lcomps[ln - 1], &found) : 0;
        if (!found)
            return ERR(err, -ENOENT, "entry '%s': a hard link to '%s', which is not in the image",
                       e->path, e->link);
        linked = ldir->children[at]->inode;
        if (linked->type == SBX_TREE_DIR)
            return ERR(err, -EPERM, "entry '%s': a hard link to the directory '%s'", e->path,
                       e->link);
        linked->refs++; /* held across the removal of whatever is at the link's name */
    }

    struct sbx_tree_inode *dir = walk_dirs(t, e->path, comps, n - 1, true, layer, &r, err);
    if (!dir) {
        inode_unref(t, linked);
        return r;
    }
    bool found;
    size_t at = child_find(dir, comps[n - 1], &found);
    if (found && e->type == SBX_TREE_DIR && dir->children[at]->inode->type == SBX_TREE_DIR) {
        /* A directory again: new attributes, its entries stay. */
        struct sbx_tree_node *old = dir->children[at];
        old->layer = layer;
        set_attrs(t, old->inode, e);
        return set_xattrs(t, old->inode, e, err);
    }
    if (found)
        child_remove(t, dir, at);

    struct sbx_tree_node *nn = calloc(1, sizeof(*nn));
    if (!nn || !(nn->name = strdup(comps[n - 1]))) {
        free(nn);
        inode_unref(t, linked);
        return -ENOMEM;
    }
    nn->layer = layer;
    if (linked) {
        nn->inode = linked; /* the reference taken above */
    } else {
        if (!(nn->inode = inode_new(e->type))) {
            node_free(t, nn);
            return -ENOMEM;
        }
        nn->inode->refs = 1;
        t->inodes++;
        struct sbx_tree_inode *i = nn->inode;
        set_attrs(t, i, e);
        if ((r = set_xattrs(t, i, e, err)) < 0) {
            node_free(t, nn);
            return r;
        }
        switch (e->type) {
        case SBX_TREE_REG:
            r = spool(t, i, e, err);
            break;
        case SBX_TREE_SYMLINK:
            /* Linux makes every symlink 0777 and ignores its mode. */
            i->mode = 0777;
            if (!e->link || !e->link[0] || strlen(e->link) > TARGET_MAX_BYTES)
                r = ERR(err, -EINVAL, "entry '%s': a symlink target empty or over %d bytes",
                        e->path, TARGET_MAX_BYTES);
            else if (!(i->target = strdup(e->link)))
                r = -ENOMEM;
            break;
        case SBX_TREE_CHR:
        case SBX_TREE_BLK:
            if (e->rdev_major > 0xfff || e->rdev_minor > 0xfffff)
                r = ERR(err, -EINVAL, "entry '%s': device %llu:%llu out of range", e->path,
                        (unsigned long long)e->rdev_major, (unsigned long long)e->rdev_minor);
            i->rdev_major = e->rdev_major;
            i->rdev_minor = e->rdev_minor;
            break;
        default:
            break;
        }
        if (r < 0) {
            node_free(t, nn);
            return r;
        }
    }
    if ((r = child_insert(dir, at, nn)) < 0)
        node_free(t, nn);
    return r;
}

int sbx_tree_read(const struct sbx_tree *t, const struct sbx_tree_inode *ino, uint64_t off,
                  void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(t->spool_fd, (char *)buf + done, len - done,
                          (off_t)(ino->spool_off + off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

static int walk_dir(struct sbx_tree_node *parent, void *ctx,
                    int (*fn)(void *, struct sbx_tree_node *, struct sbx_tree_node *))
{
    struct sbx_tree_inode *d = parent->inode;
    for (size_t k = 0; k < d->nchildren; k++) {
        struct sbx_tree_node *c = d->children[k];
        int r = fn(ctx, parent, c);
        if (r < 0)
            return r;
        if (c->inode->type == SBX_TREE_DIR && (r = walk_dir(c, ctx, fn)) < 0)
            return r;
    }
    return 0;
}

int sbx_tree_walk(struct sbx_tree *t,
                  int (*fn)(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *node),
                  void *ctx)
{
    return walk_dir(&t->root, ctx, fn);
}

static void digest_inode(EVP_MD_CTX *md, const struct sbx_tree_inode *i)
{
    uint64_t f[] = { i->type,       i->mode,       i->uid,        i->gid,  (uint64_t)i->mtime,
                     i->mtime_nsec, i->rdev_major, i->rdev_minor, i->size, i->nxattrs };
    EVP_DigestUpdate(md, f, sizeof(f));
    if (i->type == SBX_TREE_REG)
        EVP_DigestUpdate(md, i->sha256, sizeof(i->sha256));
    if (i->target)
        EVP_DigestUpdate(md, i->target, strlen(i->target) + 1);
    for (size_t k = 0; k < i->nxattrs; k++) {
        EVP_DigestUpdate(md, i->xattrs[k].name, strlen(i->xattrs[k].name) + 1);
        uint64_t len = i->xattrs[k].len;
        EVP_DigestUpdate(md, &len, sizeof(len));
        EVP_DigestUpdate(md, i->xattrs[k].value, i->xattrs[k].len);
    }
}

struct digest_ctx {
    EVP_MD_CTX *md;
    uint32_t next; /* hard link groups are numbered in walk order */
};

static int digest_node(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    struct digest_ctx *d = ctx;
    EVP_DigestUpdate(d->md, &parent->inode->out_ino, sizeof(uint32_t));
    EVP_DigestUpdate(d->md, n->name, strlen(n->name) + 1);
    if (n->inode->out_ino) {
        /* A second name of an inode already seen. */
        EVP_DigestUpdate(d->md, &n->inode->out_ino, sizeof(uint32_t));
        return 0;
    }
    n->inode->out_ino = ++d->next;
    EVP_DigestUpdate(d->md, &n->inode->out_ino, sizeof(uint32_t));
    digest_inode(d->md, n->inode);
    return 0;
}

static int clear_ino(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    n->inode->out_ino = 0;
    return 0;
}

void sbx_tree_digest(const struct sbx_tree *ct, uint8_t out[32])
{
    struct sbx_tree *t = (struct sbx_tree *)ct; /* out_ino is scratch, cleared again */
    struct digest_ctx d = { .md = EVP_MD_CTX_new() };
    memset(out, 0, 32);
    if (!d.md || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(d.md);
        return;
    }
    t->root.inode->out_ino = ++d.next;
    digest_inode(d.md, t->root.inode);
    sbx_tree_walk(t, digest_node, &d);
    EVP_DigestFinal_ex(d.md, out, NULL);
    EVP_MD_CTX_free(d.md);
    sbx_tree_walk(t, clear_ino, NULL);
    t->root.inode->out_ino = 0;
}

int sbx_tree_apply(struct sbx_tree *t, const struct sbx_tree_entry *e, unsigned layer,
                   bool whiteouts, struct sbx_error *err)
{
    err->msg[0] = '\0';
    int r = apply_entry(t, e, layer, whiteouts, err);
    /* What failed without a word of its own (memory, a read callback) is named here. */
    if (r < 0 && !err->msg[0])
        sbx_error_set_errno(err, r, "entry '%s'", e->path);
    return r;
}
