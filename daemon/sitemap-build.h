/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Site maps made in the background, one sbx-sitemap per image (daemon/sitemap.h). */
#pragma once

struct sbx_daemon;
struct sbx_image;

/*
 * Gives a read-only image its site map for rewrite mode: the one stored for
 * this version of the image file at once, or else one sbx-sitemap makes in
 * the background.  Runs started before it is done patch lazily.
 */
void sbx_sitemap_request(struct sbx_daemon *d, struct sbx_image *img);
/* Kills every sbx-sitemap still running (the daemon is stopping). */
void sbx_sitemap_cancel_all(struct sbx_daemon *d);
