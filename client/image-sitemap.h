/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "image/tree.h"
#include "sbx/error.h"

/*
 * The site map (include/sbx/sitemap.h) of the ext4 image in fd, which
 * sbx_ext4_write has just written from t, made by the daemon's own confined
 * helper, sbx-sitemap: over a read-only mount of the image for root, over
 * t's files for anyone else, the same map either way.  -errno with msg on
 * failure.
 */
int sbx_image_build_sitemap(int fd, const struct sbx_tree *t, void **ret_map, size_t *ret_len,
                            struct sbx_error *e);
