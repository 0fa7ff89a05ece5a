/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The config an image built by `sandboxctl image build` carries (its OCI
 * image config's Entrypoint, Cmd, Env, WorkingDir and User, image/meta.h),
 * read from the image file the client sent.  Whoever can write the file
 * wrote it: it is parsed strictly, with limits, and what it asks for goes
 * through the same checks as the caller's own options.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sbx/error.h"

/* Most strings in Entrypoint + Cmd, or in Env; longest string. */
#define SBX_IMAGE_CONFIG_MAX_STRINGS 1024
#define SBX_IMAGE_CONFIG_MAX_STRING 32768

struct sbx_image_config {
    bool present;
    char **entrypoint, **cmd, **env; /* NULL-terminated */
    size_t n_entrypoint, n_cmd, n_env;
    char *workdir, *user; /* NULL when not set, or set to "" */
    char *superblock;     /* the filesystem's superblock digest at build time, or NULL */
};

/*
 * Reads the config of the image in image_fd.  0 with present false for an
 * image without metadata; -EBADMSG with e for bad metadata.
 */
int sbx_image_config_read(int image_fd, struct sbx_image_config *cfg, struct sbx_error *e);
void sbx_image_config_free(struct sbx_image_config *cfg);

/*
 * The guest's argv: Entrypoint, then argv when the caller gave a command,
 * else Cmd.  Returns the count (NULL-terminated array in *ret), -EINVAL with
 * e when there is no command at all.
 */
int sbx_image_config_argv(const struct sbx_image_config *cfg, char **argv, size_t argc, char ***ret,
                          struct sbx_error *e);
