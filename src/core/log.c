/* log.c: leveled logging (see log.h).
 *
 * Every message is formatted into a scratch buffer, then copied into the
 * line with its control characters escaped (log_escape), so a client value
 * that reaches a log line (a client id, a path, a key name) can neither
 * start a forged line nor drive a terminal. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

size_t log_escape(char *out, size_t cap, const char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[4];
        size_t k = 0;
        if (c >= 0x20 && c != 0x7f) {
            esc[k++] = (char)c;
        } else {
            const char *named = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t" : NULL;
            esc[k++] = '\\';
            if (named) {
                esc[k++] = named[0];
            } else {
                esc[k++] = 'x';
                esc[k++] = hex[c >> 4];
                esc[k++] = hex[c & 15];
            }
        }
        if (o + k >= cap)
            break; /* an escape is never cut in half */
        memcpy(out + o, esc, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[2048], msg[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %-5s ", (int)(tv.tv_usec / 1000),
                          names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m >= sizeof msg ? sizeof msg - 1 : (size_t)m;
    n += log_escape(line + n, sizeof line - n - 1, msg, mlen);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
