/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * The site map of the ext4 image in fd (include/sbx/sitemap.h), made by the
 * daemon's own confined helper, sbx-sitemap, on a read-only mount of it:
 * so only for root, which can mount.  -EPERM for anyone else (the daemon
 * then makes the map at the image's first rewrite-mode run, as for any
 * image); other errors with msg.
 */
int sbx_image_build_sitemap(int fd, void **ret_map, size_t *ret_len, char *msg, size_t msglen);
