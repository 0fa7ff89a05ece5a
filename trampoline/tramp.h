/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal interface of the freestanding trampoline: the gate, syscall
 * wrappers, string helpers and the pieces shared between startup, loader and
 * SIGSYS handler.
 *
 * Signal-safety contract: everything declared here may be called from the
 * SIGSYS handler.  Functions keep their state on the stack; the only globals
 * (struct sbx_tramp_state) are written during startup, before the handler can
 * run for the guest, except the virtual SIGSYS disposition, which is written
 * with single atomic stores of a whole slot index.
 */
#pragma once

/*
 * Every symbol is local to the image: direct RIP-relative references.  (Not
 * in the hosted test build of a few pure files, which links against libc.)
 */
#ifndef SBX_TRAMP_HOSTED
#pragma GCC visibility push(hidden)
#endif

#include <stddef.h>
#include <stdint.h>
#include <linux/errno.h>
#include <asm/unistd.h>

#include "elf-plan.h"
#include "layout.h"

#define SBX_NORETURN __attribute__((noreturn))
#define SBX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SBX_PATH_MAX 4096

/* ---- entry.S ---- */

/* The gate: `syscall; ret`.  Only callable from assembly with the kernel's ABI. */
extern char sbx_tramp_gate[];
/* Issues syscall nr through the gate; returns the raw result (-errno on error). */
long sbx_tramp_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
/* The signal restorer: rt_sigreturn. */
void sbx_tramp_restorer(void);
/* Switches to sp, clears the registers and jumps to entry. */
SBX_NORETURN void sbx_tramp_enter(uint64_t sp, uint64_t entry);
/* A `syscall` outside the gate, arguments zero, used once at startup to probe for our filter. */
long sbx_tramp_probe_syscall(long nr);
extern char sbx_tramp_probe_ret[];

/* Linker script symbols. */
extern char __sbx_image_start[], __sbx_image_end[];

static inline long sbx_sys0(long nr)
{
    return sbx_tramp_syscall6(nr, 0, 0, 0, 0, 0, 0);
}
static inline long sbx_sys1(long nr, long a)
{
    return sbx_tramp_syscall6(nr, a, 0, 0, 0, 0, 0);
}
static inline long sbx_sys2(long nr, long a, long b)
{
    return sbx_tramp_syscall6(nr, a, b, 0, 0, 0, 0);
}
static inline long sbx_sys3(long nr, long a, long b, long c)
{
    return sbx_tramp_syscall6(nr, a, b, c, 0, 0, 0);
}
static inline long sbx_sys4(long nr, long a, long b, long c, long d)
{
    return sbx_tramp_syscall6(nr, a, b, c, d, 0, 0);
}
static inline long sbx_sys5(long nr, long a, long b, long c, long d, long e)
{
    return sbx_tramp_syscall6(nr, a, b, c, d, e, 0);
}

/* ---- util.c ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t sbx_strlen(const char *s);
int sbx_streq(const char *a, const char *b);
/* Writes the decimal form of v at buf (no NUL); returns its length. */
size_t sbx_utoa(uint64_t v, char *buf);
SBX_NORETURN void sbx_exit(int code);
/* pread until n bytes or EOF; returns bytes read or -errno. */
long sbx_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* ---- main.c: state set up at startup ---- */

struct sbx_tramp_state {
    int stats_mapped;            /* SBX_FD_STATS mapped at SBX_TRAMPOLINE_STATS_ADDR */
    int keep_stats_fd;           /* SBX_FD_STATS stays open (`--stats`) */
    int mode;                    /* enum sbx_syscall_mode */
    uint64_t guard_lo, guard_hi; /* the trampoline's own mappings */
    size_t exe_len;              /* length of exe_path */
    char exe_path[SBX_PATH_MAX]; /* what /proc/self/exe reads back as */
};
extern struct sbx_tramp_state sbx_tramp;

/* ---- handler.c ---- */

int sbx_tramp_install_handler(void);
/* Set by the handler when the startup probe trapped. */
extern volatile int sbx_tramp_probe_hit;

/* ---- filter.c ---- */

/* Installs gate prefix + policy from SBX_FD_POLICY unless ours is active. */
/* 1: installed now (the sandbox's first trampoline); 0: already there (a re-exec). */
int sbx_tramp_setup_filter(void);
/* notify.c: installs fp, with a listener for the policy's kill rules when it has any. */
struct sock_fprog;
int sbx_tramp_install_filter(struct sock_fprog *fp);

/* ---- loader.c ---- */

struct sbx_tramp_image {
    uint64_t bias;
    uint64_t entry;     /* biased */
    uint64_t phdr_addr; /* biased */
    uint16_t phnum;
};

/* Loads an ELF file from fd with the given plan; no interpreter handling. */
int sbx_tramp_map_plan(int fd, const struct sbx_elf_plan *plan, int is_interp,
                       struct sbx_tramp_image *ret);
