/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What --trace knows of each syscall, and its filters.  One table entry per
 * syscall: its name, one letter per argument (below), the kind of its
 * result and its strace classes.  A number without an entry prints with
 * libseccomp's name and its six arguments in hex.
 *
 * Argument letters:
 *   d int          D long          u unsigned long  x hex           p pointer
 *   f descriptor   F dirfd (AT_FDCWD)               s path (copied) b buffer (copied)
 *   o open flags   O mode after open flags (only with O_CREAT or O_TMPFILE)
 *   m mode (octal) P mmap prot     M mmap flags     a access mode   A AT_* flags
 *   S struct stat  X struct statx  t timespec       k address family
 *   T socket type  c clone flags   g signal         h sigprocmask how
 *   v argv         w wait status   W wait options   i ioctl request r prctl option
 *   l fcntl cmd    e sockaddr      n int[2]         R rlimit resource
 *   L struct rlimit                z sigset         q sigaction     U struct utsname
 *   C clock id     K madvise advice                 Y mremap flags
 *   I arch_prctl code                               G getrandom flags
 *   j O_* flags without an access mode (pipe2, dup3)
 *   E faccessat2's flags (its 0x200 is AT_EACCESS, not AT_REMOVEDIR)
 *   V iovec array (count in the next argument)      H struct msghdr  N MSG_* flags
 *   Q pollfd array (count in the next argument; the result lists revents)
 *   Z directory entries (their number)              _ not printed (preadv's pos_h)
 *   y waitid's idtype (P_*)                         J waitid's siginfo
 * Everything printed from memory comes from the record (what the trampoline
 * copied); without it, the pointer is printed in hex, as strace does for
 * memory it cannot read.
 */
#include "client/trace-fmt.h"

#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "sbx/macro.h"

#define F_ SBX_TC_FILE
#define DS SBX_TC_DESC
#define NW SBX_TC_NETWORK
#define PR SBX_TC_PROCESS
#define SG SBX_TC_SIGNAL
#define MM SBX_TC_MEMORY
#define IP SBX_TC_IPC
#define CR SBX_TC_CREDS

#define E(nr_, name_, args_, ret_, cls_) [nr_] = { name_, args_, ret_, cls_ }

static const struct sbx_trace_decl decls[512] = {
    E(SYS_read, "read", "fbu", 'd', DS),
    E(SYS_write, "write", "fbu", 'd', DS),
    E(SYS_open, "open", "soO", 'd', DS | F_),
    E(SYS_close, "close", "f", 'd', DS),
    E(SYS_stat, "stat", "sS", 'd', F_),
    E(SYS_fstat, "fstat", "fS", 'd', DS),
    E(SYS_lstat, "lstat", "sS", 'd', F_),
    E(SYS_poll, "poll", "Qud", 'd', DS),
    E(SYS_lseek, "lseek", "fDd", 'd', DS),
    E(SYS_mmap, "mmap", "puPMfx", 'x', MM | DS),
    E(SYS_mprotect, "mprotect", "puP", 'd', MM),
    E(SYS_munmap, "munmap", "pu", 'd', MM),
    E(SYS_brk, "brk", "p", 'x', MM),
    E(SYS_rt_sigaction, "rt_sigaction", "gqpu", 'd', SG),
    E(SYS_rt_sigprocmask, "rt_sigprocmask", "hzpu", 'd', SG),
    E(SYS_ioctl, "ioctl", "fix", 'd', DS),
    E(SYS_pread64, "pread64", "fbuD", 'd', DS),
    E(SYS_pwrite64, "pwrite64", "fbuD", 'd', DS),
    E(SYS_readv, "readv", "fVd", 'd', DS),
    E(SYS_writev, "writev", "fVd", 'd', DS),
    E(SYS_access, "access", "sa", 'd', F_),
    E(SYS_pipe, "pipe", "n", 'd', DS),
    E(SYS_select, "select", "dpppp", 'd', DS),
    E(SYS_sched_yield, "sched_yield", "", 'd', 0),
    E(SYS_mremap, "mremap", "puuYp", 'x', MM),
    E(SYS_madvise, "madvise", "puK", 'd', MM),
    E(SYS_dup, "dup", "f", 'd', DS),
    E(SYS_dup2, "dup2", "ff", 'd', DS),
    E(SYS_nanosleep, "nanosleep", "tp", 'd', 0),
    E(SYS_getpid, "getpid", "", 'd', PR),
    E(SYS_socket, "socket", "kTd", 'd', NW),
    E(SYS_connect, "connect", "feu", 'd', NW | DS),
    E(SYS_accept, "accept", "fpp", 'd', NW | DS),
    E(SYS_sendto, "sendto", "fbuNeu", 'd', NW | DS),
    E(SYS_recvfrom, "recvfrom", "fbuNpp", 'd', NW | DS),
    E(SYS_sendmsg, "sendmsg", "fHN", 'd', NW | DS),
    E(SYS_recvmsg, "recvmsg", "fHN", 'd', NW | DS),
    E(SYS_shutdown, "shutdown", "fd", 'd', NW | DS),
    E(SYS_bind, "bind", "feu", 'd', NW | DS),
    E(SYS_listen, "listen", "fd", 'd', NW | DS),
    E(SYS_getsockname, "getsockname", "fpp", 'd', NW | DS),
    E(SYS_getpeername, "getpeername", "fpp", 'd', NW | DS),
    E(SYS_socketpair, "socketpair", "kTdn", 'd', NW),
    E(SYS_setsockopt, "setsockopt", "fddpu", 'd', NW | DS),
    E(SYS_getsockopt, "getsockopt", "fddpp", 'd', NW | DS),
    E(SYS_clone, "clone", "cpppx", 'd', PR),
    E(SYS_fork, "fork", "", 'd', PR),
    E(SYS_vfork, "vfork", "", 'd', PR),
    E(SYS_execve, "execve", "svp", 'd', F_ | PR),
    E(SYS_exit, "exit", "d", 'd', PR),
    E(SYS_wait4, "wait4", "dwWp", 'd', PR),
    E(SYS_kill, "kill", "dg", 'd', SG | PR),
    E(SYS_uname, "uname", "U", 'd', 0),
    E(SYS_fcntl, "fcntl", "flx", 'd', DS),
    E(SYS_flock, "flock", "fd", 'd', DS),
    E(SYS_fsync, "fsync", "f", 'd', DS),
    E(SYS_fdatasync, "fdatasync", "f", 'd', DS),
    E(SYS_truncate, "truncate", "sD", 'd', F_),
    E(SYS_ftruncate, "ftruncate", "fD", 'd', DS),
    E(SYS_getdents64, "getdents64", "fZu", 'd', DS),
    E(SYS_getcwd, "getcwd", "su", 'd', F_),
    E(SYS_chdir, "chdir", "s", 'd', F_),
    E(SYS_fchdir, "fchdir", "f", 'd', DS),
    E(SYS_rename, "rename", "ss", 'd', F_),
    E(SYS_mkdir, "mkdir", "sm", 'd', F_),
    E(SYS_rmdir, "rmdir", "s", 'd', F_),
    E(SYS_creat, "creat", "sm", 'd', F_ | DS),
    E(SYS_link, "link", "ss", 'd', F_),
    E(SYS_unlink, "unlink", "s", 'd', F_),
    E(SYS_symlink, "symlink", "ss", 'd', F_),
    E(SYS_readlink, "readlink", "sbu", 'd', F_),
    E(SYS_chmod, "chmod", "sm", 'd', F_),
    E(SYS_fchmod, "fchmod", "fm", 'd', DS),
    E(SYS_chown, "chown", "sdd", 'd', F_),
    E(SYS_fchown, "fchown", "fdd", 'd', DS),
    E(SYS_lchown, "lchown", "sdd", 'd', F_),
    E(SYS_umask, "umask", "m", 'o', 0),
    E(SYS_gettimeofday, "gettimeofday", "pp", 'd', 0),
    E(SYS_getrlimit, "getrlimit", "Rp", 'd', 0),
    E(SYS_getrusage, "getrusage", "dp", 'd', 0),
    E(SYS_sysinfo, "sysinfo", "p", 'd', 0),
    E(SYS_getuid, "getuid", "", 'd', CR),
    E(SYS_getgid, "getgid", "", 'd', CR),
    E(SYS_setuid, "setuid", "d", 'd', CR),
    E(SYS_setgid, "setgid", "d", 'd', CR),
    E(SYS_geteuid, "geteuid", "", 'd', CR),
    E(SYS_getegid, "getegid", "", 'd', CR),
    E(SYS_setpgid, "setpgid", "dd", 'd', PR),
    E(SYS_getppid, "getppid", "", 'd', PR),
    E(SYS_getpgrp, "getpgrp", "", 'd', PR),
    E(SYS_setsid, "setsid", "", 'd', PR),
    E(SYS_getgroups, "getgroups", "dp", 'd', CR),
    E(SYS_getpgid, "getpgid", "d", 'd', PR),
    E(SYS_getsid, "getsid", "d", 'd', PR),
    E(SYS_rt_sigsuspend, "rt_sigsuspend", "zu", 'd', SG),
    E(SYS_sigaltstack, "sigaltstack", "pp", 'd', SG),
    E(SYS_statfs, "statfs", "sp", 'd', F_),
    E(SYS_fstatfs, "fstatfs", "fp", 'd', DS),
    E(SYS_prctl, "prctl", "rxxxx", 'd', 0),
    E(SYS_arch_prctl, "arch_prctl", "Ip", 'd', PR),
    E(SYS_gettid, "gettid", "", 'd', PR),
    E(SYS_futex, "futex", "pdxppx", 'd', 0),
    E(SYS_sched_getaffinity, "sched_getaffinity", "dup", 'd', 0),
    E(SYS_getdents, "getdents", "fZu", 'd', DS),
    E(SYS_set_tid_address, "set_tid_address", "p", 'd', 0),
    E(SYS_fadvise64, "fadvise64", "fDDd", 'd', DS),
    E(SYS_clock_gettime, "clock_gettime", "Ct", 'd', 0),
    E(SYS_clock_getres, "clock_getres", "Cp", 'd', 0),
    E(SYS_clock_nanosleep, "clock_nanosleep", "Cdtp", 'd', 0),
    E(SYS_exit_group, "exit_group", "d", 'd', PR),
    E(SYS_epoll_wait, "epoll_wait", "fpdd", 'd', DS),
    E(SYS_epoll_ctl, "epoll_ctl", "fdfp", 'd', DS),
    E(SYS_tgkill, "tgkill", "ddg", 'd', SG | PR),
    E(SYS_waitid, "waitid", "ydJWp", 'd', PR),
    E(SYS_openat, "openat", "FsoO", 'd', DS | F_),
    E(SYS_mkdirat, "mkdirat", "Fsm", 'd', DS | F_),
    E(SYS_fchownat, "fchownat", "FsddA", 'd', DS | F_),
    E(SYS_newfstatat, "newfstatat", "FsSA", 'd', DS | F_),
    E(SYS_unlinkat, "unlinkat", "FsA", 'd', DS | F_),
    E(SYS_renameat, "renameat", "FsFs", 'd', DS | F_),
    E(SYS_linkat, "linkat", "FsFsA", 'd', DS | F_),
    E(SYS_symlinkat, "symlinkat", "sFs", 'd', DS | F_),
    E(SYS_readlinkat, "readlinkat", "Fsbu", 'd', DS | F_),
    E(SYS_fchmodat, "fchmodat", "Fsm", 'd', DS | F_),
    E(SYS_faccessat, "faccessat", "Fsa", 'd', DS | F_),
    E(SYS_pselect6, "pselect6", "dppppp", 'd', DS),
    E(SYS_ppoll, "ppoll", "Quppu", 'd', DS),
    E(SYS_set_robust_list, "set_robust_list", "pu", 'd', 0),
    E(SYS_get_robust_list, "get_robust_list", "dpp", 'd', 0),
    E(SYS_utimensat, "utimensat", "FspA", 'd', DS | F_),
    E(SYS_epoll_pwait, "epoll_pwait", "fpddpu", 'd', DS),
    E(SYS_eventfd2, "eventfd2", "ux", 'd', DS),
    E(SYS_epoll_create1, "epoll_create1", "x", 'd', DS),
    E(SYS_dup3, "dup3", "ffj", 'd', DS),
    E(SYS_pipe2, "pipe2", "nj", 'd', DS),
    E(SYS_accept4, "accept4", "fppT", 'd', NW | DS),
    E(SYS_prlimit64, "prlimit64", "dRLL", 'd', 0),
    E(SYS_getrandom, "getrandom", "puG", 'd', 0),
    E(SYS_memfd_create, "memfd_create", "sx", 'd', DS),
    E(SYS_statx, "statx", "FsAxX", 'd', DS | F_),
    E(SYS_rseq, "rseq", "puxx", 'd', 0),
    E(SYS_clone3, "clone3", "pu", 'd', PR),
    E(SYS_close_range, "close_range", "uux", 'd', DS),
    E(SYS_openat2, "openat2", "Fspu", 'd', DS | F_),
    E(SYS_faccessat2, "faccessat2", "FsaE", 'd', DS | F_),
    E(SYS_renameat2, "renameat2", "FsFsx", 'd', DS | F_),
    E(SYS_execveat, "execveat", "FsvpA", 'd', DS | F_ | PR),
    E(SYS_sendfile, "sendfile", "ffpu", 'd', DS | NW),
    E(SYS_copy_file_range, "copy_file_range", "fpfpux", 'd', DS),
    E(SYS_setitimer, "setitimer", "dpp", 'd', 0),
    E(SYS_alarm, "alarm", "u", 'd', 0),
    E(SYS_pause, "pause", "", 'd', SG),
    E(SYS_getpriority, "getpriority", "dd", 'd', 0),
    E(SYS_setpriority, "setpriority", "ddd", 'd', 0),
    E(SYS_times, "times", "p", 'd', 0),
    E(SYS_sync, "sync", "", 'd', 0),
    E(SYS_mount, "mount", "ssspp", 'd', F_),
    E(SYS_umount2, "umount2", "sx", 'd', F_),
    E(SYS_chroot, "chroot", "s", 'd', F_),
    E(SYS_unshare, "unshare", "c", 'd', 0),
    E(SYS_setresuid, "setresuid", "ddd", 'd', CR),
    E(SYS_setresgid, "setresgid", "ddd", 'd', CR),
    E(SYS_getresuid, "getresuid", "ppp", 'd', CR),
    E(SYS_getresgid, "getresgid", "ppp", 'd', CR),
    E(SYS_capget, "capget", "pp", 'd', CR),
    E(SYS_capset, "capset", "pp", 'd', CR),
    E(SYS_shmget, "shmget", "dux", 'd', IP),
    E(SYS_shmat, "shmat", "dpx", 'x', IP | MM),
    E(SYS_shmctl, "shmctl", "ddp", 'd', IP),
    E(SYS_shmdt, "shmdt", "p", 'd', IP | MM),
    E(SYS_semget, "semget", "ddx", 'd', IP),
    E(SYS_semop, "semop", "dpu", 'd', IP),
    E(SYS_semctl, "semctl", "dddx", 'd', IP),
    E(SYS_msgget, "msgget", "dx", 'd', IP),
    E(SYS_msgsnd, "msgsnd", "dpux", 'd', IP),
    E(SYS_msgrcv, "msgrcv", "dpuDx", 'd', IP),
    E(SYS_msgctl, "msgctl", "ddp", 'd', IP),
    E(SYS_preadv, "preadv", "fVdD_", 'd', DS),
    E(SYS_pwritev, "pwritev", "fVdD_", 'd', DS),
    E(SYS_preadv2, "preadv2", "fVdD_x", 'd', DS),
    E(SYS_pwritev2, "pwritev2", "fVdD_x", 'd', DS),
    E(SYS_process_vm_readv, "process_vm_readv", "dVuVux", 'd', 0),
    E(SYS_process_vm_writev, "process_vm_writev", "dVuVux", 'd', 0),
    /* fchmodat2 (Linux 6.6) is newer than these headers. */
    E(452, "fchmodat2", "FsmA", 'd', DS | F_),
};

const struct sbx_trace_decl *sbx_trace_decl(uint32_t nr)
{
    return nr < ARRAY_SIZE(decls) && decls[nr].name ? &decls[nr] : NULL;
}

size_t sbx_trace_decl_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(decls); i++)
        n += decls[i].name != NULL;
    return n;
}

uint32_t sbx_trace_decl_nr(size_t i)
{
    for (uint32_t nr = 0; nr < ARRAY_SIZE(decls); nr++)
        if (decls[nr].name && i-- == 0)
            return nr;
    return UINT32_MAX;
}

const char *sbx_trace_name(uint32_t nr, char *buf, size_t len)
{
    const struct sbx_trace_decl *d = sbx_trace_decl(nr);
    if (d)
        return d->name;
    char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, (int)nr);
    if (s) {
        snprintf(buf, len, "%s", s);
        free(s);
    } else {
        snprintf(buf, len, "syscall_%u", nr);
    }
    return buf;
}

/* ---- filters ---- */

static const struct {
    const char *name;
    uint32_t cls;
} classes[] = {
    { "file", SBX_TC_FILE },     { "desc", SBX_TC_DESC },       { "network", SBX_TC_NETWORK },
    { "net", SBX_TC_NETWORK },   { "process", SBX_TC_PROCESS }, { "signal", SBX_TC_SIGNAL },
    { "memory", SBX_TC_MEMORY }, { "ipc", SBX_TC_IPC },         { "creds", SBX_TC_CREDS },
};

int sbx_trace_filter_parse(struct sbx_trace_filter *f, const char *spec, struct sbx_error *e)
{
    memset(f, 0, sizeof(*f));
    if (!spec || !*spec) {
        return sbx_error_set(e, EINVAL, "an empty list of syscalls");
    }
    char item[64];
    for (const char *p = spec; *p;) {
        size_t l = strcspn(p, ",");
        if (l == 0 || l >= sizeof(item)) {
            return sbx_error_set(e, EINVAL, "'%.*s': not a syscall name or class", (int)(l ? l : 1),
                                 p);
        }
        memcpy(item, p, l);
        item[l] = '\0';
        p += l + (p[l] == ',');
        if (strcmp(item, "all") == 0) {
            f->all = true;
            continue;
        }
        const char *cname = item[0] == '%' ? item + 1 : item;
        uint32_t cls = 0;
        for (size_t i = 0; i < ARRAY_SIZE(classes); i++)
            if (strcmp(cname, classes[i].name) == 0)
                cls = classes[i].cls;
        /* A bare word is a class only when no syscall has that name ("%" forces the class). */
        int nr = item[0] == '%' ? __NR_SCMP_ERROR
                                : seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, item);
        if (nr >= 0 && nr < (int)ARRAY_SIZE(f->nr)) {
            f->nr[nr] = 1;
        } else if (cls) {
            for (uint32_t k = 0; k < ARRAY_SIZE(decls); k++)
                if (decls[k].name && (decls[k].classes & cls))
                    f->nr[k] = 1;
        } else {
            return sbx_error_set(e, EINVAL,
                                 "'%s': not a syscall name or class (%%file, %%desc, %%network, "
                                 "%%process, %%signal, %%memory, %%ipc, %%creds)",
                                 item);
        }
    }
    return 0;
}

bool sbx_trace_filter_match(const struct sbx_trace_filter *f, uint32_t nr)
{
    return f->all || (nr < ARRAY_SIZE(f->nr) && f->nr[nr]);
}
