/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the trampoline's ELF load planner (trampoline/elf-plan.c): real
 * binaries of this machine and of this build, and malformed headers derived
 * from a small valid one.
 */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "elf-plan.h"
#include "layout.h"
#include "sbx-test.h"

/* ---- helpers ---- */

struct file {
    unsigned char *buf;
    size_t len;
};

static bool read_file(const char *path, struct file *f)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    struct stat st;
    if (fstat(fileno(fp), &st) < 0 || st.st_size <= 0) {
        fclose(fp);
        return false;
    }
    f->len = (size_t)st.st_size;
    f->buf = malloc(f->len);
    bool ok = f->buf && fread(f->buf, 1, f->len, fp) == f->len;
    fclose(fp);
    return ok;
}

/* A guest program of this build, found next to this test binary. */
static bool build_path(const char *rel, char *out, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return false;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return snprintf(out, n, "%s/../guest/trampoline/%s", self, rel) < (int)n;
}

/*
 * Checks the plan against the program headers, read independently: every
 * PT_LOAD is covered by its segment's file and anonymous ranges, offsets and
 * addresses are page-aligned, the span contains everything.
 */
static void check_against_phdrs(const struct file *f, const struct sbx_elf_plan *p)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->buf;
    unsigned loads = 0;
    CU_ASSERT_EQUAL(p->phnum, eh->e_phnum);
    CU_ASSERT_EQUAL(p->entry, eh->e_entry);
    CU_ASSERT_EQUAL(p->lo % SBX_ELF_PAGE, 0);
    CU_ASSERT_EQUAL(p->hi % SBX_ELF_PAGE, 0);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(f->buf + eh->e_phoff) + i;
        if (ph->p_type == PT_INTERP) {
            CU_ASSERT_EQUAL(p->interp_off, ph->p_offset);
            CU_ASSERT_EQUAL(p->interp_len, ph->p_filesz);
        }
        if (ph->p_type != PT_LOAD)
            continue;
        const struct sbx_elf_segment *s = &p->seg[loads++];
        CU_ASSERT_EQUAL(s->map_addr % SBX_ELF_PAGE, 0);
        CU_ASSERT_EQUAL(s->file_off % SBX_ELF_PAGE, 0);
        CU_ASSERT_EQUAL(s->map_addr - s->file_off, ph->p_vaddr - ph->p_offset);
        if (ph->p_filesz)
            CU_ASSERT(s->map_addr + s->file_len >= ph->p_vaddr + ph->p_filesz);
        if (ph->p_memsz > ph->p_filesz && ph->p_filesz)
            CU_ASSERT_EQUAL(s->zero_addr, ph->p_vaddr + ph->p_filesz);
        CU_ASSERT(s->anon_addr + s->anon_len >= ph->p_vaddr + ph->p_memsz);
        CU_ASSERT(s->map_addr >= p->lo && s->anon_addr + s->anon_len <= p->hi);
        CU_ASSERT_EQUAL(s->prot, ((ph->p_flags & PF_R) ? 1 : 0) | ((ph->p_flags & PF_W) ? 2 : 0) |
                                     ((ph->p_flags & PF_X) ? 4 : 0));
    }
    CU_ASSERT_EQUAL(p->nseg, loads);
    CU_ASSERT(p->entry >= p->lo && p->entry < p->hi);
    CU_ASSERT(p->phdr_addr >= p->lo && p->phdr_addr < p->hi);
}

static void plan_file(const char *path, struct file *f, struct sbx_elf_plan *p)
{
    CU_ASSERT_FATAL(read_file(path, f));
    size_t need;
    CU_ASSERT_EQUAL_FATAL(sbx_elf_need(f->buf, f->len, &need), 0);
    CU_ASSERT(need <= f->len);
    CU_ASSERT_EQUAL_FATAL(sbx_elf_plan(f->buf, f->len, f->len, p), 0);
    check_against_phdrs(f, p);
}

static const char *interp_of(const struct file *f, const struct sbx_elf_plan *p)
{
    if (!p->interp_len || p->interp_off + p->interp_len > f->len)
        return "";
    return (const char *)f->buf + p->interp_off;
}

/* ---- real files ---- */

static void test_busybox_static(void)
{
    struct file f;
    struct sbx_elf_plan p;
    plan_file("/bin/busybox", &f, &p);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_FIXED);
    CU_ASSERT_EQUAL(p.lo, 0x400000);
    CU_ASSERT_EQUAL(p.interp_len, 0);
    CU_ASSERT_EQUAL(p.phdr_addr, 0x400000 + ((Elf64_Ehdr *)f.buf)->e_phoff);
    CU_ASSERT_EQUAL(sbx_elf_pie_hint(&p, 0, 12345), 0);
    free(f.buf);
}

static void test_ld_so(void)
{
    struct file f;
    struct sbx_elf_plan p;
    plan_file("/lib64/ld-linux-x86-64.so.2", &f, &p);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_DYN);
    CU_ASSERT_EQUAL(p.lo, 0);
    CU_ASSERT_EQUAL(p.interp_len, 0);
    CU_ASSERT_EQUAL(sbx_elf_pie_hint(&p, 1, 12345), 0);
    free(f.buf);
}

static void test_pie_self(void)
{
    struct file f;
    struct sbx_elf_plan p;
    plan_file("/proc/self/exe", &f, &p);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_DYN);
    CU_ASSERT_STRING_EQUAL(interp_of(&f, &p), "/lib64/ld-linux-x86-64.so.2");
    free(f.buf);
}

static void test_build_programs(void)
{
    char path[PATH_MAX];
    struct file f;
    struct sbx_elf_plan p;

    /* Built with -static: a non-PIE ET_EXEC without interpreter. */
    CU_ASSERT_FATAL(build_path("tramp-fork", path, sizeof(path)));
    plan_file(path, &f, &p);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_FIXED);
    CU_ASSERT_EQUAL(p.interp_len, 0);
    free(f.buf);

    /* The dynamic variant is a PIE with the system's interpreter. */
    CU_ASSERT_FATAL(build_path("tramp-fork-dyn", path, sizeof(path)));
    plan_file(path, &f, &p);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_DYN);
    CU_ASSERT_STRING_EQUAL(interp_of(&f, &p), "/lib64/ld-linux-x86-64.so.2");
    free(f.buf);
}

static void test_pie_hint(void)
{
    struct sbx_elf_plan p = { .kind = SBX_ELF_DYN };
    for (uint64_t r = 0; r < 5000; r += 7) {
        uint64_t h = sbx_elf_pie_hint(&p, 0, r * 0x9e3779b97f4a7c15ULL);
        CU_ASSERT(h >= SBX_TRAMPOLINE_PIE_BASE && h < SBX_TRAMPOLINE_PIE_BASE + (16ULL << 30));
        CU_ASSERT_EQUAL(h % SBX_ELF_PAGE, 0);
    }
    CU_ASSERT_EQUAL(sbx_elf_pie_hint(&p, 1, 99), 0);
}

/* ---- synthesized files ---- */

#define IMG_SIZE 0x3000

/*
 * A minimal valid ET_EXEC: text at 0x401000 (file 0x1000), data+bss at
 * 0x402000 (file 0x2000), a PT_INTERP string at 0x200.
 */
struct img {
    unsigned char b[IMG_SIZE];
};

static Elf64_Ehdr *eh_of(struct img *m)
{
    return (Elf64_Ehdr *)m->b;
}

static Elf64_Phdr *ph_of(struct img *m, unsigned i)
{
    return (Elf64_Phdr *)(m->b + sizeof(Elf64_Ehdr)) + i;
}

static void make_img(struct img *m)
{
    memset(m, 0, sizeof(*m));
    Elf64_Ehdr *eh = eh_of(m);
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = 0x401010;
    eh->e_phoff = sizeof(Elf64_Ehdr);
    eh->e_ehsize = sizeof(Elf64_Ehdr);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 3;
    *ph_of(m, 0) = (Elf64_Phdr){ .p_type = PT_LOAD,
                                 .p_flags = PF_R | PF_X,
                                 .p_offset = 0x1000,
                                 .p_vaddr = 0x401000,
                                 .p_filesz = 0x800,
                                 .p_memsz = 0x800,
                                 .p_align = 0x1000 };
    *ph_of(m, 1) = (Elf64_Phdr){ .p_type = PT_LOAD,
                                 .p_flags = PF_R | PF_W,
                                 .p_offset = 0x2100,
                                 .p_vaddr = 0x402100,
                                 .p_filesz = 0x100,
                                 .p_memsz = 0x5000,
                                 .p_align = 0x1000 };
    *ph_of(m, 2) =
        (Elf64_Phdr){ .p_type = PT_INTERP, .p_flags = PF_R, .p_offset = 0x200, .p_filesz = 5 };
    memcpy(m->b + 0x200, "/x/y", 5);
}

static int plan_img(struct img *m, struct sbx_elf_plan *p)
{
    return sbx_elf_plan(m->b, sizeof(m->b), sizeof(m->b), p);
}

static void test_synth_valid(void)
{
    struct img m;
    struct sbx_elf_plan p;
    make_img(&m);
    CU_ASSERT_EQUAL_FATAL(plan_img(&m, &p), 0);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_FIXED);
    CU_ASSERT_EQUAL(p.lo, 0x401000);
    CU_ASSERT_EQUAL(p.hi, 0x408000);
    CU_ASSERT_EQUAL(p.nseg, 2);
    CU_ASSERT_EQUAL(p.interp_off, 0x200);
    CU_ASSERT_EQUAL(p.interp_len, 5);
    /* PHDRs are not inside a PT_LOAD: the kernel's fallback, lo + e_phoff. */
    CU_ASSERT_EQUAL(p.phdr_addr, 0x401000 + sizeof(Elf64_Ehdr));

    const struct sbx_elf_segment *text = &p.seg[0], *data = &p.seg[1];
    CU_ASSERT_EQUAL(text->map_addr, 0x401000);
    CU_ASSERT_EQUAL(text->file_off, 0x1000);
    CU_ASSERT_EQUAL(text->file_len, 0x1000);
    CU_ASSERT_EQUAL(text->zero_len, 0);
    CU_ASSERT_EQUAL(text->anon_len, 0);
    CU_ASSERT_EQUAL(text->prot, 5);

    CU_ASSERT_EQUAL(data->map_addr, 0x402000);
    CU_ASSERT_EQUAL(data->file_off, 0x2000);
    CU_ASSERT_EQUAL(data->file_len, 0x1000);
    CU_ASSERT_EQUAL(data->zero_addr, 0x402200);
    CU_ASSERT_EQUAL(data->zero_len, 0xe00);
    CU_ASSERT_EQUAL(data->anon_addr, 0x403000);
    CU_ASSERT_EQUAL(data->anon_len, 0x5000);
    CU_ASSERT_EQUAL(data->prot, 3);
}

static void test_synth_bss_only_and_dyn(void)
{
    struct img m;
    struct sbx_elf_plan p;
    make_img(&m);
    ph_of(&m, 1)->p_filesz = 0;
    CU_ASSERT_EQUAL_FATAL(plan_img(&m, &p), 0);
    CU_ASSERT_EQUAL(p.seg[1].file_len, 0);
    CU_ASSERT_EQUAL(p.seg[1].zero_len, 0);
    CU_ASSERT_EQUAL(p.seg[1].anon_addr, 0x402000);
    CU_ASSERT_EQUAL(p.seg[1].anon_len, 0x6000);

    /* The same layout as ET_DYN at address 0 is fine: it gets a bias. */
    make_img(&m);
    eh_of(&m)->e_type = ET_DYN;
    eh_of(&m)->e_entry = 0x1010;
    ph_of(&m, 0)->p_vaddr = 0x1000;
    ph_of(&m, 1)->p_vaddr = 0x2100;
    CU_ASSERT_EQUAL_FATAL(plan_img(&m, &p), 0);
    CU_ASSERT_EQUAL(p.kind, SBX_ELF_DYN);
    CU_ASSERT_EQUAL(p.lo, 0x1000);
    CU_ASSERT(sbx_elf_pie_hint(&p, 0, 1) != 0);
}

/* Each mutation of the valid image must be refused, and must not touch *ret. */
static void expect_bad(void (*mutate)(struct img *), const char *what)
{
    struct img m;
    struct sbx_elf_plan p;
    make_img(&m);
    mutate(&m);
    memset(&p, 0xa5, sizeof(p));
    int r = plan_img(&m, &p);
    if (r != -ENOEXEC)
        fprintf(stderr, "\n  accepted: %s (%d)\n", what, r);
    CU_ASSERT_EQUAL(r, -ENOEXEC);
    CU_ASSERT_EQUAL(p.nseg, 0xa5a5a5a5);
}

/* The mutations of the valid image, one a line where one fits. */
/* clang-format off */
static void m_magic(struct img *m) { m->b[1] = 'X'; }
static void m_class32(struct img *m) { eh_of(m)->e_ident[EI_CLASS] = ELFCLASS32; }
static void m_bigendian(struct img *m) { eh_of(m)->e_ident[EI_DATA] = ELFDATA2MSB; }
static void m_machine(struct img *m) { eh_of(m)->e_machine = EM_AARCH64; }
static void m_type_rel(struct img *m) { eh_of(m)->e_type = ET_REL; }
static void m_phentsize(struct img *m) { eh_of(m)->e_phentsize = 32; }
static void m_phnum0(struct img *m) { eh_of(m)->e_phnum = 0; }
static void m_phoff_out(struct img *m) { eh_of(m)->e_phoff = IMG_SIZE - 16; }
static void m_phoff_overflow(struct img *m) { eh_of(m)->e_phoff = UINT64_MAX - 8; }
static void m_filesz_gt_memsz(struct img *m) { ph_of(m, 0)->p_filesz = 0x900; }
static void m_offset_past_eof(struct img *m) { ph_of(m, 1)->p_offset = IMG_SIZE + 0x100; }
static void m_filesz_past_eof(struct img *m) { ph_of(m, 1)->p_filesz = IMG_SIZE; }
static void m_misaligned(struct img *m) { ph_of(m, 1)->p_vaddr = 0x402180; }
static void m_overlap(struct img *m) { ph_of(m, 1)->p_vaddr = 0x401100; ph_of(m, 1)->p_offset = 0x100; }
static void m_descending(struct img *m)
{
    ph_of(m, 1)->p_vaddr = 0x300100;
}
static void m_above_user(struct img *m)
{
    ph_of(m, 1)->p_vaddr = 0x800000002100ULL;
}
static void m_memsz_overflow(struct img *m) { ph_of(m, 1)->p_memsz = UINT64_MAX - 0x1000; }
static void m_memsz_zero(struct img *m) { ph_of(m, 1)->p_memsz = 0; ph_of(m, 1)->p_filesz = 0; }
static void m_entry_out(struct img *m) { eh_of(m)->e_entry = 0x10; }
static void m_two_interps(struct img *m)
{
    ph_of(m, 0)->p_type = PT_INTERP;
    ph_of(m, 0)->p_offset = 0x200;
    ph_of(m, 0)->p_filesz = 5;
}
static void m_interp_past_eof(struct img *m) { ph_of(m, 2)->p_offset = IMG_SIZE - 2; }
static void m_interp_huge(struct img *m) { ph_of(m, 2)->p_filesz = 8192; }
static void m_no_load(struct img *m)
{
    ph_of(m, 0)->p_type = PT_NOTE;
    ph_of(m, 1)->p_type = PT_NOTE;
}
static void m_on_trampoline(struct img *m)
{
    ph_of(m, 0)->p_vaddr = SBX_TRAMPOLINE_BASE + 0x1000;
    ph_of(m, 1)->p_vaddr = SBX_TRAMPOLINE_BASE + 0x2100;
    eh_of(m)->e_entry = SBX_TRAMPOLINE_BASE + 0x1010;
}
static void m_page_zero(struct img *m)
{
    ph_of(m, 0)->p_vaddr = 0x1000;
    ph_of(m, 1)->p_vaddr = 0x2100;
    eh_of(m)->e_entry = 0x1010;
}
static void m_too_many_loads(struct img *m)
{
    eh_of(m)->e_phnum = SBX_ELF_MAX_LOADS + 1;
    for (unsigned i = 0; i <= SBX_ELF_MAX_LOADS; i++)
        *ph_of(m, i) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R, .p_offset = 0x1000,
                                     .p_vaddr = 0x401000 + 0x10000 * i, .p_filesz = 0x10,
                                     .p_memsz = 0x10 };
}
/* clang-format on */

static void test_malformed(void)
{
    static const struct {
        void (*fn)(struct img *);
        const char *what;
    } cases[] = {
        { m_magic, "bad magic" },
        { m_class32, "ELFCLASS32" },
        { m_bigendian, "big endian" },
        { m_machine, "aarch64" },
        { m_type_rel, "ET_REL" },
        { m_phentsize, "phentsize" },
        { m_phnum0, "no program headers" },
        { m_phoff_out, "phdrs past the end" },
        { m_phoff_overflow, "phoff overflow" },
        { m_filesz_gt_memsz, "filesz > memsz" },
        { m_offset_past_eof, "offset past EOF" },
        { m_filesz_past_eof, "filesz past EOF" },
        { m_misaligned, "vaddr and offset disagree mod page" },
        { m_overlap, "overlapping segments" },
        { m_descending, "descending segments" },
        { m_above_user, "segment above user space" },
        { m_memsz_overflow, "memsz overflow" },
        { m_memsz_zero, "empty PT_LOAD" },
        { m_entry_out, "entry outside the segments" },
        { m_two_interps, "two PT_INTERP" },
        { m_interp_past_eof, "PT_INTERP past EOF" },
        { m_interp_huge, "PT_INTERP too long" },
        { m_no_load, "no PT_LOAD" },
        { m_on_trampoline, "ET_EXEC over the trampoline" },
        { m_page_zero, "ET_EXEC below mmap_min_addr" },
        { m_too_many_loads, "too many PT_LOAD" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad(cases[i].fn, cases[i].what);
}

static void test_truncated(void)
{
    struct img m;
    struct sbx_elf_plan p;
    size_t need;
    make_img(&m);
    CU_ASSERT_EQUAL(sbx_elf_need(m.b, 10, &need), -ENOEXEC);
    CU_ASSERT_EQUAL(sbx_elf_need(NULL, 0, &need), -ENOEXEC);
    CU_ASSERT_EQUAL_FATAL(sbx_elf_need(m.b, sizeof(Elf64_Ehdr), &need), 0);
    CU_ASSERT_EQUAL(need, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr));
    /* Every prefix shorter than the tables is refused; the full one is not. */
    for (size_t len = 0; len < need; len++)
        CU_ASSERT_EQUAL(sbx_elf_plan(m.b, len, sizeof(m.b), &p), -ENOEXEC);
    CU_ASSERT_EQUAL(sbx_elf_plan(m.b, need, sizeof(m.b), &p), 0);
    /* A file that ends before its segments do. */
    CU_ASSERT_EQUAL(sbx_elf_plan(m.b, sizeof(m.b), 0x2000, &p), -ENOEXEC);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_busybox_static),         SBX_TEST(test_ld_so),     SBX_TEST(test_pie_self),
        SBX_TEST(test_build_programs),         SBX_TEST(test_pie_hint),  SBX_TEST(test_synth_valid),
        SBX_TEST(test_synth_bss_only_and_dyn), SBX_TEST(test_malformed), SBX_TEST(test_truncated),
    };
    return sbx_test_main("elf-plan", tests, sizeof(tests) / sizeof(tests[0]));
}
