/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ELF load planner (see elf-plan.h).  Everything the loader needs to know
 * about a file is decided here, on the header bytes alone, so that malformed
 * files are refused before a single mapping is made and the rules can be
 * tested on the host.
 *
 * Signal-safety contract: pure code, no syscalls, no globals, no allocation;
 * callable from any context including the SIGSYS handler.
 */
#include "elf-plan.h"

#include <elf.h>
#include <linux/errno.h>

#include "layout.h"

#define PLAN_PROT_READ 0x1
#define PLAN_PROT_WRITE 0x2
#define PLAN_PROT_EXEC 0x4

static uint64_t page_down(uint64_t x)
{
    return x & ~(SBX_ELF_PAGE - 1);
}

/* Rounds up; the caller has checked that x + page does not overflow. */
static uint64_t page_up(uint64_t x)
{
    return (x + SBX_ELF_PAGE - 1) & ~(SBX_ELF_PAGE - 1);
}

static int check_ehdr(const void *buf, size_t len, Elf64_Ehdr *eh)
{
    if (!buf || len < sizeof(*eh))
        return -ENOEXEC;
    __builtin_memcpy(eh, buf, sizeof(*eh));
    const unsigned char *id = eh->e_ident;
    if (id[EI_MAG0] != ELFMAG0 || id[EI_MAG1] != ELFMAG1 || id[EI_MAG2] != ELFMAG2 ||
        id[EI_MAG3] != ELFMAG3)
        return -ENOEXEC;
    if (id[EI_CLASS] != ELFCLASS64 || id[EI_DATA] != ELFDATA2LSB || id[EI_VERSION] != EV_CURRENT)
        return -ENOEXEC;
    if (eh->e_machine != EM_X86_64 || (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
        return -ENOEXEC;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0)
        return -ENOEXEC;
    uint64_t bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (bytes > SBX_ELF_MAX_PHDR_BYTES || eh->e_phoff > UINT64_MAX - bytes)
        return -ENOEXEC;
    return 0;
}

int sbx_elf_need(const void *buf, size_t len, size_t *ret_need)
{
    Elf64_Ehdr eh;
    int r = check_ehdr(buf, len, &eh);
    if (r < 0)
        return r;
    uint64_t end = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (end < sizeof(eh))
        end = sizeof(eh);
    /* Tables far into the file are legal but never seen in practice; cap them. */
    if (end > 16 * SBX_ELF_MAX_PHDR_BYTES)
        return -ENOEXEC;
    *ret_need = (size_t)end;
    return 0;
}

static int prot_of(uint32_t flags)
{
    return ((flags & PF_R) ? PLAN_PROT_READ : 0) | ((flags & PF_W) ? PLAN_PROT_WRITE : 0) |
           ((flags & PF_X) ? PLAN_PROT_EXEC : 0);
}

/* Fills one segment of the plan from a PT_LOAD that passed the checks. */
static void plan_segment(const Elf64_Phdr *ph, struct sbx_elf_segment *s)
{
    uint64_t file_end = ph->p_vaddr + ph->p_filesz;
    uint64_t mem_end = ph->p_vaddr + ph->p_memsz;

    *s = (struct sbx_elf_segment){ .prot = prot_of(ph->p_flags) };
    s->map_addr = page_down(ph->p_vaddr);
    s->file_off = page_down(ph->p_offset);
    if (ph->p_filesz > 0) {
        s->file_len = page_up(file_end) - s->map_addr;
        if (ph->p_memsz > ph->p_filesz) {
            s->zero_addr = file_end;
            s->zero_len = page_up(file_end) - file_end;
        }
        s->anon_addr = page_up(file_end);
    } else {
        s->anon_addr = s->map_addr;
    }
    if (page_up(mem_end) > s->anon_addr)
        s->anon_len = page_up(mem_end) - s->anon_addr;
}

/* Checks one PT_LOAD on its own: sizes, alignment, address range. */
static int check_load(const Elf64_Phdr *ph, uint64_t file_size)
{
    if (ph->p_filesz > ph->p_memsz || ph->p_memsz == 0)
        return -ENOEXEC;
    if (ph->p_offset > file_size || ph->p_filesz > file_size - ph->p_offset)
        return -ENOEXEC;
    /* File offset and address must agree modulo the page size to be mappable. */
    if ((ph->p_vaddr - ph->p_offset) % SBX_ELF_PAGE != 0)
        return -ENOEXEC;
    if (ph->p_vaddr >= SBX_ELF_USER_TOP || ph->p_memsz > SBX_ELF_USER_TOP - ph->p_vaddr)
        return -ENOEXEC;
    return 0;
}

static int plan_phdrs(const Elf64_Ehdr *eh, const unsigned char *tab, uint64_t file_size,
                      struct sbx_elf_plan *p)
{
    uint64_t prev_end = 0;
    int have_phdr = 0;

    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        __builtin_memcpy(&ph, tab + (size_t)i * sizeof(ph), sizeof(ph));
        switch (ph.p_type) {
        case PT_LOAD:
            if (p->nseg == SBX_ELF_MAX_LOADS || check_load(&ph, file_size) < 0)
                return -ENOEXEC;
            /* Segments must ascend without overlapping (they may share a page). */
            if (p->nseg > 0 && ph.p_vaddr < prev_end)
                return -ENOEXEC;
            prev_end = ph.p_vaddr + ph.p_memsz;
            plan_segment(&ph, &p->seg[p->nseg]);
            if (p->nseg == 0)
                p->lo = p->seg[0].map_addr;
            p->hi = page_up(prev_end);
            if (!have_phdr && eh->e_phoff >= ph.p_offset && eh->e_phoff - ph.p_offset < ph.p_filesz)
                p->phdr_addr = ph.p_vaddr + (eh->e_phoff - ph.p_offset);
            p->nseg++;
            break;
        case PT_INTERP:
            if (p->interp_len || ph.p_filesz < 2 || ph.p_filesz > SBX_ELF_MAX_INTERP ||
                ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset)
                return -ENOEXEC;
            p->interp_off = ph.p_offset;
            p->interp_len = ph.p_filesz;
            break;
        case PT_PHDR:
            p->phdr_addr = ph.p_vaddr;
            have_phdr = 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

int sbx_elf_plan(const void *buf, size_t len, uint64_t file_size, struct sbx_elf_plan *ret)
{
    Elf64_Ehdr eh;
    size_t need;
    int r = sbx_elf_need(buf, len, &need);
    if (r < 0)
        return r;
    if (need > len || need > file_size)
        return -ENOEXEC;
    check_ehdr(buf, len, &eh);

    struct sbx_elf_plan p = {
        .kind = eh.e_type == ET_EXEC ? SBX_ELF_FIXED : SBX_ELF_DYN,
        .entry = eh.e_entry,
        .phnum = eh.e_phnum,
    };
    r = plan_phdrs(&eh, (const unsigned char *)buf + eh.e_phoff, file_size, &p);
    if (r < 0)
        return r;
    if (p.nseg == 0 || p.hi <= p.lo)
        return -ENOEXEC;
    /* The entry point has to be inside what gets mapped. */
    if (p.entry < p.lo || p.entry >= p.hi)
        return -ENOEXEC;
    if (p.phdr_addr == 0 || p.phdr_addr < p.lo || p.phdr_addr >= p.hi)
        p.phdr_addr = p.lo + eh.e_phoff;
    if (p.kind == SBX_ELF_FIXED) {
        if (p.lo < 0x10000 ||
            (p.lo < SBX_TRAMPOLINE_RESERVED_HI && p.hi > SBX_TRAMPOLINE_RESERVED_LO))
            return -ENOEXEC;
    } else if (p.hi - p.lo > (1ULL << 40)) {
        /* A relocatable object larger than a TiB cannot be placed sensibly. */
        return -ENOEXEC;
    }
    *ret = p;
    return 0;
}

uint64_t sbx_elf_pie_hint(const struct sbx_elf_plan *plan, int is_interp, uint64_t rnd)
{
    if (plan->kind != SBX_ELF_DYN || is_interp)
        return 0;
    return SBX_TRAMPOLINE_PIE_BASE + ((rnd & ((1ULL << 22) - 1)) << 12);
}
