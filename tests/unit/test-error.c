/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The error type: set, set with errno, wrap with context, and the limits of its buffer. */
#include <errno.h>
#include <string.h>

#include "sbx-test.h"
#include "sbx/error.h"
#include "sbx/macro.h"

static void test_set(void)
{
    struct sbx_error e = { 0 };
    CU_ASSERT(sbx_error_set(&e, -ENOENT, "no sandbox '%s'", "web") == -ENOENT);
    CU_ASSERT_EQUAL(e.err, ENOENT);
    CU_ASSERT_STRING_EQUAL(e.msg, "no sandbox 'web'");
    /* Either sign; 0 is not a failure anyone can act on, so it becomes EIO. */
    CU_ASSERT(sbx_error_set(&e, EACCES, "denied") == -EACCES);
    CU_ASSERT(sbx_error_set(&e, 0, "broken") == -EIO);
    CU_ASSERT_STRING_EQUAL(e.msg, "broken");
}

static void test_set_errno(void)
{
    struct sbx_error e = { 0 };
    CU_ASSERT(sbx_error_set_errno(&e, -EACCES, "cannot open %s", "/x") == -EACCES);
    CU_ASSERT_STRING_EQUAL(e.msg, "cannot open /x: Permission denied");
}

static void test_wrap(void)
{
    struct sbx_error e = { 0 };
    sbx_error_set(&e, -EINVAL, "bad superblock");
    CU_ASSERT(sbx_error_wrap(&e, "image %s", "a.img") == -EINVAL);
    CU_ASSERT(sbx_error_wrap(&e, "loop device") == -EINVAL);
    CU_ASSERT_STRING_EQUAL(e.msg, "loop device: image a.img: bad superblock");
    CU_ASSERT_EQUAL(e.err, EINVAL);
}

/* A callee that failed without a word leaves the context alone, not "context: ". */
static void test_wrap_empty(void)
{
    struct sbx_error e = { .err = ENOMEM };
    CU_ASSERT(sbx_error_wrap(&e, "cgroup") == -ENOMEM);
    CU_ASSERT_STRING_EQUAL(e.msg, "cgroup");
    struct sbx_error z = { 0 };
    CU_ASSERT(sbx_error_wrap(&z, "ctx") == -EIO);
}

/* Long messages are cut at the buffer's end, always terminated, never overrun. */
static void test_truncation(void)
{
    static char big[2 * SBX_ERROR_MSG_MAX];
    memset(big, 'a', sizeof(big) - 1);
    struct sbx_error e = { 0 };
    sbx_error_set(&e, EIO, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), SBX_ERROR_MSG_MAX - 1);
    sbx_error_wrap(&e, "ctx");
    CU_ASSERT_EQUAL(strlen(e.msg), SBX_ERROR_MSG_MAX - 1);
    CU_ASSERT(strncmp(e.msg, "ctx: aaa", 8) == 0);
    sbx_error_wrap(&e, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), SBX_ERROR_MSG_MAX - 1);
    CU_ASSERT_EQUAL(e.msg[0], 'a');
}

static void test_msg(void)
{
    struct sbx_error e = { 0 };
    CU_ASSERT_STRING_EQUAL(sbx_error_msg(&e, -ENOENT), strerror(ENOENT));
    sbx_error_set(&e, ENOENT, "gone");
    CU_ASSERT_STRING_EQUAL(sbx_error_msg(&e, -ENOENT), "gone");
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_set),        SBX_TEST(test_set_errno),  SBX_TEST(test_wrap),
        SBX_TEST(test_wrap_empty), SBX_TEST(test_truncation), SBX_TEST(test_msg),
    };
    return sbx_test_main("error", tests, ARRAY_SIZE(tests));
}
