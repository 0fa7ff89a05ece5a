/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-sitemap: computes the site map of a read-only image
 * (include/sbx/sitemap.h).  sandboxd runs it from a sealed memfd with the
 * image's root directory at fd 3 and an empty memfd at fd 4, and reads the
 * map from fd 4 when it exits 0.  `sandboxctl image build`, for a user who
 * cannot mount the image it has just written, runs it in its file mode
 * instead: fd 3 is a socket on which the builder hands over the files its
 * own walk of the image finds, with the same rules (trampoline/sitemap-walk.h),
 * so that the map is the one a mount would give.
 *
 * Every file of the image is untrusted input to an x86 decoder and an ELF
 * reader, so before it reads any, this process keeps nothing it could abuse:
 * no capability but CAP_DAC_READ_SEARCH (to read files whatever their
 * modes), no_new_privs, tight rlimits, and a seccomp allowlist that lets it
 * open files read-only, read them, map them without PROT_EXEC, and write to
 * fds 2 and 4 only.  The daemon checks what it writes (sbx_sitemap_check)
 * and starts it in new namespaces.  A wrong map can at worst mis-patch the
 * code of this image in this image's own sandboxes, code the image's author
 * controls anyway.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trampoline/sitemap-walk.h"
#include "rewrite-internal.h"
#include "sbx/sitemap.h"

#define ROOT_FD 3
#define OUT_FD 4
/* Larger files are left out (they keep lazy patching). */
#define MAX_FILE SBX_SITEMAP_MAX_FILE_SIZE
/*
 * After this long the walk stops and the map holds what was found (the
 * daemon waits 10 s at most): an image too large to finish still gets a
 * map it stores, and is not walked again at every mount.
 */
#define BUDGET_S 5

struct map {
    struct sbx_sitemap_file *files;
    size_t nfiles, cap_files;
    struct sbx_sitemap_site *sites;
    size_t nsites, cap_sites;
    uint64_t *seen; /* open-addressed set of inodes already indexed */
    size_t cap_seen;
    struct sbx_rw_scratch *scratch;
    struct timespec deadline;
    int late; /* the deadline passed */
};

static struct map *cur_map;

static int out_of_time(struct map *m)
{
    struct timespec now;
    if (!m->late) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        m->late = now.tv_sec > m->deadline.tv_sec ||
                  (now.tv_sec == m->deadline.tv_sec && now.tv_nsec >= m->deadline.tv_nsec);
    }
    return m->late;
}

/* sbx_rw_candidates' skip: once time is up, every candidate (a file can take long). */
static int skip_when_late(uint64_t lo, uint64_t sc)
{
    (void)lo;
    (void)sc;
    return out_of_time(cur_map);
}

static int die(const char *what, int e)
{
    fprintf(stderr, "sbx-sitemap: %s: %s\n", what, strerror(e));
    exit(1);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *q = reallocarray(p, n, elem);
    if (!q)
        die("out of memory", ENOMEM);
    *cap = n;
    return q;
}

/* Adds ino to the set; returns 0 when it was there already. */
static int seen_add(struct map *m, uint64_t ino)
{
    uint64_t key = ino + 1; /* 0 marks an empty cell */
    if ((m->nfiles + 1) * 2 > m->cap_seen) {
        size_t cap = m->cap_seen ? m->cap_seen * 2 : 4096;
        uint64_t *t = calloc(cap, sizeof(*t));
        if (!t)
            die("out of memory", ENOMEM);
        for (size_t i = 0; i < m->cap_seen; i++) {
            if (!m->seen[i])
                continue;
            size_t h = (size_t)(m->seen[i] * 0x9e3779b97f4a7c15ULL) & (cap - 1);
            while (t[h])
                h = (h + 1) & (cap - 1);
            t[h] = m->seen[i];
        }
        free(m->seen);
        m->seen = t;
        m->cap_seen = cap;
    }
    size_t h = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (m->cap_seen - 1);
    while (m->seen[h]) {
        if (m->seen[h] == key)
            return 0;
        h = (h + 1) & (m->cap_seen - 1);
    }
    m->seen[h] = key;
    return 1;
}

/* Indexes one regular file: an x86-64 ELF gets an entry, with or without sites. */
static void index_file(struct map *m, int fd, const struct stat *st)
{
    Elf64_Ehdr eh;
    if (st->st_size < (off_t)sizeof(eh) || (uint64_t)st->st_size > MAX_FILE ||
        sbx_pread_full(fd, &eh, sizeof(eh), 0) != (long)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64 || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
        return;
    if (m->nfiles == SBX_SITEMAP_MAX_FILES || out_of_time(m) || !seen_add(m, (uint64_t)st->st_ino))
        return;
    uint64_t size = (uint64_t)st->st_size;
    void *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED)
        return;
    struct sbx_rw_scratch *s = m->scratch;
    size_t nstarts, n = 0, ntaken = 0;
    uint64_t b = (uint64_t)(uintptr_t)base;
    unsigned nr = sbx_rw_file_ranges(s, fd, b, 0, size, &nstarts);
    for (unsigned i = 0; i < nr; i++)
        n = sbx_rw_candidates(s->starts, nstarts, s->ranges[i].lo, s->ranges[i].hi, skip_when_late,
                              s->patches, n, SBX_RW_MAX_SITES, s->taken, &ntaken);
    munmap(base, size);
    /*
     * A listed file gets no lazy patching: one whose search was cut short
     * (time, the per-file limit, a full map) is left out, to keep it.
     */
    if (out_of_time(m) || n == SBX_RW_MAX_SITES || m->nsites + n > SBX_SITEMAP_MAX_SITES)
        return;
    m->files = grow(m->files, &m->cap_files, m->nfiles + 1, sizeof(*m->files));
    m->sites = grow(m->sites, &m->cap_sites, m->nsites + n, sizeof(*m->sites));
    m->files[m->nfiles++] = (struct sbx_sitemap_file){
        .ino = (uint64_t)st->st_ino,
        .size = size,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
        .ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
        .first = (uint32_t)m->nsites,
        .nsites = (uint32_t)n,
    };
    /* Candidates come in address order, so sites stay sorted by offset. */
    for (size_t i = 0; i < n; i++) {
        const struct sbx_rw_patch *p = &s->patches[i];
        struct sbx_sitemap_site *o = &m->sites[m->nsites++];
        *o = (struct sbx_sitemap_site){ .off = p->site - b };
        if (p->slot.at) {
            o->slot_at = (int32_t)(int64_t)(p->slot.at - p->site);
            o->slot_end = (int32_t)(int64_t)(p->slot.end - p->site);
        }
    }
}

static void walk(struct map *m, int dir, unsigned depth, const char *name)
{
    int lfd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0)
        return;
    DIR *d = fdopendir(lfd);
    if (!d) {
        close(lfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && !out_of_time(m)) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        unsigned type = e->d_type;
        struct stat st;
        /* Never open what is not a file or directory (a device, a FIFO). */
        if (type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
        if (type != DT_REG && type != DT_DIR)
            continue;
        if (depth < 2 && type == DT_DIR && sbx_sitemap_walk_skipped(depth ? name : NULL, e->d_name))
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < SBX_SITEMAP_WALK_MAX_DEPTH)
                walk(m, fd, depth + 1, e->d_name);
            else if (S_ISREG(st.st_mode))
                index_file(m, fd, &st);
        }
        close(fd);
    }
    closedir(d);
}

static int cmp_file(const void *a, const void *b)
{
    uint64_t x = ((const struct sbx_sitemap_file *)a)->ino;
    uint64_t y = ((const struct sbx_sitemap_file *)b)->ino;
    return x < y ? -1 : x > y;
}

static void write_all(const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(OUT_FD, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write", w < 0 ? errno : EIO);
        c += w;
        n -= (size_t)w;
    }
}

/*
 * Over a mounted image, the image's root becomes this process's root
 * (nothing of the host can be named any more), then it becomes nobody,
 * keeping only the capability to read every file of the image.  In the file
 * mode (files), started by any user, nothing can be named at all: the
 * allowlist has no call that takes a path, and it keeps no capability.
 */
static void lock_down(int files)
{
    const uid_t nobody = 65534;
    if (!files && (fchdir(ROOT_FD) < 0 || chroot(".") < 0 || chdir("/") < 0))
        die("chroot into the image", errno);
    if (!files && (setgroups(0, NULL) < 0 || setresgid(nobody, nobody, nobody) < 0 ||
                   prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresuid(nobody, nobody, nobody) < 0))
        die("becoming nobody", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("no_new_privs", errno);
    const struct rlimit cpu = { 15, 15 }, as = { 1ULL << 30, 1ULL << 30 }, nofile = { 128, 128 },
                        fsize = { SBX_SITEMAP_MAX_BYTES, SBX_SITEMAP_MAX_BYTES };
    if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_AS, &as) < 0 ||
        setrlimit(RLIMIT_NOFILE, &nofile) < 0 || setrlimit(RLIMIT_FSIZE, &fsize) < 0)
        die("setrlimit", errno);
    cap_t caps = cap_init();
    cap_value_t keep = CAP_DAC_READ_SEARCH;
    if (!caps ||
        (!files && (cap_set_flag(caps, CAP_PERMITTED, 1, &keep, CAP_SET) < 0 ||
                    cap_set_flag(caps, CAP_EFFECTIVE, 1, &keep, CAP_SET) < 0)) ||
        cap_set_proc(caps) < 0)
        die("capabilities", errno);
    cap_free(caps);

    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!f)
        die("seccomp_init", ENOMEM);
    const int plain[] = { SCMP_SYS(read),
                          SCMP_SYS(pread64),
                          SCMP_SYS(fstat),
                          SCMP_SYS(close),
                          SCMP_SYS(munmap),
                          SCMP_SYS(brk),
                          SCMP_SYS(lseek),
                          SCMP_SYS(madvise),
                          SCMP_SYS(exit),
                          SCMP_SYS(exit_group),
                          SCMP_SYS(rt_sigreturn),
                          SCMP_SYS(mremap),
                          SCMP_SYS(sysinfo) /* glibc's qsort */,
                          SCMP_SYS(clock_gettime) /* when the vDSO cannot answer */ };
    /* Calls that name files, for the walk of a mounted image only. */
    const int walking[] = { SCMP_SYS(getdents64), SCMP_SYS(newfstatat) };
    int r = 0;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]) && r == 0; i++)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, plain[i], 0);
    for (size_t i = 0; i < sizeof(walking) / sizeof(walking[0]) && r == 0 && !files; i++)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, walking[i], 0);
    const uint64_t open_bad = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | (O_TMPFILE & ~O_DIRECTORY);
    if (r == 0 && !files)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, open_bad, 0));
    /* The file mode's socket: records in, one byte back for each. */
    if (r == 0 && files)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1,
                             SCMP_A0(SCMP_CMP_EQ, ROOT_FD));
    if (r == 0 && files)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, ROOT_FD));
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* fdopendir's: no locks, leases or anything else on a file. */
    const int fcntl_ok[] = { F_GETFD, F_SETFD, F_GETFL };
    for (size_t i = 0; i < sizeof(fcntl_ok) / sizeof(fcntl_ok[0]) && r == 0; i++)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                             SCMP_A1(SCMP_CMP_EQ, (uint64_t)fcntl_ok[i]));
    for (int fd = 2; fd <= OUT_FD && r == 0; fd += OUT_FD - 2)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, fd));
    if (r == 0)
        r = seccomp_load(f);
    seccomp_release(f);
    if (r < 0)
        die("seccomp", -r);
}

/*
 * sbx-sitemap --probe PATH...: locks down as always, then exits 0 if none
 * of the paths can be opened, 3 if one can (tests/unit/test-sitemap.c).
 */
static int probe(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            fprintf(stderr, "sbx-sitemap: %s can be read\n", argv[i]);
            return 3;
        }
    }
    return 0;
}

/*
 * The file mode: the files come from the builder, one record and memfd at a
 * time (trampoline/sitemap-walk.h), in the order of its walk, and each is
 * indexed as walk() indexes a file of a mounted image, with the inode
 * number and times the record gives (those the mounted image will show).
 */
static void read_files(struct map *m)
{
    for (;;) {
        struct sbx_sitemap_walk_record rec;
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } c;
        struct iovec iov = { .iov_base = &rec, .iov_len = sizeof(rec) };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)
        };
        ssize_t n = recvmsg(ROOT_FD, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("reading a file record", errno);
        if (n == 0)
            return;
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        if (n != (ssize_t)sizeof(rec) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !h ||
            h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
            h->cmsg_len != CMSG_LEN(sizeof(int)))
            die("a file record without exactly one descriptor", EBADMSG);
        int fd;
        memcpy(&fd, CMSG_DATA(h), sizeof(fd));
        struct stat st;
        /* The plain fstat call: glibc's fstat is newfstatat, which takes a path. */
        if (syscall(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != rec.size)
            die("a file record whose descriptor is not a file of its size", EBADMSG);
        st.st_ino = (ino_t)rec.ino;
        st.st_mtim = (struct timespec){ (time_t)(rec.mtime_ns / 1000000000),
                                        (long)(rec.mtime_ns % 1000000000) };
        st.st_ctim = (struct timespec){ (time_t)(rec.ctime_ns / 1000000000),
                                        (long)(rec.ctime_ns % 1000000000) };
        index_file(m, fd, &st);
        close(fd);
        char more = out_of_time(m) ? SBX_SITEMAP_WALK_DONE : SBX_SITEMAP_WALK_MORE;
        while ((n = write(ROOT_FD, &more, 1)) < 0 && errno == EINTR)
            ;
        if (n != 1)
            die("answering a file record", n < 0 ? errno : EIO);
    }
}

int main(int argc, char **argv)
{
    struct stat st, out;
    if (fstat(ROOT_FD, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode)) ||
        fstat(OUT_FD, &out) < 0)
        die("fds 3 (image root or file socket) and 4 (output)", EBADF);
    int files = S_ISSOCK(st.st_mode);
    struct map m = { .scratch = mmap(NULL, sizeof(struct sbx_rw_scratch), PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) };
    if (m.scratch == MAP_FAILED)
        die("mmap", errno);
    lock_down(files);
    if (argc > 1 && !strcmp(argv[1], "--probe"))
        return probe(argc, argv);
    cur_map = &m;
    clock_gettime(CLOCK_MONOTONIC, &m.deadline);
    m.deadline.tv_sec += BUDGET_S;
    if (files)
        read_files(&m);
    else
        walk(&m, ROOT_FD, 0, NULL);

    /*
     * The files sorted by inode, their sites laid out in that order too: the
     * map does not depend on the order the walk found them in (readdir's
     * order on a mounted image, the tree's in the file mode).
     */
    qsort(m.files, m.nfiles, sizeof(*m.files), cmp_file);
    struct sbx_sitemap_site *sites = reallocarray(NULL, m.nsites ? m.nsites : 1, sizeof(*sites));
    if (!sites)
        die("out of memory", ENOMEM);
    for (size_t i = 0, n = 0; i < m.nfiles && m.nsites; i++) {
        memcpy(sites + n, m.sites + m.files[i].first, m.files[i].nsites * sizeof(*sites));
        m.files[i].first = (uint32_t)n;
        n += m.files[i].nsites;
    }
    free(m.sites);
    m.sites = sites;
    struct sbx_sitemap_header h = {
        .magic = SBX_SITEMAP_MAGIC,
        .version = SBX_SITEMAP_VERSION,
        .nfiles = (uint32_t)m.nfiles,
        .nsites = (uint32_t)m.nsites,
        .bytes = sizeof(h) + m.nfiles * sizeof(*m.files) + m.nsites * sizeof(*m.sites),
    };
    write_all(&h, sizeof(h));
    write_all(m.files, m.nfiles * sizeof(*m.files));
    write_all(m.sites, m.nsites * sizeof(*m.sites));
    return 0;
}
