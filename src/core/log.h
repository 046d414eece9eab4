/* log.h: leveled logging to stderr.
 *
 * The level is the one process-wide setting in gasket (a log sink is shared
 * by every server in the process by nature); everything else hangs off the
 * `struct gasket` context. Lines look like
 *   2026-11-26T06:37:01.123Z info  http: listening on 0.0.0.0:8080
 * and are written with a single write(2) so threads do not interleave.
 * Control characters in the message (bytes below 0x20 and 0x7f) are written
 * escaped, as \n, \r, \t or \xNN: a logged client value never breaks a
 * line. */
#ifndef GASKET_CORE_LOG_H
#define GASKET_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *s);
/* Copies in[0..n) to out (cap bytes, NUL included) with bytes below 0x20
 * and 0x7f escaped as \n, \r, \t or \xNN (lower-case hex); stops before
 * an escape or byte that would not fit. Returns the length written (the
 * NUL excluded). */
size_t log_escape(char *out, size_t cap, const char *in, size_t n);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
