/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the --trace decoder: a trace record is written by the
 * guest, so arbitrary bytes (kind, number, flags, string slots and lengths,
 * arguments) must format into a bounded, NUL-terminated line, at any buffer
 * size, without reading outside the record.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/trace-fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_trace_rec *r = malloc(sizeof(*r));
    if (!r)
        return 0;
    memset(r, 0, sizeof(*r));
    memcpy(r, data, size < sizeof(*r) ? size : sizeof(*r));
    /* Then the buffer size, so that cut lines are checked too. */
    size_t len = size > sizeof(*r) ? 1 + data[sizeof(*r)] * 4u : 1024;
    char *line = malloc(len);
    if (!line) {
        free(r);
        return 0;
    }
    size_t n = sbx_trace_format(r, line, len);
    if (n >= len || strlen(line) != n)
        abort();
    /* A wait4 that reaped a killed process: its line too. */
    int pid, sig;
    bool core;
    if (sbx_trace_reaped_killed(r, &pid, &sig, &core)) {
        n = sbx_trace_format_killed(sig, core, line, len);
        if (n >= len || strlen(line) != n)
            abort();
    }
    struct sbx_trace_filter f;
    struct sbx_error err;
    char spec[64];
    size_t k = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;
    memcpy(spec, data, k);
    spec[k] = '\0';
    if (sbx_trace_filter_parse(&f, spec, &err) == 0)
        (void)sbx_trace_filter_match(&f, r->nr);
    free(line);
    free(r);
    return 0;
}
