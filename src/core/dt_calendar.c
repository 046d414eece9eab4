/* dt_calendar.c: the civil calendar (proleptic Gregorian, H. Hinnant's
 * algorithms: days from a date and back) and calendar rounding of a local
 * time to the start of its second, minute, ..., year. */
#include "core/datetime_int.h"

#define CIVIL_YEAR_MAX INT64_C(1000000000000) /* inputs are clamped to +-this */

int64_t dt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    if (y > CIVIL_YEAR_MAX) y = CIVIL_YEAR_MAX;
    if (y < -CIVIL_YEAR_MAX) y = -CIVIL_YEAR_MAX;
    if (m < 1) m = 1;
    if (m > 12) m = 12;
    if (d > 31) d = 31;
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void dt_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    const int64_t lim = CIVIL_YEAR_MAX * 366;
    int64_t z = (days > lim ? lim : days < -lim ? -lim : days) + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    unsigned mm = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = mm;
    *y = yoe + era * 400 + (mm <= 2);
}

/* The local start (ms) of the unit holding local time L. */
int64_t dt__local_floor(int64_t L, enum dt_unit u)
{
    static const int64_t len[] = {1000, 60000, 3600000};
    if (u <= DT_HOUR) return L - floor_mod(L, len[u]);
    int64_t days = floor_div(L, MS_PER_DAY), y;
    unsigned m, d;
    if (u == DT_DAY) return days * MS_PER_DAY;
    if (u == DT_WEEK) return (days - floor_mod(days + 3, 7)) * MS_PER_DAY;
    dt_civil_from_days(days, &y, &m, &d);
    if (u == DT_QUARTER) m = (m - 1) / 3 * 3 + 1;
    if (u == DT_YEAR) m = 1;
    return dt_days_from_civil(y, m, 1) * MS_PER_DAY;
}
