/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Site maps made in the background, one sbx-sitemap per image (daemon/sitemap.h). */
#pragma once

#include <stddef.h>

struct sbx_daemon;
struct sbx_image;

/*
 * Gives a read-only image its site map for rewrite mode: the one stored for
 * this version of the image file at once, or else one sbx-sitemap makes in
 * the background.  Runs started before it is done patch lazily.
 */
void sbx_sitemap_request(struct sbx_daemon *d, struct sbx_image *img);
/*
 * Gives a read-only image the site map stored in its own file by
 * `sandboxctl image build`, checked as the helper's are; a later
 * sbx_sitemap_request then has nothing to do.  A bad map is ignored (the
 * request makes one).
 */
void sbx_sitemap_offer(struct sbx_image *img, const void *map, size_t len);
/* Kills every sbx-sitemap still running (the daemon is stopping). */
void sbx_sitemap_cancel_all(struct sbx_daemon *d);
