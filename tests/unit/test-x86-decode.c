/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the trampoline's x86-64 decoder (trampoline/x86-decode.c) and of
 * the rewriter's syscall-site slots (trampoline/rewrite-site.c) against
 * Zydis: every executable segment of every ELF file in the Debian test root
 * filesystem (or /usr/bin and /usr/lib of the host when it has not been
 * built), a stream of random bytes, and a few hand-picked encodings.
 *
 * One Zydis sweep per file checks our instruction lengths and control-flow
 * classes and collects every direct branch target and instruction start;
 * then the file's syscall sites are found as the trampoline's eager scan
 * finds them (rewrite.c, scan_candidates) and every slot given out is
 * checked against what the sweep saw.
 */
#include <Zydis/Zydis.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx-test.h"
#include "x86-decode.h"
/* After the libc headers: tramp.h redeclares memcpy and friends compatibly. */
/* The trampoline's headers, as the hosted build of its pure files sees them. */
#define SBX_TRAMP_HOSTED
#include "rewrite-internal.h"

#define TEST_ROOTFS "/var/cache/sandboxd-test/rootfs"

/* What Zydis says an instruction does to the flow of control. */
enum zflow {
    Z_NEXT,
    Z_PAD,    /* nop or int3 (Zydis' nop also covers hint space we do not take) */
    Z_JCC,    /* jcc, loop*, j*cxz */
    Z_CALL,   /* call rel */
    Z_JMP,    /* jmp rel */
    Z_END,    /* near ret, indirect or far jmp, ud2, hlt */
    Z_FARRET, /* far ret, iret: never falls through, NEXT or END for us */
    Z_KINDS,
};

static const char *const zflow_name[Z_KINDS] = { "next", "pad", "jcc",    "call",
                                                 "jmp",  "end", "far ret" };

struct tally {
    unsigned long files, segments, compared;
    unsigned long len_differs;   /* both decode, lengths differ */
    unsigned long we_reject;     /* Zydis decodes, we say invalid */
    unsigned long zydis_rejects; /* we decode, Zydis says invalid */
    unsigned long zydis_invalid; /* positions Zydis could not decode */
    unsigned long shown;
    /* sbx_x86_insn_flow() against Zydis, where the lengths agree */
    unsigned long flow_compared;
    unsigned long flow_differs[Z_KINDS]; /* by what Zydis says */
    unsigned long target_differs;        /* same branch kind, other target */
    unsigned long odd;                   /* relative branches with 66: ODD for us */
    unsigned long nop_not_pad;           /* Zydis nop/int3 that we do not take as padding */
    unsigned long farret_next;           /* far ret/iret that are NEXT for us */
    unsigned long xbegin;                /* xbegin: a relative target, JCC for us */
};

/* The rewriter's syscall sites and slots. */
struct rw_tally {
    unsigned long files, starts, pairs;
    unsigned long proven; /* syscalls at proven boundaries */
    unsigned long mov_sites, slot_sites, no_slot;
    unsigned long not_pad;     /* (i) the slot is not nop/int3 ending on slot.end */
    unsigned long targeted;    /* (ii) a direct branch of the file points into it */
    unsigned long far;         /* (iii) out of rel8 reach of the site */
    unsigned long site_unseen; /* (iv) the site is no instruction start of the sweep */
    unsigned long not_dead;    /* (v) no never-falling-through instruction before it */
    unsigned long overlap;     /* (vi) patches of the file overlap */
    unsigned long shown;
};

/* What one sweep of a file collects for the slot checks. */
struct file_ctx {
    const char *path;
    const uint8_t *m;
    size_t size;
    const Elf64_Phdr *ph; /* program headers, inside the file */
    unsigned phnum;
    /* Bitmaps over file offsets (cheaper than a sorted vector of targets): */
    uint8_t *bound;   /* instruction starts Zydis decoded */
    uint8_t *targets; /* direct branch targets Zydis found */
    size_t bitmap_bytes;
};

static ZydisDecoder zydis;
static struct sbx_rw_scratch *scratch;

/* ---- Zydis ---- */

static void show(const char *what, const char *file, uint64_t off, const uint8_t *p, size_t n,
                 int ours, int theirs, unsigned long *shown)
{
    if ((*shown)++ >= (getenv("X86_DECODE_SHOW") ? 1000000UL : 20UL))
        return;
    fprintf(stderr, "%s: %s+0x%llx: ours %d zydis %d:", what, file, (unsigned long long)off, ours,
            theirs);
    for (size_t i = 0; i < n && i < 15; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

/*
 * Zydis decodes Knights Corner (Xeon Phi) and 3DNow! encodings, which no
 * host we run on executes; the trampoline refuses them, so they count as
 * undecodable here.  ctx may be NULL when no operand is needed.
 */
static bool zydis_decode(const uint8_t *p, size_t n, ZydisDecodedInstruction *insn,
                         ZyanStatus *ret_st, ZydisDecoderContext *ctx)
{
    ZyanStatus st = ZydisDecoderDecodeInstruction(&zydis, ctx, p, n, insn);
    *ret_st = st;
    if (!ZYAN_SUCCESS(st))
        return false;
    switch (insn->meta.isa_ext) {
    case ZYDIS_ISA_EXT_KNC:
    case ZYDIS_ISA_EXT_KNCE:
    case ZYDIS_ISA_EXT_KNCV:
    case ZYDIS_ISA_EXT_AMD3DNOW:
        return false;
    default:
        return insn->encoding != ZYDIS_INSTRUCTION_ENCODING_MVEX;
    }
}

/* The absolute target of insn's relative immediate, at runtime address va. */
static bool zydis_target(const ZydisDecoderContext *ctx, const ZydisDecodedInstruction *insn,
                         uint64_t va, uint64_t *target)
{
    if (!insn->raw.imm[0].is_relative)
        return false;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    ZyanU8 n = 1;
    /* The relative operand comes first: decoding only that one saves time. */
    if (insn->operand_count < 1 ||
        !ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&zydis, ctx, insn, ops, 1)) ||
        ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !ops[0].imm.is_relative) {
        n = insn->operand_count;
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&zydis, ctx, insn, ops, n)))
            return false;
    }
    for (unsigned i = 0; i < n; i++)
        if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative)
            return ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, &ops[i], va, target));
    return false;
}

static bool zydis_is_pad(const ZydisDecodedInstruction *insn)
{
    return insn->mnemonic == ZYDIS_MNEMONIC_NOP || insn->mnemonic == ZYDIS_MNEMONIC_INT3;
}

static enum zflow zydis_flow(const ZydisDecodedInstruction *insn, bool relative)
{
    switch (insn->mnemonic) {
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_INT3:
        return Z_PAD;
    case ZYDIS_MNEMONIC_RET:
        return insn->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR ? Z_FARRET : Z_END;
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
        return Z_FARRET;
    case ZYDIS_MNEMONIC_UD2:
    case ZYDIS_MNEMONIC_HLT:
        return Z_END;
    case ZYDIS_MNEMONIC_JMP:
        return relative ? Z_JMP : Z_END;
    case ZYDIS_MNEMONIC_CALL:
        return relative ? Z_CALL : Z_NEXT;
    case ZYDIS_MNEMONIC_XBEGIN: /* its abort target is relative; it falls through */
        return relative ? Z_JCC : Z_NEXT;
    default:
        return insn->meta.category == ZYDIS_CATEGORY_COND_BR && relative ? Z_JCC : Z_NEXT;
    }
}

/* Whether Zydis says control never falls through insn. */
static bool zydis_never_falls_through(const ZydisDecodedInstruction *insn)
{
    switch (zydis_flow(insn, insn->raw.imm[0].is_relative)) {
    case Z_JMP:
    case Z_END:
    case Z_FARRET:
        return true;
    default:
        return false;
    }
}

/* sbx_x86_insn_flow() of the len bytes at p (address va) against Zydis. */
static void compare_flow(const char *file, uint64_t off, const uint8_t *p, size_t avail, int len,
                         uint64_t va, const ZydisDecodedInstruction *insn, bool relative,
                         uint64_t ztarget, struct tally *t)
{
    uint64_t target = 0;
    enum sbx_x86_flow ours = sbx_x86_insn_flow(p, len, va, &target);
    enum zflow z = zydis_flow(insn, relative);
    bool ok;
    t->flow_compared++;
    if (insn->mnemonic == ZYDIS_MNEMONIC_XBEGIN)
        t->xbegin++;
    switch (z) {
    case Z_PAD:
        ok = ours == SBX_X86_PAD || ours == SBX_X86_NEXT;
        t->nop_not_pad += ours == SBX_X86_NEXT;
        break;
    case Z_FARRET:
        ok = ours == SBX_X86_NEXT || ours == SBX_X86_END;
        t->farret_next += ours == SBX_X86_NEXT;
        break;
    case Z_JCC:
    case Z_CALL:
    case Z_JMP:
        if (ours == SBX_X86_ODD) {
            t->odd++;
            return;
        }
        ok = (z == Z_JCC && ours == SBX_X86_JCC) || (z == Z_CALL && ours == SBX_X86_CALL) ||
             (z == Z_JMP && ours == SBX_X86_JMP);
        if (ok && target != ztarget) {
            t->target_differs++;
            show("branch target differs", file, off, p, avail, (int)(target - va),
                 (int)(ztarget - va), &t->shown);
            return;
        }
        break;
    case Z_END:
        ok = ours == SBX_X86_END;
        break;
    default:
        ok = ours == SBX_X86_NEXT;
        break;
    }
    if (!ok) {
        t->flow_differs[z]++;
        char what[64];
        snprintf(what, sizeof(what), "flow differs (zydis %s, %s)", zflow_name[z],
                 ZydisMnemonicGetString(insn->mnemonic));
        show(what, file, off, p, avail, (int)ours, (int)z, &t->shown);
    }
}

/* ---- the sweep ---- */

static void bit_set(uint8_t *b, uint64_t i)
{
    b[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static bool bit_get(const uint8_t *b, uint64_t i)
{
    return b[i >> 3] & (1u << (i & 7));
}

static bool exec_segment(const Elf64_Phdr *ph, size_t size)
{
    return ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_offset <= size &&
           ph->p_filesz <= size - ph->p_offset;
}

/* A direct branch target at vaddr t, kept as a file offset when it lies in executable code. */
static void add_target(struct file_ctx *c, uint64_t t)
{
    for (unsigned i = 0; i < c->phnum; i++) {
        const Elf64_Phdr *ph = &c->ph[i];
        if (!exec_segment(ph, c->size))
            continue;
        if (t < ph->p_vaddr || t - ph->p_vaddr >= ph->p_filesz)
            continue;
        bit_set(c->targets, ph->p_offset + (t - ph->p_vaddr));
    }
}

/*
 * Linear sweep with Zydis of the segment at file offset off (vaddr va),
 * comparing our length and flow at each of its boundaries; c (or NULL)
 * collects instruction starts and direct branch targets.
 */
static void compare_bytes(const char *file, uint64_t off, uint64_t va, const uint8_t *p, size_t n,
                          struct tally *t, struct file_ctx *c)
{
    size_t pos = 0;
    while (pos < n) {
        ZydisDecoderContext ctx;
        ZydisDecodedInstruction insn;
        size_t avail = n - pos;
        int ours = sbx_x86_insn_len(p + pos, avail);
        ZyanStatus st;
        if (!zydis_decode(p + pos, avail, &insn, &st, &ctx)) {
            t->zydis_invalid++;
            if (ours > 0 && st != ZYDIS_STATUS_NO_MORE_DATA) {
                t->zydis_rejects++;
                show("zydis rejects", file, off + pos, p + pos, avail, ours, -1, &t->shown);
            }
            pos++;
            continue;
        }
        t->compared++;
        uint64_t ztarget = 0;
        bool relative = zydis_target(&ctx, &insn, va + pos, &ztarget);
        if (c) {
            bit_set(c->bound, off + pos);
            if (relative)
                add_target(c, ztarget);
        }
        if (ours < 0) {
            t->we_reject++;
            show("we reject", file, off + pos, p + pos, avail, ours, insn.length, &t->shown);
        } else if (ours != insn.length) {
            t->len_differs++;
            show("length differs", file, off + pos, p + pos, avail, ours, insn.length, &t->shown);
        } else {
            compare_flow(file, off + pos, p + pos, avail, ours, va + pos, &insn, relative, ztarget,
                         t);
        }
        pos += insn.length;
    }
}

/* ---- the rewriter's slots, checked against the sweep ---- */

static void show_rw(const char *what, const struct file_ctx *c, uint64_t site, uint64_t at,
                    uint64_t end, struct rw_tally *rt)
{
    if (rt->shown++ >= (getenv("X86_DECODE_SHOW") ? 1000000UL : 20UL))
        return;
    fprintf(stderr, "slot %s: %s: syscall at +0x%llx, slot [+0x%llx, +0x%llx):", what, c->path,
            (unsigned long long)site, (unsigned long long)at, (unsigned long long)end);
    for (uint64_t i = at; i < end && i < at + 16 && i < c->size; i++)
        fprintf(stderr, " %02x", c->m[i]);
    fprintf(stderr, "\n");
}

/* Whether some collected branch target lies in [lo, hi). */
static bool targeted(const struct file_ctx *c, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i < hi; i++)
        if (bit_get(c->targets, i))
            return true;
    return false;
}

/* (i): [at, end) decodes as nop/int3 only, the last ending exactly on end. */
static bool zydis_padding(const struct file_ctx *c, uint64_t at, uint64_t end)
{
    uint64_t pos = at;
    while (pos < end) {
        ZydisDecodedInstruction insn;
        ZyanStatus st;
        if (!zydis_decode(c->m + pos, c->size - pos, &insn, &st, NULL) || !zydis_is_pad(&insn))
            return false;
        pos += insn.length;
    }
    return pos == end;
}

/*
 * (v): at is an instruction start of the sweep, and going back over the
 * sweep's instructions from there only nop/int3 come before an instruction
 * that never falls through.
 */
static bool zydis_dead(const struct file_ctx *c, uint64_t at)
{
    if (!bit_get(c->bound, at))
        return false;
    for (int n = 0; n < 4096; n++) {
        uint64_t prev = at;
        for (uint64_t k = 1; k <= SBX_X86_MAX_INSN && k <= at; k++) {
            if (bit_get(c->bound, at - k)) {
                prev = at - k;
                break;
            }
        }
        ZydisDecodedInstruction insn;
        ZyanStatus st;
        if (prev == at || !zydis_decode(c->m + prev, c->size - prev, &insn, &st, NULL) ||
            prev + insn.length != at)
            return false;
        if (!zydis_is_pad(&insn))
            return zydis_never_falls_through(&insn);
        at = prev;
    }
    return false;
}

struct span {
    uint64_t lo, hi;
};

static int cmp_span(const void *a, const void *b)
{
    uint64_t x = ((const struct span *)a)->lo, y = ((const struct span *)b)->lo;
    return x < y ? -1 : x > y;
}

/*
 * The syscall sites of the whole file mapped at c->m, found as the
 * trampoline's eager scan finds them (rewrite.c: sbx_rw_new_code,
 * scan_candidates), and every slot given out checked against the sweep.
 */
static void check_slots(struct file_ctx *c, int fd, struct rw_tally *rt)
{
    const uint64_t base = (uint64_t)(uintptr_t)c->m;
    size_t nstarts = 0;
    unsigned nr = sbx_rw_file_ranges(scratch, fd, base, 0, c->size, &nstarts);
    if (!nr)
        return;
    rt->files++;
    rt->starts += nstarts;
    const uint64_t *st = scratch->starts;
    struct sbx_rw_slot *taken = scratch->taken;
    size_t ntaken = 0, nspans = 0, cap = 0;
    struct span *spans = NULL;
    for (unsigned i = 0; i < nr; i++) {
        const struct sbx_rw_range *r = &scratch->ranges[i];
        for (uint64_t a = r->lo; a + 2 <= r->hi; a++) {
            const uint8_t *p = (const uint8_t *)(uintptr_t)a;
            if (p[0] != 0x0f || p[1] != 0x05)
                continue;
            rt->pairs++;
            if (nspans + 2 > cap) {
                cap = cap ? 2 * cap : 1024;
                spans = realloc(spans, cap * sizeof(*spans));
                if (!spans)
                    abort();
            }
            uint64_t site = a - base;
            if (a >= r->lo + 5 && sbx_rw_is_mov_site(p - 5) &&
                sbx_rw_prove(st, nstarts, r->hi, a - 5)) {
                rt->proven++;
                rt->mov_sites++;
                spans[nspans++] = (struct span){ site - 5, site + 2 };
                continue;
            }
            struct sbx_rw_slot slot;
            if (ntaken == SBX_RW_MAX_SITES ||
                !sbx_rw_find_slot(st, nstarts, r->lo, r->hi, a, taken, ntaken, &slot)) {
                if (sbx_rw_prove(st, nstarts, r->hi, a)) {
                    rt->proven++;
                    rt->no_slot++;
                }
                continue;
            }
            taken[ntaken++] = slot;
            rt->proven++;
            rt->slot_sites++;
            uint64_t at = slot.at - base, end = slot.end - base;
            spans[nspans++] = (struct span){ site, site + 2 };
            spans[nspans++] = (struct span){ at, end };
            int64_t d = (int64_t)(slot.at - (a + 2));
            if (end < at + SBX_RW_SLOT_LEN || end > c->size || !zydis_padding(c, at, end)) {
                rt->not_pad++;
                show_rw("(i) not padding", c, site, at, end, rt);
                continue;
            }
            if (targeted(c, at, end)) {
                rt->targeted++;
                show_rw("(ii) branch target inside", c, site, at, end, rt);
            }
            if (d < -128 || d > 127) {
                rt->far++;
                show_rw("(iii) out of rel8 reach", c, site, at, end, rt);
            }
            if (!bit_get(c->bound, site)) {
                rt->site_unseen++;
                show_rw("(iv) site not an instruction start of the sweep", c, site, at, end, rt);
            }
            if (!zydis_dead(c, at)) {
                rt->not_dead++;
                show_rw("(v) not after a never-falling-through instruction", c, site, at, end, rt);
            }
        }
    }
    if (nspans)
        qsort(spans, nspans, sizeof(*spans), cmp_span);
    for (size_t i = 1; i < nspans; i++) {
        if (spans[i].lo < spans[i - 1].hi && rt->overlap++ < 20)
            fprintf(stderr,
                    "slot (vi) patches overlap: %s: [+0x%llx, +0x%llx) and [+0x%llx, +0x%llx)\n",
                    c->path, (unsigned long long)spans[i - 1].lo,
                    (unsigned long long)spans[i - 1].hi, (unsigned long long)spans[i].lo,
                    (unsigned long long)spans[i].hi);
    }
    free(spans);
}

static void compare_elf(const char *path, struct tally *t, struct rw_tally *rt)
{
    static struct file_ctx c; /* keeps its buffers from file to file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
        eh->e_phnum > (size - eh->e_phoff) / sizeof(Elf64_Phdr)) {
        munmap(m, size);
        close(fd);
        return;
    }
    t->files++;
    c.path = path;
    c.m = m;
    c.size = size;
    c.ph = (const Elf64_Phdr *)(m + eh->e_phoff);
    c.phnum = eh->e_phnum;
    size_t bytes = size / 8 + 1;
    if (bytes > c.bitmap_bytes) {
        free(c.bound);
        free(c.targets);
        c.bound = malloc(bytes);
        c.targets = malloc(bytes);
        if (!c.bound || !c.targets)
            abort();
        c.bitmap_bytes = bytes;
    }
    memset(c.bound, 0, bytes);
    memset(c.targets, 0, bytes);
    for (unsigned i = 0; i < c.phnum; i++) {
        const Elf64_Phdr *ph = &c.ph[i];
        if (!exec_segment(ph, size))
            continue;
        t->segments++;
        compare_bytes(path, ph->p_offset, ph->p_vaddr, m + ph->p_offset, ph->p_filesz, t, &c);
    }
    check_slots(&c, fd, rt);
    munmap(m, size);
    close(fd);
}

static void walk(const char *dir, struct tally *t, struct rw_tally *rt)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (e->d_type == DT_DIR)
            walk(path, t, rt);
        else if (e->d_type == DT_REG)
            compare_elf(path, t, rt);
    }
    closedir(d);
}

static unsigned long flow_mismatches(const struct tally *t)
{
    unsigned long n = t->target_differs;
    for (int i = 0; i < Z_KINDS; i++)
        n += t->flow_differs[i];
    return n;
}

static void report(const char *what, const struct tally *t)
{
    printf("x86-decode %s: %lu files, %lu executable segments, %lu instructions compared, "
           "%lu length differences, %lu rejected by us only, %lu rejected by Zydis only "
           "(%lu positions Zydis could not decode)\n",
           what, t->files, t->segments, t->compared, t->len_differs, t->we_reject, t->zydis_rejects,
           t->zydis_invalid);
    printf("x86-flow %s: %lu instructions compared, %lu mismatches (zydis next %lu, pad %lu, "
           "jcc %lu, call %lu, jmp %lu, end %lu, far ret %lu; branch target %lu); "
           "%lu relative branches with 66 (ODD for us), %lu Zydis nop/int3 not padding for us, "
           "%lu far ret/iret NEXT for us, %lu xbegin (JCC)\n",
           what, t->flow_compared, flow_mismatches(t), t->flow_differs[Z_NEXT],
           t->flow_differs[Z_PAD], t->flow_differs[Z_JCC], t->flow_differs[Z_CALL],
           t->flow_differs[Z_JMP], t->flow_differs[Z_END], t->flow_differs[Z_FARRET],
           t->target_differs, t->odd, t->nop_not_pad, t->farret_next, t->xbegin);
}

static unsigned long slot_violations(const struct rw_tally *rt)
{
    return rt->not_pad + rt->targeted + rt->far + rt->site_unseen + rt->not_dead + rt->overlap;
}

static void report_rw(const char *what, const struct rw_tally *rt)
{
    printf("x86-slots %s: %lu files, %lu known points, %lu `0f 05` byte pairs, "
           "%lu syscall instructions at proven boundaries: %lu mov sites, %lu syscall sites "
           "with a slot, %lu without; %lu slot violations ((i) not padding %lu, (ii) branch "
           "target inside %lu, (iii) out of rel8 reach %lu, (iv) site not a sweep boundary "
           "%lu, (v) not after a never-falling-through instruction %lu, (vi) overlapping "
           "patches %lu)\n",
           what, rt->files, rt->starts, rt->pairs, rt->proven, rt->mov_sites, rt->slot_sites,
           rt->no_slot, slot_violations(rt), rt->not_pad, rt->targeted, rt->far, rt->site_unseen,
           rt->not_dead, rt->overlap);
}

static void test_rootfs(void)
{
    struct tally t = { 0 };
    struct rw_tally rt = { 0 };
    struct stat st;
    const char *what;
    scratch =
        mmap(NULL, sizeof(*scratch), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(scratch != MAP_FAILED);
    if (stat(TEST_ROOTFS "/usr/lib", &st) == 0) {
        what = TEST_ROOTFS;
        walk(TEST_ROOTFS, &t, &rt);
    } else {
        what = "host /usr/bin and /usr/lib (no test rootfs)";
        walk("/usr/bin", &t, &rt);
        walk("/usr/lib", &t, &rt);
    }
    munmap(scratch, sizeof(*scratch));
    scratch = NULL;
    report(what, &t);
    report_rw(what, &rt);
    CU_ASSERT(t.compared > 1000000);
    CU_ASSERT_EQUAL(0, t.len_differs);
    CU_ASSERT_EQUAL(0, t.we_reject);
    CU_ASSERT(t.flow_compared > 1000000);
    CU_ASSERT_EQUAL(0, flow_mismatches(&t));
    /* Any real root filesystem has a libc with both kinds of site. */
    CU_ASSERT(rt.mov_sites > 0);
    CU_ASSERT(rt.slot_sites > 0);
    CU_ASSERT_EQUAL(0, rt.not_pad);
    CU_ASSERT_EQUAL(0, rt.targeted);
    CU_ASSERT_EQUAL(0, rt.far);
    CU_ASSERT_EQUAL(0, rt.site_unseen);
    CU_ASSERT_EQUAL(0, rt.not_dead);
    CU_ASSERT_EQUAL(0, rt.overlap);
}

/*
 * Random bytes reach encodings compilers rarely emit.  Only lengths where
 * both decoders accept the bytes are compared: we measure invalid forms
 * (a lock prefix on a non-lockable instruction, reserved VEX opcodes) that
 * Zydis rejects.
 */
static void test_random(void)
{
    struct tally t = { 0 };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint8_t buf[64];
    for (int round = 0; round < 2000000; round++) {
        for (size_t i = 0; i < sizeof(buf); i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, 8);
        }
        ZydisDecoderContext ctx;
        ZydisDecodedInstruction insn;
        int ours = sbx_x86_insn_len(buf, sizeof(buf));
        ZyanStatus st;
        if (!zydis_decode(buf, sizeof(buf), &insn, &st, &ctx))
            continue;
        t.compared++;
        if (ours < 0) {
            t.we_reject++;
            show("random: we reject", "random", 0, buf, sizeof(buf), ours, insn.length, &t.shown);
        } else if (ours != insn.length) {
            t.len_differs++;
            show("random: length differs", "random", 0, buf, sizeof(buf), ours, insn.length,
                 &t.shown);
        } else {
            const uint64_t va = 0x100000;
            uint64_t ztarget = 0;
            bool relative = zydis_target(&ctx, &insn, va, &ztarget);
            compare_flow("random", 0, buf, sizeof(buf), ours, va, &insn, relative, ztarget, &t);
        }
    }
    report("random bytes", &t);
    CU_ASSERT_EQUAL(0, t.len_differs);
    CU_ASSERT_EQUAL(0, t.we_reject);
    CU_ASSERT_EQUAL(0, flow_mismatches(&t));
}

static void test_known(void)
{
    static const struct {
        uint8_t b[15];
        int len;
    } cases[] = {
        { { 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05 }, 5 },                /* mov $39,%eax */
        { { 0x0f, 0x05 }, 2 },                                     /* syscall */
        { { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10 },            /* movabs */
        { { 0x66, 0xb8, 1, 2 }, 4 },                               /* mov $imm16,%ax */
        { { 0x66, 0x48, 0xc7, 0xc0, 1, 2, 3, 4 }, 8 },             /* REX.W beats 66 */
        { { 0x48, 0x66, 0xb8, 1, 2 }, 5 },                         /* REX before 66 is ignored */
        { { 0xc5, 0xf8, 0x77 }, 3 },                               /* vzeroupper */
        { { 0xc4, 0xe3, 0x79, 0x0f, 0xc1, 0x08 }, 6 },             /* vpalignr imm8 */
        { { 0x62, 0xf1, 0xfd, 0x48, 0x6f, 0x44, 0x24, 0x01 }, 8 }, /* vmovdqa64 disp8 */
        { { 0x8b, 0x04, 0x25, 1, 2, 3, 4 }, 7 },                   /* SIB, no base: disp32 */
        { { 0x8b, 0x05, 1, 2, 3, 4 }, 6 },                         /* RIP-relative */
        { { 0xf7, 0xc0, 1, 2, 3, 4 }, 6 },                         /* test $imm32,%eax */
        { { 0xf7, 0xd0 }, 2 },                                     /* not %eax */
        { { 0xc8, 1, 2, 3 }, 4 },                                  /* enter */
        { { 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 }, 9 },                   /* moffs64 */
        { { 0x0f, 0x3a, 0x0f, 0xc1, 8 }, 5 },                      /* palignr */
        { { 0x06 }, -1 },                                          /* push es: invalid */
        { { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x90 },
          15 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sbx_x86_insn_len(cases[i].b, sizeof(cases[i].b));
        if (got != cases[i].len)
            fprintf(stderr, "case %zu: expected %d, got %d\n", i, cases[i].len, got);
        CU_ASSERT_EQUAL(cases[i].len, got);
    }
    /* Sixteen bytes is one too many; a cut instruction is not one. */
    static const uint8_t long16[16] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90 };
    CU_ASSERT_EQUAL(-1, sbx_x86_insn_len(long16, sizeof(long16)));
    static const uint8_t mov[5] = { 0xb8, 1, 2, 3, 4 };
    CU_ASSERT_EQUAL(-1, sbx_x86_insn_len(mov, 4));

    /* Flow classes, each instruction at 0x1000 (target: where a branch goes). */
    static const struct {
        uint8_t b[15];
        int len;
        enum sbx_x86_flow flow;
        uint64_t target;
    } flows[] = {
        { { 0x90 }, 1, SBX_X86_PAD, 0 },
        { { 0x66, 0x90 }, 2, SBX_X86_PAD, 0 },
        { { 0xcc }, 1, SBX_X86_PAD, 0 },
        { { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5, SBX_X86_PAD, 0 },
        { { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 }, 10, SBX_X86_PAD, 0 },
        { { 0x0f, 0x1f, 0x48, 0x00 }, 4, SBX_X86_NEXT, 0 }, /* 0f 1f /1: hint space */
        { { 0x41, 0x90 }, 2, SBX_X86_NEXT, 0 },             /* xchg %eax,%r8d */
        { { 0xf3, 0x90 }, 2, SBX_X86_NEXT, 0 },             /* pause */
        { { 0xf3, 0x0f, 0x1e, 0xfa }, 4, SBX_X86_NEXT, 0 }, /* endbr64 */
        { { 0x0f, 0x05 }, 2, SBX_X86_NEXT, 0 },             /* syscall */
        { { 0xff, 0x15, 0, 0, 0, 0 }, 6, SBX_X86_NEXT, 0 }, /* call *(%rip) */
        { { 0xc3 }, 1, SBX_X86_END, 0 },
        { { 0xf3, 0xc3 }, 2, SBX_X86_END, 0 },             /* rep ret */
        { { 0xc2, 0x08, 0x00 }, 3, SBX_X86_END, 0 },       /* ret $8 */
        { { 0x3e, 0xff, 0xe0 }, 3, SBX_X86_END, 0 },       /* notrack jmp *%rax */
        { { 0xff, 0x25, 0, 0, 0, 0 }, 6, SBX_X86_END, 0 }, /* jmp *(%rip) */
        { { 0xff, 0x2c, 0x24 }, 3, SBX_X86_END, 0 },       /* ljmp *(%rsp) */
        { { 0x0f, 0x0b }, 2, SBX_X86_END, 0 },             /* ud2 */
        { { 0xf4 }, 1, SBX_X86_END, 0 },                   /* hlt */
        { { 0xe8, 0x10, 0, 0, 0 }, 5, SBX_X86_CALL, 0x1015 },
        { { 0xe9, 0xf0, 0xff, 0xff, 0xff }, 5, SBX_X86_JMP, 0xff5 },
        { { 0x48, 0xe9, 0x00, 0x01, 0, 0 }, 6, SBX_X86_JMP, 0x1106 },
        { { 0xf2, 0xe9, 0, 0, 0, 0 }, 6, SBX_X86_JMP, 0x1006 }, /* bnd jmp */
        { { 0xeb, 0xfe }, 2, SBX_X86_JMP, 0x1000 },
        { { 0x74, 0x05 }, 2, SBX_X86_JCC, 0x1007 },
        { { 0x2e, 0x74, 0x80 }, 3, SBX_X86_JCC, 0xf83 }, /* jcc with a hint */
        { { 0x0f, 0x84, 0x00, 0x01, 0, 0 }, 6, SBX_X86_JCC, 0x1106 },
        { { 0xe2, 0xfe }, 2, SBX_X86_JCC, 0x1000 }, /* loop */
        { { 0xe3, 0x10 }, 2, SBX_X86_JCC, 0x1012 }, /* jrcxz */
        { { 0x66, 0xe9, 1, 0, 0, 0 }, 6, SBX_X86_ODD, 0 },
        { { 0x66, 0xe8, 1, 0, 0, 0 }, 6, SBX_X86_ODD, 0 },
        { { 0x66, 0xeb, 1 }, 3, SBX_X86_ODD, 0 },
        { { 0x66, 0x0f, 0x84, 1, 0, 0, 0 }, 7, SBX_X86_ODD, 0 },
        { { 0x66, 0x66, 0x48, 0xe8, 0x10, 0, 0, 0 }, 8, SBX_X86_CALL, 0x1018 }, /* TLS call */
        { { 0xc7, 0xf8, 0x10, 0, 0, 0 }, 6, SBX_X86_JCC, 0x1016 },              /* xbegin */
    };
    for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
        int len = sbx_x86_insn_len(flows[i].b, sizeof(flows[i].b));
        uint64_t target = 0;
        enum sbx_x86_flow f =
            len > 0 ? sbx_x86_insn_flow(flows[i].b, len, 0x1000, &target) : SBX_X86_NEXT;
        bool has_target = f == SBX_X86_JCC || f == SBX_X86_CALL || f == SBX_X86_JMP;
        if (len != flows[i].len || f != flows[i].flow || (has_target && target != flows[i].target))
            fprintf(stderr,
                    "flow case %zu: expected len %d flow %d target 0x%llx, got %d %d 0x%llx\n", i,
                    flows[i].len, flows[i].flow, (unsigned long long)flows[i].target, len, f,
                    (unsigned long long)target);
        CU_ASSERT_EQUAL(flows[i].len, len);
        CU_ASSERT_EQUAL(flows[i].flow, f);
        if (has_target)
            CU_ASSERT_EQUAL(flows[i].target, target);
    }
}

/*
 * find_slot on hand-made code in a page-aligned buffer: where a slot must be
 * found, and the shapes that must never get one.  Known points: the start of
 * the buffer and the end of the code.
 */
static int slot_in(const uint8_t *code, size_t len, size_t page_off, size_t sc_off,
                   struct sbx_rw_slot *out)
{
    static uint8_t *buf;
    if (!buf) {
        buf = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CU_ASSERT_FATAL(buf != MAP_FAILED);
    }
    CU_ASSERT_FATAL(page_off + len <= 3 * 4096);
    memset(buf, 0xcc, 3 * 4096);
    memcpy(buf + page_off, code, len);
    uint64_t lo = (uint64_t)(uintptr_t)buf + page_off, hi = lo + len;
    uint64_t st[2] = { lo, hi };
    return sbx_rw_find_slot(st, 2, lo, hi, lo + sc_off, NULL, 0, out);
}

static void test_slots_known(void)
{
    /* mov %edi,%eax; syscall; ret; 10 nops of padding; ret */
    uint8_t plain[] = { 0x89, 0xf8, 0x0f, 0x05, 0xc3, 0x66, 0x2e, 0x0f,
                        0x1f, 0x84, 0,    0,    0,    0,    0,    0xc3 };
    struct sbx_rw_slot slot;
    CU_ASSERT_EQUAL(1, slot_in(plain, sizeof(plain), 0, 2, &slot));
    /* The same, but the padding is the target of a jmp: no slot. */
    uint8_t targeted[] = { 0xeb, 0x05, 0x89, 0xf8, 0x0f, 0x05, 0xc3,
                           0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3 };
    targeted[1] = 0x06; /* jmp to offset 8: inside the nops */
    CU_ASSERT_EQUAL(0, slot_in(targeted, sizeof(targeted), 0, 4, &slot));
    /*
     * test; jnz T; ret; 400 nops (T inside them, far from the syscall);
     * xor %eax,%eax; syscall; ret.  The branch lies outside the window the
     * search watches for targets: the padding must not be used.
     */
    uint8_t far[420];
    size_t n = 0;
    far[n++] = 0x85;
    far[n++] = 0xc0; /* test %eax,%eax */
    far[n++] = 0x75;
    far[n++] = 15;   /* jnz 20 */
    far[n++] = 0xc3; /* ret */
    memset(far + n, 0x90, 400);
    n += 400;
    far[n++] = 0x31;
    far[n++] = 0xc0; /* xor %eax,%eax */
    size_t sc = n;
    far[n++] = 0x0f;
    far[n++] = 0x05; /* syscall */
    far[n++] = 0xc3; /* ret */
    CU_ASSERT_EQUAL(0, slot_in(far, n, 0, sc, &slot));
    /* Signal restorers (mov $15 in either encoding) are never slotted. */
    uint8_t rest_rax[] = { 0x48, 0xc7, 0xc0, 0x0f, 0,    0, 0, 0x0f,
                           0x05, 0xc3, 0x0f, 0x1f, 0x44, 0, 0, 0xc3 };
    CU_ASSERT_EQUAL(0, slot_in(rest_rax, sizeof(rest_rax), 0, 7, &slot));
    uint8_t rest_eax[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05, 0xc3, 0x0f, 0x1f, 0x44, 0, 0, 0xc3 };
    CU_ASSERT_EQUAL(0, slot_in(rest_eax, sizeof(rest_eax), 0, 5, &slot));
    uint8_t not_rest[] = { 0x48, 0xc7, 0xc0, 0x27, 0,    0, 0, 0x0f,
                           0x05, 0xc3, 0x0f, 0x1f, 0x44, 0, 0, 0xc3 };
    CU_ASSERT_EQUAL(1, slot_in(not_rest, sizeof(not_rest), 0, 7, &slot));
    /* Site and slot on different pages: no slot (a page may go back to the file's bytes). */
    CU_ASSERT_EQUAL(0, slot_in(plain, sizeof(plain), 4096 - 6, 2, &slot));
    CU_ASSERT_EQUAL(1, slot_in(plain, sizeof(plain), 4096 - 16, 2, &slot));
}

/* A section name offset that overflows 32 bits must not be followed (it was, out of bounds). */
static void test_elf_names(void)
{
    int in = open("/bin/true", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(in >= 0);
    struct stat st;
    CU_ASSERT_FATAL(fstat(in, &st) == 0);
    size_t size = (size_t)st.st_size;
    uint8_t *m = malloc(size);
    CU_ASSERT_FATAL(m && pread(in, m, size, 0) == (ssize_t)size);
    close(in);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)m;
    Elf64_Shdr *sh = (Elf64_Shdr *)(m + eh->e_shoff);
    unsigned changed = 0;
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_PROGBITS) {
            sh[i].sh_name = 0xfffffff5;
            changed++;
        }
    CU_ASSERT(changed > 0);
    char path[] = "/tmp/sbx-x86-elfXXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    unlink(path);
    CU_ASSERT_FATAL(write(fd, m, size) == (ssize_t)size);
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CU_ASSERT_FATAL(map != MAP_FAILED);
    struct sbx_rw_scratch *s =
        mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(s != MAP_FAILED);
    size_t nstarts = 0;
    unsigned nr = sbx_rw_file_ranges(s, fd, (uint64_t)(uintptr_t)map, 0, size, &nstarts);
    CU_ASSERT(nr > 0); /* still registered: segments and symbols do not need the names */
    munmap(s, sizeof(*s));
    munmap(map, size);
    close(fd);
    free(m);
}

int main(void)
{
    ZydisDecoderInit(&zydis, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    static const struct sbx_test tests[] = {
        SBX_TEST(test_known),  SBX_TEST(test_slots_known), SBX_TEST(test_random),
        SBX_TEST(test_rootfs), SBX_TEST(test_elf_names),
    };
    return sbx_test_main("x86-decode", tests, sizeof(tests) / sizeof(tests[0]));
}
