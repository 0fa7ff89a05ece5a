/* Daemon logging: one line per event on stderr, with a syslog priority prefix under systemd. */
#pragma once

#include <syslog.h>

#include "sbx/macro.h"

void sbx_log_init(int max_level);
void sbx_log(int level, const char *fmt, ...) _printf_(2, 3);

#define sbx_err(...) sbx_log(LOG_ERR, __VA_ARGS__)
#define sbx_warn(...) sbx_log(LOG_WARNING, __VA_ARGS__)
#define sbx_info(...) sbx_log(LOG_INFO, __VA_ARGS__)
#define sbx_debug(...) sbx_log(LOG_DEBUG, __VA_ARGS__)
