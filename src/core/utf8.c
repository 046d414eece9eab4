/* utf8.c: UTF-8 well-formedness (see utf8.h). */
#include "core/utf8.h"

int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    int len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if ((size_t)len > n)
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (c == 0xed && p[1] >= 0xa0 && p[1] <= 0xbf)
        return (p[2] & 0xc0) == 0x80 ? -1 : 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}
