/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Declarations shared between the files of the policy module and its tests;
 * nothing here is part of the API the daemon uses.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "sbx/abi.h"
#include "sbx/macro.h"

/* diag.c */

/*
 * Appends one diagnostic.  Returns 0, or -ENOMEM (the diagnostic is lost, and
 * the caller must fail with -ENOMEM).
 */
int sbx_diag_add(struct sbx_diags *d, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...) _printf_(5, 6);

/* baseline.c */

/*
 * How the built-in deny list treats a syscall: not at all, in every call, or
 * only for some argument values or in some sandboxes (clone flags, ioctl
 * commands, socket families, set-id modes and the like).
 */
enum sbx_baseline_scope {
    SBX_BASELINE_NONE,
    SBX_BASELINE_ALWAYS,
    SBX_BASELINE_SOME_ARGS,
};
enum sbx_baseline_scope sbx_baseline_scope(int nr);

/* The parts of the baseline that depend on the sandbox. */
struct sbx_baseline_opts {
    /* The sandbox has a network namespace of its own: refuse the families that reach past it. */
    bool own_network;
    /* A set-id file would be a host id's and outlive the sandbox: refuse set-id modes. */
    bool no_setid;
};

/* Adds the baseline's rules to a libseccomp context whose default is allow. */
int sbx_baseline_add_rules(void *scmp_ctx, const struct sbx_baseline_opts *o);

/* compile.c */

/* The kernel's limit on one filter program (BPF_MAXINSNS). */
#define SBX_BPF_MAX_INSNS 4096
/* A policy's own limit: room for the trampoline's prefix (include/sbx/abi.h). */
#define SBX_POLICY_MAX_INSNS (SBX_BPF_MAX_INSNS - SBX_FILTER_PREFIX_MAX)

/*
 * Compiles without exporting: the program's length for the sandbox that
 * takes the most baseline rules, or -E2BIG past SBX_POLICY_MAX_INSNS.
 */
int sbx_policy_compiled_size(const struct sbx_policy *p, size_t *ret_insns);

/* values.c */

/* Levenshtein distance, capped: returns max + 1 when the distance exceeds max. */
unsigned sbx_edit_distance(const char *a, const char *b, unsigned max);

/*
 * Of candidates[0..n), the closest to word within a distance that makes a
 * typo plausible, or NULL.  Comparison ignores case.
 */
const char *sbx_suggest(const char *word, const char *const *candidates, size_t n);

/* The errno value of a name such as "EPERM", or -ENOENT. */
int sbx_errno_from_name(const char *name);
/* Fills out with up to cap errno names known to sbx_errno_from_name; returns how many. */
size_t sbx_errno_names(const char **out, size_t cap);

/* The value of a well-known symbolic constant (AF_UNIX, O_RDONLY...), or -ENOENT. */
int sbx_constant_lookup(const char *name, uint64_t *ret);
const char *sbx_constant_suggest(const char *name);

/* Unsigned integer in decimal, 0x hex or 0 octal; the whole string.  0 or -EINVAL/-ERANGE. */
int sbx_parse_u64(const char *s, uint64_t *ret);
/* Decimal digits only: counts, ids. */
int sbx_parse_dec(const char *s, uint64_t *ret);
/* Bytes with an optional K/M/G/T suffix (powers of 1024). */
int sbx_parse_size(const char *s, uint64_t *ret);
/* Milliseconds from "250ms", "60s", "5m", "2h" or a bare number of seconds. */
int sbx_parse_duration_ms(const char *s, uint64_t *ret);
/* Thousandths of a CPU from "0.5", "2", "50%". */
int sbx_parse_cpu_millis(const char *s, uint64_t *ret);

/* RLIMIT_* of a name such as "nofile", or -ENOENT; and the list of names. */
int sbx_rlimit_from_name(const char *name);
const char *sbx_rlimit_name(int resource);
size_t sbx_rlimit_names(const char **out, size_t cap);

/* policy.c */

/* A policy with every default filled in (baseline on, default allow), unnamed. */
struct sbx_policy *sbx_policy_alloc_defaults(void);

/* yaml-tree.c */

enum sbx_ynode_kind { SBX_YNODE_SCALAR, SBX_YNODE_SEQ, SBX_YNODE_MAP };

struct sbx_ynode {
    enum sbx_ynode_kind kind;
    unsigned line, col; /* 1-based */
    char *scalar;       /* SBX_YNODE_SCALAR */
    bool quoted;        /* the scalar was written in quotes, so it is never null */
    /* SBX_YNODE_SEQ: the items; SBX_YNODE_MAP: key, value, key, value ... */
    struct sbx_ynode **items;
    size_t n, cap;
};

/*
 * Parses YAML text into a tree.  0 with *ret set (NULL for an empty
 * stream), -EINVAL with a diagnostic (syntax error, aliases, several
 * documents, too deep), or -ENOMEM.
 */
int sbx_yaml_load(const char *text, size_t len, const char *file, struct sbx_ynode **ret,
                  struct sbx_diags *diags);
void sbx_ynode_free(struct sbx_ynode *n);
