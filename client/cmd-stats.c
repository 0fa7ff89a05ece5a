/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl stats [--no-stream] [NAME...]: CPU, memory, processes and the
 * trampoline's syscall counts of running sandboxes, from inspect's usage,
 * refreshed every second as `podman stats` does; CPU % is the CPU time used
 * between two samples over the wall time between them.  sandboxctl status:
 * STATUS's document as key: value lines, or as JSON.
 */
#include "client/cmd-stats.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ctl.h"
#include "sbx-config.h"
#include "sbx/macro.h"

#define STATS_MAX 256          /* sandboxes in one table */
#define STATS_INTERVAL_MS 1000 /* between refreshes */
#define NO_STREAM_SAMPLE_MS 500
#define STATS_TOP 3 /* syscalls named per sandbox, the most counted */

struct sample {
    char id[16];
    char name[SBX_NAME_MAX + 1];
    int64_t cpu_usec, mem, peak, pids, trapped, patched;
    char top[96]; /* "openat 12, read 7": the most counted syscalls, "-" without counts */
    double at;    /* seconds, monotonic */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t num(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_int64(v) : -1;
}

/* One request; its REPLY documents appended (PS: several), or -errno. */
static int ask(const char *socket, uint16_t type, const char *target, uint32_t flags,
               json_object *into)
{
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, "stats", type, target, flags, 0) < 0)
        return -ECONNREFUSED;
    bool more = true;
    int r = 0;
    while (r == 0 && more) {
        json_object *o = NULL;
        bool *mp = type == SBX_MSG_PS ? &more : NULL;
        if ((r = sbx_ctl_reply(conn.fd, "stats", &o, mp)) < 0)
            break;
        if (!mp)
            more = false;
        if (more || !mp)
            json_object_array_add(into, o);
        else
            json_object_put(o);
    }
    sbx_conn_close(&conn);
    return r;
}

/* The STATS_TOP syscalls of usage.syscalls.by_syscall with the highest counts, for the table. */
static void top_of(json_object *sc, char *buf, size_t len)
{
    json_object *each;
    snprintf(buf, len, "-");
    if (!sc || !json_object_object_get_ex(sc, "by_syscall", &each) ||
        !json_object_is_type(each, json_type_object))
        return;
    struct {
        const char *name;
        uint64_t n;
    } top[STATS_TOP] = { 0 };
    json_object_object_foreach(each, name, c)
    {
        json_object *v;
        uint64_t n = 0;
        if (json_object_object_get_ex(c, "trapped", &v))
            n += json_object_get_uint64(v);
        if (json_object_object_get_ex(c, "patched", &v))
            n += json_object_get_uint64(v);
        for (unsigned i = 0; i < STATS_TOP; i++) {
            if (top[i].name && top[i].n >= n)
                continue;
            memmove(&top[i + 1], &top[i], (STATS_TOP - 1 - i) * sizeof(top[0]));
            top[i].name = name;
            top[i].n = n;
            break;
        }
    }
    size_t at = 0;
    for (unsigned i = 0; i < STATS_TOP && top[i].name && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s %" PRIu64, i ? ", " : "", top[i].name,
                               top[i].n);
}

static unsigned take(const char *socket, char **names, int n_names, struct sample *out)
{
    json_object *docs = json_object_new_array();
    if (n_names == 0) {
        json_object *list = json_object_new_array();
        if (ask(socket, SBX_MSG_PS, NULL, 0, list) == 0)
            for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *v;
                if (json_object_object_get_ex(json_object_array_get_idx(list, i), "id", &v))
                    ask(socket, SBX_MSG_INSPECT, json_object_get_string(v), 0, docs);
            }
        json_object_put(list);
    } else {
        for (int i = 0; i < n_names; i++)
            ask(socket, SBX_MSG_INSPECT, names[i], 0, docs);
    }
    unsigned n = 0;
    for (size_t i = 0; i < json_object_array_length(docs) && n < STATS_MAX; i++) {
        json_object *d = json_object_array_get_idx(docs, i), *v, *u = NULL, *sc = NULL;
        if (!json_object_object_get_ex(d, "usage", &u) || !u)
            continue;
        json_object_object_get_ex(u, "syscalls", &sc);
        struct sample *s = &out[n++];
        *s = (struct sample){ .at = now_s() };
        if (json_object_object_get_ex(d, "id", &v))
            snprintf(s->id, sizeof(s->id), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(d, "name", &v) && v)
            snprintf(s->name, sizeof(s->name), "%s", json_object_get_string(v));
        else
            snprintf(s->name, sizeof(s->name), "-");
        s->cpu_usec = num(u, "cpu_usec");
        s->mem = num(u, "memory_current_bytes");
        s->peak = num(u, "memory_peak_bytes");
        s->pids = num(u, "pids_current");
        s->trapped = num(sc, "trapped");
        s->patched = num(sc, "patched");
        top_of(sc, s->top, sizeof(s->top));
    }
    json_object_put(docs);
    return n;
}

static void human(int64_t bytes, char *buf, size_t len)
{
    if (bytes < 0)
        snprintf(buf, len, "-");
    else if (bytes >= (1 << 30))
        snprintf(buf, len, "%.2fGiB", (double)bytes / (1 << 30));
    else if (bytes >= (1 << 20))
        snprintf(buf, len, "%.2fMiB", (double)bytes / (1 << 20));
    else
        snprintf(buf, len, "%.1fKiB", (double)bytes / 1024);
}

static void print_table(const struct sample *cur, unsigned n, const struct sample *prev,
                        unsigned n_prev)
{
    printf("%-12s  %-16s  %7s  %10s  %10s  %10s  %6s  %12s  %12s  %s\n", "ID", "NAME", "CPU %",
           "CPU TIME", "MEM", "MEM PEAK", "PIDS", "TRAPPED", "PATCHED", "TOP SYSCALLS");
    for (unsigned i = 0; i < n; i++) {
        const struct sample *s = &cur[i];
        char cpu[16] = "-", mem[32], peak[32], t[32];
        for (unsigned j = 0; j < n_prev; j++)
            if (strcmp(prev[j].id, s->id) == 0 && s->at > prev[j].at && s->cpu_usec >= 0 &&
                prev[j].cpu_usec >= 0)
                snprintf(cpu, sizeof(cpu), "%.1f",
                         (double)(s->cpu_usec - prev[j].cpu_usec) / 1e4 / (s->at - prev[j].at));
        human(s->mem, mem, sizeof(mem));
        human(s->peak, peak, sizeof(peak));
        snprintf(t, sizeof(t), "%.2fs", s->cpu_usec < 0 ? 0.0 : (double)s->cpu_usec / 1e6);
        printf("%-12s  %-16s  %7s  %10s  %10s  %10s  %6lld  %12lld  %12lld  %s\n", s->id, s->name,
               cpu, t, mem, peak, (long long)s->pids, (long long)s->trapped, (long long)s->patched,
               s->top);
    }
    fflush(stdout);
}

static void usage_stats(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl stats [OPTIONS] [NAME...]\n"
            "Shows CPU, memory, processes and syscall counts of your running sandboxes\n"
            "(or those named), refreshed every second until interrupted.\n\n"
            "  --no-stream      print one table and exit\n"
            "  --socket PATH    sandboxd's socket (default %s)\n",
            SBX_DEFAULT_SOCKET);
}

int sbx_cmd_stats(int argc, char **argv)
{
    enum { OPT_SOCKET = 256, OPT_NO_STREAM };
    static const struct option opts[] = {
        { "no-stream", no_argument, NULL, OPT_NO_STREAM },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    bool stream = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_NO_STREAM:
            stream = false;
            break;
        case OPT_SOCKET:
            socket = optarg;
            break;
        case 'h':
            usage_stats(stdout);
            return 0;
        default:
            usage_stats(stderr);
            return 2;
        }
    }
    /* Is there a daemon to ask? Said once, not at every refresh. */
    struct sbx_conn probe;
    struct sbx_error e = { 0 };
    if (sbx_conn_open_running(&probe, socket, "stats", &e) < 0) {
        sbx_conn_report(&e);
        return SBX_CTL_EXIT_ERROR;
    }
    sbx_conn_close(&probe);
    _cleanup_free_ struct sample *a = calloc(STATS_MAX, sizeof(*a));
    _cleanup_free_ struct sample *b = calloc(STATS_MAX, sizeof(*b));
    if (!a || !b)
        return SBX_CTL_EXIT_ERROR;
    struct sample *prev = a, *cur = b;
    unsigned n_prev = take(socket, argv + optind, argc - optind, prev);
    bool clear = stream && isatty(STDOUT_FILENO);
    for (;;) {
        usleep((stream ? STATS_INTERVAL_MS : NO_STREAM_SAMPLE_MS) * 1000);
        unsigned n = take(socket, argv + optind, argc - optind, cur);
        if (clear)
            fputs("\033[H\033[2J", stdout);
        print_table(cur, n, prev, n_prev);
        if (!stream)
            return 0;
        struct sample *t = prev;
        prev = cur;
        cur = t;
        n_prev = n;
    }
}

/* key: value per scalar, nested keys joined by '.'. */
static void print_flat(json_object *o, const char *prefix)
{
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            char key[256];
            snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k);
            print_flat(v, key);
        }
        return;
    }
    printf("%s: %s\n", prefix, o ? json_object_get_string(o) : "-");
}

static void usage_status(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl status [OPTIONS]\n"
            "Shows sandboxd's version, uptime, running and recorded sandboxes (yours;\n"
            "root: all), cached images and site maps, and the state directory's use.\n\n"
            "  --json           as one JSON document (docs/cli.md)\n"
            "  --socket PATH    sandboxd's socket (default %s)\n",
            SBX_DEFAULT_SOCKET);
}

int sbx_cmd_status(int argc, char **argv)
{
    enum { OPT_SOCKET = 256, OPT_JSON };
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
            usage_status(stdout);
            return 0;
        default:
            usage_status(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sandboxctl status: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, "status", SBX_MSG_STATUS, NULL, 0, 0) < 0)
        return SBX_CTL_EXIT_ERROR;
    json_object *o = NULL;
    int r = sbx_ctl_reply(conn.fd, "status", &o, NULL);
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
