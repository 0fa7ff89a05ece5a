/*
 * The IP-gated seccomp filter: a nine-instruction prefix that sends
 * syscalls from the gate (and rt_sigreturn, and foreign architectures) to
 * the policy and traps everything else, followed verbatim by the policy's
 * own program from SBX_FD_POLICY.  Installed once per sandbox.
 *
 * Signal-safety contract: startup only (single-threaded); the static program
 * buffer is not touched afterwards.  The startup probe deliberately traps
 * into the SIGSYS handler, which sets sbx_tramp_probe_hit.
 */
#include <asm/stat.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>

#include "tramp.h"
#include "sbx/abi.h"

#define PREFIX_LEN 9
#define SECCOMP_MODE_FILTER_VALUE 2

static struct sock_filter prog[BPF_MAXINSNS];

#define LD_ABS(off) ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define JEQ(k, jt, jf) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf)))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

/*
 * 0 ld arch            1 arch != x86_64 -> 9
 * 2 ld nr              3 nr == rt_sigreturn -> 9
 * 4 ld ip low          5 != gate low -> 8
 * 6 ld ip high         7 == gate high -> 9
 * 8 ret TRAP           9... the policy
 * The prefix does not touch anything the policy relies on: it starts with a
 * fresh accumulator and its own loads, and its jumps are relative.
 */
static void fill_prefix(struct sock_filter *p)
{
    const uint64_t gate = SBX_TRAMPOLINE_GATE_RET;
    p[0] = LD_ABS(offsetof(struct seccomp_data, arch));
    p[1] = JEQ(AUDIT_ARCH_X86_64, 0, 7);
    p[2] = LD_ABS(offsetof(struct seccomp_data, nr));
    p[3] = JEQ(__NR_rt_sigreturn, 5, 0);
    p[4] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer));
    p[5] = JEQ((uint32_t)gate, 0, 2);
    p[6] = LD_ABS(offsetof(struct seccomp_data, instruction_pointer) + 4);
    p[7] = JEQ((uint32_t)(gate >> 32), 1, 0);
    p[8] = RET(SECCOMP_RET_TRAP);
}

/* Whether our filter already runs: a syscall outside the gate must trap. */
static int ours_installed(void)
{
    if (sbx_sys1(__NR_prctl, PR_GET_SECCOMP) != SECCOMP_MODE_FILTER_VALUE)
        return 0;
    sbx_tramp_probe_hit = 0;
    sbx_tramp_probe_syscall(__NR_getppid);
    return sbx_tramp_probe_hit;
}

int sbx_tramp_setup_filter(void)
{
    if (ours_installed())
        return 0; /* a re-exec inside the sandbox */

    struct stat st;
    long r = sbx_sys2(__NR_fstat, SBX_FD_POLICY, (long)&st);
    if (r < 0)
        return (int)r;
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
        (uint64_t)st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS - PREFIX_LEN)
        return -EINVAL;
    size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
    r = sbx_pread_full(SBX_FD_POLICY, prog + PREFIX_LEN, (size_t)st.st_size, 0);
    if (r < 0)
        return (int)r;
    if ((size_t)r != (size_t)st.st_size)
        return -EINVAL;
    fill_prefix(prog);

    struct sock_fprog fprog = { .len = (unsigned short)(n + PREFIX_LEN), .filter = prog };
    r = sbx_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&fprog);
    if (r < 0)
        return (int)r;
    sbx_sys1(__NR_close, SBX_FD_POLICY);
    return 1;
}
