/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the protocol's typed messages (proto/msg.c): each message
 * encoded and decoded back, and the malformed payloads each decoder
 * refuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx-test.h"
#include "sbx/abi.h"
#include "sbx/macro.h"
#include "test-proto.h"

/* ---- Typed messages: round trips ---------------------------------------- */

static void test_roundtrip_handshake(void)
{
    struct sbx_buf b;
    struct sbx_frame f;

    struct sbx_msg_hello hi = { .min_version = 1, .max_version = 3, .client = "sandboxctl 0.1" };
    struct sbx_msg_hello hi2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_HELLO, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_decode(&f, &hi2));
    CU_ASSERT_EQUAL(1, hi2.min_version);
    CU_ASSERT_EQUAL(3, hi2.max_version);
    CU_ASSERT_STRING_EQUAL("sandboxctl 0.1", hi2.client);
    sbx_msg_hello_free(&hi2);
    CU_ASSERT_PTR_NULL(hi2.client);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The client name is optional. */
    hi.client = NULL;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_decode(&f, &hi2));
    CU_ASSERT_PTR_NULL(hi2.client);
    sbx_msg_hello_free(&hi2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_welcome w = { .version = 1, .server = "sandboxd 0.1.0" }, w2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_welcome_encode(&w, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_WELCOME, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_welcome_decode(&f, &w2));
    CU_ASSERT_EQUAL(1, w2.version);
    CU_ASSERT_STRING_EQUAL("sandboxd 0.1.0", w2.server);
    sbx_msg_welcome_free(&w2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_error e = { .err = EACCES, .message = "policy 'web': permission denied" };
    struct sbx_msg_error e2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_encode(&e, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_ERROR, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_decode(&f, &e2));
    CU_ASSERT_EQUAL(EACCES, e2.err);
    CU_ASSERT_STRING_EQUAL(e.message, e2.message);
    sbx_msg_error_free(&e2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* Required strings cannot be left out by the encoder either. */
    e.message = NULL;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_error_encode(&e, &b));
    w.server = NULL;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_welcome_encode(&w, &b));
}

static void test_roundtrip_run(void)
{
    char *argv[] = { "/bin/sh", "-c", "echo hi", NULL };
    char *env[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };
    char *options[] = { "memory=256M", "volume=/srv/a b:/data:rw", "memory=1G", NULL };
    struct sbx_msg_run m = {
        .argv = argv,
        .argc = 3,
        .env = env,
        .envc = 2,
        .options = options,
        .n_options = 3,
        .policy_text = "name: x\n",
        .policy_file = "x.yaml",
        .mode = SBX_MODE_TRAP,
        .flags = SBX_RUN_STATS | SBX_RUN_TRACE,
    };
    struct sbx_msg_run m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_RUN, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m2));
    CU_ASSERT_EQUAL_FATAL(3, m2.argc);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(argv[i], m2.argv[i]);
    CU_ASSERT_PTR_NULL(m2.argv[3]);
    CU_ASSERT_EQUAL_FATAL(2, m2.envc);
    CU_ASSERT_STRING_EQUAL(env[0], m2.env[0]);
    CU_ASSERT_STRING_EQUAL(env[1], m2.env[1]);
    CU_ASSERT_PTR_NULL(m2.env[2]);
    CU_ASSERT_PTR_NULL(m2.policy_name);
    CU_ASSERT_STRING_EQUAL("name: x\n", m2.policy_text);
    CU_ASSERT_STRING_EQUAL("x.yaml", m2.policy_file);
    CU_ASSERT_EQUAL(SBX_MODE_TRAP, m2.mode);
    CU_ASSERT_EQUAL(SBX_RUN_STATS | SBX_RUN_TRACE, m2.flags);
    /* Options keep their order: the last of two wins in the daemon. */
    CU_ASSERT_EQUAL_FATAL(3, m2.n_options);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(options[i], m2.options[i]);
    CU_ASSERT_PTR_NULL(m2.options[3]);
    sbx_msg_run_free(&m2);
    CU_ASSERT_PTR_NULL(m2.argv);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* No environment and no options, a policy by name, the default mode. */
    m.env = NULL;
    m.envc = 0;
    m.options = NULL;
    m.n_options = 0;
    m.policy_text = NULL;
    m.policy_file = NULL;
    m.policy_name = "build-worker";
    m.mode = SBX_RUN_MODE_DEFAULT;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m2));
    CU_ASSERT_EQUAL(0, m2.envc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2.env);
    CU_ASSERT_PTR_NULL(m2.env[0]);
    CU_ASSERT_STRING_EQUAL("build-worker", m2.policy_name);
    CU_ASSERT_PTR_NULL(m2.policy_text);
    CU_ASSERT_EQUAL(SBX_RUN_MODE_DEFAULT, m2.mode);
    CU_ASSERT_EQUAL(0, m2.n_options);
    sbx_msg_run_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_small(void)
{
    struct sbx_buf b;
    struct sbx_frame f;

    struct sbx_msg_started s = { .id = 0x1122334455667788ull }, s2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_started_encode(&s, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_STARTED, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_started_decode(&f, &s2));
    CU_ASSERT_EQUAL(s.id, s2.id);
    CU_ASSERT_PTR_NULL(s2.sandbox);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The lifecycle requests: one body, the frame type says which. */
    struct sbx_msg_ctl k = { .target = "web", .flags = SBX_CTL_FOLLOW, .value = 7 }, k2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_ctl_encode(SBX_MSG_LOGS, &k, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_LOGS, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_ctl_decode(&f, &k2));
    CU_ASSERT_STRING_EQUAL(k2.target, "web");
    CU_ASSERT_EQUAL(k2.flags, SBX_CTL_FOLLOW);
    CU_ASSERT_EQUAL(k2.value, 7);
    sbx_msg_ctl_free(&k2);
    f.type = SBX_MSG_RUN;
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_ctl_decode(&f, &k2));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    k.flags = 1u << 9;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_ctl_encode(SBX_MSG_PS, &k, &b));
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_ctl_encode(SBX_MSG_RUN, &k, &b));

    struct sbx_msg_signal g = { .signo = 15 }, g2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&g, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_SIGNAL, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(&f, &g2));
    CU_ASSERT_EQUAL(15, g2.signo);
    CU_ASSERT_EQUAL(0, g2.flags);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The end flag travels; an unknown flag bit is refused both ways. */
    g = (struct sbx_msg_signal){ .signo = 2, .flags = SBX_SIGNAL_END };
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&g, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(&f, &g2));
    CU_ASSERT_EQUAL(SBX_SIGNAL_END, g2.flags);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    g.flags = 2;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_signal_encode(&g, &b));

    /* TTY: no field at all. */
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_tty_encode(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_TTY, f.type);
    CU_ASSERT_EQUAL(0, f.length);
    CU_ASSERT_EQUAL(0, sbx_msg_tty_decode(&f));
    /* GUEST and NOTIFY are the same shape, told apart by their type. */
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_guest_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_notify_decode(&f));
    f.type = SBX_MSG_NOTIFY;
    CU_ASSERT_EQUAL(0, sbx_msg_notify_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_trace_decode(&f));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* TRACE: no field either. */
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_trace_encode(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_TRACE, f.type);
    CU_ASSERT_EQUAL(0, f.length);
    CU_ASSERT_EQUAL(0, sbx_msg_trace_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_tty_decode(&f));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_report r = { .kind = SBX_EXIT_SETUP,
                                .code = EINVAL,
                                .message = "pivot_root: Invalid argument" };
    struct sbx_msg_report r2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_report_encode(&r, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_REPORT, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_report_decode(&f, &r2));
    CU_ASSERT_EQUAL(SBX_EXIT_SETUP, r2.kind);
    CU_ASSERT_EQUAL(EINVAL, r2.code);
    CU_ASSERT_STRING_EQUAL(r.message, r2.message);
    sbx_msg_report_free(&r2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_exit(void)
{
    struct sbx_stat_entry st[] = {
        { .nr = 0, .trapped = 1, .patched = 0xffffffffffull },
        { .nr = 39, .trapped = 2, .patched = 3 },
        { .nr = 511, .trapped = UINT64_MAX, .patched = 0 },
    };
    struct sbx_msg_exit m = {
        .kind = SBX_EXIT_SIGNALED, .code = 9, .message = "killed", .stats = st, .n_stats = 3
    };
    struct sbx_msg_exit m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_EXIT, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_EQUAL(SBX_EXIT_SIGNALED, m2.kind);
    CU_ASSERT_EQUAL(9, m2.code);
    CU_ASSERT_STRING_EQUAL("killed", m2.message);
    CU_ASSERT_EQUAL_FATAL(3, m2.n_stats);
    for (unsigned i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(st[i].nr, m2.stats[i].nr);
        CU_ASSERT_EQUAL(st[i].trapped, m2.stats[i].trapped);
        CU_ASSERT_EQUAL(st[i].patched, m2.stats[i].patched);
    }
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    m.message = NULL;
    m.stats = NULL;
    m.n_stats = 0;
    m.kind = SBX_EXIT_EXITED;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_PTR_NULL(m2.message);
    CU_ASSERT_PTR_NULL(m2.stats);
    CU_ASSERT_EQUAL(0, m2.n_stats);
    CU_ASSERT_PTR_NULL(m2.killed_syscall);
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The call a kill rule stopped, by name. */
    m.kind = SBX_EXIT_SIGNALED;
    m.code = 31;
    m.killed_syscall = "mkdir";
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL("mkdir", m2.killed_syscall);
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_spec(void)
{
    char *argv[] = { "/usr/bin/python3", "-c", "print(1)", NULL };
    char *env[] = { "HOME=/", NULL };
    char *masked[] = { "/proc/kcore", "/sys/firmware", NULL };
    char *readonly[] = { "/proc/asound", NULL };
    uint32_t groups[] = { 10, 100, 65534 };
    struct sbx_spec_bind binds[] = {
        { .target = "/data", .flags = SBX_BIND_READONLY },
        { .target = "/out", .flags = 0 },
    };
    struct sbx_spec_tmpfs tmpfs[] = { { .target = "/scratch", .size = 64 << 20, .mode = 01777 } };
    struct sbx_spec_rlimit rl[] = {
        { .resource = 7, .cur = 1024, .max = 4096 },
        { .resource = 4, .cur = 0, .max = UINT64_MAX },
    };
    struct sbx_spec m = {
        .staging = "/run/sandboxd/staging/42",
        .argv = argv,
        .argc = 3,
        .env = env,
        .envc = 1,
        .cwd = "/work",
        .hostname = "box",
        .mode = SBX_MODE_REWRITE,
        .flags = SBX_SPEC_NET_HOST | SBX_SPEC_READONLY_ROOT | SBX_SPEC_SYSFS | SBX_SPEC_CGROUPFS |
                 SBX_SPEC_MQUEUE | SBX_SPEC_WAIT_START,
        .uid = 65534,
        .gid = 65533,
        .groups = groups,
        .n_groups = 3,
        .umask = 022,
        .caps_keep = 1ull << 10 | 1ull << 40,
        .overlay_size = 1ull << 33,
        .tmp_size = 512ull << 20,
        .shm_size = 64ull << 20,
        .binds = binds,
        .n_binds = 2,
        .tmpfs = tmpfs,
        .n_tmpfs = 1,
        .masked = masked,
        .n_masked = 2,
        .readonly = readonly,
        .n_readonly = 1,
        .n_pass = 2,
        .rlimits = rl,
        .n_rlimits = 2,
    };
    struct sbx_spec m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_SPEC, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL(m.staging, m2.staging);
    CU_ASSERT_EQUAL_FATAL(3, m2.argc);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(argv[i], m2.argv[i]);
    CU_ASSERT_PTR_NULL(m2.argv[3]);
    CU_ASSERT_EQUAL_FATAL(1, m2.envc);
    CU_ASSERT_STRING_EQUAL("HOME=/", m2.env[0]);
    CU_ASSERT_PTR_NULL(m2.env[1]);
    CU_ASSERT_STRING_EQUAL("/work", m2.cwd);
    CU_ASSERT_STRING_EQUAL("box", m2.hostname);
    CU_ASSERT_EQUAL(SBX_MODE_REWRITE, m2.mode);
    CU_ASSERT_EQUAL(SBX_SPEC_NET_HOST | SBX_SPEC_READONLY_ROOT | SBX_SPEC_SYSFS |
                        SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE | SBX_SPEC_WAIT_START,
                    m2.flags);
    CU_ASSERT_EQUAL_FATAL(1, m2.n_readonly);
    CU_ASSERT_STRING_EQUAL("/proc/asound", m2.readonly[0]);
    CU_ASSERT_EQUAL(2, m2.n_pass);
    CU_ASSERT_EQUAL(65534, m2.uid);
    CU_ASSERT_EQUAL(65533, m2.gid);
    CU_ASSERT_EQUAL_FATAL(3, m2.n_groups);
    CU_ASSERT_EQUAL(0, memcmp(groups, m2.groups, sizeof(groups)));
    CU_ASSERT_EQUAL(022, m2.umask);
    CU_ASSERT_EQUAL(m.caps_keep, m2.caps_keep);
    CU_ASSERT_EQUAL(m.overlay_size, m2.overlay_size);
    CU_ASSERT_EQUAL(m.tmp_size, m2.tmp_size);
    CU_ASSERT_EQUAL(m.shm_size, m2.shm_size);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_binds);
    CU_ASSERT_STRING_EQUAL("/data", m2.binds[0].target);
    CU_ASSERT_EQUAL(SBX_BIND_READONLY, m2.binds[0].flags);
    CU_ASSERT_STRING_EQUAL("/out", m2.binds[1].target);
    CU_ASSERT_EQUAL(0, m2.binds[1].flags);
    CU_ASSERT_EQUAL_FATAL(1, m2.n_tmpfs);
    CU_ASSERT_STRING_EQUAL("/scratch", m2.tmpfs[0].target);
    CU_ASSERT_EQUAL(64 << 20, m2.tmpfs[0].size);
    CU_ASSERT_EQUAL(01777, m2.tmpfs[0].mode);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_masked);
    CU_ASSERT_STRING_EQUAL("/proc/kcore", m2.masked[0]);
    CU_ASSERT_STRING_EQUAL("/sys/firmware", m2.masked[1]);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_rlimits);
    CU_ASSERT_EQUAL(7, m2.rlimits[0].resource);
    CU_ASSERT_EQUAL(1024, m2.rlimits[0].cur);
    CU_ASSERT_EQUAL(4096, m2.rlimits[0].max);
    CU_ASSERT_EQUAL(4, m2.rlimits[1].resource);
    CU_ASSERT_EQUAL(UINT64_MAX, m2.rlimits[1].max);
    sbx_spec_free(&m2);
    CU_ASSERT_PTR_NULL(m2.binds);
    CU_ASSERT_EQUAL(0, m2.n_binds);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* Minimal spec: cwd and hostname fall back to their defaults. */
    struct sbx_spec min = { .staging = "/s", .argv = argv, .argc = 1, .mode = SBX_MODE_OFF };
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&min, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL("/", m2.cwd);
    CU_ASSERT_STRING_EQUAL("sandbox", m2.hostname);
    CU_ASSERT_EQUAL(1, m2.argc);
    CU_ASSERT_PTR_NULL(m2.argv[1]);
    CU_ASSERT_PTR_NULL(m2.groups);
    CU_ASSERT_PTR_NULL(m2.binds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2.masked);
    CU_ASSERT_PTR_NULL(m2.masked[0]);
    sbx_spec_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

/* PREPARE round-trips; a SPEC naming a prepared root is refused with a root that is none. */
static void test_prepare(void)
{
    struct sbx_buf b = { 0 };
    struct sbx_frame f;
    struct sbx_msg_prepare m = { .staging = "/run/sbx/staging",
                                 .flags = SBX_SPEC_USERNS | SBX_SPEC_MQUEUE,
                                 .overlay_size = 1ull << 40,
                                 .tmp_size = 8 << 20,
                                 .shm_size = 64 << 20 },
                           m2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_prepare_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_PREPARE, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_prepare_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL(m.staging, m2.staging);
    CU_ASSERT_EQUAL(m.flags, m2.flags);
    CU_ASSERT_EQUAL(m.overlay_size, m2.overlay_size);
    CU_ASSERT_EQUAL(m.tmp_size, m2.tmp_size);
    CU_ASSERT_EQUAL(m.shm_size, m2.shm_size);
    sbx_msg_prepare_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* Only the flags a prepared root depends on. */
    m.flags = SBX_SPEC_TTY;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_prepare_encode(&m, &b));
    sbx_buf_free(&b);

    char *argv[] = { "/x", NULL };
    struct sbx_spec spec = { .staging = "/s", .argv = argv, .argc = 1, .flags = SBX_SPEC_PREPARED };
    struct sbx_spec out;
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&spec, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_decode(&f, &out));
    CU_ASSERT_EQUAL(SBX_SPEC_PREPARED, out.flags);
    sbx_spec_free(&out);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    const uint32_t not_overlays[] = { SBX_SPEC_WRITABLE_IMAGE, SBX_SPEC_READONLY_ROOT };
    for (size_t i = 0; i < ARRAY_SIZE(not_overlays); i++) {
        spec.flags = SBX_SPEC_PREPARED | not_overlays[i];
        CU_ASSERT_EQUAL(-EINVAL, sbx_spec_encode(&spec, &b));
        sbx_buf_free(&b);
    }
}

/* ---- Typed messages: rejections ----------------------------------------- */

/* Decodes a hand-made RUN payload and checks that the result is -EBADMSG. */
/* Whether RUN decoding refuses p[0..n) (checked, and leaves *ret alone). */
static bool decodes_rejected(const uint8_t *p, size_t n)
{
    struct sbx_frame f;
    struct sbx_msg_run m;
    memset(&m, 0xa5, sizeof(m));
    frame_raw(SBX_MSG_RUN, p, n, &f);
    int r = sbx_msg_run_decode(&f, &m);
    CU_ASSERT_EQUAL(-EBADMSG, r);
    /* Failed decoders leave *ret alone. */
    CU_ASSERT_EQUAL(0xa5a5a5a5u, m.argc);
    sbx_frame_clear(&f);
    if (r == 0)
        sbx_msg_run_free(&m);
    return r == -EBADMSG;
}

static size_t run_prefix(uint8_t *p)
{
    const uint8_t zero[4] = { 0 };
    size_t n = 0;
    n += raw_field(p + n, 1, SBX_FIELD_STR, 0, 7, "/bin/sh", 7);
    n += raw_field(p + n, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    return n;
}

static void test_reject_fields(void)
{
    uint8_t p[256];
    const uint8_t zero[8] = { 0 };
    size_t n;
    struct sbx_frame f;
    struct sbx_msg_run m;

    /* The well-formed base decodes. */
    n = run_prefix(p);
    frame_raw(SBX_MSG_RUN, p, n, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m));
    CU_ASSERT_EQUAL(1, m.argc);
    sbx_msg_run_free(&m);
    sbx_frame_clear(&f);

    /* Each RUN payload a decoder must refuse: fields after the valid base, or alone. */
    static const struct {
        const char *what;
        bool after_base;
        struct {
            uint16_t tag;
            uint8_t type;
            uint32_t len;
            const char *value;
        } f[3];
    } rejected[] = {
        { "unknown tag", true, { { 99, SBX_FIELD_U32, 4, "\0\0\0\0" } } },
        { "policy_name as BYTES", true, { { 3, SBX_FIELD_BYTES, 1, "x" } } },
        { "mode as U64",
          false,
          { { 1, SBX_FIELD_STR, 1, "x" },
            { 6, SBX_FIELD_U64, 8, "\0\0\0\0\0\0\0\0" },
            { 7, SBX_FIELD_U32, 4, "\0\0\0\0" } } },
        { "policy_file twice",
          true,
          { { 5, SBX_FIELD_STR, 1, "a" }, { 5, SBX_FIELD_STR, 1, "b" } } },
        { "no flags",
          false,
          { { 1, SBX_FIELD_STR, 1, "x" }, { 6, SBX_FIELD_U32, 4, "\0\0\0\0" } } },
        { "NUL inside an env string", true, { { 2, SBX_FIELD_STR, 5, "A=\0=B" } } },
        { "NUL inside an option", true, { { 8, SBX_FIELD_STR, 6, "pids\0=" } } },
        { "an option as U32", true, { { 8, SBX_FIELD_U32, 4, "\0\0\0\0" } } },
        { "both policy name and text",
          true,
          { { 3, SBX_FIELD_STR, 1, "a" }, { 4, SBX_FIELD_STR, 1, "b" } } },
        { "unknown RUN flag",
          false,
          { { 1, SBX_FIELD_STR, 1, "x" },
            { 6, SBX_FIELD_U32, 4, "\0\0\0\0" },
            { 7, SBX_FIELD_U32, 4, "\20\0\0\0" } } },
        { "a name without the detach flag", true, { { 9, SBX_FIELD_STR, 3, "web" } } },
        { "unknown mode",
          false,
          { { 1, SBX_FIELD_STR, 1, "x" },
            { 6, SBX_FIELD_U32, 4, "\3\0\0\0" },
            { 7, SBX_FIELD_U32, 4, "\0\0\0\0" } } },
    };
    for (size_t i = 0; i < ARRAY_SIZE(rejected); i++) {
        n = rejected[i].after_base ? run_prefix(p) : 0;
        for (size_t k = 0; k < 3 && rejected[i].f[k].value; k++)
            n += raw_field(p + n, rejected[i].f[k].tag, rejected[i].f[k].type, 0,
                           rejected[i].f[k].len, rejected[i].f[k].value, rejected[i].f[k].len);
        if (!decodes_rejected(p, n))
            fprintf(stderr, "\n  accepted: %s\n", rejected[i].what);
    }
    /* No argv at all: a built image's own command, an empty but terminated argv. */
    n = raw_field(p, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    {
        struct sbx_frame ef;
        struct sbx_msg_run em;
        frame_raw(SBX_MSG_RUN, p, n, &ef);
        CU_ASSERT_EQUAL(0, sbx_msg_run_decode(&ef, &em));
        CU_ASSERT_EQUAL(0, em.argc);
        CU_ASSERT_PTR_NOT_NULL(em.argv);
        CU_ASSERT_PTR_NULL(em.argv ? em.argv[0] : NULL);
        sbx_msg_run_free(&em);
        sbx_frame_clear(&ef);
    }
    /* Trailing bytes after the last field. */
    n = run_prefix(p);
    p[n++] = 0;
    decodes_rejected(p, n);
    /* Truncated last field. */
    n = run_prefix(p);
    decodes_rejected(p, n - 1);
    /* A valid RUN payload inside a frame of another type. */
    n = run_prefix(p);
    frame_raw(SBX_MSG_SPEC, p, n, &f);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_run_decode(&f, &m));
    sbx_frame_clear(&f);

    /* Encoders refuse what decoders would reject. */
    struct sbx_buf b = { 0 };
    char *argv[] = { "/bin/true", NULL };
    struct sbx_msg_run bad = { .argv = argv, .argc = 1 };
    bad.policy_name = "a";
    bad.policy_text = "b";
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&bad, &b));
    bad.policy_text = NULL;
    bad.argc = 2; /* argv[1] is NULL */
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&bad, &b));
    CU_ASSERT_PTR_NULL(b.data);
}

static void test_reject_frame_type(void)
{
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_msg_hello hi = { .min_version = 1, .max_version = 1 };
    struct sbx_msg_welcome w;
    struct sbx_msg_error e;
    struct sbx_msg_report r;
    struct sbx_msg_signal s;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    /* Same tags and types as WELCOME/ERROR/REPORT, but the frame type decides. */
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_welcome_decode(&f, &w));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_error_decode(&f, &e));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_report_decode(&f, &r));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_signal_decode(&f, &s));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_reject_too_many_args(void)
{
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_msg_run m;

    for (unsigned count = SBX_PROTO_MAX_ARGS; count <= SBX_PROTO_MAX_ARGS + 1; count++) {
        sbx_proto_begin(&b, SBX_MSG_RUN);
        for (unsigned i = 0; i < count; i++)
            sbx_proto_put_str(&b, 1, "a");
        sbx_proto_put_u32(&b, 6, SBX_RUN_MODE_DEFAULT);
        sbx_proto_put_u32(&b, 7, 0);
        CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
        frame_from_buf(&b, &f);
        if (count == SBX_PROTO_MAX_ARGS) {
            CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m));
            CU_ASSERT_EQUAL(count, m.argc);
            CU_ASSERT_PTR_NULL(m.argv[count]);
            sbx_msg_run_free(&m);
        } else {
            CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_run_decode(&f, &m));
        }
        sbx_frame_clear(&f);
        sbx_buf_free(&b);
    }

    /* The limit holds for env too, and the encoder knows it. */
    char **env = calloc(SBX_PROTO_MAX_ARGS + 2, sizeof(char *));
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    for (unsigned i = 0; i <= SBX_PROTO_MAX_ARGS; i++)
        env[i] = "A=1";
    char *argv[] = { "/x", NULL };
    struct sbx_msg_run run = {
        .argv = argv, .argc = 1, .env = env, .envc = SBX_PROTO_MAX_ARGS + 1
    };
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&run, &b));
    free(env);
}

/* SPEC items (binds, tmpfs, rlimits) have fixed layouts; the decoder checks them exactly. */
static void test_reject_spec_items(void)
{
    char *argv[] = { "/x", NULL };
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_spec s;
    /* A bind item: flags, target length 2, "/d". */
    const uint8_t bind_ok[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 'd' };
    const uint8_t bind_long[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 'd', 0 };
    const uint8_t bind_short[] = { 1, 0, 0, 0, 3, 0, 0, 0, '/', 'd' };
    const uint8_t bind_nul[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 0 };
    const uint8_t bind_flag[] = { 3, 0, 0, 0, 2, 0, 0, 0, '/', 'd' };
    const uint8_t rlimit_short[19] = { 0 };
    struct {
        uint16_t tag;
        const uint8_t *p;
        size_t n;
        int expect;
    } cases[] = {
        { 14, bind_ok, sizeof(bind_ok), 0 },
        { 14, bind_long, sizeof(bind_long), -EBADMSG },
        { 14, bind_short, sizeof(bind_short), -EBADMSG },
        { 14, bind_nul, sizeof(bind_nul), -EBADMSG },
        { 14, bind_flag, sizeof(bind_flag), -EBADMSG },
        { 14, bind_ok, 3, -EBADMSG },
        { 15, bind_ok, sizeof(bind_ok), -EBADMSG }, /* 10 bytes cannot be a tmpfs item */
        { 17, rlimit_short, sizeof(rlimit_short), -EBADMSG },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_spec base = { .staging = "/s", .argv = argv, .argc = 1 };
        /* Encode a valid spec, then append the hand-made item. */
        CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&base, &b));
        sbx_proto_put_bytes(&b, cases[i].tag, cases[i].p, cases[i].n);
        CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
        frame_from_buf(&b, &f);
        int r = sbx_spec_decode(&f, &s);
        CU_ASSERT_EQUAL(cases[i].expect, r);
        if (r == 0) {
            CU_ASSERT_EQUAL(1, s.n_binds);
            CU_ASSERT_STRING_EQUAL("/d", s.binds[0].target);
            CU_ASSERT_EQUAL(SBX_BIND_READONLY, s.binds[0].flags);
            sbx_spec_free(&s);
        }
        sbx_frame_clear(&f);
        sbx_buf_free(&b);
    }

    /* EXIT stats entries are exactly 20 bytes; the kind must be known. */
    struct sbx_msg_exit e = { .kind = SBX_EXIT_EXITED }, e2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&e, &b));
    sbx_proto_put_bytes(&b, 4, rlimit_short, sizeof(rlimit_short));
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_exit_decode(&f, &e2));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    e.kind = 0;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_exit_encode(&e, &b));
    sbx_proto_begin(&b, SBX_MSG_REPORT);
    sbx_proto_put_u32(&b, 1, 99);
    sbx_proto_put_u32(&b, 2, 0);
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
    frame_from_buf(&b, &f);
    struct sbx_msg_report rep;
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_report_decode(&f, &rep));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_roundtrip_handshake),  SBX_TEST(test_roundtrip_run),
        SBX_TEST(test_roundtrip_small),      SBX_TEST(test_roundtrip_exit),
        SBX_TEST(test_roundtrip_spec),       SBX_TEST(test_prepare),
        SBX_TEST(test_reject_fields),        SBX_TEST(test_reject_frame_type),
        SBX_TEST(test_reject_too_many_args), SBX_TEST(test_reject_spec_items),
    };
    return sbx_test_main("proto-msg", tests, ARRAY_SIZE(tests));
}
