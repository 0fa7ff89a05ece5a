/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A RUN request: policy, image, identity and environment turned into a sandbox. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon/image-config.h"
#include "policy/policy.h"
#include "proto/proto.h"
#include "sbx/error.h"

/* RUN carries the image, stdin, stdout and stderr. */
#define SBX_RUN_FIXED_FDS 4

struct sbx_caller;
struct sbx_daemon;
struct sbx_sandbox;
struct sbx_sandbox_owner;
struct sbx_policy;

/* A RUN between its frame and the start of its sandbox. */
struct sbx_run_req {
    struct sbx_msg_run run;
    struct sbx_policy *policy;
    struct sbx_frame frame; /* RUN's fds: image, stdin, stdout, stderr (owned) */
    unsigned n_binds;       /* bind sources the client must open */
    bool writable_image;
    /*
     * The policy is the operator's: named, from a root-owned file of the
     * policy directory that only root may change.  It may give the guest ids
     * other than the caller's.
     */
    bool operator_policy;
    /*
     * Options of the request (pointing into run.options): the first one that
     * made the policy need root, and the last --user, for messages.
     */
    const char *root_option, *user_option;
    /* The last option that set a limit or a size (--memory, --tmpfs...). */
    const char *limit_option;
    /* What the policy gave before the options: their bound over an operator's policy. */
    struct sbx_policy_bounds policy_bounds;
    /* A built image's config, and the guest's argv made with it (owned). */
    struct sbx_image_config image_config;
    char **argv;
    uint32_t argc;
    bool image_user; /* the guest's user is the image config's */
};

/*
 * Decodes and checks a RUN frame (taking its fds) and loads its policy.
 * Returns 0 when the sandbox can start at once, 1 when the client must first
 * open host paths (*ret_open then says which), <0 with e on failure.
 */
int sbx_run_prepare(struct sbx_daemon *d, const struct sbx_caller *who, struct sbx_frame *f,
                    struct sbx_run_req **ret, struct sbx_msg_open *ret_open, struct sbx_error *e);
/* Starts the sandbox, which reports to owner; extra is the FDS frame when OPEN was sent, else NULL.
 */
int sbx_run_start(struct sbx_daemon *d, const struct sbx_caller *who,
                  const struct sbx_sandbox_owner *owner, struct sbx_run_req *req,
                  struct sbx_frame *extra, struct sbx_sandbox **ret, struct sbx_error *e);
void sbx_run_req_free(struct sbx_run_req *req);
/* How many fds the FDS frame of a request must carry (0 for NULL). */
unsigned sbx_run_req_fds_wanted(const struct sbx_run_req *req);

/*
 * The guest's uid, gid and groups from p's user, group and groups: names
 * from the image's /etc/passwd and /etc/group under mount_fd, and refused
 * with e where who may not have them (operator_policy: p is the operator's;
 * userns: the sandbox has a user namespace of its own, whose every id is
 * the caller's to choose).
 */
int sbx_run_resolve_identity(const struct sbx_caller *who, const struct sbx_policy *p,
                             bool operator_policy, bool userns, int mount_fd, struct sbx_spec *spec,
                             uint32_t **ret_groups, struct sbx_error *e);
/* Compiles a policy's filter (sbx_policy_export_bpf's flags) into a sealed memfd. */
int sbx_run_compile_policy(const struct sbx_policy *p, unsigned flags, int *ret_fd);
