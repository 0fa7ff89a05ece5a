/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy options (sandboxctl run's policy fields, policy/options.c) applied
 * to a parsed policy: what each sets, the errors it names, mount targets
 * and the checks a changed policy must still pass.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static struct sbx_policy *parse_text(const char *text, struct sbx_diags *diags)
{
    struct sbx_policy *p = NULL;
    int r = sbx_policy_parse(text, strlen(text), "t.yaml", &p, diags);
    CU_ASSERT_EQUAL(r, p ? 0 : -EINVAL);
    return p;
}

/* Applies options to a policy parsed from yaml; all must succeed. */
static struct sbx_policy *with_options(const char *yaml, const char *const *opts, size_t n)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text(yaml, &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (size_t i = 0; i < n; i++) {
        int r = sbx_policy_apply_option(p, opts[i], &diags);
        CU_ASSERT_EQUAL(r, 0);
        if (r < 0)
            fprintf(stderr, "%s: %s\n", opts[i], diags.n ? diags.items[0].message : "?");
    }
    sbx_diags_free(&diags);
    return p;
}

/* The mount at target; a failure and an empty mount when there is none. */
static const struct sbx_mount *mount_at(const struct sbx_policy *p, const char *target)
{
    static const struct sbx_mount none = { .target = (char *)"" };
    for (size_t i = 0; i < p->n_mounts; i++)
        if (strcmp(p->mounts[i].target, target) == 0)
            return &p->mounts[i];
    CU_FAIL("no mount at the target");
    return &none;
}

static void test_options_apply(void)
{
    static const char *const opts[] = {
        "volume=/srv/a:/a",    "volume=/srv/b:/b:rw",
        "volume=/srv/c:/c:ro", "volume=/srv/new:/data:rw",
        "tmpfs=/scratch",      "tmpfs=/t:size=64M,mode=1777",
        "workdir=/work",       "user=1000:100",
        "hostname=opt",        "memory=256M",
        "pids-limit=64",       "cpus=50%",
        "timeout=90s",         "network=host",
        "cap-add=NET_RAW",     "cap-add=cap_chown",
        "ulimit=nofile=10:20", "ulimit=nproc=5",
    };
    struct sbx_policy *p =
        with_options("filesystem:\n  mounts: [{ type: bind, source: /srv/old, target: /data }]\n"
                     "process:\n  user: 2000\n  groups: [1, 2]\n  cwd: /tmp\n  hostname: pol\n"
                     "  capabilities: [CAP_KILL]\n  rlimits: { nofile: 5, core: 0 }\n"
                     "limits: { memory: 1G, pids: 10, cpu: 2, timeout: 5s }\n",
                     opts, ARRAY_SIZE(opts));
    CU_ASSERT_EQUAL_FATAL(p->n_mounts, 6);
    /* The policy's /data is replaced in place, the others follow in order. */
    CU_ASSERT_STRING_EQUAL(p->mounts[0].target, "/data");
    CU_ASSERT_STRING_EQUAL(p->mounts[0].source, "/srv/new");
    CU_ASSERT_FALSE(p->mounts[0].readonly);
    CU_ASSERT_TRUE(mount_at(p, "/a")->readonly);
    CU_ASSERT_FALSE(mount_at(p, "/b")->readonly);
    CU_ASSERT_TRUE(mount_at(p, "/c")->readonly);
    CU_ASSERT_STRING_EQUAL(mount_at(p, "/c")->source, "/srv/c");
    const struct sbx_mount *t = mount_at(p, "/t");
    CU_ASSERT_EQUAL(t->type, SBX_MOUNT_TMPFS);
    CU_ASSERT_EQUAL(t->size, 64u << 20);
    CU_ASSERT_EQUAL(t->mode, 01777);
    CU_ASSERT_EQUAL(mount_at(p, "/scratch")->size, 0);
    CU_ASSERT_EQUAL(mount_at(p, "/scratch")->mode, 0755);
    CU_ASSERT_STRING_EQUAL(p->cwd, "/work");
    CU_ASSERT_STRING_EQUAL(p->user, "1000");
    CU_ASSERT_STRING_EQUAL(p->group, "100");
    CU_ASSERT_EQUAL(p->n_groups, 0);
    CU_ASSERT_STRING_EQUAL(p->hostname, "opt");
    CU_ASSERT_EQUAL(p->memory, 256u << 20);
    CU_ASSERT_EQUAL(p->pids, 64);
    CU_ASSERT_EQUAL(p->cpu_millis, 500);
    CU_ASSERT_EQUAL(p->timeout_ms, 90000);
    CU_ASSERT_EQUAL(p->network, SBX_NET_HOST);
    CU_ASSERT_EQUAL(p->caps_keep, (1ull << 5) | (1ull << 13) | (1ull << 0));
    CU_ASSERT_EQUAL_FATAL(p->n_rlimits, 3);
    CU_ASSERT_EQUAL(p->rlimits[0].resource, RLIMIT_NOFILE);
    CU_ASSERT_EQUAL(p->rlimits[0].cur, 10);
    CU_ASSERT_EQUAL(p->rlimits[0].max, 20);
    CU_ASSERT_EQUAL(p->rlimits[1].resource, RLIMIT_CORE);
    CU_ASSERT_EQUAL(p->rlimits[2].resource, RLIMIT_NPROC);
    CU_ASSERT_EQUAL(p->rlimits[2].cur, 5);
    CU_ASSERT_EQUAL(p->rlimits[2].max, 5);
    sbx_policy_free(p);

    /* On the default policy, and the last of an option given twice wins. */
    static const char *const again[] = { "memory=unlimited", "memory=64M", "user=sbxuser",
                                         "network=host", "network=none" };
    struct sbx_policy *d = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&d), 0);
    struct sbx_diags diags = { 0 };
    for (size_t i = 0; i < ARRAY_SIZE(again); i++)
        CU_ASSERT_EQUAL(sbx_policy_apply_option(d, again[i], &diags), 0);
    CU_ASSERT_EQUAL(diags.n, 0);
    CU_ASSERT_EQUAL(d->memory, 64u << 20);
    CU_ASSERT_TRUE(d->memory_set);
    CU_ASSERT_STRING_EQUAL(d->user, "sbxuser");
    CU_ASSERT_PTR_NULL(d->group);
    CU_ASSERT_EQUAL(d->network, SBX_NET_NONE);
    sbx_policy_free(d);
}

/* Each bad option with the exact text sandboxctl prints after "sandboxctl: ". */
static void test_options_errors(void)
{
    static const struct {
        const char *option, *expected;
    } cases[] = {
        { "memory=12Q", "--memory 12Q: invalid value '12Q' for 'memory' (a size such as 256M or "
                        "2G)\n" },
        { "memory=", "--memory : expected a number for 'memory'\n" },
        { "memory=512K", "--memory 512K: 'memory' is out of range (at least 1M)\n" },
        { "pids-limit=0", "--pids-limit 0: 'pids' is out of range (1 to 4194304)\n" },
        { "cpus=lots", "--cpus lots: invalid value 'lots' for 'cpu' (a share of a CPU such as "
                       "0.5, 2 or 50%)\n" },
        { "timeout=soon", "--timeout soon: invalid value 'soon' for 'timeout' (a duration such "
                          "as 500ms, 60s, 5m or 2h)\n" },
        { "network=bridge", "--network bridge: invalid value 'bridge' for 'network' (expected "
                            "none or host)\n" },
        { "hostname=-x", "--hostname -x: invalid hostname '-x' (letters, digits, '-' and '.', "
                         "at most 64)\n" },
        { "workdir=rel", "--workdir rel: 'cwd' must be an absolute path without '.' or '..' "
                         "components\n" },
        { "workdir=/a/../b", "--workdir /a/../b: 'cwd' must be an absolute path without '.' or "
                             "'..' components\n" },
        { "user=a b", "--user a b: invalid user 'a b' (a name, or a number below 4294967295 "
                      "without leading zeros)\n" },
        { "user=1:2:3", "--user 1:2:3: invalid user '1:2:3' (expected USER or USER:GROUP)\n" },
        { "cap-add=SYS_ADMN", "--cap-add SYS_ADMN: unknown capability 'SYS_ADMN' (did you mean "
                              "'CAP_SYS_ADMIN'?)\n" },
        { "ulimit=nofile", "--ulimit nofile: expected NAME=SOFT[:HARD]\n" },
        { "ulimit==1", "--ulimit =1: expected NAME=SOFT[:HARD]\n" },
        { "ulimit=nofiles=1", "--ulimit nofiles=1: unknown rlimit 'nofiles' (did you mean "
                              "'nofile'?)\n" },
        { "ulimit=nofile=2:1", "--ulimit nofile=2:1: rlimit 'nofile': the soft limit exceeds "
                               "the hard one\n" },
        { "volume=/a", "--volume /a: expected SRC:DST[:ro|rw]\n" },
        { "volume=/a:/b:rx", "--volume /a:/b:rx: expected SRC:DST[:ro|rw]\n" },
        { "volume=/a:/b:ro:x", "--volume /a:/b:ro:x: expected SRC:DST[:ro|rw]\n" },
        { "volume=a:/b", "--volume a:/b: 'source' must be an absolute path without '.' or '..' "
                         "components\n" },
        { "volume=/a:/", "--volume /a:/: a mount cannot replace the root directory\n" },
        { "volume=/a:", "--volume /a:: expected a path for 'target'\n" },
        { "tmpfs=/t:size=1Z", "--tmpfs /t:size=1Z: invalid value '1Z' for 'size' (a size such "
                              "as 64M)\n" },
        { "tmpfs=/t:mode=9", "--tmpfs /t:mode=9: invalid mode '9' for 'mode' (octal, at most "
                             "7777)\n" },
        { "tmpfs=/t:uid=0", "--tmpfs /t:uid=0: expected DST[:size=N,mode=M]\n" },
        { "tmpfs=/t:size=1M,size=2M", "--tmpfs /t:size=1M,size=2M: expected "
                                      "DST[:size=N,mode=M]\n" },
        { "tmpfs=/t:", "--tmpfs /t:: expected DST[:size=N,mode=M]\n" },
        { "frob=1", "--frob 1: not an option that sets a policy field\n" },
        { "memory", "--memory: the option has no value\n" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_policy *p = NULL;
        CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&p), 0);
        struct sbx_diags diags = { 0 };
        CU_ASSERT_EQUAL(sbx_policy_apply_option(p, cases[i].option, &diags), -EINVAL);
        char *out = sbx_diags_format(&diags);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        if (strcmp(out, cases[i].expected) != 0)
            fprintf(stderr, "\n%s: got '%s', expected '%s'\n", cases[i].option, out,
                    cases[i].expected);
        CU_ASSERT_STRING_EQUAL(out, cases[i].expected);
        /* A refused option leaves the policy as it was. */
        CU_ASSERT_EQUAL(p->memory, SBX_POLICY_DEFAULT_MEMORY);
        CU_ASSERT_EQUAL(p->n_mounts, 0);
        CU_ASSERT_EQUAL(p->n_rlimits, 0);
        CU_ASSERT_STRING_EQUAL(p->cwd, "/");
        free(out);
        sbx_diags_free(&diags);
        sbx_policy_free(p);
    }
}

/* Two options may not mount at one target; an option may replace a policy's mount. */
static void test_options_mount_targets(void)
{
    struct sbx_diags diags = { 0 };
    struct sbx_policy *p =
        parse_text("filesystem:\n  mounts: [{ type: tmpfs, target: /x }]\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sbx_policy_apply_option(p, "volume=/srv:/x", &diags), 0);
    CU_ASSERT_EQUAL(sbx_policy_apply_option(p, "tmpfs=/x", &diags), -EINVAL);
    CU_ASSERT_EQUAL_FATAL(p->n_mounts, 1);
    CU_ASSERT_EQUAL(p->mounts[0].type, SBX_MOUNT_BIND);
    char *out = sbx_diags_format(&diags);
    CU_ASSERT_STRING_EQUAL(out, "--tmpfs /x: '/x' is already the target of an earlier --volume or "
                                "--tmpfs\n");
    free(out);
    sbx_diags_free(&diags);
    sbx_policy_free(p);
}

/* The daemon's questions see what the options set, and name them. */
static void test_options_checks(void)
{
    static const struct {
        const char *option, *what;
    } root[] = {
        { "network=host", "network: host" },
        { "cap-add=CAP_NET_RAW", "process: capabilities" },
        { "network=none", NULL },
        { "memory=1G", NULL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(root); i++) {
        struct sbx_policy *p = NULL;
        struct sbx_diags diags = { 0 };
        CU_ASSERT_EQUAL_FATAL(sbx_policy_new_default(&p), 0);
        CU_ASSERT_EQUAL(sbx_policy_apply_option(p, root[i].option, &diags), 0);
        const char *what = NULL;
        CU_ASSERT_EQUAL(sbx_policy_needs_root(p, &what), root[i].what ? 1 : 0);
        if (root[i].what)
            CU_ASSERT(what && strcmp(what, root[i].what) == 0);
        sbx_policy_free(p);
    }

    struct sbx_diags diags = { 0 };
    struct sbx_policy *p = parse_text("limits:\n  pids: 10\n", &diags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sbx_policy_apply_option(p, "memory=64M", &diags), 0);
    CU_ASSERT_EQUAL(sbx_policy_apply_option(p, "cpus=1", &diags), 0);
    struct sbx_host_features none = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_check_host(p, &none, &diags), -EOPNOTSUPP);
    char *out = sbx_diags_format(&diags);
    CU_ASSERT_STRING_EQUAL(out,
                           "--memory 64M: limits.memory is unsupported on this host (no memory "
                           "cgroup controller)\n"
                           "t.yaml:2:9: limits.pids is unsupported on this host (no pids cgroup "
                           "controller)\n"
                           "--cpus 1: limits.cpu is unsupported on this host (no cpu cgroup "
                           "controller)\n");
    free(out);
    sbx_diags_free(&diags);
    sbx_policy_free(p);
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_options_apply),
    SBX_TEST(test_options_errors),
    SBX_TEST(test_options_mount_targets),
    SBX_TEST(test_options_checks),
};

int main(void)
{
    return sbx_test_main("policy-options", tests, ARRAY_SIZE(tests));
}
