/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host id blocks of sandboxes' user namespaces: parsing the subordinate
 * id files, and a first-fit allocator of blocks, so that a block is reused as
 * soon as its sandbox is gone and no two live sandboxes share one, not even
 * two of different daemons (a lock file shared by every daemon of the host).
 */
#include "daemon/idrange.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/macro.h"

/* A subordinate id file is a few lines per user; anything larger is not one. */
#define IDRANGE_MAX_FILE (1u << 20)

static bool parse_u32(const char *s, size_t len, uint32_t *ret)
{
    if (len == 0 || len > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *ret = (uint32_t)v;
    return true;
}

/* Whether the first field, name[0..len), names the user. */
static bool is_user(const char *name, size_t len, const char *user, const uid_t *uid)
{
    uint32_t n;
    if (strlen(user) == len && memcmp(name, user, len) == 0)
        return true;
    return uid && parse_u32(name, len, &n) && n == *uid;
}

int sbx_idrange_parse(const char *text, const char *user, const uid_t *uid, struct sbx_idrange *ret,
                      size_t max, size_t *ret_n, unsigned *line)
{
    size_t n = 0;
    *line = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        const char *next = p + len + (p[len] == '\n');
        ++*line;
        if (len == 0 || p[0] == '#') {
            p = next;
            continue;
        }
        const char *c1 = memchr(p, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(p + len - c1 - 1)) : NULL;
        struct sbx_idrange r;
        if (!c2 || !parse_u32(c1 + 1, (size_t)(c2 - c1 - 1), &r.start) ||
            !parse_u32(c2 + 1, (size_t)(p + len - c2 - 1), &r.count) ||
            (uint64_t)r.start + r.count >= UINT32_MAX)
            return -EINVAL;
        if (is_user(p, (size_t)(c1 - p), user, uid)) {
            if (n == max)
                return -E2BIG;
            ret[n++] = r;
        }
        p = next;
    }
    *ret_n = n;
    *line = 0;
    return 0;
}

/* The file's text (NUL-terminated); NULL with *err -ENOENT when it does not exist. */
static char *read_small(const char *path, int *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = sbx_neg_errno();
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > IDRANGE_MAX_FILE) {
        *err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    buf[got] = '\0';
    return buf;
}

static int load_file(const char *path, const char *user, const uid_t *uid, struct sbx_idrange *r,
                     size_t *n, struct sbx_error *e)
{
    int err = 0;
    _cleanup_free_ char *text = read_small(path, &err);
    *n = 0;
    if (!text) {
        if (err == -ENOENT)
            return 0;
        return sbx_error_set_errno(e, err, "cannot read %s", path);
    }
    unsigned line;
    int rc = sbx_idrange_parse(text, user, uid, r, SBX_IDRANGE_MAX_RANGES, n, &line);
    if (rc == -E2BIG)
        return sbx_error_set(e, rc, "%s:%u: more than %u ranges for %s", path, line,
                             SBX_IDRANGE_MAX_RANGES, user);
    if (rc < 0)
        return sbx_error_set(
            e, rc, "%s:%u: expected NAME:START:COUNT, with START+COUNT below 2^32-1", path, line);
    return rc;
}

/* The first host id of every whole block in the ranges, at most SBX_IDRANGE_MAX_BLOCKS. */
static unsigned blocks_of(const struct sbx_idrange *r, size_t n, uint32_t *out)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++)
        for (uint64_t s = r[i].start; s + SBX_IDRANGE_SIZE <= (uint64_t)r[i].start + r[i].count &&
                                      k < SBX_IDRANGE_MAX_BLOCKS;
             s += SBX_IDRANGE_SIZE)
            out[k++] = (uint32_t)s;
    return k;
}

int sbx_idrange_init(struct sbx_idrange_pool *p, const struct sbx_idrange *uids, size_t n_uids,
                     const struct sbx_idrange *gids, size_t n_gids)
{
    *p = (struct sbx_idrange_pool){ .lock_fd = -1 };
    _cleanup_free_ uint32_t *u = calloc(SBX_IDRANGE_MAX_BLOCKS, sizeof(*u));
    _cleanup_free_ uint32_t *g = calloc(SBX_IDRANGE_MAX_BLOCKS, sizeof(*g));
    if (!u || !g)
        return -ENOMEM;
    unsigned nu = blocks_of(uids, n_uids, u), ng = blocks_of(gids, n_gids, g);
    unsigned n = nu < ng ? nu : ng;
    if (n == 0)
        return 0;
    /* Two blocks that overlap would give two sandboxes the same ids. */
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = i + 1; k < n; k++)
            if ((u[i] < u[k] + SBX_IDRANGE_SIZE && u[k] < u[i] + SBX_IDRANGE_SIZE) ||
                (g[i] < g[k] + SBX_IDRANGE_SIZE && g[k] < g[i] + SBX_IDRANGE_SIZE))
                return -ENOTUNIQ;
    p->used = calloc((n + 7) / 8, 1);
    p->uid_base = reallocarray(TAKE_PTR(u), n, sizeof(uint32_t));
    p->gid_base = reallocarray(TAKE_PTR(g), n, sizeof(uint32_t));
    if (!p->used || !p->uid_base || !p->gid_base) {
        sbx_idrange_pool_free(p);
        return -ENOMEM;
    }
    p->n_blocks = n;
    return 0;
}

int sbx_idrange_load(struct sbx_idrange_pool *p, const char *user, const char *subuid,
                     const char *subgid, struct sbx_error *e)
{
    struct sbx_idrange uids[SBX_IDRANGE_MAX_RANGES], gids[SBX_IDRANGE_MAX_RANGES];
    size_t nu, ng;
    char buf[4096];
    struct passwd pw, *pwp = NULL;
    *p = (struct sbx_idrange_pool){ .lock_fd = -1 };
    /* The files may name the user by uid; the user need not exist (a private file). */
    bool have_uid = getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) == 0 && pwp;
    uid_t uid = have_uid ? pw.pw_uid : 0;
    int r = load_file(subuid, user, have_uid ? &uid : NULL, uids, &nu, e);
    if (r >= 0)
        r = load_file(subgid, user, have_uid ? &uid : NULL, gids, &ng, e);
    if (r < 0)
        return r;
    r = sbx_idrange_init(p, uids, nu, gids, ng);
    if (r == -ENOTUNIQ)
        return sbx_error_set(e, r, "the ranges of %s in %s or %s overlap", user, subuid, subgid);
    if (r < 0)
        return sbx_error_set_errno(e, r, "id ranges");
    return r;
}

void sbx_idrange_pool_free(struct sbx_idrange_pool *p)
{
    free(p->uid_base);
    free(p->gid_base);
    free(p->used);
    if (p->lock_fd >= 0)
        close(p->lock_fd);
    *p = (struct sbx_idrange_pool){ .lock_fd = -1 };
}

int sbx_idrange_lock(struct sbx_idrange_pool *p, const char *path, struct sbx_error *e)
{
    _cleanup_close_ int fd =
        open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0)
        return sbx_error_set_errno(e, errno, "cannot open the id lock file %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_error_set_errno(e, errno, "id lock file %s", path);
    /* Another user's file could be locked by that user to deny every block. */
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return sbx_error_set(e, EPERM,
                             "id lock file %s: not a regular file of uid %u writable by it alone",
                             path, (unsigned)geteuid());
    if (p->lock_fd >= 0)
        close(p->lock_fd);
    p->lock_fd = TAKE_FD(fd);
    return 0;
}

/* Takes (F_WRLCK) or drops (F_UNLCK) the host-wide lock of block b. */
static int lock_block(const struct sbx_idrange_pool *p, unsigned b, short type)
{
    if (p->lock_fd < 0)
        return 0;
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_len = SBX_IDRANGE_SIZE };
    fl.l_start = (off_t)p->uid_base[b];
    if (fcntl(p->lock_fd, F_OFD_SETLK, &fl) < 0)
        return -errno;
    fl.l_start = (off_t)((uint64_t)1 << 32) + (off_t)p->gid_base[b];
    if (fcntl(p->lock_fd, F_OFD_SETLK, &fl) < 0) {
        int r = -errno;
        if (type == F_WRLCK) {
            fl.l_type = F_UNLCK;
            fl.l_start = (off_t)p->uid_base[b];
            fcntl(p->lock_fd, F_OFD_SETLK, &fl);
        }
        return r;
    }
    return 0;
}

static bool is_used(const struct sbx_idrange_pool *p, unsigned b)
{
    return p->used[b / 8] & (1u << (b % 8));
}

bool sbx_idrange_mark(struct sbx_idrange_pool *p, int block)
{
    if (block < 0 || (unsigned)block >= p->n_blocks || is_used(p, (unsigned)block))
        return false;
    p->used[block / 8] |= (uint8_t)(1u << (block % 8));
    p->n_used++;
    return true;
}

int sbx_idrange_alloc(struct sbx_idrange_pool *p, struct sbx_ids *ret)
{
    if (p->n_used == p->n_blocks)
        return -ENOSPC;
    for (unsigned b = 0; b < p->n_blocks; b++) {
        if (is_used(p, b))
            continue;
        int r = lock_block(p, b, F_WRLCK);
        /* Held by another daemon: its sandbox has these ids. */
        if (r == -EAGAIN || r == -EACCES)
            continue;
        if (r < 0)
            return r;
        sbx_idrange_mark(p, (int)b);
        *ret = (struct sbx_ids){ .block = (int)b, .uid = p->uid_base[b], .gid = p->gid_base[b] };
        return 0;
    }
    return -ENOSPC;
}

void sbx_idrange_release(struct sbx_idrange_pool *p, struct sbx_ids *ids)
{
    int b = ids->block;
    ids->block = -1;
    if (b < 0 || (unsigned)b >= p->n_blocks || !is_used(p, (unsigned)b))
        return;
    p->used[b / 8] &= (uint8_t) ~(1u << (b % 8));
    p->n_used--;
    lock_block(p, (unsigned)b, F_UNLCK);
}

int sbx_idrange_block_of(const struct sbx_idrange_pool *p, uint32_t uid)
{
    for (unsigned b = 0; b < p->n_blocks; b++)
        if (uid >= p->uid_base[b] && uid - p->uid_base[b] < SBX_IDRANGE_SIZE)
            return (int)b;
    return -1;
}

/* The uids on the Uid: line of one /proc/PID/status. */
static bool status_uids(int proc, const char *pid, uint32_t uids[4])
{
    char path[300], buf[4096];
    snprintf(path, sizeof(path), "%s/status", pid);
    _cleanup_close_ int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *u = strstr(buf, "\nUid:");
    return u && sscanf(u + 5, "%u %u %u %u", &uids[0], &uids[1], &uids[2], &uids[3]) == 4;
}

unsigned sbx_idrange_mark_running(struct sbx_idrange_pool *p)
{
    if (!p->n_blocks)
        return 0;
    _cleanup_close_ int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = proc < 0 ? NULL : fdopendir(fcntl(proc, F_DUPFD_CLOEXEC, 3));
    if (!dir)
        return 0;
    unsigned marked = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        uint32_t uids[4];
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || !status_uids(proc, de->d_name, uids))
            continue;
        for (int i = 0; i < 3; i++)
            marked += sbx_idrange_mark(p, sbx_idrange_block_of(p, uids[i]));
    }
    closedir(dir);
    return marked;
}
