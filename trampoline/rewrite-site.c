/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site shapes and proofs for rewrite mode (see rewrite-site.h).
 *
 * Signal-safety contract: pure functions over bytes in memory; no state, no
 * syscalls, no library calls.  Callable from the SIGSYS handler.
 */
#include "gate-prog.h"
#include "rewrite-site.h"
#include "x86-decode.h"

#include <asm/unistd.h>

/* How far back from a site a proof may start decoding. */
#define PROOF_REACH (256 << 10)
/*
 * Bytes decoded on each side of a syscall site when looking for a slot: the
 * slot lies within 128 bytes of it, and a rel8 branch into the slot within
 * 128 bytes of that.
 */
#define WINDOW 288
#define MAX_TARGETS 256
#define MAX_GAPS 64

#define PAGE_OF(a) ((uint64_t)(a) >> 12)

int sbx_rw_is_mov_site(const uint8_t *p)
{
    uint32_t imm =
        (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    /*
     * rt_sigreturn must run on the signal frame: never through a stub.  The
     * five bytes written stay on one page, so that a page that goes back to
     * the file's contents (MADV_DONTNEED) takes the whole jmp with it.
     */
    return p[0] == 0xb8 && p[5] == 0x0f && p[6] == 0x05 && imm != __NR_rt_sigreturn &&
           PAGE_OF(p) == PAGE_OF(p + 4);
}

int sbx_rw_known_ungated(uint64_t lo, uint64_t sc)
{
    const uint8_t *p = (const uint8_t *)sc;
    if (sc >= lo + 2 && p[-2] == 0x31 && p[-1] == 0xc0)
        return !sbx_gate_is_gated(0);
    if (sc < lo + 5 || p[-5] != 0xb8)
        return 0;
    uint32_t imm =
        (uint32_t)p[-4] | (uint32_t)p[-3] << 8 | (uint32_t)p[-2] << 16 | (uint32_t)p[-1] << 24;
    return !sbx_gate_is_gated(imm);
}

/*
 * A signal restorer, `mov $15,%eax` (b8 or 48 c7 c0) right before the
 * `syscall`: left alone, like every rt_sigreturn, so that it runs on the
 * signal frame as it is, and unwinders that recognise these bytes to find
 * signal frames keep finding them.
 */
static int is_restorer(const uint8_t *sc, uint64_t lo)
{
    static const uint8_t mov_eax[] = { 0xb8, 0x0f, 0x00, 0x00, 0x00 };
    static const uint8_t mov_rax[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00 };
    int m = 1;
    if ((uint64_t)sc >= lo + sizeof(mov_eax)) {
        for (unsigned i = 0; i < sizeof(mov_eax); i++)
            m &= sc[(int)i - (int)sizeof(mov_eax)] == mov_eax[i];
        if (m)
            return 1;
    }
    m = 1;
    if ((uint64_t)sc >= lo + sizeof(mov_rax)) {
        for (unsigned i = 0; i < sizeof(mov_rax); i++)
            m &= sc[(int)i - (int)sizeof(mov_rax)] == mov_rax[i];
        if (m)
            return 1;
    }
    return 0;
}

/* Index of the last known point <= at, or nst when there is none. */
static size_t last_at_or_before(const uint64_t *st, size_t nst, uint64_t at)
{
    size_t lo = 0, top = nst;
    while (lo < top) {
        size_t mid = lo + (top - lo) / 2;
        if (st[mid] <= at)
            lo = mid + 1;
        else
            top = mid;
    }
    return lo == 0 ? nst : lo - 1;
}

int sbx_rw_prove(const uint64_t *st, size_t nst, uint64_t hi, uint64_t at)
{
    size_t k = last_at_or_before(st, nst, at);
    if (k == nst || at - st[k] > PROOF_REACH)
        return 0;
    uint64_t pos = st[k];
    while (pos < at) {
        int len = sbx_x86_insn_len((const uint8_t *)pos, hi - pos);
        if (len < 0)
            return 0;
        pos += (uint64_t)len;
    }
    return pos == at;
}

/*
 * A short jmp onto a `jmp rel32` is what a patched syscall site looks like:
 * its stub returns right behind it, so it falls through in effect and what
 * follows it is not dead padding.
 */
static int is_patched_syscall(const uint8_t *p, uint64_t target, uint64_t lo, uint64_t hi)
{
    return p[0] == 0xeb && target >= lo && target < hi && *(const uint8_t *)target == 0xe9;
}

struct gap {
    uint64_t lo, hi;
};

/* End of the padding instructions from q that cover q .. q + 4, or 0 when gap ends first. */
static uint64_t slot_end(uint64_t q, uint64_t gap_hi)
{
    uint64_t pos = q;
    while (pos < q + SBX_RW_SLOT_LEN) {
        int len = sbx_x86_insn_len((const uint8_t *)pos, gap_hi - pos);
        if (len < 0)
            return 0;
        pos += (uint64_t)len;
    }
    return pos <= gap_hi ? pos : 0;
}

int sbx_rw_find_slot(const uint64_t *st, size_t nst, uint64_t lo, uint64_t hi, uint64_t sc,
                     const struct sbx_rw_slot *taken, size_t ntaken, struct sbx_rw_slot *out)
{
    if (sc < lo || sc + 2 > hi)
        return 0;
    const uint8_t *p = (const uint8_t *)sc;
    if (p[0] != 0x0f || p[1] != 0x05 || is_restorer(p, lo) || PAGE_OF(sc) != PAGE_OF(sc + 1))
        return 0;
    uint64_t wlo = sc - lo > WINDOW ? sc - WINDOW : lo;
    uint64_t whi = hi - (sc + 2) > WINDOW ? sc + 2 + WINDOW : hi;
    /* Decode from a known point at or before the window ... */
    size_t k = last_at_or_before(st, nst, wlo);
    if (k == nst || wlo - st[k] > PROOF_REACH || st[k] < lo)
        return 0;
    /* ... to the first known point at or after its end (or the end of the code). */
    size_t kend = last_at_or_before(st, nst, whi - 1) + 1;
    if (kend > nst)
        kend = 0; /* none before whi: the first one is at or after it */
    uint64_t wend = kend < nst && st[kend] <= hi ? st[kend] : hi;
    if (wend - sc > PROOF_REACH)
        return 0;

    uint64_t targets[MAX_TARGETS];
    struct gap gaps[MAX_GAPS];
    size_t ntargets = 0, ngaps = 0;
    int sc_seen = 0, after_end = 0, in_gap = 0, gap_at_known = 0, at_known = 0;
    uint64_t gap_lo = 0, pos = st[k];
    k++;
    /*
     * A gap is a run of padding after an instruction that never falls
     * through.  One that begins at a known point (a function's end) must
     * also end at one (the next function's start): nops at a function's
     * start, as -fpatchable-function-entry leaves them, are executed.
     */
#define CLOSE_GAP(end, end_known)                                                                  \
    do {                                                                                           \
        if (in_gap && (end_known || !gap_at_known) && ngaps < MAX_GAPS)                            \
            gaps[ngaps++] = (struct gap){ gap_lo, (end) };                                         \
        in_gap = 0;                                                                                \
    } while (0)
    while (pos < wend) {
        at_known = 0;
        if (k < nst && st[k] <= pos) {
            /* Decoding must land on every known point it reaches. */
            if (st[k] < pos)
                return 0;
            while (k < nst && st[k] == pos)
                k++;
            at_known = 1;
            if (in_gap) {
                CLOSE_GAP(pos, 1);
                after_end = 0;
            }
        }
        int len = sbx_x86_insn_len((const uint8_t *)pos, wend - pos);
        if (len < 0)
            return 0;
        uint64_t t = 0;
        enum sbx_x86_flow f = sbx_x86_insn_flow((const uint8_t *)pos, len, pos, &t);
        if (f == SBX_X86_ODD)
            return 0;
        if (pos == sc)
            sc_seen = 1;
        if (f == SBX_X86_JCC || f == SBX_X86_CALL || f == SBX_X86_JMP) {
            if (t + SBX_X86_MAX_INSN >= wlo && t < whi + SBX_X86_MAX_INSN) {
                if (ntargets == MAX_TARGETS)
                    return 0;
                targets[ntargets++] = t;
            }
            if (f == SBX_X86_JMP && is_patched_syscall((const uint8_t *)pos, t, lo, hi))
                f = SBX_X86_NEXT;
        }
        if (f == SBX_X86_PAD && (in_gap || after_end)) {
            if (!in_gap) {
                gap_lo = pos;
                gap_at_known = at_known;
            }
            in_gap = 1;
        } else {
            CLOSE_GAP(pos, 0);
        }
        after_end = f == SBX_X86_JMP || f == SBX_X86_END;
        pos += (uint64_t)len;
    }
    if (pos != wend || !sc_seen)
        return 0;
    /* wend is a known point or the end of the code. */
    CLOSE_GAP(pos, 1);
#undef CLOSE_GAP

    uint64_t from = sc + 2, best = UINT64_MAX; /* the chosen slot's distance from sc + 2 */
    for (size_t g = 0; g < ngaps; g++) {
        /*
         * Only padding whose every branch source in rel8 reach was decoded,
         * and whose every byte was watched for targets: inside the window
         * by 130 bytes on each side.
         */
        if (gaps[g].lo < wlo + 130 && wlo != lo)
            continue;
        if (gaps[g].hi + 130 > whi && whi != hi)
            continue;
        int targeted = 0;
        for (size_t i = 0; i < ntargets && !targeted; i++)
            targeted = targets[i] >= gaps[g].lo && targets[i] < gaps[g].hi;
        if (targeted)
            continue;
        /* Every padding instruction start in the gap is a candidate. */
        for (uint64_t q = gaps[g].lo; q + SBX_RW_SLOT_LEN <= gaps[g].hi;) {
            int len = sbx_x86_insn_len((const uint8_t *)q, gaps[g].hi - q);
            if (len < 0)
                break;
            int64_t d = (int64_t)(q - from);
            uint64_t end = slot_end(q, gaps[g].hi);
            /* Site and slot on one page: a page restored from the file takes both. */
            int free = end != 0 && d >= -128 && d <= 127 && PAGE_OF(q) == PAGE_OF(sc) &&
                       PAGE_OF(end - 1) == PAGE_OF(sc);
            for (size_t i = 0; i < ntaken && free; i++)
                free = end <= taken[i].at || q >= taken[i].end;
            uint64_t dist = d < 0 ? (uint64_t)-d : (uint64_t)d;
            if (free && dist < best) {
                best = dist;
                out->at = q;
                out->end = end;
            }
            q += (uint64_t)len;
        }
    }
    return best != UINT64_MAX;
}

size_t sbx_rw_candidates(const uint64_t *st, size_t nst, uint64_t lo, uint64_t hi,
                         int (*skip)(uint64_t lo, uint64_t sc), struct sbx_rw_patch *out, size_t n,
                         size_t max, struct sbx_rw_slot *taken, size_t *ntaken)
{
    for (uint64_t a = lo; a + 2 <= hi && n < max; a++) {
        const uint8_t *p = (const uint8_t *)a;
        if (p[0] != 0x0f || p[1] != 0x05 || sbx_rw_known_ungated(lo, a) || (skip && skip(lo, a)))
            continue;
        if (a >= lo + 5 && sbx_rw_is_mov_site(p - 5) && sbx_rw_prove(st, nst, hi, a - 5)) {
            out[n++] = (struct sbx_rw_patch){ .site = a - 5 };
            continue;
        }
        struct sbx_rw_slot slot;
        if (sbx_rw_find_slot(st, nst, lo, hi, a, taken, *ntaken, &slot)) {
            out[n++] = (struct sbx_rw_patch){ .site = a, .slot = slot };
            taken[(*ntaken)++] = slot;
        }
    }
    return n;
}
