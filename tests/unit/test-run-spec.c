/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pure decisions of a RUN request's translation (daemon/run-spec.c),
 * each a table of cases read by one runner: the guest's environment and
 * its precedence, the identities a caller may give its guest, and the
 * limits a caller other than root may ask for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "daemon/run-spec.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static struct sbx_policy *policy_of(const char *yaml)
{
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    int r = sbx_policy_parse(yaml, strlen(yaml), "t.yaml", &p, &diags);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", yaml, diags.n ? diags.items[0].message : "?");
    sbx_diags_free(&diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* ---- the environment ---------------------------------------------------- */

#define PATH_DEFAULT "PATH=" SBX_RUN_DEFAULT_PATH

static void test_env_precedence(void)
{
    static const struct {
        const char *what, *policy;
        const char *image[3], *request[3];
        uint32_t uid;
        const char *want; /* the variables in order, one a line */
    } cases[] = {
        { "defaults", "name: t\n", { NULL }, { NULL }, 1000, PATH_DEFAULT "\nHOME=/" },
        { "root's HOME", "name: t\n", { NULL }, { NULL }, 0, PATH_DEFAULT "\nHOME=/root" },
        { "the image's Env over the defaults",
          "name: t\n",
          { "PATH=/img", "I=1" },
          { NULL },
          1000,
          "PATH=/img\nHOME=/\nI=1" },
        { "the policy's env over the image's",
          "process: { env: { I: policy } }\n",
          { "I=image" },
          { NULL },
          1000,
          PATH_DEFAULT "\nHOME=/\nI=policy" },
        { "the request's -e over the policy's",
          "process: { env: { I: policy, P: 1 } }\n",
          { "I=image" },
          { "I=request", "R=2" },
          1000,
          PATH_DEFAULT "\nHOME=/\nI=request\nP=1\nR=2" },
        { "-e HOME over the default",
          "name: t\n",
          { NULL },
          { "HOME=/home/me" },
          1000,
          PATH_DEFAULT "\nHOME=/home/me" },
        { "env_mode replace drops the defaults and the image's Env",
          "process: { env: { P: 1 }, env_mode: replace }\n",
          { "I=image" },
          { "R=2" },
          1000,
          "P=1\nR=2" },
        { "a key is the text before the first =",
          "name: t\n",
          { "A=x=y" },
          { "A=z", "AB=w" },
          1000,
          PATH_DEFAULT "\nHOME=/\nA=z\nAB=w" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_policy *p = policy_of(cases[i].policy);
        struct sbx_image_config img = { .env = (char **)cases[i].image };
        struct sbx_msg_run run = { .env = (char **)cases[i].request };
        while (img.env[img.n_env])
            img.n_env++;
        while (run.env[run.envc])
            run.envc++;
        struct sbx_run_env env;
        CU_ASSERT_EQUAL_FATAL(sbx_run_env_build(&env, p, &img, &run, cases[i].uid), 0);
        char got[1024] = "";
        for (uint32_t k = 0; k < env.n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "\n" : "",
                     env.items[k]);
        CU_ASSERT_PTR_NULL(env.items[env.n]);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "\n  %s: got\n%s\n  want\n%s\n", cases[i].what, got, cases[i].want);
        CU_ASSERT_STRING_EQUAL(got, cases[i].want);
        sbx_policy_free(p);
    }
}

/* SBX_PROTO_MAX_ARGS variables in all fit; one more is refused, not dropped. */
static void test_env_limit(void)
{
    struct sbx_policy *p = policy_of("process: { env_mode: replace }\n");
    static char names[SBX_PROTO_MAX_ARGS + 1][16];
    static char *request[SBX_PROTO_MAX_ARGS + 2];
    for (unsigned i = 0; i <= SBX_PROTO_MAX_ARGS; i++) {
        snprintf(names[i], sizeof(names[i]), "V%u=1", i);
        request[i] = names[i];
    }
    struct sbx_image_config img = { 0 };
    struct sbx_msg_run run = { .env = request, .envc = SBX_PROTO_MAX_ARGS };
    struct sbx_run_env env;
    CU_ASSERT_EQUAL(sbx_run_env_build(&env, p, &img, &run, 1000), 0);
    CU_ASSERT_EQUAL(env.n, SBX_PROTO_MAX_ARGS);
    run.envc = SBX_PROTO_MAX_ARGS + 1;
    CU_ASSERT_EQUAL(sbx_run_env_build(&env, p, &img, &run, 1000), -E2BIG);
    /* The same key again replaces, so it never counts twice. */
    request[SBX_PROTO_MAX_ARGS] = "V0=2";
    CU_ASSERT_EQUAL(sbx_run_env_build(&env, p, &img, &run, 1000), 0);
    CU_ASSERT_STRING_EQUAL(env.items[0], "V0=2");
    sbx_policy_free(p);
}

/* ---- identities --------------------------------------------------------- */

/* The caller of these cases is uid 1000, gid 1000, a member of 100 too. */
static gid_t caller_groups[] = { 100 };

static void test_ids(void)
{
    static const struct {
        const char *what;
        uint32_t caller;
        bool operator_policy;
        uint32_t uid, gid, groups[2];
        size_t n;
        int want;
        const char *says; /* in the message */
    } cases[] = {
        { "its own ids", 1000, false, 1000, 1000, { 0 }, 0, 0, NULL },
        { "its own uid, another of its groups", 1000, false, 1000, 100, { 1000 }, 1, 0, NULL },
        { "another uid", 1000, false, 1001, 1000, { 0 }, 0, -EPERM, "as uid 1001 (yours is 1000)" },
        { "nobody's uid", 1000, false, 65534, 1000, { 0 }, 0, -EPERM, "uid 65534" },
        { "a gid it is not in", 1000, false, 1000, 1001, { 0 }, 0, -EPERM, "gid 1001" },
        { "a group it is not in", 1000, false, 1000, 1000, { 100, 50 }, 2, -EPERM, "gid 50" },
        { "gid 0", 1000, false, 1000, 0, { 0 }, 0, -EPERM, "group 0 (as its gid)" },
        { "group 0", 1000, false, 1000, 1000, { 0 }, 1, -EPERM, "in the policy's groups" },
        { "an operator's policy: another uid", 1000, true, 1001, 1001, { 5 }, 1, 0, NULL },
        { "an operator's policy: not group 0", 1000, true, 1001, 0, { 0 }, 0, -EPERM, "group 0" },
        { "an operator's policy: not in groups 0",
          1000,
          true,
          1001,
          1,
          { 0 },
          1,
          -EPERM,
          "group 0" },
        { "root: any ids", 0, false, 0, 0, { 0 }, 1, 0, NULL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_caller caller = { .uid = cases[i].caller,
                                     .gid = cases[i].caller,
                                     .groups = caller_groups,
                                     .n_groups = ARRAY_SIZE(caller_groups) };
        struct sbx_error e = { 0 };
        const char *msg = e.msg;
        int r = sbx_run_check_ids(&caller, cases[i].operator_policy, cases[i].uid, cases[i].gid,
                                  cases[i].groups, cases[i].n, &e);
        CU_ASSERT(r >= 0 || e.err == -r);
        if (r != cases[i].want || (cases[i].says && !strstr(msg, cases[i].says)))
            fprintf(stderr, "\n  %s: %d, '%s'\n", cases[i].what, r, msg);
        CU_ASSERT_EQUAL(r, cases[i].want);
        if (cases[i].says)
            CU_ASSERT_PTR_NOT_NULL(strstr(msg, cases[i].says));
    }
}

/* ---- limits ------------------------------------------------------------- */

static void test_limits(void)
{
    static const struct {
        const char *what, *policy;
        bool operator_policy;
        const char *option;   /* limit_option */
        const char *operator; /* the operator's policy before the options, or NULL */
        int want;
        const char *says;
    } cases[] = {
        { "the defaults", "name: t\n", false, NULL, NULL, 0, NULL },
        { "less than the defaults", "limits: { memory: 256M, pids: 10 }\n", false, NULL, NULL, 0,
          NULL },
        { "more memory than the defaults", "limits: { memory: 2G }\n", false, NULL, NULL, -EPERM,
          "more than the default limits (limits: memory)" },
        { "more from an option", "limits: { pids: unlimited }\n", false, "pids-limit=max", NULL,
          -EPERM, "(limits: pids, from pids-limit=max)" },
        { "an rlimit above the daemon's", "process: { rlimits: { nofile: 8192 } }\n", false, NULL,
          NULL, -EPERM, "process: rlimits" },
        { "an operator's policy gives more", "limits: { memory: 4G }\n", true, NULL,
          "limits: { memory: 4G }\n", 0, NULL },
        { "an option lowers an operator's limit", "limits: { memory: 1G }\n", true, "memory=1G",
          "limits: { memory: 4G }\n", 0, NULL },
        { "an option raises an operator's limit", "limits: { memory: 8G }\n", true, "memory=8G",
          "limits: { memory: 4G }\n", -EPERM,
          "memory=8G may lower the operator's policy's limits, not raise them (limits: memory)" },
    };
    uint64_t hard[RLIM_NLIMITS];
    for (int i = 0; i < RLIM_NLIMITS; i++)
        hard[i] = 4096;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_policy *p = policy_of(cases[i].policy);
        struct sbx_policy_bounds ob = { 0 };
        if (cases[i].operator) {
            struct sbx_policy *op = policy_of(cases[i].operator);
            sbx_policy_bounds_of(op, hard, &ob);
            sbx_policy_free(op);
        }
        struct sbx_error e = { 0 };
        const char *msg = e.msg;
        int r = sbx_run_check_limits(p, cases[i].operator_policy, cases[i].option, &ob, hard, &e);
        CU_ASSERT(r >= 0 || e.err == -r);
        if (r != cases[i].want || (cases[i].says && !strstr(msg, cases[i].says)))
            fprintf(stderr, "\n  %s: %d, '%s'\n", cases[i].what, r, msg);
        CU_ASSERT_EQUAL(r, cases[i].want);
        if (cases[i].says)
            CU_ASSERT_PTR_NOT_NULL(strstr(msg, cases[i].says));
        sbx_policy_free(p);
    }
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_env_precedence),
        SBX_TEST(test_env_limit),
        SBX_TEST(test_ids),
        SBX_TEST(test_limits),
    };
    return sbx_test_main("run-spec", tests, ARRAY_SIZE(tests));
}
