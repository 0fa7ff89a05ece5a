/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The metadata of a built image: a JSON document (source, digest, config,
 * labels, counts) stored after the end of the ext4 filesystem in the same
 * file, and found by a footer in the file's last bytes.  The filesystem
 * does not reach it (its block count ends before it), so a guest never
 * sees it, and a plain image (mkfs.ext4 -d) simply has no footer.
 *
 * Layout: [filesystem: fs_bytes][site map: map_bytes][JSON: json_bytes]
 * [footer: 64 bytes].  The site map (include/sbx/sitemap.h) is optional.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "sbx/error.h"

#define SBX_IMAGE_META_MAGIC "sbximage"
#define SBX_IMAGE_META_VERSION 1
/* Largest JSON document accepted. */
#define SBX_IMAGE_META_MAX_JSON (1U << 20)

struct sbx_image_meta_footer {
    char magic[8];
    uint32_t version;
    uint32_t map_bytes;
    uint64_t fs_bytes;
    uint64_t json_bytes;
    uint8_t sha256[32]; /* of the map and the JSON, against a truncated or damaged file */
};
_Static_assert(sizeof(struct sbx_image_meta_footer) == 64, "format");

/* Largest site map accepted. */
#define SBX_IMAGE_META_MAX_MAP (16U << 20)

/* Appends the site map (map_len 0: none), the JSON and the footer at fs_bytes of fd. */
int sbx_image_meta_write(int fd, uint64_t fs_bytes, const void *map, size_t map_len,
                         const char *json, size_t len);

/*
 * Reads the JSON of fd's footer (NUL-terminated, malloc'd).  -ENOENT when
 * the file has no footer (a plain image); -EBADMSG, with msg, when it has a
 * bad one.
 */
int sbx_image_meta_read(int fd, char **ret_json, size_t *ret_len, uint64_t *ret_fs_bytes,
                        struct sbx_error *e);

/* The site map stored in fd (malloc'd; *ret_len 0 and NULL when there is none). */
int sbx_image_meta_read_map(int fd, void **ret_map, size_t *ret_len, struct sbx_error *e);

/*
 * "sha256:HEX" of fd's ext4 superblock (bytes 1024 to 2047).  Stored at
 * build time, it tells whether the filesystem changed since (a read-write
 * mount, debugfs -w): then the stored site map no longer describes it.
 */
int sbx_image_meta_superblock(int fd, char out[72]);
