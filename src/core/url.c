/* url.c: percent-decoding (url.h). */
#include "core/url.h"

#include "core/mem.h"

#include <stdlib.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* url_decode and url_decode_segment: plus_is_space for query strings. */
static int decode(const char *s, size_t n, char *out, size_t cap, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0 || (c = hi * 16 + lo) == 0) return -1;
            i += 2;
        }
        if (o + 1 >= cap) return -2;
        out[o++] = (char)c;
    }
    if (cap == 0) return -2;
    out[o] = '\0';
    return (int)o;
}

int url_decode(const char *s, size_t n, char *out, size_t cap)
{
    return decode(s, n, out, cap, 1);
}

int url_decode_segment(const char *s, size_t n, char *out, size_t cap)
{
    return decode(s, n, out, cap, 0);
}

char *url_decode_dup(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    if (url_decode(s, n, out, n + 1) < 0) {
        free(out);
        return NULL;
    }
    return out;
}
