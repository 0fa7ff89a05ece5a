/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OCI images: the index, manifest and config (json-c), every blob checked
 * against its sha256 (libcrypto), each layer's uncompressed stream against
 * its diff_id, and the layers applied in order with their whiteouts.  A
 * layout is read from its directory with every name resolved beneath it;
 * an archive's files are first copied, by name, to unlinked temporary
 * files, so nothing in it becomes a host path.
 */
#include "image/oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx/macro.h"

/* Fills e and gives r (-errno), for "return ERR(-EINVAL, ...)". */
#define ERR(r, ...)                                                                                \
    ({                                                                                             \
        int err_r_ = (r);                                                                          \
        sbx_error_set(e, err_r_, __VA_ARGS__);                                                     \
        err_r_;                                                                                    \
    })

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"

static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};

/* Where the image's files are: a layout directory, or an archive's files copied out. */
struct store_file {
    char *name;
    int fd;       /* -1 for a symlink */
    char *target; /* a symlink's target, as a name in the archive */
};

struct store {
    int dirfd;
    struct store_file *files;
    size_t n, cap;
};

static void store_free(struct store *s)
{
    s->dirfd = sbx_close(s->dirfd);
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i].name);
        free(s->files[i].target);
        sbx_close(s->files[i].fd);
    }
    free(s->files);
    s->files = NULL;
    s->n = 0;
}

/* A name inside the image's files: relative, no `..`, `./` prefixes dropped. */
static int clean_name(const char *in, char *out, size_t len)
{
    while (in[0] == '.' && in[1] == '/')
        in += 2;
    if (in[0] == '/' || strlen(in) >= len || !in[0])
        return -EINVAL;
    for (const char *p = in; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if ((n == 2 && p[0] == '.' && p[1] == '.') || n == 0)
            return -EINVAL;
        p += n + (slash ? 1 : 0);
    }
    snprintf(out, len, "%s", in);
    return 0;
}

/*
 * Opens name of the image's files; e says which and why, after ctx (what the
 * caller was opening it as, with its own separator; "" for none).
 */
static int store_open(struct store *s, const char *ctx, const char *name, int *ret_fd,
                      struct sbx_error *e)
{
    char clean[512];
    if (clean_name(name, clean, sizeof(clean)) < 0)
        return ERR(-EINVAL, "%s'%s': not a name inside the image", ctx, name);
    if (s->dirfd >= 0) {
        struct open_how how = {
            .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, s->dirfd, clean, &how, sizeof(how));
        struct stat st;
        if (fd < 0)
            return ERR(sbx_neg_errno(), "%s'%s': %s", ctx, clean,
                       errno == ENOENT ? "missing" : strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return ERR(-EINVAL, "%s'%s': not a regular file", ctx, clean);
        }
        *ret_fd = fd;
        return 0;
    }
    for (int hops = 0; hops < 8; hops++) {
        struct store_file *f = NULL;
        for (size_t i = 0; i < s->n && !f; i++)
            if (strcmp(s->files[i].name, clean) == 0)
                f = &s->files[i];
        if (!f)
            return ERR(-ENOENT, "%s'%s': missing", ctx, clean);
        if (f->fd >= 0) {
            int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
            if (fd < 0)
                return ERR(sbx_neg_errno(), "%s'%s': %s", ctx, clean, strerror(errno));
            *ret_fd = fd;
            return 0;
        }
        snprintf(clean, sizeof(clean), "%s", f->target);
    }
    return ERR(-ELOOP, "%s'%s': too many symlinks", ctx, name);
}

/* A symlink in an archive names a file relative to its own directory. */
static int link_target(const char *name, const char *target, char *out, size_t len)
{
    char joined[1024];
    const char *slash = strrchr(name, '/');
    int dirlen = slash ? (int)(slash - name) : 0;
    if (target[0] == '/')
        return -EINVAL;
    snprintf(joined, sizeof(joined), "%.*s%s%s", dirlen, name, dirlen ? "/" : "", target);
    /* Resolve `..` lexically, never above the archive's top. */
    char *parts[64];
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            if (n == 0)
                return -EINVAL;
            n--;
            continue;
        }
        if (n == 64)
            return -EINVAL;
        parts[n++] = c;
    }
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, at < len ? len - at : 0, "%s%s", i ? "/" : "", parts[i]);
    return at < len && n > 0 ? 0 : -EINVAL;
}

static const char *spool_dir(void)
{
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/var/tmp";
}

/* Copies the files of the archive at path to unlinked temporary files. */
static int store_from_archive(struct store *s, const char *path, uint64_t max_bytes,
                              struct sbx_error *e)
{
    struct archive *a = archive_read_new();
    if (!a)
        return -ENOMEM;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    int r = 0;
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        r = ERR(-EINVAL, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    uint64_t total = 0;
    struct archive_entry *ae;
    int k;
    while (r == 0 && (k = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
        if (k != ARCHIVE_OK && k != ARCHIVE_WARN) {
            r = ERR(-EIO, "%s: %s", path, archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(ae);
        mode_t ft = archive_entry_filetype(ae);
        if (ft == AE_IFDIR)
            continue;
        char clean[512], target[512];
        if (!name || clean_name(name, clean, sizeof(clean)) < 0) {
            r = ERR(-EINVAL, "%s: entry '%s': not a name inside the archive", path,
                    name ? name : "?");
            break;
        }
        if (s->n == SBX_OCI_MAX_FILES) {
            r = ERR(-E2BIG, "%s: more than %d files", path, SBX_OCI_MAX_FILES);
            break;
        }
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 32;
            struct store_file *nf = realloc(s->files, cap * sizeof(*nf));
            if (!nf) {
                r = -ENOMEM;
                break;
            }
            s->files = nf;
            s->cap = cap;
        }
        struct store_file *f = &s->files[s->n];
        *f = (struct store_file){ .fd = -1 };
        const char *hl = archive_entry_hardlink(ae);
        if (ft == AE_IFLNK || hl) {
            int lr = hl ? clean_name(hl, target, sizeof(target))
                        : link_target(clean, archive_entry_symlink(ae), target, sizeof(target));
            if (lr < 0) {
                r = ERR(-EINVAL, "%s: entry '%s': a link that leaves the archive", path, clean);
                break;
            }
            f->target = strdup(target);
        } else if (ft == AE_IFREG) {
            total += (uint64_t)archive_entry_size(ae);
            if (total > max_bytes) {
                r = ERR(-EFBIG, "%s: more than %llu bytes", path, (unsigned long long)max_bytes);
                break;
            }
            f->fd = open(spool_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (f->fd < 0) {
                r = ERR(sbx_neg_errno(), "cannot make a temporary file in %s: %s", spool_dir(),
                        strerror(errno));
                break;
            }
            if (archive_read_data_into_fd(a, f->fd) != ARCHIVE_OK) {
                r = ERR(-EIO, "%s: entry '%s': %s", path, clean, archive_error_string(a));
                close(f->fd);
                break;
            }
        } else {
            continue;
        }
        f->name = strdup(clean);
        s->n++;
        if (!f->name || (f->fd < 0 && !f->target))
            r = -ENOMEM;
    }
    archive_read_free(a);
    return r;
}

static int hex_digest(const char *d, struct sbx_error *e, const char *what)
{
    if (!d || strncmp(d, "sha256:", 7) != 0)
        return ERR(-EOPNOTSUPP, "%s: digest '%s' is not sha256", what, d ? d : "(none)");
    if (strlen(d) != 71 || strspn(d + 7, "0123456789abcdef") != 64)
        return ERR(-EINVAL, "%s: malformed digest '%s'", what, d);
    return 0;
}

static int read_all(int fd, char **ret, size_t *ret_len, size_t max)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_neg_errno();
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len + 1);
    if (!buf)
        return -ENOMEM;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n <= 0) {
            free(buf);
            return n < 0 ? sbx_neg_errno() : -EIO;
        }
        done += (size_t)n;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

static void sha256_hex(const void *buf, size_t len, char out[72])
{
    uint8_t sha[32];
    EVP_Digest(buf, len, sha, NULL, EVP_sha256(), NULL);
    sbx_source_hex(sha, out);
}

/*
 * Reads and parses the JSON object in name, checked against digest and
 * size when given (size < 0: any).
 */
static int read_json(struct store *s, const char *name, const char *digest, int64_t size,
                     const char *what, json_object **ret, struct sbx_error *e)
{
    _cleanup_close_ int fd = -1;
    char ctx[128];
    snprintf(ctx, sizeof(ctx), "%s ", what);
    int r = store_open(s, ctx, name, &fd, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if ((r = read_all(fd, &buf, &len, SBX_OCI_MAX_JSON)) < 0)
        return ERR(r, "%s %s: %s", what, name, r == -EFBIG ? "larger than 4 MiB" : strerror(-r));
    if (digest) {
        char got[72];
        sha256_hex(buf, len, got);
        if (strcmp(got, digest) != 0)
            return ERR(-EBADMSG, "%s %s: sha256 mismatch: the manifest says %s, it is %s", what,
                       name, digest, got);
    }
    if (size >= 0 && (uint64_t)size != len)
        return ERR(-EBADMSG, "%s %s: %zu bytes where the manifest says %lld", what, name, len,
                   (long long)size);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || je != json_tokener_success || used != len ||
        !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ERR(-EBADMSG, "%s %s: not a JSON object (%s)", what, name,
                   je != json_tokener_success ? json_tokener_error_desc(je) : "trailing bytes");
    }
    *ret = o;
    return 0;
}

static const char *get_string(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *get_typed(json_object *o, const char *key, enum json_type type)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

static bool string_array(json_object *a)
{
    if (!json_object_is_type(a, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string))
            return false;
    return true;
}

/* Keeps Entrypoint, Cmd, Env, WorkingDir, User and Labels of an image config, type-checked. */
static int take_config(json_object *cfg, struct sbx_source_result *res, struct sbx_error *e)
{
    json_object *c = NULL;
    if (json_object_object_get_ex(cfg, "config", &c) && json_object_is_type(c, json_type_null))
        c = NULL;
    if (c && !json_object_is_type(c, json_type_object))
        return ERR(-EBADMSG, "image config: 'config' is not an object");
    res->config = json_object_new_object();
    if (!res->config)
        return -ENOMEM;
    static const char *const arrays[] = { "Entrypoint", "Cmd", "Env" };
    for (size_t i = 0; c && i < ARRAY_SIZE(arrays); i++) {
        json_object *v;
        if (!json_object_object_get_ex(c, arrays[i], &v) || json_object_is_type(v, json_type_null))
            continue;
        if (!string_array(v))
            return ERR(-EBADMSG, "image config: '%s' is not an array of strings", arrays[i]);
        json_object_object_add(res->config, arrays[i], json_object_get(v));
    }
    static const char *const strings[] = { "WorkingDir", "User" };
    for (size_t i = 0; c && i < ARRAY_SIZE(strings); i++) {
        json_object *v;
        if (!json_object_object_get_ex(c, strings[i], &v) || json_object_is_type(v, json_type_null))
            continue;
        if (!json_object_is_type(v, json_type_string))
            return ERR(-EBADMSG, "image config: '%s' is not a string", strings[i]);
        json_object_object_add(res->config, strings[i], json_object_get(v));
    }
    json_object *labels;
    if (c && json_object_object_get_ex(c, "Labels", &labels) &&
        !json_object_is_type(labels, json_type_null)) {
        if (!json_object_is_type(labels, json_type_object))
            return ERR(-EBADMSG, "image config: 'Labels' is not an object");
        json_object_object_foreach(labels, k, v)
        {
            if (!json_object_is_type(v, json_type_string))
                return ERR(-EBADMSG, "image config: label '%s' is not a string", k);
        }
        res->labels = json_object_get(labels);
    }
    return 0;
}

/* Reads a blob: its bytes and sha256 (compressed, as stored). */
struct blob {
    int fd;
    off_t off;
    EVP_MD_CTX *md;
    char buf[65536];
};

static la_ssize_t blob_read(struct archive *a, void *ctx, const void **buf)
{
    struct blob *b = ctx;
    ssize_t n;
    while ((n = pread(b->fd, b->buf, sizeof(b->buf), b->off)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        archive_set_error(a, errno, "cannot read the blob: %s", strerror(errno));
        return -1;
    }
    EVP_DigestUpdate(b->md, b->buf, (size_t)n);
    b->off += n;
    *buf = b->buf;
    return n;
}

/* The uncompressed stream of a layer, hashed for its diff_id on the way to the tar reader. */
struct plain {
    struct archive *raw;
    EVP_MD_CTX *md;
    char buf[65536];
    uint64_t bytes;
};

static la_ssize_t plain_read(struct archive *a, void *ctx, const void **buf)
{
    struct plain *p = ctx;
    la_ssize_t n = archive_read_data(p->raw, p->buf, sizeof(p->buf));
    if (n < 0) {
        archive_set_error(a, archive_errno(p->raw) ? archive_errno(p->raw) : EIO, "%s",
                          archive_error_string(p->raw));
        return -1;
    }
    EVP_DigestUpdate(p->md, p->buf, (size_t)n);
    p->bytes += (uint64_t)n;
    *buf = p->buf;
    return n;
}

static int digest_done(EVP_MD_CTX *md, char out[72])
{
    uint8_t sha[32];
    if (EVP_DigestFinal_ex(md, sha, NULL) != 1)
        return -EIO;
    sbx_source_hex(sha, out);
    return 0;
}

/*
 * Applies the layer in blob fd: decompressed by one libarchive reader (raw
 * format), read as tar by a second one from the first one's data, so that
 * both the blob and its uncompressed stream are hashed as they go.
 */
static int apply_layer(int fd, const char *what, const char *digest, int64_t size,
                       const char *diff_id, struct sbx_tree *t, unsigned layer, unsigned layers,
                       const struct sbx_source_progress *progress, struct sbx_error *e)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ERR(sbx_neg_errno(), "%s: %s", what, strerror(errno));
    if (size >= 0 && st.st_size != size)
        return ERR(-EBADMSG, "%s: %lld bytes where the manifest says %lld", what,
                   (long long)st.st_size, (long long)size);
    struct blob *b = calloc(1, sizeof(*b));
    struct plain *p = calloc(1, sizeof(*p));
    struct archive *raw = archive_read_new(), *tar = archive_read_new();
    int r = 0;
    if (!b || !p || !raw || !tar || !(b->md = EVP_MD_CTX_new()) || !(p->md = EVP_MD_CTX_new())) {
        r = -ENOMEM;
        goto out;
    }
    EVP_DigestInit_ex(b->md, EVP_sha256(), NULL);
    EVP_DigestInit_ex(p->md, EVP_sha256(), NULL);
    b->fd = fd;
    p->raw = raw;
    archive_read_support_filter_all(raw);
    archive_read_support_format_raw(raw);
    archive_read_support_format_tar(tar);
    archive_read_support_format_gnutar(tar);
    struct archive_entry *ae;
    if (archive_read_open(raw, b, NULL, blob_read, NULL) != ARCHIVE_OK ||
        archive_read_next_header(raw, &ae) != ARCHIVE_OK) {
        r = ERR(-EBADMSG, "%s: cannot read it: %s", what, archive_error_string(raw));
        goto out;
    }
    if (archive_read_open(tar, p, NULL, plain_read, NULL) != ARCHIVE_OK) {
        r = ERR(-EBADMSG, "%s: not a tar stream: %s", what, archive_error_string(tar));
        goto out;
    }
    r = sbx_source_apply_archive(tar, what, t, layer, layers, true, progress, (uint64_t)st.st_size,
                                 e);
    if (r < 0)
        goto out;
    /* Whatever follows the tar's end counts for both digests. */
    la_ssize_t n;
    while ((n = plain_read(tar, p, (const void **)&ae)) > 0)
        ;
    if (n < 0) {
        r = ERR(-EBADMSG, "%s: %s", what, archive_error_string(raw));
        goto out;
    }
    while ((n = blob_read(raw, b, (const void **)&ae)) > 0)
        ;
    char got[72], got_plain[72];
    if (digest_done(b->md, got) < 0 || digest_done(p->md, got_plain) < 0) {
        r = -EIO;
        goto out;
    }
    if (digest && strcmp(got, digest) != 0)
        r = ERR(-EBADMSG, "%s: sha256 mismatch: the manifest says %s, it is %s", what, digest, got);
    else if (diff_id && strcmp(got_plain, diff_id) != 0)
        r = ERR(-EBADMSG, "%s: uncompressed sha256 mismatch: the config's diff_id is %s, it is %s",
                what, diff_id, got_plain);
out:
    if (tar)
        archive_read_free(tar);
    if (raw)
        archive_read_free(raw);
    if (b)
        EVP_MD_CTX_free(b->md);
    if (p)
        EVP_MD_CTX_free(p->md);
    free(b);
    free(p);
    return r;
}

/* Splits "DIR:TAG" at its first colon (as skopeo does: the path holds none). */
static void split_tag(const char *where, char *path, size_t len, const char **tag)
{
    const char *colon = strchr(where, ':');
    *tag = colon ? colon + 1 : NULL;
    snprintf(path, len, "%.*s", colon ? (int)(colon - where) : (int)strlen(where), where);
}

/* The manifest descriptor of index.json for tag (or the only one). */
static int pick_manifest(json_object *index, const char *tag, json_object **ret,
                         struct sbx_error *e)
{
    json_object *ms = get_typed(index, "manifests", json_type_array);
    if (!ms || json_object_array_length(ms) == 0)
        return ERR(-EBADMSG, "index.json: no manifests");
    size_t n = json_object_array_length(ms);
    json_object *pick = NULL;
    char tags[1024] = "";
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(ms, i);
        const char *ref = get_string(get_typed(m, "annotations", json_type_object), REF_NAME);
        if (ref && at < sizeof(tags))
            at += (size_t)snprintf(tags + at, sizeof(tags) - at, "%s%s", at ? ", " : "", ref);
        if (tag && ref && strcmp(ref, tag) == 0)
            pick = m;
    }
    if (tag && !pick)
        return ERR(-ENOENT, "index.json: no image tagged '%s' (there are: %s)", tag,
                   tags[0] ? tags : "no tags");
    if (!tag && n > 1)
        return ERR(-EINVAL, "index.json: %zu images, name one with :TAG (there are: %s)", n,
                   tags[0] ? tags : "no tags");
    *ret = pick ? pick : json_object_array_get_idx(ms, 0);
    return 0;
}

static int blob_name(const char *digest, char *out, size_t len)
{
    return snprintf(out, len, "blobs/sha256/%s", digest + 7) < (int)len ? 0 : -EINVAL;
}

static bool supported_layer(const char *mt)
{
    for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++)
        if (strcmp(mt, layer_types[i]) == 0)
            return true;
    return false;
}

static int read_layout(struct store *s, const char *tag, struct sbx_tree *t,
                       struct sbx_source_result *res, const struct sbx_source_progress *progress,
                       struct sbx_error *e)
{
    json_object *layout = NULL, *index = NULL, *manifest = NULL, *config = NULL;
    int r = read_json(s, "oci-layout", NULL, -1, "the layout's", &layout, e);
    if (r < 0)
        goto out;
    const char *v = get_string(layout, "imageLayoutVersion");
    if (!v || strcmp(v, "1.0.0") != 0) {
        r = ERR(-EOPNOTSUPP, "oci-layout: unsupported imageLayoutVersion '%s'", v ? v : "(none)");
        goto out;
    }
    if ((r = read_json(s, "index.json", NULL, -1, "the layout's", &index, e)) < 0)
        goto out;
    json_object *desc;
    if ((r = pick_manifest(index, tag, &desc, e)) < 0)
        goto out;
    const char *mt = get_string(desc, "mediaType");
    const char *md = get_string(desc, "digest");
    json_object *msz = get_typed(desc, "size", json_type_int);
    if (!mt || (strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0)) {
        r = ERR(-EOPNOTSUPP, "index.json: manifest %s has the unsupported media type '%s'%s",
                md ? md : "(no digest)", mt ? mt : "(none)",
                mt && strcmp(mt, MT_OCI_INDEX) == 0 ? " (a multi-platform index)" : "");
        goto out;
    }
    if ((r = hex_digest(md, e, "index.json: manifest")) < 0)
        goto out;
    char name[128];
    blob_name(md, name, sizeof(name));
    if ((r = read_json(s, name, md, msz ? json_object_get_int64(msz) : -1, "manifest", &manifest,
                       e)) < 0)
        goto out;
    snprintf(res->digest, sizeof(res->digest), "%s", md);
    json_object *cdesc = get_typed(manifest, "config", json_type_object);
    const char *cmt = get_string(cdesc, "mediaType");
    const char *cd = get_string(cdesc, "digest");
    if (!cmt || (strcmp(cmt, MT_OCI_CONFIG) != 0 && strcmp(cmt, MT_DOCKER_CONFIG) != 0)) {
        r = ERR(-EOPNOTSUPP, "manifest %s: config has the unsupported media type '%s'", md,
                cmt ? cmt : "(none)");
        goto out;
    }
    if ((r = hex_digest(cd, e, "manifest: config")) < 0)
        goto out;
    blob_name(cd, name, sizeof(name));
    json_object *csz = get_typed(cdesc, "size", json_type_int);
    if ((r = read_json(s, name, cd, csz ? json_object_get_int64(csz) : -1, "config", &config, e)) <
        0)
        goto out;
    if ((r = take_config(config, res, e)) < 0)
        goto out;
    json_object *layers = get_typed(manifest, "layers", json_type_array);
    json_object *diff_ids =
        get_typed(get_typed(config, "rootfs", json_type_object), "diff_ids", json_type_array);
    size_t n = layers ? json_object_array_length(layers) : 0;
    if (!layers || !diff_ids || json_object_array_length(diff_ids) != n) {
        r = ERR(-EBADMSG, "manifest %s: %zu layers but %zu diff_ids in its config", md, n,
                diff_ids ? json_object_array_length(diff_ids) : 0);
        goto out;
    }
    if (n > SBX_OCI_MAX_LAYERS) {
        r = ERR(-E2BIG, "manifest %s: %zu layers, at most %d", md, n, SBX_OCI_MAX_LAYERS);
        goto out;
    }
    res->layers = (unsigned)n;
    /* Every layer is checked before the first is applied: a bad one fails the build early. */
    for (size_t i = 0; i < n; i++) {
        json_object *l = json_object_array_get_idx(layers, i);
        const char *lmt = get_string(l, "mediaType"), *ld = get_string(l, "digest");
        char what[128];
        snprintf(what, sizeof(what), "manifest: layer %zu", i + 1);
        if (!lmt || !supported_layer(lmt)) {
            r = ERR(-EOPNOTSUPP, "layer %zu (%s): unsupported media type '%s'", i + 1,
                    ld ? ld : "no digest", lmt ? lmt : "(none)");
            goto out;
        }
        if ((r = hex_digest(ld, e, what)) < 0 ||
            (r = hex_digest(json_object_get_string(json_object_array_get_idx(diff_ids, i)), e,
                            "config: diff_id")) < 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *l = json_object_array_get_idx(layers, i);
        const char *ld = get_string(l, "digest");
        json_object *lsz = get_typed(l, "size", json_type_int);
        blob_name(ld, name, sizeof(name));
        _cleanup_close_ int fd = -1;
        char what[160];
        snprintf(what, sizeof(what), "layer %zu (%s)", i + 1, ld);
        char ctx[sizeof(what) + 8];
        snprintf(ctx, sizeof(ctx), "%s: blob ", what);
        if ((r = store_open(s, ctx, name, &fd, e)) < 0)
            goto out;
        const char *diff = json_object_get_string(json_object_array_get_idx(diff_ids, i));
        if ((r = apply_layer(fd, what, ld, lsz ? json_object_get_int64(lsz) : -1, diff, t,
                             (unsigned)i + 1, (unsigned)n, progress, e)) < 0)
            goto out;
    }
out:
    json_object_put(layout);
    json_object_put(index);
    json_object_put(manifest);
    json_object_put(config);
    return r;
}

/* docker save's manifest.json: [{Config, RepoTags, Layers}]. */
static int read_docker(struct store *s, const char *tag, struct sbx_tree *t,
                       struct sbx_source_result *res, const struct sbx_source_progress *progress,
                       struct sbx_error *e)
{
    _cleanup_close_ int mfd = -1;
    int r = store_open(s, "", "manifest.json", &mfd, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if ((r = read_all(mfd, &buf, &len, SBX_OCI_MAX_JSON)) < 0)
        return ERR(r, "manifest.json: %s", strerror(-r));
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *top = json_tokener_parse_ex(tok, buf, (int)len);
    bool ok = json_tokener_get_error(tok) == json_tokener_success &&
              json_tokener_get_parse_end(tok) == len && json_object_is_type(top, json_type_array);
    json_tokener_free(tok);
    json_object *config = NULL;
    if (!ok || json_object_array_length(top) == 0) {
        r = ERR(-EBADMSG, "manifest.json: not a JSON array of images");
        goto out;
    }
    size_t n = json_object_array_length(top);
    json_object *pick = NULL;
    for (size_t i = 0; i < n && tag && !pick; i++) {
        json_object *tags =
            get_typed(json_object_array_get_idx(top, i), "RepoTags", json_type_array);
        for (size_t k = 0; tags && k < json_object_array_length(tags); k++)
            if (json_object_is_type(json_object_array_get_idx(tags, k), json_type_string) &&
                strcmp(json_object_get_string(json_object_array_get_idx(tags, k)), tag) == 0)
                pick = json_object_array_get_idx(top, i);
    }
    if (tag && !pick) {
        r = ERR(-ENOENT, "manifest.json: no image tagged '%s'", tag);
        goto out;
    }
    if (!tag && n > 1) {
        r = ERR(-EINVAL, "manifest.json: %zu images, name one with :TAG", n);
        goto out;
    }
    if (!pick)
        pick = json_object_array_get_idx(top, 0);
    const char *cname = get_string(pick, "Config");
    json_object *layers = get_typed(pick, "Layers", json_type_array);
    if (!cname || !layers) {
        r = ERR(-EBADMSG, "manifest.json: no Config or Layers");
        goto out;
    }
    if ((r = read_json(s, cname, NULL, -1, "config", &config, e)) < 0)
        goto out;
    /* The image's ID is its config's digest. */
    {
        _cleanup_close_ int cfd = -1;
        _cleanup_free_ char *cbuf = NULL;
        size_t clen;
        if ((r = store_open(s, "", cname, &cfd, e)) < 0 ||
            (r = read_all(cfd, &cbuf, &clen, SBX_OCI_MAX_JSON)) < 0)
            goto out;
        sha256_hex(cbuf, clen, res->digest);
    }
    if ((r = take_config(config, res, e)) < 0)
        goto out;
    json_object *diff_ids =
        get_typed(get_typed(config, "rootfs", json_type_object), "diff_ids", json_type_array);
    size_t nl = json_object_array_length(layers);
    if (!diff_ids || json_object_array_length(diff_ids) != nl) {
        r = ERR(-EBADMSG, "manifest.json: %zu layers but %zu diff_ids in config %s", nl,
                diff_ids ? json_object_array_length(diff_ids) : 0, cname);
        goto out;
    }
    if (nl > SBX_OCI_MAX_LAYERS) {
        r = ERR(-E2BIG, "manifest.json: %zu layers, at most %d", nl, SBX_OCI_MAX_LAYERS);
        goto out;
    }
    res->layers = (unsigned)nl;
    for (size_t i = 0; i < nl; i++) {
        const char *diff = json_object_get_string(json_object_array_get_idx(diff_ids, i));
        if ((r = hex_digest(diff, e, "config: diff_id")) < 0)
            goto out;
    }
    for (size_t i = 0; i < nl; i++) {
        const char *lname = json_object_get_string(json_object_array_get_idx(layers, i));
        const char *diff = json_object_get_string(json_object_array_get_idx(diff_ids, i));
        char what[600];
        snprintf(what, sizeof(what), "layer %zu (%s)", i + 1, lname ? lname : "?");
        _cleanup_close_ int fd = -1;
        if (!lname || (r = store_open(s, "", lname, &fd, e)) < 0) {
            r = ERR(r < 0 ? r : -EBADMSG, "%s: missing", what);
            goto out;
        }
        if ((r = apply_layer(fd, what, NULL, -1, diff, t, (unsigned)i + 1, (unsigned)nl, progress,
                             e)) < 0)
            goto out;
    }
out:
    json_object_put(top);
    json_object_put(config);
    return r;
}

int sbx_oci_read(enum sbx_oci_kind kind, const char *where, struct sbx_tree *t,
                 struct sbx_source_result *res, const struct sbx_source_progress *progress,
                 struct sbx_error *e)
{
    char path[4096];
    const char *tag;
    split_tag(where, path, sizeof(path), &tag);
    if (!path[0])
        return ERR(-EINVAL, "no path in the source '%s'", where);
    struct store s = { .dirfd = -1 };
    int r;
    if (kind == SBX_OCI_LAYOUT) {
        s.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s.dirfd < 0)
            return ERR(sbx_neg_errno(), "%s: %s", path, strerror(errno));
    } else if ((r = store_from_archive(&s, path, t->limits.max_bytes, e)) < 0) {
        store_free(&s);
        return r;
    }
    if (kind == SBX_OCI_DOCKER_ARCHIVE)
        r = read_docker(&s, tag, t, res, progress, e);
    else
        r = read_layout(&s, tag, t, res, progress, e);
    if (r < 0)
        sbx_error_wrap(e, "%s", path);
    static const char *const kinds[] = { "oci", "oci-archive", "docker-archive" };
    snprintf(res->kind, sizeof(res->kind), "%s", kinds[kind]);
    store_free(&s);
    return r;
}
