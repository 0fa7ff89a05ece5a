/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bpf: a map and a two-instruction socket filter program. */
#include <linux/bpf.h>
#include <sys/syscall.h>

#include "escape.h"

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int main(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = sys_bpf(BPF_MAP_CREATE, &attr);
    esc_report("map-create", fd);
    if (fd >= 0)
        close((int)fd);

    /* r0 = 0; exit */
    struct bpf_insn insns[] = {
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
        { .code = BPF_JMP | BPF_EXIT },
    };
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (unsigned long)insns;
    attr.insn_cnt = 2;
    attr.license = (unsigned long)"GPL";
    fd = sys_bpf(BPF_PROG_LOAD, &attr);
    esc_report("prog-load", fd);
    if (fd >= 0)
        close((int)fd);
    return 0;
}
