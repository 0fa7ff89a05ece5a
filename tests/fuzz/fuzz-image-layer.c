/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for an image layer (image/source.c, image/tree.c): the
 * bytes are a (possibly compressed) tar that libarchive reads and the tree
 * applies with whiteouts, twice, as two layers.  Whatever is accepted, no
 * entry of the tree is named `..`, `.`, empty or with a slash, and every
 * name under a directory is in order.
 */
#include <archive.h>
#include <stdlib.h>
#include <string.h>

#include "image/source.h"
#include "image/tree.h"

#include "fuzz-limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ctx, struct sbx_tree_node *parent, struct sbx_tree_node *n)
{
    (void)ctx;
    const char *s = n->name;
    if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, ".."))
        abort();
    struct sbx_tree_inode *d = parent->inode;
    for (size_t i = 1; i < d->nchildren; i++)
        if (strcmp(d->children[i - 1]->name, d->children[i]->name) >= 0)
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_tree t;
    struct sbx_error err;
    if (sbx_tree_init(&t, &sbx_fuzz_tree_limits, "/tmp", &err) < 0) {
        sbx_tree_free(&t);
        return 0;
    }
    for (unsigned layer = 1; layer <= 2; layer++) {
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
            sbx_source_apply_archive(a, "fuzz", &t, layer, 2, true, NULL, 0, &err);
        archive_read_free(a);
    }
    sbx_tree_walk(&t, check, NULL);
    uint8_t sha[32];
    sbx_tree_digest(&t, sha);
    sbx_tree_free(&t);
    return 0;
}
