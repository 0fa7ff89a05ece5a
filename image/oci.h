/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI images as image sources: layouts, oci-archive and docker-archive files. */
#pragma once

#include "image/source.h"
#include "sbx/error.h"

enum sbx_oci_kind {
    SBX_OCI_LAYOUT,         /* oci:DIR[:TAG] */
    SBX_OCI_ARCHIVE,        /* oci-archive:FILE[:TAG], a tar of a layout */
    SBX_OCI_DOCKER_ARCHIVE, /* docker-archive:FILE[:TAG], what docker save writes */
};

/* Largest index, manifest or config JSON read. */
#define SBX_OCI_MAX_JSON (4U << 20)
/* Most layers, and most files in an archive's outer tar. */
#define SBX_OCI_MAX_LAYERS 256
#define SBX_OCI_MAX_FILES 4096

/* where: the part of the source after its transport prefix. */
int sbx_oci_read(enum sbx_oci_kind kind, const char *where, struct sbx_tree *t,
                 struct sbx_source_result *res, const struct sbx_source_progress *progress,
                 struct sbx_error *e);
