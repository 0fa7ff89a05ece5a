/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a built image's config (daemon/image-config.h). */
#include "daemon/image-config.h"

#include <errno.h>
#include <json-c/json.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "image/meta.h"
#include "sbx/macro.h"

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void sbx_image_config_free(struct sbx_image_config *cfg)
{
    strv_free(cfg->entrypoint);
    strv_free(cfg->cmd);
    strv_free(cfg->env);
    free(cfg->workdir);
    free(cfg->user);
    free(cfg->superblock);
    *cfg = (struct sbx_image_config){ 0 };
}

static bool string_ok(const char *s, size_t len)
{
    return len <= SBX_IMAGE_CONFIG_MAX_STRING && strlen(s) == len;
}

static int take_strv(json_object *cfg, const char *key, char ***ret, size_t *ret_n,
                     struct sbx_error *e)
{
    json_object *a;
    if (!json_object_object_get_ex(cfg, key, &a))
        return 0;
    size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
    if (!json_object_is_type(a, json_type_array) || n > SBX_IMAGE_CONFIG_MAX_STRINGS)
        return sbx_error_set(e, EBADMSG, "config %s: not an array of at most %d strings", key,
                             SBX_IMAGE_CONFIG_MAX_STRINGS);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(a, i);
        if (!json_object_is_type(s, json_type_string) ||
            !string_ok(json_object_get_string(s), (size_t)json_object_get_string_len(s))) {
            strv_free(v);
            return sbx_error_set(e, EBADMSG,
                                 "config %s: entry %zu is not a string (without NUL, at most %d "
                                 "bytes)",
                                 key, i, SBX_IMAGE_CONFIG_MAX_STRING);
        }
        if (!(v[i] = strdup(json_object_get_string(s)))) {
            strv_free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int take_string(json_object *cfg, const char *key, char **ret, struct sbx_error *e)
{
    json_object *s;
    if (!json_object_object_get_ex(cfg, key, &s))
        return 0;
    if (!json_object_is_type(s, json_type_string) ||
        !string_ok(json_object_get_string(s), (size_t)json_object_get_string_len(s)))
        return sbx_error_set(e, EBADMSG, "config %s: not a string", key);
    const char *v = json_object_get_string(s);
    if (!*v)
        return 0; /* as OCI means it: not set */
    *ret = strdup(v);
    return *ret ? 0 : -ENOMEM;
}

int sbx_image_config_read(int image_fd, struct sbx_image_config *cfg, struct sbx_error *e)
{
    *cfg = (struct sbx_image_config){ 0 };
    /*
     * Read in the daemon's loop: only a regular file off FUSE, whose reads no
     * user-space server answers.  Anything else has no config here, and the
     * image's own checks refuse it with the reason.
     */
    struct stat st;
    struct statfs sfs;
    if (fstat(image_fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(image_fd, &sfs) < 0 ||
        sfs.f_type == FUSE_SUPER_MAGIC)
        return 0;
    _cleanup_free_ char *text = NULL;
    size_t tlen;
    uint64_t fs_bytes;
    int r = sbx_image_meta_read(image_fd, &text, &tlen, &fs_bytes, e);
    if (r == -ENOENT)
        return 0;
    if (r < 0 && r != -EBADMSG)
        return sbx_error_set(e, r, "%s", strerror(-r));
    if (r < 0)
        return r;
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *doc = json_tokener_parse_ex(tok, text, (int)tlen);
    bool ok = doc && json_tokener_get_error(tok) == json_tokener_success &&
              json_tokener_get_parse_end(tok) == tlen && json_object_is_type(doc, json_type_object);
    json_tokener_free(tok);
    json_object *c = NULL;
    if (!ok || !json_object_object_get_ex(doc, "config", &c) ||
        !json_object_is_type(c, json_type_object)) {
        json_object_put(doc);
        return sbx_error_set(e, EBADMSG, "image metadata: not a JSON object with a config object");
    }
    cfg->present = true;
    if ((r = take_strv(c, "Entrypoint", &cfg->entrypoint, &cfg->n_entrypoint, e)) < 0 ||
        (r = take_strv(c, "Cmd", &cfg->cmd, &cfg->n_cmd, e)) < 0 ||
        (r = take_strv(c, "Env", &cfg->env, &cfg->n_env, e)) < 0 ||
        (r = take_string(c, "WorkingDir", &cfg->workdir, e)) < 0 ||
        (r = take_string(c, "User", &cfg->user, e)) < 0 ||
        (r = take_string(doc, "superblock", &cfg->superblock, e)) < 0) {
        json_object_put(doc);
        sbx_image_config_free(cfg);
        return r;
    }
    json_object_put(doc);
    for (size_t i = 0; i < cfg->n_env; i++) {
        if (!strchr(cfg->env[i], '=') || cfg->env[i][0] == '=') {
            sbx_image_config_free(cfg);
            return sbx_error_set(e, EBADMSG, "config Env: entry %zu is not KEY=VALUE", i);
        }
    }
    return 0;
}

int sbx_image_config_argv(const struct sbx_image_config *cfg, char **argv, size_t argc, char ***ret,
                          struct sbx_error *e)
{
    char **tail = argc ? argv : cfg->cmd;
    size_t ntail = argc ? argc : cfg->n_cmd;
    size_t n = cfg->n_entrypoint + ntail;
    if (n == 0)
        return sbx_error_set(e, EINVAL,
                             cfg->present
                                 ? "no command given, and the image's config has neither "
                                   "Entrypoint nor Cmd"
                                 : "no command given (only an image made by sandboxctl image "
                                   "build has one of its own)");
    if (n > SBX_IMAGE_CONFIG_MAX_STRINGS)
        return sbx_error_set(e, E2BIG, "%zu arguments with the image's Entrypoint, at most %d", n,
                             SBX_IMAGE_CONFIG_MAX_STRINGS);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *s = i < cfg->n_entrypoint ? cfg->entrypoint[i] : tail[i - cfg->n_entrypoint];
        if (!(v[i] = strdup(s))) {
            strv_free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    return (int)n;
}
