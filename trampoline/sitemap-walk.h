/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which files of an image sbx-sitemap searches, and the records of its file
 * mode.  sbx-sitemap's own walk of a mounted image and the walk of
 * `sandboxctl image build` over the tree it has just written (for a user
 * who cannot mount it) both follow these rules, so that they give the same
 * map.
 */
#pragma once

#include <stdint.h>
#include <string.h>

/* Directories deeper than this many components are not entered. */
#define SBX_SITEMAP_WALK_MAX_DEPTH 48

/*
 * Directories that hold data, not code, in a Linux tree: skipped, because
 * reading every file's first block through a cold loop device costs about
 * 150 us a file (a Debian root has 4000 of its 6300 files there).  Code
 * found nowhere else is patched lazily, as without a map.  parent is NULL
 * for an entry of the root, else the name of the top-level directory that
 * holds name; deeper entries are never skipped.
 */
static inline int sbx_sitemap_walk_skipped(const char *parent, const char *name)
{
    static const char *const top[] = { "proc", "sys",  "dev", "run",   "tmp",       "var",
                                       "etc",  "boot", "mnt", "media", "lost+found" };
    static const char *const usr[] = { "share", "include", "src" };
    if (!parent) {
        for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
            if (!strcmp(name, top[i]))
                return 1;
    } else if (!strcmp(parent, "usr")) {
        for (size_t i = 0; i < sizeof(usr) / sizeof(usr[0]); i++)
            if (!strcmp(name, usr[i]))
                return 1;
    }
    return 0;
}

/*
 * The file mode: fd 3 is a SOCK_SEQPACKET socket on which each message is
 * one record with a memfd of the file's content (SCM_RIGHTS), in the order
 * of the walk; the helper answers each with one byte, SBX_SITEMAP_WALK_MORE
 * or, once its time is up, SBX_SITEMAP_WALK_DONE (send no more).  The end
 * of the list is the end of the stream.  ino, size and the times are what
 * stat gives for the file on the mounted image.
 */
struct sbx_sitemap_walk_record {
    uint64_t ino, size;
    int64_t mtime_ns, ctime_ns;
};
#define SBX_SITEMAP_WALK_MORE 'm'
#define SBX_SITEMAP_WALK_DONE 'd'
