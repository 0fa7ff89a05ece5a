/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the lifecycle commands (ps, logs, wait, stop, kill, rm, inspect)
 * share: one request to a running sandboxd, and its answer.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/connect.h"
#include "proto/proto.h"

#define SBX_CTL_EXIT_ERROR 125 /* as run's: sandboxd refused, or could not be reached */

/* Connects (cmd names the command in messages) and sends the request; 0 or -errno. */
int sbx_ctl_request(struct sbx_conn *conn, const char *socket, const char *cmd, uint16_t type,
                    const char *target, uint32_t flags, uint32_t value);
/*
 * Reads the next frame into *f; an ERROR is printed (prefixed by cmd) and
 * gives -errno, as does a closed connection.  1 with a frame.
 */
int sbx_ctl_recv(int fd, const char *cmd, struct sbx_frame *f);
/*
 * A REPLY's document (*ret_more: another REPLY follows, as in PS's answer;
 * may be NULL where none may follow); an ERROR or anything else is printed;
 * -errno then.
 */
int sbx_ctl_reply(int fd, const char *cmd, json_object **ret, bool *ret_more);
/* The status sandboxctl run would have exited with, with its line on stderr if any. */
int sbx_ctl_exit_status(const struct sbx_msg_exit *m, const char *cmd);
/* For option parsing: a decimal number in [0, max], or -EINVAL. */
int sbx_ctl_parse_uint(const char *s, uint32_t max, uint32_t *ret);
