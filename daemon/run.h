/* A RUN request: policy, image, identity and environment turned into a sandbox. */
#pragma once

#include <stddef.h>

#include "proto/proto.h"

struct sbx_daemon;
struct sbx_client;
struct sbx_sandbox;

/* Decodes and authorizes the request and starts its sandbox; msg explains a failure. */
int sbx_run_start(struct sbx_daemon *d, struct sbx_client *c, struct sbx_frame *f,
                  struct sbx_sandbox **ret, char *msg, size_t msglen);

/* Compiles a policy's filter into a sealed memfd. */
struct sbx_policy;
int sbx_run_compile_policy(const struct sbx_policy *p, int *ret_fd);
