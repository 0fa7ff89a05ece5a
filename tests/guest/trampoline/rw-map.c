/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site maps (include/sbx/sitemap.h): when the daemon proved the sites of an
 * image ahead of time, a program of that image finds its own sites of both
 * shapes, and libc's, patched before it ever calls them; they answer right,
 * in a forked child too, and again after an exec.  Without a map the same
 * sites are unpatched until they trap.  The sites make gated calls (only
 * those trap, and a map leaves the others alone): rt_sigprocmask, munmap
 * through a syscall site, libc's munmap; libc's getppid, not gated, stays
 * unpatched with a map too.
 *
 *   rw-map MODE    mapped: the program's file and libc are in the sandbox's
 *                  site map (tests/integration/debian runs it so from the
 *                  image in rewrite mode); mapped-self: only the program's
 *                  file is (the launcher's --sitemap); rewrite (no map),
 *                  trap, native: nothing is patched before its first call
 *
 * In the mapped modes new mappings of the program's text are patched too,
 * also where the kernel will not let the trampoline make them writable, and
 * a copy of the program (another inode: not the file the map lists) then
 * runs unpatched until its sites trap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "guest.h"
#include "rewrite-internal.h" /* struct sbx_rw_scratch: the memory a patch works in */

long rwm_mask(void);
long rwm_sys1(long nr, long a);
extern const uint8_t rwm_mask_site[], rwm_sys1_site[];

/* rwm_mask: rt_sigprocmask(SIG_BLOCK, NULL, NULL, 8), which answers 0. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl rwm_mask\n.type rwm_mask,@function\n"
        "rwm_mask:\n"
        "    xor %edi, %edi\n"
        "    xor %esi, %esi\n"
        "    xor %edx, %edx\n"
        "    mov $8, %r10d\n"
        ".globl rwm_mask_site\nrwm_mask_site:\n"
        "    mov $14, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rwm_mask, .-rwm_mask\n"
        /* A syscall site: the number from a register, its slot in the padding. */
        ".p2align 4\n"
        ".globl rwm_sys1\n.type rwm_sys1,@function\n"
        "rwm_sys1:\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        ".globl rwm_sys1_site\nrwm_sys1_site:\n"
        "    syscall\n"
        "    ret\n"
        ".size rwm_sys1, .-rwm_sys1\n"
        ".p2align 4\n");

enum { UNPATCHED, PATCHED, EITHER };
static int own = EITHER, libc = EITHER; /* what to expect before the first call */

/* libc's fn: `mov $nr,%eax; syscall`, patched or not, within its first bytes. */
static const uint8_t *libc_site(const void *fn, uint8_t nr, const char *name)
{
    const uint8_t *p = fn;
    for (int i = 0; i < 32; i++) {
        const uint8_t *s = p + i;
        if (s[5] == 0x0f && s[6] == 0x05 &&
            ((s[0] == 0xb8 && s[1] == nr && !s[2] && !s[3] && !s[4]) || s[0] == 0xe9))
            return s;
    }
    GUEST_CHECK(0, "libc's %s has no `mov $%u,%%eax; syscall` in its first 32 bytes", name, nr);
    return NULL;
}

/* Every site's state before anything called it. */
static void expect_sites(const char *when)
{
    uint8_t b = *(const volatile uint8_t *)rwm_mask_site;
    const volatile uint8_t *s = rwm_sys1_site;
    if (own == PATCHED) {
        GUEST_CHECK(b == 0xe9, "%s: own mov site starts %#x, expected the jmp", when, b);
        GUEST_CHECK(s[0] == 0xeb, "%s: own syscall site starts %#x, expected eb", when, s[0]);
        const volatile uint8_t *slot = s + 2 + (int8_t)s[1];
        GUEST_CHECK(*slot == 0xe9, "%s: the syscall site's slot starts %#x", when, *slot);
    } else if (own == UNPATCHED) {
        GUEST_CHECK(b == 0xb8, "%s: own mov site starts %#x, expected the mov", when, b);
        GUEST_CHECK(s[0] == 0x0f && s[1] == 0x05, "%s: own syscall site %02x %02x", when, s[0],
                    s[1]);
    }
    if (libc != EITHER) {
        b = *(const volatile uint8_t *)libc_site((const void *)(uintptr_t)munmap, 11, "munmap");
        GUEST_CHECK(b == (libc == PATCHED ? 0xe9 : 0xb8), "%s: libc's munmap site starts %#x", when,
                    b);
    }
    /* Not gated: a map leaves it alone, it never traps. */
    b = *(const volatile uint8_t *)libc_site((const void *)(uintptr_t)getppid, 110, "getppid");
    GUEST_CHECK(own == EITHER || b == 0xb8, "%s: libc's getppid site starts %#x", when, b);
}

static void expect_answers(const char *when)
{
    for (int i = 0; i < 3; i++) {
        GUEST_CHECK(rwm_mask() == 0, "%s: rt_sigprocmask through the mov site", when);
        GUEST_CHECK(rwm_sys1(SYS_munmap, 1) == -EINVAL, "%s: munmap(1) through the syscall site",
                    when);
        GUEST_CHECK(munmap(NULL, 0) == -1 && errno == EINVAL, "%s: libc's munmap", when);
        GUEST_CHECK(getppid() == syscall(SYS_getppid), "%s: libc's getppid", when);
    }
}

/* The mapping of this program's text that holds rwm_mask: its bounds and file offset. */
static void own_text(uintptr_t *lo, uintptr_t *hi, unsigned long *off)
{
    FILE *f = fopen("/proc/self/maps", "r");
    GUEST_CHECK(f != NULL, "open /proc/self/maps");
    char line[512];
    uintptr_t at = (uintptr_t)rwm_mask;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        unsigned long a, b, o;
        if (sscanf(line, "%lx-%lx %*s %lx", &a, &b, &o) == 3 && a <= at && at < b) {
            *lo = a;
            *hi = b;
            *off = o;
            found = 1;
        }
    }
    fclose(f);
    GUEST_CHECK(found, "no line of /proc/self/maps holds rwm_mask");
}

/* VmData of /proc/self/status, in bytes: what RLIMIT_DATA is measured against. */
static unsigned long vm_data(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    GUEST_CHECK(f != NULL, "open /proc/self/status");
    char line[256];
    unsigned long kb = 0;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "VmData: %lu kB", &kb) == 1;
    fclose(f);
    GUEST_CHECK(found, "no VmData in /proc/self/status");
    return kb << 10;
}

/*
 * New mappings of this program's text (a file the map lists) are patched
 * before their first call, both when the trampoline may make the new
 * mapping writable for the moment and write it directly (its way), and
 * when the kernel refuses that: RLIMIT_DATA then leaves room for the
 * trampoline's scratch memory and its stubs but not for the mapping, and
 * the patches go through /proc/self/mem.  Each copy answers right through
 * its own patched sites.  The refused case needs a text much larger than
 * the room left for stubs: the static build's, which holds libc.
 */
static void expect_new_mappings_patched(void)
{
    uintptr_t lo, hi;
    unsigned long off;
    own_text(&lo, &hi, &off);
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    GUEST_CHECK(sl > 0, "readlink /proc/self/exe");
    self[sl] = '\0';
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    GUEST_CHECK(fd >= 0, "open %s", self);
    int is_static = getauxval(AT_BASE) == 0;
    GUEST_CHECK(!is_static || hi - lo >= (512u << 10), "the static text is only %lu bytes",
                (unsigned long)(hi - lo));
    struct rlimit old;
    GUEST_CHECK(getrlimit(RLIMIT_DATA, &old) == 0, "getrlimit RLIMIT_DATA");
    for (int refused = 0; refused <= is_static; refused++) {
        const char *how =
            refused ? "a mapping the kernel refuses to make writable" : "a new mapping";
        if (refused) {
            struct rlimit rl = { vm_data() + sizeof(struct sbx_rw_scratch) + (128u << 10),
                                 old.rlim_max };
            GUEST_CHECK(setrlimit(RLIMIT_DATA, &rl) == 0, "setrlimit RLIMIT_DATA");
        }
        uint8_t *m = mmap(NULL, hi - lo, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, (off_t)off);
        int err = errno;
        if (refused)
            GUEST_CHECK(setrlimit(RLIMIT_DATA, &old) == 0, "setrlimit RLIMIT_DATA back");
        errno = err;
        GUEST_CHECK(m != MAP_FAILED, "%s: mmap of the text", how);
        const uint8_t *mask = m + ((uintptr_t)rwm_mask_site - lo),
                      *sys1 = m + ((uintptr_t)rwm_sys1_site - lo);
        GUEST_CHECK(mask[0] == 0xe9, "%s: its mov site starts %#x, expected the jmp", how, mask[0]);
        GUEST_CHECK(sys1[0] == 0xeb, "%s: its syscall site starts %#x, expected eb", how, sys1[0]);
        long (*copy_mask)(void) = (long (*)(void))(void *)(m + ((uintptr_t)rwm_mask - lo));
        long (*copy_sys1)(long, long) =
            (long (*)(long, long))(void *)(m + ((uintptr_t)rwm_sys1 - lo));
        GUEST_CHECK(copy_mask() == 0, "%s: rt_sigprocmask through its mov site", how);
        GUEST_CHECK(copy_sys1(SYS_munmap, 1) == -EINVAL, "%s: munmap(1) through its syscall site",
                    how);
        GUEST_CHECK(munmap(m, hi - lo) == 0, "%s: munmap", how);
    }
    close(fd);
}

/* A copy of this program in /tmp, executable; its path in buf. */
static void copy_self(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/rw-map-copy-XXXXXX");
    int out = mkstemp(buf);
    /* Opened by the name readlink gives, as a program without /proc/self/exe would. */
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    GUEST_CHECK(sl > 0, "readlink /proc/self/exe");
    self[sl] = '\0';
    int in = open(self, O_RDONLY | O_CLOEXEC);
    GUEST_CHECK(out >= 0 && in >= 0, "copy of %s to %s", self, buf);
    char b[65536];
    ssize_t n;
    while ((n = read(in, b, sizeof(b))) > 0)
        GUEST_CHECK(write(out, b, (size_t)n) == n, "write %s", buf);
    GUEST_CHECK(n == 0 && fchmod(out, 0755) == 0 && close(out) == 0, "copy %s", buf);
    close(in);
}

int main(int argc, char **argv)
{
    guest_name = "rw-map";
    const char *mode = argc > 1 ? argv[1] : "", *step = argc > 2 ? argv[2] : "";
    int mapped = !strcmp(mode, "mapped"), mapped_self = !strcmp(mode, "mapped-self");
    GUEST_CHECK(mapped || mapped_self || !strcmp(mode, "rewrite") || !strcmp(mode, "trap") ||
                    !strcmp(mode, "native"),
                "usage: rw-map mapped|mapped-self|rewrite|trap|native");
    int after_exec = !strcmp(step, "--after-exec"), is_copy = !strcmp(step, "--copy");
    if (is_copy) {
        own = UNPATCHED;
    } else if (mapped || mapped_self) {
        own = PATCHED;
        libc = mapped ? PATCHED : EITHER;
    } else if (!after_exec || strcmp(mode, "rewrite") != 0) {
        /* Without a map, the sandbox's hot-site hints may patch them early after an exec. */
        own = libc = UNPATCHED;
    }
    const char *when = is_copy ? "a copy" : after_exec ? "after exec" : "at start";
    expect_sites(when);

    pid_t pid = fork();
    GUEST_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        expect_sites("in a child");
        expect_answers("in a child");
        _exit(0);
    }
    int st;
    GUEST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "the child failed (status %#x)", st);
    expect_answers(when);
    if ((mapped || mapped_self) && !is_copy && !after_exec)
        expect_new_mappings_patched();
    if (is_copy) {
        unlink(argv[3]);
        return guest_pass();
    }
    fflush(stdout);
    if (after_exec) {
        if (!mapped && !mapped_self)
            return guest_pass();
        char copy[64];
        copy_self(copy, sizeof(copy));
        execl(copy, "rw-map", mode, "--copy", copy, (char *)NULL);
        GUEST_CHECK(0, "exec %s", copy);
    }
    /* A new image of the same file: patched again before its first call. */
    char self[64];
    snprintf(self, sizeof(self), "/proc/%d/exe", (int)getpid());
    execl(self, "rw-map", mode, "--after-exec", (char *)NULL);
    GUEST_CHECK(0, "exec %s", self);
    return 1;
}
