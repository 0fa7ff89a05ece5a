/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON reading every part of the config translator shares (config-json.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/config-json.h"
#include "oci/oci.h"
#include "sbx/macro.h"

void sbx_oci_json_putp(json_object **o)
{
    if (*o)
        json_object_put(*o);
}

/* A key of obj that is not in known[] is refused, with its path. */
int sbx_oci_json_keys(json_object *obj, const char *where, const char *const *known,
                      struct sbx_error *e)
{
    if (!json_object_is_type(obj, json_type_object))
        return sbx_error_set(e, EINVAL, "%s: not an object", where);
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strcmp(*k, key) == 0;
        if (!ok)
            return sbx_error_set(e, EOPNOTSUPP, "%s%s%s: not supported by sandboxd-oci", where,
                                 *where ? "." : "", key);
    }
    return 0;
}

json_object *sbx_oci_json_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

int sbx_oci_json_str(json_object *obj, const char *key, const char *where, char **ret,
                     struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return sbx_error_set(e, EINVAL, "%s.%s: not a string", where, key);
    char *s = strdup(json_object_get_string(v));
    if (!s)
        return -ENOMEM;
    free(*ret);
    *ret = s;
    return 1;
}

int sbx_oci_json_u64(json_object *obj, const char *key, const char *where, uint64_t *ret,
                     struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return sbx_error_set(e, EINVAL, "%s.%s: not a non-negative integer", where, key);
    *ret = json_object_get_uint64(v);
    return 1;
}

int sbx_oci_json_i64(json_object *obj, const char *key, const char *where, int64_t *ret,
                     struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return sbx_error_set(e, EINVAL, "%s.%s: not an integer", where, key);
    *ret = json_object_get_int64(v);
    return 1;
}

int sbx_oci_json_bool(json_object *obj, const char *key, const char *where, bool *ret,
                      struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return sbx_error_set(e, EINVAL, "%s.%s: not a boolean", where, key);
    *ret = json_object_get_boolean(v);
    return 1;
}

/* An array of strings as a NULL-terminated vector; *ret_n its length. */
int sbx_oci_json_strv(json_object *obj, const char *key, const char *where, char ***ret,
                      uint32_t *ret_n, struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return sbx_error_set(e, EINVAL, "%s.%s: not an array", where, key);
    size_t n = json_object_array_length(v);
    if (n > SBX_PROTO_MAX_ARGS)
        return sbx_error_set(e, E2BIG, "%s.%s: more than %d entries", where, key,
                             SBX_PROTO_MAX_ARGS);
    char **sv = calloc(n + 1, sizeof(*sv));
    if (!sv)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(v, i);
        if (!json_object_is_type(s, json_type_string) ||
            !(sv[i] = strdup(json_object_get_string(s)))) {
            for (size_t k = 0; k < i; k++)
                free(sv[k]);
            free(sv);
            return sbx_error_set(e, EINVAL, "%s.%s[%zu]: not a string", where, key, i);
        }
    }
    *ret = sv;
    *ret_n = (uint32_t)n;
    return 1;
}

/* A non-empty value of a key sandboxd does not implement is refused; an empty one means nothing. */
int sbx_oci_json_refuse(json_object *obj, const char *key, const char *where, struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(obj, key);
    if (!v || json_object_is_type(v, json_type_null))
        return 0;
    if ((json_object_is_type(v, json_type_string) && !*json_object_get_string(v)) ||
        (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0) ||
        (json_object_is_type(v, json_type_object) && json_object_object_length(v) == 0))
        return 0;
    return sbx_error_set(e, EOPNOTSUPP, "%s.%s: not supported by sandboxd-oci", where, key);
}
