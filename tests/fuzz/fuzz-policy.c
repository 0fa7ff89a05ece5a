/*
 * libFuzzer target for the policy parser: any bytes in, a policy or
 * diagnostics out, nothing leaked.  Seed corpus: policies/ and
 * tests/unit/policy-fixtures/.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
    free(sbx_diags_format(&diags));
    sbx_diags_free(&diags);
    return 0;
}
