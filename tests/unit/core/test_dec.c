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
    declines("1234567890123456"); /* 16 significant digits */
    declines("9007199254740993"); /* 2^53 + 1 */
    declines("0.1234567890123456");
    declines("37.61002501514269"); /* the seed's gps: strtod's job */
    declines("1e99999999999");
}

/* Random decimals of every shape around the fast path's bounds. */
static void test_against_strtod(void)
{
    int bad = 0, answered = 0, total = 0;
    char s[64];
    for (int i = 0; i < 2000000; i++) {
        uint64_t r = next();
        int nd = 1 + (int)(r % 18);                       /* significant digits: 1..18 */
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

int main(void)
{
    RUN(test_shapes);
    RUN(test_against_strtod);
    TEST_MAIN_END();
}
