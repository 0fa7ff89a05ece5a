/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A detached sandbox's record, STATE/sandboxes/ID/record.json: the JSON
 * document `sandboxctl inspect --json` shows (docs/cli.md), written to a
 * temporary file and renamed over the old one, so that a daemon killed at
 * any moment leaves the old record or the new one, never a mix.  Read back
 * at start as untrusted input: every field is checked for its type and
 * range, and a record that fails is reported and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "sbx/macro.h"

#define RECORD_VERSION 1
#define RECORD_MAX_BYTES (4 * 1024 * 1024) /* a RUN frame is at most 1 MiB */
#define RECORD_MAX_DEPTH 8

static const char *const kind_names[] = {
    [SBX_EXIT_EXITED] = "exited", [SBX_EXIT_SIGNALED] = "signaled",
    [SBX_EXIT_SETUP] = "setup",   [SBX_EXIT_NOTFOUND] = "notfound",
    [SBX_EXIT_NOEXEC] = "noexec", [SBX_EXIT_TIMEOUT] = "timeout",
    [SBX_EXIT_OOM] = "oom",
};
static const char *const mode_names[] = { "off", "trap", "rewrite" };

const char *sbx_exit_kind_name(uint32_t kind)
{
    return kind < ARRAY_SIZE(kind_names) && kind_names[kind] ? kind_names[kind] : "unknown";
}

void sbx_format_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* The status sandboxctl exits with for such an end, as `wait` does. */
static int exit_status(uint32_t kind, uint32_t code)
{
    switch (kind) {
    case SBX_EXIT_EXITED:
        return (int)(code & 0xff);
    case SBX_EXIT_SIGNALED:
        return 128 + (int)(code & 0x7f);
    case SBX_EXIT_NOTFOUND:
        return 127;
    case SBX_EXIT_NOEXEC:
        return 126;
    case SBX_EXIT_TIMEOUT:
        return 124;
    case SBX_EXIT_OOM:
        return 128 + 9;
    default:
        return 125;
    }
}

static json_object *str_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

json_object *sbx_life_to_json(const struct sbx_life *l)
{
    json_object *o = json_object_new_object();
    char t[64];
    json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
    json_object_object_add(o, "id", json_object_new_string(l->id));
    json_object_object_add(o, "name", str_or_null(l->name));
    json_object_object_add(o, "owner_uid", json_object_new_int64(l->uid));
    json_object_object_add(o, "owner_gid", json_object_new_int64(l->gid));
    json_object_object_add(o, "image", str_or_null(l->image));
    json_object *cmd = json_object_new_array();
    for (uint32_t i = 0; i < l->argc; i++)
        json_object_array_add(cmd, json_object_new_string(l->argv[i]));
    json_object_object_add(o, "command", cmd);
    json_object_object_add(
        o, "syscall_mode",
        json_object_new_string(l->mode < ARRAY_SIZE(mode_names) ? mode_names[l->mode] : "unknown"));
    json_object_object_add(o, "policy", str_or_null(l->policy));
    json_object_object_add(o, "detached", json_object_new_boolean(l->detached));
    json_object_object_add(o, "state", json_object_new_string(l->running ? "running" : "exited"));
    sbx_format_time(l->started_ms, t, sizeof(t));
    json_object_object_add(o, "started", json_object_new_string(t));
    json_object_object_add(o, "started_ms", json_object_new_int64(l->started_ms));
    if (!l->running) {
        sbx_format_time(l->ended_ms, t, sizeof(t));
        json_object_object_add(o, "ended", json_object_new_string(t));
        json_object_object_add(o, "ended_ms", json_object_new_int64(l->ended_ms));
        json_object *e = json_object_new_object();
        json_object_object_add(e, "kind", json_object_new_string(sbx_exit_kind_name(l->exit_kind)));
        json_object_object_add(e, "code", json_object_new_int64(l->exit_code));
        json_object_object_add(e, "status",
                               json_object_new_int(exit_status(l->exit_kind, l->exit_code)));
        json_object_object_add(e, "message", str_or_null(l->exit_message));
        json_object_object_add(o, "exit", e);
    } else {
        json_object_object_add(o, "exit", NULL);
    }
    json_object *lim = json_object_new_object();
    json_object_object_add(lim, "memory_bytes", json_object_new_int64((int64_t)l->limits.memory));
    json_object_object_add(lim, "pids", json_object_new_int64((int64_t)l->limits.pids));
    json_object_object_add(lim, "cpu_millis", json_object_new_int64((int64_t)l->limits.cpu_millis));
    json_object_object_add(lim, "timeout_ms", json_object_new_int64((int64_t)l->timeout_ms));
    json_object_object_add(o, "limits", lim);
    json_object_object_add(o, "mounts",
                           l->mounts ? json_object_get(l->mounts) : json_object_new_array());
    json_object_object_add(o, "syscalls", l->syscalls ? json_object_get(l->syscalls) : NULL);
    return o;
}

int sbx_record_save(struct sbx_life *l)
{
    if (l->dir_fd < 0)
        return 0;
    json_object *o = sbx_life_to_json(l);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text);
    int r = 0;
    _cleanup_close_ int fd = openat(l->dir_fd, "record.json.tmp",
                                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        renameat(l->dir_fd, "record.json.tmp", l->dir_fd, "record.json") < 0)
        r = errno ? -errno : -EIO;
    json_object_put(o);
    return r;
}

/* ---- Loading ------------------------------------------------------------ */

struct checker {
    struct sbx_error *e;
    bool bad;
};

static json_object *field(struct checker *k, json_object *o, const char *key, json_type type,
                          bool nullable)
{
    json_object *v = NULL;
    if (k->bad)
        return NULL;
    if (!json_object_object_get_ex(o, key, &v) || (!v && !nullable) ||
        (v && json_object_get_type(v) != type)) {
        sbx_error_set(k->e, EBADMSG, "field '%s' is missing or not a %s", key,
                      json_type_to_name(type));
        k->bad = true;
        return NULL;
    }
    return v;
}

static int64_t int_field(struct checker *k, json_object *o, const char *key, int64_t lo, int64_t hi)
{
    json_object *v = field(k, o, key, json_type_int, false);
    if (!v)
        return 0;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < lo || x > hi) {
        sbx_error_set(k->e, EBADMSG, "field '%s' is out of range", key);
        k->bad = true;
    }
    return x;
}

static char *str_field(struct checker *k, json_object *o, const char *key, bool nullable)
{
    json_object *v = field(k, o, key, json_type_string, nullable);
    if (!v)
        return NULL;
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s)) {
        sbx_error_set(k->e, EBADMSG, "field '%s' holds a NUL byte", key);
        k->bad = true;
        return NULL;
    }
    return strdup(s);
}

static bool valid_id(const char *s)
{
    if (strlen(s) != SBX_LIFE_ID_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static uint32_t name_index(struct checker *k, const char *s, const char *const *names, size_t n,
                           const char *key)
{
    for (uint32_t i = 0; s && i < n; i++)
        if (names[i] && strcmp(s, names[i]) == 0)
            return i;
    if (!k->bad) {
        sbx_error_set(k->e, EBADMSG, "field '%s' has an unknown value", key);
        k->bad = true;
    }
    return 0;
}

static void from_json(struct checker *k, json_object *o, struct sbx_life *l)
{
    if (int_field(k, o, "version", RECORD_VERSION, RECORD_VERSION) != RECORD_VERSION)
        return;
    _cleanup_free_ char *id = str_field(k, o, "id", false);
    if (id && !valid_id(id) && !k->bad) {
        sbx_error_set(k->e, EBADMSG, "field 'id' is not an id");
        k->bad = true;
    }
    if (id)
        memcpy(l->id, id, strlen(id) < SBX_LIFE_ID_LEN ? strlen(id) : SBX_LIFE_ID_LEN);
    l->name = str_field(k, o, "name", true);
    l->uid = (uint32_t)int_field(k, o, "owner_uid", 0, UINT32_MAX - 1);
    l->gid = (uint32_t)int_field(k, o, "owner_gid", 0, UINT32_MAX - 1);
    l->image = str_field(k, o, "image", true);
    l->policy = str_field(k, o, "policy", true);
    json_object *cmd = field(k, o, "command", json_type_array, false);
    size_t n = cmd ? json_object_array_length(cmd) : 0;
    if (cmd && (n == 0 || n > SBX_PROTO_MAX_ARGS)) {
        sbx_error_set(k->e, EBADMSG, "field 'command' has %zu entries", n);
        k->bad = true;
    }
    if (!k->bad && !(l->argv = calloc(n + 1, sizeof(char *))))
        k->bad = true;
    for (size_t i = 0; !k->bad && i < n; i++) {
        json_object *a = json_object_array_get_idx(cmd, i);
        if (!json_object_is_type(a, json_type_string) ||
            (size_t)json_object_get_string_len(a) != strlen(json_object_get_string(a))) {
            sbx_error_set(k->e, EBADMSG, "field 'command' holds a bad entry");
            k->bad = true;
        } else if ((l->argv[l->argc] = strdup(json_object_get_string(a)))) {
            l->argc++;
        }
    }
    _cleanup_free_ char *mode = str_field(k, o, "syscall_mode", false);
    l->mode = name_index(k, mode, mode_names, ARRAY_SIZE(mode_names), "syscall_mode");
    _cleanup_free_ char *state = str_field(k, o, "state", false);
    static const char *const states[] = { "exited", "running" };
    l->running = name_index(k, state, states, ARRAY_SIZE(states), "state") == 1;
    l->started_ms = int_field(k, o, "started_ms", 0, INT64_MAX / 2);
    json_object *lim = field(k, o, "limits", json_type_object, false);
    if (lim) {
        l->limits.memory = (uint64_t)int_field(k, lim, "memory_bytes", 0, INT64_MAX);
        l->limits.pids = (uint64_t)int_field(k, lim, "pids", 0, INT64_MAX);
        l->limits.cpu_millis = (uint64_t)int_field(k, lim, "cpu_millis", 0, INT64_MAX);
        l->timeout_ms = (uint64_t)int_field(k, lim, "timeout_ms", 0, INT64_MAX);
    }
    json_object *mounts = field(k, o, "mounts", json_type_array, false);
    if (mounts)
        l->mounts = json_object_get(mounts);
    /* A record of a daemon before the field has none: inspect shows null. */
    json_object *syscalls = json_object_object_get_ex(o, "syscalls", NULL)
                                ? field(k, o, "syscalls", json_type_object, true)
                                : NULL;
    if (syscalls)
        l->syscalls = json_object_get(syscalls);
    l->reported = !l->running;
    if (l->running || k->bad)
        return;
    l->ended_ms = int_field(k, o, "ended_ms", 0, INT64_MAX / 2);
    json_object *e = field(k, o, "exit", json_type_object, false);
    if (!e)
        return;
    _cleanup_free_ char *kind = str_field(k, e, "kind", false);
    l->exit_kind = name_index(k, kind, kind_names, ARRAY_SIZE(kind_names), "exit.kind");
    l->exit_code = (uint32_t)int_field(k, e, "code", 0, UINT32_MAX);
    l->exit_message = str_field(k, e, "message", true);
}

int sbx_record_load(struct sbx_daemon *d, int dir_fd, const char *name, struct sbx_life **ret,
                    struct sbx_error *e)
{
    _cleanup_close_ int dfd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        return sbx_error_set_errno(e, errno, "cannot open it");
    }
    _cleanup_close_ int fd =
        openat(dfd, "record.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        return sbx_error_set_errno(e, errno, "cannot open record.json");
    }
    if (!S_ISREG(st.st_mode) || st.st_size > RECORD_MAX_BYTES) {
        return sbx_error_set(e, EINVAL, "record.json is not a regular file of at most %d bytes",
                             RECORD_MAX_BYTES);
    }
    _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return -ENOMEM;
    ssize_t n = pread(fd, text, (size_t)st.st_size, 0);
    if (n < 0) {
        return sbx_error_set_errno(e, errno, "cannot read record.json");
    }
    json_tokener *tok = json_tokener_new_ex(RECORD_MAX_DEPTH);
    if (!tok)
        return -ENOMEM;
    json_object *o = json_tokener_parse_ex(tok, text, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success) {
        sbx_error_set(e, EBADMSG, "record.json is not JSON (%s)",
                      jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
        json_object_put(o);
        return -EBADMSG;
    }
    for (; used < (size_t)n; used++) {
        if (!strchr(" \t\r\n", text[used])) {
            sbx_error_set(e, EBADMSG, "record.json has bytes after its document");
            json_object_put(o);
            return -EBADMSG;
        }
    }
    struct sbx_life *l = calloc(1, sizeof(*l));
    if (!l) {
        json_object_put(o);
        return -ENOMEM;
    }
    *l = (struct sbx_life){ .d = d, .dir_fd = -EBADF, .detached = true };
    l->log = (struct sbx_log){ .file_fd = -EBADF, .write_out = -EBADF, .write_err = -EBADF };
    l->log.out.fd = l->log.err.fd = -EBADF;
    struct checker k = { .e = e };
    if (!json_object_is_type(o, json_type_object)) {
        sbx_error_set(e, EBADMSG, "record.json is not a JSON object");
        k.bad = true;
    } else {
        from_json(&k, o, l);
    }
    json_object_put(o);
    if (!k.bad && strcmp(l->id, name) != 0) {
        sbx_error_set(e, EBADMSG, "its id '%s' is not its directory's name", l->id);
        k.bad = true;
    }
    if (k.bad) {
        sbx_life_free(l);
        return -EBADMSG;
    }
    l->dir_fd = TAKE_FD(dfd);
    *ret = l;
    return 0;
}
