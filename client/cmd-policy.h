/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl policy: offline checks of policy files. */
#pragma once

/* argv[0] is "policy".  0 when every file is valid, 2 on invalid files or bad usage. */
int sbx_cmd_policy(int argc, char **argv);
