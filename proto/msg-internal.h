/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the message tables (msg.c) and the one table-driven codec
 * (msg-codec.c) share: the slot description of a message, the composite
 * items, and the codec's entry points.  Inside proto/ only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

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

/* The composite items of SPEC and of stats (msg-codec.c). */
extern const struct item_type sbx_msg_bind_item, sbx_msg_tmpfs_item, sbx_msg_rlimit_item,
    sbx_msg_stat_item;

/* Frees what a decode of d into m allocated (m itself stays). */
void sbx_msg_free(const struct msg_desc *d, void *m);
/* Decodes f as d into ret (size bytes, zeroed first); -EBADMSG, -ENOMEM. */
int sbx_msg_decode(const struct msg_desc *d, const struct sbx_frame *f, void *ret, size_t size);
/* Encodes m as d into a new buffer. */
int sbx_msg_encode(const struct msg_desc *d, const void *m, struct sbx_buf *ret);
