/* clock.c: wall-clock time and local-time text (see clock.h). */
#include "core/clock.h"

#include <stdlib.h>
#include <time.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void clock_set_zone(const char *zone)
{
    if (zone)
        setenv("TZ", zone, 1);
    else
        unsetenv("TZ");
    tzset();
}

int clock_format_local(int64_t ms, char out[20])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    out[0] = '\0';
    if (ms < CLOCK_MIN_MS || ms > CLOCK_MAX_MS || !localtime_r(&t, &tm)) return -1;
    /* a zone east or west of UTC can move the ends past 9999 or before 1970 */
    if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) return -1;
    if (strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm) != 19) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
