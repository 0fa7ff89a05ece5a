/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandboxd wire protocol: framing, typed fields, and fd passing.
 * Pure code except for sbx_proto_send()/sbx_proto_recv(), which do I/O on the
 * socket they are given.  docs/protocol.md is the reference for the format.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SBX_PROTO_MAGIC 0x31584253u /* "SBX1" as little-endian bytes */
#define SBX_PROTO_VERSION 1
#define SBX_PROTO_HEADER_SIZE 16
#define SBX_PROTO_FIELD_HEADER_SIZE 8
#define SBX_PROTO_MAX_PAYLOAD (1u << 20) /* 1 MiB */
#define SBX_PROTO_MAX_FDS 16             /* per frame */
#define SBX_PROTO_MAX_FIELDS 8192        /* per frame */
#define SBX_PROTO_MAX_STRING 65536       /* bytes, for any single string field */
#define SBX_PROTO_MAX_ARGS 4096          /* argv or env entries */

/* Frame types.  Client <-> daemon: */
enum sbx_msg_type {
    SBX_MSG_HELLO = 1,   /* client -> daemon, first frame */
    SBX_MSG_WELCOME = 2, /* daemon -> client, answer to HELLO */
    SBX_MSG_ERROR = 3,   /* either way; the sender closes after it */
    SBX_MSG_RUN = 4,     /* client -> daemon, with fds */
    SBX_MSG_STARTED = 5, /* daemon -> client */
    SBX_MSG_EXIT = 6,    /* daemon -> client, last frame of a run */
    SBX_MSG_SIGNAL = 7,  /* client -> daemon: a signal for the guest */
    SBX_MSG_OPEN = 8,    /* daemon -> client: host paths to open for the policy */
    SBX_MSG_FDS = 9,     /* client -> daemon: the fds OPEN asked for */
    SBX_MSG_TTY = 10,    /* init -> daemon -> client: the master of the guest's pty */
    /* The lifecycle of detached sandboxes (run -d), client -> daemon (CTL frames): */
    SBX_MSG_PS = 11,      /* list the caller's sandboxes; answer REPLY */
    SBX_MSG_LOGS = 12,    /* a sandbox's log; answer LOG (and, following, LOG, EXIT) */
    SBX_MSG_WAIT = 13,    /* answer EXIT once the sandbox has ended */
    SBX_MSG_STOP = 14,    /* SIGTERM, SIGKILL after value seconds; EXIT once ended */
    SBX_MSG_KILL = 15,    /* signal value to the guest; answer REPLY */
    SBX_MSG_RM = 16,      /* forget an ended sandbox (a running one with FORCE); REPLY */
    SBX_MSG_INSPECT = 17, /* everything known of one sandbox; answer REPLY */
    SBX_MSG_EXEC = 18,    /* a new process in a running detached sandbox, with fds; as RUN */
    SBX_MSG_STATUS = 19,  /* the daemon's version, uptime, counts; answer REPLY */
    SBX_MSG_REPLY = 20,   /* daemon -> client: a JSON document */
    SBX_MSG_LOG = 21,     /* daemon -> client: the log's files, oldest first, as fds */
    SBX_MSG_TRACE = 22,   /* daemon -> client: the memfd holding the sandbox's trace ring */
    /* daemon <-> sandbox init, on a private socketpair: */
    SBX_MSG_SPEC = 64,      /* daemon -> init, with fds */
    SBX_MSG_REPORT = 65,    /* init -> daemon */
    SBX_MSG_GUEST = 66,     /* init -> daemon: a pidfd of the guest's main process */
    SBX_MSG_NOTIFY = 67,    /* init -> daemon: the seccomp listener of the policy's kill rules */
    SBX_MSG_INIT_EXEC = 68, /* daemon -> init: start an exec'd process, with fds */
    SBX_MSG_INIT_EXEC_END = 69,    /* init -> daemon: how it ended, or why it never ran */
    SBX_MSG_INIT_EXEC_TTY = 70,    /* init -> daemon: the master of its pty, with the fd */
    SBX_MSG_INIT_EXEC_SIGNAL = 71, /* daemon -> init: a signal for it */
    SBX_MSG_READY = 72,            /* init -> runtime, SBX_SPEC_WAIT_START: set up, waiting */
    SBX_MSG_START = 73,            /* runtime -> init: start the guest */
    SBX_MSG_INIT_EXEC_NOTIFY = 74, /* init -> daemon: an exec'd process's listener, with the fd */
    SBX_MSG_PREPARE = 75,          /* daemon -> spare init: build a root ahead, with the image */
};

/* Field value types. */
enum sbx_field_type {
    SBX_FIELD_U32 = 1,
    SBX_FIELD_U64 = 2,
    SBX_FIELD_STR = 3, /* no NUL byte inside, not NUL-terminated on the wire */
    SBX_FIELD_BYTES = 4,
};

struct sbx_frame_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t flags;  /* must be 0 in version 1 */
    uint32_t length; /* payload bytes after the header */
};

/* A growable output buffer holding one frame under construction. */
struct sbx_buf {
    uint8_t *data; /* owned */
    size_t len;
    size_t cap;
    int error; /* first error of a put, reported by sbx_proto_finish() */
};

/* A decoded frame: header plus payload and the fds that came with it. */
struct sbx_frame {
    uint16_t type;
    uint32_t flags;
    uint8_t *payload; /* owned */
    uint32_t length;
    int fds[SBX_PROTO_MAX_FDS]; /* owned; close-on-exec */
    unsigned n_fds;
};

struct sbx_field {
    uint16_t tag;
    uint8_t type;
    uint32_t length;
    const uint8_t *data;
};

struct sbx_reader {
    const uint8_t *p;
    size_t left;
    unsigned n_fields;
};

/* Builder.  Puts after an error are no-ops; finish returns the first error. */
void sbx_proto_begin(struct sbx_buf *b, uint16_t type);
void sbx_proto_put_u32(struct sbx_buf *b, uint16_t tag, uint32_t v);
void sbx_proto_put_u64(struct sbx_buf *b, uint16_t tag, uint64_t v);
void sbx_proto_put_str(struct sbx_buf *b, uint16_t tag, const char *s);
void sbx_proto_put_bytes(struct sbx_buf *b, uint16_t tag, const void *p, size_t n);
int sbx_proto_finish(struct sbx_buf *b); /* 0, -EMSGSIZE, -EINVAL, -ENOMEM */
void sbx_buf_free(struct sbx_buf *b);

/* Header and field decoding.  -EPROTO bad magic/flags, -EPROTONOSUPPORT
 * version, -EMSGSIZE over limits, -EBADMSG malformed field. */
int sbx_proto_decode_header(const uint8_t raw[SBX_PROTO_HEADER_SIZE], struct sbx_frame_header *ret);
void sbx_reader_init(struct sbx_reader *r, const struct sbx_frame *f);
int sbx_reader_next(struct sbx_reader *r, struct sbx_field *ret); /* 1 field, 0 end, <0 error */
int sbx_field_u32(const struct sbx_field *f, uint32_t *ret);
int sbx_field_u64(const struct sbx_field *f, uint64_t *ret);
int sbx_field_strdup(const struct sbx_field *f, char **ret); /* rejects NUL bytes */

void sbx_frame_clear(struct sbx_frame *f); /* frees payload, closes fds; NULL-safe */

/*
 * Blocking I/O on a stream Unix socket.  send: one sendmsg per frame (fds
 * attached), retried on EINTR and short writes.  recv: reads exactly one
 * frame, never more bytes than that frame, so fds always belong to the frame
 * being read; 0 on orderly EOF before any byte, 1 on a frame, <0 on error
 * (-ECONNRESET on EOF inside a frame; -EMFILE or -ENFILE when the fds of the
 * frame arrived but there was no free descriptor to receive them in).
 */
int sbx_proto_send(int sock, const struct sbx_buf *b, const int *fds, unsigned n_fds);
int sbx_proto_recv(int sock, struct sbx_frame *ret);

/*
 * Incremental receiver for non-blocking sockets (the daemon's event loop).
 * Call sbx_proto_rx_read() when the socket is readable: it returns 1 when a
 * complete frame was moved into *ret, 0 when more bytes are needed (EAGAIN),
 * -EPIPE on EOF (also when EOF cuts a frame), <0 on a protocol error.
 * The caller may lower the payload limit for the frames still to come, and
 * may look at have (a frame is in progress when it is not 0) and, once the
 * header is in (have >= SBX_PROTO_HEADER_SIZE), at hdr.
 */
struct sbx_proto_rx {
    uint8_t header[SBX_PROTO_HEADER_SIZE];
    size_t have; /* bytes of header + payload received so far */
    struct sbx_frame_header hdr;
    struct sbx_frame frame; /* under construction; owned */
    uint32_t max_payload;   /* a longer frame is -EMSGSIZE; SBX_PROTO_MAX_PAYLOAD after init */
    unsigned max_fds;       /* more are never installed: -ETOOMANYREFS; SBX_PROTO_MAX_FDS at init */
};
void sbx_proto_rx_init(struct sbx_proto_rx *rx);
int sbx_proto_rx_read(struct sbx_proto_rx *rx, int sock, struct sbx_frame *ret);
void sbx_proto_rx_clear(struct sbx_proto_rx *rx);

/* ---- Typed messages ------------------------------------------------------ */

/* HELLO: the client's supported version range. */
struct sbx_msg_hello {
    uint32_t min_version;
    uint32_t max_version;
    char *client; /* free-form name, optional */
};

/* WELCOME: the version the daemon speaks on this connection. */
struct sbx_msg_welcome {
    uint32_t version;
    char *server; /* "sandboxd VERSION" */
};

/* ERROR: err is a positive errno value, message is for people. */
struct sbx_msg_error {
    uint32_t err;
    char *message;
};

/* RUN flags */
#define SBX_RUN_STATS (1u << 0) /* report per-syscall statistics in EXIT */
#define SBX_RUN_TTY (1u << 1)   /* the guest's stdio is a pty; its master comes in TTY */
/*
 * Detached: stdout and stderr go to a log the daemon keeps; STARTED comes
 * once the guest runs, and then the connection ends while the sandbox goes on.
 */
#define SBX_RUN_DETACH (1u << 2)
#define SBX_NAME_MAX 64         /* bytes of a sandbox's name */
#define SBX_RUN_TRACE (1u << 3) /* record every syscall; the ring's memfd comes in TRACE */

/*
 * RUN.  fds, in order: image, stdin, stdout, stderr, then one fd per
 * bind source of the policy (in policy order).  n_fds must match.
 */
struct sbx_msg_run {
    char **argv; /* argc entries + NULL; argv[0] is the program path in the image */
    uint32_t argc;
    char **env; /* "KEY=VALUE" entries + NULL; may be empty */
    uint32_t envc;
    char *policy_name; /* optional: a name under the daemon's policy dir */
    char *policy_text; /* optional: YAML text; at most one of name/text */
    char *policy_file; /* optional: the file name policy_text came from, for messages */
    uint32_t mode;     /* enum sbx_syscall_mode, or SBX_RUN_MODE_DEFAULT */
    uint32_t flags;    /* SBX_RUN_* */
    /* Policy fields from the command line, "NAME=VALUE" (sbx_policy_apply_option). */
    char **options; /* n_options entries + NULL; may be empty */
    uint32_t n_options;
    char *name; /* optional, with SBX_RUN_DETACH only: the sandbox's name */
};
#define SBX_RUN_MODE_DEFAULT 0xffffffffu

/*
 * OPEN: the policy names host paths (bind sources, a writable image).  The
 * client opens each one itself, so the kernel decides what the user may
 * reach, and answers with FDS carrying one fd per path, in order.
 */
#define SBX_OPEN_IMAGE_RW (1u << 0) /* also reopen the image read-write, sent first */
struct sbx_msg_open {
    char **paths; /* n_paths entries + NULL; opened read-only */
    uint32_t n_paths;
    uint32_t flags; /* SBX_OPEN_* */
};

/* FDS: count fds ride on this frame. */
struct sbx_msg_fds {
    uint32_t count;
};

/* STARTED: the sandbox is running. */
struct sbx_msg_started {
    uint64_t id;
    char *sandbox; /* detached only: the sandbox's lifecycle id (ps, logs ...) */
};

/*
 * The lifecycle requests PS .. INSPECT share one body.  target is a name or
 * an id (or a unique prefix of one), required by all but PS; value is STOP's
 * grace time in seconds and KILL's signal.
 */
#define SBX_CTL_ALL (1u << 0)    /* PS: exited sandboxes too */
#define SBX_CTL_FOLLOW (1u << 1) /* LOGS: stay and pass on what comes */
#define SBX_CTL_FORCE (1u << 2)  /* RM: kill a running one first */
struct sbx_msg_ctl {
    char *target;
    uint32_t flags; /* SBX_CTL_* */
    uint32_t value;
};

/*
 * REPLY: what a lifecycle request asked for, a JSON document (docs/cli.md),
 * in pieces of at most SBX_PROTO_MAX_STRING bytes to be joined.  PS sends
 * one REPLY per sandbox with more set, then one with more 0.
 */
struct sbx_msg_reply {
    char **json;
    uint32_t n_json;
    uint32_t more; /* optional on the wire, 0 when absent */
};

/* LOG: count fds ride on this frame, the log's files, oldest first. */
struct sbx_msg_log {
    uint32_t count;
};

/*
 * SIGNAL: the client got signo, for the guest's main process; with
 * SBX_SIGNAL_END the sandbox is to be ended outright instead.
 */
#define SBX_SIGNAL_END (1u << 0)
#define SBX_SIGNAL_MAX 64 /* the highest signal number of Linux (SIGRTMAX) */
struct sbx_msg_signal {
    uint32_t signo;
    uint32_t flags; /* SBX_SIGNAL_*; optional on the wire, 0 when absent */
};

/* How a sandbox ended, in EXIT and REPORT. */
enum sbx_exit_kind {
    SBX_EXIT_EXITED = 1,   /* code = exit status */
    SBX_EXIT_SIGNALED = 2, /* code = signal number */
    SBX_EXIT_SETUP = 3,    /* code = errno; sandbox setup failed */
    SBX_EXIT_NOTFOUND = 4, /* code = errno; program missing in the image */
    SBX_EXIT_NOEXEC = 5,   /* code = errno; program present, cannot execute */
    SBX_EXIT_TIMEOUT = 6,  /* code = 0; killed by the policy's timeout */
    SBX_EXIT_OOM = 7,      /* code = 0; killed by the memory limit */
};

/* Packed little-endian in the stats field: one entry per syscall seen. */
struct sbx_stat_entry {
    uint32_t nr;
    uint64_t trapped;
    uint64_t patched;
};

struct sbx_msg_exit {
    uint32_t kind; /* enum sbx_exit_kind */
    uint32_t code;
    char *message;                /* optional, for people */
    struct sbx_stat_entry *stats; /* optional */
    uint32_t n_stats;
    char *killed_syscall; /* optional: the call a kill rule stopped, by name */
};

/*
 * SPEC (daemon -> init).  fds, in order: the image (a detached mount tree
 * made for this sandbox alone), stdin, stdout, stderr, policy BPF memfd,
 * then, when mode != SBX_MODE_OFF, trampoline memfd and stats memfd,
 * then one detached mount tree per bind mount (n_binds, in order), then
 * n_pass fds that the guest gets at 3, 4, ... (an OCI engine's
 * --preserve-fds).
 */
struct sbx_spec_bind {
    char *target;   /* absolute path in the sandbox */
    uint32_t flags; /* SBX_BIND_* */
};
#define SBX_BIND_READONLY (1u << 0)

struct sbx_spec_tmpfs {
    char *target;
    uint64_t size; /* bytes, 0 = kernel default */
    uint32_t mode;
};

struct sbx_spec_rlimit {
    uint32_t resource; /* RLIMIT_* */
    uint64_t cur;
    uint64_t max;
};

#define SBX_SPEC_WRITABLE_IMAGE (1u << 0) /* image mount is read-write, no overlay */
#define SBX_SPEC_NET_HOST (1u << 1)       /* keep the host network namespace */
#define SBX_SPEC_TTY (1u << 2)            /* a pty in the sandbox's devpts for the guest's stdio */
/*
 * Init stays able to start more guest processes (INIT_EXEC) the way it
 * started the first: it keeps its capabilities and the policy, trampoline
 * and statistics fds while the guest runs.  Detached sandboxes only.
 */
#define SBX_SPEC_EXEC (1u << 3)
/*
 * For an OCI runtime (oci/): the image is a directory tree the engine
 * mounted, attached nosuid and nodev without an overlay (made read-only
 * with SBX_SPEC_READONLY_ROOT once its mount points are made); sysfs, cgroup2 and mqueue at their
 * usual places; and init waits, once the root is built and the program found, until the control
 * socket says START (it sends READY, after TTY with SBX_SPEC_TTY).
 */
#define SBX_SPEC_READONLY_ROOT (1u << 4)
#define SBX_SPEC_SYSFS (1u << 5)    /* read-only sysfs at /sys */
#define SBX_SPEC_CGROUPFS (1u << 6) /* read-only cgroup2 at /sys/fs/cgroup (with SYSFS) */
#define SBX_SPEC_MQUEUE (1u << 7)   /* mqueue at /dev/mqueue */
#define SBX_SPEC_WAIT_START (1u << 8)
/*
 * Init leaves the supplementary groups as they are: the daemon's user
 * namespace may not set them (a rootless map of the caller's own ids
 * alone), and the guest has none to ask for (daemon/idmap-self.c).
 */
#define SBX_SPEC_KEEP_GROUPS (1u << 9)
/*
 * Init runs in a user namespace of its own, as its root, and cannot open the
 * staging directory by its host path: the daemon's child of clone3 entered
 * it before it took its namespace's ids, and it is init's working directory.
 */
#define SBX_SPEC_USERNS (1u << 10)
/*
 * The image is the one of the PREPARE sent before this spec: init takes the
 * root PREPARE built if that succeeded for this spec's staging, sizes and
 * SBX_PREPARE_FLAGS, and otherwise builds one from the spec's image.
 */
#define SBX_SPEC_PREPARED (1u << 11)

struct sbx_spec {
    char *staging; /* existing host directory that init mounts its staging tmpfs over */
    char **argv;
    uint32_t argc;
    char **env;
    uint32_t envc;
    char *cwd;      /* default "/" */
    char *hostname; /* default "sandbox" */
    uint32_t mode;  /* enum sbx_syscall_mode */
    uint32_t flags; /* SBX_SPEC_* */
    uint32_t uid, gid;
    uint32_t *groups; /* supplementary groups */
    uint32_t n_groups;
    uint32_t umask;
    uint64_t caps_keep;    /* bit n = keep capability n */
    uint64_t overlay_size; /* bytes for the tmpfs upper layer, 0 = unlimited */
    uint64_t tmp_size;     /* bytes of /tmp, 0 = unlimited */
    uint64_t shm_size;     /* bytes of /dev/shm, 0 = unlimited */
    struct sbx_spec_bind *binds;
    uint32_t n_binds;
    struct sbx_spec_tmpfs *tmpfs;
    uint32_t n_tmpfs;
    char **masked; /* paths hidden in the sandbox */
    uint32_t n_masked;
    struct sbx_spec_rlimit *rlimits;
    uint32_t n_rlimits;
    char **readonly; /* paths made read-only in the sandbox */
    uint32_t n_readonly;
    uint32_t n_pass; /* fds after the binds, for the guest at 3.. */
};

/*
 * PREPARE (daemon -> init, one fd: the image's mount, as SPEC's first): the
 * part of a root that depends on no more than these fields, built by a spare
 * init ahead of its request (init/rootfs.c).  A SPEC with SBX_SPEC_PREPARED
 * uses it if it was built; any other SPEC builds its own root and the
 * prepared one goes.
 */
#define SBX_PREPARE_FLAGS (SBX_SPEC_SYSFS | SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE | SBX_SPEC_USERNS)
struct sbx_msg_prepare {
    char *staging;
    uint32_t flags; /* within SBX_PREPARE_FLAGS */
    uint64_t overlay_size, tmp_size, shm_size;
};

/*
 * EXEC (client -> daemon; fds stdin, stdout, stderr) and INIT_EXEC (daemon
 * -> init, the same fds): a process in a running sandbox, with the sandbox's
 * identity, limits, filter and trampoline.  target is EXEC's, id INIT_EXEC's.
 * env is set over the sandbox's environment.
 */
#define SBX_EXEC_TTY (1u << 0) /* a pty of its own, whose master comes in TTY (INIT_EXEC_TTY) */
/* EXEC: as user; INIT_EXEC: as uid:gid; both without supplementary groups */
#define SBX_EXEC_USER (1u << 1)
struct sbx_msg_exec {
    char *target;
    uint32_t id;
    char **argv;
    uint32_t argc;
    char **env;
    uint32_t envc;
    uint32_t flags;    /* SBX_EXEC_* */
    uint32_t uid, gid; /* INIT_EXEC with SBX_EXEC_USER */
    char *user;        /* EXEC with SBX_EXEC_USER: USER[:GROUP], names or ids, as run's --user */
};

/* INIT_EXEC_END: as REPORT, for exec'd process id. */
struct sbx_msg_exec_end {
    uint32_t id;
    uint32_t kind; /* enum sbx_exit_kind */
    uint32_t code;
    char *message;
};

/*
 * INIT_EXEC_SIGNAL (signo for process id), INIT_EXEC_TTY (its pty master
 * rides on it) and INIT_EXEC_NOTIFY (the seccomp listener of its filter).
 */
struct sbx_msg_exec_signal {
    uint32_t id;
    uint32_t signo;
};

/* REPORT (init -> daemon): how the guest ended, or why it never started. */
struct sbx_msg_report {
    uint32_t kind; /* enum sbx_exit_kind */
    uint32_t code;
    char *message; /* optional: the failed step, e.g. "pivot_root: Invalid argument" */
};

/*
 * Encoders fill a fresh buffer (sbx_proto_finish() already called; caller
 * frees with sbx_buf_free()).  Decoders check the frame type, every field's
 * tag, type and size, reject unknown tags, duplicate singletons, missing
 * required fields and trailing bytes, and return -EBADMSG for all of those.
 * On success they fill *ret (free with the matching _free); on failure *ret
 * is untouched.  Decoders do not look at frame fds.
 */
int sbx_msg_hello_encode(const struct sbx_msg_hello *m, struct sbx_buf *ret);
int sbx_msg_hello_decode(const struct sbx_frame *f, struct sbx_msg_hello *ret);
void sbx_msg_hello_free(struct sbx_msg_hello *m);

int sbx_msg_welcome_encode(const struct sbx_msg_welcome *m, struct sbx_buf *ret);
int sbx_msg_welcome_decode(const struct sbx_frame *f, struct sbx_msg_welcome *ret);
void sbx_msg_welcome_free(struct sbx_msg_welcome *m);

int sbx_msg_error_encode(const struct sbx_msg_error *m, struct sbx_buf *ret);
int sbx_msg_error_decode(const struct sbx_frame *f, struct sbx_msg_error *ret);
void sbx_msg_error_free(struct sbx_msg_error *m);

int sbx_msg_run_encode(const struct sbx_msg_run *m, struct sbx_buf *ret);
int sbx_msg_run_decode(const struct sbx_frame *f, struct sbx_msg_run *ret);
void sbx_msg_run_free(struct sbx_msg_run *m);

int sbx_msg_open_encode(const struct sbx_msg_open *m, struct sbx_buf *ret);
int sbx_msg_open_decode(const struct sbx_frame *f, struct sbx_msg_open *ret);
void sbx_msg_open_free(struct sbx_msg_open *m);

int sbx_msg_fds_encode(const struct sbx_msg_fds *m, struct sbx_buf *ret);
int sbx_msg_fds_decode(const struct sbx_frame *f, struct sbx_msg_fds *ret);

int sbx_msg_started_encode(const struct sbx_msg_started *m, struct sbx_buf *ret);
int sbx_msg_started_decode(const struct sbx_frame *f, struct sbx_msg_started *ret);
void sbx_msg_started_free(struct sbx_msg_started *m);

/* type: one of SBX_MSG_PS .. SBX_MSG_INSPECT or SBX_MSG_STATUS; decode accepts any of them. */
int sbx_msg_ctl_encode(uint16_t type, const struct sbx_msg_ctl *m, struct sbx_buf *ret);
int sbx_msg_ctl_decode(const struct sbx_frame *f, struct sbx_msg_ctl *ret);
void sbx_msg_ctl_free(struct sbx_msg_ctl *m);

int sbx_msg_reply_encode(const struct sbx_msg_reply *m, struct sbx_buf *ret);
int sbx_msg_reply_decode(const struct sbx_frame *f, struct sbx_msg_reply *ret);
void sbx_msg_reply_free(struct sbx_msg_reply *m);

int sbx_msg_log_encode(const struct sbx_msg_log *m, struct sbx_buf *ret);
int sbx_msg_log_decode(const struct sbx_frame *f, struct sbx_msg_log *ret);

int sbx_msg_signal_encode(const struct sbx_msg_signal *m, struct sbx_buf *ret);
int sbx_msg_signal_decode(const struct sbx_frame *f, struct sbx_msg_signal *ret);

/*
 * TTY, GUEST and NOTIFY: no field; exactly one fd rides on each (the caller
 * checks the count): the pty master, the guest's pidfd, the seccomp listener.
 * decode checks type and emptiness.
 */
int sbx_msg_tty_encode(struct sbx_buf *ret);
int sbx_msg_tty_decode(const struct sbx_frame *f);
/* TRACE: no field; one fd, the memfd of include/sbx/trace.h (its ring at SBX_TRACE_OFFSET). */
int sbx_msg_trace_encode(struct sbx_buf *ret);
int sbx_msg_trace_decode(const struct sbx_frame *f);
int sbx_msg_guest_decode(const struct sbx_frame *f);
int sbx_msg_notify_decode(const struct sbx_frame *f);
/* A frame of no field and no fd (READY, START). */
int sbx_msg_empty_encode(uint16_t type, struct sbx_buf *ret);
int sbx_msg_empty_decode(const struct sbx_frame *f, uint16_t type);

int sbx_msg_exit_encode(const struct sbx_msg_exit *m, struct sbx_buf *ret);
int sbx_msg_exit_decode(const struct sbx_frame *f, struct sbx_msg_exit *ret);
void sbx_msg_exit_free(struct sbx_msg_exit *m);

int sbx_spec_encode(const struct sbx_spec *m, struct sbx_buf *ret);
int sbx_spec_decode(const struct sbx_frame *f, struct sbx_spec *ret);
void sbx_spec_free(struct sbx_spec *m);

/* type: SBX_MSG_EXEC or SBX_MSG_INIT_EXEC. */
int sbx_msg_exec_encode(uint16_t type, const struct sbx_msg_exec *m, struct sbx_buf *ret);
int sbx_msg_exec_decode(const struct sbx_frame *f, struct sbx_msg_exec *ret);
void sbx_msg_exec_free(struct sbx_msg_exec *m);
int sbx_msg_exec_end_encode(const struct sbx_msg_exec_end *m, struct sbx_buf *ret);
int sbx_msg_exec_end_decode(const struct sbx_frame *f, struct sbx_msg_exec_end *ret);
void sbx_msg_exec_end_free(struct sbx_msg_exec_end *m);
/* type: SBX_MSG_INIT_EXEC_SIGNAL, or SBX_MSG_INIT_EXEC_TTY or SBX_MSG_INIT_EXEC_NOTIFY (signo 0).
 */
int sbx_msg_exec_signal_encode(uint16_t type, const struct sbx_msg_exec_signal *m,
                               struct sbx_buf *ret);
int sbx_msg_exec_signal_decode(const struct sbx_frame *f, struct sbx_msg_exec_signal *ret);

int sbx_msg_report_encode(const struct sbx_msg_report *m, struct sbx_buf *ret);
int sbx_msg_prepare_encode(const struct sbx_msg_prepare *m, struct sbx_buf *ret);
int sbx_msg_prepare_decode(const struct sbx_frame *f, struct sbx_msg_prepare *ret);
void sbx_msg_prepare_free(struct sbx_msg_prepare *m);
int sbx_msg_report_decode(const struct sbx_frame *f, struct sbx_msg_report *ret);
void sbx_msg_report_free(struct sbx_msg_report *m);

/* Convenience: encode + send an ERROR frame; best effort, returns send's result. */
int sbx_proto_send_error(int sock, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
