/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode's stubs and the patches that point sites at them.  Two
 * shapes of site (rewrite-site.h):
 *
 * A mov site A is `b8 imm32 0f 05`.  Only its 5-byte mov becomes `e9 rel32`
 * to a stub; the `syscall` at A+5 stays, so every instruction boundary
 * survives and a branch straight to A+5 still traps.  Its stub (64 bytes):
 *
 *   +0  lea -128(%rsp),%rsp      step over the guest's red zone
 *   +5  mov $imm32,%eax
 *   +10 call *slot(%rip)         slot = first 8 bytes of the stub page(s)
 *   +16 lea 128(%rsp),%rsp
 *   +24 lea A+7(%rip),%rcx       what a real syscall leaves in rcx
 *   +31 jmp A+7
 *   +36 lea 128(%rsp),%rsp       the fast entry returns here (+20) when the
 *   +44 jmp A+5                  call needs the trap path: eax = nr again
 *
 * A syscall site S is any other `0f 05` (eax from a register, `xor
 * %eax,%eax` as in glibc's read, memory).  It becomes `eb rel8` to a slot P,
 * five bytes of dead padding within 128 bytes that become `e9 rel32` to the
 * stub (sbx_rw_find_slot proves the padding dead); S+2 is untouched, so the
 * trap of the call that patches it returns where it always did.  Its stub:
 *
 *   +0  lea -128(%rsp),%rsp
 *   +5  call *slot(%rip)         rax is the guest's number, whatever it is
 *   +11 lea 128(%rsp),%rsp
 *   +19 lea S+2(%rip),%rcx
 *   +26 jmp S+2
 *   +31 lea 128(%rsp),%rsp       the trap path (+11 + 20): a real `syscall`
 *   +39 syscall                  here, with the guest's registers and stack
 *   +41 lea S+2(%rip),%rcx
 *   +48 jmp S+2
 *
 * Stubs live in areas mapped within rel32 reach of the code they serve,
 * written while read-write and executable only while read-only; guests may
 * not map, unmap or protect them (sbx_rw_owns).  Every patch checks the
 * bytes it replaces first, so code that changed since its proof is left
 * alone.  The offsets the fast entry relies on are in entry-abi.h.
 *
 * Signal-safety contract: see rewrite.h.  The area table grows under the
 * rewrite lock and is read without it (sbx_rw_owns) with an acquire load of
 * its count.
 */
#include <linux/fcntl.h>
#include <linux/mman.h>

#include "rewrite-internal.h"
#include "x86-decode.h"

#define MAX_AREAS 1024
/* rel32 reach, with room for the size of a stub area. */
#define REACH ((1LL << 31) - (16LL << 20))

struct area {
    uint64_t lo, hi;
};

static struct area areas[MAX_AREAS];
static unsigned nareas;

static int in_reach(uint64_t a, uint64_t b)
{
    int64_t d = (int64_t)(a - b);
    return d < REACH && d > -REACH;
}

/* Maps size bytes read-write within reach of [lo, hi), never over anything. */
static uint64_t map_area(uint64_t lo, uint64_t hi, uint64_t size)
{
    static const int64_t steps[] = { 1, 16, 256, 4096, 65536 };
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned i = 0; i < SBX_ARRAY_SIZE(steps); i++) {
            for (int j = 0; j < 8; j++) {
                int64_t delta = (int64_t)((uint64_t)steps[i] * (uint64_t)(j + 1) * SBX_RW_PAGE);
                uint64_t a = dir == 0
                                 ? (lo & ~(SBX_RW_PAGE - 1)) - size - (uint64_t)delta + SBX_RW_PAGE
                                 : ((hi + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1)) + (uint64_t)delta -
                                       SBX_RW_PAGE;
                if (a < 0x10000 || a + size > SBX_ELF_USER_TOP || !in_reach(a, hi) ||
                    !in_reach(a + size, lo) ||
                    (a < SBX_TRAMPOLINE_RESERVED_HI && a + size > SBX_TRAMPOLINE_RESERVED_LO))
                    continue;
                long r =
                    sbx_tramp_syscall6(__NR_mmap, (long)a, (long)size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
                if (r == (long)a)
                    return a;
                if (r >= 0)
                    sbx_sys2(__NR_munmap, r, (long)size);
            }
        }
    }
    return 0;
}

static void put32(uint8_t *p, int64_t v)
{
    int32_t x = (int32_t)v;
    memcpy(p, &x, 4);
}

static const uint8_t lea_down[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };
static const uint8_t lea_up[] = { 0x48, 0x8d, 0xa4, 0x24, 0x80, 0x00, 0x00, 0x00 };

/* lea to(%rip),%rcx at p (7 bytes), p being at address at. */
static void emit_lea_rcx(uint8_t *p, uint64_t at, uint64_t to)
{
    p[0] = 0x48;
    p[1] = 0x8d;
    p[2] = 0x0d;
    put32(p + 3, (int64_t)(to - (at + 7)));
}

/* jmp to at p (5 bytes), p being at address at. */
static void emit_jmp(uint8_t *p, uint64_t at, uint64_t to)
{
    p[0] = 0xe9;
    put32(p + 1, (int64_t)(to - (at + 5)));
}

/*
 * The layout the fast entry relies on (entry-abi.h): its return address
 * is right after the 6-byte `call *slot(%rip)`, and the trap path starts
 * SBX_RW_STUB_ALT_DELTA bytes after that, past the lea, lea and jmp (8 + 7
 * + 5 bytes) of the way back to the site.
 */
_Static_assert(SBX_RW_RED_ZONE == 128, "lea_down and lea_up encode 128");
_Static_assert(SBX_RW_MOV_STUB_RET == SBX_RW_MOV_STUB_CALL + 6, "mov stub: call");
_Static_assert(SBX_RW_SC_STUB_RET == SBX_RW_SC_STUB_CALL + 6, "syscall stub: call");
_Static_assert(SBX_RW_STUB_ALT_DELTA == 8 + 7 + 5, "stubs: the way back before the trap path");
_Static_assert(SBX_RW_MOV_STUB_ALT + 8 + 5 <= SBX_RW_STUB_SIZE, "mov stub: size");
_Static_assert(SBX_RW_SC_STUB_ALT + 8 + 2 + 7 + 5 <= SBX_RW_STUB_SIZE, "syscall stub: size");
_Static_assert(SBX_RW_STUB_HDR >= 8, "stub header: the fast entry's address");

/* The stub of a mov site (layout at the top of this file). */
static void emit_mov_stub(uint8_t *p, uint64_t at, uint64_t site, uint32_t imm, uint64_t slot)
{
    const unsigned call = SBX_RW_MOV_STUB_CALL, ret = SBX_RW_MOV_STUB_RET;
    const unsigned alt = SBX_RW_MOV_STUB_ALT;
    memset(p, 0xcc, SBX_RW_STUB_SIZE);
    memcpy(p, lea_down, 5);
    p[5] = 0xb8;
    memcpy(p + 6, &imm, 4);
    p[call] = 0xff;
    p[call + 1] = 0x15;
    put32(p + call + 2, (int64_t)(slot - (at + ret)));
    memcpy(p + ret, lea_up, 8);
    emit_lea_rcx(p + ret + 8, at + ret + 8, site + 7);
    emit_jmp(p + ret + 15, at + ret + 15, site + 7);
    memcpy(p + alt, lea_up, 8);
    emit_jmp(p + alt + 8, at + alt + 8, site + 5);
}

/* The stub of a syscall site (layout at the top of this file). */
static void emit_syscall_stub(uint8_t *p, uint64_t at, uint64_t site, uint64_t slot)
{
    const unsigned call = SBX_RW_SC_STUB_CALL, ret = SBX_RW_SC_STUB_RET;
    const unsigned alt = SBX_RW_SC_STUB_ALT;
    memset(p, 0xcc, SBX_RW_STUB_SIZE);
    memcpy(p, lea_down, 5);
    p[call] = 0xff;
    p[call + 1] = 0x15;
    put32(p + call + 2, (int64_t)(slot - (at + ret)));
    memcpy(p + ret, lea_up, 8);
    emit_lea_rcx(p + ret + 8, at + ret + 8, site + 2);
    emit_jmp(p + ret + 15, at + ret + 15, site + 2);
    memcpy(p + alt, lea_up, 8);
    p[alt + 8] = 0x0f;
    p[alt + 9] = 0x05;
    emit_lea_rcx(p + alt + 10, at + alt + 10, site + 2);
    emit_jmp(p + alt + 17, at + alt + 17, site + 2);
}

static int register_area(uint64_t lo, uint64_t size)
{
    if (nareas == MAX_AREAS)
        return -1;
    areas[nareas] = (struct area){ lo, lo + size };
    __atomic_store_n(&nareas, nareas + 1, __ATOMIC_RELEASE);
    return 0;
}

/* A read-write stub area for n stubs near [lo, hi), its slot filled; 0 when none. */
uint64_t sbx_rw_new_area(uint64_t lo, uint64_t hi, size_t n, uint64_t *ret_size)
{
    uint64_t size = (SBX_RW_STUB_HDR + n * SBX_RW_STUB_SIZE + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1);
    if (nareas == MAX_AREAS)
        return 0;
    uint64_t a = map_area(lo, hi, size);
    if (!a)
        return 0;
    uint64_t entry = (uint64_t)sbx_tramp_fast_entry;
    memcpy((void *)a, &entry, sizeof(entry));
    register_area(a, size);
    *ret_size = size;
    return a;
}

void sbx_rw_stub_for(uint64_t stub, uint64_t area, const struct sbx_rw_patch *pt)
{
    if (pt->slot.at) {
        emit_syscall_stub((uint8_t *)stub, stub, pt->site, area);
    } else {
        uint32_t imm;
        memcpy(&imm, (const uint8_t *)pt->site + 1, 4);
        emit_mov_stub((uint8_t *)stub, stub, pt->site, imm, area);
    }
}

/* Whether [lo, hi) is still padding only (a slot nobody wrote yet). */
static int still_padding(uint64_t lo, uint64_t hi)
{
    for (uint64_t pos = lo; pos < hi;) {
        int len = sbx_x86_insn_len((const uint8_t *)pos, hi - pos);
        uint64_t t;
        if (len < 0 || sbx_x86_insn_flow((const uint8_t *)pos, len, pos, &t) != SBX_X86_PAD)
            return 0;
        pos += (uint64_t)len;
    }
    return 1;
}

/*
 * Points a site at its stub, writing the bytes at out (the code's own
 * address, or a copy of the patch's span at the address base).  Every byte
 * of the code is checked first: a mov site must still hold the mov its stub
 * was built from, a syscall site its `syscall` and its slot padding.
 * Returns whether it wrote.
 */
static int patch_to(const struct sbx_rw_patch *pt, uint64_t stub, uint8_t *out, uint64_t base)
{
    const uint8_t *p = (const uint8_t *)pt->site;
    uint8_t *po = (uint8_t *)((uintptr_t)out + (pt->site - base));
    if (pt->slot.at) {
        if (p[0] != 0x0f || p[1] != 0x05 || !still_padding(pt->slot.at, pt->slot.end))
            return 0;
        uint8_t *q = (uint8_t *)((uintptr_t)out + (pt->slot.at - base));
        emit_jmp(q, pt->slot.at, stub);
        memset(q + SBX_RW_SLOT_LEN, 0x90, pt->slot.end - pt->slot.at - SBX_RW_SLOT_LEN);
        po[1] = (uint8_t)(int8_t)(int64_t)(pt->slot.at - (pt->site + 2));
        po[0] = 0xeb;
        return 1;
    }
    uint8_t expect[SBX_RW_MOV_LEN];
    memcpy(expect, (const uint8_t *)stub + 5, 5);
    expect[5] = 0x0f;
    expect[6] = 0x05;
    if (memcmp(p, expect, SBX_RW_MOV_LEN) != 0)
        return 0;
    emit_jmp(po, pt->site, stub);
    return 1;
}

/* In place: the pages of the site and its slot are writable, not executable. */
int sbx_rw_write_patch(const struct sbx_rw_patch *pt, uint64_t stub)
{
    return patch_to(pt, stub, (uint8_t *)0, 0);
}

/*
 * /proc/self/mem writes to code that is not writable without changing its
 * protection, so the patched page does not split its mapping in two or
 * three (an mprotect round trip leaves it VM_ACCOUNT, which its neighbours
 * are not): /proc/self/maps keeps the lines a native process has.  Open for
 * the moment of a patch only; -1 where it cannot be opened.
 */
int sbx_rw_self_mem_open(void)
{
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)"/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
    return fd < 0 ? -1 : (int)fd;
}

/*
 * Writes one patch through mem (sbx_rw_self_mem_open): 1 written, 0 the code is no
 * longer what was proven, -1 the kernel refused the write (a kernel booted
 * with proc_mem.force_override=never, say): the caller mprotects instead.
 */
int sbx_rw_poke_patch(int mem, const struct sbx_rw_patch *pt, uint64_t stub)
{
    uint64_t lo, hi;
    uint8_t buf[512];
    sbx_rw_patch_span(pt, &lo, &hi);
    if (hi - lo > SBX_RW_PAGE)
        return -1;
    memcpy(buf, (const void *)lo, hi - lo);
    if (!patch_to(pt, stub, buf, lo))
        return 0;
    return sbx_sys4(__NR_pwrite64, mem, (long)buf, (long)(hi - lo), (long)lo) == (long)(hi - lo)
               ? 1
               : -1;
}

/* The bytes a patch writes: [*lo, *hi). */
void sbx_rw_patch_span(const struct sbx_rw_patch *pt, uint64_t *lo, uint64_t *hi)
{
    *lo = pt->site;
    *hi = pt->site + (pt->slot.at ? 2 : SBX_RW_MOV_LEN);
    if (pt->slot.at && pt->slot.at < *lo)
        *lo = pt->slot.at;
    if (pt->slot.at && pt->slot.end > *hi)
        *hi = pt->slot.end;
}

/* Whether [lo, hi) lies inside one of r[0..nr). */
static int in_one_range(const struct sbx_rw_range *r, unsigned nr, uint64_t lo, uint64_t hi)
{
    for (unsigned i = 0; i < nr; i++)
        if (lo >= r[i].lo && hi <= r[i].hi)
            return 1;
    return 0;
}

/*
 * Writes pt[0..n) through mem, with one pwrite for each run of patches that
 * follow each other in pt[] at rising addresses within at most a page of
 * one range: a load patches tens of sites, several to a page, and each
 * write to /proc/self/mem walks the page tables again.  The bytes between
 * the patches of a run are written back as they are; nobody runs this code
 * yet.  The spans of a run do not overlap, so each patch's check (patch_to,
 * on the live code) sees what it would have seen after the earlier writes.
 * Returns 1, or 0 where the kernel refused a write (as sbx_rw_poke_patch):
 * the caller mprotects and writes in place.
 */
static int poke_batched(int mem, uint8_t buf[SBX_RW_PAGE], const struct sbx_rw_range *r,
                        unsigned nr, const struct sbx_rw_patch *pt, size_t n, uint64_t area)
{
    uint64_t glo = 0, ghi = 0;
    for (size_t j = 0; j <= n; j++) {
        uint64_t lo = 0, hi = 0;
        if (j < n)
            sbx_rw_patch_span(&pt[j], &lo, &hi);
        int joins = j < n && ghi > glo && lo >= ghi && hi - glo <= SBX_RW_PAGE &&
                    in_one_range(r, nr, glo, hi);
        if (!joins && ghi > glo) {
            if (sbx_sys4(__NR_pwrite64, mem, (long)buf, (long)(ghi - glo), (long)glo) !=
                (long)(ghi - glo))
                return 0;
            glo = ghi = 0;
        }
        if (j == n)
            break;
        if (!joins) {
            /* Never so long (a slot is within a short jump); written in place then. */
            if (hi - lo > SBX_RW_PAGE)
                return 0;
            glo = ghi = lo;
        }
        memcpy(buf + (ghi - glo), (const void *)ghi, hi - ghi);
        ghi = hi;
        patch_to(&pt[j], area + SBX_RW_STUB_HDR + j * SBX_RW_STUB_SIZE, buf, glo);
    }
    return 1;
}

/*
 * Patches s->patches[0..n) (inside the ranges r[0..nr)) that nobody can be
 * running: stubs in a new area, then the sites written.
 *
 * A mapping that is not executable yet (fresh) is made writable as a whole
 * and written directly: one mprotect, then a copy-on-write fault per page,
 * where a write through /proc/self/mem costs a syscall and a page-table
 * walk for each page as well (22 pages of busybox: 11 us against 80 us
 * here).  Made writable whole, the mapping splits from no neighbour that a
 * native process's would not (the caller gives it the guest's protection
 * next, as a native mprotect or mmap of that range would); what stays is
 * that the kernel now accounts it as once-writable (`ac` in smaps'
 * VmFlags).  Code that may be running is written through /proc/self/mem,
 * which needs no change of protection and so splits no mapping, or where
 * the kernel refuses that, each range made writable, written and set back
 * to prot.
 */
void sbx_rw_patch_sites(struct sbx_rw_scratch *s, const struct sbx_rw_range *r, unsigned nr,
                        size_t n, int prot, const struct sbx_rw_range *fresh)
{
    const struct sbx_rw_patch *pt = s->patches;
    if (!n)
        return;
    uint64_t size, lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        sbx_rw_patch_span(&pt[i], &a, &b);
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    /*
     * The area's search starts below the code's ranges, not below the first
     * site: the pages between are the mapping's own, and each would be one
     * more refused mmap.  The stubs stay within reach of every site all the same.
     */
    for (unsigned i = 0; i < nr; i++)
        lo = r[i].lo < lo ? r[i].lo : lo;
    uint64_t area = sbx_rw_new_area(lo, hi, n, &size);
    if (!area)
        return;
    for (size_t i = 0; i < n; i++)
        sbx_rw_stub_for(area + SBX_RW_STUB_HDR + i * SBX_RW_STUB_SIZE, area, &pt[i]);
    if (sbx_sys3(__NR_mprotect, (long)area, (long)size, PROT_READ | PROT_EXEC) < 0)
        return;
    /*
     * A fresh mapping is written in place; where the kernel refuses to make
     * it writable (no memory to account it, say), as code that may be running.
     */
    if (fresh && sbx_sys3(__NR_mprotect, (long)fresh->lo, (long)(fresh->hi - fresh->lo),
                          PROT_READ | PROT_WRITE) == 0) {
        for (size_t j = 0; j < n; j++)
            sbx_rw_write_patch(&pt[j], area + SBX_RW_STUB_HDR + j * SBX_RW_STUB_SIZE);
        return;
    }
    int mem = sbx_rw_self_mem_open(), poked = mem >= 0;
    if (poked)
        poked = poke_batched(mem, s->poke, r, nr, pt, n, area);
    if (mem >= 0)
        sbx_sys1(__NR_close, mem);
    /* Refused: what was poked no longer checks out below, the rest is written in place. */
    for (unsigned i = 0; !poked && i < nr; i++) {
        uint64_t plo = r[i].lo & ~(SBX_RW_PAGE - 1),
                 phi = (r[i].hi + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1);
        if (sbx_sys3(__NR_mprotect, (long)plo, (long)(phi - plo), PROT_READ | PROT_WRITE) < 0)
            continue;
        for (size_t j = 0; j < n; j++)
            if (pt[j].site >= r[i].lo && pt[j].site < r[i].hi)
                sbx_rw_write_patch(&pt[j], area + SBX_RW_STUB_HDR + j * SBX_RW_STUB_SIZE);
        sbx_sys3(__NR_mprotect, (long)plo, (long)(phi - plo), prot);
    }
}

int sbx_rw_owns(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
    unsigned n = __atomic_load_n(&nareas, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (addr < areas[i].hi && end > areas[i].lo)
            return 1;
    return 0;
}
