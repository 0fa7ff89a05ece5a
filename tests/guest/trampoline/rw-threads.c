/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Eight threads hammer syscalls through patched sites (libc's and
 * rw-asm.h's, patched when the first thread was created) while the main
 * thread keeps mapping fresh executable copies
 * of this program's text, which the rewriter patches as they appear, and
 * hands each copy to the threads as soon as it is mapped.  Eager patching
 * leaves the sites of ungated calls alone (getpid, getppid): the sites
 * checked make a gated call, readlink(NULL, 1, 1).
 *
 *   rw-threads [MODE]    MODE: trap, rewrite or native (what to expect);
 *                        without it either state of a site is accepted
 */
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>

#include "guest.h"
#include "rw-asm.h"

#define NTHREADS 8
#define COPIES 16

static pid_t self, parent;
static long getfd;
static long (*volatile current)(void);
static volatile int stop;
static int failures;
static long calls;

static void *worker(void *arg)
{
    long n = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        long (*f)(void) = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
        if (rw_getppid() != parent || rw_getpid() != self || rw_getfd() != getfd ||
            getppid() != parent || (f && f() != getfd))
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        n++;
    }
    __atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
    return arg;
}

struct text {
    uint64_t vaddr, off, filesz, bias;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
    struct text *t = data;
    uint64_t fn = (uint64_t)rw_getpid;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type == PT_LOAD && (p->p_flags & PF_X) && fn >= info->dlpi_addr + p->p_vaddr &&
            fn < info->dlpi_addr + p->p_vaddr + p->p_filesz) {
            *t = (struct text){ p->p_vaddr, p->p_offset, p->p_filesz, info->dlpi_addr };
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    guest_name = "rw-threads";
    int rewrite = argc > 1 ? !strcmp(argv[1], "rewrite") : -1;
    /* readlink, not open, of /proc/self/exe: the trampoline virtualizes readlink. */
    char self_path[4096];
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    GUEST_CHECK(len > 0, "readlink /proc/self/exe");
    self_path[len] = '\0';
    self = getpid();
    parent = getppid();
    getfd = RW_GETFD_ANSWER;
    struct text t = { 0 };
    GUEST_CHECK(dl_iterate_phdr(find_text, &t) == 1, "text segment not found");
    int fd = open(self_path, O_RDONLY | O_CLOEXEC);
    GUEST_CHECK(fd >= 0, "open %s", self_path);

    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        GUEST_CHECK(pthread_create(&th[i], NULL, worker, (void *)i) == 0, "pthread_create");
    /* Never called before the first thread: patched when it was created. */
    GUEST_CHECK(rewrite < 0 ? rw_getfd_site[0] == 0xe9 || rw_getfd_site[0] == 0xb8
                            : rw_getfd_site[0] == (rewrite ? 0xe9 : 0xb8),
                "site byte %#x after threads", rw_getfd_site[0]);
    GUEST_CHECK(rw_getppid_site[0] == 0xb8, "the getppid site, ungated, was patched");
    uint64_t lead = t.off & 4095;
    uint64_t fn_off = (uint64_t)rw_getfd - (t.bias + t.vaddr);
    uint64_t site_off = (uint64_t)rw_getfd_site - (uint64_t)rw_getfd;
    for (int i = 0; i < COPIES; i++) {
        uint8_t *m = mmap(NULL, t.filesz + lead, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd,
                          (off_t)(t.off - lead));
        GUEST_CHECK(m != MAP_FAILED, "mmap copy %d", i);
        uint8_t *fn = m + lead + fn_off, *site = fn + site_off;
        GUEST_CHECK(rewrite < 0 ? site[0] == 0xe9 || site[0] == 0xb8
                                : site[0] == (rewrite ? 0xe9 : 0xb8),
                    "copy %d: site byte %#x", i, site[0]);
        __atomic_store_n(&current, (long (*)(void))fn, __ATOMIC_RELEASE);
        usleep(20000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < NTHREADS; i++)
        GUEST_CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
    fprintf(stderr, "rw-threads: %ld rounds of 5 syscalls in %d threads\n", calls, NTHREADS);
    GUEST_CHECK(failures == 0, "%d wrong results", failures);
    GUEST_CHECK(calls > 1000, "only %ld rounds", calls);
    return guest_pass();
}
