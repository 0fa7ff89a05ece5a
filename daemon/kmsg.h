/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel's own words about a failed mount, from /dev/kmsg. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Most bytes of the kernel's text that go into a message. */
#define SBX_KMSG_REASON_MAX 320
/* Most records read after a failed mount: the log also holds the rest of the host's. */
#define SBX_KMSG_MAX_RECORDS 512

/* /dev/kmsg positioned at its end, so that it reads what is logged from now on; or -errno. */
int sbx_kmsg_open_end(void);
/*
 * Appends the text of one /dev/kmsg record ("PRI,SEQ,TS,FLAGS;TEXT\n" and
 * " KEY=VALUE" lines) to out when TEXT is ext4's about block device dev
 * ("loop3"): "EXT4-fs (loop3): ", "EXT4-fs error (device loop3): " or
 * "EXT4-fs warning (device loop3): ".  The text goes without that prefix,
 * after "; " if out holds some already, bytes outside printable ASCII as
 * '?', cut with "..." to fit outlen.  Returns whether it matched.
 */
bool sbx_kmsg_take(const char *rec, size_t n, const char *dev, char *out, size_t outlen);
/* Reads fd's records up to its end (at most SBX_KMSG_MAX_RECORDS) through sbx_kmsg_take; how many
 * matched. */
int sbx_kmsg_collect(int fd, const char *dev, char *out, size_t outlen);
