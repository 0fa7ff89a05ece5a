/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the policy parser and the command-line options: any
 * bytes in, a policy or diagnostics out, nothing leaked.  Seed corpus:
 * policies/ and tests/unit/policy-fixtures/.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_policy *p = NULL;
    struct sbx_diags diags = { 0 };
    if (sbx_policy_parse((const char *)data, size, "fuzz.yaml", &p, &diags) == 0) {
        /* Whatever parses must also answer the daemon's questions. */
        const char *what;
        sbx_policy_needs_root(p, &what);
        struct sbx_host_features none = { 0 };
        sbx_policy_check_host(p, &none, &diags);
        /* Validation promises that a valid policy compiles. */
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || sbx_policy_export_bpf(p, SBX_POLICY_GUEST_ROOT, fd) < 0)
            abort();
        close(fd);
        sbx_policy_free(p);
    }
    /* The same bytes as one option of sandboxctl run over the default policy. */
    char *option = strndup((const char *)data, size);
    if (option && sbx_policy_new_default(&p) == 0) {
        if (sbx_policy_apply_option(p, option, &diags) == 0) {
            int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || sbx_policy_export_bpf(p, SBX_POLICY_GUEST_ROOT, fd) < 0)
                abort();
            close(fd);
        }
        sbx_policy_free(p);
    }
    free(option);
    free(sbx_diags_format(&diags));
    sbx_diags_free(&diags);
    return 0;
}
