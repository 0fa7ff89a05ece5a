/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The decoder of `sandboxctl run --trace`: one record of the trace ring
 * (include/sbx/trace.h) to one strace-style line, and the filters of
 * --trace=FILE:NAME,%CLASS,...  Pure functions, unit-tested entry by entry
 * (tests/unit/test-trace-fmt.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/trace.h"
#include "sbx/error.h"

/* Strings are printed up to this many bytes, then "..." (strace's default -s 32). */
#define SBX_TRACE_FMT_STRLEN 32

/* The classes of --trace's filter (strace's names). */
enum {
    SBX_TC_FILE = 1u << 0,    /* %file: takes a file name */
    SBX_TC_DESC = 1u << 1,    /* %desc: works on a descriptor */
    SBX_TC_NETWORK = 1u << 2, /* %network: sockets */
    SBX_TC_PROCESS = 1u << 3, /* %process: process lifecycle */
    SBX_TC_SIGNAL = 1u << 4,  /* %signal */
    SBX_TC_MEMORY = 1u << 5,  /* %memory: mappings and the break */
    SBX_TC_IPC = 1u << 6,     /* %ipc: System V IPC */
    SBX_TC_CREDS = 1u << 7,   /* %creds: identity */
};

/* One decoder entry: the name, what each argument is, what the result is. */
struct sbx_trace_decl {
    const char *name;
    const char *args; /* one letter per argument: see trace-fmt.c */
    char ret;         /* 'd' decimal, 'x' hex (addresses), 'o' octal (umask) */
    uint32_t classes; /* SBX_TC_* */
};

/* The decoder entry of nr, or NULL (the call is then printed with its name and six hex arguments).
 */
const struct sbx_trace_decl *sbx_trace_decl(uint32_t nr);
/* Every decoder entry by number, for tests: the table's length and its numbers. */
size_t sbx_trace_decl_count(void);
uint32_t sbx_trace_decl_nr(size_t i);

/* The name of syscall nr (the decoder's, else libseccomp's, else "syscall_NNN"). */
const char *sbx_trace_name(uint32_t nr, char *buf, size_t len);

/*
 * Formats r into buf (NUL-terminated, cut at len) without the "[pid N] "
 * prefix and without a newline: "openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 3".
 * A call that does not return ends "= ?".  Returns the length written.
 */
size_t sbx_trace_format(const struct sbx_trace_rec *r, char *buf, size_t len);

/*
 * Whether r is a wait4 or waitid that reaped a process killed by a signal: its pid,
 * the signal and whether it dumped core.  That process's end is printed
 * from it ("+++ killed by ... +++"), as nothing of the dead process says.
 */
bool sbx_trace_reaped_killed(const struct sbx_trace_rec *r, int *pid, int *sig, bool *core);
/* "+++ killed by SIGSEGV (core dumped) +++" into buf; returns the length. */
size_t sbx_trace_format_killed(int sig, bool core, char *buf, size_t len);

/* A filter: which numbers are printed. */
struct sbx_trace_filter {
    bool all;
    uint8_t nr[512]; /* SBX_STATS_NSYSCALLS */
};

/*
 * Parses "NAME,%CLASS,..." (strace's -e trace= spelling; a class also
 * without its %).  Each name is the call of exactly that name.  -EINVAL
 * with a message in err on an unknown name or class, or an empty list.
 */
int sbx_trace_filter_parse(struct sbx_trace_filter *f, const char *spec, struct sbx_error *e);
bool sbx_trace_filter_match(const struct sbx_trace_filter *f, uint32_t nr);
