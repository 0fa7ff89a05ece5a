/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Workload policies: YAML text in, a validated model and a compiled seccomp
 * program out.  Pure code: no I/O beyond the fd handed to the exporter (and
 * the anonymous memfds libseccomp 2.5 needs to hand a program back), no
 * logging.  docs/policy.md describes every key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "sbx/abi.h"
#include "sbx/error.h"

/* One problem found in a policy, with its position (1-based; 0 = unknown). */
struct sbx_diag {
    char *file;
    unsigned line;
    unsigned col;
    char *message;
};

struct sbx_diags {
    struct sbx_diag *items;
    size_t n;
    size_t cap;
};
void sbx_diags_free(struct sbx_diags *d);
/*
 * Writes "FILE:LINE:COL: message\n" for each diagnostic into a fresh string
 * ("FILE: message\n" for one without a position).
 */
char *sbx_diags_format(const struct sbx_diags *d);

enum sbx_action_kind {
    SBX_ACT_ALLOW,
    SBX_ACT_ERRNO, /* with err */
    SBX_ACT_KILL,  /* kill the process */
    SBX_ACT_LOG,   /* allow and log */
    SBX_ACT_TRAP,  /* SIGSYS to the guest's trampoline */
    SBX_ACT_TRACE, /* reserved for the trampoline: allowed and recorded */
};

struct sbx_action {
    enum sbx_action_kind kind;
    int err; /* positive errno for SBX_ACT_ERRNO */
};

enum sbx_cmp_op {
    SBX_CMP_EQ,
    SBX_CMP_NE,
    SBX_CMP_LT,
    SBX_CMP_LE,
    SBX_CMP_GT,
    SBX_CMP_GE,
    SBX_CMP_MASKED_EQ,
};

struct sbx_arg_cond {
    unsigned index; /* 0..5 */
    enum sbx_cmp_op op;
    uint64_t value;
    uint64_t mask; /* SBX_CMP_MASKED_EQ only */
};

struct sbx_rule {
    struct sbx_action action;
    int *syscalls; /* native x86-64 numbers */
    size_t n_syscalls;
    struct sbx_arg_cond *args;
    size_t n_args;
    unsigned line, col;
};

enum sbx_mount_type { SBX_MOUNT_BIND, SBX_MOUNT_TMPFS };

struct sbx_mount {
    enum sbx_mount_type type;
    char *source; /* bind: host path, opened by the client */
    char *target; /* absolute path in the sandbox */
    bool readonly;
    uint64_t size; /* tmpfs bytes, 0 = default */
    uint32_t mode; /* tmpfs root mode */
    bool option;   /* added by a command-line option (sbx_policy_apply_option) */
};

struct sbx_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t cur, max;
};

enum sbx_network { SBX_NET_NONE, SBX_NET_HOST };
/* private: a user namespace of the sandbox's own (where the daemon has host ids for one). */
enum sbx_userns { SBX_USERNS_PRIVATE, SBX_USERNS_HOST };

/*
 * What a sandbox gets when its policy says nothing: enough for ordinary
 * work, little enough that one sandbox cannot take the host's memory or pids.
 * docs/policy.md gives the reasons; a policy may raise or lower each.
 */
#define SBX_POLICY_DEFAULT_MEMORY (1ull << 30) /* 1 GiB */
#define SBX_POLICY_DEFAULT_PIDS 1024
#define SBX_POLICY_DEFAULT_OVERLAY_SIZE (1ull << 30) /* writes over the image: 1 GiB */
#define SBX_POLICY_DEFAULT_TMP_SIZE (512ull << 20)   /* /tmp: 512 MiB */
#define SBX_POLICY_DEFAULT_SHM_SIZE (64ull << 20)    /* /dev/shm: 64 MiB */

/*
 * The largest policy file, wherever it is read (policy check, sandboxctl run
 * --policy FILE, the daemon's named policies): what one string of the
 * protocol holds, so that a file that checks can also be sent.  Policies are
 * hand-written or learned text; anything larger is a mistake or an attack.
 */
#define SBX_POLICY_MAX_BYTES (64u * 1024)

struct sbx_policy {
    char *name;

    /* syscalls */
    enum sbx_syscall_mode mode;
    bool mode_set; /* false: the daemon's default mode */
    struct sbx_action default_action;
    bool baseline; /* merge the built-in deny list (default true) */
    struct sbx_rule *rules;
    size_t n_rules;

    /* filesystem */
    bool writable_image;
    struct sbx_mount *mounts;
    size_t n_mounts;
    char **masked;
    size_t n_masked;
    /* tmpfs sizes in bytes, 0 = unlimited; SBX_POLICY_DEFAULT_* unless set */
    uint64_t overlay_size; /* the writable layer over a read-only image */
    uint64_t tmp_size;     /* /tmp */
    uint64_t shm_size;     /* /dev/shm */

    /* process */
    char *user;    /* "NAME" or "UID", NULL = default (the caller's own uid) */
    char *group;   /* "NAME" or "GID", NULL = the user's primary group */
    char **groups; /* supplementary, names or numbers */
    size_t n_groups;
    char *cwd;  /* default "/" */
    char **env; /* "KEY=VALUE" */
    size_t n_env;
    bool env_replace;   /* true: env is the whole environment */
    char *hostname;     /* default "sandbox" */
    uint64_t caps_keep; /* bit n = keep capability n */
    struct sbx_rlimit *rlimits;
    size_t n_rlimits;
    int umask; /* -1 = unset (022) */

    /* limits; 0 = unlimited; memory and pids are SBX_POLICY_DEFAULT_* unless set */
    uint64_t memory; /* bytes */
    uint64_t pids;
    uint64_t cpu_millis; /* thousandths of a CPU, 500 = half a core */
    uint64_t timeout_ms;

    enum sbx_network network;
    enum sbx_userns userns;

    /* Set by the policy, not defaults: such a limit must be enforceable, a default need not be. */
    bool memory_set, pids_set;

    /* Where the policy came from and where its limits were set, for diagnostics. */
    char *file;
    unsigned memory_line, memory_col;
    unsigned pids_line, pids_col;
    unsigned cpu_line, cpu_col;
    /* A limit set by a command-line option: the option as typed, in place of file:line:col. */
    char *memory_option, *pids_option, *cpu_option;
};

/*
 * Parses and validates.  0 with *ret set, or -EINVAL with every problem found
 * appended to diags (nothing in *ret), or -ENOMEM.  A policy that parses
 * also compiles: validation includes compiling its rules.
 */
int sbx_policy_parse(const char *text, size_t len, const char *file, struct sbx_policy **ret,
                     struct sbx_diags *diags);

/*
 * The options of `sandboxctl run` that set policy fields, as RUN carries
 * them: "NAME=VALUE", NAME a long option without its dashes ("memory=256M",
 * "volume=/srv:/data:rw").  Applies one to p, validated by the code that
 * validates the YAML key it sets (docs/policy.md pairs them); it wins over
 * the policy and over earlier options.  0; -EINVAL with diagnostics whose
 * file is the option as typed ("--memory 12Q") and whose line is 0 (no
 * position), p unchanged; or -ENOMEM.
 */
int sbx_policy_apply_option(struct sbx_policy *p, const char *option, struct sbx_diags *diags);
/* More options than this in one request are refused (each may add a mount). */
#define SBX_POLICY_MAX_OPTIONS 256

/* The policy used when none is named: baseline on, default allow. */
int sbx_policy_new_default(struct sbx_policy **ret);

void sbx_policy_free(struct sbx_policy *p);

/*
 * The syscall section in the policy's own words (describe.c): an action as
 * `action:` takes it ("errno EACCES"), a comparison as `op:` takes it, a
 * syscall's x86-64 name ("?" if libseccomp has none).
 */
const char *sbx_policy_action_text(const struct sbx_action *a, char *buf, size_t len);
const char *sbx_policy_cmp_name(enum sbx_cmp_op op);
const char *sbx_policy_syscall_name(int nr, char *buf, size_t len);

/* Facts about one sandbox that the filter depends on, known only when it starts. */
enum sbx_policy_run_flags {
    /* The guest holds host id 0: its uid, its gid or one of its groups. */
    SBX_POLICY_GUEST_ROOT = 1u << 0,
};

/*
 * Compiles the syscall section (rules + baseline + default) with libseccomp
 * for x86-64 only (other ABIs are killed) and writes the classic BPF
 * program (an array of struct sock_filter) to fd.  flags are
 * sbx_policy_run_flags: with SBX_POLICY_GUEST_ROOT (or kept capabilities
 * that lead to root) and a place where writes outlive the sandbox (a
 * writable bind mount or a writable image), the baseline refuses set-id
 * modes.  0 or -errno.
 */
int sbx_policy_export_bpf(const struct sbx_policy *p, unsigned flags, int fd);

/* What the host can enforce; the caller detects it (cgroup controllers present). */
struct sbx_host_features {
    bool memory; /* a memory controller: limits.memory */
    bool pids;   /* a pids controller: limits.pids */
    bool cpu;    /* a cpu controller: limits.cpu */
};

/*
 * Checks that every limit the policy sets can be enforced on a host with
 * features h; a limit that cannot is an error, never silently dropped.  0, or
 * -EOPNOTSUPP with one diagnostic per such key (positioned when the policy
 * came from sbx_policy_parse).  The default memory and pids limits are not
 * checked: on a host that cannot enforce them, sandboxes run without them
 * (see sbx_policy_limits).
 */
int sbx_policy_check_host(const struct sbx_policy *p, const struct sbx_host_features *h,
                          struct sbx_diags *diags);

/* The cgroup limits of the policy that a host with features h enforces (0 = none). */
struct sbx_policy_limits {
    uint64_t memory, pids, cpu_millis;
};
void sbx_policy_limits(const struct sbx_policy *p, const struct sbx_host_features *h,
                       struct sbx_policy_limits *ret);

/*
 * What in the policy only root may ask for: baseline opt-out, kept
 * capabilities, host network, the host's user namespace.  (A guest uid of 0
 * in the host's user namespace also needs root; the daemon checks that after
 * resolving the identity.)  0 when nothing, 1 with
 * *ret_what naming the first such setting as a user would write it
 * ("network: host").
 */
int sbx_policy_needs_root(const struct sbx_policy *p, const char **ret_what);
/*
 * The same for a daemon that gives sandboxes user namespaces of their own:
 * with `userns: private` the capabilities kept are the namespace's, over
 * the sandbox's own ids and namespaces only, and any caller may keep them.
 */
int sbx_policy_needs_root_userns(const struct sbx_policy *p, const char **ret_what);

/*
 * How much of the host a policy gives a sandbox, as a bound for another
 * policy: memory and pids limits, CPU share, timeout, the writable layers'
 * sizes, the largest tmpfs mount, and each rlimit (0 = unlimited for the
 * first ones; an rlimit the policy leaves unset is bounded by hard[], the
 * daemon's own hard limits, RLIM_NLIMITS entries).
 */
struct sbx_policy_bounds {
    uint64_t memory, pids, cpu_millis, timeout_ms;
    uint64_t overlay_size, tmp_size, shm_size, tmpfs_size;
    uint64_t rlimit_max[RLIM_NLIMITS];
};
void sbx_policy_bounds_of(const struct sbx_policy *p, const uint64_t *hard,
                          struct sbx_policy_bounds *ret);
/*
 * What in the policy asks for more than the bounds give (a limit above its
 * bound, or unlimited where the bound is not): 0 when nothing, 1 with
 * *ret_what naming the first such setting as a user would write it
 * ("limits: memory").  A caller other than root is bounded by the default
 * policy's, or by an operator's policy it adds options to.
 */
int sbx_policy_exceeds(const struct sbx_policy *p, const struct sbx_policy_bounds *b,
                       const char **ret_what);

/*
 * Resolves user/group/groups against the text of the image's /etc/passwd
 * and /etc/group (either may be NULL when the image has none).  Numeric
 * values need no files.  0, or -ENOENT with e saying which name, or -EINVAL.
 * An unset user gives *ret_uid = UINT32_MAX (the daemon uses the caller's
 * uid); the gid is then UINT32_MAX too unless group is set.  A numeric uid
 * that the image's passwd does not list gets the gid of the same number.
 * *ret_groups is malloc'ed (NULL when there are none).
 */
int sbx_policy_resolve_identity(const struct sbx_policy *p, const char *passwd, const char *group,
                                uint32_t *ret_uid, uint32_t *ret_gid, uint32_t **ret_groups,
                                size_t *ret_n_groups, struct sbx_error *e);

/*
 * 0 when user, group and groups are all numbers and a set user comes with
 * its gid (user: UID:GID, or group:), so that resolving them needs no file
 * of the image; else -EPERM with e saying why.
 */
int sbx_policy_identity_numeric(const struct sbx_policy *p, struct sbx_error *e);
