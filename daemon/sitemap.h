/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site maps (include/sbx/sitemap.h): the daemon runs sbx-sitemap over a
 * read-only image once, checks what it wrote, keeps it in its state
 * directory, and hands the image's sandboxes a sealed trampoline memfd with
 * the map appended.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sbx/error.h"

/* What a stored map was made from: the image file's version and the helper's. */
struct sbx_sitemap_key {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint64_t helper; /* sbx_blob_sitemap_id() */
};

/* 0 if buf[0..len) is a well-formed map; else -EBADMSG, and e says what is wrong. */
int sbx_sitemap_check(const void *buf, size_t len, struct sbx_error *e);

/* A running sbx-sitemap: its pidfd (readable once it exited) and its output. */
struct sbx_sitemap_job {
    int pidfd, out;
    int report; /* what the helper's child of clone3 says if it fails before exec */
};

/* Starts the sbx-sitemap program in memfd helper_fd over the directory root_fd. */
int sbx_sitemap_start(int helper_fd, int root_fd, struct sbx_sitemap_job *job, struct sbx_error *e);
/*
 * Reaps the job's helper (which exited, or this waits) and closes the job;
 * on success *ret_map (malloc'ed) holds its checked map of *ret_len bytes.
 * -errno with e set on failure.
 */
int sbx_sitemap_finish(struct sbx_sitemap_job *job, void **ret_map, size_t *ret_len,
                       struct sbx_error *e);
/* Sends SIGKILL to the job's helper; its pidfd becomes readable when it is gone. */
void sbx_sitemap_kill(struct sbx_sitemap_job *job);
/*
 * Kills the job's helper, reaps it within timeout_ms, and closes the job.  0,
 * or -ETIMEDOUT when it was still there (a zombie until the daemon exits).
 */
int sbx_sitemap_cancel(struct sbx_sitemap_job *job, int timeout_ms);

/*
 * The map stored in directory dirfd for key's image, checked again: 0 and
 * *ret_map (malloc'ed), or -ENOENT when there is none for this version of
 * the image and helper, or another -errno.
 */
int sbx_sitemap_load(int dirfd, const struct sbx_sitemap_key *key, void **ret_map, size_t *ret_len);
/* Stores map for key's image in dirfd, replacing any older one (atomically). */
int sbx_sitemap_store(int dirfd, const struct sbx_sitemap_key *key, const void *map, size_t len);

/* A sealed memfd of the trampoline followed by map and its footer, or -errno. */
int sbx_sitemap_trampoline(const void *map, size_t len);
