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
 * trampoline.  They sit below the default RLIMIT_NOFILE soft limit (1024) and
 * above what programs normally use.  None of them exists in `off` mode.
 */
#define SBX_FD_NOTIFY 1018     /* startup only: socket to init for the filter's listener */
#define SBX_FD_EXEC 1019       /* memfd of exec requests (below), kept for the guest's life */
#define SBX_FD_STATUS 1020     /* startup status pipe: see struct sbx_status_record */
#define SBX_FD_STATS 1021      /* memfd holding struct sbx_stats, mapped shared */
#define SBX_FD_POLICY 1022     /* memfd with the policy's classic BPF program */
#define SBX_FD_TRAMPOLINE 1023 /* sealed memfd of the trampoline itself, for re-exec */

/*
 * The trampoline is started as
 *     execveat(SBX_FD_TRAMPOLINE, "", argv, envp, AT_EMPTY_PATH)
 * with argv and envp exactly the guest's (so /proc/self/cmdline and environ
 * read as the guest's own).  What to load comes in an exec request at
 * SBX_FD_EXEC: a sparse memfd of SBX_EXEC_FILE_SIZE bytes, shared by every
 * process of the sandbox, with one SBX_EXEC_SLOT-byte slot per pid (pids of
 * the sandbox's pid namespace; pid and tgid survive exec).  Before exec'ing,
 * a process writes its slot at pid * SBX_EXEC_SLOT, through a shared mapping
 * (no new fd, so RLIMIT_NOFILE cannot get in the way, and no write(2), so
 * RLIMIT_FSIZE cannot either): the mode name (SBX_MODE_NAME_TRAP or
 * SBX_MODE_NAME_REWRITE, optionally followed by ":close=N", an fd the new
 * trampoline closes), a NUL, the path of the program to load (it contains a
 * '/'), a NUL.  The new trampoline reads its slot and punches it out.
 */
#define SBX_EXEC_SLOT 4096
#define SBX_EXEC_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define SBX_EXEC_FILE_SIZE ((uint64_t)SBX_EXEC_SLOT * SBX_EXEC_PID_MAX)
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
    SBX_STAGE_EXEC = 1,    /* finding or executing the guest program */
    SBX_STAGE_LOAD = 2,    /* the trampoline's ELF loader refused the program */
    SBX_STAGE_FILTER = 3,  /* installing the seccomp filter failed */
    SBX_STAGE_SETUP = 4,   /* any other isolation step */
    SBX_STAGE_CWD = 5,     /* chdir to the guest's working directory */
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

struct sbx_stats {
    uint64_t magic;
    uint64_t trapped[SBX_STATS_NSYSCALLS]; /* calls that reached the SIGSYS handler */
    uint64_t patched[SBX_STATS_NSYSCALLS]; /* calls that came through a rewritten site */
    uint64_t hot_gen;                      /* bumped whenever a site becomes hot */
    struct sbx_hot_site hot[SBX_STATS_HOT];
};
