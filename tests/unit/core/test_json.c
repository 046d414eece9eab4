/* Unit tests for core/json.c: short reals that read back exactly, the
 * other value types as jansson writes them, and the raw splice. */
#include "core/json.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *text_of(const json_t *v, int flags)
{
    struct buf b = {0};
    json_write(&b, v, flags);
    return buf_steal(&b);
}

static void real_is(double d, const char *want)
{
    json_t *v = json_real(d);
    char *t = text_of(v, 0);
    CHECK_EQ_STR(t, want);
    free(t);
    json_decref(v);
}

static void test_reals(void)
{
    real_is(26.2, "26.2");
    real_is(0.1, "0.1");
    real_is(0.30000000000000004, "0.30000000000000004");
    real_is(1.2345678901234567, "1.2345678901234567");
    real_is(5.0, "5.0");
    real_is(-0.0, "-0.0");
    real_is(1e300, "1e+300");
    real_is(2.5e-8, "2.5e-08");
    real_is(123456789012345678.0, "1.2345678901234568e+17");
}

/* Every printed real reads back as the same double, and is never longer
 * than jansson's 17 digits. */
static void test_round_trip(void)
{
    srand(7);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        if (i % 2)
            d = (double)(rand() % 100000) / 100; /* sensor-like values */
        struct buf b = {0};
        json_write_real(&b, d);
        buf_putc(&b, '\0');
        if (strtod(b.data, NULL) != d || b.len > 26)
            bad++;
        json_t *back = json_loads(b.data, JSON_DECODE_ANY, NULL);
        if (!json_is_real(back) || json_real_value(back) != d)
            bad++;
        json_decref(back);
        buf_free(&b);
    }
    CHECK_EQ_INT(bad, 0);
}

/* json_write_real's fast paths (short decimals; then any value in
 * [1e-4, 1e15) in 128-bit integers) write exactly what printf's path
 * would, for readings of 0 to 8 places at every magnitude, averages,
 * whole numbers, the bounds of the fast paths, random bits, random
 * doubles of the second path's range, powers of two and ten and their
 * neighbours. */
static void test_fast_path_same(void)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    static const double edges[] = {
        1e-4, 0.0001, 0.00009999, 1e15, 999999999999999.0, 1e15 - 0.5,
        0.1,  0.5,    -0.0,       0.0,  123456789012345.0, 12345678901234.5,
        26.2, -26.2,  1e-5};
    uint64_t r = 99;
    long bad = 0, n = 0;
    for (long i = 0; i < 2400000; i++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        double d;
        int kind = (int)(i % 9);
        if (kind == 0) { /* a reading: k places */
            double m = (double)((r >> 11) % 100000000);
            d = m / p10[(r >> 5) % 9] * p10[(r >> 40) % 5];
        } else if (kind == 1) { /* an average of a few readings */
            int c = 1 + (int)((r >> 50) % 7);
            d = 0;
            for (int k = 0; k < c; k++)
                d += (double)((r >> (k * 5)) % 100000) / 100;
            d /= c;
        } else if (kind == 2) {
            d = (double)(int64_t)(r >> 12) / p10[(r >> 3) % 9];
        } else if (kind == 3) {
            uint64_t bits = r;
            memcpy(&d, &bits, sizeof d);
            if (!isfinite(d)) continue;
        } else if (kind == 4) {
            d = edges[i / 6 % (sizeof edges / sizeof *edges)];
            d = nextafter(d, (r & 1) ? 1e300 : -1e300);
            if (r & 2) d = edges[i / 6 % (sizeof edges / sizeof *edges)];
        } else if (kind == 5) {
            d = (double)((r >> 20) % 2000000) / 1000 - 1000; /* negative too */
        } else if (kind == 6) { /* any double of [1e-4, 1e15), evenly in log */
            d = pow(10, -4 + 19 * ((double)(r >> 11) / 9007199254740992.0));
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            bits ^= (r >> 7) & 0xfffff; /* random low mantissa bits */
            memcpy(&d, &bits, sizeof d);
        } else if (kind == 7) { /* averages of 3, 6, 7, 9, 11, 12 */
            static const int div[] = {3, 6, 7, 9, 11, 12};
            d = (double)((r >> 20) % 10000000) / 100 / div[(r >> 3) % 6];
        } else { /* powers of two and ten, and their neighbours */
            int k = (int)((r >> 8) % 64) - 14;
            d = (r >> 4) & 1 ? ldexp(1, k) : pow(10, (double)(k % 19) - 4);
            int step = (int)((r >> 16) % 5) - 2;
            for (; step > 0; step--)
                d = nextafter(d, 1e300);
            for (; step < 0; step++)
                d = nextafter(d, -1e300);
        }
        if (r & (1u << 7)) d = -d;
        char want[48];
        int wn = json__real_text_printf(want, sizeof want, d);
        if (!strpbrk(want, ".eEn")) memcpy(want + wn, ".0", 3);
        struct buf b = {0};
        json_write_real(&b, d);
        buf_putc(&b, '\0');
        n++;
        if (strcmp(b.data, want) != 0 && bad++ < 5)
            fprintf(stderr, "  %.17g: fast %s, printf %s\n", d, b.data, want);
        buf_free(&b);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(n > 2000000);
}

static void test_values(void)
{
    json_t *v = json_loads("{\"b\":[1,-2,true,false,null,\"q\\\"\\\\\\n\\u0001\"],\"a\":{}}", 0,
                           NULL);
    char *t = text_of(v, 0);
    CHECK_EQ_STR(t, "{\"b\":[1,-2,true,false,null,\"q\\\"\\\\\\n\\u0001\"],\"a\":{}}");
    /* what it writes, jansson reads back equal */
    json_t *back = json_loads(t, 0, NULL);
    CHECK(json_equal(v, back));
    json_decref(back);
    free(t);
    json_decref(v);
}

/* Without reals, the text is jansson's byte for byte: compact, indented,
 * keys sorted, any value at the top. */
static void same_as_jansson(const char *json, int flags, size_t jflags)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(v != NULL);
    char *mine = json_text(v, flags), *theirs = json_dumps(v, jflags | JSON_ENCODE_ANY);
    CHECK_EQ_STR(mine, theirs);
    free(mine);
    free(theirs);
    json_decref(v);
}

static void test_like_jansson(void)
{
    static const char *const docs[] = {
        "{\"z\":1,\"a\":[],\"m\":{},\"b\":[1,[2,{\"y\":null,\"x\":\"\\b\\f\\r\\t\\u001f\\u007f/\u00e9\"}]]}",
        "[]", "{}", "\"s\"", "42", "true", "null", "[[],[{}],{\"k\":[true,false]}]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        same_as_jansson(docs[i], 0, JSON_COMPACT);
        same_as_jansson(docs[i], JSON_WRITE_SORT_KEYS, JSON_COMPACT | JSON_SORT_KEYS);
        same_as_jansson(docs[i], JSON_WRITE_INDENT(2), JSON_INDENT(2));
        same_as_jansson(docs[i], JSON_WRITE_INDENT(4) | JSON_WRITE_SORT_KEYS,
                        JSON_INDENT(4) | JSON_SORT_KEYS);
    }
}

/* Reals come out short in every layout: 26.2, not 26.199999999999999. */
static void test_short_everywhere(void)
{
    json_t *v = json_pack("{s:f,s:[f,f]}", "t", 26.2, "a", 0.1, 5.0);
    char *t = json_text(v, JSON_WRITE_INDENT(2));
    CHECK_EQ_STR(t, "{\n  \"t\": 26.2,\n  \"a\": [\n    0.1,\n    5.0\n  ]\n}");
    free(t);
    t = json_text(v, JSON_WRITE_SORT_KEYS);
    CHECK_EQ_STR(t, "{\"a\":[0.1,5.0],\"t\":26.2}");
    free(t);
    json_decref(v);
    v = json_real(26.2);
    t = json_text(v, 0); /* a bare number, as JSON_ENCODE_ANY */
    CHECK_EQ_STR(t, "26.2");
    free(t);
    json_decref(v);
    CHECK(json_text(NULL, 0) == NULL);
}

static void test_raw_splice(void)
{
    static const char raw[] = "\0{\"value\":26.20}";
    json_t *v = json_pack("{s:o}", "_source", json_stringn(raw, sizeof raw - 1));
    char *t = text_of(v, JSON_WRITE_RAW_NUL);
    CHECK_EQ_STR(t, "{\"_source\":{\"value\":26.20}}");
    free(t);
    t = text_of(v, 0); /* without the flag, an ordinary (escaped) string */
    CHECK_EQ_STR(t, "{\"_source\":\"\\u0000{\\\"value\\\":26.20}\"}");
    free(t);
    json_decref(v);
}

int main(void)
{
    RUN(test_reals);
    RUN(test_round_trip);
    RUN(test_fast_path_same);
    RUN(test_values);
    RUN(test_like_jansson);
    RUN(test_short_everywhere);
    RUN(test_raw_splice);
    TEST_MAIN_END();
}
