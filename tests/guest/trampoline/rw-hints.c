/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode's shared hints (struct sbx_hot_site in the stats memfd): a
 * site that trapped twice anywhere in the sandbox is patched early in the
 * other processes.
 *
 * Fork: the parent never calls a site; each child checks whether the site
 * is already patched when it starts, calls it once and says so in its exit
 * status.  The first two children trap there; from then on the parent
 * patches the site before it forks, so the later children start with it
 * patched, and so does the parent's own copy.
 *
 * Exec: the process calls a register site twice, then execs itself; the new
 * image must hold that site patched before it ever calls it (patched when
 * the program was mapped), and the call must still answer right.
 *
 * In rewrite mode the table is then filled with garbage that names this very
 * program at random offsets (the guest can write it: it is a hint): forks
 * and the exec must still patch nothing wrong and answer right.
 *
 *   rw-hints [MODE]    MODE: trap, rewrite or native (what to expect); without
 *                      it either state of a site is accepted, results are
 *                      still checked (tests/integration/debian runs it so)
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "guest.h"
#include "layout.h"
#include "sbx/abi.h"

/*
 * Only the syscalls the trampoline gates trap, so the sites make a gated
 * call with a known answer: munmap(NULL, 1).
 */
long rwh_getfd(void);
long rwh_sys2(long nr, long a, long b);
extern const uint8_t rwh_getfd_site[], rwh_sys2_site[];

__asm__(".text\n"
        ".p2align 4\n"
        ".globl rwh_getfd\n.type rwh_getfd,@function\n"
        "rwh_getfd:\n"
        "    xor %edi, %edi\n"
        "    mov $1, %esi\n"
        ".globl rwh_getfd_site\nrwh_getfd_site:\n"
        "    mov $11, %eax\n"
        "    syscall\n"
        "    ret\n"
        ".size rwh_getfd, .-rwh_getfd\n"
        /* A syscall site: the number from a register, its slot in the padding. */
        ".p2align 4\n"
        ".globl rwh_sys2\n.type rwh_sys2,@function\n"
        "rwh_sys2:\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    mov %rdx, %rsi\n"
        ".globl rwh_sys2_site\nrwh_sys2_site:\n"
        "    syscall\n"
        "    ret\n"
        ".size rwh_sys2, .-rwh_sys2\n"
        ".p2align 4\n");

enum { UNKNOWN = -1, UNPATCHED = 0, PATCHED = 1 };
static int expect = UNKNOWN; /* what "patched early" should be in this mode */

static int state(const uint8_t *site, uint8_t patched_byte, uint8_t plain_byte, const char *what)
{
    uint8_t b = *(const volatile uint8_t *)site;
    GUEST_CHECK(b == patched_byte || b == plain_byte, "%s: first byte %#x", what, b);
    return b == patched_byte;
}

static void test_fork(void)
{
    int seen[4];
    for (int i = 0; i < 4; i++) {
        pid_t pid = fork();
        GUEST_CHECK(pid >= 0, "fork");
        if (pid == 0) {
            int early = state(rwh_getfd_site, 0xe9, 0xb8, "child's munmap site");
            if (rwh_getfd() != munmap(NULL, 1))
                _exit(3);
            _exit(early ? 10 : 20);
        }
        int st;
        GUEST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child %d status %#x", i, st);
        GUEST_CHECK(WEXITSTATUS(st) == 10 || WEXITSTATUS(st) == 20,
                    "child %d: munmap through the site gave a wrong answer (exit %d)", i,
                    WEXITSTATUS(st));
        seen[i] = WEXITSTATUS(st) == 10;
    }
    int parent = state(rwh_getfd_site, 0xe9, 0xb8, "parent's munmap site");
    if (expect == UNPATCHED) {
        for (int i = 0; i < 4; i++)
            GUEST_CHECK(!seen[i], "child %d found the site patched without rewrite mode", i);
        GUEST_CHECK(!parent, "the parent's site is patched without rewrite mode");
    } else if (expect == PATCHED) {
        /* Children 0 and 1 trap: the site is hot; the parent patches it at its next fork. */
        GUEST_CHECK(!seen[0], "child 0 found the site patched before anybody called it");
        GUEST_CHECK(seen[2] && seen[3], "children 2 and 3 did not inherit the patch (%d %d)",
                    seen[2], seen[3]);
        GUEST_CHECK(parent, "the parent never called the site but should have patched it");
    }
}

static void exec_child(void)
{
    /* Nothing called the site in this image yet. */
    int early = state(rwh_sys2_site, 0xeb, 0x0f, "register site after exec");
    if (expect == PATCHED)
        GUEST_CHECK(early, "the hot site was not patched when the program was mapped");
    else if (expect == UNPATCHED)
        GUEST_CHECK(!early, "the site is patched without rewrite mode");
    GUEST_CHECK(rwh_sys2(SYS_getppid, 0, 0) == getppid(), "getppid through the site after exec");
    GUEST_CHECK(rwh_sys2(SYS_gettid, 0, 0) == gettid(), "gettid through the site after exec");
}

/* Garbage hints naming this program, all of them hot (rewrite mode only: the table is mapped). */
static void scribble(void)
{
    struct stat st;
    GUEST_CHECK(stat("/proc/self/exe", &st) == 0, "stat /proc/self/exe");
    struct sbx_stats *stats = (struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR;
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (int i = 0; i < SBX_STATS_HOT; i += 2) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct sbx_hot_site *e = &stats->hot[i];
        if (e->off1 && e->ino == (uint64_t)st.st_ino)
            continue; /* keep the real ones */
        e->dev = i % 8 ? (uint64_t)st.st_dev : x;
        e->ino = i % 8 ? (uint64_t)st.st_ino : x >> 3;
        e->off1 = i % 3 ? 1 + x % (uint64_t)st.st_size : x;
        e->traps = (uint32_t)(x >> 40) | 2;
    }
    stats->hot_gen++;
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        GUEST_CHECK(pid >= 0, "fork");
        if (pid == 0)
            _exit(rwh_getfd() == munmap(NULL, 1) && rwh_sys2(SYS_getppid, 0, 0) == getppid() ? 0
                                                                                             : 1);
        int status;
        GUEST_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                        WEXITSTATUS(status) == 0,
                    "child after garbage hints: status %#x", status);
    }
}

static void exec_self(const char *mode, const char *what)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    GUEST_CHECK(n > 0, "readlink /proc/self/exe");
    self[n] = '\0';
    fflush(stdout);
    execl(self, "rw-hints", mode, what, (char *)NULL);
    GUEST_CHECK(0, "exec %s", self);
}

static void test_exec(const char *mode)
{
    long fl = munmap(NULL, 1);
    GUEST_CHECK(rwh_sys2(SYS_munmap, 0, 1) == fl, "munmap through the register site");
    GUEST_CHECK(rwh_sys2(SYS_munmap, 0, 1) == fl, "munmap through the register site");
    GUEST_CHECK(rwh_sys2(SYS_getppid, 0, 0) == getppid(), "getppid through the register site");
    exec_self(mode, "--exec-child");
}

int main(int argc, char **argv)
{
    guest_name = "rw-hints";
    const char *mode = argc > 1 ? argv[1] : "any";
    if (!strcmp(mode, "rewrite"))
        expect = PATCHED;
    else if (!strcmp(mode, "trap") || !strcmp(mode, "native"))
        expect = UNPATCHED;
    if (argc > 2 && !strcmp(argv[2], "--exec-child")) {
        exec_child();
        if (expect != PATCHED)
            return guest_pass();
        /* Garbage in the table: forks and another exec still answer right. */
        scribble();
        exec_self(mode, "--after-garbage");
    }
    if (argc > 2 && !strcmp(argv[2], "--after-garbage")) {
        state(rwh_sys2_site, 0xeb, 0x0f, "register site after garbage hints");
        GUEST_CHECK(rwh_getfd() == munmap(NULL, 1), "munmap after garbage hints");
        for (int i = 0; i < 3; i++)
            GUEST_CHECK(rwh_sys2(SYS_getppid, 0, 0) == getppid(), "getppid after garbage hints");
        return guest_pass();
    }
    test_fork();
    test_exec(mode);
    return 1;
}
