/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the trampoline's ELF planner: arbitrary bytes as a
 * whole file.  Besides memory errors, it checks the promises of an accepted
 * plan: page-aligned ranges inside the span, and within user space.
 */
#include <stdint.h>
#include <stdlib.h>

#include "elf-plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t need;
    struct sbx_elf_plan p;
    if (sbx_elf_need(data, size, &need) < 0)
        return 0;
    if (sbx_elf_plan(data, size, size, &p) < 0)
        return 0;
    if (need > size || p.nseg == 0 || p.nseg > SBX_ELF_MAX_LOADS || p.lo >= p.hi ||
        p.hi > SBX_ELF_USER_TOP || p.entry < p.lo || p.entry >= p.hi)
        abort();
    for (unsigned i = 0; i < p.nseg; i++) {
        const struct sbx_elf_segment *s = &p.seg[i];
        if (s->map_addr % SBX_ELF_PAGE || s->file_off % SBX_ELF_PAGE ||
            s->file_len % SBX_ELF_PAGE || s->anon_addr % SBX_ELF_PAGE || s->anon_len % SBX_ELF_PAGE)
            abort();
        if (s->map_addr < p.lo || s->map_addr + s->file_len > p.hi ||
            (s->anon_len && (s->anon_addr < p.lo || s->anon_addr + s->anon_len > p.hi)))
            abort();
        if (s->file_len && s->file_off + s->file_len > size + SBX_ELF_PAGE)
            abort();
    }
    if (p.interp_len && (p.interp_off > size || p.interp_len > size - p.interp_off))
        abort();
    return 0;
}
