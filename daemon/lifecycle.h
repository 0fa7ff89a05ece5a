/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lifecycle of sandboxes as their owners see it: every sandbox has an
 * id and an owner, and is listed while it runs; a detached one (run -d) also
 * has a name, a log kept by the daemon and a record under the state
 * directory that outlives it and the daemon.  The requests PS .. INSPECT act
 * on them, each caller on its own sandboxes only and root on all.
 * record.c reads and writes the records, logs.c the logs.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "daemon/cgroup.h"
#include "proto/proto.h"
#include "sbx/error.h"

struct sbx_caller;
struct sbx_daemon;
struct sbx_client;
struct sbx_sandbox;
struct sbx_run_req;
struct sbx_policy;

/* Defaults of the daemon options that bound what a caller keeps (docs/man/sandboxd.8.scd). */
#define SBX_LIFE_DEFAULT_MAX_DETACHED 32     /* detached sandboxes running, per uid */
#define SBX_LIFE_DEFAULT_MAX_RECORDS 128     /* records kept (running or ended), per uid */
#define SBX_LIFE_DEFAULT_LOG_SIZE (1u << 20) /* bytes of log per sandbox, both files */
#define SBX_LIFE_MIN_LOG_SIZE (64u << 10)
#define SBX_LIFE_ID_LEN 12 /* hex digits of an id */
/*
 * Descriptors a detached sandbox holds with no connection to count them:
 * init's and the guest's pidfds, the control socket, the statistics memfd,
 * the cgroup's directory, the log's two pipes, file and directory, and
 * slack for v1 groups.
 */
#define SBX_LIFE_FDS_PER_DETACHED 12
#define SBX_LIFE_MIN_DETACHED_ALL 16

/* One detached sandbox's log: two pipes in, two files out (logs.c). */
struct sbx_log_stream {
    int fd; /* read end, non-blocking; -EBADF once at end of file */
    uv_poll_t poll;
    bool partial; /* the last record of this stream was a partial line */
    const char *tag;
};

struct sbx_log {
    int file_fd;      /* "log", written at its end; -EBADF when it cannot be written */
    uint64_t size;    /* bytes in file_fd */
    uint64_t half;    /* a file is rotated to "log.1" before it grows past this */
    uint64_t dropped; /* bytes that could not be written (a full disk) */
    struct sbx_log_stream out, err;
    int write_out, write_err; /* the write ends, until the SPEC has gone */
};

/*
 * An exec'd process's own seccomp listener, watched for its kill rules
 * (killnotif.c) from INIT_EXEC_NOTIFY until the process's INIT_EXEC_END.
 * At most SBX_LIFE_MAX_EXEC_WATCHES at once per sandbox: init runs no more
 * exec'd processes than that at a time.
 */
#define SBX_LIFE_MAX_EXEC_WATCHES 64
struct sbx_exec_watch {
    uint32_t id;
    struct sbx_killnotif *k;
};

struct sbx_life {
    struct sbx_daemon *d;
    char id[SBX_LIFE_ID_LEN + 1];
    char *name; /* detached only */
    uint32_t uid, gid;
    bool guest_id_zero; /* the guest holds uid, gid or a group 0: its filter was compiled so */
    char *image;        /* the image file as the daemon sees its fd, for people */
    char **argv;
    uint32_t argc;
    uint32_t mode;
    char *policy; /* "default", a policy name or the file it came from */
    struct sbx_cg_limits limits;
    uint64_t timeout_ms;
    json_object *mounts;   /* owned: the policy's mounts, as inspect shows them */
    json_object *syscalls; /* owned: its syscall section, default and rules (lifecycle-policy.c) */
    bool detached;
    bool running;
    int64_t started_ms, ended_ms;  /* wall clock, ms since the epoch */
    uint64_t sandbox_no;           /* the daemon's number of it, in its log lines */
    uint32_t exit_kind, exit_code; /* enum sbx_exit_kind, once ended */
    char *exit_message;
    struct sbx_sandbox *sandbox; /* while it runs; not owned */
    int dir_fd;                  /* STATE/sandboxes/ID, detached only */
    struct sbx_log log;
    bool reported; /* the end is known; the log may still be draining */
    bool removing; /* rm -f: forget it once it has ended */
    uv_timer_t stop_timer;
    unsigned handles_open; /* libuv handles that must close before the struct goes */
    bool freeing;
    struct sbx_client *waiters;          /* WAIT, STOP, LOGS -f, RM -f: answered at the end */
    struct sbx_exec_watch *exec_watches; /* while the sandbox runs (lifecycle-exec.c) */
    unsigned n_exec_watches;
    struct sbx_life *next;
};

struct sbx_lifecycle {
    struct sbx_life *lives; /* running ones and the records */
    int dir_fd;             /* STATE/sandboxes */
    int64_t started_ms;
    uint32_t next_exec;        /* the last exec's id (lifecycle-exec.c) */
    uint64_t loop_started;     /* sbx_daemon_now() at start, for the uptime */
    unsigned max_detached_all; /* running detached sandboxes of all uids: what nofile leaves */
};

/* What a dead daemon left under the state directory: mounts, loop devices (lifecycle-clean.c). */
void sbx_lifecycle_clean(struct sbx_daemon *d);
/* Opens STATE/sandboxes and loads the records; a record that was running is marked killed. */
int sbx_lifecycle_init(struct sbx_daemon *d, struct sbx_error *e);
void sbx_lifecycle_done(struct sbx_daemon *d);

/*
 * A RUN request's sandbox-to-be: its id, owner, command and, detached, its
 * name, record and log pipes (out[0], out[1]: the guest's stdout and stderr,
 * replacing the client's).  Refused with e when over a limit or the name is
 * taken.  begin() after the sandbox started, abort() when it did not.
 */
int sbx_lifecycle_prepare(struct sbx_daemon *d, const struct sbx_caller *who,
                          const struct sbx_run_req *req, const struct sbx_spec *spec, int image_fd,
                          struct sbx_life **ret, int out[2], struct sbx_error *e);
void sbx_lifecycle_begin(struct sbx_life *l, struct sbx_sandbox *s,
                         const struct sbx_cg_limits *limits, uint64_t timeout_ms);
void sbx_lifecycle_abort(struct sbx_life *l);

/* From sandbox.c: the guest runs (GUEST), the guest ended (EXIT), the sandbox is gone. */
void sbx_lifecycle_guest_started(struct sbx_sandbox *s);
void sbx_lifecycle_exited(struct sbx_sandbox *s, const struct sbx_msg_exit *m);
void sbx_lifecycle_gone(struct sbx_sandbox *s);

/* From server.c: a frame PS .. INSPECT; a waiting client that goes away. */
void sbx_lifecycle_request(struct sbx_client *c, struct sbx_frame *f);
void sbx_lifecycle_client_gone(struct sbx_client *c);

/* exec (lifecycle-exec.c): the request, init's frames about it, the client's signals and end. */
void sbx_lifecycle_exec(struct sbx_client *c, struct sbx_life *l, struct sbx_frame *f);
bool sbx_lifecycle_init_frame(struct sbx_sandbox *s, struct sbx_frame *f);
void sbx_lifecycle_exec_signal(struct sbx_client *c, const struct sbx_frame *f);
void sbx_lifecycle_exec_gone(struct sbx_client *c);
/* The sandbox of l is gone: so are its exec'd processes' listeners. */
void sbx_lifecycle_exec_watches_free(struct sbx_life *l);
/* c waits for l (req: the request's frame type), or no more. */
void sbx_lifecycle_wait_on(struct sbx_life *l, struct sbx_client *c, uint16_t req);
void sbx_lifecycle_unwait(struct sbx_client *c);

/* lifecycle-status.c: STATUS's document for uid; a running sandbox's usage (NULL if none). */
json_object *sbx_lifecycle_status_json(struct sbx_daemon *d, uid_t uid);
json_object *sbx_life_usage_json(const struct sbx_life *l);

/* The effective syscall policy of p, as inspect shows it (lifecycle-policy.c). */
json_object *sbx_life_syscalls_json(const struct sbx_policy *p);

/* Between lifecycle.c, record.c and logs.c. */
json_object *sbx_life_to_json(const struct sbx_life *l);
int sbx_record_save(struct sbx_life *l);
int sbx_record_load(struct sbx_daemon *d, int dir_fd, const char *name, struct sbx_life **ret,
                    struct sbx_error *e);
void sbx_life_free(struct sbx_life *l);
const char *sbx_exit_kind_name(uint32_t kind);
void sbx_format_time(int64_t ms, char *buf, size_t len);

int sbx_log_open(struct sbx_life *l, uint64_t log_size, struct sbx_error *e);
int sbx_log_start(struct sbx_life *l);
/* Called by logs.c: a new "log" file was begun; both pipes are at end of file. */
void sbx_lifecycle_log_rotated(struct sbx_life *l);
void sbx_lifecycle_log_ended(struct sbx_life *l);
/* Reads what the pipes hold now; true once both are at end of file. */
bool sbx_log_drained(struct sbx_life *l);
void sbx_log_close(struct sbx_life *l);
/* The log's files (log.1, log), opened for reading; returns how many (0-2) or -errno. */
int sbx_log_files(struct sbx_life *l, int fds[2]);
