/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxd-oci: a runc-compatible OCI runtime.  The bundle's config.json
 * becomes the SPEC that sbx-init (the files of init/) builds every sandbox
 * from, and the policy model (policy/) compiles its seccomp profile under
 * the baseline; this module only translates, keeps state and supervises.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/cgroup.h"
#include "policy/policy.h"
#include "proto/proto.h"
#include "sbx/error.h"

/* A bind mount of the bundle: its host source, opened as a detached tree at create. */
struct sbx_oci_bind {
    char *source;
    bool recursive;
};

/* A namespaced sysctl, written in the sandbox before the guest runs. */
struct sbx_oci_sysctl {
    char *key;
    char *value;
};

/* The most bind mounts one container may have: they ride one SPEC frame with 7 fixed fds. */
#define SBX_OCI_MAX_BINDS (SBX_PROTO_MAX_FDS - 7)

/*
 * linux.resources.cpu as the kernel takes it (cpu.c): the relative weight
 * (0: the default) and the quota per period in microseconds (quota 0: none).
 */
struct sbx_oci_cpu {
    uint64_t shares;
    uint64_t quota, period;
};

/* The namespaces a container may join by path instead of making its own. */
enum sbx_oci_ns { SBX_OCI_NS_NET, SBX_OCI_NS_IPC, SBX_OCI_NS_UTS, SBX_OCI_NS_N };
/* SBX_OCI_NS_* for an OCI namespace type ("network", "ipc", "uts"), else -1. */
int sbx_oci_ns_kind(const char *type);

/* The process part of config.json, or an exec's process.json. */
struct sbx_oci_process {
    struct sbx_spec spec; /* argv, env, cwd, identity, caps, rlimits, umask, SBX_SPEC_TTY */
    int oom_score_adj;
    bool has_oom_score_adj;
    uint16_t console_rows, console_cols;
};

struct sbx_oci_config {
    struct sbx_oci_process proc;   /* proc.spec is the whole SPEC, mounts included */
    struct sbx_policy *policy;     /* syscalls (the bundle's profile), for the filter */
    char *root_path;               /* absolute: the bundle's root.path resolved */
    struct sbx_oci_bind *binds;    /* as many as proc.spec.binds */
    char *join_path[SBX_OCI_NS_N]; /* a namespace to join, by path, or NULL: a new one */
    bool net_host;                 /* no network namespace in the config: the host's */
    char *cgroups_path;            /* linux.cgroupsPath, or NULL */
    struct sbx_cg_limits limits;
    struct sbx_oci_cpu cpu;
    struct sbx_oci_sysctl *sysctl;
    size_t n_sysctl;
    char *annotations_json; /* the annotations object as text, for `state` */
};

/*
 * Reads BUNDLE/config.json.  systemd_cgroup: --systemd-cgroup was given
 * (cgroupsPath is "slice:prefix:name").  0, or -errno with e naming the
 * field that is wrong or unsupported.
 */
int sbx_oci_config_load(const char *bundle, const char *id, bool systemd_cgroup,
                        struct sbx_oci_config *ret, struct sbx_error *e);
void sbx_oci_config_free(struct sbx_oci_config *c);

/*
 * An exec's process.json: what the config's process says, for a process
 * that joins a running container.  mode comes from the container.
 */
int sbx_oci_process_load(const char *path, uint32_t mode, struct sbx_oci_process *ret,
                         struct sbx_error *e);
void sbx_oci_process_free(struct sbx_oci_process *p);

/* ---- state (state.c) ---- */

/* What `create` records for the other commands, in ROOT/ID/state.json. */
struct sbx_oci_state {
    char *id;
    char *bundle;
    char *rootfs;
    char *created; /* RFC 3339 */
    char *annotations_json;
    pid_t monitor;          /* the process in --pid-file, child of the engine */
    uint64_t monitor_start; /* its start time (clock ticks), against pid reuse */
    pid_t init;             /* sbx-init, pid 1 of the sandbox */
    uint64_t init_start;
    pid_t guest; /* the guest's main process, once started */
    uint64_t guest_start;
    uint32_t mode;
    bool started;
    struct sbx_cgroup cg; /* paths only; v2_fd is -EBADF */
    char *freezer_v1;     /* the v1 freezer group, on a host without cgroup v2; or NULL */
};

/* Where state goes: ROOT/ID, checked to be a plain id. */
int sbx_oci_state_dir(const char *root, const char *id, char *buf, size_t len, struct sbx_error *e);
int sbx_oci_state_write(const char *dir, const struct sbx_oci_state *s, struct sbx_error *e);
/* -ENOENT when there is no such container (e says so). */
int sbx_oci_state_read(const char *dir, struct sbx_oci_state *ret, struct sbx_error *e);
void sbx_oci_state_free(struct sbx_oci_state *s);
/* A process's start time from /proc/PID/stat, 0 when it is gone. */
uint64_t sbx_oci_start_time(pid_t pid);
/* Whether pid is still the process that started at start. */
bool sbx_oci_alive(pid_t pid, uint64_t start);
/* "created", "running", "paused" or "stopped". */
const char *sbx_oci_status(const struct sbx_oci_state *s);
/* Removes the state directory and what is in it; 0 or -errno. */
int sbx_oci_state_remove(const char *dir);

/* ---- commands ---- */

struct sbx_oci_global {
    const char *root; /* --root */
    bool systemd_cgroup;
};

int sbx_oci_cmd_create(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_start(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_run(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_state(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_kill(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_delete(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_ps(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_pause(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_resume(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);
int sbx_oci_cmd_features(const struct sbx_oci_global *g, int argc, char **argv,
                         struct sbx_error *e);
int sbx_oci_cmd_exec(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e);

/* Sets c's cpu weight and quota on cg, made from root; 0, or -errno with e filled. */
int sbx_oci_cpu_apply(const struct sbx_cgroup_root *root, struct sbx_cgroup *cg,
                      const struct sbx_oci_cpu *cpu, struct sbx_error *e);

/* ---- namespaces joined by path (nsjoin.c) ---- */

/*
 * Opens the namespaces c joins (fds[kind], else -EBADF): a /proc/PID/ns/X
 * of a container's monitor under root means that container's sandbox.
 * Refuses the host's own.  0, or -errno with e naming the path.
 */
int sbx_oci_ns_open(const char *root, const struct sbx_oci_config *c, int fds[SBX_OCI_NS_N],
                    struct sbx_error *e);
void sbx_oci_ns_close(int fds[SBX_OCI_NS_N]);
/* CLONE_NEWNET, CLONE_NEWIPC or CLONE_NEWUTS for SBX_OCI_NS_*. */
int sbx_oci_ns_clone_flag(int kind);

/* ---- shared by create and exec (monitor.c) ---- */

/* Sends fd over the Unix socket at path (--console-socket), as runc does. */
int sbx_oci_send_console(const char *path, int fd, struct sbx_error *e);
/* The same in two steps: connect while the host's paths are in view, send later. */
int sbx_oci_console_connect(const char *path, struct sbx_error *e);
int sbx_oci_console_send(int sock, const char *path, int fd, struct sbx_error *e);
/* Writes pid to path atomically (--pid-file). */
int sbx_oci_write_pid_file(const char *path, pid_t pid, struct sbx_error *e);
/*
 * Kills what is left in the container's cgroups and removes them, the v1
 * freezer group (or NULL) and the parents made for them once empty.
 */
void sbx_oci_cgroup_destroy(struct sbx_cgroup *cg, const char *freezer_v1);
/*
 * --preserve-fds N: runc's, the caller's fds 3 .. 3+N-1 go to the
 * container's process as they are.  *ret is N once each is checked open.
 */
int sbx_oci_preserve_fds(const char *arg, unsigned *ret, struct sbx_error *e);
/* Reads len bytes unless EOF comes first (a status larger than PIPE_BUF arrives in parts). */
ssize_t sbx_oci_read_full(int fd, void *buf, size_t len);
/* A signal by name ("TERM", "SIGTERM") or number; -EINVAL if neither. */
int sbx_oci_parse_signal(const char *s);
/* The exit status the monitor ends with for a guest's wait status: code, or 128 + signal. */
int sbx_oci_exit_status(unsigned kind, unsigned code);
