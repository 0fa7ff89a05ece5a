/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of `sandboxctl run --trace` and `--learn`: maps the
 * sandbox's trace ring (the memfd sandboxd sends in TRACE), drains it while
 * the guest runs and at its end, prints strace-style lines and hands each
 * call to the learner.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/trace-fmt.h"
#include "policy/learn.h"

struct sbx_trace_sink {
    FILE *out; /* NULL: no lines (--learn alone) */
    bool close_out;
    struct sbx_trace_filter filter;
    struct sbx_learn *learn; /* NULL without --learn */
    struct sbx_trace_ring *ring;
    size_t map_len;
    uint64_t nrec, tail;
    uint64_t skipped; /* records left incomplete by their writer */
    uint64_t dropped; /* the ring's count of calls not recorded, at the end */
    bool busy;        /* the last drain found the ring a quarter full: drain again at once */
};

/*
 * Parses --trace's argument: "" or NULL (stderr, every call), "FILE",
 * "FILE:LIST" or ":LIST" (stderr); FILE "-" is stderr.  Opens FILE as the
 * caller.  -errno after a message on stderr.
 */
int sbx_trace_sink_open(struct sbx_trace_sink *s, const char *arg);
/* Maps the ring of memfd (the TRACE frame's fd); takes the fd. */
int sbx_trace_sink_attach(struct sbx_trace_sink *s, int memfd);
/* Drains complete records; with final, also skips the incomplete ones (the guest is gone). */
void sbx_trace_sink_drain(struct sbx_trace_sink *s, bool final);
/*
 * The main process (pid 2 in the sandbox, init's only child) died of sig,
 * as the EXIT report says: drains, then prints its "+++ killed by +++"
 * (its parent, init, is not traced, so no wait4 of its shows it).  The
 * report has no core flag: the line has no "(core dumped)".
 */
void sbx_trace_sink_killed(struct sbx_trace_sink *s, int sig);
/* The last drain, the count of calls not recorded, unmap and close. */
void sbx_trace_sink_done(struct sbx_trace_sink *s);

/*
 * --learn FILE: starts learning (merging FILE's counts when it exists);
 * -errno after a message on stderr.
 */
int sbx_trace_learn_begin(struct sbx_trace_sink *s, const char *path);
/*
 * After the run: writes FILE (a new file renamed over it).  Refuses, with
 * a message, when calls were not recorded: the policy would miss them.
 * Returns 0 or -errno.
 */
int sbx_trace_learn_finish(struct sbx_trace_sink *s, const char *path);
