/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding and mapping programs: resolves a path to an ELF file (following
 * one `#!` line), plans it and its interpreter, and maps the plans.  Used at
 * startup to load the guest and by the execve handler to check a target
 * before the process is replaced.
 *
 * Signal-safety contract: state on the stack or in the caller's struct; all
 * syscalls through the gate.  sbx_tramp_resolve() needs about 5 KiB of stack
 * beyond struct sbx_tramp_target, so the execve handler puts the target in an
 * mmap'ed scratch area.
 */
#pragma once

#include "tramp.h"

#define SBX_SHEBANG_MAX 256

struct sbx_tramp_target {
    int fd;        /* the ELF to map: the program, or a script's interpreter */
    int interp_fd; /* its PT_INTERP, or -1 */
    struct sbx_elf_plan plan;
    struct sbx_elf_plan interp_plan;
    /* A script: argv becomes [sh_interp, sh_arg?, path, argv[1]...]. */
    int is_script;
    const char *sh_interp; /* points into line */
    const char *sh_arg;    /* points into line, or NULL */
    char line[SBX_SHEBANG_MAX + 1];
    char interp_path[SBX_ELF_MAX_INTERP + 1];
    int err_stage; /* enum sbx_status_stage of the last failure */
};

/*
 * Opens path (relative to the cwd) and everything needed to run it; returns 0
 * or a negative errno as execve would (ENOENT, EACCES, ENOEXEC, ...), and
 * closes whatever it opened on failure.  nofollow: O_NOFOLLOW on the path.
 */
int sbx_tramp_resolve(const char *path, int nofollow, struct sbx_tramp_target *t);
void sbx_tramp_target_close(struct sbx_tramp_target *t);

/*
 * Parses a `#!` line in buf (n bytes, modified in place).  Returns 1 with
 * *interp and *arg set (arg NULL when there is none), 0 when buf is not a
 * script, -ENOEXEC when the line names no interpreter.
 */
int sbx_tramp_parse_shebang(char *buf, size_t n, const char **interp, const char **arg);
