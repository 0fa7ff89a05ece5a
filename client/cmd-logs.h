/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl logs: the output of a detached sandbox, as its daemon kept it. */
#pragma once

int sbx_cmd_logs(int argc, char **argv);
