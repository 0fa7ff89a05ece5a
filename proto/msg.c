/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed messages of the wire protocol.  Each message is described by a table
 * of slots (tag, wire type, where the value lives in the C struct), and one
 * strict decoder, one encoder and one destructor (msg-codec.c) work from
 * those tables.
 */
#include "proto/msg-internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/abi.h"
#include "sbx/macro.h"

/* ---- Message tables ----------------------------------------------------- */

#define ONE(t, k, req, T, field)                                                                   \
    {                                                                                              \
        .tag = t, .kind = k, .required = req, .off = offsetof(T, field)                            \
    }
#define MANY(t, k, req, T, field, count, it)                                                       \
    {                                                                                              \
        .tag = t, .kind = k, .required = req, .off = offsetof(T, field),                           \
        .count_off = offsetof(T, count), .item = it                                                \
    }

#define DESC(name, msgtype, slots_, check_)                                                        \
    static const struct msg_desc name = { msgtype, slots_, ARRAY_SIZE(slots_), check_ }

static int check_exit_kind(uint32_t kind)
{
    return kind >= SBX_EXIT_EXITED && kind <= SBX_EXIT_OOM ? 0 : -1;
}

static int check_mode(uint32_t mode)
{
    return mode == SBX_MODE_OFF || mode == SBX_MODE_TRAP || mode == SBX_MODE_REWRITE ? 0 : -1;
}

static const struct slot hello_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_hello, min_version),
    ONE(2, SLOT_U32, true, struct sbx_msg_hello, max_version),
    ONE(3, SLOT_STR, false, struct sbx_msg_hello, client),
};
DESC(hello_desc, SBX_MSG_HELLO, hello_slots, NULL);

static const struct slot welcome_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_welcome, version),
    ONE(2, SLOT_STR, true, struct sbx_msg_welcome, server),
};
DESC(welcome_desc, SBX_MSG_WELCOME, welcome_slots, NULL);

static const struct slot error_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_error, err),
    ONE(2, SLOT_STR, true, struct sbx_msg_error, message),
};
DESC(error_desc, SBX_MSG_ERROR, error_slots, NULL);

static int run_check(const void *p)
{
    const struct sbx_msg_run *m = p;
    if (m->policy_name && m->policy_text)
        return -1;
    if (m->mode != SBX_RUN_MODE_DEFAULT && check_mode(m->mode) < 0)
        return -1;
    if (m->name && (!(m->flags & SBX_RUN_DETACH) || strlen(m->name) > SBX_NAME_MAX))
        return -1;
    return m->flags & ~(SBX_RUN_STATS | SBX_RUN_TTY | SBX_RUN_DETACH | SBX_RUN_TRACE) ? -1 : 0;
}

static const struct slot run_slots[] = {
    /* Empty: a built image's own command (daemon/image-config.h). */
    MANY(1, SLOT_STRV, false, struct sbx_msg_run, argv, argc, NULL),
    MANY(2, SLOT_STRV, false, struct sbx_msg_run, env, envc, NULL),
    ONE(3, SLOT_STR, false, struct sbx_msg_run, policy_name),
    ONE(4, SLOT_STR, false, struct sbx_msg_run, policy_text),
    ONE(5, SLOT_STR, false, struct sbx_msg_run, policy_file),
    ONE(6, SLOT_U32, true, struct sbx_msg_run, mode),
    ONE(7, SLOT_U32, true, struct sbx_msg_run, flags),
    MANY(8, SLOT_STRV, false, struct sbx_msg_run, options, n_options, NULL),
    ONE(9, SLOT_STR, false, struct sbx_msg_run, name),
};
DESC(run_desc, SBX_MSG_RUN, run_slots, run_check);

static int open_check(const void *p)
{
    return ((const struct sbx_msg_open *)p)->flags & ~SBX_OPEN_IMAGE_RW ? -1 : 0;
}

static const struct slot open_slots[] = {
    MANY(1, SLOT_STRV, false, struct sbx_msg_open, paths, n_paths, NULL),
    ONE(2, SLOT_U32, true, struct sbx_msg_open, flags),
};
DESC(open_desc, SBX_MSG_OPEN, open_slots, open_check);

static int fds_check(const void *p)
{
    return ((const struct sbx_msg_fds *)p)->count > SBX_PROTO_MAX_FDS ? -1 : 0;
}

static const struct slot fds_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_fds, count),
};
DESC(fds_desc, SBX_MSG_FDS, fds_slots, fds_check);

static const struct slot started_slots[] = {
    ONE(1, SLOT_U64, true, struct sbx_msg_started, id),
    ONE(2, SLOT_STR, false, struct sbx_msg_started, sandbox),
};
DESC(started_desc, SBX_MSG_STARTED, started_slots, NULL);

static int ctl_check(const void *p)
{
    const struct sbx_msg_ctl *m = p;
    if (m->target && strlen(m->target) > SBX_NAME_MAX)
        return -1;
    return m->flags & ~(SBX_CTL_ALL | SBX_CTL_FOLLOW | SBX_CTL_FORCE) ? -1 : 0;
}

static const struct slot ctl_slots[] = {
    ONE(1, SLOT_STR, false, struct sbx_msg_ctl, target),
    ONE(2, SLOT_U32, true, struct sbx_msg_ctl, flags),
    ONE(3, SLOT_U32, true, struct sbx_msg_ctl, value),
};
DESC(ps_desc, SBX_MSG_PS, ctl_slots, ctl_check);
DESC(logs_desc, SBX_MSG_LOGS, ctl_slots, ctl_check);
DESC(wait_desc, SBX_MSG_WAIT, ctl_slots, ctl_check);
DESC(stop_desc, SBX_MSG_STOP, ctl_slots, ctl_check);
DESC(kill_desc, SBX_MSG_KILL, ctl_slots, ctl_check);
DESC(rm_desc, SBX_MSG_RM, ctl_slots, ctl_check);
DESC(inspect_desc, SBX_MSG_INSPECT, ctl_slots, ctl_check);
DESC(status_desc, SBX_MSG_STATUS, ctl_slots, ctl_check);

static const struct msg_desc *ctl_desc(uint16_t type)
{
    switch (type) {
    case SBX_MSG_PS:
        return &ps_desc;
    case SBX_MSG_LOGS:
        return &logs_desc;
    case SBX_MSG_WAIT:
        return &wait_desc;
    case SBX_MSG_STOP:
        return &stop_desc;
    case SBX_MSG_KILL:
        return &kill_desc;
    case SBX_MSG_RM:
        return &rm_desc;
    case SBX_MSG_INSPECT:
        return &inspect_desc;
    case SBX_MSG_STATUS:
        return &status_desc;
    default:
        return NULL;
    }
}

static int reply_check(const void *p)
{
    return ((const struct sbx_msg_reply *)p)->more > 1 ? -1 : 0;
}

static const struct slot reply_slots[] = {
    MANY(1, SLOT_STRV, true, struct sbx_msg_reply, json, n_json, NULL),
    ONE(2, SLOT_U32, false, struct sbx_msg_reply, more),
};
DESC(reply_desc, SBX_MSG_REPLY, reply_slots, reply_check);

static int log_check(const void *p)
{
    return ((const struct sbx_msg_log *)p)->count > SBX_PROTO_MAX_FDS ? -1 : 0;
}

static const struct slot log_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_log, count),
};
DESC(log_desc, SBX_MSG_LOG, log_slots, log_check);

static int signal_check(const void *p)
{
    return ((const struct sbx_msg_signal *)p)->flags & ~SBX_SIGNAL_END ? -1 : 0;
}

static const struct slot signal_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_signal, signo),
    ONE(2, SLOT_U32, false, struct sbx_msg_signal, flags),
};
DESC(signal_desc, SBX_MSG_SIGNAL, signal_slots, signal_check);

static int exit_check(const void *p)
{
    return check_exit_kind(((const struct sbx_msg_exit *)p)->kind);
}

static const struct slot exit_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_exit, kind),
    ONE(2, SLOT_U32, true, struct sbx_msg_exit, code),
    ONE(3, SLOT_STR, false, struct sbx_msg_exit, message),
    MANY(4, SLOT_ITEMS, false, struct sbx_msg_exit, stats, n_stats, &sbx_msg_stat_item),
    ONE(5, SLOT_STR, false, struct sbx_msg_exit, killed_syscall),
};
DESC(exit_desc, SBX_MSG_EXIT, exit_slots, exit_check);

static int spec_check(const void *p)
{
    const struct sbx_spec *m = p;
    if (check_mode(m->mode) < 0)
        return -1;
    const uint32_t known = SBX_SPEC_WRITABLE_IMAGE | SBX_SPEC_NET_HOST | SBX_SPEC_TTY |
                           SBX_SPEC_EXEC | SBX_SPEC_READONLY_ROOT | SBX_SPEC_SYSFS |
                           SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE | SBX_SPEC_WAIT_START |
                           SBX_SPEC_KEEP_GROUPS | SBX_SPEC_USERNS | SBX_SPEC_PREPARED;
    /* A prepared root is an overlay on the image: neither of these is one. */
    if ((m->flags & SBX_SPEC_PREPARED) &&
        (m->flags & (SBX_SPEC_WRITABLE_IMAGE | SBX_SPEC_READONLY_ROOT)))
        return -1;
    return m->flags & ~known ? -1 : 0;
}

static const struct slot spec_slots[] = {
    ONE(1, SLOT_STR, true, struct sbx_spec, staging),
    MANY(2, SLOT_STRV, true, struct sbx_spec, argv, argc, NULL),
    MANY(3, SLOT_STRV, false, struct sbx_spec, env, envc, NULL),
    ONE(4, SLOT_STR, false, struct sbx_spec, cwd),
    ONE(5, SLOT_STR, false, struct sbx_spec, hostname),
    ONE(6, SLOT_U32, true, struct sbx_spec, mode),
    ONE(7, SLOT_U32, true, struct sbx_spec, flags),
    ONE(8, SLOT_U32, true, struct sbx_spec, uid),
    ONE(9, SLOT_U32, true, struct sbx_spec, gid),
    MANY(10, SLOT_U32V, false, struct sbx_spec, groups, n_groups, NULL),
    ONE(11, SLOT_U32, true, struct sbx_spec, umask),
    ONE(12, SLOT_U64, true, struct sbx_spec, caps_keep),
    ONE(13, SLOT_U64, true, struct sbx_spec, overlay_size),
    MANY(14, SLOT_ITEMS, false, struct sbx_spec, binds, n_binds, &sbx_msg_bind_item),
    MANY(15, SLOT_ITEMS, false, struct sbx_spec, tmpfs, n_tmpfs, &sbx_msg_tmpfs_item),
    MANY(16, SLOT_STRV, false, struct sbx_spec, masked, n_masked, NULL),
    MANY(17, SLOT_ITEMS, false, struct sbx_spec, rlimits, n_rlimits, &sbx_msg_rlimit_item),
    ONE(18, SLOT_U64, true, struct sbx_spec, tmp_size),
    ONE(19, SLOT_U64, true, struct sbx_spec, shm_size),
    MANY(20, SLOT_STRV, false, struct sbx_spec, readonly, n_readonly, NULL),
    ONE(21, SLOT_U32, false, struct sbx_spec, n_pass),
};
DESC(spec_desc, SBX_MSG_SPEC, spec_slots, spec_check);

static int report_check(const void *p)
{
    return check_exit_kind(((const struct sbx_msg_report *)p)->kind);
}

static const struct slot report_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_report, kind),
    ONE(2, SLOT_U32, true, struct sbx_msg_report, code),
    ONE(3, SLOT_STR, false, struct sbx_msg_report, message),
};
DESC(report_desc, SBX_MSG_REPORT, report_slots, report_check);

static int exec_check(const void *p)
{
    const struct sbx_msg_exec *m = p;
    if (m->target && strlen(m->target) > SBX_NAME_MAX)
        return -1;
    return m->flags & ~(SBX_EXEC_TTY | SBX_EXEC_USER) ? -1 : 0;
}

static const struct slot exec_slots[] = {
    ONE(1, SLOT_STR, false, struct sbx_msg_exec, target),
    ONE(2, SLOT_U32, false, struct sbx_msg_exec, id),
    MANY(3, SLOT_STRV, true, struct sbx_msg_exec, argv, argc, NULL),
    MANY(4, SLOT_STRV, false, struct sbx_msg_exec, env, envc, NULL),
    ONE(5, SLOT_U32, true, struct sbx_msg_exec, flags),
    ONE(6, SLOT_U32, false, struct sbx_msg_exec, uid),
    ONE(7, SLOT_U32, false, struct sbx_msg_exec, gid),
    ONE(8, SLOT_STR, false, struct sbx_msg_exec, user),
};
DESC(exec_desc, SBX_MSG_EXEC, exec_slots, exec_check);
DESC(init_exec_desc, SBX_MSG_INIT_EXEC, exec_slots, exec_check);

static int exec_end_check(const void *p)
{
    return check_exit_kind(((const struct sbx_msg_exec_end *)p)->kind);
}

static const struct slot exec_end_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_exec_end, id),
    ONE(2, SLOT_U32, true, struct sbx_msg_exec_end, kind),
    ONE(3, SLOT_U32, true, struct sbx_msg_exec_end, code),
    ONE(4, SLOT_STR, false, struct sbx_msg_exec_end, message),
};
DESC(exec_end_desc, SBX_MSG_INIT_EXEC_END, exec_end_slots, exec_end_check);

static int exec_signal_check(const void *p)
{
    return ((const struct sbx_msg_exec_signal *)p)->signo > SBX_SIGNAL_MAX ? -1 : 0;
}

static const struct slot exec_signal_slots[] = {
    ONE(1, SLOT_U32, true, struct sbx_msg_exec_signal, id),
    ONE(2, SLOT_U32, true, struct sbx_msg_exec_signal, signo),
};
DESC(exec_signal_desc, SBX_MSG_INIT_EXEC_SIGNAL, exec_signal_slots, exec_signal_check);
DESC(exec_tty_desc, SBX_MSG_INIT_EXEC_TTY, exec_signal_slots, exec_signal_check);
DESC(exec_notify_desc, SBX_MSG_INIT_EXEC_NOTIFY, exec_signal_slots, exec_signal_check);

static const struct msg_desc *exec_signal_desc_of(uint16_t type)
{
    return type == SBX_MSG_INIT_EXEC_SIGNAL   ? &exec_signal_desc
           : type == SBX_MSG_INIT_EXEC_TTY    ? &exec_tty_desc
           : type == SBX_MSG_INIT_EXEC_NOTIFY ? &exec_notify_desc
                                              : NULL;
}

static int prepare_check(const void *p)
{
    return ((const struct sbx_msg_prepare *)p)->flags & ~SBX_PREPARE_FLAGS ? -1 : 0;
}

static const struct slot prepare_slots[] = {
    ONE(1, SLOT_STR, true, struct sbx_msg_prepare, staging),
    ONE(2, SLOT_U32, true, struct sbx_msg_prepare, flags),
    ONE(3, SLOT_U64, true, struct sbx_msg_prepare, overlay_size),
    ONE(4, SLOT_U64, true, struct sbx_msg_prepare, tmp_size),
    ONE(5, SLOT_U64, true, struct sbx_msg_prepare, shm_size),
};
DESC(prepare_desc, SBX_MSG_PREPARE, prepare_slots, prepare_check);

_Static_assert(ARRAY_SIZE(spec_slots) <= MAX_SLOTS, "MAX_SLOTS too small");

/* ---- Public entry points ------------------------------------------------ */

/*
 * The typed entry points of each message: encode and decode (and free, for
 * messages that own memory) over its descriptor NAME_desc.
 */
#define MSG_CODEC(name)                                                                            \
    int sbx_msg_##name##_encode(const struct sbx_msg_##name *m, struct sbx_buf *ret)               \
    {                                                                                              \
        return sbx_msg_encode(&name##_desc, m, ret);                                               \
    }                                                                                              \
    int sbx_msg_##name##_decode(const struct sbx_frame *f, struct sbx_msg_##name *ret)             \
    {                                                                                              \
        return sbx_msg_decode(&name##_desc, f, ret, sizeof(*ret));                                 \
    }
#define MSG_FREE(name)                                                                             \
    void sbx_msg_##name##_free(struct sbx_msg_##name *m)                                           \
    {                                                                                              \
        sbx_msg_free(&name##_desc, m);                                                             \
    }

MSG_CODEC(hello)
MSG_CODEC(welcome)
MSG_CODEC(error)
MSG_CODEC(run)
MSG_CODEC(open)
MSG_CODEC(exit)
MSG_CODEC(report)
MSG_CODEC(fds)
MSG_CODEC(started)
MSG_CODEC(signal)
MSG_CODEC(reply)
MSG_CODEC(log)
MSG_CODEC(exec_end)
MSG_CODEC(prepare)
MSG_FREE(prepare)
MSG_FREE(exec_end)
MSG_FREE(started)
MSG_FREE(reply)
MSG_FREE(hello)
MSG_FREE(welcome)
MSG_FREE(error)
MSG_FREE(run)
MSG_FREE(open)
MSG_FREE(exit)
MSG_FREE(report)

int sbx_msg_ctl_encode(uint16_t type, const struct sbx_msg_ctl *m, struct sbx_buf *ret)
{
    const struct msg_desc *d = ctl_desc(type);
    return d ? sbx_msg_encode(d, m, ret) : -EINVAL;
}

int sbx_msg_ctl_decode(const struct sbx_frame *f, struct sbx_msg_ctl *ret)
{
    const struct msg_desc *d = ctl_desc(f->type);
    return d ? sbx_msg_decode(d, f, ret, sizeof(*ret)) : -EBADMSG;
}

void sbx_msg_ctl_free(struct sbx_msg_ctl *m)
{
    sbx_msg_free(&ps_desc, m);
}

int sbx_msg_exec_encode(uint16_t type, const struct sbx_msg_exec *m, struct sbx_buf *ret)
{
    if (type != SBX_MSG_EXEC && type != SBX_MSG_INIT_EXEC)
        return -EINVAL;
    return sbx_msg_encode(type == SBX_MSG_EXEC ? &exec_desc : &init_exec_desc, m, ret);
}

int sbx_msg_exec_decode(const struct sbx_frame *f, struct sbx_msg_exec *ret)
{
    if (f->type != SBX_MSG_EXEC && f->type != SBX_MSG_INIT_EXEC)
        return -EBADMSG;
    return sbx_msg_decode(f->type == SBX_MSG_EXEC ? &exec_desc : &init_exec_desc, f, ret,
                          sizeof(*ret));
}

void sbx_msg_exec_free(struct sbx_msg_exec *m)
{
    sbx_msg_free(&exec_desc, m);
}

int sbx_msg_exec_signal_encode(uint16_t type, const struct sbx_msg_exec_signal *m,
                               struct sbx_buf *ret)
{
    const struct msg_desc *desc = exec_signal_desc_of(type);
    return desc ? sbx_msg_encode(desc, m, ret) : -EINVAL;
}

int sbx_msg_exec_signal_decode(const struct sbx_frame *f, struct sbx_msg_exec_signal *ret)
{
    const struct msg_desc *desc = exec_signal_desc_of(f->type);
    return desc ? sbx_msg_decode(desc, f, ret, sizeof(*ret)) : -EBADMSG;
}

int sbx_msg_tty_encode(struct sbx_buf *ret)
{
    _cleanup_(sbx_buf_free) struct sbx_buf b = { 0 };
    sbx_proto_begin(&b, SBX_MSG_TTY);
    int r = sbx_proto_finish(&b);
    if (r < 0)
        return r;
    *ret = b;
    b = (struct sbx_buf){ 0 };
    return 0;
}

int sbx_msg_tty_decode(const struct sbx_frame *f)
{
    return f->type == SBX_MSG_TTY && f->length == 0 ? 0 : -EBADMSG;
}

int sbx_msg_trace_encode(struct sbx_buf *ret)
{
    _cleanup_(sbx_buf_free) struct sbx_buf b = { 0 };
    sbx_proto_begin(&b, SBX_MSG_TRACE);
    int r = sbx_proto_finish(&b);
    if (r < 0)
        return r;
    *ret = b;
    b = (struct sbx_buf){ 0 };
    return 0;
}

int sbx_msg_trace_decode(const struct sbx_frame *f)
{
    return f->type == SBX_MSG_TRACE && f->length == 0 ? 0 : -EBADMSG;
}

int sbx_msg_guest_decode(const struct sbx_frame *f)
{
    return f->type == SBX_MSG_GUEST && f->length == 0 ? 0 : -EBADMSG;
}

int sbx_msg_notify_decode(const struct sbx_frame *f)
{
    return f->type == SBX_MSG_NOTIFY && f->length == 0 ? 0 : -EBADMSG;
}

int sbx_msg_empty_encode(uint16_t type, struct sbx_buf *ret)
{
    _cleanup_(sbx_buf_free) struct sbx_buf b = { 0 };
    sbx_proto_begin(&b, type);
    int r = sbx_proto_finish(&b);
    if (r < 0)
        return r;
    *ret = b;
    b = (struct sbx_buf){ 0 };
    return 0;
}

int sbx_msg_empty_decode(const struct sbx_frame *f, uint16_t type)
{
    return f->type == type && f->length == 0 && f->n_fds == 0 ? 0 : -EBADMSG;
}

int sbx_spec_encode(const struct sbx_spec *m, struct sbx_buf *ret)
{
    return sbx_msg_encode(&spec_desc, m, ret);
}

/* cwd and hostname are optional on the wire; init always gets a value. */
int sbx_spec_decode(const struct sbx_frame *f, struct sbx_spec *ret)
{
    struct sbx_spec s;
    int r = sbx_msg_decode(&spec_desc, f, &s, sizeof(s));
    if (r < 0)
        return r;
    if (!s.cwd)
        s.cwd = strdup("/");
    if (!s.hostname)
        s.hostname = strdup("sandbox");
    if (!s.cwd || !s.hostname) {
        sbx_spec_free(&s);
        return -ENOMEM;
    }
    *ret = s;
    return 0;
}

void sbx_spec_free(struct sbx_spec *m)
{
    sbx_msg_free(&spec_desc, m);
}
