/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spare sandbox (spare.c): spawned ahead of the next run, with the last
 * image's root prepared, and what sandbox.c and spare.c share of a sandbox's
 * life.  Internal to the daemon.
 */
#pragma once

#include <stdbool.h>

#include "daemon/daemon.h"
#include "daemon/sandbox.h"

/* sandbox.c */
int sbx_sandbox_spawn(struct sbx_daemon *d, bool net_host, bool userns, struct sbx_sandbox **ret,
                      struct sbx_error *e);
/* Everything the sandbox holds goes, and the struct after libuv lets go of it. */
void sbx_sandbox_finish(struct sbx_sandbox *s);
/*
 * Makes the spare's statistics page now, off the path of its run: the one
 * a run without --stats or a trace gets (sandbox_launch adjusts or
 * replaces it).  Without one, the run makes its own.
 */
void sbx_sandbox_premake_stats(struct sbx_sandbox *s);
/* Whether the clone3 child's report says the spawn failed (s->spawn_msg). */
bool sbx_sandbox_spawn_failed(struct sbx_sandbox *s);
/* SIGKILL to init, reaped within a second, in this call. */
void sbx_sandbox_kill_and_reap_now(struct sbx_sandbox *s);
/* SIGKILL to init, reaped by the loop; the sandbox goes without a report. */
void sbx_sandbox_kill_then_reap(struct sbx_sandbox *s);

/* spare.c */
/* The key of the root the run p asks for; false when no spare can build it ahead. */
bool sbx_root_key(const struct sbx_sandbox_params *p, struct sbx_root_key *k);
bool sbx_root_key_eq(const struct sbx_root_key *a, const struct sbx_root_key *b);
/* Drops the spare, reaped now, if its prepared root holds the file image_fd is. */
void sbx_spare_let_go(struct sbx_daemon *d, int image_fd);
