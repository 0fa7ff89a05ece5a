/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The metadata trailer of built images (image/meta.h); its reader trusts nothing it reads. */
#include "image/meta.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/macro.h"

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/*
 * nettle, not libcrypto, for the trailer's digests: the daemon and
 * sandboxctl link this file, and libcrypto costs every process that loads
 * it about a millisecond of relocation at start.
 */
static void digest(const void *map, size_t map_len, const char *json, size_t len, uint8_t out[32])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, map_len, map);
    sha256_update(&c, len, (const uint8_t *)json);
    sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

int sbx_image_meta_write(int fd, uint64_t fs_bytes, const void *map, size_t map_len,
                         const char *json, size_t len)
{
    if (len > SBX_IMAGE_META_MAX_JSON || map_len > SBX_IMAGE_META_MAX_MAP)
        return -EFBIG;
    struct sbx_image_meta_footer f = { .version = SBX_IMAGE_META_VERSION,
                                       .map_bytes = (uint32_t)map_len,
                                       .fs_bytes = fs_bytes,
                                       .json_bytes = len };
    memcpy(f.magic, SBX_IMAGE_META_MAGIC, sizeof(f.magic));
    digest(map, map_len, json, len, f.sha256);
    int r = map_len ? pwrite_all(fd, map, map_len, fs_bytes) : 0;
    if (r == 0)
        r = pwrite_all(fd, json, len, fs_bytes + map_len);
    if (r == 0)
        r = pwrite_all(fd, &f, sizeof(f), fs_bytes + map_len + len);
    return r;
}

/* Reads the footer, map and JSON of fd, each checked against the others and the file. */
static int meta_read(int fd, char **ret_json, size_t *ret_len, void **ret_map, size_t *ret_map_len,
                     uint64_t *ret_fs_bytes, struct sbx_error *e)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_neg_errno();
    struct sbx_image_meta_footer f;
    if ((uint64_t)st.st_size < sizeof(f) ||
        pread(fd, &f, sizeof(f), st.st_size - (off_t)sizeof(f)) != (ssize_t)sizeof(f) ||
        memcmp(f.magic, SBX_IMAGE_META_MAGIC, sizeof(f.magic)) != 0)
        return -ENOENT;
    uint64_t size = (uint64_t)st.st_size - sizeof(f);
    if (f.version != SBX_IMAGE_META_VERSION) {
        return sbx_error_set(e, EBADMSG, "image metadata of version %u, this sandboxd reads %d",
                             f.version, SBX_IMAGE_META_VERSION);
    }
    if (f.json_bytes > SBX_IMAGE_META_MAX_JSON || f.map_bytes > SBX_IMAGE_META_MAX_MAP ||
        f.json_bytes + f.map_bytes > size || f.fs_bytes != size - f.json_bytes - f.map_bytes ||
        f.fs_bytes % 4096 != 0) {
        return sbx_error_set(
            e, EBADMSG, "image metadata that does not fit the file (%llu + %u + %llu bytes)",
            (unsigned long long)f.fs_bytes, f.map_bytes, (unsigned long long)f.json_bytes);
    }
    size_t len = (size_t)f.json_bytes, mlen = f.map_bytes;
    _cleanup_free_ char *json = malloc(len + 1);
    _cleanup_free_ char *map = malloc(mlen ? mlen : 1);
    if (!json || !map)
        return -ENOMEM;
    if ((mlen && pread(fd, map, mlen, (off_t)f.fs_bytes) != (ssize_t)mlen) ||
        pread(fd, json, len, (off_t)(f.fs_bytes + mlen)) != (ssize_t)len) {
        return sbx_error_set(e, EIO, "cannot read the image metadata");
    }
    json[len] = '\0';
    uint8_t sha[32];
    digest(map, mlen, json, len, sha);
    if (memcmp(sha, f.sha256, sizeof(sha)) != 0 || strlen(json) != len) {
        return sbx_error_set(e, EBADMSG, "image metadata damaged (its sha256 does not match)");
    }
    if (ret_json) {
        *ret_json = TAKE_PTR(json);
        *ret_len = len;
    }
    if (ret_map) {
        *ret_map = mlen ? TAKE_PTR(map) : NULL;
        *ret_map_len = mlen;
    }
    if (ret_fs_bytes)
        *ret_fs_bytes = f.fs_bytes;
    return 0;
}

int sbx_image_meta_read(int fd, char **ret_json, size_t *ret_len, uint64_t *ret_fs_bytes,
                        struct sbx_error *e)
{
    return meta_read(fd, ret_json, ret_len, NULL, NULL, ret_fs_bytes, e);
}

int sbx_image_meta_read_map(int fd, void **ret_map, size_t *ret_len, struct sbx_error *e)
{
    return meta_read(fd, NULL, NULL, ret_map, ret_len, NULL, e);
}

int sbx_image_meta_superblock(int fd, char out[72])
{
    uint8_t sb[1024], sha[32];
    if (pread(fd, sb, sizeof(sb), 1024) != (ssize_t)sizeof(sb))
        return -EIO;
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, sizeof(sb), sb);
    sha256_digest(&c, SHA256_DIGEST_SIZE, sha);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", sha[i]);
    return 0;
}
