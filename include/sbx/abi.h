/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Constants shared between the hosted parts (daemon, sandbox init) and the
 * freestanding trampoline.  Header-only: no code, no libc types beyond
 * fixed-width integers, so the trampoline can include it.
 */
#pragma once

#include <stdint.h>

/*
 * Descriptors that sandbox init leaves open, at fixed numbers, for the
 * trampoline's first start.  They sit below the default RLIMIT_NOFILE soft
 * limit (1024).  The trampoline closes every one of them before the guest
 * runs, so that the guest's fd table is its own; the one exception is
 * SBX_FD_STATS when the stats page says SBX_STATS_KEEP_FD (`--stats`, whose
 * counts must survive exec).  None of them exists in `off` mode.
 */
#define SBX_FD_NOTIFY 1018     /* startup only: socket to init for the filter's listener */
#define SBX_FD_STATUS 1020     /* startup status pipe: see struct sbx_status_record */
#define SBX_FD_STATS 1021      /* memfd holding struct sbx_stats, mapped shared */
#define SBX_FD_POLICY 1022     /* memfd with the policy's classic BPF program */
#define SBX_FD_TRAMPOLINE 1023 /* sealed memfd of the trampoline itself */

/*
 * The trampoline is started as
 *     execveat(SBX_FD_TRAMPOLINE, "", argv, envp + request, AT_EMPTY_PATH)
 * by sandbox init, and as execve("/proc/self/exe", ...) by itself (the mm's
 * exe file is the trampoline's memfd, so no descriptor has to stay open for
 * a re-exec).  argv is exactly the guest's; envp is the guest's followed by
 * two strings, the exec request: SBX_EXEC_TAG and the mode name
 * (SBX_MODE_NAME_TRAP or SBX_MODE_NAME_REWRITE, then options, each
 * ":close=N", an fd the new trampoline closes, ":stats", SBX_FD_STATS is the
 * kept stats memfd, ":hot=HEX", rewrite mode's hot sites for a new stats
 * page when it is not kept, ":self", an exec of /proc/self/exe, or ":byfd",
 * the program was exec'd by descriptor and takes its file's name), then the
 * path of the program to load (it contains a '/').  The new trampoline removes both from envp and,
 * with prctl(PR_SET_MM_MAP), from the end of the environment the kernel records, so
 * /proc/self/environ reads as the guest's own.
 */
#define SBX_EXEC_TAG "\001sbx-exec="
#define SBX_EXEC_REQUEST_MAX 8192 /* mode and path with their NULs */
#define SBX_MODE_NAME_TRAP "trap"
#define SBX_MODE_NAME_REWRITE "rewrite"

enum sbx_syscall_mode {
    SBX_MODE_OFF = 0,
    SBX_MODE_TRAP = 1,
    SBX_MODE_REWRITE = 2,
};

/* The syscall mode of a run that neither its policy nor its request chose. */
#define SBX_DEFAULT_MODE SBX_MODE_REWRITE

/*
 * Startup status.  Whoever turns into the guest (sandbox init's child in
 * `off` mode, the trampoline otherwise) writes one record to SBX_FD_STATUS
 * when loading the guest fails, then exits.  On success it writes nothing and
 * closes the descriptor (close-on-exec in `off` mode): end of file means the
 * guest is running.
 */
enum sbx_status_stage {
    SBX_STAGE_EXEC = 1,   /* finding or executing the guest program */
    SBX_STAGE_LOAD = 2,   /* the trampoline's ELF loader refused the program */
    SBX_STAGE_FILTER = 3, /* installing the seccomp filter failed */
    SBX_STAGE_SETUP = 4,  /* any other isolation step */
    SBX_STAGE_CWD = 5,    /* chdir to the guest's working directory */
};

struct sbx_status_record {
    int32_t err;   /* positive errno value */
    int32_t stage; /* enum sbx_status_stage */
};

/*
 * The most instructions the trampoline puts in front of the policy's program
 * (its gate prefix); a policy leaves them room under the kernel's 4096.
 */
#define SBX_FILTER_PREFIX_MAX 256

/* Per-syscall counters, shared by every process of one sandbox. */
#define SBX_STATS_MAGIC 0x53425853544154ULL /* "SBXSTAT" */
#define SBX_STATS_NSYSCALLS 512

#define SBX_STATS_HOT 1024

/*
 * A syscall site of the sandbox's code that trapped: the file (st_dev,
 * st_ino) and the file offset of its `syscall` (plus one; 0: free entry).
 * Shared by the sandbox's processes so that a site that trapped in one is
 * patched early in the others (docs/trampoline.md); a hint only, since
 * guests can write it: every site is proven again before it is patched.
 */
struct sbx_hot_site {
    uint64_t off1;
    uint64_t dev, ino;
    uint32_t traps, reserved;
};

/* In struct sbx_stats.flags: the guest keeps SBX_FD_STATS open, so counts survive exec. */
#define SBX_STATS_KEEP_FD 1ULL

struct sbx_stats {
    uint64_t magic;
    uint64_t flags;                        /* SBX_STATS_*, set by the daemon */
    uint64_t trapped[SBX_STATS_NSYSCALLS]; /* calls that reached the SIGSYS handler */
    uint64_t patched[SBX_STATS_NSYSCALLS]; /* calls that came through a rewritten site */
    uint64_t hot_gen;                      /* bumped whenever a site becomes hot */
    struct sbx_hot_site hot[SBX_STATS_HOT];
};
