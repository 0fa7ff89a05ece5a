/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon as sandboxd and sandboxctl start it: its configuration and its
 * entry point, and nothing of its state, so that a program embedding it
 * depends on these lines only.
 */
#pragma once

#include <stdint.h>

#include "sbx/abi.h"

struct sbx_daemon_config {
    const char *socket_path; /* NULL with conn_fd >= 0 */
    const char *state_dir;
    const char *policy_dir;
    const char *group; /* members may run sandboxes */
    int listen_fd;     /* an already listening socket (systemd socket activation), or -1 */
    int conn_fd;       /* embedded mode: serve this one connection, exit when it is done; or -1 */
    int ready_fd;      /* write "READY\n" here once serving, then close; or -1 */
    int log_level;     /* LOG_* */
    enum sbx_syscall_mode default_mode;
    /* What one uid may keep (daemon/lifecycle.h has the defaults). */
    unsigned max_detached; /* detached sandboxes running */
    unsigned max_records;  /* records kept, running or ended */
    uint64_t log_size;     /* bytes of log per detached sandbox */
    /* Whose subordinate ids give sandboxes their user namespaces; NULL: the defaults. */
    const char *subid_user, *subuid_file, *subgid_file;
    /* The lock file every daemon of the host shares for those ids; NULL: the default. */
    const char *id_lock_file;
};

/* Runs the daemon until SIGTERM (or, embedded, until its connection is done). */
int sbx_daemon_run(const struct sbx_daemon_config *cfg);
