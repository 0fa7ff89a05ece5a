/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loader: opens a program the way execve would (permissions, `#!`, the ELF
 * interpreter), plans it with elf-plan.c and maps the plan.
 *
 * Signal-safety contract: no globals; everything lives in the caller's
 * struct sbx_tramp_target or on the stack; syscalls go through the gate.
 * Reached from the SIGSYS handler through the execve check (resolve only,
 * never mapping).
 */
#include "loader.h"
#include "rewrite.h"
#include "sbx/abi.h"

#include <asm/stat.h>
#include <asm/statfs.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/stat.h>

#define ST_NOEXEC_FLAG 8

/* Checks that fd is a regular executable file on an exec-allowed mount. */
static int check_exec_file(int fd, uint64_t *ret_size)
{
    struct stat st;
    long r = sbx_sys2(__NR_fstat, fd, (long)&st);
    if (r < 0)
        return (int)r;
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
        return -EACCES;
    struct statfs sfs;
    if (sbx_sys2(__NR_fstatfs, fd, (long)&sfs) == 0 && (sfs.f_flags & ST_NOEXEC_FLAG))
        return -EACCES;
    *ret_size = (uint64_t)st.st_size;
    return 0;
}

/*
 * Reads the header tables of an ELF and plans it.  Tables beyond the first
 * 4 KiB get a temporary mapping.
 */
static int plan_fd(int fd, uint64_t size, struct sbx_elf_plan *plan)
{
    unsigned char buf[1024];
    long n = sbx_pread_full(fd, buf, sizeof(buf), 0);
    if (n < 0)
        return (int)n;
    size_t need;
    int r = sbx_elf_need(buf, (size_t)n, &need);
    if (r < 0)
        return r;
    if (need <= (size_t)n)
        return sbx_elf_plan(buf, (size_t)n, size, plan);
    if (need > size)
        return -ENOEXEC;
    long m = sbx_tramp_syscall6(__NR_mmap, 0, (long)need, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m < 0)
        return (int)m;
    n = sbx_pread_full(fd, (void *)m, need, 0);
    r = n < 0 ? (int)n : sbx_elf_plan((void *)m, (size_t)n, size, plan);
    sbx_sys2(__NR_munmap, m, (long)need);
    return r;
}

static int open_checked(const char *path, int nofollow, uint64_t *size)
{
    int flags = O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)path, flags, 0);
    if (fd < 0)
        return (int)fd;
    int r = check_exec_file((int)fd, size);
    if (r < 0) {
        sbx_sys1(__NR_close, fd);
        return r;
    }
    return (int)fd;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int sbx_tramp_parse_shebang(char *buf, size_t n, const char **interp, const char **arg)
{
    if (n < 2 || buf[0] != '#' || buf[1] != '!')
        return 0;
    size_t end = 2;
    while (end < n && buf[end] != '\n')
        end++;
    /* Like the kernel, a line without its newline is cut at the buffer's end. */
    buf[end] = '\0';
    while (end > 2 && (is_space(buf[end - 1]) || buf[end - 1] == '\r'))
        buf[--end] = '\0';
    size_t i = 2;
    while (is_space(buf[i]))
        i++;
    if (!buf[i])
        return -ENOEXEC;
    *interp = buf + i;
    while (buf[i] && !is_space(buf[i]))
        i++;
    *arg = NULL;
    if (buf[i]) {
        buf[i++] = '\0';
        while (is_space(buf[i]))
            i++;
        if (buf[i])
            *arg = buf + i;
    }
    return 1;
}

/* Plans the ELF open at fd (size bytes, checked), which t->fd takes, then its PT_INTERP. */
static int resolve_elf_fd(int fd, uint64_t size, struct sbx_tramp_target *t)
{
    t->fd = fd;
    t->err_stage = 2; /* SBX_STAGE_LOAD */
    int r = plan_fd(fd, size, &t->plan);
    if (r < 0)
        return r;
    if (!t->plan.interp_len)
        return 0;

    long n = sbx_pread_full(fd, t->interp_path, t->plan.interp_len, t->plan.interp_off);
    if (n != (long)t->plan.interp_len || t->interp_path[n - 1] != '\0')
        return -ENOEXEC;
    if (sbx_strlen(t->interp_path) + 1 != (size_t)n)
        return -ENOEXEC;
    t->err_stage = 1; /* SBX_STAGE_EXEC: a missing interpreter is ENOENT */
    int ifd = open_checked(t->interp_path, 0, &size);
    if (ifd < 0)
        return ifd;
    t->interp_fd = ifd;
    t->err_stage = 2;
    r = plan_fd(ifd, size, &t->interp_plan);
    if (r < 0)
        return r;
    /* An interpreter that wants an interpreter is not supported, as in Linux. */
    return t->interp_plan.interp_len ? -ELIBBAD : 0;
}

/* Opens and plans the ELF in t->fd's place, then its PT_INTERP. */
static int resolve_elf(const char *path, int nofollow, struct sbx_tramp_target *t)
{
    uint64_t size;
    int fd = open_checked(path, nofollow, &size);
    if (fd < 0)
        return fd;
    return resolve_elf_fd(fd, size, t);
}

int sbx_tramp_resolve(const char *path, int nofollow, struct sbx_tramp_target *t)
{
    t->fd = -1;
    t->interp_fd = -1;
    t->is_script = 0;
    t->err_stage = 1; /* SBX_STAGE_EXEC */

    uint64_t size;
    int fd = open_checked(path, nofollow, &size);
    if (fd < 0)
        return fd;
    long n = sbx_pread_full(fd, t->line, SBX_SHEBANG_MAX, 0);
    int r = n < 0 ? (int)n : sbx_tramp_parse_shebang(t->line, (size_t)n, &t->sh_interp, &t->sh_arg);
    if (r != 0) {
        sbx_sys1(__NR_close, fd);
        if (r < 0)
            return r;
        t->is_script = 1;
        r = resolve_elf(t->sh_interp, 0, t);
    } else {
        /* The file whose first bytes said ELF is the one mapped: no second lookup of path. */
        r = resolve_elf_fd(fd, size, t);
    }
    if (r < 0)
        sbx_tramp_target_close(t);
    return r;
}

void sbx_tramp_target_close(struct sbx_tramp_target *t)
{
    if (t->fd >= 0)
        sbx_sys1(__NR_close, t->fd);
    if (t->interp_fd >= 0)
        sbx_sys1(__NR_close, t->interp_fd);
    t->fd = t->interp_fd = -1;
}

/*
 * In rewrite mode a read-execute segment is mapped without PROT_EXEC, its
 * syscall sites are patched and only then does it become executable
 * (rewrite.c); startup is single-threaded, nothing runs it meanwhile.
 */
static int map_segment(int fd, uint64_t bias, const struct sbx_elf_segment *s)
{
    long r;
    int rewrite = sbx_tramp.mode == SBX_MODE_REWRITE && (s->prot & PROT_EXEC) &&
                  !(s->prot & PROT_WRITE) && s->file_len;
    if (s->file_len) {
        int prot = s->prot | (s->zero_len ? PROT_WRITE : 0);
        if (rewrite)
            prot = (prot & ~PROT_EXEC) | PROT_READ;
        r = sbx_tramp_syscall6(__NR_mmap, (long)(bias + s->map_addr), (long)s->file_len, prot,
                               MAP_PRIVATE | MAP_FIXED, fd, (long)s->file_off);
        if (r < 0)
            return (int)r;
    }
    if (s->zero_len)
        memset((void *)(bias + s->zero_addr), 0, s->zero_len);
    if (rewrite) {
        r = sbx_rw_new_code(bias + s->map_addr, s->file_len, s->prot, fd, s->file_off);
        if (r < 0)
            return (int)r;
    } else if (s->zero_len && !(s->prot & PROT_WRITE)) {
        uint64_t page = (bias + s->zero_addr) & ~(SBX_ELF_PAGE - 1);
        r = sbx_sys3(__NR_mprotect, (long)page, SBX_ELF_PAGE, s->prot);
        if (r < 0)
            return (int)r;
    }
    if (s->anon_len) {
        r = sbx_tramp_syscall6(__NR_mmap, (long)(bias + s->anon_addr), (long)s->anon_len, s->prot,
                               MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
        if (r < 0)
            return (int)r;
    }
    return 0;
}

int sbx_tramp_map_plan(int fd, const struct sbx_elf_plan *plan, int is_interp,
                       struct sbx_tramp_image *ret)
{
    uint64_t span = plan->hi - plan->lo;
    uint64_t rnd = 0;
    long r;

    sbx_sys3(__NR_getrandom, (long)&rnd, sizeof(rnd), 0);
    uint64_t hint = plan->kind == SBX_ELF_FIXED ? plan->lo : sbx_elf_pie_hint(plan, is_interp, rnd);
    int flags =
        MAP_PRIVATE | MAP_ANONYMOUS | (plan->kind == SBX_ELF_FIXED ? MAP_FIXED_NOREPLACE : 0);
    long base = sbx_tramp_syscall6(__NR_mmap, (long)hint, (long)span, PROT_NONE, flags, -1, 0);
    if (base == -EEXIST)
        return -ENOMEM;
    if (base < 0 && base > -4096)
        return (int)base;
    if (plan->kind == SBX_ELF_FIXED && (uint64_t)base != plan->lo) {
        sbx_sys2(__NR_munmap, base, (long)span);
        return -ENOMEM;
    }
    uint64_t bias = (uint64_t)base - plan->lo;
    for (unsigned i = 0; i < plan->nseg; i++) {
        r = map_segment(fd, bias, &plan->seg[i]);
        if (r < 0) {
            sbx_sys2(__NR_munmap, base, (long)span);
            return (int)r;
        }
    }
    *ret = (struct sbx_tramp_image){
        .bias = bias,
        .entry = plan->entry + bias,
        .phdr_addr = plan->phdr_addr + bias,
        .phnum = plan->phnum,
    };
    return 0;
}
