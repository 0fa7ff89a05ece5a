/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl wait NAME (exits with the sandbox's status, which it also
 * prints), stop [-t SECONDS] NAME (SIGTERM, then SIGKILL after the grace
 * time), kill [-s SIGNAL] NAME and rm [-f] NAME.
 */
#include "client/cmd-ctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/ctl.h"
#include "sbx-config.h"
#include "sbx/macro.h"

#define STOP_DEFAULT_SECONDS 10
#define STOP_MAX_SECONDS 86400

struct cmd {
    const char *name;
    uint16_t type;
    const char *usage; /* after "Usage: sandboxctl NAME " */
    const char *help;
};

static const struct cmd cmds[] = {
    { "wait", SBX_MSG_WAIT, "[OPTIONS] NAME|ID",
      "Waits for the sandbox to end, prints its status and exits with it (as run\n"
      "would have: 128+N for signal N, 124-127 as run's).\n" },
    { "stop", SBX_MSG_STOP, "[OPTIONS] NAME|ID",
      "Sends SIGTERM to the sandbox's command, SIGKILL to the whole sandbox after\n"
      "the grace time, and waits for its end.\n\n"
      "  -t, --time SECONDS  the grace time (default 10; 0: SIGKILL at once)\n" },
    { "kill", SBX_MSG_KILL, "[OPTIONS] NAME|ID",
      "Sends a signal to the sandbox's command; SIGKILL ends the whole sandbox.\n\n"
      "  -s, --signal SIGNAL  a name (TERM, SIGHUP ...) or number (default KILL)\n" },
    { "rm", SBX_MSG_RM, "[OPTIONS] NAME|ID",
      "Removes an ended sandbox's record and log.\n\n"
      "  -f, --force         a running one too: it is killed first\n" },
};

static void usage(const struct cmd *c, FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl %s %s\n%s\n  --socket PATH       sandboxd's socket (default %s)\n",
            c->name, c->usage, c->help, SBX_DEFAULT_SOCKET);
}

static int parse_signal(const char *s, uint32_t *ret)
{
    if (sbx_ctl_parse_uint(s, SBX_SIGNAL_MAX, ret) == 0)
        return *ret >= 1 ? 0 : -EINVAL;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int sig = 1; sig < NSIG && sig <= SBX_SIGNAL_MAX; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(abbrev, s) == 0) {
            *ret = (uint32_t)sig;
            return 0;
        }
    }
    return -EINVAL;
}

static int run_cmd(const struct cmd *c, int argc, char **argv)
{
    enum { OPT_SOCKET = 256 };
    static const struct option opts[] = {
        { "time", required_argument, NULL, 't' }, { "signal", required_argument, NULL, 's' },
        { "force", no_argument, NULL, 'f' },      { "socket", required_argument, NULL, OPT_SOCKET },
        { "help", no_argument, NULL, 'h' },       {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    uint32_t value = c->type == SBX_MSG_STOP   ? STOP_DEFAULT_SECONDS
                     : c->type == SBX_MSG_KILL ? (uint32_t)SIGKILL
                                               : 0;
    uint32_t flags = 0;
    const char *shorts = c->type == SBX_MSG_STOP   ? "ht:"
                         : c->type == SBX_MSG_KILL ? "hs:"
                         : c->type == SBX_MSG_RM   ? "hf"
                                                   : "h";
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (o == 't' && c->type == SBX_MSG_STOP) {
            if (sbx_ctl_parse_uint(optarg, STOP_MAX_SECONDS, &value) < 0) {
                fprintf(stderr, "sandboxctl stop: -t: expected seconds from 0 to %d, not '%s'\n",
                        STOP_MAX_SECONDS, optarg);
                return 2;
            }
        } else if (o == 's' && c->type == SBX_MSG_KILL) {
            if (parse_signal(optarg, &value) < 0) {
                fprintf(stderr, "sandboxctl kill: -s: '%s' is not a signal\n", optarg);
                return 2;
            }
        } else if (o == 'f' && c->type == SBX_MSG_RM) {
            flags |= SBX_CTL_FORCE;
        } else if (o == OPT_SOCKET) {
            socket = optarg;
        } else if (o == 'h') {
            usage(c, stdout);
            return 0;
        } else {
            usage(c, stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "sandboxctl %s: expected one NAME or ID\n", c->name);
        return 2;
    }
    const char *target = argv[optind];
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, c->name, c->type, target, flags, value) < 0)
        return SBX_CTL_EXIT_ERROR;
    int status = SBX_CTL_EXIT_ERROR;
    if (c->type == SBX_MSG_KILL || c->type == SBX_MSG_RM) {
        json_object *reply = NULL;
        if (sbx_ctl_reply(conn.fd, c->name, &reply, NULL) == 0) {
            printf("%s\n", target);
            status = 0;
        }
        json_object_put(reply);
    } else {
        struct sbx_frame f;
        struct sbx_msg_exit m;
        if (sbx_ctl_recv(conn.fd, c->name, &f) > 0) {
            if (f.type == SBX_MSG_EXIT && sbx_msg_exit_decode(&f, &m) == 0) {
                if (c->type == SBX_MSG_WAIT) {
                    int st = sbx_ctl_exit_status(&m, c->name);
                    printf("%d\n", st);
                    status = st;
                } else {
                    printf("%s\n", target);
                    status = 0;
                }
                sbx_msg_exit_free(&m);
            } else {
                fprintf(stderr, "sandboxctl %s: unexpected answer from sandboxd\n", c->name);
            }
            sbx_frame_clear(&f);
        }
    }
    sbx_conn_close(&conn);
    if (fflush(stdout) != 0)
        return SBX_CTL_EXIT_ERROR;
    return status;
}

int sbx_cmd_wait(int argc, char **argv)
{
    return run_cmd(&cmds[0], argc, argv);
}

int sbx_cmd_stop(int argc, char **argv)
{
    return run_cmd(&cmds[1], argc, argv);
}

int sbx_cmd_kill(int argc, char **argv)
{
    return run_cmd(&cmds[2], argc, argv);
}

int sbx_cmd_rm(int argc, char **argv)
{
    return run_cmd(&cmds[3], argc, argv);
}
