/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fixed addresses of the trampoline, shared by its linker script, its code,
 * the ELF planner and the guest tests.  Header-only constants.
 *
 * Signal-safety contract: constants only, nothing to run.
 */
#pragma once

/*
 * The trampoline is linked at this address in every exec of a sandbox, so
 * that the gate address compiled into the already installed filter stays
 * right.  It is far above non-PIE guests (0x400000) and far below the
 * kernel's top-down mmap area (>= 0x7eff00000000 with full ASLR), so that
 * neither collides with it; the process break follows the trampoline's bss.
 * trampoline/tramp.ld repeats this number.
 */
#define SBX_TRAMPOLINE_BASE 0x6f0000000000ULL

/* The gate: one `syscall` instruction, then `ret`, at the start of .text. */
#define SBX_TRAMPOLINE_GATE (SBX_TRAMPOLINE_BASE + 0x1000)
/* What the kernel reports as instruction_pointer for a gate syscall. */
#define SBX_TRAMPOLINE_GATE_RET (SBX_TRAMPOLINE_GATE + 2)

/* The shared statistics pages are mapped here, just below the image (64 KiB at most). */
#define SBX_TRAMPOLINE_STATS_ADDR (SBX_TRAMPOLINE_BASE - 0x10000)
#define SBX_TRAMPOLINE_STATS_MAX 0x10000

/*
 * The image's site map (include/sbx/sitemap.h), read-only, below the stats;
 * one page more than its largest size, for the map's offset within a page.
 */
#define SBX_TRAMPOLINE_SITEMAP_MAX (0x1000000 + 0x1000)
#define SBX_TRAMPOLINE_SITEMAP_ADDR (SBX_TRAMPOLINE_STATS_ADDR - SBX_TRAMPOLINE_SITEMAP_MAX)

/*
 * The trace ring (include/sbx/trace.h), shared, below the site map: its
 * largest size rounded up to a page.
 */
#define SBX_TRAMPOLINE_TRACE_MAX (0x1000000 + 0x1000)
#define SBX_TRAMPOLINE_TRACE_ADDR (SBX_TRAMPOLINE_SITEMAP_ADDR - SBX_TRAMPOLINE_TRACE_MAX)

/*
 * Address range the trampoline keeps for itself (trace ring, site map,
 * stats, image, slack for the image to grow): guests may not map, unmap or
 * protect anything inside it.
 */
#define SBX_TRAMPOLINE_RESERVED_LO SBX_TRAMPOLINE_TRACE_ADDR
#define SBX_TRAMPOLINE_RESERVED_HI (SBX_TRAMPOLINE_BASE + 0x400000)

/* Where position-independent main programs are placed (plus a random slide). */
#define SBX_TRAMPOLINE_PIE_BASE 0x555555554000ULL
