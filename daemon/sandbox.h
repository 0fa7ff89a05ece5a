/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One running sandbox, as the daemon sees it: init's pidfd, control socket, cgroup, image. */
#pragma once

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "daemon/cgroup.h"
#include "daemon/idrange.h"
#include "daemon/image.h"
#include "proto/proto.h"
#include "sbx/error.h"

struct sbx_daemon;
struct sbx_image;
struct sbx_life;
struct sbx_sandbox;

/*
 * What a sandbox tells its owner, the code that started it: the one way
 * from a sandbox up, so that sandbox.c calls nothing of the code above it.
 */
enum sbx_sandbox_event {
    SBX_SANDBOX_TRACE,         /* fd: the trace ring's memfd, before the spec goes to init */
    SBX_SANDBOX_GUEST_STARTED, /* the guest runs (GUEST from init) */
    SBX_SANDBOX_TTY,           /* fd: the guest's pty master (TTY from init) */
    SBX_SANDBOX_INIT_FRAME,    /* frame: one of init's the sandbox does not know; 1 if taken */
    SBX_SANDBOX_EXITED,        /* exit: how the guest ended, once; ctx is NULL after it */
    SBX_SANDBOX_GONE,          /* reaped: the struct goes next */
};

struct sbx_sandbox_note {
    enum sbx_sandbox_event what;
    int fd;                          /* TRACE, TTY: the owner dups what it keeps */
    struct sbx_frame *frame;         /* INIT_FRAME */
    const struct sbx_msg_exit *exit; /* EXITED */
};

/*
 * notify(ctx, ...) returns <0 to fail the start (TRACE) or to say the
 * terminal did not reach anyone (TTY), 1 when it took an INIT_FRAME, else 0.
 * ctx is the owner's and may be NULL (the client went away): notify still
 * hears the rest.
 */
struct sbx_sandbox_owner {
    int (*notify)(void *ctx, struct sbx_sandbox *s, const struct sbx_sandbox_note *n);
    void *ctx; /* not owned */
};

struct sbx_sandbox {
    struct sbx_daemon *d;
    uint64_t id;
    struct sbx_sandbox_owner owner; /* ctx NULL once the owner is gone */
    pid_t pid;                      /* init, in the daemon's pid namespace */
    int pidfd;
    uv_poll_t pid_poll;
    int ctl_fd;
    uv_poll_t ctl_poll;
    struct sbx_proto_rx rx;
    struct sbx_image *image; /* a reference */
    bool writable_image;     /* EXIT waits until the image file is free (image_dev/ino) */
    dev_t image_dev;
    ino_t image_ino;
    unsigned release_polls;
    siginfo_t init_si;      /* how init ended, kept while a writable image is let go */
    uv_work_t release_work; /* closes release_fd, the writable image's mount, off the loop */
    int release_fd;
    struct sbx_cgroup cg;
    int stats_fd; /* trampoline's counters; -EBADF in off mode */
    bool want_stats;
    bool want_tty;    /* the guest has a pty: init sends its master once (TTY) */
    int guest_pidfd;  /* the guest's main process, from init (GUEST); -EBADF before */
    int spawn_report; /* what the child of clone3 says if it fails before exec */
    char spawn_msg[256];
    uint64_t pending_signals; /* bit n-1: signal n came before guest_pidfd */
    bool tty_sent;
    struct sbx_killnotif *killnotif; /* the kill rules' listener, from init (NOTIFY); or NULL */
    bool guest_sigsys;               /* off mode: SIGSYS is the guest's own, not the trampoline's */
    uint64_t timeout_ms;
    uv_timer_t timer;
    struct sbx_msg_report report;
    bool have_report;
    bool exit_sent; /* EXIT went to the client (or there was none to tell) */
    bool net_host;  /* made without a network namespace */
    bool timed_out;
    bool killed;
    const char *kill_reason; /* static */
    unsigned handles_inited; /* SBX_H_* bits: libuv handles to close before the struct can go */
    unsigned handles_open;
    struct sbx_life *life; /* its id, owner and, detached, record and log (lifecycle.c) */
    struct sbx_sandbox *next;

    /* Its user namespace's block of host ids; block -1: the host's namespace. */
    struct sbx_ids ids;
    /* Its user namespace, for idmapped mounts; -EBADF with the host's. */
    int userns_fd;

    /* A spare's root, built ahead for prepared (image holds its reference). */
    struct sbx_root_key prepared;
    int prepared_image; /* the image's copy for the SPEC that takes that root */
    uint64_t prepared_ms;
};

/* Everything a sandbox needs that the request decided. */
struct sbx_sandbox_params {
    struct sbx_spec *spec;   /* argv, env, identity ...; staging/mode are filled in */
    struct sbx_image *image; /* a reference, handed over to the sandbox (also on failure) */
    int stdio[3];
    int policy_bpf_fd;
    const int *bind_fds;
    struct sbx_cg_limits limits;
    uint64_t timeout_ms;
    bool stats;
    bool trace;                   /* a trace ring in the stats memfd, sent to the client (TRACE) */
    const uint64_t *trace_select; /* NULL: record every call; else only these (8 words) */
    bool net_host;
    bool userns; /* a user namespace of its own (idmapped image and binds) */
    /* The caller's ids, which the binds map to the guest's (spec uid and gid). */
    uid_t caller_uid;
    gid_t caller_gid;
    struct sbx_sandbox_owner owner; /* who hears of it, from the start on */
};

/*
 * Starts a sandbox.  On success the sandbox is linked into the daemon and
 * reports to p->owner.  On failure e says what failed, and nothing is left
 * once the loop has reaped the killed init (its cgroup and image reference go
 * with it); the owner hears nothing more of it.
 */
int sbx_sandbox_start(struct sbx_daemon *d, const struct sbx_sandbox_params *p,
                      struct sbx_sandbox **ret, struct sbx_error *e);
/*
 * Keeps one sandbox spawned ahead of need (namespaces, cgroup, init
 * waiting).  It has no owner until a run takes it: a spare that dies is
 * reaped without a report.
 */
void sbx_sandbox_refill_spare(struct sbx_daemon *d);
/* The same, SBX_SPARE_REFILL_DELAY_MS later (after a run's EXIT). */
#define SBX_SPARE_REFILL_DELAY_MS 1
void sbx_sandbox_refill_spare_soon(struct sbx_daemon *d);
/*
 * The same, SBX_SPARE_REFILL_RUNNING_MS later (once a run's guest has
 * started): a run that lasts longer has the next spare built meanwhile; a
 * shorter one ends first, and its EXIT brings the refill forward to
 * SBX_SPARE_REFILL_DELAY_MS.
 */
#define SBX_SPARE_REFILL_RUNNING_MS 5
void sbx_sandbox_refill_spare_while_running(struct sbx_daemon *d);
/* Kills the spare; it stays on the daemon's list of sandboxes until it is reaped. */
void sbx_sandbox_drop_spare(struct sbx_daemon *d);
/*
 * Sends signo (1..SBX_SIGNAL_MAX) to the guest's main process by its pidfd,
 * or keeps it until init has handed that over; -ESRCH when the guest is done.
 */
int sbx_sandbox_signal(struct sbx_sandbox *s, uint32_t signo);
/* Ends it now (SIGKILL to the whole sandbox); the exit is reported as usual,
 * with why (a static string) as its message. */
void sbx_sandbox_kill(struct sbx_sandbox *s, const char *why);
