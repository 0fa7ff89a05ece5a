/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schema walker shared by parse.c and parse-syscalls.c: a parsing
 * context that collects diagnostics and typed accessors for YAML nodes.
 */
#pragma once

#include <stdarg.h>
#include <stdio.h>

#include "policy/policy-internal.h"

struct sbx_pctx {
    const char *file;
    struct sbx_diags *diags;
    struct sbx_policy *p; /* being filled */
    bool failed;          /* some diagnostic was reported */
    bool oom;             /* allocation failed: the result is -ENOMEM */
};

/* Reports a problem at line:col and marks the parse failed. */
void sbx_pctx_report(struct sbx_pctx *c, unsigned line, unsigned col, const char *fmt, ...)
    _printf_(4, 5);

bool sbx_ynode_is_null(const struct sbx_ynode *n);

/* The text of a non-null scalar, or NULL after "expected WHAT for 'KEY'". */
const char *sbx_pctx_scalar(struct sbx_pctx *c, const struct sbx_ynode *n, const char *what,
                            const char *key);

/* Whether n is of kind; reports "expected a list/mapping for 'KEY'" otherwise. */
bool sbx_pctx_kind(struct sbx_pctx *c, const struct sbx_ynode *n, enum sbx_ynode_kind kind,
                   const char *key);

/* Checks the key at map->items[i]: a scalar, not seen before in map. */
bool sbx_pctx_map_keys(struct sbx_pctx *c, const struct sbx_ynode *map, size_t i);

/*
 * Matches a mapping against a fixed set of keys: vals[i] is the value of
 * keys[i] or NULL.  Unknown and duplicate keys are reported.  False when map
 * is not a mapping at all.  where names the mapping in messages ("'process'",
 * "a rule"; NULL for the top level).
 */
bool sbx_pctx_fields(struct sbx_pctx *c, const struct sbx_ynode *map, const char *where,
                     const char *const *keys, size_t n_keys, const struct sbx_ynode **vals);

/* Index of the scalar among names, or -1 after reporting. */
int sbx_pctx_enum(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                  const char *const *names, size_t n_names);

/* 1 for true, 0 for false, -1 after reporting. */
int sbx_pctx_bool(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key);

char *sbx_pctx_strdup(struct sbx_pctx *c, const char *s);

/*
 * A tree built by sbx_yaml_load, or by hand (the command-line options), into
 * a fresh policy with every default filled in: what sbx_policy_parse does
 * after loading the YAML.  Same results.
 */
int sbx_policy_parse_tree(const struct sbx_ynode *root, const char *file, struct sbx_policy **ret,
                          struct sbx_diags *diags);

/* parse-syscalls.c: the 'syscalls' section. */
void sbx_parse_syscalls(struct sbx_pctx *c, const struct sbx_ynode *n);
