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
#define SBX_FD_STATUS 1020     /* startup status pipe: see struct sbx_status_record */
#define SBX_FD_STATS 1021      /* memfd holding struct sbx_stats, mapped shared */
#define SBX_FD_POLICY 1022     /* memfd with the policy's classic BPF program */
#define SBX_FD_TRAMPOLINE 1023 /* sealed memfd of the trampoline itself, for re-exec */

/*
 * The trampoline is started as
 *     execveat(SBX_FD_TRAMPOLINE, "", argv, envp, AT_EMPTY_PATH)
 * with argv[0] = SBX_MODE_NAME_TRAP or SBX_MODE_NAME_REWRITE, argv[1] = the
 * path of the guest program inside the sandbox, argv[2...] = the guest's own
 * argv (argv[2] is the guest's argv[0]).  envp is the guest's environment.
 */
#define SBX_MODE_NAME_TRAP "trap"
#define SBX_MODE_NAME_REWRITE "rewrite"

enum sbx_syscall_mode {
    SBX_MODE_OFF = 0,
    SBX_MODE_TRAP = 1,
    SBX_MODE_REWRITE = 2,
};

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
};

struct sbx_status_record {
    int32_t err;   /* positive errno value */
    int32_t stage; /* enum sbx_status_stage */
};

/* Per-syscall counters, shared by every process of one sandbox. */
#define SBX_STATS_MAGIC 0x53425853544154ULL /* "SBXSTAT" */
#define SBX_STATS_NSYSCALLS 512

struct sbx_stats {
    uint64_t magic;
    uint64_t trapped[SBX_STATS_NSYSCALLS]; /* calls that reached the SIGSYS handler */
    uint64_t patched[SBX_STATS_NSYSCALLS]; /* calls that came through a rewritten site */
};
