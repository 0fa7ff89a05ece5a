/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl policy check FILE...: validates policy files the way the daemon
 * would, including the limits this host's cgroups can enforce.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "client/cmd-policy.h"
#include "policy/policy.h"
#include "sbx/macro.h"

/* The parser refuses more; reading one byte beyond lets it say so. */
/* One byte past the limit, so that the parser sees a file that is too large. */
#define MAX_FILE_SIZE (SBX_POLICY_MAX_BYTES + 1)

static void usage(FILE *f)
{
    fprintf(f, "Usage: sandboxctl policy check [--] FILE...\n\n"
               "Validates each policy file and prints FILE:LINE:COL: message for every\n"
               "problem found.  Exit status 0 when all are valid, 2 otherwise.\n");
}

static void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static int read_text(const char *path, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sbx_neg_errno();
    _cleanup_free_ char *buf = malloc(MAX_FILE_SIZE);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    while (len < MAX_FILE_SIZE) {
        ssize_t n = read(fd, buf + len, MAX_FILE_SIZE - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* Marks the controllers named in a whitespace-separated list (cgroup.controllers). */
static void mark_controllers(const char *list, const char *sep, struct sbx_host_features *h)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
        if (strcmp(tok, "memory") == 0)
            h->memory = true;
        else if (strcmp(tok, "pids") == 0)
            h->pids = true;
        else if (strcmp(tok, "cpu") == 0)
            h->cpu = true;
    }
}

static void detect_v2(const char *path, struct sbx_host_features *h)
{
    _cleanup_(fclosep) FILE *f = fopen(path, "re");
    char line[1024];
    if (f && fgets(line, sizeof(line), f))
        mark_controllers(line, " \t\n", h);
}

/* v1 hierarchies are mounts of type "cgroup" whose options name their controllers. */
static void detect_v1(struct sbx_host_features *h)
{
    _cleanup_(fclosep) FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "... - FSTYPE SOURCE SUPER_OPTIONS" */
        char *dash = strstr(line, " - ");
        char fstype[32], source[256], opts[512];
        if (!dash || sscanf(dash + 3, "%31s %255s %511s", fstype, source, opts) != 3)
            continue;
        if (strcmp(fstype, "cgroup") == 0)
            mark_controllers(opts, ",", h);
    }
    free(line);
}

/* What the daemon on this host could enforce: v2 controllers, else v1 hierarchies. */
static struct sbx_host_features detect_host(void)
{
    struct sbx_host_features h = { 0 };
    detect_v2("/sys/fs/cgroup/cgroup.controllers", &h);
    detect_v2("/sys/fs/cgroup/unified/cgroup.controllers", &h);
    detect_v1(&h);
    return h;
}

/* 0 when path is a valid policy for this host, 2 after printing why not. */
static int check_one(const char *path, const struct sbx_host_features *host)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = read_text(path, &text, &len);
    if (r < 0) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-r));
        return 2;
    }
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    r = sbx_policy_parse(text, len, path, &p, &diags);
    if (r == 0)
        r = sbx_policy_check_host(p, host, &diags);
    sbx_policy_free(p);
    _cleanup_free_ char *out = sbx_diags_format(&diags);
    sbx_diags_free(&diags);
    if (r == -ENOMEM || !out) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 2;
    }
    fputs(out, stderr);
    return r < 0 ? 2 : 0;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int sbx_cmd_policy(int argc, char **argv)
{
    if (argc >= 2 && is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        usage(stderr);
        return 2;
    }
    /* Options come before the files; "--" ends them, so a file may be named "--help". */
    int first = 2;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        if (is_help(argv[first])) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "sandboxctl policy check: unknown option '%s'\n", argv[first]);
        usage(stderr);
        return 2;
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    struct sbx_host_features host = detect_host();
    int ret = 0;
    for (int i = first; i < argc; i++)
        if (check_one(argv[i], &host) != 0)
            ret = 2;
    return ret;
}
