/* dec.c: short decimal text to a double (see dec.h). */
#include "core/dec.h"

#include <float.h>
#include <stdint.h>

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int dec_read(const char *s, size_t n, double *out)
{
#if FLT_EVAL_METHOD != 0
    (void)s, (void)n, (void)out;
    return 0; /* intermediate precision wider than double: two roundings */
#else
    const char *p = s, *end = s + n;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    uint64_t w = 0;
    int sig = 0, mant = 0, e10 = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, mant++) {
        if (w == 0 && *p == '0') continue; /* leading zeros are not significant */
        if (++sig > 15) return 0;
        w = w * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, mant++) {
            e10--;
            if (w == 0 && *p == '0') continue;
            if (++sig > 15) return 0;
            w = w * 10 + (uint64_t)(*p - '0');
        }
    }
    if (mant == 0) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, x = 0, xd = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++, xd++) {
            if (x > 1000) return 0; /* far outside the fast path anyway */
            x = x * 10 + (*p - '0');
        }
        if (xd == 0) return 0;
        e10 += eneg ? -x : x;
    }
    if (p != end) return 0;
    double d = (double)w; /* exact: w < 10^15 < 2^53 */
    if (w == 0) e10 = 0;  /* 0e400 is 0 */
    if (e10 < -22 || e10 > 22) return 0;
    d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
    *out = neg ? -d : d;
    return 1;
#endif
}
