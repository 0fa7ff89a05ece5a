/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy's syscall section in its own words (policy/describe.c), as
 * inspect shows it: every action, comparison and syscall name written back
 * into a policy parses to the same rule.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"

/* Parses one rule written from r's words, and checks it is r again. */
static void round_trip(const struct sbx_rule *r)
{
    char action[64], name[64], text[1024];
    int n = snprintf(text, sizeof(text),
                     "syscalls:\n  rules:\n    - action: %s\n      syscalls: [%s]\n",
                     sbx_policy_action_text(&r->action, action, sizeof(action)),
                     sbx_policy_syscall_name(r->syscalls[0], name, sizeof(name)));
    if (r->n_args)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "      args: [{ index: %u, op: %s, value: %llu%s }]\n", r->args[0].index,
                      sbx_policy_cmp_name(r->args[0].op), (unsigned long long)r->args[0].value,
                      r->args[0].op == SBX_CMP_MASKED_EQ ? ", mask: 255" : "");
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    int ret = sbx_policy_parse(text, strlen(text), "describe.yaml", &p, &diags);
    if (ret < 0) {
        char *all = sbx_diags_format(&diags);
        fprintf(stderr, "%s%s", text, all ? all : "");
        free(all);
    }
    sbx_diags_free(&diags);
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    CU_ASSERT_EQUAL_FATAL(p->n_rules, 1);
    const struct sbx_rule *b = &p->rules[0];
    CU_ASSERT_EQUAL(b->action.kind, r->action.kind);
    CU_ASSERT_EQUAL(b->action.err, r->action.err);
    CU_ASSERT_EQUAL(b->n_syscalls, 1);
    CU_ASSERT_EQUAL(b->syscalls[0], r->syscalls[0]);
    CU_ASSERT_EQUAL_FATAL(b->n_args, r->n_args);
    if (r->n_args) {
        CU_ASSERT_EQUAL(b->args[0].index, r->args[0].index);
        CU_ASSERT_EQUAL(b->args[0].op, r->args[0].op);
        CU_ASSERT_EQUAL(b->args[0].value, r->args[0].value);
        if (r->args[0].op == SBX_CMP_MASKED_EQ)
            CU_ASSERT_EQUAL(b->args[0].mask, 255);
    }
    sbx_policy_free(p);
}

static void test_actions(void)
{
    static const struct sbx_action actions[] = {
        { SBX_ACT_ALLOW, 0 },       { SBX_ACT_ERRNO, EPERM }, { SBX_ACT_ERRNO, EACCES },
        { SBX_ACT_ERRNO, ENOTSUP }, { SBX_ACT_KILL, 0 },      { SBX_ACT_LOG, 0 },
        { SBX_ACT_TRAP, 0 },        { SBX_ACT_TRACE, 0 },
    };
    int nr = SYS_mkdir;
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        round_trip(&(struct sbx_rule){ .action = actions[i], .syscalls = &nr, .n_syscalls = 1 });
    char buf[64];
    CU_ASSERT_STRING_EQUAL(
        sbx_policy_action_text(&(struct sbx_action){ SBX_ACT_ERRNO, EACCES }, buf, sizeof(buf)),
        "errno EACCES");
}

static void test_conditions(void)
{
    int nr = SYS_socket;
    for (int op = SBX_CMP_EQ; op <= SBX_CMP_MASKED_EQ; op++) {
        struct sbx_arg_cond a = { .index = 1, .op = (enum sbx_cmp_op)op, .value = 10 };
        round_trip(&(struct sbx_rule){ .action = { SBX_ACT_ERRNO, EPERM },
                                       .syscalls = &nr,
                                       .n_syscalls = 1,
                                       .args = &a,
                                       .n_args = 1 });
    }
    /* A value past INT64_MAX, as a negative one is kept: a number the parser takes whole. */
    struct sbx_arg_cond big = { .index = 0, .op = SBX_CMP_EQ, .value = UINT64_MAX };
    round_trip(&(struct sbx_rule){ .action = { SBX_ACT_KILL, 0 },
                                   .syscalls = &nr,
                                   .n_syscalls = 1,
                                   .args = &big,
                                   .n_args = 1 });
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_actions),
    SBX_TEST(test_conditions),
};

int main(void)
{
    return sbx_test_main("policy-describe", tests, ARRAY_SIZE(tests));
}
