/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ELF load planner: a pure function from the bytes of an ELF header and its
 * program headers to the list of mappings that load it.  Built twice: into
 * the freestanding trampoline and into a hosted library for tests and fuzzing.
 *
 * Signal-safety contract: no state, no syscalls, no allocation; only reads
 * the buffer it is given and writes the plan it is given.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SBX_ELF_PAGE 4096ULL
#define SBX_ELF_MAX_LOADS 16
/* The kernel refuses program header tables above 64 KiB; so do we. */
#define SBX_ELF_MAX_PHDR_BYTES 65536
#define SBX_ELF_MAX_INTERP 4096
/* Highest user address on x86-64 with 4-level paging, minus the guard page. */
#define SBX_ELF_USER_TOP 0x7ffffffff000ULL

enum sbx_elf_kind {
    SBX_ELF_FIXED = 1, /* ET_EXEC: loaded at its link addresses */
    SBX_ELF_DYN = 2,   /* ET_DYN: loaded anywhere, bias added to every address */
};

/*
 * One PT_LOAD, unbiased.  Loading it means: map file_len bytes of the file at
 * file_off to map_addr (if file_len), zero zero_len bytes at zero_addr (the
 * tail of the last file page, when the segment has bss), and map anon_len
 * anonymous bytes at anon_addr (if anon_len).  All with prot.
 */
struct sbx_elf_segment {
    uint64_t map_addr;
    uint64_t file_off;
    uint64_t file_len;
    uint64_t zero_addr;
    uint64_t zero_len;
    uint64_t anon_addr;
    uint64_t anon_len;
    int prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
};

struct sbx_elf_plan {
    enum sbx_elf_kind kind;
    uint64_t lo, hi;    /* page-aligned span of all segments: [lo, hi) */
    uint64_t entry;     /* e_entry, unbiased */
    uint64_t phdr_addr; /* where the program headers are in memory, unbiased */
    uint16_t phnum;
    unsigned nseg;
    struct sbx_elf_segment seg[SBX_ELF_MAX_LOADS];
    uint64_t interp_off; /* PT_INTERP string in the file; interp_len == 0: none */
    uint64_t interp_len; /* including the terminating NUL */
};

/*
 * How many bytes from the start of the file sbx_elf_plan() needs (ELF header
 * and program headers).  buf holds the first len bytes of the file (at least
 * the 64-byte ELF header).  Returns 0 or -ENOEXEC.
 */
int sbx_elf_need(const void *buf, size_t len, size_t *ret_need);

/*
 * Validates the header and computes the load plan.  buf holds the first len
 * bytes of a file of file_size bytes.  Returns 0, or -ENOEXEC for anything
 * that is not a loadable x86-64 ELF64 file (wrong class, machine or type,
 * truncated tables, segments that overlap, overflow, leave user space, cover
 * the trampoline or exceed SBX_ELF_MAX_LOADS), writing *ret only on success.
 */
int sbx_elf_plan(const void *buf, size_t len, uint64_t file_size, struct sbx_elf_plan *ret);

/*
 * Address at which to ask for the span of an SBX_ELF_DYN object: the main
 * program gets SBX_TRAMPOLINE_PIE_BASE plus a page-granular slide from rnd
 * (below 16 GiB); an interpreter gets 0 (the kernel's choice).  Always 0 for
 * SBX_ELF_FIXED (the link address is used).
 */
uint64_t sbx_elf_pie_hint(const struct sbx_elf_plan *plan, int is_interp, uint64_t rnd);
