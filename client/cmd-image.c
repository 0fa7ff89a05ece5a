/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl image build | inspect: makes an ext4 image from a directory, a
 * tar archive or an OCI image, as the calling user and without a daemon,
 * and shows what a built image holds.
 */
#include "client/cmd-image.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/image-sitemap.h"
#include "image/ext4.h"
#include "image/meta.h"
#include "image/source.h"
#include "image/tree.h"
#include "sbx/macro.h"

/* Smallest filesystem --size may ask for. */
#define MIN_SIZE (8ULL << 20)
#define MAX_LABELS 256

static void usage_build(FILE *f)
{
    fprintf(f, "Usage: sandboxctl image build [OPTIONS] SOURCE OUTPUT\n\n"
               "Makes the ext4 image OUTPUT from SOURCE: a directory, a tar archive (plain,\n"
               "gzip, xz, zstd, bzip2; found by content), oci:DIR[:TAG], oci-archive:FILE[:TAG]\n"
               "or docker-archive:FILE[:TAG].  OUTPUT appears only when the build succeeded.\n\n"
               "Options:\n"
               "  -s, --size SIZE     the filesystem's size (K, M, G, T suffixes); by default its\n"
               "                      content plus headroom\n"
               "  -l, --label K=V     store a label (repeatable; overrides the image's own)\n"
               "  -q, --quiet         print errors only\n"
               "  -h, --help          show this help\n");
}

static void usage_inspect(FILE *f)
{
    fprintf(f, "Usage: sandboxctl image inspect [--json] IMAGE\n\n"
               "Shows what `sandboxctl image build` stored in IMAGE: its source and digest,\n"
               "config, labels, size and file count.\n\n"
               "Options:\n"
               "  --json      print the stored document as JSON\n"
               "  -h, --help  show this help\n");
}

static int parse_size(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    case 'T':
    case 't':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (*end && end[1])
        return -EINVAL;
    if (v > (UINT64_MAX >> shift))
        return -ERANGE;
    *ret = (uint64_t)v << shift;
    return 0;
}

struct progress {
    bool on;
    bool wrote;
};

static void human(uint64_t b, char *out, size_t len)
{
    if (b >= 10ULL << 30)
        snprintf(out, len, "%.1f GiB", (double)b / (1 << 30));
    else if (b >= 10ULL << 20)
        snprintf(out, len, "%.1f MiB", (double)b / (1 << 20));
    else
        snprintf(out, len, "%.1f KiB", (double)b / 1024);
}

static void on_read(void *ctx, unsigned layer, unsigned layers, uint64_t entries, uint64_t bytes,
                    uint64_t total)
{
    struct progress *p = ctx;
    if (!p->on)
        return;
    char b[32], tot[32];
    human(bytes, b, sizeof(b));
    human(total, tot, sizeof(tot));
    if (total)
        fprintf(stderr, "\r\033[Klayer %u/%u: %llu entries, %s of %s", layer, layers,
                (unsigned long long)entries, b, tot);
    else
        fprintf(stderr, "\r\033[Kreading: %llu entries, %s", (unsigned long long)entries, b);
    p->wrote = true;
}

static void on_write(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    if (!p->on)
        return;
    fprintf(stderr, "\r\033[Kwriting: %llu of %llu inodes", (unsigned long long)done,
            (unsigned long long)total);
    p->wrote = true;
}

static void progress_end(struct progress *p)
{
    if (p->on && p->wrote)
        fprintf(stderr, "\r\033[K");
    p->wrote = false;
}

/*
 * The output file, unnamed until it is complete (O_TMPFILE in OUTPUT's
 * directory), so that a build that fails or is killed leaves nothing; on a
 * filesystem without O_TMPFILE, a temporary name beside OUTPUT (*named).
 */
static int open_output(const char *output, char *tmp, size_t len, bool *named)
{
    _cleanup_free_ char *copy = strdup(output);
    if (!copy)
        return -ENOMEM;
    snprintf(tmp, len, "%s.tmp-%d", output, (int)getpid());
    const char *dir = dirname(copy);
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    *named = fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR);
    if (*named)
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
    return fd;
}

/* Gives the complete output its name, replacing what was there. */
static int name_output(int fd, const char *output, const char *tmp, bool named)
{
    if (!named) {
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
            return sbx_neg_errno();
    }
    if (rename(tmp, output) < 0) {
        int r = sbx_neg_errno();
        unlink(tmp);
        return r;
    }
    return 0;
}

static json_object *meta_document(const char *source, const struct sbx_source_result *res,
                                  const struct sbx_tree *t, const uint8_t tree_sha[32],
                                  uint64_t fs_bytes, bool sitemap, char **labels, size_t nlabels)
{
    json_object *o = json_object_new_object();
    char tree[72];
    sbx_source_hex(tree_sha, tree);
    json_object_object_add(o, "source", json_object_new_string(source));
    json_object_object_add(o, "kind", json_object_new_string(res->kind));
    json_object_object_add(o, "digest", json_object_new_string(res->digest));
    json_object_object_add(o, "tree", json_object_new_string(tree));
    json_object_object_add(o, "layers", json_object_new_int64(res->layers));
    json_object_object_add(o, "config",
                           res->config ? json_object_get(res->config) : json_object_new_object());
    json_object *l = json_object_new_object();
    if (res->labels) {
        json_object_object_foreach(res->labels, k, v)
            json_object_object_add(l, k, json_object_get(v));
    }
    for (size_t i = 0; i < nlabels; i++) {
        char *eq = strchr(labels[i], '=');
        *eq = '\0';
        json_object_object_add(l, labels[i], json_object_new_string(eq + 1));
        *eq = '=';
    }
    json_object_object_add(o, "labels", l);
    json_object_object_add(o, "files", json_object_new_int64((int64_t)t->inodes));
    json_object_object_add(o, "content_bytes", json_object_new_int64((int64_t)t->bytes));
    json_object_object_add(o, "filesystem_bytes", json_object_new_int64((int64_t)fs_bytes));
    json_object_object_add(o, "sitemap", json_object_new_boolean(sitemap));
    return o;
}

static const char *spool_dir(void)
{
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/var/tmp";
}

static int build(const char *source, const char *output, uint64_t size, char **labels,
                 size_t nlabels, bool quiet)
{
    struct progress p = { .on = !quiet && isatty(STDERR_FILENO) };
    struct sbx_source_progress sp = { .fn = on_read, .ctx = &p };
    struct sbx_tree t;
    struct sbx_source_result res = { 0 };
    struct sbx_error e = { 0 };
    char tmp[PATH_MAX + 32];
    _cleanup_close_ int fd = -EBADF;
    _cleanup_free_ void *map = NULL;
    size_t map_len = 0;
    int r = sbx_tree_init(&t, NULL, spool_dir(), &e);
    if (r < 0) {
        fprintf(stderr, "sandboxctl: image build: %s\n", sbx_error_msg(&e, r));
        sbx_tree_free(&t);
        return 1;
    }
    r = sbx_source_read(source, &t, &res, &sp, &e);
    progress_end(&p);
    if (r < 0) {
        fprintf(stderr, "sandboxctl: image build: %s\n", sbx_error_msg(&e, r));
        goto out;
    }
    uint8_t tree_sha[32];
    sbx_tree_digest(&t, tree_sha);
    /* The seed: what was read and the labels asked for, nothing else. */
    uint8_t seed[32];
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, tree_sha, sizeof(tree_sha));
        EVP_DigestUpdate(md, res.digest, strlen(res.digest));
        EVP_DigestFinal_ex(md, seed, NULL);
        EVP_MD_CTX_free(md);
    }
    uint64_t need = sbx_ext4_size(&t);
    uint64_t bytes = size ? size : need;
    bytes &= ~(uint64_t)(SBX_EXT4_BLOCK_SIZE - 1);
    bool named;
    fd = open_output(output, tmp, sizeof(tmp), &named);
    if (fd < 0) {
        fprintf(stderr, "sandboxctl: image build: %s: %s\n", output, strerror(errno));
        r = sbx_neg_errno();
        goto out;
    }
    r = sbx_ext4_write(&t, fd, bytes, seed, on_write, &p, &e);
    progress_end(&p);
    if (r < 0) {
        fprintf(stderr, "sandboxctl: image build: %s\n", sbx_error_msg(&e, r));
        if (named)
            unlink(tmp);
        goto out;
    }
    /* The filesystem is complete: its site map. */
    e = (struct sbx_error){ 0 };
    r = sbx_image_build_sitemap(fd, &t, &map, &map_len, &e);
    if (r < 0 && !quiet)
        fprintf(stderr, "sandboxctl: image build: %s (the daemon makes it at the first run)\n",
                sbx_error_msg(&e, r));
    json_object *doc = meta_document(source, &res, &t, tree_sha, bytes, r == 0, labels, nlabels);
    char sb[72];
    if (sbx_image_meta_superblock(fd, sb) == 0)
        json_object_object_add(doc, "superblock", json_object_new_string(sb));
    const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    r = sbx_image_meta_write(fd, bytes, map, map_len, json, strlen(json));
    json_object_put(doc);
    if (r == 0 && fsync(fd) < 0)
        r = sbx_neg_errno();
    if (r == 0)
        r = name_output(fd, output, tmp, named);
    if (r < 0) {
        fprintf(stderr, "sandboxctl: image build: %s: %s\n", output, strerror(-r));
        if (named)
            unlink(tmp);
        goto out;
    }
    if (!quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "%s: %llu files, %llu MiB\n", output, (unsigned long long)t.inodes,
                (unsigned long long)(bytes >> 20));
out:
    sbx_source_result_free(&res);
    sbx_tree_free(&t);
    return r < 0 ? 1 : 0;
}

static int cmd_build(int argc, char **argv)
{
    static const struct option opts[] = {
        { "size", required_argument, NULL, 's' },
        { "label", required_argument, NULL, 'l' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    uint64_t size = 0;
    char *labels[MAX_LABELS];
    size_t nlabels = 0;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+s:l:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_size(optarg, &size) < 0 || size < MIN_SIZE) {
                fprintf(stderr, "sandboxctl: image build: --size '%s': a size of at least 8M\n",
                        optarg);
                return 2;
            }
            break;
        case 'l':
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "sandboxctl: image build: --label '%s': not KEY=VALUE\n", optarg);
                return 2;
            }
            if (nlabels == MAX_LABELS) {
                fprintf(stderr, "sandboxctl: image build: more than %d labels\n", MAX_LABELS);
                return 2;
            }
            labels[nlabels++] = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage_build(stdout);
            return 0;
        default:
            usage_build(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage_build(stderr);
        return 2;
    }
    return build(argv[optind], argv[optind + 1], size, labels, nlabels, quiet);
}

static void print_strings(const char *key, json_object *a)
{
    printf("%-17s", key);
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
        printf(" %s", json_object_to_json_string_ext(json_object_array_get_idx(a, i),
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    printf("\n");
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = true;
            break;
        case 'h':
            usage_inspect(stdout);
            return 0;
        default:
            usage_inspect(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        usage_inspect(stderr);
        return 2;
    }
    const char *image = argv[optind];
    _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "sandboxctl: image inspect: %s: %s\n", image,
                fd < 0 ? strerror(errno) : "not a regular file");
        return 1;
    }
    _cleanup_free_ char *text = NULL;
    size_t len;
    uint64_t fs_bytes;
    struct sbx_error e = { 0 };
    int r = sbx_image_meta_read(fd, &text, &len, &fs_bytes, &e);
    if (r == -ENOENT) {
        fprintf(stderr,
                "sandboxctl: image inspect: %s: no metadata (an image not made by "
                "'sandboxctl image build')\n",
                image);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "sandboxctl: image inspect: %s: %s\n", image,
                r == -EBADMSG ? e.msg : strerror(-r));
        return 1;
    }
    json_object *doc = json_tokener_parse(text);
    if (!doc || !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        fprintf(stderr, "sandboxctl: image inspect: %s: its metadata is not a JSON object\n",
                image);
        return 1;
    }
    if (as_json) {
        printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(doc);
        return 0;
    }
    json_object *v, *cfg = NULL, *labels = NULL;
    json_object_object_get_ex(doc, "config", &cfg);
    json_object_object_get_ex(doc, "labels", &labels);
    static const char *const top[] = { "source", "kind", "digest", "tree" };
    for (size_t i = 0; i < ARRAY_SIZE(top); i++)
        if (json_object_object_get_ex(doc, top[i], &v))
            printf("%-17s %s\n", top[i], json_object_get_string(v));
    static const char *const nums[] = { "layers", "files", "content_bytes", "filesystem_bytes" };
    for (size_t i = 0; i < ARRAY_SIZE(nums); i++)
        if (json_object_object_get_ex(doc, nums[i], &v))
            printf("%-17s %lld\n", nums[i], (long long)json_object_get_int64(v));
    bool map = json_object_object_get_ex(doc, "sitemap", &v) && json_object_get_boolean(v);
    printf("%-17s %s\n", "sitemap", map ? "yes" : "no");
    static const char *const arrays[] = { "Entrypoint", "Cmd", "Env" };
    for (size_t i = 0; i < ARRAY_SIZE(arrays); i++)
        if (cfg && json_object_object_get_ex(cfg, arrays[i], &v))
            print_strings(arrays[i], v);
    static const char *const strs[] = { "WorkingDir", "User" };
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
        if (cfg && json_object_object_get_ex(cfg, strs[i], &v))
            printf("%-17s %s\n", strs[i], json_object_get_string(v));
    if (labels && json_object_is_type(labels, json_type_object)) {
        json_object_object_foreach(labels, k, lv)
            printf("label             %s=%s\n", k, json_object_get_string(lv));
    }
    json_object_put(doc);
    return 0;
}

int sbx_cmd_image(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "Usage: sandboxctl image build|inspect ...\n\n");
        usage_build(f);
        fprintf(f, "\n");
        usage_inspect(f);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "build") == 0)
        return cmd_build(argc - 1, argv + 1);
    if (strcmp(argv[1], "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    fprintf(stderr, "sandboxctl: image: unknown command '%s' (build, inspect)\n", argv[1]);
    return 2;
}
