/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The options of sandboxctl run that set policy fields (sent to sandboxd,
 * which validates them with the policy's own rules) and the ones that build
 * the guest's environment from the caller's.
 */
#pragma once

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* getopt values of the long-only options; the others use their short letter. */
enum {
    SBX_RUNOPT_TMPFS = 512,
    SBX_RUNOPT_HOSTNAME,
    SBX_RUNOPT_MEMORY,
    SBX_RUNOPT_PIDS,
    SBX_RUNOPT_CPUS,
    SBX_RUNOPT_TIMEOUT,
    SBX_RUNOPT_NETWORK,
    SBX_RUNOPT_CAP_ADD,
    SBX_RUNOPT_ULIMIT,
    SBX_RUNOPT_ENV_FILE,
    SBX_RUNOPT_USERNS,
};

/* For getopt_long's option string and table, next to the command's own. */
#define SBX_RUN_OPTIONS_SHORT "e:v:w:u:"
#define SBX_RUN_OPTIONS_LONG                                                                       \
    { "env", required_argument, NULL, 'e' }, { "volume", required_argument, NULL, 'v' },           \
        { "workdir", required_argument, NULL, 'w' }, { "user", required_argument, NULL, 'u' },     \
        { "tmpfs", required_argument, NULL, SBX_RUNOPT_TMPFS },                                    \
        { "hostname", required_argument, NULL, SBX_RUNOPT_HOSTNAME },                              \
        { "memory", required_argument, NULL, SBX_RUNOPT_MEMORY },                                  \
        { "pids-limit", required_argument, NULL, SBX_RUNOPT_PIDS },                                \
        { "cpus", required_argument, NULL, SBX_RUNOPT_CPUS },                                      \
        { "timeout", required_argument, NULL, SBX_RUNOPT_TIMEOUT },                                \
        { "network", required_argument, NULL, SBX_RUNOPT_NETWORK },                                \
        { "cap-add", required_argument, NULL, SBX_RUNOPT_CAP_ADD },                                \
        { "ulimit", required_argument, NULL, SBX_RUNOPT_ULIMIT },                                  \
        { "userns", required_argument, NULL, SBX_RUNOPT_USERNS },                                  \
    {                                                                                              \
        "env-file", required_argument, NULL, SBX_RUNOPT_ENV_FILE                                   \
    }

struct sbx_run_options {
    char **options; /* "NAME=VALUE" for RUN's options field, in command-line order; owned */
    uint32_t n_options;
    char **env; /* "KEY=VALUE" for RUN's env field, NULL-terminated; owned */
    uint32_t envc;
};

/*
 * Takes getopt's c and optarg: 1 when c is one of these options, 0 when it
 * is not, -errno after a message on stderr.
 */
int sbx_run_options_parse(struct sbx_run_options *o, int c, const char *arg);
/* The lines of `sandboxctl run --help` for these options. */
void sbx_run_options_usage(FILE *f);
void sbx_run_options_free(struct sbx_run_options *o);
