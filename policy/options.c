/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The options of `sandboxctl run` that set policy fields.  Each one becomes
 * the YAML tree of the key it stands for, built here by hand so that no value
 * is ever spliced into YAML text, and goes through the policy parser into a
 * fresh policy; the one field it sets then moves into the policy being run.
 * The parser's checks are the only checks, so an option accepts and refuses
 * exactly what the key does.
 */
#include <errno.h>
#include <string.h>

#include "policy/parse.h"

/* Enough nodes for the deepest fragment: filesystem.mounts[0] with four keys. */
#define FRAG_NODES 16

/* A YAML tree on the stack; nodes carry no position (line 0). */
struct frag {
    struct sbx_ynode nodes[FRAG_NODES];
    struct sbx_ynode *ptrs[FRAG_NODES];
    size_t n_nodes, n_ptrs;
};

static struct sbx_ynode *frag_scalar(struct frag *f, const char *s)
{
    struct sbx_ynode *n = &f->nodes[f->n_nodes++];
    /* The parser reads scalars and never writes them. */
    *n = (struct sbx_ynode){ .kind = SBX_YNODE_SCALAR, .scalar = (char *)s };
    return n;
}

/* A mapping or sequence of the n nodes given (key, value, key, value for a mapping). */
static struct sbx_ynode *frag_node(struct frag *f, enum sbx_ynode_kind kind,
                                   struct sbx_ynode *const *items, size_t n)
{
    struct sbx_ynode *node = &f->nodes[f->n_nodes++];
    *node = (struct sbx_ynode){ .kind = kind, .items = &f->ptrs[f->n_ptrs], .n = n, .cap = n };
    for (size_t i = 0; i < n; i++)
        f->ptrs[f->n_ptrs++] = items[i];
    return node;
}

/* { section: { key: value } }, or { key: value } without a section. */
static struct sbx_ynode *frag_key(struct frag *f, const char *section, const char *key,
                                  struct sbx_ynode *value)
{
    struct sbx_ynode *inner[] = { frag_scalar(f, key), value };
    struct sbx_ynode *map = frag_node(f, SBX_YNODE_MAP, inner, 2);
    if (!section)
        return map;
    struct sbx_ynode *outer[] = { frag_scalar(f, section), map };
    return frag_node(f, SBX_YNODE_MAP, outer, 2);
}

/* { filesystem: { mounts: [ { k: v, ... } ] } } from n key/value strings. */
static struct sbx_ynode *frag_mount(struct frag *f, const char *const *kv, size_t n)
{
    struct sbx_ynode *items[8];
    for (size_t i = 0; i < n; i++)
        items[i] = frag_scalar(f, kv[i]);
    struct sbx_ynode *mount = frag_node(f, SBX_YNODE_MAP, items, n);
    struct sbx_ynode *list = frag_node(f, SBX_YNODE_SEQ, &mount, 1);
    return frag_key(f, "filesystem", "mounts", list);
}

enum opt {
    OPT_VOLUME,
    OPT_TMPFS,
    OPT_WORKDIR,
    OPT_USER,
    OPT_HOSTNAME,
    OPT_MEMORY,
    OPT_PIDS,
    OPT_CPUS,
    OPT_TIMEOUT,
    OPT_NETWORK,
    OPT_CAP_ADD,
    OPT_ULIMIT,
    OPT_USERNS,
};

static const char *const opt_names[] = {
    [OPT_VOLUME] = "volume",   [OPT_TMPFS] = "tmpfs",       [OPT_WORKDIR] = "workdir",
    [OPT_USER] = "user",       [OPT_HOSTNAME] = "hostname", [OPT_MEMORY] = "memory",
    [OPT_PIDS] = "pids-limit", [OPT_CPUS] = "cpus",         [OPT_TIMEOUT] = "timeout",
    [OPT_NETWORK] = "network", [OPT_CAP_ADD] = "cap-add",   [OPT_ULIMIT] = "ulimit",
    [OPT_USERNS] = "userns",
};

/* What one option is being turned into, for the error paths. */
struct optctx {
    const char *label; /* "--memory 12Q" */
    struct sbx_diags *diags;
};

static int syntax_error(const struct optctx *o, const char *expected)
{
    int r = sbx_diag_add(o->diags, o->label, 0, 0, "expected %s", expected);
    return r < 0 ? r : -EINVAL;
}

/* SRC:DST[:ro|rw]; buf is a copy of the value, cut in place. */
static int volume_tree(const struct optctx *o, struct frag *f, char *buf, struct sbx_ynode **ret)
{
    char *src = buf, *dst = strchr(buf, ':');
    if (!dst)
        return syntax_error(o, "SRC:DST[:ro|rw]");
    *dst++ = '\0';
    char *flag = strchr(dst, ':');
    /* Read-only unless asked, as a bind mount of a policy is. */
    const char *readonly = "true";
    if (flag) {
        *flag++ = '\0';
        if (strcmp(flag, "rw") == 0)
            readonly = "false";
        else if (strcmp(flag, "ro") != 0)
            return syntax_error(o, "SRC:DST[:ro|rw]");
    }
    const char *kv[] = { "type", "bind", "source", src, "target", dst, "readonly", readonly };
    *ret = frag_mount(f, kv, ARRAY_SIZE(kv));
    return 0;
}

/* DST[:size=N,mode=M] */
static int tmpfs_tree(const struct optctx *o, struct frag *f, char *buf, struct sbx_ynode **ret)
{
    const char *kv[8] = { "type", "tmpfs", "target", buf };
    size_t n = 4;
    char *opts = strchr(buf, ':');
    if (opts) {
        *opts++ = '\0';
        char *save = NULL;
        bool seen[2] = { false, false };
        for (char *tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (eq)
                *eq++ = '\0';
            int which = !eq ? -1 : strcmp(tok, "size") == 0 ? 0 : strcmp(tok, "mode") == 0 ? 1 : -1;
            if (which < 0 || seen[which])
                return syntax_error(o, "DST[:size=N,mode=M]");
            seen[which] = true;
            kv[n++] = tok;
            kv[n++] = eq;
        }
        if (n == 4)
            return syntax_error(o, "DST[:size=N,mode=M]");
    }
    *ret = frag_mount(f, kv, n);
    return 0;
}

/* NAME=SOFT[:HARD] */
static int ulimit_tree(const struct optctx *o, struct frag *f, char *buf, struct sbx_ynode **ret)
{
    char *eq = strchr(buf, '=');
    if (!eq || eq == buf)
        return syntax_error(o, "NAME=SOFT[:HARD]");
    *eq++ = '\0';
    *ret = frag_key(f, "process", "rlimits", frag_key(f, NULL, buf, frag_scalar(f, eq)));
    return 0;
}

static int build_tree(const struct optctx *o, enum opt which, struct frag *f, char *buf,
                      struct sbx_ynode **ret)
{
    switch (which) {
    case OPT_VOLUME:
        return volume_tree(o, f, buf, ret);
    case OPT_TMPFS:
        return tmpfs_tree(o, f, buf, ret);
    case OPT_ULIMIT:
        return ulimit_tree(o, f, buf, ret);
    case OPT_CAP_ADD: {
        struct sbx_ynode *cap = frag_scalar(f, buf);
        *ret = frag_key(f, "process", "capabilities", frag_node(f, SBX_YNODE_SEQ, &cap, 1));
        return 0;
    }
    case OPT_NETWORK:
        *ret = frag_key(f, NULL, "network", frag_scalar(f, buf));
        return 0;
    case OPT_USERNS:
        *ret = frag_key(f, NULL, "userns", frag_scalar(f, buf));
        return 0;
    default:
        break;
    }
    static const char *const keys[][2] = {
        [OPT_WORKDIR] = { "process", "cwd" },       [OPT_USER] = { "process", "user" },
        [OPT_HOSTNAME] = { "process", "hostname" }, [OPT_MEMORY] = { "limits", "memory" },
        [OPT_PIDS] = { "limits", "pids" },          [OPT_CPUS] = { "limits", "cpu" },
        [OPT_TIMEOUT] = { "limits", "timeout" },
    };
    *ret = frag_key(f, keys[which][0], keys[which][1], frag_scalar(f, buf));
    return 0;
}

static void replace_str(char **dst, char **src)
{
    free(*dst);
    *dst = *src;
    *src = NULL;
}

/* Adds q's one mount to p, in place of a policy mount with the same target. */
static int merge_mount(const struct optctx *o, struct sbx_policy *p, struct sbx_policy *q)
{
    struct sbx_mount *m = &q->mounts[0];
    size_t at = p->n_mounts;
    for (size_t i = 0; i < p->n_mounts; i++) {
        if (strcmp(p->mounts[i].target, m->target) != 0)
            continue;
        if (p->mounts[i].option) {
            int r = sbx_diag_add(o->diags, o->label, 0, 0,
                                 "'%s' is already the target of an earlier --volume or --tmpfs",
                                 m->target);
            return r < 0 ? r : -EINVAL;
        }
        at = i;
    }
    if (at == p->n_mounts) {
        struct sbx_mount *v = reallocarray(p->mounts, p->n_mounts + 1, sizeof(*v));
        if (!v)
            return -ENOMEM;
        p->mounts = v;
        p->n_mounts++;
    } else {
        free(p->mounts[at].source);
        free(p->mounts[at].target);
    }
    p->mounts[at] = *m;
    p->mounts[at].option = true;
    /* Moved: q no longer owns the strings. */
    *m = (struct sbx_mount){ 0 };
    return 0;
}

static int merge_rlimit(struct sbx_policy *p, const struct sbx_rlimit *l)
{
    for (size_t i = 0; i < p->n_rlimits; i++)
        if (p->rlimits[i].resource == l->resource) {
            p->rlimits[i] = *l;
            return 0;
        }
    struct sbx_rlimit *v = reallocarray(p->rlimits, p->n_rlimits + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    p->rlimits = v;
    p->rlimits[p->n_rlimits++] = *l;
    return 0;
}

/* Where a limit set by an option came from, for sbx_policy_check_host. */
static int set_origin(char **dst, const char *label)
{
    char *s = strdup(label);
    if (!s)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

/* Moves the field that option which set in q into p. */
static int merge(const struct optctx *o, enum opt which, struct sbx_policy *p, struct sbx_policy *q)
{
    switch (which) {
    case OPT_VOLUME:
    case OPT_TMPFS:
        return merge_mount(o, p, q);
    case OPT_WORKDIR:
        replace_str(&p->cwd, &q->cwd);
        return 0;
    case OPT_USER:
        /* The policy's groups were chosen for its user, not this one. */
        replace_str(&p->user, &q->user);
        replace_str(&p->group, &q->group);
        for (size_t i = 0; i < p->n_groups; i++)
            free(p->groups[i]);
        free(p->groups);
        p->groups = NULL;
        p->n_groups = 0;
        return 0;
    case OPT_HOSTNAME:
        replace_str(&p->hostname, &q->hostname);
        return 0;
    case OPT_MEMORY:
        p->memory = q->memory;
        p->memory_set = true;
        return set_origin(&p->memory_option, o->label);
    case OPT_PIDS:
        p->pids = q->pids;
        p->pids_set = true;
        return set_origin(&p->pids_option, o->label);
    case OPT_CPUS:
        p->cpu_millis = q->cpu_millis;
        return set_origin(&p->cpu_option, o->label);
    case OPT_TIMEOUT:
        p->timeout_ms = q->timeout_ms;
        return 0;
    case OPT_NETWORK:
        p->network = q->network;
        return 0;
    case OPT_USERNS:
        p->userns = q->userns;
        return 0;
    case OPT_CAP_ADD:
        p->caps_keep |= q->caps_keep;
        return 0;
    case OPT_ULIMIT:
        return merge_rlimit(p, &q->rlimits[0]);
    }
    return -EINVAL;
}

static void policy_freep(struct sbx_policy **p)
{
    sbx_policy_free(*p);
}

int sbx_policy_apply_option(struct sbx_policy *p, const char *option, struct sbx_diags *diags)
{
    const char *eq = strchr(option, '=');
    size_t name_len = eq ? (size_t)(eq - option) : strlen(option);
    int which = -1;
    for (size_t i = 0; i < ARRAY_SIZE(opt_names); i++)
        if (strlen(opt_names[i]) == name_len && strncmp(option, opt_names[i], name_len) == 0)
            which = (int)i;
    _cleanup_free_ char *label = NULL;
    if (asprintf(&label, "--%.*s%s%s", (int)name_len, option, eq ? " " : "", eq ? eq + 1 : "") < 0)
        return -ENOMEM;
    if (which < 0 || !eq) {
        int r = sbx_diag_add(diags, label, 0, 0,
                             which < 0 ? "not an option that sets a policy field"
                                       : "the option has no value");
        return r < 0 ? r : -EINVAL;
    }
    _cleanup_free_ char *buf = strdup(eq + 1);
    if (!buf)
        return -ENOMEM;
    struct optctx o = { .label = label, .diags = diags };
    struct frag f = { .n_nodes = 0 };
    struct sbx_ynode *root = NULL;
    int r = build_tree(&o, (enum opt)which, &f, buf, &root);
    if (r < 0)
        return r;
    _cleanup_(policy_freep) struct sbx_policy *q = NULL;
    if ((r = sbx_policy_parse_tree(root, label, &q, diags)) < 0)
        return r;
    return merge(&o, (enum opt)which, p, q);
}
