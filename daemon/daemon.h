/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's shared state, which every module of it is handed; embed.h has its entry point. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

#include "daemon/cgroup.h"
#include "daemon/embed.h"
#include "daemon/idrange.h"
#include "daemon/image.h"
#include "daemon/lifecycle.h"
#include "daemon/server.h"

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
    uv_timer_t idle_timer;   /* drops images unused for a while */
    uv_timer_t refill_timer; /* makes the spare: a while into a run, or after its EXIT */
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
    struct sbx_root_key last_root;       /* the last run's root, which the spare prepares */
    unsigned cgroup_reaps;               /* ended sandboxes' cgroups being removed (sandbox.c) */
    struct sbx_lifecycle lifecycle;      /* ids, names, records, logs */
    uint64_t next_id;
    bool stopping;
    int exit_code;

    /* The host id blocks of sandboxes' user namespaces (idrange.h). */
    struct sbx_idrange_pool ids;
};

/* Milliseconds on the loop's monotonic clock. */
uint64_t sbx_daemon_now(struct sbx_daemon *d);
/* Called whenever a client or sandbox goes away: finishes a pending stop. */
void sbx_daemon_maybe_exit(struct sbx_daemon *d);
