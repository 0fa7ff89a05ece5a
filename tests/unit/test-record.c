/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The records of detached sandboxes (daemon/record.c): what is saved loads
 * back the same, and a record that is truncated, of the wrong types, or
 * that claims another id is refused with a message, never half loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "sbx-test.h"
#include "sbx/macro.h"

#define ID "0123456789ab"

static char dir[] = "/tmp/sbx-test-record.XXXXXX";
static int dir_fd = -1;

static void write_record(const char *id, const char *text, size_t len)
{
    mkdirat(dir_fd, id, 0700);
    int d = openat(dir_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CU_ASSERT_FATAL(d >= 0);
    int fd = openat(d, "record.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, text, len), (ssize_t)len);
    close(fd);
    close(d);
}

/* Loads ID's record and expects it refused with a message holding want. */
static void expect_refused(const char *text, const char *want)
{
    write_record(ID, text, strlen(text));
    struct sbx_life *l = NULL;
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT_EQUAL(sbx_record_load(NULL, dir_fd, ID, &l, &e), -EBADMSG);
    CU_ASSERT_PTR_NULL(l);
    if (!strstr(msg, want))
        fprintf(stderr, "\n  message '%s' lacks '%s' for: %s\n", msg, want, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
}

static const char *const good =
    "{\"version\":1,\"id\":\"" ID "\",\"name\":\"web\",\"owner_uid\":1000,\"owner_gid\":100,"
    "\"image\":\"/srv/web.ext4\",\"command\":[\"/bin/sh\",\"-c\",\"echo hi\"],"
    "\"syscall_mode\":\"rewrite\",\"policy\":\"default\",\"detached\":true,\"state\":\"exited\","
    "\"started_ms\":1000,\"ended_ms\":2000,"
    "\"exit\":{\"kind\":\"signaled\",\"code\":15,\"status\":143,\"message\":null},"
    "\"limits\":{\"memory_bytes\":1024,\"pids\":10,\"cpu_millis\":0,\"timeout_ms\":0},"
    "\"mounts\":[]}";

static void test_load_save_round_trip(void)
{
    write_record(ID, good, strlen(good));
    struct sbx_life *l = NULL;
    struct sbx_error e = { 0 };
    CU_ASSERT_EQUAL_FATAL(sbx_record_load(NULL, dir_fd, ID, &l, &e), 0);
    CU_ASSERT_STRING_EQUAL(l->id, ID);
    CU_ASSERT_STRING_EQUAL(l->name, "web");
    CU_ASSERT_EQUAL(l->uid, 1000);
    CU_ASSERT_EQUAL(l->argc, 3);
    CU_ASSERT_STRING_EQUAL(l->argv[2], "echo hi");
    CU_ASSERT_FALSE(l->running);
    CU_ASSERT_EQUAL(l->exit_kind, SBX_EXIT_SIGNALED);
    CU_ASSERT_EQUAL(l->exit_code, 15);
    CU_ASSERT_EQUAL(l->limits.pids, 10);
    /* Saved and loaded again: the same document. */
    CU_ASSERT_EQUAL(sbx_record_save(l), 0);
    json_object *a = sbx_life_to_json(l);
    sbx_life_free(l);
    l = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_record_load(NULL, dir_fd, ID, &l, &e), 0);
    json_object *b = sbx_life_to_json(l);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string(a), json_object_to_json_string(b));
    json_object_put(a);
    json_object_put(b);
    sbx_life_free(l);
}

static void test_refused(void)
{
    char buf[4096];
    /* Truncated: every prefix of a good record is refused. */
    for (size_t n = 1; n < strlen(good); n += 7) {
        snprintf(buf, sizeof(buf), "%.*s", (int)n, good);
        write_record(ID, buf, n);
        struct sbx_life *l = NULL;
        struct sbx_error e = { 0 };
        CU_ASSERT_EQUAL(sbx_record_load(NULL, dir_fd, ID, &l, &e), -EBADMSG);
        CU_ASSERT_PTR_NULL(l);
    }
    expect_refused("", "truncated");
    expect_refused("[1,2]", "not a JSON object");
    expect_refused("{\"version\":2}", "field 'version'");
    expect_refused("{\"version\":1,\"id\":7}", "field 'id'");
    expect_refused("{\"version\":1,\"id\":\"../../etc\"}", "not an id");
}

static void test_wrong_fields(void)
{
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        { "\"name\":\"web\"", "\"name\":7", "field 'name'" },
        { "\"owner_uid\":1000", "\"owner_uid\":-1", "field 'owner_uid' is out of range" },
        { "\"owner_uid\":1000", "\"owner_uid\":\"0\"", "field 'owner_uid'" },
        { "[\"/bin/sh\",\"-c\",\"echo hi\"]", "[]", "field 'command' has 0 entries" },
        { "[\"/bin/sh\",\"-c\",\"echo hi\"]", "[\"/bin/sh\",3]", "bad entry" },
        { "\"/bin/sh\",\"-c\"", "\"/bin/sh\\u0000x\",\"-c\"", "bad entry" },
        { "\"rewrite\"", "\"fast\"", "field 'syscall_mode' has an unknown value" },
        { "\"exited\",", "\"paused\",", "field 'state' has an unknown value" },
        { "\"signaled\"", "\"vanished\"", "field 'exit.kind' has an unknown value" },
        { "\"limits\":{", "\"limitz\":{", "field 'limits'" },
        { "\"mounts\":[]", "\"mounts\":{}", "field 'mounts'" },
        { "\"id\":\"" ID "\"", "\"id\":\"ba9876543210\"", "not its directory's name" },
        { "\"mounts\":[]}", "\"mounts\":[]} x", "bytes after its document" },
    };
    char buf[4096];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *at = strstr(good, cases[i].from);
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good, cases[i].to,
                 at + strlen(cases[i].from));
        expect_refused(buf, cases[i].want);
    }
}

static void test_too_deep_or_big(void)
{
    char buf[4096];
    size_t n = 0;
    n += (size_t)snprintf(buf, sizeof(buf), "{\"version\":1,\"mounts\":");
    for (int i = 0; i < 64; i++)
        buf[n++] = '[';
    for (int i = 0; i < 64; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
    expect_refused(buf, "not JSON (nesting too deep)");
    /* Bigger than any record the daemon writes. */
    int d = openat(dir_fd, ID, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(d, "record.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CU_ASSERT_EQUAL(ftruncate(fd, 8 << 20), 0);
    close(fd);
    close(d);
    struct sbx_life *l = NULL;
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT(sbx_record_load(NULL, dir_fd, ID, &l, &e) < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "at most"));
}

int main(void)
{
    if (!mkdtemp(dir) || (dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror("mkdtemp");
        return 1;
    }
    static const struct sbx_test tests[] = {
        SBX_TEST(test_load_save_round_trip),
        SBX_TEST(test_refused),
        SBX_TEST(test_wrong_fields),
        SBX_TEST(test_too_deep_or_big),
    };
    int r = sbx_test_main("record", tests, ARRAY_SIZE(tests));
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        r = 1;
    return r;
}
