/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The effective syscall policy of a sandbox, as inspect and the record show
 * it (docs/cli.md, "syscalls"): the default action, the baseline and every
 * rule after the run's options, in the words a policy file uses
 * (policy/describe.c), so that each rule reads back as the same rule.
 */
#include <stdio.h>

#include "daemon/lifecycle.h"
#include "policy/policy.h"

static json_object *cond_json(const struct sbx_arg_cond *a)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int((int)a->index));
    json_object_object_add(o, "op", json_object_new_string(sbx_policy_cmp_name(a->op)));
    json_object_object_add(o, "value", json_object_new_uint64(a->value));
    if (a->op == SBX_CMP_MASKED_EQ)
        json_object_object_add(o, "mask", json_object_new_uint64(a->mask));
    return o;
}

static json_object *rule_json(const struct sbx_rule *r)
{
    char buf[64];
    json_object *o = json_object_new_object();
    json_object_object_add(
        o, "action", json_object_new_string(sbx_policy_action_text(&r->action, buf, sizeof(buf))));
    json_object *calls = json_object_new_array();
    for (size_t i = 0; i < r->n_syscalls; i++)
        json_object_array_add(calls, json_object_new_string(sbx_policy_syscall_name(
                                         r->syscalls[i], buf, sizeof(buf))));
    json_object_object_add(o, "syscalls", calls);
    json_object *args = json_object_new_array();
    for (size_t i = 0; i < r->n_args; i++)
        json_object_array_add(args, cond_json(&r->args[i]));
    json_object_object_add(o, "args", args);
    return o;
}

json_object *sbx_life_syscalls_json(const struct sbx_policy *p)
{
    char buf[64];
    json_object *o = json_object_new_object();
    json_object_object_add(
        o, "default",
        json_object_new_string(sbx_policy_action_text(&p->default_action, buf, sizeof(buf))));
    json_object_object_add(o, "baseline", json_object_new_string(p->baseline ? "default" : "none"));
    json_object *rules = json_object_new_array();
    for (size_t i = 0; i < p->n_rules; i++)
        json_object_array_add(rules, rule_json(&p->rules[i]));
    json_object_object_add(o, "rules", rules);
    return o;
}
