/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl run's policy and environment options.  The policy ones are not
 * checked here: they travel as "NAME=VALUE" in RUN, and sandboxd applies
 * them to the policy with the policy's own validation and permission rules,
 * so an option can never mean more than the YAML key it stands for.  The
 * environment ones read the caller's environment and files, which only the
 * client has.
 */
#include "client/run-options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx/macro.h"

/* An environment file is a list of variables; larger is a mistake. */
#define MAX_ENV_FILE (1u << 20)

void sbx_run_options_usage(FILE *f)
{
    fputs("  -e, --env KEY=VALUE   set an environment variable for CMD; -e KEY passes this\n"
          "                        shell's value of KEY (nothing when it is unset)\n"
          "  --env-file FILE       KEY=VALUE and KEY lines of FILE, as -e ('#' comments)\n"
          "  -h, --help            this text\n\n"
          "Policy fields: each wins over --policy and is checked as its key in a policy\n"
          "file (docs/policy.md, Command-line options):\n"
          "  -v, --volume SRC:DST[:ro|rw]\n"
          "                        bind the host's SRC (absolute) at DST; ro unless :rw\n"
          "  --tmpfs DST[:size=N,mode=M]\n"
          "                        a tmpfs at DST\n"
          "  -w, --workdir DIR     CMD's working directory\n"
          "  -u, --user USER[:GROUP]\n"
          "                        run CMD as USER (a name in the image or a number)\n"
          "  --hostname NAME       the sandbox's hostname\n"
          "  --memory SIZE         memory limit (256M, 2G, unlimited)\n"
          "  --pids-limit N        process and thread limit\n"
          "  --cpus N              CPU share (0.5, 2, 50%)\n"
          "  --timeout DURATION    end it after DURATION (500ms, 60s, 5m); exit 124\n"
          "  --network none|host   loopback only (the default), or the host's (root only)\n"
          "  --cap-add CAP         keep capability CAP, of the sandbox's user namespace\n"
          "                        (root only with --userns host)\n"
          "  --ulimit NAME=SOFT[:HARD]\n"
          "                        an rlimit (nofile=1024:4096, core=0)\n"
          "  --userns private|host\n"
          "                        a user namespace of the sandbox's own (the default), or\n"
          "                        the host's, where guest ids are host ids (root only)\n",
          f);
}

static int push(char ***v, uint32_t *n, char *s)
{
    if (*n >= SBX_PROTO_MAX_ARGS) {
        fprintf(stderr, "sandboxctl: too many options or variables (at most %d)\n",
                SBX_PROTO_MAX_ARGS);
        free(s);
        return -E2BIG;
    }
    char **nv = reallocarray(*v, *n + 2, sizeof(char *));
    if (!nv) {
        free(s);
        return -ENOMEM;
    }
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return 0;
}

/*
 * One variable as -e takes it: KEY=VALUE as it is, KEY alone with this
 * process's value (none when unset, as podman does).  where prefixes errors.
 */
static int add_env(struct sbx_run_options *o, const char *where, const char *s)
{
    size_t klen = strcspn(s, "=");
    if (klen == 0 || strcspn(s, " \t\n") < klen) {
        fprintf(stderr, "sandboxctl: %s: expected KEY=VALUE or KEY, not '%s'\n", where, s);
        return -EINVAL;
    }
    char *kv;
    if (s[klen] == '=') {
        kv = strdup(s);
    } else {
        const char *val = getenv(s);
        if (!val)
            return 0;
        if (asprintf(&kv, "%s=%s", s, val) < 0)
            kv = NULL;
    }
    if (!kv)
        return -ENOMEM;
    return push(&o->env, &o->envc, kv);
}

static int read_env_file(struct sbx_run_options *o, const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "sandboxctl: --env-file %s: %s\n", path, strerror(errno));
        return -errno;
    }
    _cleanup_free_ char *buf = malloc(MAX_ENV_FILE + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    ssize_t n = 0;
    while (len <= MAX_ENV_FILE && (n = read(fd, buf + len, MAX_ENV_FILE + 1 - len)) > 0)
        len += (size_t)n;
    if (n < 0 || len > MAX_ENV_FILE) {
        fprintf(stderr, "sandboxctl: --env-file %s: %s\n", path,
                n < 0 ? strerror(errno) : "larger than 1 MiB");
        return n < 0 ? -errno : -EFBIG;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        fprintf(stderr, "sandboxctl: --env-file %s: has a NUL byte\n", path);
        return -EINVAL;
    }
    unsigned lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[l - 1] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char where[4096 + 32];
        snprintf(where, sizeof(where), "--env-file %s:%u", path, lineno);
        int r = add_env(o, where, line);
        if (r < 0)
            return r;
    }
    return 0;
}

static const char *policy_option_name(int c)
{
    switch (c) {
    case 'v':
        return "volume";
    case 'w':
        return "workdir";
    case 'u':
        return "user";
    case SBX_RUNOPT_TMPFS:
        return "tmpfs";
    case SBX_RUNOPT_HOSTNAME:
        return "hostname";
    case SBX_RUNOPT_MEMORY:
        return "memory";
    case SBX_RUNOPT_PIDS:
        return "pids-limit";
    case SBX_RUNOPT_CPUS:
        return "cpus";
    case SBX_RUNOPT_TIMEOUT:
        return "timeout";
    case SBX_RUNOPT_NETWORK:
        return "network";
    case SBX_RUNOPT_CAP_ADD:
        return "cap-add";
    case SBX_RUNOPT_ULIMIT:
        return "ulimit";
    case SBX_RUNOPT_USERNS:
        return "userns";
    default:
        return NULL;
    }
}

int sbx_run_options_parse(struct sbx_run_options *o, int c, const char *arg)
{
    int r;
    if (c == 'e')
        r = add_env(o, "--env", arg);
    else if (c == SBX_RUNOPT_ENV_FILE)
        r = read_env_file(o, arg);
    else if (policy_option_name(c)) {
        char *s;
        if (asprintf(&s, "%s=%s", policy_option_name(c), arg) < 0)
            return -ENOMEM;
        r = push(&o->options, &o->n_options, s);
    } else
        return 0;
    if (r == -ENOMEM)
        fprintf(stderr, "sandboxctl: out of memory\n");
    return r < 0 ? r : 1;
}

void sbx_run_options_free(struct sbx_run_options *o)
{
    for (uint32_t i = 0; i < o->n_options; i++)
        free(o->options[i]);
    free(o->options);
    for (uint32_t i = 0; i < o->envc; i++)
        free(o->env[i]);
    free(o->env);
    *o = (struct sbx_run_options){ 0 };
}
