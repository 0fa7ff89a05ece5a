/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode on "syscall sites": a `syscall` whose eax does not come from
 * a `mov $imm32,%eax` right before it (a register, `xor %eax,%eax`).  Such a
 * site at S is patched into `jmp rel8` to a slot, 5 bytes of dead alignment
 * padding within rel8 reach that become `jmp rel32` to the site's stub; so a
 * patched site holds 0xeb at S and 0xe9 at S + 2 + (int8_t)S[1].  File-backed
 * sites are patched at their second trap while single-threaded, and all of
 * them when the first thread starts.  The hand-written functions below
 * (symbols, so known instruction starts) end with `ret` (or `jmp`) followed
 * by `.p2align 4`: the assembler's multi-byte nops there are the slots.
 *
 * Only the syscalls the trampoline gates trap, so lazy patching is driven
 * by gated calls with a known answer (munmap(-1), EINVAL).  In order,
 * single-threaded: a register site used as a generic syscall (getpid,
 * getppid, gettid, munmap; patched at its second trap); a `xor %eax,%eax`
 * read site (read is not gated: it stays a syscall, eager pass included); a branch straight to the
 * `syscall` of a patched site, and a site only ever reached by such a branch; registers, all
 * arithmetic flags, DF and the red zone across a patched site; numbers the fast path must not
 * handle (1000, -1, 511, 512, high bits set, rt_sigreturn from a signal
 * restorer that jumps into the register site, with registers kept across
 * the signal); a site with no padding within 200 bytes, sites whose only
 * padding in reach is a branch target, one whose only nops in reach are the
 * executed entry of the next function (all stay syscalls and keep working,
 * the nops stay nops); two sites sharing one padding (disjoint slots, or
 * none for the second when there is room for one); fork through a patched
 * site.  Then threads: sites called once or never are patched when the
 * first thread starts (the eager pass), and a signal storm while the main
 * thread calls getppid through a patched site, plus a blocking read through
 * the read site interrupted by SIGALRM.
 *
 *   rw-syscalls [MODE]    MODE: trap, rewrite or native (what to expect);
 *                         without it either state of a site is accepted,
 *                         results are still checked
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#include "guest.h"
#include "rw-regs.h"
#include "rw-storm.h"
#include "layout.h"

/* A function symbol, 16-byte aligned. */
#define FN(name)                                                                                   \
    ".p2align 4\n"                                                                                 \
    ".globl " #name "\n"                                                                           \
    ".type " #name ",@function\n" #name ":\n"
#define LABEL(name) ".globl " #name "\n" #name ":\n"
/*
 * The function's end (after its last instruction): NAME_end; then the
 * assembler's padding up to the next 16-byte boundary, NAME_padend.
 */
#define END(name)                                                                                  \
    LABEL(name##_end)                                                                              \
    ".size " #name ", .-" #name "\n"                                                               \
    ".p2align 4\n" LABEL(name##_padend)

/* Sites that get a slot in their own trailing padding. */
/* clang-format off */
__asm__(".text\n"
        /* long rws_sys1(nr, a1): a generic one-argument syscall. */
        FN(rws_sys1)
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        LABEL(rws_sys1_site)
        "    syscall\n"
        "    ret\n"
        END(rws_sys1)

        /* long rws_read(fd, buf, n), like glibc's read. */
        FN(rws_read)
        "    xor %eax, %eax\n"
        LABEL(rws_read_site)
        "    syscall\n"
        "    ret\n"
        END(rws_read)

        /* getppid by a branch straight to the syscall of rws_sys1. */
        FN(rws_branch_getppid)
        "    mov $110, %eax\n"
        "    jmp rws_sys1_site\n"
        END(rws_branch_getppid)

        /* A site never called: only reached by the branch below. */
        FN(rws_sys0)
        "    mov %rdi, %rax\n"
        LABEL(rws_sys0_site)
        "    syscall\n"
        "    ret\n"
        END(rws_sys0)

        /* munmap(-1) (a gated call: only those trap) by a branch. */
        FN(rws_branch_close)
        "    mov $-1, %edi\n"
        "    mov $11, %eax\n"
        "    jmp rws_sys0_site\n"
        END(rws_branch_close)

        /* Signal restorer: rt_sigreturn through the register site. */
        FN(rws_restorer)
        "    mov $15, %edi\n"
        "    jmp rws_sys1\n"
        END(rws_restorer)

        /* For the eager pass: one called once, one never before the thread. */
        FN(rws_once)
        "    mov %rdi, %rax\n"
        LABEL(rws_once_site)
        "    syscall\n"
        "    ret\n"
        END(rws_once)

        FN(rws_never)
        "    mov %rdi, %rax\n"
        LABEL(rws_never_site)
        "    syscall\n"
        "    ret\n"
        END(rws_never));
/* clang-format on */

/*
 * void rws_regs(out, in): rw_regs of rw-asm.h with the number in a register:
 * fills its 16 red-zone words and rbx, rbp, r12-r15, rdi, rsi, rdx, r8-r10
 * from in[0..11], sets DF, OF, SF, ZF, AF, PF and CF as in in[13] (rflags
 * bits; sahf for the low byte), loads rax from rcx (= in[12]) right before
 * the syscall and stores into out[]: [0] the result, [1] the red-zone words
 * (of 16) that kept their value, [2..13] the registers in the order of in[],
 * [14] the flags after the syscall.  The site is followed by a few
 * instructions and a jmp to the rest (rws_regs_tail), so that the padding
 * after that jmp is in rel8 reach.
 */
/* clang-format off */
__asm__(".text\n"
        FN(rws_regs)
        RW_REGS_ENTER
        "    mov 104(%rax), %r11\n" /* the flags wanted */
        "    mov 96(%rax), %rcx\n"  /* nr */
        "    bt $10, %r11\n"
        "    jnc 5f\n"
        "    std\n"
        "    jmp 6f\n"
        "5:  cld\n"
        "6:  bt $11, %r11\n"
        "    jnc 7f\n"
        "    mov $0x7f, %al\n"
        "    add $1, %al\n" /* OF = 1 */
        "    jmp 8f\n"
        "7:  xor %eax, %eax\n" /* OF = 0 */
        "8:  mov %r11, %rax\n"
        "    mov %al, %ah\n"
        "    sahf\n"
        "    mov %rcx, %rax\n"
        LABEL(rws_regs_site)
        "    syscall\n"
        /* Flags first, from below the red zone. */
        "    lea -128(%rsp), %rsp\n"
        "    pushf\n"
        "    pop %rcx\n"
        "    lea 128(%rsp), %rsp\n"
        "    cld\n"
        /* rel32, so that 14 bytes of padding follow (a rel8 leaves one). */
        "    {disp32} jmp rws_regs_tail\n"
        END(rws_regs)

        FN(rws_regs_tail)
        RW_REGS_RETURN
        END(rws_regs_tail));
/* clang-format on */

/*
 * Sites without a usable slot.  The fillers (lea on rcx/r11, which the
 * syscall clobbers anyway) contain no padding bytes.
 *
 * rws_noslot(nr, a1): 224 bytes of code on each side of its syscall, so the
 * nearest padding (before the function, after its ret) is out of reach.
 *
 * rws_padtarget(nr, a1, through): the only padding in reach, eight 90s right
 * after the site's ret, is the target of a jnz (taken when through != 0);
 * that path runs the nops and 80 lea and returns 80.  rws_padmid: the same
 * with a jmp into the middle of the eight nops (the fourth).  rws_entrysite:
 * the only nops in reach are the entry of the next function (below).
 */
#define FILL40(reg) ".rept 40\n    lea 1(" reg "), " reg "\n.endr\n"
/* clang-format off */
__asm__(".text\n"
        FN(rws_noslot)
        ".rept 56\n    lea 1(%r11), %r11\n.endr\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        LABEL(rws_noslot_site)
        "    syscall\n"
        ".rept 56\n    lea 1(%rcx), %rcx\n.endr\n"
        "    ret\n"
        END(rws_noslot)

        FN(rws_padtarget)
        "    xor %ecx, %ecx\n"
        FILL40("%rcx")
        "    test %rdx, %rdx\n"
        "    jnz 1f\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        LABEL(rws_padtarget_site)
        "    syscall\n"
        "    ret\n"
        LABEL(rws_padtarget_pad)
        "1:\n"
        ".rept 8\n    nop\n.endr\n"
        FILL40("%rcx")
        "    mov %rcx, %rax\n"
        "    ret\n"
        END(rws_padtarget)

        FN(rws_padmid)
        "    xor %ecx, %ecx\n"
        FILL40("%rcx")
        "    test %rdx, %rdx\n"
        "    jz 2f\n"
        "    jmp 1f\n"
        "2:  mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        LABEL(rws_padmid_site)
        "    syscall\n"
        "    ret\n"
        LABEL(rws_padmid_pad)
        "    nop\n"
        "    nop\n"
        "    nop\n"
        "1:  nop\n"
        "    nop\n"
        "    nop\n"
        "    nop\n"
        "    nop\n"
        FILL40("%rcx")
        "    mov %rcx, %rax\n"
        "    ret\n"
        END(rws_padmid)

        /*
         * rws_entryfn starts with eight executed nops (as
         * -fpatchable-function-entry leaves them) right after the ret of
         * rws_entrysite, with no alignment in between: they follow a ret
         * but are live code.  rws_entryfn() returns 40 + 1.
         */
        FN(rws_entrysite)
        "    xor %ecx, %ecx\n"
        FILL40("%rcx")
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        LABEL(rws_entrysite_site)
        "    syscall\n"
        "    ret\n"
        LABEL(rws_entrysite_end)
        ".size rws_entrysite, .-rws_entrysite\n"
        ".globl rws_entryfn\n.type rws_entryfn,@function\n"
        "rws_entryfn:\n"
        ".rept 8\n    nop\n.endr\n"
        "    xor %ecx, %ecx\n"
        FILL40("%rcx")
        "    lea 1(%rcx), %rax\n"
        "    ret\n"
        END(rws_entryfn));
/* clang-format on */

/*
 * Two sites sharing the one padding in their reach (the function's
 * trailing padding; 4n bytes of filler keep the padding before the
 * function away): rws_pairNAME(nr, a1, which) goes through site a when
 * which == 0, else through site b.  17 + 4n bytes of code: n = 40 leaves 15
 * bytes of padding (room for two slots), n = 42 leaves 7 (room for one).
 * rws_fence keeps the C code that follows (and its padding) out of reach.
 */
/* clang-format off */
#define PAIR(name, n)                                                                              \
    FN(name)                                                                                       \
    ".rept " #n "\n    lea 1(%r11), %r11\n.endr\n"                                                 \
    "    mov %rdi, %rax\n"                                                                         \
    "    mov %rsi, %rdi\n"                                                                         \
    "    test %rdx, %rdx\n"                                                                        \
    "    jnz 1f\n"                                                                                 \
    LABEL(name##_a)                                                                                \
    "    syscall\n"                                                                                \
    "    ret\n"                                                                                    \
    "1:\n"                                                                                         \
    LABEL(name##_b)                                                                                \
    "    syscall\n"                                                                                \
    "    ret\n"                                                                                    \
    END(name)
__asm__(".text\n"
        PAIR(rws_pair, 40)
        PAIR(rws_pair_eager, 40)
        PAIR(rws_pair_tight, 42)
        FN(rws_fence)
        FILL40("%rcx")
        "    ret\n"
        END(rws_fence));
/* clang-format on */

long rws_sys1(long nr, long a1);
long rws_read(long fd, void *buf, long n);
long rws_branch_getppid(void);
long rws_sys0(long nr);
long rws_branch_close(void);
void rws_restorer(void);
long rws_once(long nr);
long rws_never(long nr);
void rws_regs(uint64_t *out, const uint64_t *in);
long rws_noslot(long nr, long a1);
long rws_padtarget(long nr, long a1, long through);
long rws_padmid(long nr, long a1, long through);
long rws_entrysite(long nr, long a1);
long rws_pair(long nr, long a1, long which);
long rws_pair_tight(long nr, long a1, long which);
long rws_pair_eager(long nr, long a1, long which);
long rws_entryfn(void);

#define SITE(name) extern const uint8_t name##_site[], name##_end[], name##_padend[]
SITE(rws_sys1);
SITE(rws_read);
SITE(rws_sys0);
SITE(rws_regs);
SITE(rws_once);
SITE(rws_never);
SITE(rws_noslot);
SITE(rws_padtarget);
SITE(rws_padmid);
extern const uint8_t rws_entrysite_site[], rws_entrysite_end[], rws_entryfn_end[];
#define PAIR_SITES(name) extern const uint8_t name##_a[], name##_b[], name##_end[], name##_padend[]
PAIR_SITES(rws_pair);
PAIR_SITES(rws_pair_tight);
PAIR_SITES(rws_pair_eager);
extern const uint8_t rws_padtarget_pad[], rws_padmid_pad[];

#define CODE(fn) ((const uint8_t *)(uintptr_t)(fn))

/* The flags a syscall keeps and rws_regs sets: OF DF SF ZF AF PF CF. */
#define RW_FLAGS 0xcd5

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

static int rewrite = -1; /* -1: unknown (no MODE) */
static const char *mode_name = "unknown";
static pid_t self, parent, main_tid;

/* ---- site bytes ---- */

/*
 * An address the compiler cannot reason about: it takes distinct symbols for
 * distinct objects and may fold comparisons between them.
 */
static intptr_t addr(const void *p)
{
    intptr_t a = (intptr_t)p;
    __asm__("" : "+r"(a));
    return a;
}

static const uint8_t *slot_of(const uint8_t *s)
{
    return s + 2 + (int8_t)s[1];
}

/* Still `0f 05`, in every mode. */
static void expect_unpatched(const uint8_t *s, const char *what)
{
    GUEST_CHECK(s[0] == 0x0f && s[1] == 0x05, "%s: bytes %02x %02x, expected the unpatched syscall",
                what, s[0], s[1]);
}

/*
 * Patched in rewrite mode (eb rel8 to a slot holding e9, the slot not over
 * the function's own code [lo, hi)), `0f 05` in trap and native mode, either
 * without MODE.
 */
static void expect_site(const uint8_t *s, const uint8_t *lo, const uint8_t *hi, const char *what)
{
    if (s[0] == 0xeb) {
        const uint8_t *p = slot_of(s);
        GUEST_CHECK(rewrite != 0, "%s: patched (eb %02x) in %s mode", what, s[1], mode_name);
        GUEST_CHECK(p[0] == 0xe9, "%s: jmp rel8 to %p, which holds %#x, not jmp rel32", what,
                    (const void *)p, p[0]);
        GUEST_CHECK(addr(p) + 5 <= addr(lo) || addr(p) >= addr(hi),
                    "%s: slot %p over the function's code [%p, %p)", what, (const void *)p,
                    (const void *)lo, (const void *)hi);
        return;
    }
    GUEST_CHECK(s[0] == 0x0f && s[1] == 0x05, "%s: bytes %02x %02x, neither syscall nor jmp rel8",
                what, s[0], s[1]);
    GUEST_CHECK(rewrite != 1, "%s: still a syscall in rewrite mode", what);
}

/* After one trap (lazy patching waits for the second): unpatched when MODE is known. */
static void expect_first(const uint8_t *s, const char *what)
{
    if (rewrite >= 0)
        expect_unpatched(s, what);
}

/* The layout as designed: >= 5 bytes of padding after the function, in rel8 reach. */
static void expect_room(const uint8_t *site, const uint8_t *end, const uint8_t *padend,
                        const char *what)
{
    intptr_t s = addr(site), e = addr(end), pe = addr(padend);
    GUEST_CHECK(pe - e >= 5, "%s: %ld bytes of padding after the function", what, (long)(pe - e));
    GUEST_CHECK(e >= s + 2 && e - (s + 2) <= 127, "%s: padding %ld bytes after the site", what,
                (long)(e - (s + 2)));
}

/* The padding nearest to the site (before fn, at or after end) is out of rel8 reach. */
static void expect_no_room(const uint8_t *fn, const uint8_t *site, const uint8_t *end, long margin,
                           const char *what)
{
    intptr_t f = addr(fn), s = addr(site), e = addr(end);
    GUEST_CHECK(s - f >= margin && e - (s + 2) >= margin,
                "%s: %ld bytes of code before the site, %ld after", what, (long)(s - f),
                (long)(e - (s + 2)));
}

/* ---- 1: a register site ---- */

static void test_reg_site(void)
{
    expect_room(rws_sys1_site, rws_sys1_end, rws_sys1_padend, "register site");
    expect_unpatched(rws_sys1_site, "register site before any call");
    /* Only gated calls trap, so two of them patch the site. */
    long r = rws_sys1(SYS_getpid, 0);
    GUEST_CHECK(r == self, "getpid through the register site: %ld, expected %d", r, self);
    expect_first(rws_sys1_site, "register site after an ungated call");
    r = rws_sys1(SYS_munmap, -1);
    GUEST_CHECK(r == -EINVAL, "munmap(-1) through the register site: %ld", r);
    expect_first(rws_sys1_site, "register site after one trap");
    r = rws_sys1(SYS_munmap, -1);
    GUEST_CHECK(r == -EINVAL, "munmap(-1) through the register site: %ld", r);
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site after two traps");
    for (int i = 0; i < 5; i++) {
        r = rws_sys1(SYS_gettid, 0);
        GUEST_CHECK(r == main_tid, "gettid through the register site: %ld, expected %d", r,
                    main_tid);
        r = rws_sys1(SYS_getpid, 0);
        GUEST_CHECK(r == self, "getpid through the register site: %ld", r);
        r = rws_sys1(SYS_getppid, 0);
        GUEST_CHECK(r == parent, "getppid through the register site: %ld", r);
    }
    /* An argument: munmap(-1) is EINVAL. */
    r = rws_sys1(SYS_munmap, -1);
    GUEST_CHECK(r == -EINVAL, "munmap(-1) through the register site: %ld", r);
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");
}

/* ---- 2: a xor %eax,%eax site ---- */

static void test_read_site(void)
{
    static const char *const msgs[] = { "first", "second call", "third, patched", "4" };
    int p[2];
    char buf[32];
    expect_room(rws_read_site, rws_read_end, rws_read_padend, "read site");
    GUEST_CHECK(pipe(p) == 0, "pipe");
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(msgs[i]);
        GUEST_CHECK(write(p[1], msgs[i], n) == (ssize_t)n, "write");
        memset(buf, 0, sizeof(buf));
        long r = rws_read(p[0], buf, sizeof(buf));
        GUEST_CHECK(r == (long)n && !memcmp(buf, msgs[i], n),
                    "read %d through the site: %ld '%.32s'", i, r, buf);
        /* read is not gated: it never traps, and no pass patches its known number. */
        expect_first(rws_read_site, "read site");
    }
    long r = rws_read(-1, buf, 1);
    GUEST_CHECK(r == -EBADF, "read(-1) through the site: %ld", r);
    r = rws_read(p[0], buf, 0);
    GUEST_CHECK(r == 0, "read of 0 bytes through the site: %ld", r);
    close(p[0]);
    close(p[1]);
}

/* ---- 3: branches straight to a site's syscall ---- */

static void test_branch(void)
{
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");
    for (int i = 0; i < 3; i++) {
        long r = rws_branch_getppid();
        GUEST_CHECK(r == parent, "getppid by a branch to the patched site, call %d: %ld", i, r);
    }
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site after branches");

    /* A site only ever reached by a branch is patched at its second trap too. */
    expect_room(rws_sys0_site, rws_sys0_end, rws_sys0_padend, "branch-only site");
    long r = rws_branch_close();
    GUEST_CHECK(r == -EINVAL, "munmap(-1) by a branch, first call: %ld", r);
    expect_first(rws_sys0_site, "branch-only site after one call");
    for (int i = 0; i < 3; i++) {
        r = rws_branch_close();
        GUEST_CHECK(r == -EINVAL, "munmap(-1) by a branch, call %d: %ld", i + 1, r);
        expect_site(rws_sys0_site, CODE(rws_sys0), rws_sys0_end, "branch-only site");
    }
}

/* ---- 4: registers, flags and red zone ---- */

static void regs_call(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t flags,
                      long expect, const char *what)
{
    uint64_t in[14], out[15];
    for (int i = 0; i < 12; i++)
        in[i] = 0x1000100010001ULL * (uint64_t)(i + 3) ^ (nr << 56);
    in[6] = a0;
    in[7] = a1;
    in[8] = a2;
    in[12] = nr;
    in[13] = flags;
    memset(out, 0xee, sizeof(out));
    rws_regs(out, in);
    GUEST_CHECK((long)out[0] == expect, "%s: result %ld, expected %ld", what, (long)out[0], expect);
    GUEST_CHECK(out[1] == 16, "%s: %llu of 16 red-zone words survived", what,
                (unsigned long long)out[1]);
    for (int i = 0; i < 12; i++)
        GUEST_CHECK(out[2 + i] == in[i], "%s: register %d: %#llx, expected %#llx", what, i,
                    (unsigned long long)out[2 + i], (unsigned long long)in[i]);
    GUEST_CHECK((out[14] & RW_FLAGS) == (flags & RW_FLAGS), "%s: flags %#llx, expected %#llx", what,
                (unsigned long long)(out[14] & RW_FLAGS), (unsigned long long)(flags & RW_FLAGS));
}

/* OF DF SF ZF AF PF CF all set, none, and two mixtures. */
static const uint64_t flag_sets[] = { RW_FLAGS, 0, 0x841, 0x494 };

static void test_regs(void)
{
    expect_room(rws_regs_site, rws_regs_end, rws_regs_padend, "regs site");
    /* Gated calls, which trap and so patch the site; munmap(-1) is EINVAL. */
    regs_call(SYS_munmap, (uint64_t)-1, 8, 9, RW_FLAGS, -EINVAL, "regs, first call");
    expect_first(rws_regs_site, "regs site after one call");
    regs_call(SYS_munmap, (uint64_t)-1, 8, 9, 0, -EINVAL, "regs, second call");
    expect_site(rws_regs_site, CODE(rws_regs), rws_regs_end, "regs site");
    for (int i = 0; i < 8; i++)
        regs_call(SYS_getpid, 7, 8, 9, flag_sets[i % 4], self, "regs, patched");
    /* With arguments: kill(self, 0). */
    regs_call(SYS_kill, (uint64_t)self, 0, 0x5555, RW_FLAGS, 0, "regs, kill(self, 0)");
    expect_site(rws_regs_site, CODE(rws_regs), rws_regs_end, "regs site");
}

/* ---- 5: numbers the fast path does not handle ---- */

struct kernel_sigaction {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static volatile int usr1_hits, usr1_bad;

static void on_usr1_raw(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (sig != SIGUSR1 || si->si_signo != SIGUSR1)
        usr1_bad++;
    if (rws_sys1(SYS_getpid, 0) != self)
        usr1_bad++;
    usr1_hits++;
}

static uint64_t lcg(uint64_t v)
{
    return v * 6364136223846793005ULL + 1442695040888963407ULL;
}

static void test_unhandled(void)
{
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");
    /*
     * (Not 0x40000000 and up, -1 excepted: a libseccomp policy such as the
     * launcher's kills x32 numbers, which natively fail with ENOSYS.)
     */
    static const long enosys[] = { 1000, -1, 511, 512 };
    for (size_t i = 0; i < sizeof(enosys) / sizeof(enosys[0]); i++) {
        long r = rws_sys1(enosys[i], 0);
        GUEST_CHECK(r == -ENOSYS, "nr %ld through the register site: %ld, expected -ENOSYS",
                    enosys[i], r);
    }
    /*
     * High bits above the 32 the kernel looks at: getpid on kernels that take
     * the number as an int (5.x and later), -ENOSYS on older ones.
     */
    long r = rws_sys1((1L << 32) | SYS_getpid, 0);
    GUEST_CHECK(r == self || r == -ENOSYS, "nr 1<<32|getpid through the register site: %ld", r);
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");

    /* rt_sigreturn through the (patched) register site, from a restorer. */
    struct kernel_sigaction ka = {
        .handler = on_usr1_raw,
        .flags = SA_SIGINFO | SA_RESTORER,
        .restorer = rws_restorer,
        .mask = 0,
    };
    r = syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 8);
    GUEST_CHECK(r == 0, "rt_sigaction with a restorer: %ld", r);
    struct kernel_sigaction back;
    r = syscall(SYS_rt_sigaction, SIGUSR1, NULL, &back, 8);
    GUEST_CHECK(r == 0 && back.restorer == rws_restorer && back.handler == on_usr1_raw,
                "rt_sigaction read back");

    /* raise: a value kept in registers across the signals. */
    uint64_t v = 0x243f6a8885a308d3ULL, sum = 0;
    for (int i = 0; i < 8; i++) {
        v = lcg(v);
        GUEST_CHECK(raise(SIGUSR1) == 0, "raise");
        GUEST_CHECK(usr1_hits == i + 1, "%d signals handled after %d raise", usr1_hits, i + 1);
        sum += v ^ (uint64_t)i;
    }
    uint64_t v2 = 0x243f6a8885a308d3ULL, sum2 = 0;
    for (int i = 0; i < 8; i++) {
        v2 = lcg(v2);
        sum2 += v2 ^ (uint64_t)i;
    }
    GUEST_CHECK(v == v2 && sum == sum2, "values across the signals: %#llx/%#llx, %#llx/%#llx",
                (unsigned long long)v, (unsigned long long)v2, (unsigned long long)sum,
                (unsigned long long)sum2);

    /* tgkill from the patched regs site: registers, flags and red zone survive. */
    for (int i = 0; i < 4; i++) {
        int before = usr1_hits;
        regs_call(SYS_tgkill, (uint64_t)self, (uint64_t)main_tid, SIGUSR1, flag_sets[i], 0,
                  "regs, tgkill(self, SIGUSR1)");
        GUEST_CHECK(usr1_hits == before + 1, "signal from the regs site not handled");
    }
    GUEST_CHECK(usr1_bad == 0, "%d wrong values in the handler", usr1_bad);
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site after sigreturns");
    signal(SIGUSR1, SIG_DFL);
}

/* ---- 6 and 7: sites without a usable slot ---- */

static void expect_nops(const uint8_t *p, const char *what)
{
    for (int i = 0; i < 8; i++)
        GUEST_CHECK(p[i] == 0x90, "%s: byte %d of the padding is %#x", what, i, p[i]);
}

static void check_unslotted(void)
{
    expect_unpatched(rws_noslot_site, "site without padding in reach");
    expect_unpatched(rws_padtarget_site, "site whose padding is a jnz target");
    expect_unpatched(rws_padmid_site, "site whose padding is a jmp target");
    expect_nops(rws_padtarget_pad, "jnz target");
    expect_nops(rws_padmid_pad, "jmp target");
    expect_unpatched(rws_entrysite_site, "site whose padding is a function's entry");
    expect_nops(CODE(rws_entryfn), "function entry");
}

static void test_no_slot(void)
{
    expect_no_room(CODE(rws_noslot), rws_noslot_site, rws_noslot_end, 200, "noslot");
    expect_no_room(CODE(rws_padtarget), rws_padtarget_site, rws_padtarget_end, 140, "padtarget");
    expect_no_room(CODE(rws_padmid), rws_padmid_site, rws_padmid_end, 140, "padmid");
    expect_no_room(CODE(rws_entrysite), rws_entrysite_site, rws_entryfn_end, 140, "entrysite");
    GUEST_CHECK(addr(rws_entrysite_end) == addr(CODE(rws_entryfn)),
                "entry nops not right after the ret");
    check_unslotted();
    for (int i = 0; i < 100; i++) {
        long r = rws_noslot(i & 1 ? SYS_getppid : SYS_getpid, 0);
        GUEST_CHECK(r == (i & 1 ? parent : self), "no-slot site, call %d: %ld", i, r);
        r = rws_padtarget(SYS_getpid, 0, 0);
        GUEST_CHECK(r == self, "padtarget site, call %d: %ld", i, r);
        r = rws_padmid(SYS_getppid, 0, 0);
        GUEST_CHECK(r == parent, "padmid site, call %d: %ld", i, r);
        if (i % 10 == 0) {
            r = rws_padtarget(SYS_getpid, 0, 1);
            GUEST_CHECK(r == 80, "path through the jnz target padding: %ld", r);
            r = rws_padmid(SYS_getpid, 0, 1);
            GUEST_CHECK(r == 80, "path through the jmp target padding: %ld", r);
        }
        r = rws_entrysite(SYS_getppid, 0);
        GUEST_CHECK(r == parent, "entrysite site, call %d: %ld", i, r);
        r = rws_entryfn();
        GUEST_CHECK(r == 41, "function with entry nops: %ld", r);
        r = rws_noslot(SYS_munmap, -1);
        GUEST_CHECK(r == -EINVAL, "munmap(-1) through the no-slot site: %ld", r);
        check_unslotted();
    }
}

/* ---- two sites, one padding ---- */

/* The layout as designed: padding of lo..hi bytes, the only one in reach of a and b. */
static void expect_pair_room(const uint8_t *fn, const uint8_t *a, const uint8_t *b,
                             const uint8_t *end, const uint8_t *padend, long lo, long hi,
                             const char *what)
{
    long pad = (long)(addr(padend) - addr(end));
    GUEST_CHECK(pad >= lo && pad <= hi, "%s: %ld bytes of padding, expected %ld..%ld", what, pad,
                lo, hi);
    GUEST_CHECK(addr(b) == addr(a) + 3 && addr(end) == addr(b) + 3, "%s: sites not at the end",
                what);
    GUEST_CHECK(addr(a) - addr(fn) >= 140, "%s: %ld bytes of code before the sites", what,
                (long)(addr(a) - addr(fn)));
}

/*
 * Both patched in rewrite mode (b_may_stay: b may also stay a syscall), to
 * disjoint slots in the padding.
 */
static void expect_pair(const uint8_t *a, const uint8_t *b, const uint8_t *fn, const uint8_t *end,
                        const uint8_t *padend, int b_may_stay, const char *what)
{
    expect_site(a, fn, end, what);
    if (!b_may_stay || b[0] == 0xeb)
        expect_site(b, fn, end, what);
    else
        expect_unpatched(b, what);
    intptr_t e = addr(end), pe = addr(padend);
    for (int i = 0; i < 2; i++) {
        const uint8_t *s = i ? b : a;
        if (s[0] != 0xeb)
            continue;
        intptr_t p = addr(slot_of(s));
        GUEST_CHECK(p >= e && p + 5 <= pe, "%s: slot of %c at %+ld, outside the padding [0, %ld)",
                    what, "ab"[i], (long)(p - e), (long)(pe - e));
    }
    if (a[0] != 0xeb || b[0] != 0xeb)
        return;
    intptr_t pa = addr(slot_of(a)), pb = addr(slot_of(b));
    GUEST_CHECK(pa + 5 <= pb || pb + 5 <= pa, "%s: overlapping slots %+ld and %+ld", what,
                (long)(pa - e), (long)(pb - e));
}

static void test_pairs(void)
{
    expect_pair_room(CODE(rws_pair), rws_pair_a, rws_pair_b, rws_pair_end, rws_pair_padend, 10, 15,
                     "pair");
    expect_pair_room(CODE(rws_pair_tight), rws_pair_tight_a, rws_pair_tight_b, rws_pair_tight_end,
                     rws_pair_tight_padend, 5, 9, "tight pair");
    /* a patched first, then b: b gets the rest of the padding, or (tight) nothing. */
    for (int i = 0; i < 4; i++) {
        /* munmap(-1): a gated call, which traps and so patches. */
        GUEST_CHECK(rws_pair(SYS_munmap, -1, 0) == -EINVAL, "pair, site a, call %d", i);
        GUEST_CHECK(rws_pair_tight(SYS_munmap, -1, 0) == -EINVAL, "tight pair, site a, call %d", i);
    }
    expect_site(rws_pair_a, CODE(rws_pair), rws_pair_end, "pair, site a");
    expect_site(rws_pair_tight_a, CODE(rws_pair_tight), rws_pair_tight_end, "tight pair, site a");
    expect_first(rws_pair_b, "pair, site b before its calls");
    expect_first(rws_pair_tight_b, "tight pair, site b before its calls");
    for (int i = 0; i < 4; i++) {
        GUEST_CHECK(rws_pair(SYS_munmap, -1, 1) == -EINVAL, "pair, site b, call %d", i);
        GUEST_CHECK(rws_pair_tight(SYS_munmap, -1, 1) == -EINVAL, "tight pair, site b, call %d", i);
        GUEST_CHECK(rws_pair(SYS_gettid, 0, 0) == main_tid, "pair, site a again");
        GUEST_CHECK(rws_pair_tight(SYS_gettid, 0, 0) == main_tid, "tight pair, site a again");
    }
    expect_pair(rws_pair_a, rws_pair_b, CODE(rws_pair), rws_pair_end, rws_pair_padend, 0, "pair");
    expect_site(rws_pair_tight_a, CODE(rws_pair_tight), rws_pair_tight_end, "tight pair, site a");
    expect_unpatched(rws_pair_tight_b, "tight pair, site b (no room left)");
}

/* ---- 8: fork ---- */

static void test_fork(void)
{
    for (int round = 0; round < 2; round++) {
        long r = rws_sys1(SYS_fork, 0);
        if (r == 0) {
            /* The child returns through the stub on its own copy of the stack. */
            int ok = rws_sys1(SYS_getppid, 0) == self && rws_sys1(SYS_getpid, 0) != self &&
                     rws_sys1(SYS_getpid, 0) == getpid();
            _exit(ok ? 42 : 1);
        }
        GUEST_CHECK(r > 0, "fork through the register site: %ld", r);
        int st;
        GUEST_CHECK(waitpid((pid_t)r, &st, 0) == r, "waitpid");
        GUEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "child status %#x", st);
        expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site after fork");
    }
}

/* ---- 10: the eager pass at the first thread ---- */

static void *eager_thread(void *arg)
{
    long *out = arg;
    out[0] = rws_once(SYS_gettid);
    out[1] = gettid();
    out[2] = rws_never(SYS_getpid);
    return NULL;
}

static void test_eager(void)
{
    expect_room(rws_once_site, rws_once_end, rws_once_padend, "once site");
    expect_room(rws_never_site, rws_never_end, rws_never_padend, "never site");
    expect_pair_room(CODE(rws_pair_eager), rws_pair_eager_a, rws_pair_eager_b, rws_pair_eager_end,
                     rws_pair_eager_padend, 10, 15, "eager pair");
    long r = rws_once(SYS_getpid);
    GUEST_CHECK(r == self, "getpid through the once site: %ld", r);
    expect_first(rws_once_site, "site called once");
    expect_first(rws_never_site, "site not called");
    expect_first(rws_pair_eager_a, "eager pair, site a");
    expect_first(rws_pair_eager_b, "eager pair, site b");
    long out[3] = { 0 };
    pthread_t t;
    GUEST_CHECK(pthread_create(&t, NULL, eager_thread, out) == 0, "pthread_create");
    /* The first thread started: every site with a slot is patched now. */
    expect_site(rws_once_site, CODE(rws_once), rws_once_end, "site called once, after the thread");
    expect_site(rws_never_site, CODE(rws_never), rws_never_end,
                "site never called, after the thread");
    /*
     * Lazily, b finds a's slot written (e9 and 90s) and takes the 90s; the
     * eager pass proves both on the original bytes, where the rest of the
     * nop a's slot starts in may not be a candidate: b may stay.
     */
    expect_pair(rws_pair_eager_a, rws_pair_eager_b, CODE(rws_pair_eager), rws_pair_eager_end,
                rws_pair_eager_padend, 1, "eager pair");
    GUEST_CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    GUEST_CHECK(out[0] == out[1] && out[0] > 0 && out[0] != main_tid,
                "gettid in the thread through the once site: %ld, expected %ld", out[0], out[1]);
    GUEST_CHECK(out[2] == self, "getpid in the thread through the never site: %ld", out[2]);
    GUEST_CHECK(rws_once(SYS_getppid) == parent, "getppid through the once site");
    GUEST_CHECK(rws_never(SYS_gettid) == main_tid, "gettid through the never site");
    /* The eager pass leaves the sites without a slot alone too. */
    check_unslotted();
    GUEST_CHECK(rws_noslot(SYS_getpid, 0) == self, "no-slot site with threads");
    GUEST_CHECK(rws_padtarget(SYS_getpid, 0, 1) == 80, "jnz target path with threads");
    GUEST_CHECK(rws_padmid(SYS_getppid, 0, 0) == parent, "padmid site with threads");
    GUEST_CHECK(rws_entrysite(SYS_getpid, 0) == self, "entrysite site with threads");
    GUEST_CHECK(rws_entryfn() == 41, "function with entry nops, with threads");
    check_unslotted();
    GUEST_CHECK(rws_pair_eager(SYS_getpid, 0, 0) == self, "eager pair, site a");
    GUEST_CHECK(rws_pair_eager(SYS_getppid, 0, 1) == parent, "eager pair, site b");
    /* The tight pair's b, refused while single-threaded, is refused by the eager pass too. */
    expect_unpatched(rws_pair_tight_b, "tight pair, site b, with threads");
    GUEST_CHECK(rws_pair_tight(SYS_getpid, 0, 1) == self, "tight pair, site b, with threads");
    GUEST_CHECK(rws_pair_tight(SYS_getppid, 0, 0) == parent, "tight pair, site a, with threads");
}

/* ---- 9: signals while in the stub or the fast entry ---- */

static long sys_getppid(void)
{
    return rws_sys1(SYS_getppid, 0);
}

static long sys_getpid(void)
{
    return rws_sys1(SYS_getpid, 0);
}

static void test_signals(void)
{
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");
    struct storm cfg = { .call = sys_getppid, .want = getppid(), .getpid = sys_getpid };
    if (rws_sys1_site[0] == 0xeb) {
        const uint8_t *p = slot_of(rws_sys1_site);
        int32_t rel;
        memcpy(&rel, p + 1, 4);
        cfg.stub_lo = (uintptr_t)p + 5 + (intptr_t)rel;
        cfg.stub_hi = cfg.stub_lo + 64;
    }
    storm_run(&cfg);
    if (rewrite == 1)
        GUEST_CHECK(storm_in_tramp + storm_in_stub > 0,
                    "no signal interrupted the stub or the fast path");

    /* A blocking read through the read site, which even the eager pass left a syscall. */
    expect_unpatched(rws_read_site, "read site after the eager pass");
    storm_blocking_read(rws_read);
    expect_unpatched(rws_read_site, "read site");
    expect_site(rws_sys1_site, CODE(rws_sys1), rws_sys1_end, "register site");
}

int main(int argc, char **argv)
{
    guest_name = "rw-syscalls";
    if (argc > 1) {
        mode_name = argv[1];
        rewrite = !strcmp(argv[1], "rewrite");
    }
    self = getpid();
    parent = getppid();
    main_tid = gettid();
    /* Single-threaded: sites are patched at their second trap. */
    test_reg_site();
    test_read_site();
    test_branch();
    test_regs();
    test_unhandled();
    test_no_slot();
    test_pairs();
    test_fork();
    /* The first thread: the eager pass.  Then threads and signals. */
    test_eager();
    test_signals();
    return guest_pass();
}
