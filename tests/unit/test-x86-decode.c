/*
 * Tests of the trampoline's x86-64 length decoder (trampoline/x86-decode.c)
 * against Zydis: every executable segment of every ELF file in the Debian
 * test root filesystem (or /usr/bin and /usr/lib of the host when it has not
 * been built), a stream of random bytes, and a few hand-picked encodings.
 */
#include <Zydis/Zydis.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx-test.h"
#include "x86-decode.h"

#define TEST_ROOTFS "/var/cache/sandboxd-test/rootfs"

struct tally {
    unsigned long files, segments, compared;
    unsigned long len_differs;    /* both decode, lengths differ */
    unsigned long we_reject;      /* Zydis decodes, we say invalid */
    unsigned long zydis_rejects;  /* we decode, Zydis says invalid */
    unsigned long zydis_invalid;  /* positions Zydis could not decode */
    unsigned long shown;
};

static ZydisDecoder zydis;

static void show(const char *what, const char *file, uint64_t off, const uint8_t *p, size_t n,
                 int ours, int theirs, struct tally *t)
{
    if (t->shown++ >= (getenv("X86_DECODE_SHOW") ? 1000000UL : 20UL))
        return;
    fprintf(stderr, "%s: %s+0x%llx: ours %d zydis %d:", what, file, (unsigned long long)off, ours,
            theirs);
    for (size_t i = 0; i < n && i < 15; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

/*
 * Zydis decodes Knights Corner (Xeon Phi) and 3DNow! encodings, which no
 * host we run on executes; the trampoline refuses them, so they count as
 * undecodable here.
 */
static bool zydis_decode(const uint8_t *p, size_t n, ZydisDecodedInstruction *insn,
                         ZyanStatus *ret_st)
{
    ZyanStatus st = ZydisDecoderDecodeInstruction(&zydis, NULL, p, n, insn);
    *ret_st = st;
    if (!ZYAN_SUCCESS(st))
        return false;
    switch (insn->meta.isa_ext) {
    case ZYDIS_ISA_EXT_KNC:
    case ZYDIS_ISA_EXT_KNCE:
    case ZYDIS_ISA_EXT_KNCV:
    case ZYDIS_ISA_EXT_AMD3DNOW:
        return false;
    default:
        return insn->encoding != ZYDIS_INSTRUCTION_ENCODING_MVEX;
    }
}

/* Linear sweep with Zydis, comparing our length at each of its boundaries. */
static void compare_bytes(const char *file, uint64_t base, const uint8_t *p, size_t n,
                          struct tally *t)
{
    size_t pos = 0;
    while (pos < n) {
        ZydisDecodedInstruction insn;
        size_t avail = n - pos;
        int ours = sbx_x86_insn_len(p + pos, avail);
        ZyanStatus st;
        if (!zydis_decode(p + pos, avail, &insn, &st)) {
            t->zydis_invalid++;
            if (ours > 0 && st != ZYDIS_STATUS_NO_MORE_DATA) {
                t->zydis_rejects++;
                show("zydis rejects", file, base + pos, p + pos, avail, ours, -1, t);
            }
            pos++;
            continue;
        }
        t->compared++;
        if (ours < 0) {
            t->we_reject++;
            show("we reject", file, base + pos, p + pos, avail, ours, insn.length, t);
        } else if (ours != insn.length) {
            t->len_differs++;
            show("length differs", file, base + pos, p + pos, avail, ours, insn.length, t);
        }
        pos += insn.length;
    }
}

static void compare_elf(const char *path, struct tally *t)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff > size || eh->e_phnum > (size - eh->e_phoff) / sizeof(Elf64_Phdr)) {
        munmap(m, size);
        return;
    }
    t->files++;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) || ph[i].p_offset > size ||
            ph[i].p_filesz > size - ph[i].p_offset)
            continue;
        t->segments++;
        compare_bytes(path, ph[i].p_offset, m + ph[i].p_offset, ph[i].p_filesz, t);
    }
    munmap(m, size);
}

static void walk(const char *dir, struct tally *t)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (e->d_type == DT_DIR)
            walk(path, t);
        else if (e->d_type == DT_REG)
            compare_elf(path, t);
    }
    closedir(d);
}

static void report(const char *what, const struct tally *t)
{
    printf("x86-decode %s: %lu files, %lu executable segments, %lu instructions compared, "
           "%lu length differences, %lu rejected by us only, %lu rejected by Zydis only "
           "(%lu positions Zydis could not decode)\n",
           what, t->files, t->segments, t->compared, t->len_differs, t->we_reject,
           t->zydis_rejects, t->zydis_invalid);
}

static void test_rootfs(void)
{
    struct tally t = { 0 };
    struct stat st;
    const char *what;
    if (stat(TEST_ROOTFS "/usr/lib", &st) == 0) {
        what = TEST_ROOTFS;
        walk(TEST_ROOTFS, &t);
    } else {
        what = "host /usr/bin and /usr/lib (no test rootfs)";
        walk("/usr/bin", &t);
        walk("/usr/lib", &t);
    }
    report(what, &t);
    CU_ASSERT(t.compared > 1000000);
    CU_ASSERT_EQUAL(0, t.len_differs);
    CU_ASSERT_EQUAL(0, t.we_reject);
}

/*
 * Random bytes reach encodings compilers rarely emit.  Only lengths where
 * both decoders accept the bytes are compared: we measure invalid forms
 * (a lock prefix on a non-lockable instruction, reserved VEX opcodes) that
 * Zydis rejects.
 */
static void test_random(void)
{
    struct tally t = { 0 };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint8_t buf[64];
    for (int round = 0; round < 2000000; round++) {
        for (size_t i = 0; i < sizeof(buf); i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, 8);
        }
        ZydisDecodedInstruction insn;
        int ours = sbx_x86_insn_len(buf, sizeof(buf));
        ZyanStatus st;
        if (!zydis_decode(buf, sizeof(buf), &insn, &st))
            continue;
        t.compared++;
        if (ours < 0) {
            t.we_reject++;
            show("random: we reject", "random", 0, buf, sizeof(buf), ours, insn.length, &t);
        } else if (ours != insn.length) {
            t.len_differs++;
            show("random: length differs", "random", 0, buf, sizeof(buf), ours, insn.length, &t);
        }
    }
    report("random bytes", &t);
    CU_ASSERT_EQUAL(0, t.len_differs);
    CU_ASSERT_EQUAL(0, t.we_reject);
}

static void test_known(void)
{
    static const struct {
        uint8_t b[15];
        int len;
    } cases[] = {
        { { 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05 }, 5 },          /* mov $39,%eax */
        { { 0x0f, 0x05 }, 2 },                               /* syscall */
        { { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10 },      /* movabs */
        { { 0x66, 0xb8, 1, 2 }, 4 },                         /* mov $imm16,%ax */
        { { 0x66, 0x48, 0xc7, 0xc0, 1, 2, 3, 4 }, 8 },       /* REX.W beats 66 */
        { { 0x48, 0x66, 0xb8, 1, 2 }, 5 },                   /* REX before 66 is ignored */
        { { 0xc5, 0xf8, 0x77 }, 3 },                         /* vzeroupper */
        { { 0xc4, 0xe3, 0x79, 0x0f, 0xc1, 0x08 }, 6 },       /* vpalignr imm8 */
        { { 0x62, 0xf1, 0xfd, 0x48, 0x6f, 0x44, 0x24, 0x01 }, 8 }, /* vmovdqa64 disp8 */
        { { 0x8b, 0x04, 0x25, 1, 2, 3, 4 }, 7 },             /* SIB, no base: disp32 */
        { { 0x8b, 0x05, 1, 2, 3, 4 }, 6 },                   /* RIP-relative */
        { { 0xf7, 0xc0, 1, 2, 3, 4 }, 6 },                   /* test $imm32,%eax */
        { { 0xf7, 0xd0 }, 2 },                               /* not %eax */
        { { 0xc8, 1, 2, 3 }, 4 },                            /* enter */
        { { 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 }, 9 },             /* moffs64 */
        { { 0x0f, 0x3a, 0x0f, 0xc1, 8 }, 5 },                /* palignr */
        { { 0x06 }, -1 },                                    /* push es: invalid */
        { { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x90 }, 15 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sbx_x86_insn_len(cases[i].b, sizeof(cases[i].b));
        if (got != cases[i].len)
            fprintf(stderr, "case %zu: expected %d, got %d\n", i, cases[i].len, got);
        CU_ASSERT_EQUAL(cases[i].len, got);
    }
    /* Sixteen bytes is one too many; a cut instruction is not one. */
    static const uint8_t long16[16] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90 };
    CU_ASSERT_EQUAL(-1, sbx_x86_insn_len(long16, sizeof(long16)));
    static const uint8_t mov[5] = { 0xb8, 1, 2, 3, 4 };
    CU_ASSERT_EQUAL(-1, sbx_x86_insn_len(mov, 4));
}

int main(void)
{
    ZydisDecoderInit(&zydis, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    static const struct sbx_test tests[] = {
        SBX_TEST(test_known),
        SBX_TEST(test_random),
        SBX_TEST(test_rootfs),
    };
    return sbx_test_main("x86-decode", tests, sizeof(tests) / sizeof(tests[0]));
}
