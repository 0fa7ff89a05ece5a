/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * user/group/groups of a policy -> numeric ids, against the text of the
 * image's /etc/passwd and /etc/group, and the check that a policy gives them
 * all as numbers.  Pure: the caller reads the files.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy-internal.h"

/* A number as written in a policy or a passwd field: decimal, below (uint32_t)-1. */
static bool parse_id(const char *s, size_t len, uint32_t *ret)
{
    char buf[16];
    uint64_t v;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (sbx_parse_dec(buf, &v) < 0 || v >= UINT32_MAX)
        return false;
    *ret = (uint32_t)v;
    return true;
}

/*
 * Finds the line of a colon-separated database whose field key_field
 * equals key, and returns field want_field as a number.  Lines that do not
 * parse are skipped, as the C library does.
 */
static bool db_lookup(const char *db, size_t key_field, const char *key, size_t want_field,
                      uint32_t *ret)
{
    for (const char *line = db; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *fields[8];
        size_t lens[8], n = 0;
        for (const char *f = line; n < ARRAY_SIZE(fields);) {
            const char *colon = memchr(f, ':', len - (size_t)(f - line));
            fields[n] = f;
            lens[n++] = colon ? (size_t)(colon - f) : len - (size_t)(f - line);
            if (!colon)
                break;
            f = colon + 1;
        }
        if (n > key_field && n > want_field && lens[key_field] == strlen(key) &&
            memcmp(fields[key_field], key, lens[key_field]) == 0 &&
            parse_id(fields[want_field], lens[want_field], ret))
            return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

static bool is_number(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static int resolve_group(const char *name, const char *group, uint32_t *ret, struct sbx_error *e)
{
    if (is_number(name))
        return parse_id(name, strlen(name), ret) ? 0 : -EINVAL;
    if (group && db_lookup(group, 0, name, 2, ret))
        return 0;
    return sbx_error_set(e, ENOENT, "group '%s' not found in the image's /etc/group%s", name,
                         group ? "" : " (the image has none)");
}

int sbx_policy_resolve_identity(const struct sbx_policy *p, const char *passwd, const char *group,
                                uint32_t *ret_uid, uint32_t *ret_gid, uint32_t **ret_groups,
                                size_t *ret_n_groups, struct sbx_error *e)
{
    uint32_t uid = UINT32_MAX, gid = UINT32_MAX;
    int r;

    if (p->user && is_number(p->user)) {
        if (!parse_id(p->user, strlen(p->user), &uid))
            return -EINVAL;
        /* A uid the image does not know gets the group of the same number (65534:65534). */
        if (!passwd || !db_lookup(passwd, 2, p->user, 3, &gid))
            gid = uid;
    } else if (p->user) {
        if (!passwd || !db_lookup(passwd, 0, p->user, 2, &uid) ||
            !db_lookup(passwd, 0, p->user, 3, &gid))
            return sbx_error_set(e, ENOENT, "user '%s' not found in the image's /etc/passwd%s",
                                 p->user, passwd ? "" : " (the image has none)");
    }
    if (p->group) {
        r = resolve_group(p->group, group, &gid, e);
        if (r < 0)
            return r;
    }

    _cleanup_free_ uint32_t *groups = NULL;
    if (p->n_groups) {
        groups = calloc(p->n_groups, sizeof(*groups));
        if (!groups)
            return -ENOMEM;
    }
    for (size_t i = 0; i < p->n_groups; i++) {
        r = resolve_group(p->groups[i], group, &groups[i], e);
        if (r < 0)
            return r;
    }
    *ret_uid = uid;
    *ret_gid = gid;
    *ret_groups = TAKE_PTR(groups);
    *ret_n_groups = p->n_groups;
    return 0;
}

/* kind is "user" or "group"; -EPERM, with e saying why. */
static int name_refused(const char *kind, const char *name, struct sbx_error *e)
{
    return sbx_error_set(e, EPERM,
                         "%s '%s' is a name; for a caller other than root an operator's policy "
                         "must give numeric ids, since the caller's image would say what a name "
                         "means",
                         kind, name);
}

int sbx_policy_identity_numeric(const struct sbx_policy *p, struct sbx_error *e)
{
    if (p->user && !is_number(p->user))
        return name_refused("user", p->user, e);
    if (p->group && !is_number(p->group))
        return name_refused("group", p->group, e);
    for (size_t i = 0; i < p->n_groups; i++)
        if (!is_number(p->groups[i]))
            return name_refused("group", p->groups[i], e);
    if (p->user && !p->group)
        return sbx_error_set(e, EPERM,
                             "user: %s gives no gid; for a caller other than root an operator's "
                             "policy must give it as uid:gid (user: \"%s:GID\") or with group:, "
                             "since the caller's image would choose it",
                             p->user, p->user);
    return 0;
}
