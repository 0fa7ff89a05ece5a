/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy's kill rules, carried out by the daemon from the filter's listener. */
#pragma once

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
 * The line for people when a kill rule stopped a call, or NULL.  main_signal
 * is the signal that ended the guest's main process, or 0: SIGSYS (the kill
 * rule's), SIGKILL (the daemon's, when SIGSYS did not end it), or another
 * process of the sandbox was the one killed.
 */
const char *sbx_killnotif_describe(struct sbx_killnotif *k, int main_signal);
