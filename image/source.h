/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an image is built from: a directory, a tar archive (any compression
 * libarchive reads, found by content), or an OCI image (`oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:TAG]`), read into a tree.
 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "image/tree.h"
#include "sbx/error.h"

struct sbx_source_progress {
    /* layer of layers (from 1); bytes of the layer's input read of total (0 if unknown) */
    void (*fn)(void *ctx, unsigned layer, unsigned layers, uint64_t entries, uint64_t bytes,
               uint64_t total);
    void *ctx;
};

struct sbx_source_result {
    char kind[16];       /* "directory", "tar", "oci", "oci-archive", "docker-archive" */
    char digest[72];     /* "sha256:HEX": the manifest's, the archive file's, or the tree's */
    json_object *config; /* the image config's Entrypoint, Cmd, Env, WorkingDir, User; or NULL */
    json_object *labels; /* the image config's labels, or NULL */
    unsigned layers;
};

/* Reads spec into t; err names the entry, blob or file that was wrong. */
int sbx_source_read(const char *spec, struct sbx_tree *t, struct sbx_source_result *res,
                    const struct sbx_source_progress *progress, struct sbx_error *e);
void sbx_source_result_free(struct sbx_source_result *res);

/* Applies one tar stream (a layer, or a plain archive) read from fd. */
struct archive;
int sbx_source_apply_archive(struct archive *a, const char *what, struct sbx_tree *t,
                             unsigned layer, unsigned layers, bool whiteouts,
                             const struct sbx_source_progress *progress, uint64_t total,
                             struct sbx_error *e);

/* Digests as OCI spells them. */
void sbx_source_hex(const uint8_t sha[32], char out[72]);
