/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest side of `--trace` (trace.c): records of the guest's syscalls in
 * the sandbox's trace ring.
 *
 * Signal-safety contract: sbx_trace_call, sbx_trace_before and
 * sbx_trace_exec may run in the SIGSYS handler, in many threads at once;
 * sbx_trace_wanted and sbx_trace_init run at startup only.
 */
#pragma once

#include <stdint.h>

/* Linked at a fixed address, not preempted: every symbol is the trampoline's own. */
#pragma GCC visibility push(hidden)

struct sbx_call;

/* 1 once the ring is mapped (startup). */
extern uint8_t sbx_trace_on;
/* Whether every call is traced: then signals delivered to guest handlers are recorded too. */
extern uint8_t sbx_trace_signals;
/* The numbers recorded, 1 each (entry.S sends them to the slow path); set at startup. */
extern uint8_t sbx_trace_sel[512];

static inline int sbx_trace_wants(long nr)
{
    return sbx_trace_on && (nr < 0 || nr >= 512 || sbx_trace_sel[nr]);
}

/*
 * What this sandbox traces, from its stats memfd: 0 nothing, SBX_TRACE_ALL
 * (every number is then gated), or SBX_TRACE_SELECT, with the numbers
 * marked in sel (they are gated too).
 */
int sbx_trace_wanted(uint8_t *sel);
/* Maps the ring at SBX_TRAMPOLINE_TRACE_ADDR and turns recording on. */
void sbx_trace_init(void);
/* Records a call that returned ret (the guest's view of it). */
void sbx_trace_call(const struct sbx_call *c, long ret);
/*
 * Before a recorded call is made: records one that does not return (exit,
 * exit_group), and notes a clone onto a new stack (more threads).
 */
void sbx_trace_before(const struct sbx_call *c);
struct sbx_ksigaction;
/*
 * rt_sigaction of a signal other than SIGSYS while tracing every call: a
 * handler is installed wrapped (SA_SIGINFO, the trampoline's wrapper, which
 * records each delivery and calls it), act being the copy the kernel gets;
 * the old disposition reads back as the guest set it.  Returns the result.
 */
long sbx_trace_rt_sigaction(struct sbx_call *c, struct sbx_ksigaction *act);
/* Records the successful exec that started this program. */
void sbx_trace_exec(const char *path, char *const *argv);

#pragma GCC visibility pop
