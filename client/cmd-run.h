/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl run: boot an image, run a program in it with the caller's stdio. */
#pragma once

int sbx_cmd_run(int argc, char **argv);
/* sandboxctl exec: one more process in a running detached sandbox. */
int sbx_cmd_exec(int argc, char **argv);
