/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the OCI config translator: any bytes as a bundle's
 * config.json (and as an exec's process.json), a translation or an error
 * out, nothing leaked, and a translated seccomp profile compiles.  Seed
 * corpus: tests/unit/oci-fixtures/.
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char bundle[] = "/tmp/sbx-fuzz-oci.XXXXXX";

/* libFuzzer ends with exit(): the bundle goes then. */
static void remove_bundle(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    unlink(path);
    snprintf(path, sizeof(path), "%s/rootfs", bundle);
    rmdir(path);
    rmdir(bundle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char path[PATH_MAX];
    if (!ready) {
        if (!mkdtemp(bundle))
            abort();
        snprintf(path, sizeof(path), "%s/rootfs", bundle);
        mkdir(path, 0755);
        atexit(remove_bundle);
        ready = 1;
    }
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    struct sbx_oci_config c;
    struct sbx_error e;
    if (sbx_oci_config_load(bundle, "fuzz", size > 0 && data[0] == ' ', &c, &e) == 0) {
        int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (out < 0 || sbx_policy_export_bpf(c.policy, 0, out) < 0)
            abort();
        close(out);
        sbx_oci_config_free(&c);
    }
    struct sbx_oci_process p;
    if (sbx_oci_process_load(path, SBX_MODE_TRAP, &p, &e) == 0)
        sbx_oci_process_free(&p);
    return 0;
}
