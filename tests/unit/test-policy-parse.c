/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy parsing and validation: fixtures in policy-fixtures/ (the suite runs
 * with tests/unit as its working directory), the shipped policies, values,
 * identity resolution and the questions the daemon asks of a policy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *ret_len = n;
    return buf;
}

/* Parses a file; returns the result and fills diags. */
static int parse_file(const char *path, struct sbx_policy **ret, struct sbx_diags *diags)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int r = sbx_policy_parse(text, len, path, ret, diags);
    free(text);
    return r;
}

static struct sbx_policy *parse_text(const char *text, struct sbx_diags *diags)
{
    struct sbx_policy *p = NULL;
    int r = sbx_policy_parse(text, strlen(text), "t.yaml", &p, diags);
    CU_ASSERT_EQUAL(r, p ? 0 : -EINVAL);
    return p;
}

/* Each bad fixture with every diagnostic it must produce, as "LINE:COL: message". */
static const struct {
    const char *file;
    const char *expected;
} bad_fixtures[] = {
    { "policy-fixtures/bad-alias.yaml", "3:13: YAML aliases (*n) are not supported in policies\n" },
    { "policy-fixtures/bad-documents.yaml", "2:1: a policy file holds one YAML document\n" },
    { "policy-fixtures/bad-empty.yaml", "1:1: the policy is empty (expected a mapping)\n" },
    { "policy-fixtures/bad-keys.yaml",
      "2:1: unknown key 'sycalls' (did you mean 'syscalls'?)\n"
      "4:3: unknown key 'cwdd' in 'process' (did you mean 'cwd'?)\n"
      "6:3: duplicate key 'cwd' (first at line 5)\n"
      "9:34: unknown key 'sise' in a mount (did you mean 'size'?)\n"
      "10:23: unknown key 'frob' in 'limits'\n" },
    { "policy-fixtures/bad-syntax.yaml",
      "3:45: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
      "sequence at line 3\n" },
    { "policy-fixtures/bad-syscalls.yaml",
      "2:9: invalid value 'fast' for 'mode' (expected off, trap or rewrite)\n"
      "3:12: 'trace' cannot be the default action (list the syscalls to trace)\n"
      "5:35: unknown syscall 'opnat' (did you mean 'openat'?)\n"
      "6:17: unknown errno name 'EPRM' (did you mean 'EPERM'?)\n"
      "7:17: errno value '5000' is out of range (1 to 4095)\n"
      "8:17: unknown action 'alow' (did you mean 'allow'?)\n"
      "10:35: 'mount' is denied by the baseline and no rule can change that (set "
      "'baseline: none' to write your own rules for it)\n"
      "11:78: unknown constant 'AF_UNX' (did you mean 'AF_UNIX'?)\n"
      "12:60: argument index '6' is out of range (0 to 5)\n"
      "16:11: op masked_eq needs a 'mask'\n"
      "17:37: 'mask' only applies to op masked_eq\n"
      "18:80: argument 0 is compared twice in one rule (libseccomp allows one comparison "
      "per argument; split the rule)\n"
      "20:35: conflicting rules for 'fcntl': the rule at line 19 has another action, and a "
      "rule without 'args' overrides every rule with 'args' for the same syscall\n"
      "21:33: a rule needs at least one syscall\n" },
    { "policy-fixtures/bad-types.yaml", "1:7: expected a string for 'name'\n"
                                        "2:11: expected a mapping for 'syscalls'\n"
                                        "4:8: expected a mapping for 'env'\n"
                                        "5:11: expected a list for 'groups'\n"
                                        "6:12: expected a mapping for 'rlimits'\n"
                                        "8:19: expected true or false for 'writable_image'\n"
                                        "9:11: expected a list for 'mounts'\n"
                                        "11:9: expected a number for 'pids'\n" },
    { "policy-fixtures/bad-values.yaml",
      "1:7: invalid name 'bad name' (letters, digits, '.', '_' and '-', at most 64)\n"
      "4:7: a bind mount needs a 'source'\n"
      "5:7: '/data' is already the target of the mount at line 4\n"
      "5:30: a tmpfs mount has no 'source'\n"
      "5:55: invalid value '64Q' for 'size' (a size such as 64M)\n"
      "5:66: invalid mode '1999' for 'mode' (octal, at most 7777)\n"
      "6:15: invalid value 'bnd' for 'type' (expected bind or tmpfs)\n"
      "6:28: 'target' must be an absolute path without '.' or '..' components\n"
      "7:43: 'target' must be an absolute path without '.' or '..' components\n"
      "7:58: 'size' only applies to tmpfs mounts\n"
      "8:12: 'masked' must be an absolute path without '.' or '..' components\n"
      "10:9: 'user' names a group and 'group' is set too\n"
      "12:10: invalid environment variable name 'A=B' (empty or with '=')\n"
      "13:13: invalid hostname '-bad' (letters, digits, '-' and '.', at most 64)\n"
      "14:18: unknown capability 'CAP_NET_BIND_SERVIC' (did you mean 'CAP_NET_BIND_SERVICE'?)\n"
      "14:39: unknown capability 'frob'\n"
      "15:14: unknown rlimit 'nofle' (did you mean 'nofile'?)\n"
      "15:30: rlimit 'core': the soft limit exceeds the hard one\n"
      "15:45: invalid rlimit 'x' for 'nproc' (a number, \"soft:hard\" or unlimited)\n"
      "15:56: rlimit 'nofile' is out of range\n"
      "16:10: invalid mode '0999' for 'umask' (octal, at most 0777)\n"
      "17:19: 'memory' is out of range (at least 1M)\n"
      "17:30: 'pids' is out of range (1 to 4194304)\n"
      "17:38: 'cpu' is out of range (0.001 to 1024 CPUs)\n"
      "17:55: invalid value '60y' for 'timeout' (a duration such as 500ms, 60s, 5m or 2h)\n"
      "18:10: invalid value 'both' for 'network' (expected none or host)\n" },
};

static void test_bad_fixtures(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_fixtures); i++) {
        struct sbx_policy *p = NULL;
        struct sbx_diags diags = { 0 };
        CU_ASSERT_EQUAL(parse_file(bad_fixtures[i].file, &p, &diags), -EINVAL);
        CU_ASSERT_PTR_NULL(p);
        char got[8192] = "";
        for (size_t d = 0; d < diags.n; d++) {
            CU_ASSERT_STRING_EQUAL(diags.items[d].file, bad_fixtures[i].file);
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%u:%u: %s\n",
                     diags.items[d].line, diags.items[d].col, diags.items[d].message);
        }
        if (strcmp(got, bad_fixtures[i].expected) != 0)
            fprintf(stderr, "\n%s: expected\n%sgot\n%s", bad_fixtures[i].file,
                    bad_fixtures[i].expected, got);
        CU_ASSERT_STRING_EQUAL(got, bad_fixtures[i].expected);
        sbx_diags_free(&diags);
    }
}

static void test_format(void)
{
    struct sbx_diags diags = { 0 };
    CU_ASSERT_PTR_NULL(parse_text("name: x\nnetwork: lan\n", &diags));
    char *text = sbx_diags_format(&diags);
    CU_ASSERT_STRING_EQUAL(text, "t.yaml:2:10: invalid value 'lan' for 'network' "
                                 "(expected none or host)\n");
    free(text);
    sbx_diags_free(&diags);
}

static const struct sbx_rule *find_rule(const struct sbx_policy *p, int nr)
{
    for (size_t i = 0; i < p->n_rules; i++)
        for (size_t s = 0; s < p->rules[i].n_syscalls; s++)
            if (p->rules[i].syscalls[s] == nr)
                return &p->rules[i];
    return NULL;
}

static const struct sbx_rlimit *find_rlimit(const struct sbx_policy *p, int res)
{
    for (size_t i = 0; i < p->n_rlimits; i++)
        if (p->rlimits[i].resource == res)
            return &p->rlimits[i];
    return NULL;
}

static void test_good_full(void)
{
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL_FATAL(parse_file("policy-fixtures/good-full.yaml", &p, &diags), 0);
    CU_ASSERT_EQUAL(diags.n, 0);
    CU_ASSERT_STRING_EQUAL(p->name, "build-worker");
    CU_ASSERT(p->mode_set);
    CU_ASSERT_EQUAL(p->mode, SBX_MODE_REWRITE);
    CU_ASSERT_EQUAL(p->default_action.kind, SBX_ACT_ERRNO);
    CU_ASSERT_EQUAL(p->default_action.err, EPERM);
    CU_ASSERT(p->baseline);
    CU_ASSERT_EQUAL_FATAL(p->n_rules, 5);
    CU_ASSERT_EQUAL(p->rules[0].n_syscalls, 4);
    CU_ASSERT_EQUAL(p->rules[0].syscalls[0], 0); /* read */
    CU_ASSERT_EQUAL(p->rules[0].line, 8);
    CU_ASSERT_EQUAL(p->rules[0].col, 7);
    CU_ASSERT_EQUAL(p->rules[1].action.kind, SBX_ACT_ERRNO);
    CU_ASSERT_EQUAL(p->rules[1].action.err, EACCES);

    const struct sbx_rule *sock = find_rule(p, 41); /* socket */
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    if (!sock)
        return;
    CU_ASSERT_EQUAL_FATAL(sock->n_args, 2);
    CU_ASSERT_EQUAL(sock->args[0].index, 0);
    CU_ASSERT_EQUAL(sock->args[0].op, SBX_CMP_EQ);
    CU_ASSERT_EQUAL(sock->args[0].value, 1); /* AF_UNIX */
    CU_ASSERT_EQUAL(sock->args[1].op, SBX_CMP_MASKED_EQ);
    CU_ASSERT_EQUAL(sock->args[1].mask, 0xf);
    CU_ASSERT_EQUAL(sock->args[1].value, 1); /* SOCK_STREAM */
    CU_ASSERT_EQUAL(p->rules[3].action.kind, SBX_ACT_TRACE);
    CU_ASSERT_EQUAL(p->rules[3].syscalls[0], 59);         /* execve */
    CU_ASSERT_EQUAL(p->rules[4].args[0].value, 02000000); /* O_RDONLY | O_CLOEXEC */

    CU_ASSERT_FALSE(p->writable_image);
    CU_ASSERT_EQUAL_FATAL(p->n_mounts, 3);
    CU_ASSERT_EQUAL(p->mounts[0].type, SBX_MOUNT_BIND);
    CU_ASSERT_STRING_EQUAL(p->mounts[0].source, "/srv/data");
    CU_ASSERT_STRING_EQUAL(p->mounts[0].target, "/data");
    CU_ASSERT_TRUE(p->mounts[0].readonly); /* binds default to read-only */
    CU_ASSERT_FALSE(p->mounts[1].readonly);
    CU_ASSERT_EQUAL(p->mounts[2].type, SBX_MOUNT_TMPFS);
    CU_ASSERT_PTR_NULL(p->mounts[2].source);
    CU_ASSERT_EQUAL(p->mounts[2].size, 64ull << 20);
    CU_ASSERT_EQUAL(p->mounts[2].mode, 01777);
    CU_ASSERT_EQUAL_FATAL(p->n_masked, 1);
    CU_ASSERT_STRING_EQUAL(p->masked[0], "/etc/shadow");

    CU_ASSERT_STRING_EQUAL(p->user, "nobody");
    CU_ASSERT_STRING_EQUAL(p->group, "65534");
    CU_ASSERT_EQUAL_FATAL(p->n_groups, 2);
    CU_ASSERT_STRING_EQUAL(p->groups[0], "users");
    CU_ASSERT_STRING_EQUAL(p->groups[1], "100");
    CU_ASSERT_STRING_EQUAL(p->cwd, "/work");
    CU_ASSERT_EQUAL_FATAL(p->n_env, 2);
    CU_ASSERT_STRING_EQUAL(p->env[0], "PATH=/usr/bin:/bin");
    CU_ASSERT_STRING_EQUAL(p->env[1], "LANG=C.UTF-8");
    CU_ASSERT(p->env_replace);
    CU_ASSERT_STRING_EQUAL(p->hostname, "builder");
    CU_ASSERT_EQUAL(p->caps_keep, (1ull << 10) | (1ull << 0)); /* NET_BIND_SERVICE, CHOWN */
    CU_ASSERT_EQUAL(p->n_rlimits, 4);
    const struct sbx_rlimit *rl = find_rlimit(p, RLIMIT_NOFILE);
    CU_ASSERT(rl && rl->cur == 1024 && rl->max == 1024);
    rl = find_rlimit(p, RLIMIT_STACK);
    CU_ASSERT(rl && rl->cur == 8ull << 20 && rl->max == RLIM_INFINITY);
    rl = find_rlimit(p, RLIMIT_CPU);
    CU_ASSERT(rl && rl->cur == RLIM_INFINITY && rl->max == RLIM_INFINITY);
    CU_ASSERT_EQUAL(p->umask, 027);

    CU_ASSERT_EQUAL(p->memory, 256ull << 20);
    CU_ASSERT_EQUAL(p->pids, 128);
    CU_ASSERT_EQUAL(p->cpu_millis, 500);
    CU_ASSERT_EQUAL(p->timeout_ms, 90000);
    CU_ASSERT_EQUAL(p->network, SBX_NET_HOST);
    sbx_policy_free(p);
}

static void test_good_minimal_defaults(void)
{
    struct sbx_policy *p = NULL, *d = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL_FATAL(parse_file("policy-fixtures/good-minimal.yaml", &p, &diags), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&d), 0);
    CU_ASSERT_STRING_EQUAL(p->name, "minimal");
    CU_ASSERT_STRING_EQUAL(d->name, "default");
    const struct sbx_policy *both[] = { p, d };
    for (size_t i = 0; i < 2; i++) {
        const struct sbx_policy *q = both[i];
        CU_ASSERT_FALSE(q->mode_set);
        CU_ASSERT_EQUAL(q->default_action.kind, SBX_ACT_ALLOW);
        CU_ASSERT(q->baseline);
        CU_ASSERT_EQUAL(q->n_rules, 0);
        CU_ASSERT_PTR_NULL(q->user);
        CU_ASSERT_STRING_EQUAL(q->cwd, "/");
        CU_ASSERT_STRING_EQUAL(q->hostname, "sandbox");
        CU_ASSERT_EQUAL(q->umask, -1);
        CU_ASSERT_EQUAL(q->caps_keep, 0);
        CU_ASSERT_EQUAL(q->memory, SBX_POLICY_DEFAULT_MEMORY);
        CU_ASSERT_EQUAL(q->pids, SBX_POLICY_DEFAULT_PIDS);
        CU_ASSERT_FALSE(q->memory_set || q->pids_set);
        CU_ASSERT_EQUAL(q->cpu_millis, 0);
        CU_ASSERT_EQUAL(q->overlay_size, SBX_POLICY_DEFAULT_OVERLAY_SIZE);
        CU_ASSERT_EQUAL(q->tmp_size, SBX_POLICY_DEFAULT_TMP_SIZE);
        CU_ASSERT_EQUAL(q->shm_size, SBX_POLICY_DEFAULT_SHM_SIZE);
        CU_ASSERT_EQUAL(q->network, SBX_NET_NONE);
        CU_ASSERT_EQUAL(sbx_policy_needs_root(q, NULL), 0);
    }
    sbx_policy_free(p);
    sbx_policy_free(d);
}

/* The policies shipped in policies/ are all valid. */
static void test_shipped_policies(void)
{
    static const char *const files[] = {
        "../../policies/default.yaml",
        "../../policies/strict.yaml",
        "../../policies/build-job.yaml",
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        struct sbx_policy *p = NULL;
        struct sbx_diags diags = { 0 };
        int r = parse_file(files[i], &p, &diags);
        if (r < 0) {
            char *text = sbx_diags_format(&diags);
            fprintf(stderr, "%s", text ? text : "");
            free(text);
        }
        CU_ASSERT_EQUAL(r, 0);
        sbx_diags_free(&diags);
        sbx_policy_free(p);
    }
}

/* One value and what the model holds for it, or the message it gets. */
static void expect_value(const char *yaml, const char *message)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text(yaml, &diags);
    if (message) {
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_EQUAL(diags.n, 1);
        if (diags.n >= 1)
            CU_ASSERT_STRING_EQUAL(diags.items[0].message, message);
    } else {
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_EQUAL(diags.n, 0);
    }
    sbx_diags_free(&diags);
    sbx_policy_free(p);
}

static uint64_t limit_of(const char *yaml, int which)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text(yaml, &diags);
    uint64_t v = UINT64_MAX;
    if (p)
        v = which == 0 ? p->memory : which == 1 ? p->cpu_millis : p->timeout_ms;
    sbx_diags_free(&diags);
    sbx_policy_free(p);
    return v;
}

static void test_units(void)
{
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 1G }", 0), 1ull << 30);
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 512K }", 0), UINT64_MAX); /* below 1M */
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 2048KiB }", 0), 2ull << 20);
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 3MB }", 0), 3ull << 20);
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 1048576 }", 0), 1ull << 20);
    CU_ASSERT_EQUAL(limit_of("limits: { memory: unlimited }", 0), 0);
    CU_ASSERT_EQUAL(limit_of("limits: { memory: 99999999999G }", 0), UINT64_MAX);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 2 }", 1), 2000);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 0.25 }", 1), 250);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 150% }", 1), 1500);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 12.5% }", 1), 125);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 0.1250 }", 1), 125);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 0.1255 }", 1), UINT64_MAX);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: 0 }", 1), UINT64_MAX);
    CU_ASSERT_EQUAL(limit_of("limits: { cpu: .5 }", 1), UINT64_MAX);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: 250ms }", 2), 250);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: 60s }", 2), 60000);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: 5m }", 2), 300000);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: 2h }", 2), 7200000);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: 30 }", 2), 30000);
    CU_ASSERT_EQUAL(limit_of("limits: { timeout: -1s }", 2), UINT64_MAX);

    expect_value("limits: { pids: 4194305 }", "'pids' is out of range (1 to 4194304)");
    expect_value("limits: { pids: 0x10 }", "invalid value '0x10' for 'pids' (a whole number)");
    expect_value("syscalls: { default: errno 0 }", "errno value '0' is out of range (1 to 4095)");
    expect_value("syscalls: { default: errno EPERM EACCES }",
                 "unexpected text after the errno in 'errno EPERM EACCES'");
    expect_value("syscalls: { default: errno }",
                 "'errno' needs an errno name or number, as in 'errno EPERM'");
    expect_value("syscalls: { default: kill now }", "action 'kill' takes no argument");
    expect_value("syscalls: { default: errno EWOULDBLOCK }", NULL);
    expect_value("process: { umask: 22 }", NULL);
    expect_value("process: { user: root }", NULL);
    expect_value("process: { user: 4294967295 }",
                 "invalid user '4294967295' (a name, or a number below 4294967295 without "
                 "leading zeros)");
    expect_value("process: { user: \"01000\" }",
                 "invalid user '01000' (a name, or a number below 4294967295 without "
                 "leading zeros)");
    expect_value("process: { user: 0 }", NULL);
    expect_value("process: { capabilities: [net_bind_service, CAP_SYS_ADMIN, Cap_Chown] }", NULL);
    expect_value("process: { rlimits: { nofile: \"2048:1024\" } }",
                 "rlimit 'nofile': the soft limit exceeds the hard one");
    expect_value("filesystem: { mounts: [{ type: tmpfs, target: / }] }",
                 "a mount cannot replace the root directory");
    expect_value("syscalls:\n  rules:\n    - { action: allow, syscalls: [socket],\n"
                 "        args: [{ index: 1, op: eq, value: \"SOCK_STREAM | 0x80000\" }] }\n",
                 NULL);
    expect_value("syscalls:\n  rules:\n    - { action: allow, syscalls: [openat],\n"
                 "        args: [{ index: 0, op: eq, value: 12abc }] }\n",
                 "invalid number '12abc'");
    expect_value("syscalls:\n  rules:\n    - { action: allow, syscalls: [openat],\n"
                 "        args: [{ index: 0, op: eq, value: 0x1ffffffffffffffff }] }\n",
                 "number '0x1ffffffffffffffff' does not fit in 64 bits");
    /* The same syscall twice with the same action and arguments is redundant, not wrong. */
    expect_value("syscalls:\n  default: errno EPERM\n  rules:\n"
                 "    - { action: allow, syscalls: [read] }\n"
                 "    - { action: allow, syscalls: [read, write] }\n",
                 NULL);
    /* Conditional rules with different arguments may have different actions. */
    expect_value("syscalls:\n  rules:\n"
                 "    - { action: kill, syscalls: [socket],\n"
                 "        args: [{index: 0, op: eq, value: 2}] }\n"
                 "    - { action: log, syscalls: [socket],\n"
                 "        args: [{index: 0, op: eq, value: 1}] }\n",
                 NULL);
    /* Without the baseline, rules may name what it would deny. */
    expect_value("syscalls:\n  baseline: none\n  rules:\n"
                 "    - { action: allow, syscalls: [mount] }\n",
                 NULL);
}

static void test_negative_value(void)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text("syscalls:\n  rules:\n    - { action: log, syscalls: "
                                      "[openat], args: [{ index: 0, op: eq, value: AT_FDCWD }] }\n"
                                      "    - { action: log, syscalls: [close], args: [{ index: "
                                      "0, op: eq, value: -1 }] }\n",
                                      &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->rules[0].args[0].value, (uint64_t)-100);
    CU_ASSERT_EQUAL(p->rules[1].args[0].value, UINT64_MAX);
    sbx_diags_free(&diags);
    sbx_policy_free(p);
}

static void test_user_shorthand(void)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text("process: { user: \"1000:100\" }\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->user, "1000");
    CU_ASSERT_STRING_EQUAL(p->group, "100");
    sbx_policy_free(p);
}

static void test_needs_root(void)
{
    static const struct {
        const char *yaml, *what;
    } cases[] = {
        { "name: plain\n", NULL },
        { "syscalls: { baseline: none }\n", "syscalls: baseline: none" },
        { "process: { capabilities: [CAP_NET_RAW] }\n", "process: capabilities" },
        { "network: host\n", "network: host" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_diags diags = { 0 };
        struct sbx_policy *p = parse_text(cases[i].yaml, &diags);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        const char *what = NULL;
        int r = sbx_policy_needs_root(p, &what);
        CU_ASSERT_EQUAL(r, cases[i].what ? 1 : 0);
        if (cases[i].what)
            CU_ASSERT(what && strcmp(what, cases[i].what) == 0);
        sbx_policy_free(p);
    }
}

static void test_above_defaults(void)
{
    static const struct {
        const char *yaml, *what;
    } cases[] = {
        { "name: plain\n", NULL },
        { "limits: { memory: 256M, pids: 10 }\nfilesystem: { tmp_size: 1M }\n", NULL },
        { "limits: { memory: 1G, pids: 1024 }\n", NULL },
        { "limits: { memory: 1025M }\n", "limits: memory" },
        { "limits: { memory: unlimited }\n", "limits: memory" },
        { "limits: { pids: unlimited }\n", "limits: pids" },
        { "filesystem: { overlay_size: 2G }\n", "filesystem: overlay_size" },
        { "filesystem: { shm_size: unlimited }\n", "filesystem: shm_size" },
        { "filesystem:\n  mounts: [{ type: tmpfs, target: /t, size: 1G }]\n",
          "filesystem: mounts: a tmpfs size" },
        { "filesystem:\n  mounts: [{ type: tmpfs, target: /t }]\n", NULL },
        { "process: { rlimits: { nofile: 4096 } }\n", NULL },
        { "process: { rlimits: { nofile: 4097 } }\n", "process: rlimits" },
    };
    uint64_t hard[RLIM_NLIMITS];
    for (int i = 0; i < RLIM_NLIMITS; i++)
        hard[i] = 4096;
    struct sbx_policy *def = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&def), 0);
    struct sbx_policy_bounds b;
    sbx_policy_bounds_of(def, hard, &b);
    sbx_policy_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_diags diags = { 0 };
        struct sbx_policy *p = parse_text(cases[i].yaml, &diags);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        const char *what = NULL;
        CU_ASSERT_EQUAL(sbx_policy_exceeds(p, &b, &what), cases[i].what ? 1 : 0);
        if (cases[i].what)
            CU_ASSERT(what && strcmp(what, cases[i].what) == 0);
        sbx_policy_free(p);
    }
}

/* An operator's policy bounds the options over it: they may lower, not raise. */
static void test_operator_bounds(void)
{
    uint64_t hard[RLIM_NLIMITS];
    for (int i = 0; i < RLIM_NLIMITS; i++)
        hard[i] = RLIM_INFINITY;
    struct sbx_diags diags = { 0 };
    struct sbx_policy *op = parse_text("limits: { memory: 4G, pids: 10, cpu: 1, timeout: 5s }\n"
                                       "process: { rlimits: { fsize: 1M } }\n",
                                       &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    struct sbx_policy_bounds b;
    sbx_policy_bounds_of(op, hard, &b);
    const char *what = NULL;
    CU_ASSERT_EQUAL(sbx_policy_exceeds(op, &b, &what), 0);
    static const struct {
        const char *option, *what;
    } cases[] = {
        { "memory=2G", NULL },         { "memory=8G", "limits: memory" },
        { "pids-limit=5", NULL },      { "pids-limit=1024", "limits: pids" },
        { "cpus=0.5", NULL },          { "cpus=unlimited", "limits: cpu" },
        { "timeout=1s", NULL },        { "timeout=unlimited", "limits: timeout" },
        { "ulimit=fsize=1024", NULL }, { "ulimit=fsize=unlimited", "process: rlimits" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_policy *p = parse_text("limits: { memory: 4G, pids: 10, cpu: 1, timeout: 5s }\n"
                                          "process: { rlimits: { fsize: 1M } }\n",
                                          &diags);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(sbx_policy_apply_option(p, cases[i].option, &diags), 0);
        what = NULL;
        CU_ASSERT_EQUAL(sbx_policy_exceeds(p, &b, &what), cases[i].what ? 1 : 0);
        if (cases[i].what)
            CU_ASSERT(what && strcmp(what, cases[i].what) == 0);
        sbx_policy_free(p);
    }
    sbx_diags_free(&diags);
    sbx_policy_free(op);
}

static void test_check_host(void)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p =
        parse_text("name: x\nlimits:\n  memory: 1G\n  pids: 10\n  cpu: 1\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct sbx_host_features all = { .memory = true, .pids = true, .cpu = true };
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &all, &diags), 0);
    CU_ASSERT_EQUAL(diags.n, 0);
    struct sbx_host_features no_cpu_mem = { .pids = true };
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &no_cpu_mem, &diags), -EOPNOTSUPP);
    char *text = sbx_diags_format(&diags);
    CU_ASSERT_STRING_EQUAL(text, "t.yaml:3:11: limits.memory is unsupported on this host (no "
                                 "memory cgroup controller)\n"
                                 "t.yaml:5:8: limits.cpu is unsupported on this host (no cpu "
                                 "cgroup controller)\n");
    free(text);
    sbx_diags_free(&diags);
    sbx_policy_free(p);

    /*
     * A policy without limits runs anywhere: its default memory and pids
     * limits apply where a controller enforces them and are dropped elsewhere.
     */
    struct sbx_host_features none = { 0 };
    struct sbx_policy_limits lim;
    CU_ASSERT_EQUAL(sbx_policy_new_default(&p), 0);
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &none, &diags), 0);
    sbx_policy_limits(p, &all, &lim);
    CU_ASSERT_EQUAL(lim.memory, SBX_POLICY_DEFAULT_MEMORY);
    CU_ASSERT_EQUAL(lim.pids, SBX_POLICY_DEFAULT_PIDS);
    sbx_policy_limits(p, &no_cpu_mem, &lim);
    CU_ASSERT_EQUAL(lim.memory, 0);
    CU_ASSERT_EQUAL(lim.pids, SBX_POLICY_DEFAULT_PIDS);
    sbx_policy_free(p);

    /* So does one that lifts them, or sets only others. */
    p = parse_text("limits: { memory: unlimited, pids: unlimited, timeout: 5s }\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &none, &diags), 0);
    sbx_policy_limits(p, &all, &lim);
    CU_ASSERT_EQUAL(lim.memory, 0);
    CU_ASSERT_EQUAL(lim.pids, 0);
    sbx_policy_free(p);

    /* An explicit pids limit is refused where it cannot be enforced, even at the default value. */
    p = parse_text("limits: { pids: 1024 }\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &none, &diags), -EOPNOTSUPP);
    CU_ASSERT_EQUAL(diags.n, 1);
    sbx_diags_free(&diags);
    sbx_policy_free(p);
}

/* The sizes of the writable layers: defaults, set, lifted, refused. */
static void test_layer_sizes(void)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p =
        parse_text("filesystem: { overlay_size: 4G, tmp_size: 8M, shm_size: unlimited }\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->overlay_size, 4ull << 30);
    CU_ASSERT_EQUAL(p->tmp_size, 8ull << 20);
    CU_ASSERT_EQUAL(p->shm_size, 0);
    sbx_policy_free(p);
    p = parse_text("filesystem: { tmp_size: 1G }\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->overlay_size, SBX_POLICY_DEFAULT_OVERLAY_SIZE);
    CU_ASSERT_EQUAL(p->shm_size, SBX_POLICY_DEFAULT_SHM_SIZE);
    sbx_policy_free(p);
    expect_value("filesystem: { overlay_size: 1K }",
                 "'overlay_size' is out of range (at least 4K)");
    expect_value("filesystem: { shm_size: lots }",
                 "invalid value 'lots' for 'shm_size' (a size such as 1G)");
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "broken line\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                             "build:x:1000:1001::/home/build:/bin/sh";
static const char group[] = "root:x:0:\nusers:x:100:build\nbuild:x:1001:\nnogroup:x:65534:\n";

static int resolve(const char *yaml, const char *pw, const char *gr, uint32_t *uid, uint32_t *gid,
                   uint32_t **groups, size_t *n_groups, char **err)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text(yaml, &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct sbx_error e = { 0 };
    int r = sbx_policy_resolve_identity(p, pw, gr, uid, gid, groups, n_groups, &e);
    CU_ASSERT(r >= 0 || e.err == -r || !e.msg[0]);
    *err = e.msg[0] ? strdup(e.msg) : NULL;
    sbx_policy_free(p);
    return r;
}

static void test_resolve_identity(void)
{
    uint32_t uid, gid, *groups = NULL;
    size_t n;
    char *err;

    CU_ASSERT_EQUAL(resolve("process: { user: build, groups: [users, 7] }", passwd, group, &uid,
                            &gid, &groups, &n, &err),
                    0);
    CU_ASSERT_EQUAL(uid, 1000);
    CU_ASSERT_EQUAL(gid, 1001);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(groups[0], 100);
    CU_ASSERT_EQUAL(groups[1], 7);
    free(groups);

    /* Numbers need no files; an unknown uid takes the gid of the same number. */
    CU_ASSERT_EQUAL(resolve("process: { user: 4242 }", NULL, NULL, &uid, &gid, &groups, &n, &err),
                    0);
    CU_ASSERT_EQUAL(uid, 4242);
    CU_ASSERT_EQUAL(gid, 4242);
    CU_ASSERT_EQUAL(n, 0);
    free(groups);
    CU_ASSERT_EQUAL(resolve("process: { user: 65534, group: nogroup }", passwd, group, &uid, &gid,
                            &groups, &n, &err),
                    0);
    CU_ASSERT_EQUAL(uid, 65534);
    CU_ASSERT_EQUAL(gid, 65534);
    free(groups);
    /* A known uid gets its primary group from passwd. */
    CU_ASSERT_EQUAL(
        resolve("process: { user: 1000 }", passwd, group, &uid, &gid, &groups, &n, &err), 0);
    CU_ASSERT_EQUAL(gid, 1001);
    free(groups);
    /* Nothing set: both stay "unset" for the daemon to fill in. */
    CU_ASSERT_EQUAL(resolve("name: x", passwd, group, &uid, &gid, &groups, &n, &err), 0);
    CU_ASSERT_EQUAL(uid, UINT32_MAX);
    CU_ASSERT_EQUAL(gid, UINT32_MAX);
    free(groups);

    CU_ASSERT_EQUAL(resolve("process: { user: www }", passwd, group, &uid, &gid, &groups, &n, &err),
                    -ENOENT);
    CU_ASSERT_STRING_EQUAL(err, "user 'www' not found in the image's /etc/passwd");
    free(err);
    CU_ASSERT_EQUAL(resolve("process: { user: build }", NULL, group, &uid, &gid, &groups, &n, &err),
                    -ENOENT);
    CU_ASSERT_STRING_EQUAL(err, "user 'build' not found in the image's /etc/passwd (the image "
                                "has none)");
    free(err);
    CU_ASSERT_EQUAL(
        resolve("process: { groups: [wheel] }", passwd, group, &uid, &gid, &groups, &n, &err),
        -ENOENT);
    CU_ASSERT_STRING_EQUAL(err, "group 'wheel' not found in the image's /etc/group");
    free(err);
    /* A name must match a whole field: "buil" is not "build". */
    CU_ASSERT_EQUAL(
        resolve("process: { user: buil }", passwd, group, &uid, &gid, &groups, &n, &err), -ENOENT);
    free(err);
}

static int numeric(const char *yaml, char **err)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text(yaml, &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct sbx_error e = { 0 };
    int r = sbx_policy_identity_numeric(p, &e);
    CU_ASSERT(r >= 0 || e.err == -r);
    *err = e.msg[0] ? strdup(e.msg) : NULL;
    sbx_policy_free(p);
    return r;
}

/* What an operator's policy may give a caller other than root: numbers, a uid with its gid. */
static void test_identity_numeric(void)
{
    char *err;
    CU_ASSERT_EQUAL(numeric("process: { user: \"1000:1000\", groups: [100] }", &err), 0);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_EQUAL(numeric("process: { user: 1000, group: 100 }", &err), 0);
    CU_ASSERT_EQUAL(numeric("process: { groups: [100] }", &err), 0);
    CU_ASSERT_EQUAL(numeric("name: x", &err), 0);
    CU_ASSERT_EQUAL(numeric("process: { user: build }", &err), -EPERM);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "user 'build' is a name"));
    free(err);
    CU_ASSERT_EQUAL(numeric("process: { user: \"1000:users\" }", &err), -EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "group 'users' is a name"));
    free(err);
    CU_ASSERT_EQUAL(numeric("process: { user: \"1000:1000\", groups: [100, wheel] }", &err),
                    -EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "group 'wheel' is a name"));
    free(err);
    CU_ASSERT_EQUAL(numeric("process: { user: 1000 }", &err), -EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "user: 1000 gives no gid"));
    free(err);
}

/* One byte over SBX_POLICY_MAX_BYTES is refused by size; a comment of exactly that many is not. */
static void test_size_limit(void)
{
    size_t len = SBX_POLICY_MAX_BYTES + 1;
    char *big = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, '#', len);
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_parse(big, len, "big.yaml", &p, &diags), -EINVAL);
    CU_ASSERT_EQUAL_FATAL(diags.n, 1);
    CU_ASSERT_STRING_EQUAL(diags.items[0].message, "the policy is larger than 65536 bytes");
    sbx_diags_free(&diags);
    diags = (struct sbx_diags){ 0 };
    sbx_policy_parse(big, len - 1, "big.yaml", &p, &diags);
    for (size_t i = 0; i < diags.n; i++)
        CU_ASSERT_PTR_NULL(strstr(diags.items[i].message, "larger than"));
    sbx_policy_free(p);
    sbx_diags_free(&diags);
    free(big);
}

static void test_deep_nesting(void)
{
    char text[256] = "name: ";
    for (int i = 0; i < 40; i++)
        strcat(text, "[");
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_parse(text, strlen(text), "deep.yaml", &p, &diags), -EINVAL);
    CU_ASSERT_EQUAL_FATAL(diags.n, 1);
    CU_ASSERT_STRING_EQUAL(diags.items[0].message, "the policy nests deeper than 32 levels");
    sbx_diags_free(&diags);
}

/* Rules that validate one by one but add up to more than the kernel loads. */
static void test_filter_too_long(void)
{
    size_t cap = SBX_POLICY_MAX_BYTES, len = 0;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    len += (size_t)snprintf(text, cap, "syscalls:\n  default: errno EPERM\n  rules:\n");
    /* As many as a policy file holds: far more instructions than the kernel loads. */
    for (unsigned i = 0; i < 370; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "  - {action: allow, syscalls: [ioctl], args: [{index: 0, op: eq, "
                                "value: %u}, {index: 1, op: eq, value: %u}, {index: 2, op: eq, "
                                "value: %u}, {index: 3, op: eq, value: %u}]}\n",
                                i, i + 1, i + 2, i + 3);
    CU_ASSERT_FATAL(len < cap);
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_parse(text, len, "long.yaml", &p, &diags), -EINVAL);
    CU_ASSERT_EQUAL_FATAL(diags.n, 1);
    CU_ASSERT_EQUAL(diags.items[0].line, 2);
    CU_ASSERT_EQUAL(diags.items[0].col, 3);
    CU_ASSERT_STRING_EQUAL(diags.items[0].message,
                           "the rules compile to a filter longer than 3840 instructions (the "
                           "kernel's limit of 4096, less 256 for the trampoline)");
    sbx_diags_free(&diags);
    free(text);
}

static void test_too_many_syscalls(void)
{
    size_t cap = 256 * 1024, len = 0;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    len += (size_t)snprintf(text, cap, "syscalls:\n  rules:\n");
    for (unsigned i = 0; i < 1100; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "    - { action: log, syscalls: [read, write, close, dup] }\n");
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_parse(text, len, "many.yaml", &p, &diags), -EINVAL);
    /* Reported once, at the first name past the limit (rule 1025, line 3 + 1024). */
    CU_ASSERT_EQUAL_FATAL(diags.n, 1);
    CU_ASSERT_EQUAL(diags.items[0].line, 1027);
    CU_ASSERT_STRING_EQUAL(diags.items[0].message, "the rules name more than 4096 syscalls in all");
    sbx_diags_free(&diags);
    free(text);
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_bad_fixtures),      SBX_TEST(test_format),
    SBX_TEST(test_good_full),         SBX_TEST(test_good_minimal_defaults),
    SBX_TEST(test_shipped_policies),  SBX_TEST(test_units),
    SBX_TEST(test_negative_value),    SBX_TEST(test_user_shorthand),
    SBX_TEST(test_needs_root),        SBX_TEST(test_above_defaults),
    SBX_TEST(test_operator_bounds),   SBX_TEST(test_check_host),
    SBX_TEST(test_resolve_identity),  SBX_TEST(test_size_limit),
    SBX_TEST(test_deep_nesting),      SBX_TEST(test_filter_too_long),
    SBX_TEST(test_too_many_syscalls), SBX_TEST(test_layer_sizes),
    SBX_TEST(test_identity_numeric),
};

int main(void)
{
    return sbx_test_main("policy-parse", tests, ARRAY_SIZE(tests));
}
