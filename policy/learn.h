/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `sandboxctl run --learn FILE.yaml`: the syscalls a workload made, counted,
 * with the argument values of the few calls whose rules can compare them
 * (socket and socketpair families, clone flags, ioctl requests, prctl
 * options), written as a policy: `default: errno EPERM`, one allow rule per
 * syscall (or per value while the set is small), each under a comment with
 * its count.  A learned file read back (sbx_learn_merge) adds its counts,
 * so several runs make one policy.  Pure code apart from the FILE it writes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "sbx/error.h"

/* At most this many values of one argument become separate rules; more: the call is allowed whole.
 */
#define SBX_LEARN_MAX_VALUES 8
#define SBX_LEARN_NSYSCALLS 512

struct sbx_learn_values {
    uint64_t v[SBX_LEARN_MAX_VALUES];
    uint64_t n[SBX_LEARN_MAX_VALUES];
    uint8_t count;
    bool many; /* more values than SBX_LEARN_MAX_VALUES were seen */
};

struct sbx_learn {
    uint64_t calls[SBX_LEARN_NSYSCALLS];
    struct sbx_learn_values values[SBX_LEARN_NSYSCALLS];
    unsigned runs;
};

/* The argument whose values a rule for nr compares, or -1. */
int sbx_learn_arg_of(uint32_t nr);
/* Counts one call. */
void sbx_learn_add(struct sbx_learn *l, uint32_t nr, const uint64_t args[6]);
/*
 * Adds the counts of a file this module wrote (its "# learned:" comments).
 * -EINVAL with a message in err when the text holds none (not a learned
 * policy) or a malformed one.
 */
int sbx_learn_merge(struct sbx_learn *l, const char *text, struct sbx_error *e);
/* Writes the policy named name. */
int sbx_learn_write(const struct sbx_learn *l, const char *name, FILE *f);
