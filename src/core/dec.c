/* dec.c: short decimal text to a double (see dec.h). */
#include "core/dec.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int dec_rounds_to(uint64_t x, int k, double d)
{
#ifdef __SIZEOF_INT128__
    typedef unsigned __int128 u128;
    if (!(d >= DBL_MIN && d <= DBL_MAX) || k < 0 || k > 21) return -1;
    int e2;
    uint64_t m = (uint64_t)ldexp(frexp(d, &e2), 53); /* d = m * 2^-p, 2^52 <= m < 2^53 */
    int p = 53 - e2, xbits = x ? 64 - __builtin_clzll(x) : 0;
    if (p < 0 || p + 2 + xbits > 127) return -1;
    u128 p10k = 1;
    for (int i = 0; i < k; i++)
        p10k *= 10;
    /* |x / 10^k - m / 2^p| against half the gap to each neighbour, all
     * times 4 * 10^k * 2^p; below a power of two the gap is half as wide */
    u128 a = ((u128)x << p) * 4, c = (u128)m * p10k * 4;
    u128 up = c + 2 * p10k, down = c - (m == (UINT64_C(1) << 52) ? p10k : 2 * p10k);
    if (a > down && a < up) return 1;
    return (a == up || a == down) && !(m & 1); /* a tie goes to the even one */
#else
    (void)x, (void)k, (void)d;
    return -1;
#endif
}

/* x * 10^-k (16 to 19 digits) as strtod reads it: x / 10^k is within two
 * units in the last place of the answer (two roundings), so the answer is
 * the neighbour that dec_rounds_to accepts. 0: it cannot tell. */
static int long_read(uint64_t x, int k, double *out)
{
    if (k < 1 || k > 21) return 0;
    double c = (double)x / pow10_exact[k];
    c = nextafter(nextafter(c, 0), 0);
    for (int i = 0; i < 5; i++, c = nextafter(c, INFINITY)) {
        int r = dec_rounds_to(x, k, c);
        if (r < 0) return 0;
        if (r) {
            *out = c;
            return 1;
        }
    }
    return 0;
}

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
        if (++sig > 19) return 0;
        w = w * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, mant++) {
            e10--;
            if (w == 0 && *p == '0') continue;
            if (++sig > 19) return 0;
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
    if (sig > 15) { /* w < 10^19 < 2^64 */
        if (e10 >= 0 || !long_read(w, -e10, out)) return 0;
        if (neg) *out = -*out;
        return 1;
    }
    double d = (double)w; /* exact: w < 10^15 < 2^53 */
    if (w == 0) e10 = 0;  /* 0e400 is 0 */
    if (e10 < -22 || e10 > 22) return 0;
    d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
    *out = neg ? -d : d;
    return 1;
#endif
}
