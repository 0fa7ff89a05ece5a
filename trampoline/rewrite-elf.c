/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Known instruction starts of an ELF file, for the rewriter's proofs:
 * where its executable segments begin, where its executable sections and
 * function symbols begin and end, and where every function with unwind
 * information begins (.eh_frame, present in stripped files too).
 *
 * Signal-safety contract: reads the file through the gate (pread) into the
 * caller's scratch memory and one temporary mapping for .eh_frame; no
 * globals.  Runs at startup and from the SIGSYS handler or the fast entry
 * (mmap of executable code).
 */
#include <linux/mman.h>
#include <asm/stat.h>

#include "rewrite-internal.h"

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_pcrel 0x10

struct file_map {
    int fd;
    uint64_t addr, off, len; /* file [off, off + len) is at addr */
    const Elf64_Phdr *ph[SBX_RW_MAX_RANGES];
    unsigned nph;
};

static void sift(uint64_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[i] >= a[c])
            return;
        uint64_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

/*
 * Sorts a[0..n): LSD radix sort over the offsets from the smallest value,
 * one pass per byte that differs (tmp: n words), when they span less than
 * 4 GiB, as the known points of one mapping do; else heapsort.  Sorting was
 * most of the cost of registering a libc (16 000 points) with heapsort.
 */
static void sort_u64(uint64_t *a, uint64_t *tmp, uint32_t (*count)[256], size_t n)
{
    if (n < 2)
        return;
    uint64_t lo = a[0], hi = a[0];
    for (size_t i = 1; i < n; i++) {
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    if (!tmp || hi - lo > UINT32_MAX) {
        for (size_t i = n / 2; i-- > 0;)
            sift(a, i, n);
        for (size_t end = n; end-- > 1;) {
            uint64_t t = a[0];
            a[0] = a[end];
            a[end] = t;
            sift(a, 0, end);
        }
        return;
    }
    memset(count, 0, 4 * sizeof(count[0]));
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i] - lo;
        for (unsigned b = 0; b < 4; b++)
            count[b][(k >> (8 * b)) & 0xff]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (unsigned b = 0; b < 4; b++) {
        if (count[b][((src[0] - lo) >> (8 * b)) & 0xff] == n)
            continue; /* every key has the same value in this byte */
        uint32_t pos = 0;
        for (unsigned v = 0; v < 256; v++) {
            uint32_t c = count[b][v];
            count[b][v] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[b][((src[i] - lo) >> (8 * b)) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

size_t sbx_rw_sort_unique(uint64_t *a, uint64_t *tmp, uint32_t (*count)[256], size_t n)
{
    sort_u64(a, tmp, count, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || a[m - 1] != a[i])
            a[m++] = a[i];
    return m;
}

/* Adds vaddr when it lies in (or just at the end of) an executable segment in the mapping. */
static size_t add_start(struct sbx_rw_scratch *s, size_t n, const struct file_map *m,
                        uint64_t vaddr)
{
    for (unsigned k = 0; k < m->nph && n < SBX_RW_MAX_STARTS; k++) {
        const Elf64_Phdr *p = m->ph[k];
        if (vaddr < p->p_vaddr || vaddr - p->p_vaddr > p->p_filesz)
            continue;
        uint64_t o = p->p_offset + (vaddr - p->p_vaddr);
        if (o >= m->off && o - m->off <= m->len)
            s->starts[n++] = m->addr + (o - m->off);
    }
    return n;
}

/* Function symbols of one symbol table, with their ends. */
static size_t add_symbols(struct sbx_rw_scratch *s, size_t n, const struct file_map *m,
                          const Elf64_Shdr *sh)
{
    if (sh->sh_entsize != sizeof(Elf64_Sym))
        return n;
    const size_t per = sizeof(s->buf) / sizeof(Elf64_Sym);
    uint64_t count = sh->sh_size / sizeof(Elf64_Sym);
    for (uint64_t i = 0; i < count && n < SBX_RW_MAX_STARTS; i += per) {
        long r = sbx_pread_full(m->fd, s->buf, per * sizeof(Elf64_Sym),
                                sh->sh_offset + i * sizeof(Elf64_Sym));
        if (r <= 0)
            return n;
        const Elf64_Sym *sym = (const Elf64_Sym *)s->buf;
        for (size_t j = 0; j < (size_t)r / sizeof(Elf64_Sym); j++) {
            unsigned type = ELF64_ST_TYPE(sym[j].st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[j].st_shndx == SHN_UNDEF)
                continue;
            n = add_start(s, n, m, sym[j].st_value);
            if (sym[j].st_size)
                n = add_start(s, n, m, sym[j].st_value + sym[j].st_size);
        }
    }
    return n;
}

static uint64_t uleb(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    return v;
}

/* Size of a DWARF pointer encoding's value, or 0 when unsupported. */
static unsigned enc_size(uint8_t enc)
{
    switch (enc & 0x0f) {
    case 0x02:
    case 0x0a:
        return 2;
    case 0x03:
    case 0x0b:
        return 4;
    case 0x00:
    case 0x04:
    case 0x0c:
        return 8;
    default:
        return 0;
    }
}

/* The FDE pointer encoding of the CIE at p (augmentation 'R'), or DW_EH_PE_omit. */
static uint8_t cie_fde_enc(const uint8_t *p, const uint8_t *end)
{
    uint8_t version = *p++;
    const char *aug = (const char *)p;
    while (p < end && *p)
        p++;
    if (p++ >= end || aug[0] != 'z')
        return aug[0] == '\0' ? 0x00 : DW_EH_PE_omit;
    uleb(&p, end); /* code alignment */
    uleb(&p, end); /* data alignment (sleb, skipped alike) */
    if (version == 1)
        p++; /* return address register */
    else
        uleb(&p, end);
    uleb(&p, end); /* augmentation length */
    for (const char *a = aug + 1; *a && p < end; a++) {
        if (*a == 'R')
            return *p;
        if (*a == 'P') {
            unsigned sz = enc_size(*p);
            if (!sz)
                return DW_EH_PE_omit;
            p += 1 + sz;
        } else if (*a == 'L') {
            p++;
        } else if (*a != 'S' && *a != 'B') {
            return DW_EH_PE_omit;
        }
    }
    return 0x00;
}

/* Every FDE's initial location in .eh_frame (at vaddr, size bytes at file offset off). */
static size_t add_eh_frame(struct sbx_rw_scratch *s, size_t n, const struct file_map *m,
                           uint64_t vaddr, uint64_t off, uint64_t size)
{
    if (size == 0 || size > SBX_RW_EH_MAX)
        return n;
    long b = sbx_tramp_syscall6(__NR_mmap, 0, (long)size, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b < 0)
        return n;
    const uint8_t *eh = (const uint8_t *)b;
    if (sbx_pread_full(m->fd, (void *)b, size, off) == (long)size) {
        uint64_t cie_off = UINT64_MAX;
        uint8_t enc = DW_EH_PE_omit;
        for (uint64_t pos = 0; pos + 8 <= size && n < SBX_RW_MAX_STARTS;) {
            uint32_t len, id;
            memcpy(&len, eh + pos, 4);
            if (len == 0 || len == 0xffffffffU || len > size - pos - 4)
                break;
            memcpy(&id, eh + pos + 4, 4);
            uint64_t end = pos + 4 + len;
            if (id != 0 && id <= pos + 4) {
                uint64_t c = pos + 4 - id;
                if (c != cie_off && c + 9 <= size) {
                    cie_off = c;
                    enc = cie_fde_enc(eh + c + 8, eh + size);
                }
                unsigned sz = enc_size(enc);
                if (enc != DW_EH_PE_omit && sz && pos + 8 + sz <= end &&
                    ((enc & 0x70) == 0 || (enc & 0x70) == DW_EH_PE_pcrel)) {
                    int64_t v = 0;
                    if (sz == 2 && (enc & 0x08))
                        v = *(const int16_t *)(eh + pos + 8);
                    else if (sz == 2)
                        v = *(const uint16_t *)(eh + pos + 8);
                    else if (sz == 4 && (enc & 0x08))
                        v = *(const int32_t *)(eh + pos + 8);
                    else if (sz == 4)
                        v = *(const uint32_t *)(eh + pos + 8);
                    else
                        memcpy(&v, eh + pos + 8, 8);
                    uint64_t pc = (uint64_t)v;
                    if ((enc & 0x70) == DW_EH_PE_pcrel)
                        pc += vaddr + pos + 8;
                    n = add_start(s, n, m, pc);
                }
            }
            pos = end;
        }
    }
    sbx_sys2(__NR_munmap, b, (long)size);
    return n;
}

/*
 * The function starts of .eh_frame_hdr's search table (at vaddr, size bytes
 * at file offset off): sorted, 8 bytes per function, much less to read and
 * nothing to parse next to .eh_frame itself.  Only the encodings every
 * linker writes (udata4 count, datarel sdata4 table); returns -1 for others
 * (the caller then reads .eh_frame).
 */
static long add_eh_frame_hdr(struct sbx_rw_scratch *s, size_t *n, const struct file_map *m,
                             uint64_t vaddr, uint64_t off, uint64_t size)
{
    uint8_t h[12];
    if (size < sizeof(h) || sbx_pread_full(m->fd, h, sizeof(h), off) != (long)sizeof(h))
        return -1;
    /* version 1, eh_frame_ptr: pcrel|sdata4, fde_count: udata4, table: datarel|sdata4 */
    if (h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b)
        return -1;
    uint32_t count;
    memcpy(&count, h + 8, 4);
    if (count == 0 || count > (size - 12) / 8)
        return -1;
    const size_t per = sizeof(s->buf) / 8;
    for (uint64_t i = 0; i < count && *n < SBX_RW_MAX_STARTS; i += per) {
        size_t want = (count - i < per ? count - i : per) * 8;
        if (sbx_pread_full(m->fd, s->buf, want, off + 12 + i * 8) != (long)want)
            return -1;
        for (size_t j = 0; j < want; j += 8) {
            int32_t loc;
            memcpy(&loc, s->buf + j, 4);
            *n = add_start(s, *n, m, vaddr + (uint64_t)(int64_t)loc);
        }
    }
    return 0;
}

/* Section starts and ends, symbols and .eh_frame, from the section headers. */
static size_t add_sections(struct sbx_rw_scratch *s, size_t n, const struct file_map *m,
                           const Elf64_Ehdr *eh)
{
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 || eh->e_shnum > 256)
        return n;
    Elf64_Shdr *sh = s->sh;
    long want = (long)(eh->e_shnum * sizeof(Elf64_Shdr));
    if (sbx_pread_full(m->fd, sh, (size_t)want, eh->e_shoff) != want)
        return n;
    long nnames = 0;
    if (eh->e_shstrndx < eh->e_shnum) {
        const Elf64_Shdr *str = &sh[eh->e_shstrndx];
        uint64_t want_names = str->sh_size < sizeof(s->names) ? str->sh_size : sizeof(s->names);
        nnames = sbx_pread_full(m->fd, s->names, want_names, str->sh_offset);
    }
    /* .eh_frame_hdr's table instead of .eh_frame, where it can be read. */
    int have_hdr = 0;
    for (unsigned i = 0; i < eh->e_shnum && !have_hdr; i++)
        if (sh[i].sh_type == SHT_PROGBITS && nnames > 0 &&
            (uint64_t)sh[i].sh_name + 14 <= (uint64_t)nnames &&
            memcmp(s->names + sh[i].sh_name, ".eh_frame_hdr", 14) == 0)
            have_hdr =
                add_eh_frame_hdr(s, &n, m, sh[i].sh_addr, sh[i].sh_offset, sh[i].sh_size) == 0;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_SYMTAB || sh[i].sh_type == SHT_DYNSYM) {
            n = add_symbols(s, n, m, &sh[i]);
        } else if ((sh[i].sh_flags & SHF_EXECINSTR) && sh[i].sh_type == SHT_PROGBITS) {
            n = add_start(s, n, m, sh[i].sh_addr);
            n = add_start(s, n, m, sh[i].sh_addr + sh[i].sh_size);
        } else if (!have_hdr && sh[i].sh_type == SHT_PROGBITS && nnames > 0 &&
                   (uint64_t)sh[i].sh_name + 10 <= (uint64_t)nnames &&
                   memcmp(s->names + sh[i].sh_name, ".eh_frame", 10) == 0) {
            n = add_eh_frame(s, n, m, sh[i].sh_addr, sh[i].sh_offset, sh[i].sh_size);
        }
    }
    return n;
}

unsigned sbx_rw_file_ranges(struct sbx_rw_scratch *s, int fd, uint64_t addr, uint64_t off,
                            uint64_t len, size_t *ret_nstarts)
{
    struct file_map m = { .fd = fd, .addr = addr, .off = off, .len = len };
    Elf64_Ehdr eh;
    struct stat st;
    unsigned nr = 0;
    *ret_nstarts = 0;
    if (sbx_sys2(__NR_fstat, fd, (long)&st) < 0 ||
        sbx_pread_full(fd, &eh, sizeof(eh), 0) != (long)sizeof(eh))
        return 0;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
        return 0;
    uint64_t fsize = (uint64_t)st.st_size;
    long want = (long)(eh.e_phnum * sizeof(Elf64_Phdr));
    if (sbx_pread_full(fd, s->ph, (size_t)want, eh.e_phoff) != want)
        return 0;
    for (unsigned i = 0; i < eh.e_phnum && nr < SBX_RW_MAX_RANGES; i++) {
        const Elf64_Phdr *p = &s->ph[i];
        if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || p->p_offset > fsize ||
            p->p_filesz > fsize - p->p_offset)
            continue;
        uint64_t lo = p->p_offset, hi = p->p_offset + p->p_filesz;
        int lo_known = 1;
        if (lo < off) {
            lo = off;
            lo_known = 0;
        }
        if (hi > off + len)
            hi = off + len;
        if (lo >= hi)
            continue;
        m.ph[m.nph++] = p;
        s->ranges[nr++] = (struct sbx_rw_range){ addr + (lo - off), addr + (hi - off), lo_known };
    }
    if (!nr)
        return 0;
    size_t n = 0;
    for (unsigned i = 0; i < nr; i++)
        if (s->ranges[i].lo_known)
            s->starts[n++] = s->ranges[i].lo;
    n = add_sections(s, n, &m, &eh);
    *ret_nstarts = sbx_rw_sort_unique(s->starts, s->sort_tmp, s->sort_count, n);
    return nr;
}
