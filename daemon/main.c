/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxd: command line, then the daemon loop (daemon/daemon.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "sbx-config.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: sandboxd [OPTIONS]\n"
            "Runs untrusted programs from ext4 images in sandboxes (see sandboxctl).\n\n"
            "  --socket PATH        listen here (default %s)\n"
            "  --state-dir DIR      state directory (default %s)\n"
            "  --policy-dir DIR     where --policy NAME is looked up (default %s)\n"
            "  --group NAME         members may run sandboxes (default %s)\n"
            "  --syscall-mode MODE  default mode: off, trap or rewrite\n"
            "  --max-detached N     detached sandboxes one uid may run (default %d)\n"
            "  --max-records N      sandbox records one uid may keep (default %d)\n"
            "  --log-size BYTES     log kept per detached sandbox (default %u, K/M/G allowed)\n"
            "  --subid-user NAME    whose subordinate ids sandboxes get (default %s)\n"
            "  --subuid-file FILE   subordinate uids (default %s)\n"
            "  --subgid-file FILE   subordinate gids (default %s)\n"
            "  --id-lock FILE       lock file of those ids, shared by every daemon (default %s)\n"
            "  --ready-fd FD        write READY to FD once serving\n"
            "  -v, --verbose        log debug messages\n"
            "  -q, --quiet          log warnings and errors only\n"
            "  --version            print the version\n",
            SBX_DEFAULT_SOCKET, SBX_DEFAULT_STATE_DIR, SBX_DEFAULT_POLICY_DIR, SBX_GROUP,
            SBX_LIFE_DEFAULT_MAX_DETACHED, SBX_LIFE_DEFAULT_MAX_RECORDS, SBX_LIFE_DEFAULT_LOG_SIZE,
            SBX_IDRANGE_DEFAULT_USER, SBX_IDRANGE_DEFAULT_SUBUID, SBX_IDRANGE_DEFAULT_SUBGID,
            SBX_IDRANGE_DEFAULT_LOCK);
}

static int parse_mode(const char *s, enum sbx_syscall_mode *ret)
{
    if (strcmp(s, "off") == 0)
        *ret = SBX_MODE_OFF;
    else if (strcmp(s, "trap") == 0)
        *ret = SBX_MODE_TRAP;
    else if (strcmp(s, "rewrite") == 0)
        *ret = SBX_MODE_REWRITE;
    else
        return -EINVAL;
    return 0;
}

/* A decimal number, with units a K, M, G or T suffix (powers of 1024). */
static int parse_size(const char *s, bool units, uint64_t *ret)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    static const char suffixes[] = "KMGT";
    const char *u = *end && units ? strchr(suffixes, *end) : NULL;
    if (u && end[1] == '\0') {
        for (const char *q = suffixes; q <= u; q++) {
            if (v > (~0ull >> 10))
                return -ERANGE;
            v <<= 10;
        }
    } else if (*end) {
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

/* systemd socket activation: LISTEN_FDS for this pid, the socket at fd 3. */
static int activation_fd(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atoi(pid) != getpid() || atoi(fds) < 1)
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 3;
}

int main(int argc, char **argv)
{
    enum {
        OPT_SOCKET = 256,
        OPT_STATE,
        OPT_POLICY_DIR,
        OPT_GROUP,
        OPT_MODE,
        OPT_READY,
        OPT_VERSION,
        OPT_MAX_DETACHED,
        OPT_MAX_RECORDS,
        OPT_LOG_SIZE,
        OPT_SUBID_USER,
        OPT_SUBUID_FILE,
        OPT_SUBGID_FILE,
        OPT_ID_LOCK,
    };
    static const struct option opts[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "state-dir", required_argument, NULL, OPT_STATE },
        { "policy-dir", required_argument, NULL, OPT_POLICY_DIR },
        { "group", required_argument, NULL, OPT_GROUP },
        { "syscall-mode", required_argument, NULL, OPT_MODE },
        { "ready-fd", required_argument, NULL, OPT_READY },
        { "max-detached", required_argument, NULL, OPT_MAX_DETACHED },
        { "max-records", required_argument, NULL, OPT_MAX_RECORDS },
        { "log-size", required_argument, NULL, OPT_LOG_SIZE },
        { "subid-user", required_argument, NULL, OPT_SUBID_USER },
        { "subuid-file", required_argument, NULL, OPT_SUBUID_FILE },
        { "subgid-file", required_argument, NULL, OPT_SUBGID_FILE },
        { "id-lock", required_argument, NULL, OPT_ID_LOCK },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "version", no_argument, NULL, OPT_VERSION },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct sbx_daemon_config cfg = {
        .socket_path = SBX_DEFAULT_SOCKET,
        .state_dir = SBX_DEFAULT_STATE_DIR,
        .policy_dir = SBX_DEFAULT_POLICY_DIR,
        .group = SBX_GROUP,
        .listen_fd = -1,
        .conn_fd = -1,
        .ready_fd = -1,
        .log_level = LOG_INFO,
        .default_mode = SBX_DEFAULT_MODE,
        .max_detached = SBX_LIFE_DEFAULT_MAX_DETACHED,
        .max_records = SBX_LIFE_DEFAULT_MAX_RECORDS,
        .log_size = SBX_LIFE_DEFAULT_LOG_SIZE,
    };
    uint64_t n;
    int c;
    while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET:
            cfg.socket_path = optarg;
            break;
        case OPT_STATE:
            cfg.state_dir = optarg;
            break;
        case OPT_POLICY_DIR:
            cfg.policy_dir = optarg;
            break;
        case OPT_GROUP:
            cfg.group = optarg;
            break;
        case OPT_MODE:
            if (parse_mode(optarg, &cfg.default_mode) < 0) {
                fprintf(stderr,
                        "sandboxd: --syscall-mode: expected off, trap or rewrite, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_READY:
            cfg.ready_fd = atoi(optarg);
            break;
        case OPT_MAX_DETACHED:
        case OPT_MAX_RECORDS:
            if (parse_size(optarg, false, &n) < 0 || n < 1 || n > 100000) {
                fprintf(stderr, "sandboxd: --%s: expected a number from 1 to 100000, not '%s'\n",
                        c == OPT_MAX_DETACHED ? "max-detached" : "max-records", optarg);
                return 2;
            }
            *(c == OPT_MAX_DETACHED ? &cfg.max_detached : &cfg.max_records) = (unsigned)n;
            break;
        case OPT_LOG_SIZE:
            if (parse_size(optarg, true, &n) < 0 || n < SBX_LIFE_MIN_LOG_SIZE || n > (1ull << 40)) {
                fprintf(stderr,
                        "sandboxd: --log-size: expected bytes from 64K to 1T (K, M, G or T "
                        "allowed), not '%s'\n",
                        optarg);
                return 2;
            }
            cfg.log_size = n;
            break;
        case OPT_SUBID_USER:
            cfg.subid_user = optarg;
            break;
        case OPT_SUBUID_FILE:
            cfg.subuid_file = optarg;
            break;
        case OPT_SUBGID_FILE:
            cfg.subgid_file = optarg;
            break;
        case OPT_ID_LOCK:
            cfg.id_lock_file = optarg;
            break;
        case 'v':
            cfg.log_level = LOG_DEBUG;
            break;
        case 'q':
            cfg.log_level = LOG_WARNING;
            break;
        case OPT_VERSION:
            printf("sandboxd %s\n", SBX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sandboxd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    cfg.listen_fd = activation_fd();
    return sbx_daemon_run(&cfg);
}
