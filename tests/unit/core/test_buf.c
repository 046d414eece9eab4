/* Unit tests for core/buf.c's integers in decimal: i64_text and
 * buf_put_i64 write what printf's %lld writes. */
#include "core/buf.h"
#include "test.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int same_as_printf(int64_t v)
{
    char want[32], got[32];
    snprintf(want, sizeof want, "%" PRId64, v);
    char *end = i64_text(got, v);
    *end = '\0';
    struct buf b = {0};
    buf_puts(&b, "x");
    buf_put_i64(&b, v);
    int ok = strcmp(got, want) == 0 && strcmp(b.data + 1, want) == 0;
    if (!ok) fprintf(stderr, "  %s: i64_text %s, buf_put_i64 %s\n", want, got, b.data + 1);
    buf_free(&b);
    return ok;
}

static void test_edges(void)
{
    static const int64_t v[] = {0,
                                1,
                                9,
                                10,
                                11,
                                99,
                                100,
                                101,
                                999,
                                1000,
                                -1,
                                -9,
                                -10,
                                -100,
                                1765069320000,
                                9007199254740993,
                                INT64_MAX,
                                INT64_MIN,
                                INT64_MIN + 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK(same_as_printf(v[i]));
    for (int64_t p = 1, k = 0; k < 18; k++, p *= 10) { /* every length, both sides of 10^k */
        CHECK(same_as_printf(p));
        CHECK(same_as_printf(p - 1));
        CHECK(same_as_printf(-p));
    }
}

static void test_random(void)
{
    uint64_t r = 7;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        int64_t v = (int64_t)(r >> (r & 63)); /* every magnitude */
        if (r & 1) v = -v;
        bad += !same_as_printf(v);
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    RUN(test_edges);
    RUN(test_random);
    TEST_MAIN_END();
}
