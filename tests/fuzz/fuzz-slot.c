/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the rewriter's slot search (trampoline/rewrite-site.c)
 * on arbitrary code bytes.  Input: byte 0 says where the `syscall` goes (4x),
 * byte 1 how many known points follow (2 bytes each, offsets into the code),
 * byte 2 an optional slot already taken, then the code.  Besides memory
 * errors it checks what a slot promises: within rel8 reach of the site,
 * inside the code, padding instructions only, clear of the site and of the
 * taken slot; and that after the patch (eb rel8 at the site, e9 rel32 and
 * 90s in the slot) decoding from the same known point still lands on the
 * site and behind the slot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite-site.h"
#include "x86-decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CODE_MAX 4096

static uint64_t sorted_unique(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && a[j - 1] > a[j]; j--) {
            uint64_t t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || a[m - 1] != a[i])
            a[m++] = a[i];
    return m;
}

/* Whether decoding buf from `from` reaches `at` exactly (before passing it). */
static int lands(const uint8_t *buf, size_t len, uint64_t base, uint64_t from, uint64_t at)
{
    uint64_t pos = from;
    while (pos < at) {
        int n = sbx_x86_insn_len(buf + (pos - base), len - (pos - base));
        if (n < 0)
            return 0;
        pos += (uint64_t)n;
    }
    return pos == at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t nk = data[1] % 16;
    size_t head = 3 + 2 * nk;
    if (size <= head + 2 || size - head > CODE_MAX)
        return 0;
    static uint8_t code[CODE_MAX], patched[CODE_MAX];
    size_t len = size - head;
    memcpy(code, data + head, len);
    uint64_t base = (uint64_t)(uintptr_t)code;
    uint64_t sc = base + (4u * data[0] < len - 1 ? 4u * data[0] : len - 2);
    code[sc - base] = 0x0f;
    code[sc - base + 1] = 0x05;

    uint64_t st[17];
    size_t n = 0;
    st[n++] = base; /* the start of the code is known, as a segment start is */
    for (size_t i = 0; i < nk; i++)
        st[n++] = base + (uint64_t)(data[3 + 2 * i] | data[4 + 2 * i] << 8) % (len + 1);
    n = sorted_unique(st, n);

    struct sbx_rw_slot taken = { 0, 0 }, slot;
    size_t ntaken = 0;
    if (data[2] & 1) {
        taken.at = base + (data[2] * 7u) % len;
        taken.end = taken.at + 5 + data[2] % 3;
        ntaken = 1;
    }
    if (!sbx_rw_find_slot(st, n, base, base + len, sc, &taken, ntaken, &slot))
        return 0;

    int64_t d = (int64_t)(slot.at - (sc + 2));
    if (d < -128 || d > 127 || slot.at < base || slot.end > base + len ||
        slot.end < slot.at + SBX_RW_SLOT_LEN)
        abort();
    if (slot.at < sc + 2 && slot.end > sc)
        abort();
    if (ntaken && slot.at < taken.end && slot.end > taken.at)
        abort();
    for (uint64_t pos = slot.at; pos < slot.end;) {
        int l = sbx_x86_insn_len(code + (pos - base), slot.end - pos);
        uint64_t t;
        if (l < 0 || sbx_x86_insn_flow(code + (pos - base), l, pos, &t) != SBX_X86_PAD)
            abort();
        pos += (uint64_t)l;
    }

    /* The patch as rewrite.c writes it; boundaries outside the slot survive. */
    memcpy(patched, code, len);
    patched[slot.at - base] = 0xe9;
    memset(patched + (slot.at - base) + 1, 0, 4);
    memset(patched + (slot.at - base) + SBX_RW_SLOT_LEN, 0x90,
           slot.end - slot.at - SBX_RW_SLOT_LEN);
    patched[sc - base] = 0xeb;
    patched[sc - base + 1] = (uint8_t)(int8_t)d;
    size_t k = 0;
    while (k + 1 < n && st[k + 1] <= (slot.at < sc ? slot.at : sc))
        k++;
    if (!lands(code, len, base, st[k], sc) || !lands(patched, len, base, st[k], sc))
        abort();
    if (lands(code, len, base, st[k], slot.at) && !lands(patched, len, base, st[k], slot.end))
        abort();
    return 0;
}
