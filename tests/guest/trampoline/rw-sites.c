/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode on hand-written sites (rw-asm.h), single-threaded first,
 * where file-backed sites are patched at their second trap: a branch
 * straight to the `syscall` of a patched site, red zone and registers
 * across a patched site, fork from a patched site, rt_sigprocmask from a
 * patched site (straight to the kernel, SIGSYS stripped), munmap of the trampoline and of stub
 * pages refused through patched sites too, JIT code (written RW, made RX) that is patched and
 * answers getpid, RWX memory that keeps working unpatched; then, after a thread existed, JIT code
 * that is proven but left alone and gets patched lazily in a forked child.  Lazy patching needs
 * traps, and only gated calls trap: the sites that test it call readlink(NULL, 1, 1); a getpid site
 * stays as it is.
 *
 *   rw-sites [MODE]    MODE: trap, rewrite or native (what to expect); without
 *                      it either state of a site is accepted, results are
 *                      still checked (tests/integration/debian runs it so)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "guest.h"
#include "rw-asm.h"

static int rewrite = -1; /* -1: unknown */
static int trap_mode;

/* In rewrite mode: the site is still the original mov. */
static void expect_patched_not(const void *site, const char *what)
{
    uint8_t b = *(const uint8_t *)site;
    GUEST_CHECK(b == 0xb8, "%s: first byte %#x, expected the unpatched mov", what, b);
}

static void expect_patched(const void *site, const char *what)
{
    uint8_t b = *(const uint8_t *)site;
    if (rewrite < 0)
        GUEST_CHECK(b == 0xe9 || b == 0xb8, "%s: first byte %#x", what, b);
    else
        GUEST_CHECK(b == (rewrite ? 0xe9 : 0xb8), "%s: first byte %#x in %s mode", what, b,
                    rewrite ? "rewrite" : "unpatched");
}

/*
 * Sites of file-backed code are patched at their second trap (or before the
 * first thread starts): call twice, then expect the jmp.
 */
static void test_branch(void)
{
    long fl = RW_GETFD_ANSWER;
    GUEST_CHECK(rw_getfd() == fl, "readlink through its site, first call");
    if (rewrite == 1) {
        expect_patched_not(rw_getfd_site, "readlink site after one trap");
    }
    GUEST_CHECK(rw_getfd() == fl, "readlink through its site, second call");
    expect_patched(rw_getfd_site, "readlink site");
    GUEST_CHECK(rw_getfd() == fl, "readlink through its site, patched");
    /* The branch skips the mov: its trap patches the mov, the branch keeps trapping. */
    for (int i = 0; i < 3; i++)
        GUEST_CHECK(rw_branch_getfd() == fl, "branch to the syscall, call %d", i);
    expect_patched(rw_branch_site, "branch site");
    /* An ungated call never traps: its site stays as it is until an eager scan. */
    GUEST_CHECK(rw_getpid() == getpid() && rw_getpid() == getpid(), "getpid through its site");
    if (rewrite == 1)
        expect_patched_not(rw_getpid_site, "getpid site after two calls");
}

static void test_regs(void)
{
    uint64_t in[12], out[15];
    for (int i = 0; i < 12; i++)
        in[i] = 0x1000100010001ULL * (uint64_t)(i + 3);
    rw_regs(out, in);
    rw_regs(out, in);
    expect_patched(rw_regs_site, "regs site");
    rw_regs(out, in);
    GUEST_CHECK((long)out[0] == -EINVAL, "result %ld", (long)out[0]);
    GUEST_CHECK(out[1] == 16, "%llu of 16 red-zone words survived", (unsigned long long)out[1]);
    for (int i = 0; i < 12; i++)
        GUEST_CHECK(out[2 + i] == in[i], "register %d: %#llx, expected %#llx", i,
                    (unsigned long long)out[2 + i], (unsigned long long)in[i]);
    GUEST_CHECK((out[14] & (RW_FLAG_CF | RW_FLAG_DF)) == (RW_FLAG_CF | RW_FLAG_DF),
                "flags %#llx lost CF or DF", (unsigned long long)out[14]);
}

static void test_fork(void)
{
    pid_t self = getpid();
    (void)rw_getfd();
    (void)rw_getfd();
    expect_patched(rw_getfd_site, "readlink site");
    /* The second fork goes through the site its first one patched. */
    for (int round = 0; round < 2; round++) {
        long r = rw_fork();
        if (r > 0 && round == 1)
            expect_patched(rw_fork, "fork site");
        if (r == 0) {
            /* The child returns through the stub on its own copy of the stack. */
            _exit(rw_getpid() != self && rw_getppid() == self ? 42 : 1);
        }
        GUEST_CHECK(r > 0, "fork through a site: %ld", r);
        int st;
        GUEST_CHECK(waitpid((pid_t)r, &st, 0) == r, "waitpid");
        GUEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "child status %#x", st);
    }
}

/* rt_sigprocmask from a patched site goes to the kernel, SIGSYS stripped from the set. */
static volatile int usr1;

static void on_usr1(int sig)
{
    usr1++;
}

static void test_sigprocmask(void)
{
    struct sigaction sa = { .sa_handler = on_usr1 };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    uint64_t set = 1ULL << (SIGUSR1 - 1), old = 0, cur = 0;
    for (int round = 0; round < 2; round++) {
        GUEST_CHECK(rw_sigprocmask(SIG_BLOCK, &set, &old, 8) == 0, "block through a site");
        GUEST_CHECK(!(old & set), "SIGUSR1 blocked before");
        GUEST_CHECK(rw_sigprocmask(SIG_BLOCK, NULL, &cur, 8) == 0 && (cur & set), "mask read back");
        raise(SIGUSR1);
        GUEST_CHECK(usr1 == round, "blocked SIGUSR1 delivered");
        GUEST_CHECK(rw_sigprocmask(SIG_UNBLOCK, &set, NULL, 8) == 0, "unblock through a site");
        GUEST_CHECK(usr1 == round + 1, "pending SIGUSR1 not delivered on unblock");
        expect_patched(rw_sigprocmask_site, "sigprocmask site");
    }
}

/*
 * Virtualized calls through a patched site still meet the dispatcher: the
 * trampoline's image cannot be unmapped, nor can a stub page.
 */
static void test_protected(void)
{
    void *image = (void *)0x6f0000000000ULL; /* SBX_TRAMPOLINE_BASE */
    long expect = rewrite < 0 ? 1 : rewrite || trap_mode ? -EINVAL : 0;
    for (int round = 0; round < 2; round++) {
        long r = rw_munmap(image, 4096);
        if (expect == 1)
            GUEST_CHECK(r == 0 || r == -EINVAL, "munmap of the image: %ld", r);
        else
            GUEST_CHECK(r == expect, "munmap of the image: %ld, expected %ld", r, expect);
    }
    expect_patched(rw_munmap_site, "munmap site");
    if (rewrite != 1)
        return;
    int32_t rel;
    memcpy(&rel, rw_getfd_site + 1, 4);
    uintptr_t stub = (uintptr_t)rw_getfd_site + 5 + (intptr_t)rel;
    void *page = (void *)(stub & ~(uintptr_t)4095);
    GUEST_CHECK(munmap(page, 4096) == -1 && errno == EINVAL, "munmap of a stub page");
    GUEST_CHECK(mprotect(page, 4096, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
                "mprotect of a stub page");
    GUEST_CHECK(mmap(page, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
                        MAP_FAILED &&
                    errno == ENOMEM,
                "MAP_FIXED over a stub page");
}

static const uint8_t jit_getpid[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 };
/*
 * xor %edi,%edi; mov $1,%esi; then the site of munmap(NULL, 1), a gated
 * call, at 7; ret; nop, so that the zeros after it decode to the page's end
 * (the sweep of anonymous code must land on it).
 */
static const uint8_t jit_getfd[] = { 0x31, 0xff, 0xbe, 1, 0,    0,    0,    0xb8,
                                     11,   0,    0,    0, 0x0f, 0x05, 0xc3, 0x90 };
#define JIT_GETFD_SITE 7

static uint8_t *jit_code(int prot_after, const uint8_t *code, size_t len)
{
    uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    GUEST_CHECK(p != MAP_FAILED, "mmap");
    memcpy(p, code, len);
    GUEST_CHECK(mprotect(p, 4096, prot_after) == 0, "mprotect %#x", prot_after);
    return p;
}

static uint8_t *jit(int prot_after)
{
    return jit_code(prot_after, jit_getpid, sizeof(jit_getpid));
}

static void test_jit(void)
{
    uint8_t *p = jit_code(PROT_READ | PROT_EXEC, jit_getfd, sizeof(jit_getfd));
    expect_patched(p + JIT_GETFD_SITE, "JIT code");
    GUEST_CHECK(((long (*)(void))p)() == munmap(NULL, 1), "JIT munmap");
    GUEST_CHECK(munmap(p, 4096) == 0, "munmap");
    /* An ungated call's site is left alone: it goes to the kernel faster as it is. */
    p = jit(PROT_READ | PROT_EXEC);
    if (rewrite >= 0)
        GUEST_CHECK(p[0] == 0xb8, "JIT getpid site patched");
    GUEST_CHECK(((long (*)(void))p)() == getpid(), "JIT getpid");
    GUEST_CHECK(munmap(p, 4096) == 0, "munmap");
}

static void test_rwx(void)
{
    uint8_t *p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    GUEST_CHECK(p != MAP_FAILED, "mmap RWX");
    memcpy(p, jit_getpid, sizeof(jit_getpid));
    GUEST_CHECK(((long (*)(void))p)() == getpid(), "RWX getpid");
    GUEST_CHECK(p[0] == 0xb8, "RWX code was rewritten");
    /* And made RWX by mprotect, then written again. */
    uint8_t *q = jit(PROT_READ | PROT_WRITE | PROT_EXEC);
    q[1] = 110;
    GUEST_CHECK(((long (*)(void))q)() == getppid(), "RWX by mprotect");
    GUEST_CHECK(q[0] == 0xb8, "RWX code was rewritten");
}

static void *nothing(void *arg)
{
    return arg;
}

/* Once threads exist, code made executable by mprotect is only proven. */
static void test_lazy_in_child(void)
{
    pthread_t t;
    GUEST_CHECK(pthread_create(&t, NULL, nothing, NULL) == 0, "pthread_create");
    GUEST_CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    uint8_t *p = jit_code(PROT_READ | PROT_EXEC, jit_getfd, sizeof(jit_getfd));
    uint8_t *site = p + JIT_GETFD_SITE;
    long fl = munmap(NULL, 1);
    GUEST_CHECK(site[0] == 0xb8, "code other threads may run was patched in place");
    GUEST_CHECK(((long (*)(void))p)() == fl, "JIT munmap with threads");
    pid_t child = fork();
    if (child == 0) {
        /* A site of a gated call is patched at its second trap in the child. */
        long first = ((long (*)(void))p)();
        long second = ((long (*)(void))p)();
        int patched = site[0] == 0xe9;
        long third = ((long (*)(void))p)();
        int ok = first == fl && second == fl && third == fl && (rewrite < 0 || patched == rewrite);
        _exit(ok ? 43 : 1);
    }
    int st;
    GUEST_CHECK(waitpid(child, &st, 0) == child, "waitpid");
    GUEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 43, "lazy patch in the child: status %#x", st);
    GUEST_CHECK(site[0] == 0xb8, "the child's patch leaked into the parent");
}

int main(int argc, char **argv)
{
    guest_name = "rw-sites";
    if (argc > 1) {
        rewrite = !strcmp(argv[1], "rewrite");
        trap_mode = !strcmp(argv[1], "trap");
    }
    test_branch();
    test_regs();
    test_fork();
    test_sigprocmask();
    test_protected();
    test_jit();
    test_rwx();
    test_lazy_in_child();
    return guest_pass();
}
