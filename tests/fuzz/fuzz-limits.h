/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tree limits of the fuzz targets that build an image tree: small
 * enough that one input cannot make a run slow or big (a fuzzer's input is
 * at most a few MiB), large enough that an input reaches every limit check.
 */
#pragma once

#include "image/tree.h"

static const struct sbx_tree_limits sbx_fuzz_tree_limits = {
    .max_entries = 4096,
    .max_bytes = 1 << 24,
    .max_path = 4096,
    .max_depth = 64,
    .max_xattrs = 3072,
};
