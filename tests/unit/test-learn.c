/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --learn's policy writer (policy/learn.c): what it writes parses as a
 * policy, holds one rule per call or value, reads back to the same counts
 * (so runs merge), allows a call whole beyond 8 values, and refuses files it
 * did not write.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "policy/learn.h"
#include "policy/policy.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static char *write_text(const struct sbx_learn *l)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(sbx_learn_write(l, "learned", f), 0);
    fclose(f);
    return text;
}

static void add(struct sbx_learn *l, uint32_t nr, uint64_t a0, uint64_t a1, unsigned times)
{
    const uint64_t args[6] = { a0, a1, 0, 0, 0, 0 };
    for (unsigned i = 0; i < times; i++)
        sbx_learn_add(l, nr, args);
}

static void test_write_parse_merge(void)
{
    static struct sbx_learn l, back;
    memset(&l, 0, sizeof(l));
    l.runs = 1;
    add(&l, SYS_read, 0, 0, 5);
    add(&l, SYS_socket, AF_UNIX, 0, 2);
    add(&l, SYS_socket, AF_INET, 0, 1);
    add(&l, SYS_ioctl, 1, 0x5413, 3);
    add(&l, SYS_ioctl, 1, 0xffffffff00005401ull, 1); /* the kernel reads 32 bits */
    add(&l, SYS_clone3, 0, 0, 2);                    /* the baseline denies it whatever */
    char *text = write_text(&l);
    CU_ASSERT(strstr(text, "  default: errno EPERM\n") != NULL);
    CU_ASSERT(strstr(text, "    # learned: read 5\n    - { action: allow, syscalls: [read] }\n") !=
              NULL);
    CU_ASSERT(strstr(text, "    # learned: socket arg 0 = 0x1 2\n"
                           "    - { action: allow, syscalls: [socket], args: [{ index: 0, op: eq, "
                           "value: 0x1 }] }\n") != NULL);
    CU_ASSERT(strstr(text, "# learned: socket arg 0 = 0x2 1\n") != NULL);
    CU_ASSERT(strstr(text, "# learned: ioctl arg 1 = 0x5401 1\n") != NULL);
    CU_ASSERT(strstr(text, "op: masked_eq, mask: 0xffffffff, value: 0x5413") != NULL);
    CU_ASSERT(strstr(text, "rt_sigreturn") != NULL); /* the trampoline's own */
    CU_ASSERT(strstr(text, "learned: write") == NULL);
    CU_ASSERT(strstr(text, "    # learned: clone3 2\n    # (denied by the baseline") != NULL);
    CU_ASSERT(strstr(text, "[clone3]") == NULL);

    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    CU_ASSERT_EQUAL(sbx_policy_parse(text, strlen(text), "learned.yaml", &p, &diags), 0);
    sbx_diags_free(&diags);
    sbx_policy_free(p);

    /* Read back, it is the same; merged twice, every count doubles. */
    struct sbx_error err = { 0 };
    memset(&back, 0, sizeof(back));
    CU_ASSERT_EQUAL(sbx_learn_merge(&back, text, &err), 0);
    CU_ASSERT_EQUAL(back.runs, 1);
    CU_ASSERT_EQUAL(memcmp(back.calls, l.calls, sizeof(l.calls)), 0);
    CU_ASSERT_EQUAL(back.values[SYS_socket].count, 2);
    CU_ASSERT_EQUAL(sbx_learn_merge(&back, text, &err), 0);
    CU_ASSERT_EQUAL(back.runs, 2);
    CU_ASSERT_EQUAL(back.calls[SYS_read], 10);
    CU_ASSERT_EQUAL(back.values[SYS_socket].count, 2);
    CU_ASSERT_EQUAL(back.values[SYS_socket].n[0] + back.values[SYS_socket].n[1], 6);
    free(text);
}

static void test_many_values(void)
{
    static struct sbx_learn l, back;
    memset(&l, 0, sizeof(l));
    for (unsigned op = 1; op <= SBX_LEARN_MAX_VALUES + 1; op++)
        add(&l, SYS_prctl, op, 0, 1);
    char *text = write_text(&l);
    CU_ASSERT(
        strstr(text, "    # learned: prctl many 9\n    - { action: allow, syscalls: [prctl] }\n") !=
        NULL);
    CU_ASSERT(strstr(text, "prctl], args") == NULL);
    struct sbx_error err = { 0 };
    memset(&back, 0, sizeof(back));
    CU_ASSERT_EQUAL(sbx_learn_merge(&back, text, &err), 0);
    CU_ASSERT(back.values[SYS_prctl].many);
    CU_ASSERT_EQUAL(back.calls[SYS_prctl], 9);
    free(text);
}

static void test_refused(void)
{
    static struct sbx_learn l;
    struct sbx_error err = { 0 };
    memset(&l, 0, sizeof(l));
    CU_ASSERT_EQUAL(sbx_learn_merge(&l, "name: x\nsyscalls:\n  default: allow\n", &err), -EINVAL);
    CU_ASSERT(strstr(err.msg, "not a policy --learn wrote") != NULL);
    CU_ASSERT_EQUAL(sbx_learn_merge(&l, "# runs: 1\n    # learned: nosuchcall 3\n", &err), -EINVAL);
    CU_ASSERT(strstr(err.msg, "line 2") != NULL);
    CU_ASSERT_EQUAL(sbx_learn_merge(&l, "# learned: read arg 0 = 1 3\n", &err), -EINVAL);
    CU_ASSERT_EQUAL(sbx_learn_merge(&l, "# learned: read\n", &err), -EINVAL);
}

static const struct sbx_test tests[] = {
    SBX_TEST(test_write_parse_merge),
    SBX_TEST(test_many_values),
    SBX_TEST(test_refused),
};

int main(void)
{
    return sbx_test_main("learn", tests, ARRAY_SIZE(tests));
}
