/* Unit tests for core/dec.c: dec_read() answers what strtod answers, bit for
 * bit, whenever it answers, and answers for the decimals readings carry. */
#include "core/dec.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* 1 when dec_read answered (and then as strtod), 0 when it declined. */
static int agrees(const char *s, int *bad)
{
    double d = 12345.0, want = strtod(s, NULL);
    int ok = dec_read(s, strlen(s), &d);
    if (ok && !same_bits(d, want)) {
        if (*bad < 5) fprintf(stderr, "dec_read(\"%s\") = %.17g, strtod %.17g\n", s, d, want);
        (*bad)++;
    }
    if (!ok && d != 12345.0) (*bad)++; /* *out untouched */
    return ok;
}

static void is(const char *s, double want)
{
    double d = 0;
    CHECK(dec_read(s, strlen(s), &d) == 1);
    CHECK(same_bits(d, want));
}

static void declines(const char *s)
{
    double d = 0;
    CHECK(dec_read(s, strlen(s), &d) == 0);
}

static void test_shapes(void)
{
    is("26.20", 26.2);
    is("0.12", 0.12);
    is("-7.75", -7.75);
    is("+3.5", 3.5);
    is("5.", 5.0);
    is(".5", 0.5);
    is("-0", -0.0);
    is("-0.000", -0.0);
    is("0e400", 0.0);
    is("1e22", 1e22);
    is("1E-22", 1e-22);
    is("1.5e+3", 1500.0);
    is("000123.4500", 123.45);
    is("0.0001234", 0.0001234);
    is("999999999999999", 999999999999999.0);
    is("37.61002501514", 37.61002501514);
    declines("");
    declines(".");
    declines("+");
    declines("-.");
    declines("1e");
    declines("1e+");
    declines("1.2.3");
    declines("12a");
    declines(" 12");
    declines("0x10");
    declines("inf");
    declines("nan");
    declines("1e23"); /* 10^23 is not a double */
    declines("1e-23");
    declines("1234567890123456");         /* 16 significant digits */
    declines("9007199254740993");         /* 2^53 + 1 */
    declines("12345678901234567890.5");   /* 21 significant digits */
    declines("0.0000001234567890123456"); /* 10^-22: past the 128-bit check */
#if defined(__SIZEOF_INT128__)
    is("0.1234567890123456", strtod("0.1234567890123456", NULL));
    is("37.61002501514269", 37.61002501514269); /* the seed's position */
    is("126.99636868892937", 126.99636868892937);
    is("1.2345678901234567e5", 123456.78901234567);
    is("-0.30000000000000004", -0.30000000000000004);
#endif
    declines("9007199254740993.5");                   /* above 2^53: no fraction bits to check */
    declines("0.1000000000000000055511151231257827"); /* too long: strtod */
    declines("1e99999999999");
}

/* Random decimals of every shape around the fast path's bounds. */
static void test_against_strtod(void)
{
    int bad = 0, answered = 0, total = 0;
    char s[64];
    for (int i = 0; i < 2000000; i++) {
        uint64_t r = next();
        int nd = 1 + (int)(r % 20);                       /* significant digits: 1..20 */
        int point = (int)((r >> 8) % (unsigned)(nd + 2)); /* where the point goes, if any */
        int lead = (int)((r >> 16) % 4);                  /* leading zeros */
        int expo = (r >> 20) % 3 == 0;
        int e = (int)((r >> 24) % 61) - 30;
        char *p = s;
        if ((r >> 32) % 4 == 0) *p++ = (r >> 34) % 2 ? '-' : '+';
        for (int k = 0; k < lead; k++)
            *p++ = '0';
        for (int k = 0; k < nd; k++) {
            if (k == point) *p++ = '.';
            uint64_t x = next();
            *p++ = (char)('0' + (k == 0 && lead == 0 && nd > 1 ? 1 + x % 9 : x % 10));
        }
        if (point == nd) *p++ = '.';
        if (expo) p += sprintf(p, "%c%d", (r >> 40) % 2 ? 'e' : 'E', e);
        *p = '\0';
        total++;
        answered += agrees(s, &bad);
    }
    /* readings: values of up to 4 places */
    for (int i = 0; i < 500000; i++) {
        uint64_t r = next();
        snprintf(s, sizeof s, "%.*f", (int)(r % 5), (double)(int64_t)(r >> 20) / 1e6);
        total++;
        answered += agrees(s, &bad);
    }
    CHECK_EQ_INT(bad, 0);
    /* most of these are within the fast path: a test that declined
     * everything would check nothing */
    CHECK(answered > total / 2);
    fprintf(stderr, "dec_read answered %d of %d decimals\n", answered, total);
}

/* Decimals of 19 digits around powers of two, where the gap below is
 * half the gap above (placed between the doubles in long double), and
 * exact midpoints between doubles near 2^50 (ties go to the even one). */
static void test_near_powers_of_two(void)
{
    static const long double at[] = {0.1L, 0.2L,  0.24L, 0.26L, 0.4L, 0.49L, 0.51L,
                                     0.6L, 0.74L, 0.76L, 0.9L,  1.2L, 1.6L};
    int bad = 0, answered = 0;
    char s[64];
    for (int k = -12; k <= 49; k++) {
        double d = ldexp(1, k), below = nextafter(d, 0), above = nextafter(d, INFINITY);
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            long double v[2] = {(long double)d - at[i] * ((long double)d - below),
                                (long double)d + at[i] * ((long double)above - d)};
            for (int j = 0; j < 2; j++) {
                snprintf(s, sizeof s, "%.19Lg", v[j]);
                answered += agrees(s, &bad);
                /* dec_rounds_to itself: the double strtod reads, not its
                 * neighbours */
                char e[64];
                snprintf(e, sizeof e, "%.18Le", v[j]); /* d.ddd...e+XX: 19 digits */
                uint64_t x = 0;
                for (const char *c = e; *c && *c != 'e'; c++)
                    if (*c != '.') x = x * 10 + (uint64_t)(*c - '0');
                int k = 18 - atoi(strchr(e, 'e') + 1);
                double want = strtod(e, NULL);
                if (k < 0 || k > 21) continue;
#if defined(__SIZEOF_INT128__)
                const int yes = 1, no = 0;
#else
                const int yes = -1, no = -1; /* it cannot tell there */
#endif
                bad += dec_rounds_to(x, k, want) != yes;
                bad += dec_rounds_to(x, k, nextafter(want, 0)) != no;
                bad += dec_rounds_to(x, k, nextafter(want, INFINITY)) != no;
            }
        }
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(s, sizeof s, "%.3f", ldexp(1, 50) + i * 0.25 + 0.125);
        answered += agrees(s, &bad);
    }
    CHECK_EQ_INT(bad, 0);
#if defined(__SIZEOF_INT128__)
    CHECK(answered > 20000);
#endif
}

int main(void)
{
    RUN(test_shapes);
    RUN(test_against_strtod);
    RUN(test_near_powers_of_two);
    TEST_MAIN_END();
}
