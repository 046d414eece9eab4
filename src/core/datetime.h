/* datetime.h: date text and date math, as the OpenSearch query DSL uses
 * them: the civil calendar, parsing dates, date math expressions, calendar
 * and fixed intervals and their buckets, and formatting. An instant is
 * milliseconds since the epoch (UTC), int64_t; zones are tz.h's.
 *
 * Everything that parses text takes (text, len), never reads past len, and
 * on failure returns GK_EINVAL with a one-line reason in err that names the
 * text, as OpenSearch does ("failed to parse date field [x]").
 *
 * Implemented by dt_calendar.c (civil days, calendar rounding), dt_parse.c
 * (date text), dt_math.c (date math), dt_bucket.c (intervals and buckets)
 * and dt_format.c (formatting). */
#ifndef GASKET_CORE_DATETIME_H
#define GASKET_CORE_DATETIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/tz.h"

/* Civil calendar helpers (proleptic Gregorian), exact for |year| <= 10^12
 * (inputs beyond are clamped; m is clamped to 1..12). */
int64_t dt_days_from_civil(int64_t y, unsigned m, unsigned d);
void dt_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Parses one date value as the DSL accepts it in a range or extended_bounds:
 *   "2021-09-03 18:14:49"   (gasket's stored `date` format, optional ".SSS")
 *   "2021-09-03"            (midnight), "2021-09" (the 1st)
 *   ISO 8601: "2021-09-03T18", "T18:14", "T18:14:49", with optional ".SSS"
 *             (1-9 digits, truncated to ms) after seconds, and optional
 *             "Z", "+09:00", "+0900" or "+09"
 *   epoch millis: an optional '-' and 1-19 digits (within about +-253
 *             million years). All digits are epoch millis, never a year.
 * Years have exactly 4 digits; month, day (Feb 29 only in leap years),
 * hour 0-23, minute and second 0-59 are checked. Text without an offset
 * is wall-clock time in zone (resolved as tz_from_local). */
int dt_parse(const char *s, size_t len, const struct tz *zone, int64_t *ms, char *err,
             size_t errlen);

/* Date math: "now", "now-1h", "now/d", "now-1d/d", "2021-09-03||+1M/d",
 * units y M w d h H m s; each operation "+N", "-N" ("+d" is "+1d"; N at
 * most 2^31-1) or "/unit", as OpenSearch's JavaDateMathParser: y M w d and
 * rounding work on wall-clock time in zone (a day can be 23 or 25 hours;
 * "+1M" from Jan 31 gives Feb 28), h m s on the instant. round_up selects
 * how each "/unit" rounds: 0 to the unit's first millisecond (gte, lt), 1 to
 * its last (gt, lte). The anchor before "||" is parsed as dt_parse does.
 * Anything without "now" or "||" goes to dt_parse, except that with
 * round_up missing time fields take their largest value, as OpenSearch
 * fills them ("2021-09-03" -> 23:59:59.999, "...T10:00:00" -> 10:00:00.999).
 * A result beyond about +-253 million years is GK_EINVAL. */
int dt_math(const char *s, size_t len, int64_t now_ms, const struct tz *zone, int round_up,
            int64_t *ms, char *err, size_t errlen);

/* Calendar units of a calendar_interval / date-math rounding. */
enum dt_unit {
    DT_SECOND,
    DT_MINUTE,
    DT_HOUR,
    DT_DAY,
    DT_WEEK, /* weeks start on Monday, as in OpenSearch */
    DT_MONTH,
    DT_QUARTER,
    DT_YEAR,
};

/* calendar_interval names: "1s"/"second", "1m"/"minute", "1h"/"hour",
 * "1d"/"day", "1w"/"week", "1M"/"month", "1q"/"quarter", "1y"/"year".
 * 0 or GK_EINVAL. */
int dt_calendar_unit(const char *s, size_t len, enum dt_unit *out, char *err, size_t errlen);
/* fixed_interval: a positive integer and one of ms s m h d ("30s", "5m",
 * "1d"); sets *ms. 0 or GK_EINVAL. */
int dt_fixed_interval(const char *s, size_t len, int64_t *ms, char *err, size_t errlen);

/* The first instant of the calendar unit holding ms, in zone: the unit's
 * local start; where that local time is in a gap, the gap's end (a day
 * whose midnight was skipped starts at 01:00); where it occurs twice, the
 * later occurrence not after ms (so the two 02:00 hours of a fall-back
 * night are two buckets). Always floor(ms) <= ms < dt_next(floor(ms)), and
 * floors are fixed points. */
int64_t dt_floor(int64_t ms, enum dt_unit u, const struct tz *zone);
/* The first instant of the next unit after the one holding start (always
 * > start, up to the end of the supported range). */
int64_t dt_next(int64_t start, enum dt_unit u, const struct tz *zone);
/* The first instant of the fixed-interval bucket holding ms: buckets are
 * aligned on local time in zone (as OpenSearch aligns fixed intervals when a
 * time_zone is given), i.e. floor over local ms, then back to an instant,
 * with OpenSearch's TimeIntervalRounding rules: a bound in a gap is the
 * transition; a bound that would round back across the latest transition
 * before ms is replaced by the rounding of the instant just before that
 * transition. Never after ms. */
int64_t dt_floor_fixed(int64_t ms, int64_t interval_ms, const struct tz *zone);

/* Formats ms in zone. pattern NULL is OpenSearch's default for dates,
 * strict_date_optional_time: "2021-09-03T09:14:49.000Z" at offset 0,
 * "2021-09-03T18:14:49.000+09:00" elsewhere (offset seconds, as in LMT, are
 * not shown; years past 9999 as "+10000", before 0 as "-0001").
 * Otherwise a java.time pattern (as OpenSearch 2.x) of
 *   y/u (year of era / year; yy two digits, yyyy and more pad and show '+'
 *   past the width), M/MM, MMM "Sep", MMMM "September", d/dd, D (day of
 *   year), H/HH, h/hh (1-12), a (AM/PM), m/mm, s/ss, S..SSSSSSSSS
 *   (fraction), E/EEE "Fri", EEEE "Friday", offsets X "+09"/"+0530",
 *   XX "+0900", XXX "+09:00" (X* print "Z" at 0), x/xx/xxx (same, never
 *   "Z"), Z/ZZ/ZZZ "+0900", ZZZZZ "+09:00"/"Z",
 * and literal text: quoted with '' ("''" is a quote), 'T', or any other
 * printable non-letter except [ ] { } #. Or one of the names epoch_millis,
 * epoch_second ("1630660489.123"), [strict_]date_optional_time,
 * date_time, date_time_no_millis, date, date_hour, date_hour_minute,
 * date_hour_minute_second[_millis|_fraction], basic_date,
 * basic_date_time[_no_millis], hour, hour_minute, hour_minute_second
 * [_millis], year, year_month, year_month_day (each also with "strict_").
 * "a||b" formats with a. Returns the length written (out is always
 * NUL-terminated when outlen > 0; a pattern dt_format_check accepts always
 * fits 64 bytes), or -1 with err set for a pattern it does not support or
 * output that does not fit outlen. */
int dt_format(int64_t ms, const struct tz *zone, const char *pattern, char *out, size_t outlen,
              char *err, size_t errlen);
/* Checks a format pattern once, so a query can be refused before it runs:
 * every "||" alternative must be supported, and its longest output must fit
 * 64 bytes with the NUL. NULL is accepted (the default). 0 or GK_EINVAL. */
int dt_format_check(const char *pattern, char *err, size_t errlen);

#endif
