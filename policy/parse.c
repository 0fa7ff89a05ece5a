/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * YAML tree -> validated struct sbx_policy: the top-level keys and the
 * filesystem, process, limits and network sections.  The syscalls section
 * lives in parse-syscalls.c.  Every problem is reported, not only the first.
 */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include "policy/parse.h"

void sbx_pctx_report(struct sbx_pctx *c, unsigned line, unsigned col, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    c->failed = true;
    if (r < 0 || sbx_diag_add(c->diags, c->file, line, col, "%s", msg) < 0)
        c->oom = true;
    free(msg);
}

bool sbx_ynode_is_null(const struct sbx_ynode *n)
{
    if (n->kind != SBX_YNODE_SCALAR || n->quoted)
        return false;
    const char *s = n->scalar;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

const char *sbx_pctx_scalar(struct sbx_pctx *c, const struct sbx_ynode *n, const char *what,
                            const char *key)
{
    if (n->kind != SBX_YNODE_SCALAR || sbx_ynode_is_null(n)) {
        sbx_pctx_report(c, n->line, n->col, "expected %s for '%s'", what, key);
        return NULL;
    }
    return n->scalar;
}

bool sbx_pctx_kind(struct sbx_pctx *c, const struct sbx_ynode *n, enum sbx_ynode_kind kind,
                   const char *key)
{
    if (n->kind == kind)
        return true;
    static const char *const names[] = {
        [SBX_YNODE_SCALAR] = "a value",
        [SBX_YNODE_SEQ] = "a list",
        [SBX_YNODE_MAP] = "a mapping",
    };
    sbx_pctx_report(c, n->line, n->col, "expected %s for '%s'", names[kind], key);
    return false;
}

/* Finds key among the earlier keys of a mapping; used for duplicates. */
static const struct sbx_ynode *earlier_key(const struct sbx_ynode *map, size_t upto)
{
    const struct sbx_ynode *key = map->items[upto];
    for (size_t i = 0; i < upto; i += 2) {
        const struct sbx_ynode *k = map->items[i];
        if (k->kind == SBX_YNODE_SCALAR && strcmp(k->scalar, key->scalar) == 0)
            return k;
    }
    return NULL;
}

bool sbx_pctx_map_keys(struct sbx_pctx *c, const struct sbx_ynode *map, size_t i)
{
    const struct sbx_ynode *k = map->items[i];
    if (k->kind != SBX_YNODE_SCALAR) {
        sbx_pctx_report(c, k->line, k->col, "a key must be a plain string, not a %s",
                        k->kind == SBX_YNODE_SEQ ? "list" : "mapping");
        return false;
    }
    const struct sbx_ynode *first = earlier_key(map, i);
    if (first) {
        sbx_pctx_report(c, k->line, k->col, "duplicate key '%s' (first at line %u)", k->scalar,
                        first->line);
        return false;
    }
    return true;
}

bool sbx_pctx_fields(struct sbx_pctx *c, const struct sbx_ynode *map, const char *where,
                     const char *const *keys, size_t n_keys, const struct sbx_ynode **vals)
{
    for (size_t i = 0; i < n_keys; i++)
        vals[i] = NULL;
    if (map->kind != SBX_YNODE_MAP) {
        sbx_pctx_report(c, map->line, map->col, "expected a mapping for %s",
                        where ? where : "the policy");
        return false;
    }
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (!sbx_pctx_map_keys(c, map, i))
            continue;
        const struct sbx_ynode *k = map->items[i];
        size_t f = 0;
        while (f < n_keys && strcmp(keys[f], k->scalar) != 0)
            f++;
        if (f < n_keys) {
            vals[f] = map->items[i + 1];
            continue;
        }
        const char *hint = sbx_suggest(k->scalar, keys, n_keys);
        sbx_pctx_report(c, k->line, k->col, "unknown key '%s'%s%s%s%s%s", k->scalar,
                        where ? " in " : "", where ? where : "", hint ? " (did you mean '" : "",
                        hint ? hint : "", hint ? "'?)" : "");
    }
    return true;
}

int sbx_pctx_enum(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                  const char *const *names, size_t n_names)
{
    const char *s = sbx_pctx_scalar(c, n, "a string", key);
    if (!s)
        return -1;
    for (size_t i = 0; i < n_names; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    /* "a | b | c" for the message. */
    char choices[256] = "";
    for (size_t i = 0; i < n_names; i++) {
        if (i)
            strncat(choices, i + 1 == n_names ? " or " : ", ",
                    sizeof(choices) - strlen(choices) - 1);
        strncat(choices, names[i], sizeof(choices) - strlen(choices) - 1);
    }
    sbx_pctx_report(c, n->line, n->col, "invalid value '%s' for '%s' (expected %s)", s, key,
                    choices);
    return -1;
}

int sbx_pctx_bool(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key)
{
    if (n->kind == SBX_YNODE_SCALAR && !n->quoted) {
        if (strcmp(n->scalar, "true") == 0)
            return 1;
        if (strcmp(n->scalar, "false") == 0)
            return 0;
    }
    sbx_pctx_report(c, n->line, n->col, "expected true or false for '%s'", key);
    return -1;
}

char *sbx_pctx_strdup(struct sbx_pctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d) {
        c->oom = true;
        c->failed = true;
    }
    return d;
}

/* An absolute path without "." or ".." components: what it names is what it says. */
static bool path_ok(const char *s)
{
    if (s[0] != '/' || strlen(s) >= 4096)
        return false;
    for (const char *p = s; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len;
    }
    return true;
}

/* Whether path is dir or below it (both absolute, without '.' or '..'). */
static bool in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static char *get_path(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key)
{
    const char *s = sbx_pctx_scalar(c, n, "a path", key);
    if (!s)
        return NULL;
    if (!path_ok(s)) {
        sbx_pctx_report(c, n->line, n->col,
                        "'%s' must be an absolute path without '.' or '..' components", key);
        return NULL;
    }
    return sbx_pctx_strdup(c, s);
}

/* Limits as numbers with a unit, or "unlimited" (stored as 0). */
static void get_limit(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                      int (*parse)(const char *, uint64_t *), uint64_t min, uint64_t max,
                      const char *syntax, const char *range, uint64_t *out)
{
    const char *s = sbx_pctx_scalar(c, n, "a number", key);
    if (!s)
        return;
    if (strcmp(s, "unlimited") == 0) {
        *out = 0;
        return;
    }
    uint64_t v;
    int r = parse(s, &v);
    if (r == -EINVAL) {
        sbx_pctx_report(c, n->line, n->col, "invalid value '%s' for '%s' (%s)", s, key, syntax);
        return;
    }
    if (r < 0 || v < min || v > max) {
        sbx_pctx_report(c, n->line, n->col, "'%s' is out of range (%s)", key, range);
        return;
    }
    *out = v;
}

static int parse_count(const char *s, uint64_t *ret)
{
    return sbx_parse_dec(s, ret);
}

static void parse_limits(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    static const char *const keys[] = { "memory", "pids", "cpu", "timeout" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_fields(c, n, "'limits'", keys, ARRAY_SIZE(keys), v))
        return;
    if (v[0]) {
        get_limit(c, v[0], "memory", sbx_parse_size, 1u << 20, UINT64_MAX / 2,
                  "a size such as 256M or 2G", "at least 1M", &p->memory);
        p->memory_set = true;
        p->memory_line = v[0]->line;
        p->memory_col = v[0]->col;
    }
    if (v[1]) {
        get_limit(c, v[1], "pids", parse_count, 1, 4194304, "a whole number", "1 to 4194304",
                  &p->pids);
        p->pids_set = true;
        p->pids_line = v[1]->line;
        p->pids_col = v[1]->col;
    }
    if (v[2]) {
        get_limit(c, v[2], "cpu", sbx_parse_cpu_millis, 1, 1024000,
                  "a share of a CPU such as 0.5, 2 or 50%", "0.001 to 1024 CPUs", &p->cpu_millis);
        p->cpu_line = v[2]->line;
        p->cpu_col = v[2]->col;
    }
    if (v[3])
        get_limit(c, v[3], "timeout", sbx_parse_duration_ms, 1, UINT64_MAX / 2,
                  "a duration such as 500ms, 60s, 5m or 2h", "at least 1ms", &p->timeout_ms);
}

/* tmpfs and umask modes are octal, as with chmod, whether quoted or not. */
static int get_octal(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key, unsigned max)
{
    const char *s = sbx_pctx_scalar(c, n, "an octal mode", key);
    if (!s)
        return -1;
    const char *digits = (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) ? s + 2 : s;
    unsigned v = 0;
    bool ok = *digits != '\0' && strlen(digits) <= 6;
    for (const char *d = digits; ok && *d; d++) {
        if (*d < '0' || *d > '7')
            ok = false;
        else
            v = v * 8 + (unsigned)(*d - '0');
    }
    if (!ok || v > max) {
        sbx_pctx_report(c, n->line, n->col, "invalid mode '%s' for '%s' (octal, at most %04o)", s,
                        key, max);
        return -1;
    }
    return (int)v;
}

static void parse_mount(struct sbx_pctx *c, const struct sbx_ynode *n, struct sbx_mount *m)
{
    static const char *const keys[] = { "type", "source", "target", "readonly", "size", "mode" };
    static const char *const types[] = { "bind", "tmpfs" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    if (!sbx_pctx_fields(c, n, "a mount", keys, ARRAY_SIZE(keys), v))
        return;
    int type = -1;
    if (!v[0])
        sbx_pctx_report(c, n->line, n->col, "a mount needs a 'type' (bind or tmpfs)");
    else
        type = sbx_pctx_enum(c, v[0], "type", types, ARRAY_SIZE(types));
    m->type = type == 1 ? SBX_MOUNT_TMPFS : SBX_MOUNT_BIND;
    /* Binds are read-only unless asked: writing to the host is the exception. */
    m->readonly = m->type == SBX_MOUNT_BIND;
    m->mode = 0755;

    if (!v[2])
        sbx_pctx_report(c, n->line, n->col, "a mount needs a 'target'");
    else if ((m->target = get_path(c, v[2], "target")) && strcmp(m->target, "/") == 0)
        sbx_pctx_report(c, v[2]->line, v[2]->col, "a mount cannot replace the root directory");
    else if (m->target && (in_dir(m->target, "/dev") || in_dir(m->target, "/proc")))
        sbx_pctx_report(c, v[2]->line, v[2]->col,
                        "a mount cannot go in the sandbox's own /dev or /proc ('%s')", m->target);
    if (v[3]) {
        int b = sbx_pctx_bool(c, v[3], "readonly");
        if (b >= 0)
            m->readonly = b;
    }
    if (type == 0) {
        if (!v[1])
            sbx_pctx_report(c, n->line, n->col, "a bind mount needs a 'source'");
        else
            m->source = get_path(c, v[1], "source");
        for (size_t i = 4; i < 6; i++)
            if (v[i])
                sbx_pctx_report(c, v[i]->line, v[i]->col, "'%s' only applies to tmpfs mounts",
                                keys[i]);
    } else if (type == 1) {
        if (v[1])
            sbx_pctx_report(c, v[1]->line, v[1]->col, "a tmpfs mount has no 'source'");
        if (v[4])
            get_limit(c, v[4], "size", sbx_parse_size, 4096, UINT64_MAX / 2, "a size such as 64M",
                      "at least 4K", &m->size);
        if (v[5]) {
            int mode = get_octal(c, v[5], "mode", 07777);
            if (mode >= 0)
                m->mode = (uint32_t)mode;
        }
    }
}

static char **get_path_list(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                            size_t *ret_n)
{
    *ret_n = 0;
    if (!sbx_pctx_kind(c, n, SBX_YNODE_SEQ, key) || n->n == 0)
        return NULL;
    char **v = calloc(n->n, sizeof(*v));
    if (!v) {
        c->oom = c->failed = true;
        return NULL;
    }
    for (size_t i = 0; i < n->n; i++)
        v[i] = get_path(c, n->items[i], key);
    *ret_n = n->n;
    return v;
}

static void parse_filesystem(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    static const char *const keys[] = { "writable_image", "mounts",   "masked",
                                        "overlay_size",   "tmp_size", "shm_size" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_fields(c, n, "'filesystem'", keys, ARRAY_SIZE(keys), v))
        return;
    if (v[0]) {
        int b = sbx_pctx_bool(c, v[0], "writable_image");
        if (b >= 0)
            p->writable_image = b;
    }
    if (v[1] && sbx_pctx_kind(c, v[1], SBX_YNODE_SEQ, "mounts") && v[1]->n) {
        p->mounts = calloc(v[1]->n, sizeof(*p->mounts));
        if (!p->mounts) {
            c->oom = c->failed = true;
            return;
        }
        p->n_mounts = v[1]->n;
        for (size_t i = 0; i < v[1]->n; i++) {
            parse_mount(c, v[1]->items[i], &p->mounts[i]);
            for (size_t j = 0; j < i && p->mounts[i].target; j++)
                if (p->mounts[j].target && strcmp(p->mounts[i].target, p->mounts[j].target) == 0)
                    sbx_pctx_report(c, v[1]->items[i]->line, v[1]->items[i]->col,
                                    "'%s' is already the target of the mount at line %u",
                                    p->mounts[i].target, v[1]->items[j]->line);
        }
    }
    if (v[2])
        p->masked = get_path_list(c, v[2], "masked", &p->n_masked);
    /* The writable layers' sizes: every one is a tmpfs, so its pages are memory. */
    uint64_t *sizes[] = { &p->overlay_size, &p->tmp_size, &p->shm_size };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
        if (v[3 + i])
            get_limit(c, v[3 + i], keys[3 + i], sbx_parse_size, 4096, UINT64_MAX / 2,
                      "a size such as 1G", "at least 4K", sizes[i]);
}

/* User and group names as shadow-utils accepts them, or numeric ids. */
static bool id_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 32 || s[0] == '-')
        return false;
    if (strspn(s, "0123456789") == len) {
        uint64_t v;
        /*
         * (uid_t)-1 means "unchanged" to the kernel; never an identity.  No
         * leading zeros: /etc/passwd is searched by the id's text, and "01000"
         * would parse as 1000 yet never match that user's line.
         */
        return (len == 1 || s[0] != '0') && sbx_parse_dec(s, &v) == 0 && v < UINT32_MAX;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len ||
           (len > 1 && s[len - 1] == '$' &&
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                len - 1);
}

static char *get_id(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key)
{
    const char *s = sbx_pctx_scalar(c, n, "a name or number", key);
    if (!s)
        return NULL;
    if (!id_ok(s)) {
        sbx_pctx_report(
            c, n->line, n->col,
            "invalid %s '%s' (a name, or a number below 4294967295 without leading zeros)", key, s);
        return NULL;
    }
    return sbx_pctx_strdup(c, s);
}

/* user: NAME, UID, or the "UID:GID" shorthand of docker's and podman's --user. */
static void parse_user(struct sbx_pctx *c, const struct sbx_ynode *n, bool group_set)
{
    struct sbx_policy *p = c->p;
    const char *s = sbx_pctx_scalar(c, n, "a name or number", "user");
    if (!s)
        return;
    const char *colon = strchr(s, ':');
    if (!colon) {
        p->user = get_id(c, n, "user");
        return;
    }
    if (group_set) {
        sbx_pctx_report(c, n->line, n->col, "'user' names a group and 'group' is set too");
        return;
    }
    _cleanup_free_ char *u = strndup(s, (size_t)(colon - s));
    if (!u) {
        c->oom = c->failed = true;
        return;
    }
    if (!id_ok(u) || !id_ok(colon + 1)) {
        sbx_pctx_report(c, n->line, n->col, "invalid user '%s' (expected USER or USER:GROUP)", s);
        return;
    }
    p->user = TAKE_PTR(u);
    p->group = sbx_pctx_strdup(c, colon + 1);
}

static bool hostname_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64 || s[0] == '-' || s[0] == '.' || s[len - 1] == '-' ||
        s[len - 1] == '.')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == len;
}

static void parse_env(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_kind(c, n, SBX_YNODE_MAP, "env") || n->n == 0)
        return;
    p->env = calloc(n->n / 2, sizeof(*p->env));
    if (!p->env) {
        c->oom = c->failed = true;
        return;
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (!sbx_pctx_map_keys(c, n, i))
            continue;
        const struct sbx_ynode *k = n->items[i], *v = n->items[i + 1];
        if (!k->scalar[0] || strchr(k->scalar, '=')) {
            sbx_pctx_report(c, k->line, k->col,
                            "invalid environment variable name '%s' (empty or with '=')",
                            k->scalar);
            continue;
        }
        const char *val = sbx_pctx_scalar(c, v, "a string", k->scalar);
        if (!val)
            continue;
        if (asprintf(&p->env[p->n_env], "%s=%s", k->scalar, val) < 0) {
            p->env[p->n_env] = NULL;
            c->oom = c->failed = true;
            return;
        }
        p->n_env++;
    }
}

static void parse_caps(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    if (!sbx_pctx_kind(c, n, SBX_YNODE_SEQ, "capabilities"))
        return;
    for (size_t i = 0; i < n->n; i++) {
        const struct sbx_ynode *item = n->items[i];
        const char *s = sbx_pctx_scalar(c, item, "a capability name", "capabilities");
        if (!s)
            continue;
        /* libcap spells "cap_chown"; CAP_CHOWN and chown work too. */
        char name[64];
        const char *body = strncasecmp(s, "cap_", 4) == 0 ? s + 4 : s;
        size_t len = strlen(body);
        cap_value_t cap = -1;
        bool ok = len > 0 && len < sizeof(name) - 4 && strspn(body, "0123456789") != len;
        if (ok) {
            memcpy(name, "cap_", 4);
            for (size_t j = 0; j <= len; j++)
                name[4 + j] = (char)(body[j] >= 'A' && body[j] <= 'Z' ? body[j] + 32 : body[j]);
            /* One name: cap_from_name reads a list's first name and ignores the rest. */
            ok = strspn(name + 4, "abcdefghijklmnopqrstuvwxyz0123456789_") == len &&
                 cap_from_name(name, &cap) == 0 && cap >= 0 && cap <= CAP_LAST_CAP;
        }
        if (ok) {
            c->p->caps_keep |= 1ull << cap;
            continue;
        }
        /* Suggestions come from libcap's own names, in the CAP_ spelling. */
        char upper[CAP_LAST_CAP + 1][40];
        const char *cands[CAP_LAST_CAP + 1];
        size_t n_cands = 0;
        for (int v = 0; v <= CAP_LAST_CAP; v++) {
            char *cn = cap_to_name(v);
            if (!cn)
                continue;
            size_t j = 0;
            for (; cn[j] && j < sizeof(upper[0]) - 1; j++)
                upper[n_cands][j] = (char)(cn[j] >= 'a' && cn[j] <= 'z' ? cn[j] - 32 : cn[j]);
            upper[n_cands][j] = '\0';
            cap_free(cn);
            cands[n_cands] = upper[n_cands];
            n_cands++;
        }
        char probe[80];
        snprintf(probe, sizeof(probe), "CAP_%s", body);
        const char *hint = sbx_suggest(probe, cands, n_cands);
        if (hint)
            sbx_pctx_report(c, item->line, item->col,
                            "unknown capability '%s' (did you mean '%s'?)", s, hint);
        else
            sbx_pctx_report(c, item->line, item->col, "unknown capability '%s'", s);
    }
}

/* Resources counted in bytes take size suffixes; the others are plain counts. */
static bool rlimit_in_bytes(int res)
{
    return res == RLIMIT_AS || res == RLIMIT_CORE || res == RLIMIT_DATA || res == RLIMIT_FSIZE ||
           res == RLIMIT_MEMLOCK || res == RLIMIT_MSGQUEUE || res == RLIMIT_RSS ||
           res == RLIMIT_STACK;
}

static int parse_rlim_value(const char *s, int res, uint64_t *ret)
{
    if (strcmp(s, "unlimited") == 0 || strcmp(s, "infinity") == 0) {
        *ret = RLIM_INFINITY;
        return 0;
    }
    int r = rlimit_in_bytes(res) ? sbx_parse_size(s, ret) : parse_count(s, ret);
    if (r == 0 && *ret == RLIM_INFINITY)
        return -ERANGE;
    return r;
}

static void parse_rlimits(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_kind(c, n, SBX_YNODE_MAP, "rlimits") || n->n == 0)
        return;
    p->rlimits = calloc(n->n / 2, sizeof(*p->rlimits));
    if (!p->rlimits) {
        c->oom = c->failed = true;
        return;
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (!sbx_pctx_map_keys(c, n, i))
            continue;
        const struct sbx_ynode *k = n->items[i], *v = n->items[i + 1];
        int res = sbx_rlimit_from_name(k->scalar);
        if (res < 0) {
            const char *names[32];
            size_t nn = sbx_rlimit_names(names, ARRAY_SIZE(names));
            const char *hint = sbx_suggest(k->scalar, names, nn);
            if (hint)
                sbx_pctx_report(c, k->line, k->col, "unknown rlimit '%s' (did you mean '%s'?)",
                                k->scalar, hint);
            else
                sbx_pctx_report(c, k->line, k->col, "unknown rlimit '%s'", k->scalar);
            continue;
        }
        const char *s = sbx_pctx_scalar(c, v, "a number", k->scalar);
        if (!s)
            continue;
        /* "N", "unlimited" or "SOFT:HARD". */
        char soft[64];
        const char *colon = strchr(s, ':');
        const char *hard = colon ? colon + 1 : s;
        size_t soft_len = colon ? (size_t)(colon - s) : strlen(s);
        uint64_t cur = 0, max = 0;
        int r = soft_len < sizeof(soft) ? 0 : -EINVAL;
        if (r == 0) {
            memcpy(soft, s, soft_len);
            soft[soft_len] = '\0';
            r = parse_rlim_value(soft, res, &cur);
        }
        if (r == 0)
            r = parse_rlim_value(hard, res, &max);
        if (r == -ERANGE) {
            sbx_pctx_report(c, v->line, v->col, "rlimit '%s' is out of range", k->scalar);
            continue;
        }
        if (r < 0) {
            sbx_pctx_report(c, v->line, v->col,
                            "invalid rlimit '%s' for '%s' (a number, \"soft:hard\" or unlimited)",
                            s, k->scalar);
            continue;
        }
        if (cur > max) {
            sbx_pctx_report(c, v->line, v->col, "rlimit '%s': the soft limit exceeds the hard one",
                            k->scalar);
            continue;
        }
        p->rlimits[p->n_rlimits++] = (struct sbx_rlimit){ .resource = res, .cur = cur, .max = max };
    }
}

static void parse_process(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    static const char *const keys[] = {
        "user",     "group",    "groups",       "cwd",     "env",
        "env_mode", "hostname", "capabilities", "rlimits", "umask"
    };
    static const char *const env_modes[] = { "extend", "replace" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_fields(c, n, "'process'", keys, ARRAY_SIZE(keys), v))
        return;
    if (v[0])
        parse_user(c, v[0], v[1] != NULL);
    if (v[1])
        p->group = get_id(c, v[1], "group");
    if (v[2] && sbx_pctx_kind(c, v[2], SBX_YNODE_SEQ, "groups") && v[2]->n) {
        p->groups = calloc(v[2]->n, sizeof(*p->groups));
        if (!p->groups) {
            c->oom = c->failed = true;
            return;
        }
        p->n_groups = v[2]->n;
        for (size_t i = 0; i < v[2]->n; i++)
            p->groups[i] = get_id(c, v[2]->items[i], "group");
    }
    if (v[3]) {
        char *cwd = get_path(c, v[3], "cwd");
        if (cwd) {
            free(p->cwd);
            p->cwd = cwd;
        }
    }
    if (v[4])
        parse_env(c, v[4]);
    if (v[5])
        p->env_replace = sbx_pctx_enum(c, v[5], "env_mode", env_modes, 2) == 1;
    if (v[6]) {
        const char *s = sbx_pctx_scalar(c, v[6], "a string", "hostname");
        if (s && !hostname_ok(s)) {
            sbx_pctx_report(c, v[6]->line, v[6]->col,
                            "invalid hostname '%s' (letters, digits, '-' and '.', at most 64)", s);
        } else if (s) {
            free(p->hostname);
            p->hostname = sbx_pctx_strdup(c, s);
        }
    }
    if (v[7])
        parse_caps(c, v[7]);
    if (v[8])
        parse_rlimits(c, v[8]);
    if (v[9])
        p->umask = get_octal(c, v[9], "umask", 0777);
}

static void parse_top(struct sbx_pctx *c, const struct sbx_ynode *root)
{
    static const char *const keys[] = { "name",   "syscalls", "filesystem", "process",
                                        "limits", "network",  "userns" };
    static const char *const networks[] = { "none", "host" };
    static const char *const userns[] = { "private", "host" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    struct sbx_policy *p = c->p;
    if (!root) {
        sbx_pctx_report(c, 1, 1, "the policy is empty (expected a mapping)");
        return;
    }
    if (root->kind != SBX_YNODE_MAP) {
        sbx_pctx_report(c, root->line, root->col, "expected a mapping at the top of the policy");
        return;
    }
    if (!sbx_pctx_fields(c, root, NULL, keys, ARRAY_SIZE(keys), v))
        return;
    if (v[0]) {
        const char *s = sbx_pctx_scalar(c, v[0], "a string", "name");
        size_t len = s ? strlen(s) : 0;
        if (s &&
            (len == 0 || len > 64 ||
             strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len))
            sbx_pctx_report(c, v[0]->line, v[0]->col,
                            "invalid name '%s' (letters, digits, '.', '_' and '-', at most 64)", s);
        else if (s)
            p->name = sbx_pctx_strdup(c, s);
    }
    if (v[1])
        sbx_parse_syscalls(c, v[1]);
    if (v[2])
        parse_filesystem(c, v[2]);
    if (v[3])
        parse_process(c, v[3]);
    if (v[4])
        parse_limits(c, v[4]);
    if (v[5]) {
        int net = sbx_pctx_enum(c, v[5], "network", networks, ARRAY_SIZE(networks));
        p->network = net == 1 ? SBX_NET_HOST : SBX_NET_NONE;
    }
    if (v[6]) {
        int u = sbx_pctx_enum(c, v[6], "userns", userns, ARRAY_SIZE(userns));
        p->userns = u == 1 ? SBX_USERNS_HOST : SBX_USERNS_PRIVATE;
    }
}

/* Stable insertion sort by position: diagnostics read top to bottom, like the file. */
static void sort_diags(struct sbx_diags *d, size_t from)
{
    for (size_t i = from + 1; i < d->n; i++) {
        struct sbx_diag x = d->items[i];
        size_t j = i;
        while (j > from && (d->items[j - 1].line > x.line ||
                            (d->items[j - 1].line == x.line && d->items[j - 1].col > x.col))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = x;
    }
}

/* Without a 'name' key, the file's base name without its extension names the policy. */
static char *name_from_file(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t len = strcspn(base, ".");
    return len ? strndup(base, len) : strdup("policy");
}

int sbx_policy_parse(const char *text, size_t len, const char *file, struct sbx_policy **ret,
                     struct sbx_diags *diags)
{
    if (!file)
        file = "<policy>";
    if (len > SBX_POLICY_MAX_BYTES) {
        int r = sbx_diag_add(diags, file, 1, 1, "the policy is larger than %u bytes",
                             SBX_POLICY_MAX_BYTES);
        return r < 0 ? r : -EINVAL;
    }
    struct sbx_ynode *root = NULL;
    int r = sbx_yaml_load(text, len, file, &root, diags);
    if (r < 0)
        return r;
    r = sbx_policy_parse_tree(root, file, ret, diags);
    sbx_ynode_free(root);
    return r;
}

int sbx_policy_parse_tree(const struct sbx_ynode *root, const char *file, struct sbx_policy **ret,
                          struct sbx_diags *diags)
{
    struct sbx_pctx c = { .file = file, .diags = diags, .p = sbx_policy_alloc_defaults() };
    if (!c.p)
        return -ENOMEM;
    size_t first_diag = diags ? diags->n : 0;
    c.p->file = sbx_pctx_strdup(&c, file);
    parse_top(&c, root);
    if (diags)
        sort_diags(diags, first_diag);
    if (!c.failed && !c.p->name && !(c.p->name = name_from_file(file)))
        c.oom = c.failed = true;
    if (c.failed) {
        sbx_policy_free(c.p);
        return c.oom ? -ENOMEM : -EINVAL;
    }
    *ret = c.p;
    return 0;
}
