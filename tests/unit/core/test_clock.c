/* test_clock.c: clock_format_local() at and past the ends of its range, in
 * the zone clock_set_zone() loads; and the `date` text it writes reads back
 * (dt_parse in the same zone) as the instant it was written for. */
#include "core/clock.h"
#include "core/datetime.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define H ((int64_t)3600000)

/* Fills out with a marker so that an unterminated result would show. */
static int format(int64_t ms, char out[20])
{
    memset(out, 'x', 20);
    return clock_format_local(ms, out);
}

static void test_range_utc(void)
{
    char out[20];
    clock_set_zone("UTC");
    CHECK_EQ_INT(format(0, out), 0);
    CHECK_EQ_STR(out, "1970-01-01 00:00:00");
    CHECK_EQ_INT(format(CLOCK_MAX_MS, out), 0);
    CHECK_EQ_STR(out, "9999-12-31 23:59:59");
    CHECK_EQ_INT(format(1630692889000LL, out), 0);
    CHECK_EQ_STR(out, "2021-09-03 18:14:49");
}

static void test_out_of_range(void)
{
    static const int64_t bad[] = {-1,        CLOCK_MAX_MS + 1, 253402300800000LL,
                                  INT64_MAX, INT64_MIN,        -62135596800001LL};
    char out[20];
    clock_set_zone("UTC");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(format(bad[i], out), -1);
        CHECK_EQ_STR(out, "");
    }
}

/* In a zone east of UTC the last instant is already year 10000 there; west
 * of UTC the first one is still 1969. */
static void test_zone_pushes_past_9999(void)
{
    char out[20];
    clock_set_zone("Asia/Seoul");
    CHECK_EQ_INT(format(CLOCK_MAX_MS, out), -1);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(format(CLOCK_MAX_MS - 10LL * 3600 * 1000, out), 0);
    CHECK_EQ_STR(out, "9999-12-31 22:59:59");
    clock_set_zone("America/New_York");
    CHECK_EQ_INT(format(0, out), 0);
    CHECK_EQ_STR(out, "1969-12-31 19:00:00");
}

/* A name that is no zone leaves the text in UTC, as TZ=Mars/Base did,
 * whatever zone was set before; NULL is the system's zone. */
static void test_unknown_zone_is_utc(void)
{
    static const char *const unknown[] = {"Mars/Base", "../etc/passwd", "Europe", ""};
    char out[20], want[20], err[160];
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        clock_set_zone("Asia/Seoul");
        clock_set_zone(unknown[i]);
        CHECK_EQ_INT(format(1630692889000LL, out), 0);
        CHECK_EQ_STR(out, "2021-09-03 18:14:49");
    }
    struct tz *sys = NULL;
    if (tz_load(&sys, "localtime", 9, err, sizeof err) != 0) sys = NULL;
    clock_set_zone(NULL);
    CHECK_EQ_INT(format(1630692889000LL, out), 0);
    CHECK_EQ_INT(dt_format(1630692889000LL, sys ? sys : tz_utc(), "uuuu-MM-dd HH:mm:ss", want,
                           sizeof want, err, sizeof err),
                 19);
    CHECK_EQ_STR(out, want);
    tz_free(sys);
}

/* Writes ms's `date` in zone and reads it back: 0 when it reads back as ms
 * (to the second), 1 when it reads back as the other instant of an
 * overlap (the text of a fall-back hour is ambiguous: both instants write
 * it, and it reads as the earlier one, as java.time does), -1 otherwise. */
static int round_trip(const struct tz *z, int64_t ms)
{
    char out[20], again[20], err[160];
    int64_t back, want = ms - ms % 1000;
    if (clock_format_local(ms, out) != 0 || dt_parse(out, strlen(out), z, &back, err, sizeof err))
        return -1;
    if (back == want) return 0;
    if (clock_format_local(back, again) != 0 || strcmp(again, out) != 0 || back > want ||
        tz_offset(z, back) <= tz_offset(z, want))
        return -1;
    return 1;
}

static int file_exists(const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    return stat(path, &st) == 0;
}

/* Across the DST transitions of 2021 (every 5 minutes of the days around
 * them) and at random instants from 1970 to 9999, in zones with DST, with
 * half-hour DST (Lord Howe), south of the equator, and right/ zones (leap
 * seconds in the file: libc's localtime applied them, 27 s off the
 * reading side, in 2021). */
static void test_written_date_reads_back(void)
{
    static const char *const zones[] = {"UTC",
                                        "Asia/Seoul",
                                        "Europe/Berlin",
                                        "America/New_York",
                                        "Asia/Kolkata",
                                        "Australia/Lord_Howe",
                                        "America/Santiago",
                                        "right/UTC",
                                        "right/Europe/Berlin",
                                        "right/America/New_York",
                                        "right/Australia/Lord_Howe"};
    /* local days holding transitions: 2021-03-14 (US), 03-28 (EU), 04-04
     * (Lord Howe, Santiago), 09-05 (Santiago), 10-03 (Lord Howe), 10-31
     * (EU), 11-07 (US) */
    static const int64_t days[] = {1615680000000LL, 1616889600000LL, 1617494400000LL,
                                   1630800000000LL, 1633219200000LL, 1635638400000LL,
                                   1636243200000LL};
    char err[160];
    srand(12);
    for (size_t zi = 0; zi < sizeof zones / sizeof *zones; zi++) {
        struct tz *z = NULL;
        int bad = 0, overlaps = 0, r;
        if (strncmp(zones[zi], "right/", 6) == 0 && !file_exists(zones[zi])) continue;
        CHECK_EQ_INT(tz_load(&z, zones[zi], strlen(zones[zi]), err, sizeof err), 0);
        clock_set_zone(zones[zi]);
        for (size_t d = 0; z && d < sizeof days / sizeof *days; d++)
            for (int64_t ms = days[d] - 24 * H; ms < days[d] + 48 * H; ms += 300007) {
                if ((r = round_trip(z, ms)) < 0) bad++;
                overlaps += r == 1;
            }
        for (int k = 0; z && k < 20000; k++) {
            int64_t ms = (int64_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) %
                                   (uint64_t)(CLOCK_MAX_MS - 14 * H));
            if ((r = round_trip(z, ms)) < 0) bad++;
            overlaps += r == 1;
        }
        if (bad) fprintf(stderr, "  %s: %d instants read back otherwise\n", zones[zi], bad);
        CHECK_EQ_INT(bad, 0);
        /* the fall-back hours were walked: their second pass reads as the first */
        if (strstr(zones[zi], "Berlin") || strstr(zones[zi], "New_York")) CHECK(overlaps >= 12);
        tz_free(z);
    }
    clock_set_zone("UTC");
}

int main(void)
{
    RUN(test_range_utc);
    RUN(test_out_of_range);
    RUN(test_zone_pushes_past_9999);
    RUN(test_unknown_zone_is_utc);
    RUN(test_written_date_reads_back);
    clock_set_zone(NULL);
    TEST_MAIN_END();
}
