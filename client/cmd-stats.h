/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandboxctl stats (live figures per sandbox) and status (the daemon as a whole). */
#pragma once

int sbx_cmd_stats(int argc, char **argv);
int sbx_cmd_status(int argc, char **argv);
