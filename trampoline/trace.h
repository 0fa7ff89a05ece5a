/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest side of `--trace` (trace.c): records of the guest's syscalls in
 * the sandbox's trace ring.
 *
 * Signal-safety contract: sbx_trace_call, sbx_trace_noret and
 * sbx_trace_exec may run in the SIGSYS handler, in many threads at once;
 * sbx_trace_wanted and sbx_trace_init run at startup only.
 */
#pragma once

#include <stdint.h>

struct sbx_call;

/* 1 once the ring is mapped (startup); entry.S then sends every call to the slow path. */
extern uint8_t sbx_trace_on;

/* Whether this sandbox traces (its stats memfd holds a ring): every syscall is then gated. */
int sbx_trace_wanted(void);
/* Maps the ring at SBX_TRAMPOLINE_TRACE_ADDR and turns recording on. */
void sbx_trace_init(void);
/* Records a call that returned ret (the guest's view of it). */
void sbx_trace_call(const struct sbx_call *c, long ret);
/* Records a call that does not return (exit, exit_group), before it is made. */
void sbx_trace_noret(const struct sbx_call *c);
/* Records the successful exec that started this program. */
void sbx_trace_exec(const char *path, char *const *argv);
