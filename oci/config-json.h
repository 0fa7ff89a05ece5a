/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to the config translator (config*.c): reading json-c values with
 * errors that name the key's path ("linux.resources.cpu.shares"), and the
 * parts of config.json that have a file of their own.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci/oci.h"

void sbx_oci_json_putp(json_object **o);
/* A key of obj that is not in known[] (NULL-terminated) is refused, with its path. */
int sbx_oci_json_keys(json_object *obj, const char *where, const char *const *known,
                      struct sbx_error *e);
/* obj's value of key, or NULL. */
json_object *sbx_oci_json_get(json_object *obj, const char *key);
/* 0 when key is absent, 1 when *ret was set, or -errno with e naming where.key. */
int sbx_oci_json_str(json_object *obj, const char *key, const char *where, char **ret,
                     struct sbx_error *e);
int sbx_oci_json_u64(json_object *obj, const char *key, const char *where, uint64_t *ret,
                     struct sbx_error *e);
int sbx_oci_json_i64(json_object *obj, const char *key, const char *where, int64_t *ret,
                     struct sbx_error *e);
int sbx_oci_json_bool(json_object *obj, const char *key, const char *where, bool *ret,
                      struct sbx_error *e);
/* An array of strings as a NULL-terminated vector; *ret_n its length. */
int sbx_oci_json_strv(json_object *obj, const char *key, const char *where, char ***ret,
                      uint32_t *ret_n, struct sbx_error *e);
/* A non-empty value of a key sandboxd does not implement is refused; an empty one means nothing. */
int sbx_oci_json_refuse(json_object *obj, const char *key, const char *where, struct sbx_error *e);

/* linux.seccomp into p's rules (config-seccomp.c). */
int sbx_oci_config_seccomp(json_object *linux_, struct sbx_policy *p, struct sbx_error *e);
/* mounts into c's SPEC and binds (config-mounts.c). */
int sbx_oci_config_mounts(json_object *root, struct sbx_oci_config *c, struct sbx_error *e);
