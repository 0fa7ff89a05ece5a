/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image cache: real loop devices and ext4 mounts, shared per image, gone when released. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/image.h"
#include "sbx-test.h"
#include "sbx/macro.h"

static char tmpdir[] = "/tmp/sbx-test-image-XXXXXX";
static char image_path[256];

/* A 4 MiB ext4 image holding etc/marker; 0 or -1. */
static int make_image(void)
{
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(image_path, sizeof(image_path), "%s/img.ext4", tmpdir);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/root/etc && echo image-content > %s/root/etc/marker && "
             "mkfs.ext4 -q -F -d %s/root %s 4M",
             tmpdir, tmpdir, tmpdir, image_path);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads a file through a detached mount, as sandbox setup would see it. */
static int read_in_mount(int mount_fd, const char *path, char *buf, size_t len)
{
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
    int fd = (int)syscall(SYS_openat2, mount_fd, path, &how, sizeof(how));
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

/* Whether a loop device still has a backing file; autoclear may finish asynchronously. */
static int loop_attached(int nr)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", nr);
    for (int i = 0; i < 200; i++) {
        if (access(path, F_OK) < 0)
            return 0;
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
    }
    return 1;
}

static void test_acquire_shares_and_releases(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    int fd = open(image_path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    struct sbx_error e = { 0 };
    struct sbx_image *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, fd, false, &a, &e), 0);
    char buf[64];
    CU_ASSERT_EQUAL(read_in_mount(a->mount_fd, "etc/marker", buf, sizeof(buf)), 14);
    CU_ASSERT_STRING_EQUAL(buf, "image-content\n");
    /* The mount is read-only. */
    struct open_how how = { .flags = O_WRONLY | O_CREAT, .mode = 0644, .resolve = RESOLVE_IN_ROOT };
    CU_ASSERT(syscall(SYS_openat2, a->mount_fd, "etc/new", &how, sizeof(how)) < 0);
    CU_ASSERT_EQUAL(errno, EROFS);

    /* A second sandbox of the same image reuses the mount: same loop device, no new one. */
    int fd2 = open(image_path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, fd2, false, &b, &e), 0);
    CU_ASSERT_PTR_EQUAL(a, b);
    CU_ASSERT_EQUAL(a->refs, 2);
    CU_ASSERT_EQUAL(c.n, 1);
    int nr = a->loop_nr;
    sbx_image_release(&c, a, 1);
    sbx_image_release(&c, b, 2);
    /* Unused but cached, until trimmed. */
    CU_ASSERT_EQUAL(c.n, 1);
    CU_ASSERT_EQUAL(loop_attached(nr), 1);
    sbx_image_cache_trim(&c, 100, 50);
    CU_ASSERT_EQUAL(c.n, 0);
    close(fd);
    close(fd2);
    CU_ASSERT_EQUAL(loop_attached(nr), 0);
}

static void test_not_ext4_leaves_nothing(void)
{
    char junk[256];
    snprintf(junk, sizeof(junk), "%s/junk.img", tmpdir);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "head -c 4194304 /dev/urandom > %s", junk);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    int fd = open(junk, O_RDONLY | O_CLOEXEC);
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    struct sbx_image *img = NULL;
    int r = sbx_image_acquire(&c, fd, false, &img, &e);
    CU_ASSERT_EQUAL(r, -EINVAL);
    CU_ASSERT(strlen(msg) > 0);
    CU_ASSERT_EQUAL(c.n, 0);
    close(fd);
    /* No loop device is left attached to the file. */
    snprintf(cmd, sizeof(cmd), "sleep 0.2; test -z \"$(losetup -j %s)\"", junk);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_rejects_non_regular(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    struct sbx_image *img = NULL;
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, fd, false, &img, &e), -EINVAL);
    CU_ASSERT_STRING_EQUAL(msg, "image: neither a regular file nor a directory");
    CU_ASSERT_EQUAL(c.n, 0);
    close(fd);
}

/* A directory is a root of its own: a clone of its tree, no loop device, never writable. */
static void test_directory_root(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    int fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct sbx_error e = { 0 };
    struct sbx_image *img = NULL;
    /* A directory fd is never open for writing, and a directory root never writable. */
    CU_ASSERT(sbx_image_acquire(&c, fd, true, &img, &e) < 0);
    CU_ASSERT_EQUAL(c.n, 0);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, fd, false, &img, &e), 0);
    if (img) {
        CU_ASSERT_EQUAL(img->loop_nr, -1);
        CU_ASSERT(img->sitemap_tried);
        struct stat a, b;
        CU_ASSERT(fstat(img->mount_fd, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino);
        CU_ASSERT_EQUAL(sbx_image_release(&c, img, 0), 0);
        /* Not kept: it would pin the directory's filesystem. */
        CU_ASSERT_EQUAL(c.n, 0);
    }
    sbx_image_cache_clear(&c);
    close(fd);
}

static void test_changed_image_is_mounted_anew(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    struct sbx_error e = { 0 };
    struct sbx_image *a = NULL, *b = NULL;
    int fd = open(image_path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, fd, false, &a, &e), 0);
    struct timespec ts[2] = { { .tv_sec = 1000000 }, { .tv_sec = 1000000 } };
    CU_ASSERT_EQUAL(futimens(fd, ts), 0);
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, fd, false, &b, &e), 0);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT_EQUAL(c.n, 2);
    sbx_image_release(&c, a, 0);
    sbx_image_release(&c, b, 0);
    sbx_image_cache_clear(&c);
    CU_ASSERT_EQUAL(c.n, 0);
    close(fd);
}

static void test_writable_is_exclusive(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    struct sbx_error e = { 0 };
    struct sbx_image *a = NULL, *b = NULL;
    int ro = open(image_path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, ro, true, &a, &e), -EBADF);
    int rw = open(image_path, O_RDWR | O_CLOEXEC);
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, rw, true, &a, &e), 0);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, rw, true, &b, &e), -EBUSY);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, ro, false, &b, &e), -EBUSY);
    /* A writable image is unmounted at once when released: its file may change. */
    int nr = a->loop_nr;
    sbx_image_release(&c, a, 0);
    CU_ASSERT_EQUAL(c.n, 0);
    close(ro);
    close(rw);
    CU_ASSERT_EQUAL(loop_attached(nr), 0);
}

/* The cache matches by fstat: a cached image must not be handed to an fd that proves nothing. */
static void test_cached_image_wants_a_readable_fd(void)
{
    struct sbx_image_cache c;
    sbx_image_cache_init(&c, 4);
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    struct sbx_image *a = NULL, *b = NULL;
    int fd = open(image_path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL_FATAL(sbx_image_acquire(&c, fd, false, &a, &e), 0);
    int path = open(image_path, O_PATH | O_CLOEXEC);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, path, false, &b, &e), -EBADF);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "O_PATH"));
    int wo = open(image_path, O_WRONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL(sbx_image_acquire(&c, wo, false, &b, &e), -EBADF);
    CU_ASSERT_STRING_EQUAL(msg, "image: not open for reading");
    CU_ASSERT_EQUAL(a->refs, 1);
    sbx_image_release(&c, a, 0);
    sbx_image_cache_clear(&c);
    close(fd);
    close(path);
    close(wo);
}

static void cleanup(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test-image: cannot remove %s\n", tmpdir);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test-image: needs root (loop devices and mounts); skipped\n");
        return 77;
    }
    if (make_image() < 0) {
        fprintf(stderr, "test-image: cannot build the test image with mkfs.ext4\n");
        return 1;
    }
    static const struct sbx_test tests[] = {
        SBX_TEST(test_acquire_shares_and_releases),
        SBX_TEST(test_not_ext4_leaves_nothing),
        SBX_TEST(test_rejects_non_regular),
        SBX_TEST(test_directory_root),
        SBX_TEST(test_changed_image_is_mounted_anew),
        SBX_TEST(test_writable_is_exclusive),
        SBX_TEST(test_cached_image_wants_a_readable_fd),
    };
    int r = sbx_test_main("image", tests, ARRAY_SIZE(tests));
    cleanup();
    return r;
}
