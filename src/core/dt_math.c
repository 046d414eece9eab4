/* dt_math.c: date math ("now-1d/d", "2021-09-03||+1M/d") as OpenSearch's
 * JavaDateMathParser: calendar units added and rounded in local time,
 * hours and less on the instant. */
#include "core/datetime_int.h"

#include "core/err.h"

#include <string.h>

/* Adds n units of y/M (months) or w/d (days) in local time, resolved as
 * java.time's ZonedDateTime.plusX does (keeping the offset in an overlap). */
static bool add_calendar(const struct tz *z, int64_t *ms, char unit, int64_t n)
{
    int32_t off = tz_offset(z, *ms);
    int64_t L = *ms + (int64_t)off * 1000, days, out;
    struct civil c = civil_of(L);
    if (unit == 'y' || unit == 'M') {
        int64_t mon = c.y * 12 + (c.m - 1) + (unit == 'y' ? n * 12 : n);
        int64_t y = floor_div(mon, 12);
        unsigned m = (unsigned)(mon - y * 12) + 1;
        if (y > 400000000 || y < -400000000) return false;
        unsigned d = c.d > days_in_month(y, m) ? days_in_month(y, m) : c.d;
        days = dt_days_from_civil(y, m, d);
    } else {
        days = floor_div(L, MS_PER_DAY) + (unit == 'w' ? n * 7 : n);
    }
    if (!days_to_ms(days, c.tod, &out)) return false;
    out = tz__from_local_pref(z, out, off);
    return add_ms(out, 0, ms);
}

static enum dt_unit math_unit(char c)
{
    switch (c) {
    case 'y':
        return DT_YEAR;
    case 'M':
        return DT_MONTH;
    case 'w':
        return DT_WEEK;
    case 'd':
        return DT_DAY;
    case 'h':
    case 'H':
        return DT_HOUR;
    case 'm':
        return DT_MINUTE;
    default:
        return DT_SECOND;
    }
}

/* Adds sign*n of a date-math unit to *ms. */
static bool math_add(const struct tz *z, int64_t *ms, char unit, int64_t n)
{
    switch (unit) {
    case 'y':
    case 'M':
    case 'w':
    case 'd':
        return add_calendar(z, ms, unit, n);
    case 'h':
    case 'H':
        return add_ms(*ms, n * 3600000, ms);
    case 'm':
        return add_ms(*ms, n * 60000, ms);
    default:
        return add_ms(*ms, n * 1000, ms);
    }
}

/* "/unit": truncates in local time; with round_up, to the unit's last ms. */
static bool math_round(const struct tz *z, int64_t *ms, char unit, bool round_up)
{
    int32_t off = tz_offset(z, *ms);
    int64_t L = dt__local_floor(*ms + (int64_t)off * 1000, math_unit(unit));
    if (!add_ms(tz__from_local_pref(z, L, off), 0, ms))
        return false; /* floors may pass the limit */
    if (!round_up) return true;
    return math_add(z, ms, unit, 1) && add_ms(*ms, -1, ms);
}

static int math_fail(char *err, size_t errlen, const char *s, size_t len, const char *why)
{
    char q[80];
    return gk_errf(err, errlen, GK_EINVAL, "%s [%s]", why, dt__quote(q, s, len));
}

/* Applies the operations of m[0..mlen) to *ms; s/len name the whole text. */
static int math_ops(const char *m, size_t mlen, const struct tz *z, bool round_up, int64_t *ms,
                    const char *s, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < mlen) {
        char c = m[i++];
        bool round = c == '/';
        int64_t sign = c == '-' ? -1 : 1, num = 1;
        if (!round && c != '+' && c != '-')
            return math_fail(err, errlen, s, len, "operator not supported for date math");
        if (i >= mlen) return math_fail(err, errlen, s, len, "truncated date math");
        if (is_digit(m[i])) {
            for (num = 0; i < mlen && is_digit(m[i]); i++)
                if ((num = num * 10 + (m[i] - '0')) > INT32_MAX)
                    return math_fail(err, errlen, s, len, "number out of range in date math");
            if (i >= mlen) return math_fail(err, errlen, s, len, "truncated date math");
        }
        if (round && num != 1)
            return math_fail(err, errlen, s, len,
                             "rounding `/` can only be used on single unit types");
        char unit = m[i++];
        if (!strchr("yMwdhHms", unit) || unit == '\0')
            return math_fail(err, errlen, s, len, "unit not supported for date math");
        bool ok = round ? math_round(z, ms, unit, round_up) : math_add(z, ms, unit, sign * num);
        if (!ok) return math_fail(err, errlen, s, len, "date math result out of range");
    }
    return 0;
}

int dt_math(const char *s, size_t len, int64_t now_ms, const struct tz *zone, int round_up,
            int64_t *ms, char *err, size_t errlen)
{
    if (len >= 3 && memcmp(s, "now", 3) == 0) {
        *ms = clamp_ms(now_ms);
        return math_ops(s + 3, len - 3, zone, round_up, ms, s, len, err, errlen);
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '|' || s[i + 1] != '|') continue;
        int rc = dt__parse_date(s, i, zone, false, ms, err, errlen);
        if (rc) return rc;
        return math_ops(s + i + 2, len - i - 2, zone, round_up, ms, s, len, err, errlen);
    }
    return dt__parse_date(s, len, zone, round_up, ms, err, errlen);
}
