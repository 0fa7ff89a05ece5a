/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl wait, stop, kill and rm: one sandbox of the caller's, by name or id. */
#pragma once

int sbx_cmd_wait(int argc, char **argv);
int sbx_cmd_stop(int argc, char **argv);
int sbx_cmd_kill(int argc, char **argv);
int sbx_cmd_rm(int argc, char **argv);
