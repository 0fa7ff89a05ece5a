/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxd-oci: the command line of the runtime, as engines call runc.
 * Global flags come before the command; errors go to --log (JSON lines as
 * runc writes them, which podman and the containerd shim read back) and to
 * stderr, and the exit status is 1, as runc's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"
#include "sbx-config.h"

#define DEFAULT_ROOT "/run/sandboxd-oci"

static const char usage[] =
    "Usage: sandboxd-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ID\n"
    "An OCI runtime (runc's command line) that runs containers with sandboxd's isolation.\n"
    "\n"
    "Commands:\n"
    "  create    build a container from a bundle, stopped before its process\n"
    "  start     run the process of a created container\n"
    "  run       create, start and wait\n"
    "  state     print a container's state as JSON\n"
    "  kill      send a signal to the container's process (--all: every process)\n"
    "  delete    remove a container (--force: also a running one)\n"
    "  exec      run another process in a container (--process FILE)\n"
    "  ps        the container's host pids\n"
    "  pause     freeze the container\n"
    "  resume    thaw it\n"
    "  features  what this runtime supports, as JSON\n"
    "\n"
    "Global options:\n"
    "  --root DIR           state directory (default " DEFAULT_ROOT ")\n"
    "  --log FILE           write errors to FILE\n"
    "  --log-format FORMAT  text or json\n"
    "  --systemd-cgroup     linux.cgroupsPath is slice:prefix:name\n"
    "  --debug              accepted; errors are all that is logged\n"
    "  -h, --help           show this help\n"
    "  -v, --version        show the version\n";

static void log_error(const char *log, bool json, const char *msg)
{
    fprintf(stderr, "sandboxd-oci: %s\n", msg);
    if (!log)
        return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[4096];
    int n;
    if (json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[64];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "level", json_object_new_string("error"));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        json_object_object_add(o, "time", json_object_new_string(when));
        n = snprintf(line, sizeof(line), "%s\n",
                     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else {
        n = snprintf(line, sizeof(line), "sandboxd-oci: %s\n", msg);
    }
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    ssize_t w _unused_ = write(fd, line, (size_t)n);
    close(fd);
}

static void version(void)
{
    const struct scmp_version *v = seccomp_version();
    printf("sandboxd-oci version %s\nspec: 1.0.2\nlibseccomp: %u.%u.%u\n", SBX_VERSION,
           v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
}

static const struct {
    const char *name;
    int (*fn)(const struct sbx_oci_global *, int, char **, struct sbx_error *);
    bool spawns; /* starts processes that live on: they get no descriptor of the caller's */
} commands[] = {
    { "create", sbx_oci_cmd_create, true },
    { "start", sbx_oci_cmd_start, false },
    { "run", sbx_oci_cmd_run, true },
    { "state", sbx_oci_cmd_state, false },
    { "kill", sbx_oci_cmd_kill, false },
    { "delete", sbx_oci_cmd_delete, false },
    { "exec", sbx_oci_cmd_exec, true },
    { "ps", sbx_oci_cmd_ps, false },
    { "pause", sbx_oci_cmd_pause, false },
    { "resume", sbx_oci_cmd_resume, false },
    { "features", sbx_oci_cmd_features, false },
};

/*
 * The N of --preserve-fds N (or =N) among a command's arguments, 0 if none;
 * a value create refuses counts as none here, and create says why.
 */
static unsigned preserved_fds(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--preserve-fds") && i + 1 < argc)
            v = argv[i + 1];
        else if (!strncmp(argv[i], "--preserve-fds=", 15))
            v = argv[i] + 15;
        if (!v)
            continue;
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        return end != v && !*end && n <= SBX_OCI_MAX_BINDS ? (unsigned)n : 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "log", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'f' },
        { "systemd-cgroup", no_argument, NULL, 's' },
        { "debug", no_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    struct sbx_oci_global g = { .root = DEFAULT_ROOT };
    const char *log = NULL;
    bool json = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            g.root = optarg;
            break;
        case 'l':
            log = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                fprintf(stderr, "sandboxd-oci: --log-format %s: json or text\n", optarg);
                return 1;
            }
            json = !strcmp(optarg, "json");
            break;
        case 's':
            g.systemd_cgroup = true;
            break;
        case 'd':
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'v':
            version();
            return 0;
        default:
            fputs(usage, stderr);
            return 1;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 1;
    }
    const char *cmd = argv[optind];
    struct sbx_error e = { 0 };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, cmd) != 0)
            continue;
        /*
         * The engine's other descriptors (conmon's sync pipes) must not stay
         * open in a monitor that lives as long as the container: conmon
         * waits for their end.  Those --preserve-fds names come first.
         */
        if (commands[i].spawns)
            syscall(SYS_close_range, 3 + preserved_fds(argc - optind, argv + optind), ~0U, 0);
        umask(077);
        int r = commands[i].fn(&g, argc - optind, argv + optind, &e);
        fflush(stdout);
        if (r < 0) {
            log_error(log, json, e.msg[0] ? e.msg : strerror(-r));
            return 1;
        }
        return r;
    }
    snprintf(e.msg, sizeof(e.msg), "unknown command %s", cmd);
    log_error(log, json, e.msg);
    return 1;
}
