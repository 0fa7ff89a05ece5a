/* sandboxctl: the client of sandboxd; one file per command. */
#include <stdio.h>
#include <string.h>

#include "client/cmd-policy.h"
#include "client/cmd-run.h"
#include "sbx-config.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: sandboxctl COMMAND [ARGS...]\n\n"
               "Commands:\n"
               "  run [OPTIONS] IMAGE CMD [ARGS...]   run CMD inside the ext4 IMAGE\n"
               "  policy check FILE...                validate policy files\n"
               "  version                             print the version\n\n"
               "'sandboxctl COMMAND --help' tells more.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return sbx_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return sbx_cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
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
