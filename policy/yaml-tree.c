/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * YAML text -> a small tree of scalars, sequences and mappings, each node
 * with its 1-based line:col.  Built from libyaml's event stream so that the
 * limits (depth, node count, no aliases) are ours, and hostile input cannot
 * blow up memory through alias expansion.
 */
#include <errno.h>
#include <string.h>
#include <yaml.h>

#include "policy/policy-internal.h"

/* A policy is a few hundred nodes; these bounds only stop hostile input. */
#define MAX_DEPTH 32
#define MAX_NODES 100000

void sbx_ynode_free(struct sbx_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        sbx_ynode_free(n->items[i]);
    free(n->items);
    free(n->scalar);
    free(n);
}

static void yaml_parser_donep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static void ynode_freep(struct sbx_ynode **n)
{
    sbx_ynode_free(*n);
}

static int append(struct sbx_ynode *parent, struct sbx_ynode *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        struct sbx_ynode **items = reallocarray(parent->items, cap, sizeof(*items));
        if (!items)
            return -ENOMEM;
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return 0;
}

/* A reader error carries a byte offset, not a mark: count lines up to it. */
static void offset_to_pos(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int syntax_error(const yaml_parser_t *parser, const char *text, size_t len, const char *file,
                        struct sbx_diags *diags)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    unsigned line, col;
    if (parser->error == YAML_READER_ERROR) {
        offset_to_pos(text, len, parser->problem_offset, &line, &col);
    } else {
        line = (unsigned)parser->problem_mark.line + 1;
        col = (unsigned)parser->problem_mark.column + 1;
    }
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    int r;
    if (parser->context)
        r = sbx_diag_add(diags, file, line, col, "YAML syntax error: %s %s at line %u", problem,
                         parser->context, (unsigned)parser->context_mark.line + 1);
    else
        r = sbx_diag_add(diags, file, line, col, "YAML syntax error: %s", problem);
    return r < 0 ? r : -EINVAL;
}

static struct sbx_ynode *node_new(enum sbx_ynode_kind kind, const yaml_event_t *ev)
{
    struct sbx_ynode *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (unsigned)ev->start_mark.line + 1;
    n->col = (unsigned)ev->start_mark.column + 1;
    return n;
}

struct builder {
    struct sbx_ynode *root;
    struct sbx_ynode *stack[MAX_DEPTH];
    size_t depth;
    size_t nodes;
    unsigned documents;
};

/* Attaches a new node where the event stream says it goes; containers are pushed. */
static int place(struct builder *b, struct sbx_ynode *n, const char *file, struct sbx_diags *diags)
{
    _cleanup_(ynode_freep) struct sbx_ynode *node = n;
    if (++b->nodes > MAX_NODES) {
        int r = sbx_diag_add(diags, file, node->line, node->col,
                             "the policy has more than %u YAML nodes", MAX_NODES);
        return r < 0 ? r : -EINVAL;
    }
    bool container = node->kind != SBX_YNODE_SCALAR;
    if (container && b->depth == MAX_DEPTH) {
        int r = sbx_diag_add(diags, file, node->line, node->col,
                             "the policy nests deeper than %u levels", MAX_DEPTH);
        return r < 0 ? r : -EINVAL;
    }
    if (b->depth > 0) {
        int r = append(b->stack[b->depth - 1], node);
        if (r < 0)
            return r;
    } else {
        b->root = node;
    }
    if (container)
        b->stack[b->depth++] = node;
    TAKE_PTR(node);
    return 0;
}

static int handle_event(struct builder *b, const yaml_event_t *ev, const char *file,
                        struct sbx_diags *diags)
{
    struct sbx_ynode *n;
    int r;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1) {
            r = sbx_diag_add(diags, file, (unsigned)ev->start_mark.line + 1,
                             (unsigned)ev->start_mark.column + 1,
                             "a policy file holds one YAML document");
            return r < 0 ? r : -EINVAL;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        r = sbx_diag_add(diags, file, (unsigned)ev->start_mark.line + 1,
                         (unsigned)ev->start_mark.column + 1,
                         "YAML aliases (*%s) are not supported in policies",
                         (const char *)ev->data.alias.anchor);
        return r < 0 ? r : -EINVAL;
    case YAML_SCALAR_EVENT:
        n = node_new(SBX_YNODE_SCALAR, ev);
        if (!n)
            return -ENOMEM;
        n->scalar = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->scalar) {
            sbx_ynode_free(n);
            return -ENOMEM;
        }
        /* A NUL inside a scalar would silently cut names and paths short. */
        if (strlen(n->scalar) != ev->data.scalar.length) {
            r = sbx_diag_add(diags, file, n->line, n->col, "a value contains a NUL character");
            sbx_ynode_free(n);
            return r < 0 ? r : -EINVAL;
        }
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        return place(b, n, file, diags);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? SBX_YNODE_SEQ : SBX_YNODE_MAP, ev);
        if (!n)
            return -ENOMEM;
        return place(b, n, file, diags);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    default:
        return 0;
    }
}

int sbx_yaml_load(const char *text, size_t len, const char *file, struct sbx_ynode **ret,
                  struct sbx_diags *diags)
{
    _cleanup_(yaml_parser_donep) yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    struct builder b = { 0 };
    int r = 0;
    for (bool done = false; !done && r == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            r = syntax_error(&parser, text, len, file, diags);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        r = handle_event(&b, &ev, file, diags);
        yaml_event_delete(&ev);
    }
    if (r < 0) {
        sbx_ynode_free(b.root);
        return r;
    }
    *ret = b.root;
    return 0;
}
