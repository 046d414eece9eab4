/* dt_bucket.c: calendar_interval and fixed_interval names, and the
 * buckets of a date histogram in a zone: a bucket's first instant and the
 * next one, with OpenSearch's rounding rules where the local start is in
 * a gap or an overlap. */
#include "core/datetime_int.h"

#include "core/err.h"

#include <string.h>

/* ---- Intervals ---------------------------------------------------------- */

int dt_calendar_unit(const char *s, size_t len, enum dt_unit *out, char *err, size_t errlen)
{
    static const struct {
        const char *a, *b;
        enum dt_unit u;
    } names[] = {
        {"1s", "second", DT_SECOND},   {"1m", "minute", DT_MINUTE}, {"1h", "hour", DT_HOUR},
        {"1d", "day", DT_DAY},         {"1w", "week", DT_WEEK},     {"1M", "month", DT_MONTH},
        {"1q", "quarter", DT_QUARTER}, {"1y", "year", DT_YEAR},
    };
    char q[80];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if ((len == strlen(names[k].a) && memcmp(s, names[k].a, len) == 0) ||
            (len == strlen(names[k].b) && memcmp(s, names[k].b, len) == 0)) {
            *out = names[k].u;
            return 0;
        }
    return gk_errf(err, errlen, GK_EINVAL,
                   "The supplied interval [%s] could not be parsed as a calendar interval.",
                   dt__quote(q, s, len));
}

int dt_fixed_interval(const char *s, size_t len, int64_t *ms, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", MS_PER_DAY}};
    char q[80];
    size_t i = 0;
    int64_t n = 0;
    for (; i < len && is_digit(s[i]); i++)
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[i] - '0', &n))
            return gk_errf(err, errlen, GK_EINVAL, "fixed interval [%s] is too large",
                           dt__quote(q, s, len));
    for (size_t k = 0; i > 0 && k < sizeof units / sizeof units[0]; k++) {
        if (len - i != strlen(units[k].name) || memcmp(s + i, units[k].name, len - i) != 0)
            continue;
        if (n <= 0 || __builtin_mul_overflow(n, units[k].ms, ms) || *ms > DT_LIMIT_MS)
            return gk_errf(err, errlen, GK_EINVAL,
                           "fixed interval [%s] must be positive and "
                           "not too large",
                           dt__quote(q, s, len));
        return 0;
    }
    return gk_errf(err, errlen, GK_EINVAL,
                   "failed to parse fixed interval [%s]: expected a whole number and a unit "
                   "(ms, s, m, h, d)",
                   dt__quote(q, s, len));
}

/* ---- Buckets ---------------------------------------------------------------- */

static const int64_t unit_ms[] = {1000, 60000, 3600000};

/* The first instant of a bucket whose local start is L, for the instant ms
 * it holds: a start in a gap is the end of the gap; in an overlap, the
 * latest instant not after ms. Never after ms. */
static int64_t floor_resolve(const struct tz *z, int64_t L, int64_t ms)
{
    struct local_info li;
    tz__local_info(z, L, &li);
    int64_t r = li.n ? L - (int64_t)li.o[li.n - 1] * 1000 : li.gap_end;
    for (int i = 0; i < li.n; i++)
        if (L - (int64_t)li.o[i] * 1000 <= ms) {
            r = L - (int64_t)li.o[i] * 1000;
            break;
        }
    return r < ms ? r : ms;
}

/* The first instant of a day-or-longer unit starting at local L. */
static int64_t first_instant(const struct tz *z, int64_t L)
{
    struct local_info li;
    tz__local_info(z, L, &li);
    return li.n ? L - (int64_t)li.o[li.n - 1] * 1000 : li.gap_end;
}

/* The local-time floor of ms, resolved (see floor_resolve). */
static int64_t floor_basic(int64_t ms, enum dt_unit u, const struct tz *zone)
{
    int64_t L = ms + (int64_t)tz_offset(zone, ms) * 1000;
    return floor_resolve(zone, dt__local_floor(L, u), ms);
}

/* The start of the unit after the one starting at start: for units up to
 * an hour, the floor of start + one unit; else the next local calendar
 * date's first instant. */
static int64_t next_basic(int64_t start, enum dt_unit u, const struct tz *zone)
{
    if (u <= DT_HOUR) return floor_basic(start + unit_ms[u], u, zone);
    int64_t L = dt__local_floor(start + (int64_t)tz_offset(zone, start) * 1000, u), y;
    int64_t days = floor_div(L, MS_PER_DAY);
    unsigned m, d;
    if (u == DT_DAY || u == DT_WEEK) {
        days += u == DT_DAY ? 1 : 7;
    } else {
        dt_civil_from_days(days, &y, &m, &d);
        m += u == DT_MONTH ? 1 : u == DT_QUARTER ? 3 : 12;
        if (m > 12) y++, m -= 12;
        days = dt_days_from_civil(y, m, 1);
    }
    return first_instant(zone, days * MS_PER_DAY);
}

int64_t dt_floor(int64_t ms, enum dt_unit u, const struct tz *zone)
{
    int64_t T;
    ms = clamp_ms(ms);
    int64_t r = floor_basic(ms, u, zone);
    /* Where an offset falls by other than whole units (LMT changes), the
     * local floor can lie in the first pass of the overlap, with its unit
     * ending before ms: then the bucket starts at the transition. */
    if (ms < DT_LIMIT_MS - 400 * MS_PER_DAY && next_basic(r, u, zone) <= ms &&
        tz__prev_change(zone, floor_div(ms, 1000), &T) && T * 1000 > r && T * 1000 <= ms)
        r = T * 1000;
    return r;
}

int64_t dt_next(int64_t start, enum dt_unit u, const struct tz *zone)
{
    int64_t r;
    start = clamp_ms(start);
    if (start >= DT_LIMIT_MS - 400 * MS_PER_DAY) return DT_LIMIT_MS;
    r = u <= DT_HOUR ? dt_floor(start + unit_ms[u], u, zone) : next_basic(start, u, zone);
    return r > start ? r : start + (u <= DT_HOUR ? unit_ms[u] : MS_PER_DAY);
}

/* OpenSearch's rounding of fixed intervals in a zone: floor the local time;
 * in a gap take the transition; never round back across a transition (then
 * round the instant just before it instead). */
int64_t dt__floor_fixed_walk(int64_t ms, int64_t interval_ms, const struct tz *zone)
{
    const int64_t orig = clamp_ms(ms);
    if (interval_ms <= 0) return orig;
    ms = orig;
    for (int guard = 0; guard < 64; guard++) {
        int64_t L = ms + (int64_t)tz_offset(zone, ms) * 1000, T, fl;
        struct local_info li;
        if (__builtin_mul_overflow(floor_div(L, interval_ms), interval_ms, &fl) ||
            fl < -DT_LIMIT_MS)
            fl = -DT_LIMIT_MS;
        tz__local_info(zone, fl, &li);
        if (li.n == 0) return li.gap_end < orig ? li.gap_end : orig;
        bool has_prev = tz__prev_change(zone, floor_div(ms, 1000), &T);
        int i = 0;
        for (; i < li.n; i++) {
            int64_t cand = fl - (int64_t)li.o[i] * 1000;
            if (has_prev && cand < T * 1000) break;
            if (cand <= ms) return cand;
        }
        if (i == li.n) break;
        ms = T * 1000 - 1;
    }
    return ms < orig ? ms : orig;
}

/* dt__floor_fixed_walk without the walk where the zone's offset does not
 * change from a day (the widest offset) before the local floor up to ms:
 * there the floor is the local floor at ms's offset (every histogram
 * bucket of a fixed zone, of UTC, and of most of a year elsewhere; the
 * walk looked the offsets up several times per bucket). */
int64_t dt_floor_fixed(int64_t ms, int64_t interval_ms, const struct tz *zone)
{
    int64_t orig = clamp_ms(ms), fl, T;
    if (interval_ms <= 0) return orig;
    int32_t o = tz_offset(zone, orig);
    int64_t L = orig + (int64_t)o * 1000;
    if (__builtin_mul_overflow(floor_div(L, interval_ms), interval_ms, &fl) || fl < -DT_LIMIT_MS)
        return dt__floor_fixed_walk(ms, interval_ms, zone);
    if (zone->fixed || !tz__prev_change(zone, floor_div(orig, 1000), &T) ||
        T < floor_div(fl, 1000) - TZ_OFF_MAX - 2)
        return fl - (int64_t)o * 1000;
    return dt__floor_fixed_walk(ms, interval_ms, zone);
}
