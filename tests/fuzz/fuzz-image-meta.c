/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what the daemon reads of a built image
 * (daemon/image-config.c, image/meta.c): the file is the caller's, so its
 * footer, JSON and site map are hostile.  Whatever is accepted has a
 * NULL-terminated argv of the counts given, and Env entries of KEY=VALUE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/image-config.h"
#include "image/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    struct sbx_image_config cfg;
    struct sbx_error e = { 0 };
    if (sbx_image_config_read(fd, &cfg, &e) == 0) {
        for (size_t i = 0; i < cfg.n_env; i++)
            if (!strchr(cfg.env[i], '='))
                abort();
        if ((cfg.entrypoint && cfg.entrypoint[cfg.n_entrypoint]) ||
            (cfg.cmd && cfg.cmd[cfg.n_cmd]) || (cfg.env && cfg.env[cfg.n_env]))
            abort();
        char *none[] = { NULL };
        char **argv = NULL;
        int n = sbx_image_config_argv(&cfg, none, 0, &argv, &e);
        if (n > 0) {
            if (argv[n] || (size_t)n != cfg.n_entrypoint + cfg.n_cmd)
                abort();
            for (int i = 0; i < n; i++)
                free(argv[i]);
            free(argv);
        }
        sbx_image_config_free(&cfg);
    } else if (!memchr(e.msg, '\0', sizeof(e.msg))) {
        abort();
    }
    void *map = NULL;
    size_t len = 0;
    e = (struct sbx_error){ 0 };
    if (sbx_image_meta_read_map(fd, &map, &len, &e) == 0 && len > SBX_IMAGE_META_MAX_MAP)
        abort();
    if (!memchr(e.msg, '\0', sizeof(e.msg)))
        abort();
    free(map);
    close(fd);
    return 0;
}
