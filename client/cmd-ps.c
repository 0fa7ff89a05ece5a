/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl ps [-a] [--json] and inspect [--json] NAME: the documents of
 * docs/cli.md, as a table or as key: value lines, or as they come.
 */
#include "client/cmd-ps.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl.h"
#include "sbx-config.h"
#include "sbx/macro.h"

static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !v)
        return NULL;
    return json_object_get_string(v);
}

/* The command as one line, cut to width with "...". */
static void command_of(json_object *o, char *buf, size_t len)
{
    json_object *cmd;
    size_t n = 0;
    buf[0] = '\0';
    if (!json_object_object_get_ex(o, "command", &cmd) ||
        !json_object_is_type(cmd, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(cmd) && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "",
                              json_object_get_string(json_object_array_get_idx(cmd, i)));
    if (n >= len && len > 4)
        strcpy(buf + len - 4, "...");
}

static void status_of(json_object *o, char *buf, size_t len)
{
    json_object *e, *v;
    if (!json_object_object_get_ex(o, "exit", &e) || !e) {
        snprintf(buf, len, "-");
        return;
    }
    const char *kind = str_of(e, "kind");
    int status = json_object_object_get_ex(e, "status", &v) ? json_object_get_int(v) : -1;
    int code = json_object_object_get_ex(e, "code", &v) ? json_object_get_int(v) : -1;
    if (kind && strcmp(kind, "exited") == 0)
        snprintf(buf, len, "%d", status);
    else if (kind && strcmp(kind, "signaled") == 0)
        snprintf(buf, len, "%d (signal %d)", status, code);
    else
        snprintf(buf, len, "%d (%s)", status, kind ? kind : "?");
}

static void print_table(json_object *a)
{
    printf("%-12s  %-16s  %-16s  %-24s  %6s  %-7s  %-24s  %-14s  %s\n", "ID", "NAME", "IMAGE",
           "COMMAND", "OWNER", "STATE", "STARTED", "STATUS", "MODE");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *o = json_object_array_get_idx(a, i), *v;
        char cmd[25], status[32];
        const char *image = str_of(o, "image");
        const char *slash = image ? strrchr(image, '/') : NULL;
        command_of(o, cmd, sizeof(cmd));
        status_of(o, status, sizeof(status));
        long long uid =
            json_object_object_get_ex(o, "owner_uid", &v) ? json_object_get_int64(v) : -1;
        const char *name = str_of(o, "name");
        printf("%-12s  %-16s  %-16.16s  %-24s  %6lld  %-7s  %-24s  %-14s  %s\n", str_of(o, "id"),
               name ? name : "-",
               slash   ? slash + 1
               : image ? image
                       : "?",
               cmd, uid, str_of(o, "state"), str_of(o, "started"), status,
               str_of(o, "syscall_mode"));
    }
}

static void usage_ps(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl ps [OPTIONS]\n"
            "Lists your running sandboxes (root: everyone's).\n\n"
            "  -a, --all        exited detached sandboxes too\n"
            "  --json           the list as a JSON array (docs/cli.md)\n"
            "  --socket PATH    sandboxd's socket (default %s)\n",
            SBX_DEFAULT_SOCKET);
}

enum { OPT_SOCKET = 256, OPT_JSON };

int sbx_cmd_ps(int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },
        { "json", no_argument, NULL, OPT_JSON },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    bool all = false, json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_SOCKET:
            socket = optarg;
            break;
        case 'h':
            usage_ps(stdout);
            return 0;
        default:
            usage_ps(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sandboxctl ps: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, "ps", SBX_MSG_PS, NULL, all ? SBX_CTL_ALL : 0, 0) < 0)
        return SBX_CTL_EXIT_ERROR;
    /* One document per sandbox, then the count. */
    json_object *a = json_object_new_array();
    bool more = true;
    int r = 0;
    while (r == 0 && more) {
        json_object *o = NULL;
        if ((r = sbx_ctl_reply(conn.fd, "ps", &o, &more)) < 0)
            break;
        if (more && !json_object_is_type(o, json_type_object)) {
            fprintf(stderr, "sandboxctl ps: sandboxd's answer is not a sandbox\n");
            r = -EBADMSG;
        }
        if (more && r == 0)
            json_object_array_add(a, o);
        else
            json_object_put(o);
    }
    sbx_conn_close(&conn);
    if (r < 0) {
        json_object_put(a);
        return SBX_CTL_EXIT_ERROR;
    }
    if (json)
        printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
    else
        print_table(a);
    json_object_put(a);
    return fflush(stdout) == 0 ? 0 : SBX_CTL_EXIT_ERROR;
}

/*
 * One rule of the syscalls section as a policy writes it, in YAML's flow
 * style: { action: errno EACCES, syscalls: [mkdir], args: [{ index: 1, op:
 * eq, value: 0x1 }] }, which a policy's rules list takes as it is.
 */
static void print_rule(json_object *r)
{
    json_object *calls = NULL, *args = NULL;
    if (!json_object_object_get_ex(r, "syscalls", &calls) ||
        !json_object_is_type(calls, json_type_array))
        calls = NULL;
    if (!json_object_object_get_ex(r, "args", &args) || !json_object_is_type(args, json_type_array))
        args = NULL;
    printf("{ action: %s, syscalls: [", str_of(r, "action") ? str_of(r, "action") : "?");
    for (size_t i = 0; calls && i < json_object_array_length(calls); i++)
        printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(calls, i)));
    printf("]");
    size_t n = args ? json_object_array_length(args) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(args, i), *v;
        printf("%s{ index: %d, op: %s", i ? ", " : ", args: [",
               json_object_get_int(json_object_object_get_ex(a, "index", &v) ? v : NULL),
               str_of(a, "op") ? str_of(a, "op") : "?");
        if (json_object_object_get_ex(a, "mask", &v))
            printf(", mask: %#" PRIx64, json_object_get_uint64(v));
        printf(", value: %#" PRIx64 " }",
               json_object_get_uint64(json_object_object_get_ex(a, "value", &v) ? v : NULL));
    }
    printf("%s }\n", n ? "]" : "");
}

/* key: value per scalar, nested keys joined by '.', list entries by their index. */
static void print_flat(json_object *o, const char *prefix)
{
    char key[256];
    if (strcmp(prefix, "syscalls.rules") == 0 && json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            printf("%s[%zu]: ", prefix, i);
            print_rule(json_object_array_get_idx(o, i));
        }
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k);
            print_flat(v, key);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
            print_flat(json_object_array_get_idx(o, i), key);
        }
    } else {
        printf("%s: %s\n", prefix, o ? json_object_get_string(o) : "-");
    }
}

static void usage_inspect(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl inspect [OPTIONS] NAME|ID\n"
            "Shows what sandboxd knows of one sandbox: command, owner, policy and its\n"
            "syscall rules, mounts, limits, cgroup usage while it runs, how it ended.\n\n"
            "  --json           as one JSON document (docs/cli.md)\n"
            "  --socket PATH    sandboxd's socket (default %s)\n",
            SBX_DEFAULT_SOCKET);
}

int sbx_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            json = true;
            break;
        case OPT_SOCKET:
            socket = optarg;
            break;
        case 'h':
            usage_inspect(stdout);
            return 0;
        default:
            usage_inspect(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "sandboxctl inspect: expected one NAME or ID\n");
        return 2;
    }
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, "inspect", SBX_MSG_INSPECT, argv[optind], 0, 0) < 0)
        return SBX_CTL_EXIT_ERROR;
    json_object *o = NULL;
    int r = sbx_ctl_reply(conn.fd, "inspect", &o, NULL);
    sbx_conn_close(&conn);
    if (r < 0)
        return SBX_CTL_EXIT_ERROR;
    if (json)
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    else
        print_flat(o, "");
    json_object_put(o);
    return fflush(stdout) == 0 ? 0 : SBX_CTL_EXIT_ERROR;
}
