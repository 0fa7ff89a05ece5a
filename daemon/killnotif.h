/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy's kill rules, carried out by the daemon from the filter's listener. */
#pragma once

#include <stdbool.h>

struct sbx_sandbox;
struct sbx_killnotif;

/* Watches listener fd for s, taking it on success; -errno, and fd still the caller's, on failure.
 */
int sbx_killnotif_start(struct sbx_sandbox *s, int fd, struct sbx_killnotif **ret);
/* Stops watching and frees k once the loop has closed its handles; NULL is fine. */
void sbx_killnotif_free(struct sbx_killnotif *k);
/* The first call a kill rule stopped, by name, or NULL when none did. */
const char *sbx_killnotif_syscall(const struct sbx_killnotif *k);
/*
 * The line for people when a kill rule stopped a call, or NULL: for the
 * guest's main process killed by SIGSYS, or for another process of it.
 */
const char *sbx_killnotif_describe(struct sbx_killnotif *k, bool main_sigsys);
