/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monitor's life after `create`: start, signals, the guest's end (monitor.c). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* What the monitor answers `start`: err 0 and the guest's pid, or why it did not start. */
struct sbx_oci_start_reply {
    int32_t err;
    int32_t guest;
    char msg[1024];
};

struct sbx_oci_watch {
    int ctl; /* the control socket of sbx-init */
    pid_t init;
    int init_pidfd;
    int listen;      /* the socket `start` connects to */
    int guest_pidfd; /* from GUEST, once started */
};

/* Runs until the container ends; returns the monitor's exit status. */
int sbx_oci_watch(struct sbx_oci_watch *w);

/* The trampoline's statistics memfd (sealed size, magic set). */
int sbx_oci_stats_memfd(void);
