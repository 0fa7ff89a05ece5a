/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one strict decoder, encoder and destructor of the wire protocol's
 * messages, driven by the slot tables of msg.c (msg-internal.h).
 */
#include "proto/msg-internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/abi.h"
#include "sbx/macro.h"

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

const struct item_type sbx_msg_bind_item = { sizeof(struct sbx_spec_bind), bind_parse, bind_write,
                                             bind_free };
const struct item_type sbx_msg_tmpfs_item = { sizeof(struct sbx_spec_tmpfs), tmpfs_parse,
                                              tmpfs_write, tmpfs_free };
const struct item_type sbx_msg_rlimit_item = { sizeof(struct sbx_spec_rlimit), rlimit_parse,
                                               rlimit_write, NULL };
const struct item_type sbx_msg_stat_item = { sizeof(struct sbx_stat_entry), stat_parse, stat_write,
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
void sbx_msg_free(const struct msg_desc *d, void *m)
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

int sbx_msg_decode(const struct msg_desc *d, const struct sbx_frame *f, void *ret, size_t size)
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
        sbx_msg_free(d, m);
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

int sbx_msg_encode(const struct msg_desc *d, const void *m, struct sbx_buf *ret)
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
