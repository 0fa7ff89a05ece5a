/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trace ring (`sandboxctl run --trace`, `--learn`): fixed-size binary
 * records that the trampoline writes for every syscall of the guest, and
 * that the client drains and formats.  Header-only, shared by the
 * freestanding trampoline, the daemon and the client.
 *
 * The ring lives in the sandbox's statistics memfd (SBX_FD_STATS), at
 * SBX_TRACE_OFFSET, after struct sbx_stats: the memfd is then larger than
 * SBX_TRACE_OFFSET, which is what turns tracing on (its size is sealed, so
 * a guest cannot turn it off for the processes still to start).  The number
 * of records is a power of two, computed from that size, not read from the
 * shared header.
 *
 * Producers (every thread of the sandbox) reserve a position with a
 * compare-and-swap on head, refusing when head - tail reaches the number of
 * records: the call is then counted in dropped, never waited for, so a
 * stalled drainer cannot stall the guest.  A record is complete when its seq
 * is its position plus one (stored last, with release order).  The single
 * consumer keeps its own copy of tail, stores it for the producers, and
 * skips a record that stays incomplete when the ring is full or at the end,
 * so a guest cannot stall the drainer either.  Everything in the ring is
 * written by the guest: the consumer checks every field it uses.
 */
#pragma once

#include <stdint.h>

#define SBX_TRACE_MAGIC 0x4543415254584253ULL /* "SBXTRACE" */
#define SBX_TRACE_OFFSET 0x10000u             /* after struct sbx_stats, page aligned */
#define SBX_TRACE_NREC_DEFAULT 65536u         /* 16 MiB of records */
#define SBX_TRACE_NREC_MAX 65536u             /* 16 MiB: what the trampoline maps at most */

/* Bytes of each string or buffer a record carries (longer ones are cut). */
#define SBX_TRACE_STR 84

enum sbx_trace_kind {
    SBX_TRACE_SYSCALL = 1, /* a call and its result */
    SBX_TRACE_EXEC = 2, /* a successful execve/execveat, written by the new program's trampoline */
    /* A signal delivered to a guest handler: nr = the signal, args[0..4] = si_code, si_pid, si_uid,
     * si_status, si_addr. */
    SBX_TRACE_SIGNAL = 3,
};

#define SBX_TRACE_NORET (1u << 0)  /* the call does not return (exit, exit_group): ret unset */
#define SBX_TRACE_TRUNC0 (1u << 1) /* str[0] was cut */
#define SBX_TRACE_TRUNC1 (1u << 2) /* str[1] was cut */
/* str[0] and str[1] are one buffer of 2 * SBX_TRACE_STR bytes, for sarg[0] and slen[0]. */
#define SBX_TRACE_WIDE (1u << 3)

#define SBX_TRACE_NOARG 0xff /* sarg[i]: no string */

/*
 * The encodings of the structures a record carries (all fields unaligned,
 * little-endian, read with memcpy):
 *
 * An iovec array: a byte of flags and count (SBX_TRACE_IOV_*), then per
 * element, in data form, its iov_len (8 bytes), a byte of the number of
 * bytes copied (| SBX_TRACE_IOV_CUT when there were more) and those bytes,
 * the first of the call's result spread over the elements in order (what
 * the kernel read or wrote); in address form (the remote side of
 * process_vm_readv/writev, another process's memory) iov_base and iov_len,
 * 8 bytes each.  Elements that do not fit are left out (count is less than
 * the call's).
 *
 * A msghdr: struct sbx_trace_msghdr, then an iovec array of msg_iov as
 * above.  A pollfd array: the struct pollfd copies, after the call (their
 * revents).  Directory entries: the number of entries (4 bytes).
 */
#define SBX_TRACE_IOV_COUNT 0x3f /* first byte: elements that follow */
#define SBX_TRACE_IOV_ADDR 0x80  /* first byte: address form */
#define SBX_TRACE_IOV_CUT 0x80   /* an element's byte count: its data was cut */
#define SBX_TRACE_IOV_DATA 32    /* bytes copied of each element at most */

struct sbx_trace_msghdr {
    uint64_t name;       /* msg_name, the pointer */
    uint64_t control;    /* msg_control, the pointer */
    uint64_t controllen; /* after the call */
    uint64_t cmsg_len;   /* the first control message's header, when ncmsg > 0 */
    int32_t cmsg_level, cmsg_type;
    uint32_t namelen, iovlen; /* iovlen: cut to 32 bits */
    int32_t flags;            /* msg_flags, after the call */
    uint8_t ncmsg;            /* control messages, counted up to SBX_TRACE_CMSG_MAX */
    uint8_t cmsg_ndata;       /* bytes in cmsg_data */
    uint8_t cmsg_data[12];    /* the first bytes of the first message's data */
} __attribute__((packed));
#define SBX_TRACE_CMSG_MAX 16

struct sbx_trace_rec {
    uint64_t seq;     /* position + 1 once the record is complete */
    uint32_t nr;      /* syscall number */
    int32_t tid;      /* thread id in the sandbox's pid namespace */
    uint16_t kind;    /* enum sbx_trace_kind */
    uint16_t flags;   /* SBX_TRACE_* */
    uint8_t sarg[2];  /* the argument str[i] was copied from, or SBX_TRACE_NOARG */
    uint16_t slen[2]; /* bytes in str[i] */
    uint16_t reserved[2];
    uint64_t args[6];
    int64_t ret; /* raw result: -errno on failure */
    char str[2][SBX_TRACE_STR];
};
_Static_assert(sizeof(struct sbx_trace_rec) == 256, "trace records are 256 bytes");

/* What is recorded: every call (--trace, --learn), or the numbers in select (the policy's `trace`
 * rules). */
#define SBX_TRACE_ALL 1
#define SBX_TRACE_SELECT 2

struct sbx_trace_ring {
    uint64_t magic;
    uint64_t head;    /* next position producers reserve */
    uint64_t tail;    /* first position the consumer has not released */
    uint64_t dropped; /* calls not recorded because the ring was full */
    uint64_t what;    /* SBX_TRACE_ALL or SBX_TRACE_SELECT, written by the daemon */
    uint64_t reserved[3];
    uint64_t select[8]; /* with SBX_TRACE_SELECT: bit nr % 64 of word nr / 64 */
    struct sbx_trace_rec rec[];
};
_Static_assert(sizeof(struct sbx_trace_ring) == 128, "the ring header is 128 bytes");

/* Bytes of the ring region for nrec records. */
#define SBX_TRACE_RING_SIZE(nrec) (sizeof(struct sbx_trace_ring) + (uint64_t)(nrec)*256u)

/* The size of a traced sandbox's stats memfd: the stats, then the ring, whole pages. */
static inline uint64_t sbx_trace_memfd_size(void)
{
    return SBX_TRACE_OFFSET + ((SBX_TRACE_RING_SIZE(SBX_TRACE_NREC_DEFAULT) + 4095) & ~4095ull);
}

/*
 * The number of records of a ring of bytes bytes (the memfd's size less
 * SBX_TRACE_OFFSET): the largest power of two that fits, at most
 * SBX_TRACE_NREC_MAX; 0 when not even one does.
 */
static inline uint64_t sbx_trace_nrec(uint64_t bytes)
{
    if (bytes < SBX_TRACE_RING_SIZE(1))
        return 0;
    uint64_t n = (bytes - sizeof(struct sbx_trace_ring)) / sizeof(struct sbx_trace_rec);
    if (n > SBX_TRACE_NREC_MAX)
        n = SBX_TRACE_NREC_MAX;
    while (n & (n - 1))
        n &= n - 1;
    return n;
}
