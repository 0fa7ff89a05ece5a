/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl ps and inspect: what sandboxd knows of the caller's sandboxes. */
#pragma once

int sbx_cmd_ps(int argc, char **argv);
int sbx_cmd_inspect(int argc, char **argv);
