/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed messages of the wire protocol.  Each message is described by a table
 * of slots (tag, wire type, where the value lives in the C struct), and one
 * strict decoder, one encoder and one destructor work from those tables.
 */
#include "proto/proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/abi.h"
#include "sbx/macro.h"

enum slot_kind {
    SLOT_U32,   /* uint32_t */
    SLOT_U64,   /* uint64_t */
    SLOT_STR,   /* char *, NULL when absent */
    SLOT_STRV,  /* repeated STR: char ** (NULL-terminated) + uint32_t count */
    SLOT_U32V,  /* repeated U32: uint32_t * + uint32_t count */
    SLOT_ITEMS, /* repeated BYTES, one fixed-layout item each: T * + uint32_t count */
};

/* A composite item carried in one BYTES field. */
struct item_type {
    size_t size;                                         /* of the C struct */
    int (*parse)(const uint8_t *p, size_t n, void *ret); /* -EBADMSG, -ENOMEM */
    int (*write)(struct sbx_buf *b, uint16_t tag, const void *item);
    void (*free)(void *item); /* may be NULL */
};

struct slot {
    uint16_t tag;
    uint8_t kind;                 /* enum slot_kind */
    bool required;                /* singletons: must be present; repeated: at least one entry */
    size_t off;                   /* of the value or the array pointer */
    size_t count_off;             /* of the uint32_t count, repeated slots only */
    const struct item_type *item; /* SLOT_ITEMS only */
};

struct msg_desc {
    uint16_t type;
    const struct slot *slots;
    size_t n_slots;
    int (*check)(const void *m); /* semantic checks shared by encode and decode; may be NULL */
};

#define MAX_SLOTS 32

#define AT(p, off, T) ((T *)((char *)(p) + (off)))
#define CAT(p, off, T) ((T const *)((const char *)(p) + (off)))

/* ---- Composite items ---------------------------------------------------- */

/* A cursor over the bytes of one item; every get fails once the item is short. */
struct cursor {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint32_t take_u32(struct cursor *c)
{
    const uint8_t *p = take(c, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static uint64_t take_u64(struct cursor *c)
{
    uint64_t lo = take_u32(c);
    return lo | (uint64_t)take_u32(c) << 32;
}

/* A u32 length followed by that many bytes, no NUL, at most SBX_PROTO_MAX_STRING. */
static int take_str(struct cursor *c, char **ret)
{
    uint32_t n = take_u32(c);
    if (c->bad || n > SBX_PROTO_MAX_STRING)
        return -EBADMSG;
    const uint8_t *p = take(c, n);
    if (!p)
        return -EBADMSG;
    struct sbx_field f = { .type = SBX_FIELD_STR, .length = n, .data = p };
    return sbx_field_strdup(&f, ret);
}

/* Fixed layouts are built in a small local buffer, then put as one BYTES field. */
struct item_buf {
    uint8_t *p;
    size_t len;
};

static void emit_u32(struct item_buf *o, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        o->p[o->len++] = (uint8_t)(v >> (8 * i));
}

static void emit_u64(struct item_buf *o, uint64_t v)
{
    emit_u32(o, (uint32_t)v);
    emit_u32(o, (uint32_t)(v >> 32));
}

static int emit_str_item(struct sbx_buf *b, uint16_t tag, const uint8_t *head, size_t head_len,
                         const char *s)
{
    if (!s)
        return -EINVAL;
    size_t n = strnlen(s, SBX_PROTO_MAX_STRING + 1);
    if (n > SBX_PROTO_MAX_STRING)
        return -EMSGSIZE;
    _cleanup_free_ uint8_t *p = malloc(head_len + 4 + n);
    if (!p)
        return -ENOMEM;
    struct item_buf o = { .p = p };
    memcpy(o.p, head, head_len);
    o.len = head_len;
    emit_u32(&o, (uint32_t)n);
    memcpy(o.p + o.len, s, n);
    sbx_proto_put_bytes(b, tag, o.p, o.len + n);
    return 0;
}

/* bind: u32 flags, u32 target length, target bytes. */
static int bind_parse(const uint8_t *p, size_t n, void *ret)
{
    struct sbx_spec_bind *it = ret;
    struct cursor c = { .p = p, .left = n };
    uint32_t flags = take_u32(&c);
    if (c.bad || (flags & ~SBX_BIND_READONLY))
        return -EBADMSG;
    char *target = NULL;
    int r = take_str(&c, &target);
    if (r < 0)
        return r;
    if (c.left > 0) {
        free(target);
        return -EBADMSG;
    }
    *it = (struct sbx_spec_bind){ .target = target, .flags = flags };
    return 0;
}

static int bind_write(struct sbx_buf *b, uint16_t tag, const void *item)
{
    const struct sbx_spec_bind *it = item;
    uint8_t head[4];
    struct item_buf o = { .p = head };
    if (it->flags & ~SBX_BIND_READONLY)
        return -EINVAL;
    emit_u32(&o, it->flags);
    return emit_str_item(b, tag, head, o.len, it->target);
}

static void bind_free(void *item)
{
    free(((struct sbx_spec_bind *)item)->target);
}

/* tmpfs: u64 size, u32 mode, u32 target length, target bytes. */
static int tmpfs_parse(const uint8_t *p, size_t n, void *ret)
{
    struct sbx_spec_tmpfs *it = ret;
    struct cursor c = { .p = p, .left = n };
    uint64_t size = take_u64(&c);
    uint32_t mode = take_u32(&c);
    if (c.bad)
        return -EBADMSG;
    char *target = NULL;
    int r = take_str(&c, &target);
    if (r < 0)
        return r;
    if (c.left > 0) {
        free(target);
        return -EBADMSG;
    }
    *it = (struct sbx_spec_tmpfs){ .target = target, .size = size, .mode = mode };
    return 0;
}

static int tmpfs_write(struct sbx_buf *b, uint16_t tag, const void *item)
{
    const struct sbx_spec_tmpfs *it = item;
    uint8_t head[12];
    struct item_buf o = { .p = head };
    emit_u64(&o, it->size);
    emit_u32(&o, it->mode);
    return emit_str_item(b, tag, head, o.len, it->target);
}

static void tmpfs_free(void *item)
{
    free(((struct sbx_spec_tmpfs *)item)->target);
}

/* rlimit: u32 resource, u64 cur, u64 max; exactly 20 bytes. */
static int rlimit_parse(const uint8_t *p, size_t n, void *ret)
{
    struct cursor c = { .p = p, .left = n };
    struct sbx_spec_rlimit it = { .resource = take_u32(&c) };
    it.cur = take_u64(&c);
    it.max = take_u64(&c);
    if (c.bad || c.left > 0)
        return -EBADMSG;
    *(struct sbx_spec_rlimit *)ret = it;
    return 0;
}

static int rlimit_write(struct sbx_buf *b, uint16_t tag, const void *item)
{
    const struct sbx_spec_rlimit *it = item;
    uint8_t buf[20];
    struct item_buf o = { .p = buf };
    emit_u32(&o, it->resource);
    emit_u64(&o, it->cur);
    emit_u64(&o, it->max);
    sbx_proto_put_bytes(b, tag, buf, o.len);
    return 0;
}

/* stat: u32 nr, u64 trapped, u64 patched; exactly 20 bytes. */
static int stat_parse(const uint8_t *p, size_t n, void *ret)
{
    struct cursor c = { .p = p, .left = n };
    struct sbx_stat_entry it = { .nr = take_u32(&c) };
    it.trapped = take_u64(&c);
    it.patched = take_u64(&c);
    if (c.bad || c.left > 0)
        return -EBADMSG;
    *(struct sbx_stat_entry *)ret = it;
    return 0;
}

static int stat_write(struct sbx_buf *b, uint16_t tag, const void *item)
{
    const struct sbx_stat_entry *it = item;
    uint8_t buf[20];
    struct item_buf o = { .p = buf };
    emit_u32(&o, it->nr);
    emit_u64(&o, it->trapped);
    emit_u64(&o, it->patched);
    sbx_proto_put_bytes(b, tag, buf, o.len);
    return 0;
}

static const struct item_type bind_item = { sizeof(struct sbx_spec_bind), bind_parse, bind_write,
                                            bind_free };
static const struct item_type tmpfs_item = { sizeof(struct sbx_spec_tmpfs), tmpfs_parse,
                                             tmpfs_write, tmpfs_free };
static const struct item_type rlimit_item = { sizeof(struct sbx_spec_rlimit), rlimit_parse,
                                              rlimit_write, NULL };
static const struct item_type stat_item = { sizeof(struct sbx_stat_entry), stat_parse, stat_write,
                                            NULL };

/* ---- Generic encode, decode, free ---------------------------------------- */

static uint8_t wire_type(uint8_t kind)
{
    switch (kind) {
    case SLOT_U32:
    case SLOT_U32V:
        return SBX_FIELD_U32;
    case SLOT_U64:
        return SBX_FIELD_U64;
    case SLOT_STR:
    case SLOT_STRV:
        return SBX_FIELD_STR;
    default:
        return SBX_FIELD_BYTES;
    }
}

static bool is_repeated(uint8_t kind)
{
    return kind == SLOT_STRV || kind == SLOT_U32V || kind == SLOT_ITEMS;
}

/* Frees what m owns, as far as the counts say it was filled; m is left zeroed. */
static void msg_free(const struct msg_desc *d, void *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < d->n_slots; i++) {
        const struct slot *s = &d->slots[i];
        switch (s->kind) {
        case SLOT_U32:
            *AT(m, s->off, uint32_t) = 0;
            break;
        case SLOT_U64:
            *AT(m, s->off, uint64_t) = 0;
            break;
        case SLOT_STR:
            free(*AT(m, s->off, char *));
            *AT(m, s->off, char *) = NULL;
            break;
        case SLOT_STRV: {
            char **v = *AT(m, s->off, char **);
            uint32_t n = *AT(m, s->count_off, uint32_t);
            for (uint32_t j = 0; v && j < n; j++)
                free(v[j]);
            free(v);
            *AT(m, s->off, char **) = NULL;
            *AT(m, s->count_off, uint32_t) = 0;
            break;
        }
        case SLOT_U32V:
        case SLOT_ITEMS: {
            uint8_t *v = *AT(m, s->off, uint8_t *);
            uint32_t n = *AT(m, s->count_off, uint32_t);
            if (s->kind == SLOT_ITEMS && s->item->free)
                for (uint32_t j = 0; v && j < n; j++)
                    s->item->free(v + (size_t)j * s->item->size);
            free(v);
            *AT(m, s->off, void *) = NULL;
            *AT(m, s->count_off, uint32_t) = 0;
            break;
        }
        }
    }
}

static const struct slot *find_slot(const struct msg_desc *d, uint16_t tag, size_t *ret_index)
{
    for (size_t i = 0; i < d->n_slots; i++)
        if (d->slots[i].tag == tag) {
            *ret_index = i;
            return &d->slots[i];
        }
    return NULL;
}

/*
 * First pass: every field is known, well typed and within its count limit;
 * required slots are present.  Fills counts[] per slot.
 */
static int msg_scan(const struct msg_desc *d, const struct sbx_frame *f, uint32_t *counts)
{
    struct sbx_reader rd;
    struct sbx_field fl;
    int r;

    sbx_reader_init(&rd, f);
    while ((r = sbx_reader_next(&rd, &fl)) > 0) {
        size_t i;
        const struct slot *s = find_slot(d, fl.tag, &i);
        if (!s || fl.type != wire_type(s->kind))
            return -EBADMSG;
        counts[i]++;
        if (!is_repeated(s->kind) && counts[i] > 1)
            return -EBADMSG;
        if (counts[i] > SBX_PROTO_MAX_ARGS)
            return -EBADMSG;
    }
    if (r < 0)
        return r;
    for (size_t i = 0; i < d->n_slots; i++)
        if (d->slots[i].required && counts[i] == 0)
            return -EBADMSG;
    return 0;
}

/* Allocates the arrays of repeated slots at their final size; counts start at 0. */
static int msg_alloc(const struct msg_desc *d, void *m, const uint32_t *counts)
{
    for (size_t i = 0; i < d->n_slots; i++) {
        const struct slot *s = &d->slots[i];
        void *v = NULL;
        if (s->kind == SLOT_STRV)
            /* argv and env are handed to exec: always NULL-terminated, even when empty. */
            v = calloc((size_t)counts[i] + 1, sizeof(char *));
        else if (s->kind == SLOT_U32V && counts[i] > 0)
            v = calloc(counts[i], sizeof(uint32_t));
        else if (s->kind == SLOT_ITEMS && counts[i] > 0)
            v = calloc(counts[i], s->item->size);
        else
            continue;
        if (!v)
            return -ENOMEM;
        *AT(m, s->off, void *) = v;
    }
    return 0;
}

/* Second pass: stores each field; m's counts always say how much is owned. */
static int msg_fill(const struct msg_desc *d, const struct sbx_frame *f, void *m)
{
    struct sbx_reader rd;
    struct sbx_field fl;
    int r;

    sbx_reader_init(&rd, f);
    while ((r = sbx_reader_next(&rd, &fl)) > 0) {
        size_t i;
        const struct slot *s = find_slot(d, fl.tag, &i);
        if (!s)
            return -EBADMSG; /* msg_scan() saw the same fields; kept for the compiler */
        uint32_t *n = is_repeated(s->kind) ? AT(m, s->count_off, uint32_t) : NULL;
        switch (s->kind) {
        case SLOT_U32:
            r = sbx_field_u32(&fl, AT(m, s->off, uint32_t));
            break;
        case SLOT_U64:
            r = sbx_field_u64(&fl, AT(m, s->off, uint64_t));
            break;
        case SLOT_STR:
            r = sbx_field_strdup(&fl, AT(m, s->off, char *));
            break;
        case SLOT_STRV:
            r = sbx_field_strdup(&fl, &(*AT(m, s->off, char **))[*n]);
            break;
        case SLOT_U32V:
            r = sbx_field_u32(&fl, &(*AT(m, s->off, uint32_t *))[*n]);
            break;
        case SLOT_ITEMS:
            r = s->item->parse(fl.data, fl.length,
                               *AT(m, s->off, uint8_t *) + (size_t)*n * s->item->size);
            break;
        default:
            r = -EBADMSG;
        }
        if (r < 0)
            return r;
        if (n)
            (*n)++;
    }
    return r;
}

static int msg_decode(const struct msg_desc *d, const struct sbx_frame *f, void *ret, size_t size)
{
    uint32_t counts[MAX_SLOTS] = { 0 };
    int r;

    if (f->type != d->type)
        return -EBADMSG;
    r = msg_scan(d, f, counts);
    if (r < 0)
        return r;

    _cleanup_free_ void *m = calloc(1, size);
    if (!m)
        return -ENOMEM;
    r = msg_alloc(d, m, counts);
    if (r >= 0)
        r = msg_fill(d, f, m);
    if (r >= 0 && d->check)
        r = d->check(m) < 0 ? -EBADMSG : 0;
    if (r < 0) {
        msg_free(d, m);
        return r;
    }
    memcpy(ret, m, size);
    return 0;
}

static int msg_put(const struct msg_desc *d, const void *m, struct sbx_buf *b)
{
    for (size_t i = 0; i < d->n_slots; i++) {
        const struct slot *s = &d->slots[i];
        uint32_t n = is_repeated(s->kind) ? *CAT(m, s->count_off, uint32_t) : 0;
        if (is_repeated(s->kind)) {
            if (n > SBX_PROTO_MAX_ARGS || (n > 0 && !*CAT(m, s->off, void *)) ||
                (s->required && n == 0))
                return -EINVAL;
        }
        switch (s->kind) {
        case SLOT_U32:
            sbx_proto_put_u32(b, s->tag, *CAT(m, s->off, uint32_t));
            break;
        case SLOT_U64:
            sbx_proto_put_u64(b, s->tag, *CAT(m, s->off, uint64_t));
            break;
        case SLOT_STR: {
            const char *str = *CAT(m, s->off, char *);
            if (!str && s->required)
                return -EINVAL;
            if (str)
                sbx_proto_put_str(b, s->tag, str);
            break;
        }
        case SLOT_STRV: {
            char **v = *CAT(m, s->off, char **);
            for (uint32_t j = 0; j < n; j++)
                sbx_proto_put_str(b, s->tag, v[j]); /* NULL entry -> -EINVAL */
            break;
        }
        case SLOT_U32V: {
            uint32_t *v = *CAT(m, s->off, uint32_t *);
            for (uint32_t j = 0; j < n; j++)
                sbx_proto_put_u32(b, s->tag, v[j]);
            break;
        }
        case SLOT_ITEMS: {
            uint8_t *v = *CAT(m, s->off, uint8_t *);
            for (uint32_t j = 0; j < n; j++) {
                int r = s->item->write(b, s->tag, v + (size_t)j * s->item->size);
                if (r < 0)
                    return r;
            }
            break;
        }
        }
    }
    return 0;
}

static int msg_encode(const struct msg_desc *d, const void *m, struct sbx_buf *ret)
{
    _cleanup_(sbx_buf_free) struct sbx_buf b = { 0 };
    int r;

    if (d->check && d->check(m) < 0)
        return -EINVAL;
    sbx_proto_begin(&b, d->type);
    r = msg_put(d, m, &b);
    if (r < 0)
        return r;
    r = sbx_proto_finish(&b);
    if (r < 0)
        return r;
    *ret = b;
    b = (struct sbx_buf){ 0 };
    return 0;
}

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
    MANY(4, SLOT_ITEMS, false, struct sbx_msg_exit, stats, n_stats, &stat_item),
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
                           SBX_SPEC_KEEP_GROUPS | SBX_SPEC_USERNS;
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
    MANY(14, SLOT_ITEMS, false, struct sbx_spec, binds, n_binds, &bind_item),
    MANY(15, SLOT_ITEMS, false, struct sbx_spec, tmpfs, n_tmpfs, &tmpfs_item),
    MANY(16, SLOT_STRV, false, struct sbx_spec, masked, n_masked, NULL),
    MANY(17, SLOT_ITEMS, false, struct sbx_spec, rlimits, n_rlimits, &rlimit_item),
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

_Static_assert(ARRAY_SIZE(spec_slots) <= MAX_SLOTS, "MAX_SLOTS too small");

/* ---- Public entry points ------------------------------------------------ */

/*
 * The typed entry points of each message: encode and decode (and free, for
 * messages that own memory) over its descriptor NAME_desc.
 */
#define MSG_CODEC(name)                                                                            \
    int sbx_msg_##name##_encode(const struct sbx_msg_##name *m, struct sbx_buf *ret)               \
    {                                                                                              \
        return msg_encode(&name##_desc, m, ret);                                                   \
    }                                                                                              \
    int sbx_msg_##name##_decode(const struct sbx_frame *f, struct sbx_msg_##name *ret)             \
    {                                                                                              \
        return msg_decode(&name##_desc, f, ret, sizeof(*ret));                                     \
    }
#define MSG_FREE(name)                                                                             \
    void sbx_msg_##name##_free(struct sbx_msg_##name *m)                                           \
    {                                                                                              \
        msg_free(&name##_desc, m);                                                                 \
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
    return d ? msg_encode(d, m, ret) : -EINVAL;
}

int sbx_msg_ctl_decode(const struct sbx_frame *f, struct sbx_msg_ctl *ret)
{
    const struct msg_desc *d = ctl_desc(f->type);
    return d ? msg_decode(d, f, ret, sizeof(*ret)) : -EBADMSG;
}

void sbx_msg_ctl_free(struct sbx_msg_ctl *m)
{
    msg_free(&ps_desc, m);
}

int sbx_msg_exec_encode(uint16_t type, const struct sbx_msg_exec *m, struct sbx_buf *ret)
{
    if (type != SBX_MSG_EXEC && type != SBX_MSG_INIT_EXEC)
        return -EINVAL;
    return msg_encode(type == SBX_MSG_EXEC ? &exec_desc : &init_exec_desc, m, ret);
}

int sbx_msg_exec_decode(const struct sbx_frame *f, struct sbx_msg_exec *ret)
{
    if (f->type != SBX_MSG_EXEC && f->type != SBX_MSG_INIT_EXEC)
        return -EBADMSG;
    return msg_decode(f->type == SBX_MSG_EXEC ? &exec_desc : &init_exec_desc, f, ret, sizeof(*ret));
}

void sbx_msg_exec_free(struct sbx_msg_exec *m)
{
    msg_free(&exec_desc, m);
}

int sbx_msg_exec_signal_encode(uint16_t type, const struct sbx_msg_exec_signal *m,
                               struct sbx_buf *ret)
{
    const struct msg_desc *desc = exec_signal_desc_of(type);
    return desc ? msg_encode(desc, m, ret) : -EINVAL;
}

int sbx_msg_exec_signal_decode(const struct sbx_frame *f, struct sbx_msg_exec_signal *ret)
{
    const struct msg_desc *desc = exec_signal_desc_of(f->type);
    return desc ? msg_decode(desc, f, ret, sizeof(*ret)) : -EBADMSG;
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
    return msg_encode(&spec_desc, m, ret);
}

/* cwd and hostname are optional on the wire; init always gets a value. */
int sbx_spec_decode(const struct sbx_frame *f, struct sbx_spec *ret)
{
    struct sbx_spec s;
    int r = msg_decode(&spec_desc, f, &s, sizeof(s));
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
    msg_free(&spec_desc, m);
}
