/* test_clock.c: clock_format_local() at and past the ends of its range. */
#include "core/clock.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fills out with a marker so that an unterminated result would show. */
static int format(int64_t ms, char out[20])
{
    memset(out, 'x', 20);
    return clock_format_local(ms, out);
}

static void test_range_utc(void)
{
    char out[20];
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_EQ_INT(format(0, out), 0);
    CHECK_EQ_STR(out, "1970-01-01 00:00:00");
    CHECK_EQ_INT(format(CLOCK_MAX_MS, out), 0);
    CHECK_EQ_STR(out, "9999-12-31 23:59:59");
    CHECK_EQ_INT(format(1630692889000LL, out), 0);
    CHECK_EQ_STR(out, "2021-09-03 18:14:49");
}

static void test_out_of_range(void)
{
    static const int64_t bad[] = {-1, CLOCK_MAX_MS + 1, 253402300800000LL, INT64_MAX, INT64_MIN,
                                  -62135596800001LL};
    char out[20];
    setenv("TZ", "UTC", 1);
    tzset();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(format(bad[i], out), -1);
        CHECK_EQ_STR(out, "");
    }
}

/* In a zone east of UTC the last instant is already year 10000 there. */
static void test_zone_pushes_past_9999(void)
{
    char out[20];
    setenv("TZ", "Asia/Seoul", 1);
    tzset();
    CHECK_EQ_INT(format(CLOCK_MAX_MS, out), -1);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(format(CLOCK_MAX_MS - 10LL * 3600 * 1000, out), 0);
    CHECK_EQ_INT(strlen(out), 19);
    setenv("TZ", "UTC", 1);
    tzset();
}

int main(void)
{
    RUN(test_range_utc);
    RUN(test_out_of_range);
    RUN(test_zone_pushes_past_9999);
    TEST_MAIN_END();
}
