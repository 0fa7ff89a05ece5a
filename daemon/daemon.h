/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon: configuration, shared state, and the entry point used by sandboxd and sandboxctl. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

#include "daemon/cgroup.h"
#include "daemon/idrange.h"
#include "daemon/image.h"
#include "daemon/lifecycle.h"
#include "daemon/server.h"
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
};

struct sbx_client;
struct sbx_sandbox;
struct sbx_sitemap_build;

struct sbx_daemon {
    uv_loop_t *loop;
    struct sbx_daemon_config cfg;
    int listen_fd;
    struct sbx_server srv; /* accepting, connection limits */
    /* RLIMIT_NOFILE as the daemon was started, before it raised its own: what sandboxes get. */
    struct rlimit child_nofile;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t idle_timer; /* drops images unused for a while */
    char *staging_dir;
    int init_memfd;                           /* sealed sbx-init */
    int trampoline_memfd;                     /* sealed trampoline; -EBADF when not built in */
    int sitemap_memfd;                        /* sealed sbx-sitemap; -EBADF when not built in */
    int sitemap_dir_fd;                       /* STATE_DIR/sitemaps: maps made before, or -EBADF */
    uint64_t sitemap_id;                      /* sbx_blob_sitemap_id() */
    struct sbx_sitemap_build *sitemap_builds; /* sbx-sitemaps running (list) */
    int default_bpf_fd;                       /* sealed compiled default policy */
    gid_t sandbox_gid; /* members may run sandboxes; (gid_t)-1 if no such group */
    bool have_sandbox_gid;
    struct sbx_image_cache images;
    struct sbx_cgroup_root cgroups;
    struct sbx_cg_limits default_limits; /* the default policy's, on this host */
    struct sbx_client *clients;          /* list */
    struct sbx_sandbox *sandboxes;       /* list */
    struct sbx_sandbox *spare;           /* spawned ahead of the next run; not in the list */
    struct sbx_lifecycle lifecycle;      /* ids, names, records, logs */
    uint64_t next_id;
    bool stopping;
    int exit_code;

    /* The host id blocks of sandboxes' user namespaces (idrange.h). */
    struct sbx_idrange_pool ids;
};

/* Runs the daemon until SIGTERM (or, embedded, until its connection is done). */
int sbx_daemon_run(const struct sbx_daemon_config *cfg);

/* Milliseconds on the loop's monotonic clock. */
uint64_t sbx_daemon_now(struct sbx_daemon *d);
/* Called whenever a client or sandbox goes away: finishes a pending stop. */
void sbx_daemon_maybe_exit(struct sbx_daemon *d);
