/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the OCI image parsers (image/oci.c): index.json, the
 * manifest and the image config of an OCI layout.  The input is the three
 * documents separated by NUL bytes.  A fuzzer cannot make a sha256 match,
 * so the target writes the blobs and puts their digests and sizes where the
 * documents say @M@ / @MS@ (the manifest's, in the index), @C@ / @CS@ (the
 * config's) and @L@ / @LS@ / @D@ (a fixed empty layer's digest, size and
 * diff_id): the parsers see documents that reach each other.  Whatever
 * happens, an error has a terminated message, and an accepted image names
 * as its manifest one of the blobs the layout holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/oci.h"
#include "image/tree.h"

#include "fuzz-limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DOC (1 << 16)

static char dir[64];
static char layer_digest[80], layer_size[24];

static void digest_of(const void *buf, size_t len, char out[80])
{
    unsigned char sha[32];
    EVP_Digest(buf, len, sha, NULL, EVP_sha256(), NULL);
    int n = snprintf(out, 80, "sha256:");
    for (int i = 0; i < 32; i++)
        n += snprintf(out + n, (size_t)(80 - n), "%02x", sha[i]);
}

static int write_file(const char *name, const void *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, buf, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static int write_blob(const char *digest, const void *buf, size_t len)
{
    char name[128];
    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    return write_file(name, buf, len);
}

static void remove_blob(const char *digest)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, digest + 7);
    unlink(path);
}

/* doc[0..len) with every key replaced by its value, in a new string. */
static char *fill(const char *doc, size_t len, const char *const *keys, const char *const *values,
                  size_t n)
{
    size_t cap = len * 8 + 1, at = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        /* doc is the fuzzer's bytes: not terminated, compared within len. */
        while (k < n && (len - i < strlen(keys[k]) || memcmp(doc + i, keys[k], strlen(keys[k]))))
            k++;
        const char *put = k < n ? values[k] : doc + i;
        size_t plen = k < n ? strlen(values[k]) : 1;
        if (at + plen + 1 > cap) {
            cap = (at + plen + 1) * 2;
            char *bigger = realloc(out, cap);
            if (!bigger) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        memcpy(out + at, put, plen);
        at += plen;
        i += k < n ? strlen(keys[k]) : 1;
    }
    out[at] = '\0';
    return out;
}

/* At exit: the layout directory goes, with what is left in it. */
static void cleanup(void)
{
    char path[256];
    remove_blob(layer_digest);
    static const char *const left[] = { "index.json", "oci-layout", "blobs/sha256", "blobs", "" };
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, left[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
}

static int setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sbx-fuzz-oci.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    atexit(cleanup);
    char path[128];
    snprintf(path, sizeof(path), "%s/blobs", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
    mkdir(path, 0755);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if (write_file("oci-layout", layout, strlen(layout)) < 0)
        return -1;
    /* An empty tar: the end-of-archive blocks alone. */
    static const uint8_t empty_tar[1024];
    digest_of(empty_tar, sizeof(empty_tar), layer_digest);
    snprintf(layer_size, sizeof(layer_size), "%zu", sizeof(empty_tar));
    return write_blob(layer_digest, empty_tar, sizeof(empty_tar));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready)
        ready = setup() == 0 ? 1 : -1;
    if (ready < 0 || size > 3 * MAX_DOC)
        return 0;
    /* index \0 manifest \0 config */
    const char *doc[3] = { "", "", "" };
    size_t len[3] = { 0, 0, 0 };
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 3 && p <= end; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        doc[i] = p;
        len[i] = (size_t)((z ? z : end) - p);
        p += len[i] + 1;
    }
    char cdig[80], csize[24], mdig[80], msize[24];
    static const char *const ckeys[] = { "@D@" };
    const char *cvals[] = { layer_digest };
    char *config = fill(doc[2], len[2], ckeys, cvals, 1);
    if (!config)
        return 0;
    digest_of(config, strlen(config), cdig);
    snprintf(csize, sizeof(csize), "%zu", strlen(config));
    static const char *const mkeys[] = { "@CS@", "@C@", "@LS@", "@L@" };
    const char *mvals[] = { csize, cdig, layer_size, layer_digest };
    char *manifest = fill(doc[1], len[1], mkeys, mvals, 4);
    if (!manifest) {
        free(config);
        return 0;
    }
    digest_of(manifest, strlen(manifest), mdig);
    snprintf(msize, sizeof(msize), "%zu", strlen(manifest));
    static const char *const ikeys[] = { "@MS@", "@M@" };
    const char *ivals[] = { msize, mdig };
    char *index = fill(doc[0], len[0], ikeys, ivals, 2);
    if (index && write_blob(cdig, config, strlen(config)) == 0 &&
        write_blob(mdig, manifest, strlen(manifest)) == 0 &&
        write_file("index.json", index, strlen(index)) == 0) {
        struct sbx_tree t;
        struct sbx_error e = { 0 };
        if (sbx_tree_init(&t, &sbx_fuzz_tree_limits, "/tmp", &e) == 0) {
            struct sbx_source_result res = { 0 };
            int r = sbx_oci_read(SBX_OCI_LAYOUT, dir, &t, &res, NULL, &e);
            if (r < 0 && !memchr(e.msg, '\0', sizeof(e.msg)))
                abort();
            /* Accepted: its manifest is a blob the layout holds, by its digest. */
            if (r == 0 && strcmp(res.digest, mdig) != 0 && strcmp(res.digest, cdig) != 0 &&
                strcmp(res.digest, layer_digest) != 0)
                abort();
            sbx_source_result_free(&res);
        }
        sbx_tree_free(&t);
    }
    /* The layer stays for the next input, whatever the documents were. */
    if (strcmp(cdig, layer_digest) != 0)
        remove_blob(cdig);
    if (strcmp(mdig, cdig) != 0 && strcmp(mdig, layer_digest) != 0)
        remove_blob(mdig);
    free(index);
    free(manifest);
    free(config);
    return 0;
}
