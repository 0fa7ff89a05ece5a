/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OCI config translator (oci/config.c): what podman and containerd wrote
 * on a Debian 12 host (oci-fixtures/) becomes the SPEC and policy expected,
 * podman's default seccomp profile compiles under the baseline, and what is
 * not supported is refused with the field named.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static char bundle[PATH_MAX];

/* A bundle in a fresh directory: the fixture with root.path "rootfs", edited by edit. */
static void make_bundle(const char *fixture, void (*edit)(json_object *))
{
    snprintf(bundle, sizeof(bundle), "/tmp/sbx-test-oci.XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(bundle) != NULL);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/rootfs", bundle);
    CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/tmp", bundle);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "oci-fixtures/%s", fixture);
    json_object *c = json_object_from_file(path);
    CU_ASSERT_FATAL(c != NULL);
    json_object *root;
    CU_ASSERT_FATAL(json_object_object_get_ex(c, "root", &root));
    json_object_object_add(root, "path", json_object_new_string("rootfs"));
    /* The engine's network namespace file is checked to exist: one of the bundle's own. */
    json_object *lx, *nss;
    if (json_object_object_get_ex(c, "linux", &lx) &&
        json_object_object_get_ex(lx, "namespaces", &nss)) {
        for (size_t i = 0; i < json_object_array_length(nss); i++) {
            json_object *n = json_object_array_get_idx(nss, i), *p;
            if (!json_object_object_get_ex(n, "path", &p))
                continue;
            snprintf(path, sizeof(path), "%s/netns", bundle);
            FILE *f = fopen(path, "w");
            CU_ASSERT_FATAL(f != NULL);
            fclose(f);
            json_object_object_add(n, "path", json_object_new_string(path));
        }
    }
    if (edit)
        edit(c);
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    CU_ASSERT_FATAL(json_object_to_file(path, c) == 0);
    json_object_put(c);
}

static void drop_bundle(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bundle);
    CU_ASSERT(system(cmd) == 0);
}

static json_object *linux_of(json_object *c)
{
    json_object *l = NULL;
    json_object_object_get_ex(c, "linux", &l);
    return l;
}

static void test_podman_run(void)
{
    make_bundle("podman-run-rm.json", NULL);
    struct sbx_oci_config c;
    struct sbx_error e = { 0 };
    int r = sbx_oci_config_load(bundle, "x", false, &c, &e);
    if (r < 0)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_FATAL(r == 0);
    const struct sbx_spec *s = &c.proc.spec;
    CU_ASSERT_STRING_EQUAL(s->argv[0], "/bin/sh");
    CU_ASSERT_EQUAL(s->argc, 3);
    CU_ASSERT_STRING_EQUAL(s->hostname, "4baea0e6144f");
    CU_ASSERT_EQUAL(s->umask, 022);
    CU_ASSERT_EQUAL(__builtin_popcountll(s->caps_keep), 14);
    CU_ASSERT(s->caps_keep & (1ull << CAP_NET_BIND_SERVICE));
    CU_ASSERT_FALSE(s->caps_keep & (1ull << CAP_SYS_ADMIN));
    CU_ASSERT_EQUAL(s->n_rlimits, 2);
    /* /etc/resolv.conf, /etc/hosts, /run/.containerenv, /etc/hostname; /dev/shm is init's own. */
    CU_ASSERT_EQUAL(s->n_binds, 4);
    CU_ASSERT_EQUAL(s->flags & (SBX_SPEC_SYSFS | SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE),
                    SBX_SPEC_SYSFS | SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE);
    CU_ASSERT(s->flags & SBX_SPEC_WRITABLE_IMAGE);
    CU_ASSERT_FALSE(s->flags & (SBX_SPEC_TTY | SBX_SPEC_NET_HOST | SBX_SPEC_READONLY_ROOT));
    CU_ASSERT_EQUAL(s->n_masked, 11);
    CU_ASSERT_EQUAL(s->n_readonly, 6);
    CU_ASSERT_PTR_NOT_NULL(c.join_path[SBX_OCI_NS_NET]);
    CU_ASSERT_PTR_NULL(c.join_path[SBX_OCI_NS_IPC]);
    CU_ASSERT_EQUAL(c.limits.pids, 2048);
    CU_ASSERT_STRING_EQUAL(c.cgroups_path, "/libpod_parent/libpod-4baea0e6144f324d6ced1ec20636af"
                                           "f2f30e44b71d0c16838da07ce410a80575");
    CU_ASSERT_EQUAL(s->mode, SBX_DEFAULT_MODE);
    /* podman's profile: errno ENOSYS by default, and its rules. */
    CU_ASSERT_EQUAL(c.policy->default_action.kind, SBX_ACT_ERRNO);
    CU_ASSERT_EQUAL(c.policy->default_action.err, ENOSYS);
    CU_ASSERT(c.policy->n_rules > 10);
    CU_ASSERT(c.policy->baseline);
    int fd = memfd_create("bpf", MFD_CLOEXEC);
    CU_ASSERT_EQUAL(sbx_policy_export_bpf(c.policy, SBX_POLICY_GUEST_ROOT, fd), 0);
    struct stat st;
    CU_ASSERT(fstat(fd, &st) == 0 && st.st_size > 0);
    close(fd);
    sbx_oci_config_free(&c);
    drop_bundle();
}

static void test_containerd_run(void)
{
    make_bundle("ctr-run-rm.json", NULL);
    struct sbx_oci_config c;
    struct sbx_error e = { 0 };
    int r = sbx_oci_config_load(bundle, "c1", false, &c, &e);
    if (r < 0)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_FATAL(r == 0);
    CU_ASSERT_STRING_EQUAL(c.cgroups_path, "/default/c1");
    CU_ASSERT_EQUAL(c.proc.spec.n_tmpfs, 1); /* /run */
    CU_ASSERT_EQUAL(c.policy->n_rules, 0);
    sbx_oci_config_free(&c);
    drop_bundle();
}

/* Loads the edited podman config; returns the error text (static) or NULL. */
static const char *load_edited(void (*edit)(json_object *), bool systemd)
{
    static struct sbx_error e;
    make_bundle("podman-run-rm.json", edit);
    struct sbx_oci_config c;
    memset(&e, 0, sizeof(e));
    int r = sbx_oci_config_load(bundle, "x", systemd, &c, &e);
    drop_bundle();
    if (r == 0) {
        sbx_oci_config_free(&c);
        return NULL;
    }
    return e.msg;
}

static void add_unknown(json_object *c)
{
    json_object_object_add(c, "vm", json_object_new_object());
}
static void add_devices(json_object *c)
{
    json_object *d = json_object_new_array();
    json_object_array_add(d, json_object_new_object());
    json_object_object_add(linux_of(c), "devices", d);
}
static void add_user_ns(json_object *c)
{
    json_object *ns;
    json_object_object_get_ex(linux_of(c), "namespaces", &ns);
    json_object *u = json_object_new_object();
    json_object_object_add(u, "type", json_object_new_string("user"));
    json_object_array_add(ns, u);
}
static void bad_syscall(json_object *c)
{
    json_object *sc, *sys;
    json_object_object_get_ex(linux_of(c), "seccomp", &sc);
    json_object_object_get_ex(sc, "syscalls", &sys);
    json_object *names;
    json_object_object_get_ex(json_object_array_get_idx(sys, 0), "names", &names);
    json_object_array_add(names, json_object_new_string("no_such_syscall"));
}
static void suid_bind(json_object *c)
{
    json_object *ms;
    json_object_object_get_ex(c, "mounts", &ms);
    json_object *opts;
    json_object_object_get_ex(json_object_array_get_idx(ms, 5), "options", &opts);
    json_object_array_add(opts, json_object_new_string("suid"));
}
static void mode_trap(json_object *c)
{
    json_object *a;
    json_object_object_get_ex(c, "annotations", &a);
    json_object_object_add(a, "org.sandboxd.syscall-mode", json_object_new_string("trap"));
}
static void mode_bogus(json_object *c)
{
    json_object *a;
    json_object_object_get_ex(c, "annotations", &a);
    json_object_object_add(a, "org.sandboxd.syscall-mode", json_object_new_string("fast"));
}
static void host_sysctl(json_object *c)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "kernel.panic", json_object_new_string("1"));
    json_object_object_add(linux_of(c), "sysctl", s);
}
/* A pod's shareProcessNamespace: its containers would join the pause container's pid namespace. */
static void join_pidns(json_object *c)
{
    json_object *ns, *type;
    json_object_object_get_ex(linux_of(c), "namespaces", &ns);
    for (size_t i = 0; i < json_object_array_length(ns); i++) {
        json_object *n = json_object_array_get_idx(ns, i);
        if (json_object_object_get_ex(n, "type", &type) &&
            !strcmp(json_object_get_string(type), "pid"))
            json_object_object_add(n, "path", json_object_new_string("/proc/1/ns/pid"));
    }
}
static void systemd_path(json_object *c)
{
    json_object_object_add(linux_of(c), "cgroupsPath",
                           json_object_new_string("machine.slice:libpod:abc"));
}

static void expect_error(void (*edit)(json_object *), const char *field)
{
    const char *msg = load_edited(edit, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    if (!strstr(msg, field))
        fprintf(stderr, "wanted '%s' in: %s\n", field, msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, field));
}

static void test_refused_named(void)
{
    expect_error(add_unknown, "vm: not supported");
    expect_error(add_devices, "linux.devices");
    expect_error(add_user_ns, "linux.namespaces[5].type");
    expect_error(bad_syscall, "linux.seccomp.syscalls[0].names[28]: unknown syscall");
    expect_error(suid_bind, "mounts[5].options[2]: suid");
    expect_error(mode_bogus, "annotations.org.sandboxd.syscall-mode");
    expect_error(host_sysctl, "linux.sysctl.kernel.panic");
    expect_error(join_pidns, "linux.namespaces[0].path: joining a pid namespace is not supported");
}

static void test_mode_and_systemd(void)
{
    CU_ASSERT_PTR_NULL(load_edited(mode_trap, false));
    make_bundle("podman-run-rm.json", systemd_path);
    struct sbx_oci_config c;
    struct sbx_error e = { 0 };
    CU_ASSERT_FATAL(sbx_oci_config_load(bundle, "x", true, &c, &e) == 0);
    CU_ASSERT_STRING_EQUAL(c.cgroups_path, "/machine.slice/libpod-abc.scope");
    sbx_oci_config_free(&c);
    drop_bundle();
}

static void test_exec_process(void)
{
    struct sbx_oci_process p;
    struct sbx_error e = { 0 };
    CU_ASSERT_FATAL(
        sbx_oci_process_load("oci-fixtures/podman-exec.process.json", SBX_MODE_TRAP, &p, &e) == 0);
    CU_ASSERT_EQUAL(p.spec.mode, SBX_MODE_TRAP);
    CU_ASSERT(p.spec.argc > 0);
    sbx_oci_process_free(&p);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        { "podman's run --rm config", test_podman_run },
        { "containerd's ctr run config", test_containerd_run },
        { "unsupported fields are refused by name", test_refused_named },
        { "annotation mode, systemd cgroup path", test_mode_and_systemd },
        { "podman's exec process.json", test_exec_process },
    };
    return sbx_test_main("oci-config", tests, ARRAY_SIZE(tests));
}
