/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site maps (daemon/sitemap.c, trampoline/sitemap-main.c): the real sbx-sitemap
 * over a directory holding a copy of the host's libc, the checks that keep
 * a bad map away from sandboxes, and the store in the state directory.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/sitemap.h"
#include "sbx-test.h"
#include "sbx/macro.h"
#include "sbx/sitemap.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static char tmpdir[] = "/tmp/sbx-test-sitemap-XXXXXX";

/* Runs script in directory dir with sh. */
static int sh_in(const char *dir, const char *script)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s", dir, script);
    return system(cmd);
}

/* root/lib/libc.so.6 (+ a hard link), a copy under usr/share (skipped), a script, a symlink. */
static void make_tree(void)
{
    CU_ASSERT_FATAL(mkdtemp(tmpdir) != NULL);
    CU_ASSERT_FATAL(sh_in(tmpdir, "set -e; mkdir -p root/lib root/usr/share root/bin root/proc; "
                                  "cp " LIBC " root/lib/libc.so.6; "
                                  "ln root/lib/libc.so.6 root/lib/again.so; "
                                  "cp " LIBC " root/usr/share/libc-copy; "
                                  "cp " LIBC " root/proc/libc-copy; "
                                  "printf '#!/bin/sh\\n' > root/bin/script; "
                                  "ln -s /lib/libc.so.6 root/bin/link") == 0);
}

/* The helper in memfd (or file) helper over root, as the daemon runs it; meson's timeout bounds it.
 */
static int run_helper(int helper, int root, void **map, size_t *len, struct sbx_error *e)
{
    struct sbx_sitemap_job job;
    int r = sbx_sitemap_start(helper, root, &job, e);
    return r < 0 ? r : sbx_sitemap_finish(&job, map, len, e);
}

static int open_root(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/root", tmpdir);
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_run_real_helper(void)
{
    make_tree();
    _cleanup_close_ int helper = sbx_blob_memfd_sitemap();
    _cleanup_close_ int root = open_root();
    CU_ASSERT_FATAL(helper >= 0 && root >= 0);
    void *map = NULL;
    size_t len = 0;
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    int r = run_helper(helper, root, &map, &len, &e);
    if (r < 0)
        fprintf(stderr, "sbx-sitemap: %s\n", msg);
    CU_ASSERT_FATAL(r == 0);
    CU_ASSERT(sbx_sitemap_check(map, len, &e) == 0);

    const struct sbx_sitemap_header *h = map;
    const struct sbx_sitemap_file *f = (const void *)(h + 1);
    const struct sbx_sitemap_site *sites = (const void *)(f + h->nfiles);
    /* The hard link is the same file; usr/share and proc are not searched; no script, no link. */
    CU_ASSERT_FATAL(h->nfiles == 1);
    char path[256];
    snprintf(path, sizeof(path), "%s/root/lib/libc.so.6", tmpdir);
    struct stat st;
    CU_ASSERT_FATAL(stat(path, &st) == 0);
    CU_ASSERT(f->ino == (uint64_t)st.st_ino);
    CU_ASSERT(f->size == (uint64_t)st.st_size);
    CU_ASSERT(f->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    CU_ASSERT(f->ctime_ns == (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
    CU_ASSERT(f->first == 0 && f->nsites == h->nsites);
    /* glibc has hundreds of syscall sites; both shapes must be there. */
    CU_ASSERT(h->nsites >= 100);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    const uint8_t *b = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CU_ASSERT_FATAL(b != MAP_FAILED);
    unsigned movs = 0, slots = 0;
    for (uint32_t i = 0; i < h->nsites; i++) {
        const struct sbx_sitemap_site *s = &sites[i];
        if (s->slot_at == s->slot_end) {
            movs++;
            CU_ASSERT(b[s->off] == 0xb8 && b[s->off + 5] == 0x0f && b[s->off + 6] == 0x05);
        } else {
            slots++;
            CU_ASSERT(b[s->off] == 0x0f && b[s->off + 1] == 0x05);
            /* Padding: a nop (90, 66 ..., 0f 1f, cs nop) or int3. */
            uint8_t p = b[s->off + s->slot_at];
            CU_ASSERT(p == 0x90 || p == 0x66 || p == 0x0f || p == 0x2e || p == 0xcc);
        }
    }
    CU_ASSERT(movs > 0 && slots > 0);
    /*
     * munmap (`mov $11,%eax; syscall; cmp $-4095,%rax`) is a mov site of a
     * call the trampoline gates, whatever else is; getppid's (`mov
     * $110,%eax; syscall; ret`) is not gated, so the map leaves it out.
     */
    static const uint8_t munmap_code[] = { 0xb8, 0x0b, 0, 0, 0, 0x0f, 0x05, 0x48, 0x3d };
    static const uint8_t getppid_code[] = { 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05, 0xc3 };
    const uint8_t *m = memmem(b, (size_t)st.st_size, munmap_code, sizeof(munmap_code));
    const uint8_t *g = memmem(b, (size_t)st.st_size, getppid_code, sizeof(getppid_code));
    CU_ASSERT_FATAL(m != NULL && g != NULL);
    int found_m = 0, found_g = 0;
    for (uint32_t i = 0; i < h->nsites; i++) {
        found_m |= sites[i].off == (uint64_t)(m - b);
        found_g |= sites[i].off == (uint64_t)(g - b);
    }
    CU_ASSERT(found_m);
    CU_ASSERT(!found_g);
    munmap((void *)b, (size_t)st.st_size);

    /* Stored and loaded again; another image version or helper finds nothing. */
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/maps", tmpdir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct sbx_sitemap_key key = { .dev = 1, .ino = 2, .size = 3, .mtime_ns = 4, .helper = 5 };
    CU_ASSERT_FATAL(sbx_sitemap_store(dfd, &key, map, len) == 0);
    void *back = NULL;
    size_t back_len = 0;
    CU_ASSERT_FATAL(sbx_sitemap_load(dfd, &key, &back, &back_len) == 0);
    CU_ASSERT(back_len == len && memcmp(back, map, len) == 0);
    free(back);
    struct sbx_sitemap_key other = key;
    other.mtime_ns++;
    CU_ASSERT(sbx_sitemap_load(dfd, &other, &back, &back_len) == -ENOENT);
    other = key;
    other.helper++;
    CU_ASSERT(sbx_sitemap_load(dfd, &other, &back, &back_len) == -ENOENT);
    /* A damaged file is not used either. */
    CU_ASSERT(
        sh_in(tmpdir, "printf x | dd of=maps/1-2.map bs=1 seek=60 conv=notrunc status=none") == 0);
    CU_ASSERT(sbx_sitemap_load(dfd, &key, &back, &back_len) == -ENOENT);

    /* The trampoline memfd: sealed, ends with the map and its footer. */
    _cleanup_close_ int t = sbx_sitemap_trampoline(map, len);
    CU_ASSERT_FATAL(t >= 0);
    CU_ASSERT(fcntl(t, F_GET_SEALS) & F_SEAL_WRITE);
    CU_ASSERT_FATAL(fstat(t, &st) == 0);
    struct sbx_sitemap_footer ft;
    CU_ASSERT(pread(t, &ft, sizeof(ft), st.st_size - (off_t)sizeof(ft)) == (ssize_t)sizeof(ft));
    CU_ASSERT(ft.magic == SBX_SITEMAP_FOOTER_MAGIC && ft.bytes == len);
    free(map);
}

/* Runs the embedded helper as `sbx-sitemap --probe PATHS...` with root at fd 3; its status. */
static int probe_fd(int root, const char *const *paths, int n)
{
    _cleanup_close_ int helper = sbx_blob_memfd_sitemap();
    _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
    CU_ASSERT_FATAL(helper >= 0 && root >= 0 && out >= 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        const char *argv[8] = { "sbx-sitemap", "--probe" };
        for (int i = 0; i < n && i < 5; i++)
            argv[2 + i] = paths[i];
        /* Out of the way of 3 and 4 first: the fds above may be 3 or 4 themselves. */
        int exe = fcntl(helper, F_DUPFD_CLOEXEC, 10), r = fcntl(root, F_DUPFD, 10),
            o = fcntl(out, F_DUPFD, 10);
        if (exe < 0 || r < 0 || o < 0 || dup2(r, 3) < 0 || dup2(o, 4) < 0)
            _exit(125);
        syscall(SYS_execveat, exe, "", argv, (char *[]){ NULL }, AT_EMPTY_PATH);
        _exit(126);
    }
    int st;
    CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The probe over tmpdir/root. */
static int probe(const char *const *paths, int n)
{
    _cleanup_close_ int root = open_root();
    return probe_fd(root, paths, n);
}

/* Locked down, the helper can name nothing outside the image; inside, it reads everything. */
static void test_helper_confined(void)
{
    char host_file[256];
    snprintf(host_file, sizeof(host_file), "%s/root/lib/libc.so.6", tmpdir);
    static const char *const outside[] = { "/etc/passwd", "../../../../../../etc/passwd",
                                           "/proc/self/root/etc/passwd", LIBC };
    const char *const outside_too[] = { host_file };
    CU_ASSERT(access("/etc/passwd", R_OK) == 0 && access(host_file, R_OK) == 0);
    CU_ASSERT(probe(outside, 4) == 0);
    /* The tree's own path on the host means nothing inside it either. */
    CU_ASSERT(probe(outside_too, 1) == 0);
    /* A 0600 file of root's, inside: readable (CAP_DAC_READ_SEARCH), so the probe can fail. */
    static const char *const inside[] = { "/lib/secret" };
    CU_ASSERT(sh_in(tmpdir, "echo x > root/lib/secret && chmod 600 root/lib/secret") == 0);
    CU_ASSERT(probe(inside, 1) == 3);
}

/*
 * In the file mode (a socket at fd 3, as `sandboxctl image build` runs it
 * for a user who cannot mount) it can open nothing at all: the first
 * attempt kills it.
 */
static void test_helper_files_confined(void)
{
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    static const char *const any[] = { "/etc/passwd" };
    static const char *const none[] = { NULL };
    CU_ASSERT(probe_fd(sv[1], any, 1) == 128 + SIGSYS);
    /* Locking down itself succeeds: with nothing to open, the probe passes. */
    CU_ASSERT(probe_fd(sv[1], none, 0) == 0);
    close(sv[0]);
    close(sv[1]);
}

/* A helper that fails or writes nothing gives no map and says why. */
static void test_run_bad_helpers(void)
{
    static const char *const progs[] = { "/bin/false", "/bin/true" };
    static const char *const why[] = { "exited with 1", "wrote 0 bytes" };
    for (int i = 0; i < 2; i++) {
        _cleanup_close_ int exe = open(progs[i], O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CU_ASSERT_FATAL(exe >= 0 && root >= 0);
        void *map = NULL;
        size_t len = 0;
        struct sbx_error e = { 0 };
        const char *msg = e.msg;
        CU_ASSERT(run_helper(exe, root, &map, &len, &e) < 0);
        CU_ASSERT(map == NULL);
        CU_ASSERT(strstr(msg, why[i]) != NULL);
        if (!strstr(msg, why[i]))
            fprintf(stderr, "%s: %s\n", progs[i], msg);
    }
}

/* A valid map of one file with a mov site at 64 and a syscall site at 100 (slot at 110). */
struct tiny {
    struct sbx_sitemap_header h;
    struct sbx_sitemap_file f[2];
    struct sbx_sitemap_site s[2];
};
_Static_assert(sizeof(struct tiny) == sizeof(struct sbx_sitemap_header) +
                                          2 * sizeof(struct sbx_sitemap_file) +
                                          2 * sizeof(struct sbx_sitemap_site),
               "no padding");

static struct tiny tiny(void)
{
    struct tiny t = {
        .h = { .magic = SBX_SITEMAP_MAGIC,
               .version = SBX_SITEMAP_VERSION,
               .nfiles = 2,
               .nsites = 2,
               .bytes = sizeof(struct tiny) },
        .f = { { .ino = 10, .size = 4096, .mtime_ns = 1, .first = 0, .nsites = 2 },
               { .ino = 11, .size = 100, .mtime_ns = 1, .first = 0, .nsites = 0 } },
        .s = { { .off = 64 }, { .off = 100, .slot_at = 10, .slot_end = 16 } },
    };
    return t;
}

static void expect_bad(const struct tiny *t, size_t len, const char *why)
{
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT(sbx_sitemap_check(t, len, &e) == -EBADMSG);
    CU_ASSERT(strstr(msg, why) != NULL);
    if (!strstr(msg, why))
        fprintf(stderr, "expected '%s', got '%s'\n", why, msg);
}

static void test_check(void)
{
    struct tiny t = tiny();
    struct sbx_error e = { 0 };
    CU_ASSERT(sbx_sitemap_check(&t, sizeof(t), &e) == 0);
    expect_bad(&t, 16, "shorter than a header");
    expect_bad(&t, sizeof(t) - 1, "where the header implies");
    t.h.magic++;
    expect_bad(&t, sizeof(t), "bad magic");
    t = tiny();
    t.h.nsites = SBX_SITEMAP_MAX_SITES + 1;
    expect_bad(&t, sizeof(t), "too large");
    t = tiny();
    t.f[1].ino = 10;
    expect_bad(&t, sizeof(t), "out of order");
    t = tiny();
    t.f[1].first = 1;
    t.f[1].nsites = 2;
    expect_bad(&t, sizeof(t), "beyond the 2 there are");
    t = tiny();
    t.s[1].off = 64;
    expect_bad(&t, sizeof(t), "site 1 out of order");
    t = tiny();
    t.s[0].off = 4090;
    t.s[1].off = 4095;
    expect_bad(&t, sizeof(t), "mov site at 4090 lies outside");
    t = tiny();
    t.s[1].slot_at = 200;
    t.s[1].slot_end = 205;
    expect_bad(&t, sizeof(t), "bad slot");
    t = tiny();
    t.s[1].slot_at = 1; /* over the syscall itself */
    expect_bad(&t, sizeof(t), "bad slot");
    t = tiny();
    t.s[1].slot_end = 12; /* shorter than a jmp rel32 */
    expect_bad(&t, sizeof(t), "bad slot");
    t = tiny();
    t.s[1].off = 4090;
    expect_bad(&t, sizeof(t), "or its slot lies outside");
    /* Sizes and offsets near 2^63 or 2^64, where arithmetic would wrap. */
    t = tiny();
    t.f[0].size = UINT64_MAX;
    t.s[0].off = (1ULL << 63) + 5;
    t.s[1].off = (1ULL << 63) + 100;
    expect_bad(&t, sizeof(t), "over the limit");
    t = tiny();
    t.s[1].off = UINT64_MAX - 1;
    expect_bad(&t, sizeof(t), "or its slot lies outside");
    t = tiny();
    t.s[1].slot_at = -100;
    t.s[1].slot_end = -90;
    t.s[0].off = 10;
    t.s[1].off = 50; /* the slot would start before the file */
    expect_bad(&t, sizeof(t), "or its slot lies outside");
}

int main(void)
{
    static const struct sbx_test tests[] = {
        { "sbx-sitemap over a tree with libc: the map, stored and loaded", test_run_real_helper },
        { "sbx-sitemap cannot open host files, only the image's", test_helper_confined },
        { "sbx-sitemap in its file mode cannot open any file", test_helper_files_confined },
        { "helpers that fail or write nothing give no map", test_run_bad_helpers },
        { "malformed maps are refused, saying what is wrong", test_check },
    };
    int r = sbx_test_main("sitemap", tests, ARRAY_SIZE(tests));
    if (tmpdir[sizeof(tmpdir) - 7] != 'X')
        sh_in("/", "rm -rf /tmp/sbx-test-sitemap-*");
    return r;
}
