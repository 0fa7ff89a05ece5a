/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-sandbox cgroups on this host: creation, limits, placement, OOM detection, removal. */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/cgroup.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static struct sbx_cgroup_root root;

static int read_num(const char *dir, const char *file, unsigned long long *ret)
{
    char path[4096], buf[64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    *ret = strtoull(buf, NULL, 10);
    return 0;
}

static const char *limit_dir(struct sbx_cgroup *cg, enum sbx_cg_ctrl c)
{
    return cg->v1_path[c] ? cg->v1_path[c] : cg->v2_path;
}

static void test_create_and_destroy(void)
{
    struct sbx_cgroup cg;
    struct sbx_error e = { 0 };
    struct sbx_cg_limits none = { 0 };
    CU_ASSERT_EQUAL_FATAL(sbx_cgroup_create(&root, "sbx-unit-plain", &none, &cg, &e), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cg.v2_path);
    CU_ASSERT(cg.v2_fd >= 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(cg.v2_path, &st), 0);
    /* No limit asked for: no v1 groups made. */
    for (int c = 0; c < SBX_CG_N; c++)
        CU_ASSERT_PTR_NULL(cg.v1_path[c]);
    char *path = strdup(cg.v2_path);
    sbx_cgroup_destroy(&cg);
    CU_ASSERT_EQUAL(stat(path, &st), -1);
    free(path);
}

static void test_limits_are_written(void)
{
    if (!sbx_cgroup_root_can(&root, SBX_CG_PIDS) || !sbx_cgroup_root_can(&root, SBX_CG_MEMORY) ||
        !sbx_cgroup_root_can(&root, SBX_CG_CPU)) {
        CU_FAIL("this host lacks a pids, memory or cpu controller");
        return;
    }
    struct sbx_cgroup cg;
    struct sbx_error e = { 0 };
    struct sbx_cg_limits lim = { .memory = 64 << 20, .pids = 7, .cpu_millis = 500 };
    CU_ASSERT_EQUAL_FATAL(sbx_cgroup_create(&root, "sbx-unit-limits", &lim, &cg, &e), 0);
    unsigned long long v = 0;
    CU_ASSERT_EQUAL(read_num(limit_dir(&cg, SBX_CG_PIDS), "pids.max", &v), 0);
    CU_ASSERT_EQUAL(v, 7);
    const char *mem = cg.v1_path[SBX_CG_MEMORY] ? "memory.limit_in_bytes" : "memory.max";
    CU_ASSERT_EQUAL(read_num(limit_dir(&cg, SBX_CG_MEMORY), mem, &v), 0);
    CU_ASSERT_EQUAL(v, 64ULL << 20);
    /* Half a CPU: 50 ms of every 100 ms. */
    if (cg.v1_path[SBX_CG_CPU]) {
        CU_ASSERT_EQUAL(read_num(cg.v1_path[SBX_CG_CPU], "cpu.cfs_quota_us", &v), 0);
        CU_ASSERT_EQUAL(v, 50000);
    } else {
        CU_ASSERT_EQUAL(read_num(cg.v2_path, "cpu.max", &v), 0);
        CU_ASSERT_EQUAL(v, 50000);
    }
    sbx_cgroup_destroy(&cg);
}

/* Starts a child in the cgroup (v2 by CLONE_INTO_CGROUP, v1 by attach) that runs fn. */
static pid_t start_in(struct sbx_cgroup *cg, void (*fn)(void), int *pidfd)
{
    struct clone_args args = {
        .flags = CLONE_PIDFD | (cg->v2_fd >= 0 ? CLONE_INTO_CGROUP : 0),
        .pidfd = (uint64_t)(uintptr_t)pidfd,
        .exit_signal = SIGCHLD,
        .cgroup = cg->v2_fd >= 0 ? (uint64_t)cg->v2_fd : 0,
    };
    int gate[2];
    if (pipe(gate) < 0)
        return -1;
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {
        char c;
        close(gate[1]);
        if (read(gate[0], &c, 1) != 1)
            _exit(3);
        fn();
        _exit(0);
    }
    close(gate[0]);
    if (pid > 0 && sbx_cgroup_attach_v1(cg, (pid_t)pid) < 0)
        kill((pid_t)pid, SIGKILL);
    if (write(gate[1], "x", 1) != 1)
        kill((pid_t)pid, SIGKILL);
    close(gate[1]);
    return (pid_t)pid;
}

static void hog(void)
{
    /* Touch far more than the limit allows. */
    for (size_t i = 0; i < 512; i++) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(4);
        memset(p, 1, 1 << 20);
    }
}

static void test_oom_is_detected(void)
{
    if (!sbx_cgroup_root_can(&root, SBX_CG_MEMORY)) {
        CU_FAIL("this host has no memory controller");
        return;
    }
    struct sbx_cgroup cg;
    struct sbx_error e = { 0 };
    struct sbx_cg_limits lim = { .memory = 32 << 20 };
    CU_ASSERT_EQUAL_FATAL(sbx_cgroup_create(&root, "sbx-unit-oom", &lim, &cg, &e), 0);
    CU_ASSERT_FALSE(sbx_cgroup_oom_killed(&cg));
    int pidfd = -1;
    pid_t pid = start_in(&cg, hog, &pidfd);
    CU_ASSERT_FATAL(pid > 0);
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(SBX_TEST_SIGNALED(st, SIGKILL));
    CU_ASSERT_TRUE(sbx_cgroup_oom_killed(&cg));
    close(pidfd);
    sbx_cgroup_destroy(&cg);
}

static void sleeper(void)
{
    pause();
}

static void test_destroy_kills_leftovers(void)
{
    struct sbx_cgroup cg;
    struct sbx_error e = { 0 };
    struct sbx_cg_limits lim = { .pids = 16 };
    CU_ASSERT_EQUAL_FATAL(sbx_cgroup_create(&root, "sbx-unit-kill", &lim, &cg, &e), 0);
    int pidfd = -1;
    pid_t pid = start_in(&cg, sleeper, &pidfd);
    CU_ASSERT_FATAL(pid > 0);
    char *path = strdup(cg.v2_path);
    /* cgroup.kill (v2) ends what is left, so the directories can go. */
    sbx_cgroup_destroy(&cg);
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(SBX_TEST_SIGNALED(st, SIGKILL));
    struct stat sb;
    CU_ASSERT_EQUAL(stat(path, &sb), -1);
    free(path);
    close(pidfd);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test-cgroup: needs root; skipped\n");
        return 77;
    }
    sbx_cgroup_root_init(&root, "sandboxd-unit");
    if (!root.v2_base) {
        fprintf(stderr, "test-cgroup: no cgroup v2 hierarchy on this host\n");
        return 1;
    }
    static const struct sbx_test tests[] = {
        SBX_TEST(test_create_and_destroy),
        SBX_TEST(test_limits_are_written),
        SBX_TEST(test_oom_is_detected),
        SBX_TEST(test_destroy_kills_leftovers),
    };
    int r = sbx_test_main("cgroup", tests, ARRAY_SIZE(tests));
    sbx_cgroup_root_done(&root);
    return r;
}
