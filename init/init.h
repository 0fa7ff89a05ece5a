/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sbx-init: pid 1 of every sandbox.  Builds the root filesystem, isolates, runs the guest. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/proto.h"
#include "sbx/error.h"

/* The daemon hands the control socket to sbx-init at this fd. */
#define SBX_INIT_CTL_FD 3

/* The fds of a SPEC frame, by role (see struct sbx_spec in proto/proto.h). */
struct sbx_init_fds {
    int image;
    int stdio[3];
    int policy;
    int trampoline; /* -EBADF in off mode */
    int stats;      /* -EBADF in off mode */
    const int *binds;
    unsigned n_binds;
    const int *pass; /* for the guest at 3.. (SPEC's n_pass) */
    unsigned n_pass;
};

/*
 * What of a sandbox depends on no request: a /proc and a /dev (without
 * /dev/shm), detached, made while init waits for its SPEC (-EBADF for one
 * that sbx_init_rootfs makes itself), and the loopback of a network
 * namespace of the sandbox's own, up.
 */
struct sbx_init_premade {
    int proc;
    int dev;
    bool lo_up;
};

/* The argument sbx-init gets when it was cloned into a network namespace of its own. */
#define SBX_INIT_ARG_OWN_NETNS "netns"

/* Before the SPEC: makes what it can of struct sbx_init_premade; it never fails. */
void sbx_init_premount(struct sbx_init_premade *ret);
/*
 * A root built ahead of the request, on PREPARE (a spare init): the image
 * or its overlay, /proc, /dev, /tmp and the kernel filesystems.  Takes m's
 * fields; the image fd stays the caller's.  NULL if it cannot be built.
 */
struct sbx_init_root;
struct sbx_init_root *sbx_init_prepare(struct sbx_msg_prepare *m, int image,
                                       const struct sbx_init_premade *pre);
void sbx_init_root_free(struct sbx_init_root *p);
/*
 * Mounts, pivot_root; on return the process is inside the new root.  The
 * root gets copies of the premade trees; those stay detached, seen by no
 * one, until init exits.  With SBX_SPEC_PREPARED the root is prepared's,
 * if it was built for spec's fields; otherwise a new one is built from the
 * spec's image, and prepared, if any, is left unused.
 */
int sbx_init_rootfs(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                    const struct sbx_init_premade *pre, struct sbx_init_root *prepared,
                    struct sbx_error *e);
/* The loopback interface up (in the sandbox's own network namespace). */
int sbx_init_lo_up(struct sbx_error *e);
/* Hostname, and the loopback unless pre already brought it up. */
int sbx_init_uts_net(const struct sbx_spec *spec, const struct sbx_init_premade *pre,
                     struct sbx_error *e);
/* With SBX_SPEC_TTY: a pty in the sandbox's devpts, its slave owned by the guest's ids. */
int sbx_init_open_pty(const struct sbx_spec *spec, int *ret_master, int *ret_slave,
                      struct sbx_error *e);
/* Asks which signals init's actions leave at their default, for the guests to come. */
void sbx_init_note_signals(void);
/*
 * Starts the guest, or exec'd process exec_id (0 for the guest); returns its
 * pid, or -errno with e filled and the kind of failure.  The listener of the
 * policy's kill rules goes to ctl as NOTIFY, or INIT_EXEC_NOTIFY for exec_id.
 */
int sbx_init_spawn_guest(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                         const char *path, int ctl, uint32_t exec_id, struct sbx_error *e,
                         unsigned *ret_kind);
/*
 * In the guest's process: installs the policy's program with a listener
 * for its kill rules, handed out through SBX_FD_NOTIFY, or with plain kills
 * when no listener can be had.  0, or -1 with errno set.
 */
int sbx_init_notify_install(struct sock_fprog *prog);
/*
 * In init: passes a listener waiting on sock to ctl as NOTIFY (exec_id 0) or
 * as INIT_EXEC_NOTIFY for exec'd process exec_id; 1 if one was, 0 if none.
 */
int sbx_init_notify_forward(int sock, int ctl, uint32_t exec_id);

/* Finds the spec's argv[0] in the new root as execvp would: 0 with its path in out, or -ENOENT. */
int sbx_init_resolve_program(const struct sbx_spec *spec, char *out, size_t len);
/*
 * SBX_SPEC_EXEC: reaps, starts the daemon's INIT_EXEC requests with
 * sbx_init_spawn_guest(), until guest ends; returns its wait status, or -1.
 */
int sbx_init_serve(int ctl, const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                   pid_t guest);
