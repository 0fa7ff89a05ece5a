/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Diagnostics: problems found in a policy, each with file:line:col. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy-internal.h"

int sbx_diag_add(struct sbx_diags *d, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...)
{
    if (!d)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct sbx_diag *items = reallocarray(d->items, cap, sizeof(*items));
        if (!items)
            return -ENOMEM;
        d->items = items;
        d->cap = cap;
    }
    _cleanup_free_ char *f = strdup(file ? file : "<policy>");
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0 || !f)
        return -ENOMEM;
    d->items[d->n++] = (struct sbx_diag){
        .file = TAKE_PTR(f), .line = line, .col = col, .message = TAKE_PTR(msg)
    };
    return 0;
}

void sbx_diags_free(struct sbx_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    *d = (struct sbx_diags){ 0 };
}

char *sbx_diags_format(const struct sbx_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; d && i < d->n; i++) {
        const struct sbx_diag *g = &d->items[i];
        if (g->line)
            fprintf(f, "%s:%u:%u: %s\n", g->file, g->line, g->col, g->message);
        else
            fprintf(f, "%s: %s\n", g->file, g->message);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
