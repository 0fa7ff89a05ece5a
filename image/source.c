/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Directories and tar archives as image sources, and the one place where a
 * libarchive entry becomes a tree entry.  libarchive only reads here: it
 * never writes anything to the host.
 */
#include "image/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/oci.h"
#include "sbx/macro.h"

/* Most xattrs one entry may carry (their bytes are limited by the tree). */
#define MAX_ENTRY_XATTRS 64

void sbx_source_hex(const uint8_t sha[32], char out[72])
{
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", sha[i]);
}

static ssize_t read_archive_data(void *ctx, void *buf, size_t len)
{
    la_ssize_t n = archive_read_data(ctx, buf, len);
    return n < 0 ? -EIO : n;
}

static int entry_type(mode_t ft, enum sbx_tree_type *ret)
{
    switch (ft) {
    case AE_IFDIR:
        *ret = SBX_TREE_DIR;
        return 0;
    case AE_IFREG:
        *ret = SBX_TREE_REG;
        return 0;
    case AE_IFLNK:
        *ret = SBX_TREE_SYMLINK;
        return 0;
    case AE_IFCHR:
        *ret = SBX_TREE_CHR;
        return 0;
    case AE_IFBLK:
        *ret = SBX_TREE_BLK;
        return 0;
    case AE_IFIFO:
        *ret = SBX_TREE_FIFO;
        return 0;
    case AE_IFSOCK:
        *ret = SBX_TREE_SOCK;
        return 0;
    default:
        return -EINVAL;
    }
}

/*
 * POSIX ACLs: libarchive reads a tar's SCHILY.acl.* records, and a
 * directory's ACLs, into the entry's ACL, not into its xattrs, so they are
 * turned back into the system.posix_acl_* xattrs the kernel reads (the
 * format of linux/posix_acl_xattr.h; libext2fs stores it in ext4's own).
 */
#define ACL_XATTR_VERSION 2
#define MAX_ACL_ENTRIES 384 /* more do not fit in one entry's xattr bytes anyway */

struct acl_xattr {
    uint8_t buf[4 + 8 * MAX_ACL_ENTRIES];
    size_t len;
};

struct acl_item {
    uint16_t tag, perm;
    uint32_t id;
};

static int acl_item_cmp(const void *a, const void *b)
{
    const struct acl_item *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void put_le(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * The entry's ACL of type (access or default) as an xattr value in *x;
 * x->len 0 when it has none.  *mask is the mask's permissions, -1 without
 * one.
 */
static int acl_to_xattr(struct archive_entry *ae, int type, struct acl_xattr *x, int *mask,
                        const char *what, const char *path, struct sbx_error *e)
{
    static const struct {
        int archive;
        uint16_t tag;
    } tags[] = {
        { ARCHIVE_ENTRY_ACL_USER_OBJ, 0x01 },  { ARCHIVE_ENTRY_ACL_USER, 0x02 },
        { ARCHIVE_ENTRY_ACL_GROUP_OBJ, 0x04 }, { ARCHIVE_ENTRY_ACL_GROUP, 0x08 },
        { ARCHIVE_ENTRY_ACL_MASK, 0x10 },      { ARCHIVE_ENTRY_ACL_OTHER, 0x20 },
    };
    struct acl_item items[MAX_ACL_ENTRIES];
    size_t n = 0;
    x->len = 0;
    *mask = -1;
    if (archive_entry_acl_reset(ae, type) <= 0)
        return 0;
    int etype, perm, tag, id;
    const char *name;
    while (archive_entry_acl_next(ae, type, &etype, &perm, &tag, &id, &name) == ARCHIVE_OK) {
        size_t k = 0;
        while (k < ARRAY_SIZE(tags) && tags[k].archive != tag)
            k++;
        if (k == ARRAY_SIZE(tags) || (perm & ~7) != 0) {
            return sbx_error_set(e, EINVAL, "%s: entry '%s': an ACL entry POSIX ACLs cannot hold",
                                 what, path);
        }
        if (n == MAX_ACL_ENTRIES) {
            return sbx_error_set(e, E2BIG, "%s: entry '%s': more than %d ACL entries", what, path,
                                 MAX_ACL_ENTRIES);
        }
        bool named = tag == ARCHIVE_ENTRY_ACL_USER || tag == ARCHIVE_ENTRY_ACL_GROUP;
        if (named && id < 0) {
            return sbx_error_set(
                e, EINVAL,
                "%s: entry '%s': ACL entry '%s:%s' names its %s without a number (the "
                "archive's host's name, not the image's)",
                what, path, tag == ARCHIVE_ENTRY_ACL_USER ? "user" : "group", name ? name : "?",
                tag == ARCHIVE_ENTRY_ACL_USER ? "user" : "group");
        }
        items[n++] = (struct acl_item){ tags[k].tag, (uint16_t)perm, named ? (uint32_t)id : ~0U };
        if (tag == ARCHIVE_ENTRY_ACL_MASK)
            *mask = perm;
    }
    qsort(items, n, sizeof(items[0]), acl_item_cmp);
    put_le(x->buf, ACL_XATTR_VERSION, 4);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = x->buf + 4 + 8 * k;
        put_le(p, items[k].tag, 2);
        put_le(p + 2, items[k].perm, 2);
        put_le(p + 4, items[k].id, 4);
    }
    x->len = 4 + 8 * n;
    return 0;
}

static bool has_xattr(const struct sbx_tree_xattr *xs, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(xs[k].name, name))
            return true;
    return false;
}

/* Applies one libarchive entry at path (the entry's name, or relative to a directory source). */
static int apply_entry(struct archive *a, struct archive_entry *ae, const char *path,
                       const char *hardlink, struct sbx_tree *t, unsigned layer, bool whiteouts,
                       const char *what, struct sbx_error *e)
{
    struct sbx_tree_entry ent = {
        .path = path,
        .mode = (uint32_t)archive_entry_mode(ae) & 07777,
        .uid = (uint32_t)archive_entry_uid(ae),
        .gid = (uint32_t)archive_entry_gid(ae),
        .mtime = archive_entry_mtime(ae),
        .mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae),
        .rdev_major = archive_entry_rdevmajor(ae),
        .rdev_minor = archive_entry_rdevminor(ae),
        .size = archive_entry_size_is_set(ae) ? (uint64_t)archive_entry_size(ae) : 0,
        .read = read_archive_data,
        .read_ctx = a,
    };
    if (archive_entry_uid(ae) < 0 || archive_entry_uid(ae) > UINT32_MAX - 1 ||
        archive_entry_gid(ae) < 0 || archive_entry_gid(ae) > UINT32_MAX - 1) {
        return sbx_error_set(e, EINVAL, "%s: entry '%s': owner %lld:%lld out of range", what, path,
                             (long long)archive_entry_uid(ae), (long long)archive_entry_gid(ae));
    }
    if (hardlink) {
        ent.type = SBX_TREE_HARDLINK;
        ent.link = hardlink;
    } else if (entry_type(archive_entry_filetype(ae), &ent.type) < 0) {
        return sbx_error_set(e, EINVAL, "%s: entry '%s': unsupported file type 0%o", what, path,
                             (unsigned)archive_entry_filetype(ae));
    } else if (ent.type == SBX_TREE_SYMLINK) {
        ent.link = archive_entry_symlink(ae);
    }
    if (ent.type != SBX_TREE_REG)
        ent.size = 0;
    struct sbx_tree_xattr xs[MAX_ENTRY_XATTRS];
    size_t nx = 0;
    const char *name;
    const void *value;
    size_t len;
    archive_entry_xattr_reset(ae);
    while (archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK) {
        if (nx == MAX_ENTRY_XATTRS) {
            return sbx_error_set(e, E2BIG, "%s: entry '%s': more than %d xattrs", what, path,
                                 MAX_ENTRY_XATTRS);
        }
        xs[nx++] =
            (struct sbx_tree_xattr){ .name = (char *)name, .value = (void *)value, .len = len };
    }
    /* An ACL the entry also carries as its xattr (SCHILY.xattr.system.posix_acl_*) is that. */
    static const struct {
        int type;
        const char *name;
    } acls[] = { { ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access" },
                 { ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default" } };
    if (archive_entry_acl_types(ae) & ARCHIVE_ENTRY_ACL_TYPE_NFS4) {
        return sbx_error_set(e, EINVAL, "%s: entry '%s': an NFSv4 ACL, which ext4 cannot hold",
                             what, path);
    }
    struct acl_xattr ax[ARRAY_SIZE(acls)];
    for (size_t k = 0; k < ARRAY_SIZE(acls); k++) {
        int mask;
        if (has_xattr(xs, nx, acls[k].name))
            continue;
        int r = acl_to_xattr(ae, acls[k].type, &ax[k], &mask, what, path, e);
        if (r < 0)
            return r;
        if (!ax[k].len)
            continue;
        if (nx == MAX_ENTRY_XATTRS) {
            return sbx_error_set(e, E2BIG, "%s: entry '%s': more than %d xattrs", what, path,
                                 MAX_ENTRY_XATTRS);
        }
        xs[nx++] = (struct sbx_tree_xattr){ .name = (char *)acls[k].name,
                                            .value = ax[k].buf,
                                            .len = ax[k].len };
        /* With a mask, the group bits of the mode are the mask's, as the kernel keeps them. */
        if (acls[k].type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS && mask >= 0)
            ent.mode = (ent.mode & ~070u) | ((uint32_t)mask << 3);
    }
    ent.xattrs = xs;
    ent.nxattrs = nx;
    int r = sbx_tree_apply(t, &ent, layer, whiteouts, e);
    if (r < 0) {
        if (r == -EIO && archive_errno(a) != 0)
            sbx_error_set(e, r, "%s: entry '%s': %s", what, path, archive_error_string(a));
        else
            sbx_error_wrap(e, "%s", what);
    }
    return r;
}

int sbx_source_apply_archive(struct archive *a, const char *what, struct sbx_tree *t,
                             unsigned layer, unsigned layers, bool whiteouts,
                             const struct sbx_source_progress *progress, uint64_t total,
                             struct sbx_error *e)
{
    struct archive_entry *ae;
    int r;
    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *path = archive_entry_pathname(ae);
        if (!path) {
            return sbx_error_set(e, EINVAL, "%s: an entry without a name (or not in UTF-8)", what);
        }
        int k = apply_entry(a, ae, path, archive_entry_hardlink(ae), t, layer, whiteouts, what, e);
        if (k < 0)
            return k;
        if (progress && progress->fn && (t->entries & 255) == 0)
            progress->fn(progress->ctx, layer, layers, t->entries,
                         (uint64_t)archive_filter_bytes(a, -1), total);
    }
    if (r != ARCHIVE_EOF) {
        return sbx_error_set(e, EIO, "%s: %s", what, archive_error_string(a));
    }
    if (progress && progress->fn)
        progress->fn(progress->ctx, layer, layers, t->entries, total, total);
    return 0;
}

/* The sha256 of a whole file. */
static int file_sha256(int fd, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -ENOMEM;
    }
    char buf[65536];
    ssize_t n;
    off_t off = 0;
    while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    int r = n < 0 ? sbx_neg_errno() : 0;
    EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
    return r;
}

static int read_tar(const char *file, struct sbx_tree *t, struct sbx_source_result *res,
                    const struct sbx_source_progress *progress, struct sbx_error *e)
{
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        return sbx_error_set_errno(e, errno, "%s", file);
    }
    uint8_t sha[32];
    int r = file_sha256(fd, sha);
    if (r < 0) {
        return sbx_error_set(e, r, "%s: cannot read it: %s", file, strerror(-r));
    }
    sbx_source_hex(sha, res->digest);
    struct archive *a = archive_read_new();
    if (!a)
        return -ENOMEM;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        sbx_error_set(e, EINVAL, "%s: not a tar archive libarchive reads: %s", file,
                      archive_error_string(a));
        archive_read_free(a);
        return -EINVAL;
    }
    r = sbx_source_apply_archive(a, file, t, 1, 1, false, progress, (uint64_t)st.st_size, e);
    archive_read_free(a);
    snprintf(res->kind, sizeof(res->kind), "tar");
    res->layers = 1;
    return r;
}

/* Files of a directory source with more than one name: the first name seen. */
struct link_seen {
    dev_t dev;
    ino_t ino;
    char *path;
};

static int read_dir(const char *dir, struct sbx_tree *t, struct sbx_source_result *res,
                    const struct sbx_source_progress *progress, struct sbx_error *e)
{
    struct archive *a = archive_read_disk_new();
    if (!a)
        return -ENOMEM;
    archive_read_disk_set_symlink_physical(a);
    /* Numeric owners only: names would be the host's, not the image's.  ACLs are read. */
    archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_FFLAGS);
    int r = 0;
    if (archive_read_disk_open(a, dir) != ARCHIVE_OK) {
        sbx_error_set(e, EINVAL, "%s: %s", dir, archive_error_string(a));
        archive_read_free(a);
        return -EINVAL;
    }
    struct link_seen *seen = NULL;
    size_t nseen = 0, capseen = 0;
    size_t prefix = strlen(dir);
    struct archive_entry *ae = archive_entry_new();
    int k;
    while (r == 0 && ae && (k = archive_read_next_header2(a, ae)) != ARCHIVE_EOF) {
        if (k != ARCHIVE_OK && k != ARCHIVE_WARN) {
            r = sbx_error_set(e, EIO, "%s: %s", dir, archive_error_string(a));
            break;
        }
        archive_read_disk_descend(a);
        const char *full = archive_entry_sourcepath(ae);
        if (!full)
            full = archive_entry_pathname(ae);
        const char *rel = full && strncmp(full, dir, prefix) == 0 ? full + prefix : NULL;
        if (!rel || (*rel && *rel != '/')) {
            r = sbx_error_set(e, EINVAL, "%s: an entry outside it: %s", dir, full ? full : "?");
            break;
        }
        while (*rel == '/')
            rel++;
        char path[4200];
        snprintf(path, sizeof(path), "./%s", rel);
        const char *hardlink = NULL;
        if (archive_entry_nlink(ae) > 1 && archive_entry_filetype(ae) != AE_IFDIR) {
            const struct stat *st = archive_entry_stat(ae);
            for (size_t i = 0; i < nseen && !hardlink; i++)
                if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino)
                    hardlink = seen[i].path;
            if (!hardlink) {
                if (nseen == capseen) {
                    size_t cap = capseen ? capseen * 2 : 64;
                    struct link_seen *n = realloc(seen, cap * sizeof(*n));
                    if (!n) {
                        r = -ENOMEM;
                        break;
                    }
                    seen = n;
                    capseen = cap;
                }
                seen[nseen] = (struct link_seen){ st->st_dev, st->st_ino, strdup(path) };
                if (!seen[nseen].path) {
                    r = -ENOMEM;
                    break;
                }
                nseen++;
            }
        }
        r = apply_entry(a, ae, path, hardlink, t, 1, false, dir, e);
        if (progress && progress->fn && (t->entries & 255) == 0)
            progress->fn(progress->ctx, 1, 1, t->entries, t->bytes, 0);
    }
    if (!ae)
        r = -ENOMEM;
    archive_entry_free(ae);
    for (size_t i = 0; i < nseen; i++)
        free(seen[i].path);
    free(seen);
    archive_read_free(a);
    if (r == 0) {
        uint8_t sha[32];
        sbx_tree_digest(t, sha);
        sbx_source_hex(sha, res->digest);
    }
    snprintf(res->kind, sizeof(res->kind), "directory");
    res->layers = 1;
    return r;
}

int sbx_source_read(const char *spec, struct sbx_tree *t, struct sbx_source_result *res,
                    const struct sbx_source_progress *progress, struct sbx_error *e)
{
    *res = (struct sbx_source_result){ 0 };
    static const struct {
        const char *prefix;
        enum sbx_oci_kind kind;
    } oci[] = {
        { "oci:", SBX_OCI_LAYOUT },
        { "oci-archive:", SBX_OCI_ARCHIVE },
        { "docker-archive:", SBX_OCI_DOCKER_ARCHIVE },
    };
    for (size_t i = 0; i < ARRAY_SIZE(oci); i++) {
        size_t n = strlen(oci[i].prefix);
        if (strncmp(spec, oci[i].prefix, n) == 0)
            return sbx_oci_read(oci[i].kind, spec + n, t, res, progress, e);
    }
    struct stat st;
    if (stat(spec, &st) < 0) {
        return sbx_error_set_errno(e, errno, "%s", spec);
    }
    if (S_ISDIR(st.st_mode))
        return read_dir(spec, t, res, progress, e);
    if (S_ISREG(st.st_mode))
        return read_tar(spec, t, res, progress, e);
    return sbx_error_set(e, EINVAL, "%s: neither a directory nor a file", spec);
}

void sbx_source_result_free(struct sbx_source_result *res)
{
    json_object_put(res->config);
    json_object_put(res->labels);
    res->config = res->labels = NULL;
}
