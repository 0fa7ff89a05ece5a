/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl: the client of sandboxd; one file per command. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/cmd-ctl.h"
#include "client/cmd-logs.h"
#include "client/cmd-policy.h"
#include "client/cmd-ps.h"
#include "client/cmd-stats.h"
#include "client/cmd-run.h"
#include "sbx-config.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl COMMAND [ARGS...]\n\n"
            "Commands:\n"
            "  run [OPTIONS] IMAGE|DIR [CMD...]    run CMD (or the image's) inside IMAGE or DIR\n"
            "  ps [-a] [--json]                    list your sandboxes\n"
            "  logs [-f] [--tail N] NAME           the output of a detached sandbox\n"
            "  wait NAME                           wait for its end, exit with its status\n"
            "  stop [-t SECONDS] NAME              SIGTERM, then SIGKILL after SECONDS\n"
            "  kill [-s SIGNAL] NAME               send a signal to its command\n"
            "  rm [-f] NAME                        remove an ended sandbox's record\n"
            "  inspect [--json] NAME               all that sandboxd knows of one\n"
            "  exec [-t] [-e K=V] [-u U] NAME CMD  run CMD in a running detached one\n"
            "  stats [--no-stream] [NAME...]       live CPU, memory, pids, syscalls\n"
            "  status [--json]                     sandboxd's version, uptime, counts\n"
            "  policy check FILE...                validate policy files\n"
            "  image build|inspect ARGS...         build an ext4 image (directory, tar, OCI); "
            "inspect one\n"
            "  version                             print the version\n\n"
            "'sandboxctl COMMAND --help' tells more.\n");
}

/*
 * `sandboxctl image ...` is sandboxctl-image: beside this program in a build
 * tree, else in the installed libexec directory.  It is found by this
 * program's own path, never by $PATH.
 */
static int exec_image(char **argv)
{
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, sizeof(path), "%s/sandboxctl-image", self);
            if (access(path, X_OK) == 0)
                execv(path, argv);
        }
    }
    snprintf(path, sizeof(path), "%s/sandboxctl-image", SBX_LIBEXEC_DIR);
    execv(path, argv);
    fprintf(stderr, "sandboxctl: cannot run %s: %s\n", path, strerror(errno));
    return 125;
}

/*
 * A closed 0, 1 or 2 would be taken by the next file sandboxctl opens (the
 * image, the daemon's socket), which would then go to the guest as its
 * stdio: each closed one becomes /dev/null before anything else is opened.
 */
static int open_stdio(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lowest free fd, so this one; not close-on-exec, it is stdio. */
        if (open("/dev/null", O_RDWR | O_NOCTTY) < 0)
            return -errno;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (open_stdio() < 0) {
        fprintf(stderr, "sandboxctl: cannot open /dev/null for a closed stdio fd: %s\n",
                strerror(errno));
        return 125;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return sbx_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "image") == 0)
        return exec_image(argv + 1);

    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } life[] = {
        { "ps", sbx_cmd_ps },           { "logs", sbx_cmd_logs }, { "wait", sbx_cmd_wait },
        { "stop", sbx_cmd_stop },       { "kill", sbx_cmd_kill }, { "rm", sbx_cmd_rm },
        { "inspect", sbx_cmd_inspect }, { "exec", sbx_cmd_exec }, { "stats", sbx_cmd_stats },
        { "status", sbx_cmd_status },
    };
    for (size_t i = 0; i < sizeof(life) / sizeof(life[0]); i++)
        if (strcmp(cmd, life[i].name) == 0)
            return life[i].fn(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return sbx_cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            printf("Usage: sandboxctl version\n\nPrints sandboxctl's version.\n");
            return 0;
        }
        printf("sandboxctl %s\n", SBX_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sandboxctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
