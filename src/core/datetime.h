/* datetime.h: instants, time zones, date text and date math, as the
 * OpenSearch query DSL uses them.
 *
 * An instant is milliseconds since the epoch (UTC), int64_t. A zone turns
 * instants into wall-clock ("local") time and back: UTC, a fixed offset, or
 * the rules of an IANA zone read from the system's TZif files
 * (/usr/share/zoneinfo/NAME). Zones are immutable once loaded and may be
 * shared between threads.
 *
 * Everything that parses text takes (text, len), never reads past len, and
 * on failure returns GK_EINVAL with a one-line reason in err that names the
 * text, as OpenSearch does ("failed to parse date field [x]"). */
#ifndef GASKET_CORE_DATETIME_H
#define GASKET_CORE_DATETIME_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* "UTC", "Z", "GMT", "+09:00", "-05:30", "+0900", "+09", or an IANA name
 * ("Asia/Seoul", "Europe/Berlin"; letters, digits, '/', '_', '-', '+' only,
 * no "..", at most 64 bytes). Returns 0 with *out set, or GK_EINVAL
 * ("unknown time zone [Mars/Base]"). */
int tz_load(struct tz **out, const char *name, size_t len, char *err, size_t errlen);
/* The shared UTC zone (never freed). */
const struct tz *tz_utc(void);
void tz_free(struct tz *z);
/* Parses the bytes of a TZif file (RFC 8536, versions 1 to 4; the 64-bit
 * block when present, and the POSIX TZ footer for instants after the last
 * transition) into a zone named name. Every count and index is checked
 * against len: a corrupt file gives GK_EINVAL, never an over-read. tz_load
 * uses it; it is public for tests and fuzzing. */
int tz_parse_tzif(struct tz **out, const char *name, const unsigned char *data, size_t len,
                  char *err, size_t errlen);
/* The name it was loaded with ("UTC" for tz_utc()). */
const char *tz_name(const struct tz *z);
/* Offset from UTC, in seconds, in effect at the instant ms. */
int32_t tz_offset(const struct tz *z, int64_t ms);
/* The instant of a wall-clock time, given as ms since 1970-01-01T00:00
 * local. A time in a gap (spring forward) moves forward by the gap; a time
 * in an overlap (fall back) takes the earlier offset, as java.time does. */
int64_t tz_from_local(const struct tz *z, int64_t local_ms);

/* Civil calendar helpers (proleptic Gregorian). */
int64_t dt_days_from_civil(int64_t y, unsigned m, unsigned d);
void dt_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Parses one date value as the DSL accepts it in a range or extended_bounds:
 *   "2021-09-03 18:14:49"   (gasket's stored `date` format)
 *   "2021-09-03"            (midnight)
 *   ISO 8601: "2021-09-03T18:14:49", with optional ".SSS" (1-9 digits),
 *             optional "Z" or "+09:00"/"+0900"
 *   epoch millis: an optional '-' and 1-19 digits.
 * Text without an offset is wall-clock time in zone. */
int dt_parse(const char *s, size_t len, const struct tz *zone, int64_t *ms, char *err,
             size_t errlen);

/* Date math: "now", "now-1h", "now/d", "now-1d/d", "2021-09-03||+1M/d",
 * units y M w d h H m s; each operation "+N", "-N" or "/unit" in the zone.
 * round_up selects how a final "/unit" rounds: 0 to the unit's first
 * millisecond (gte, lt), 1 to its last (gt, lte), as OpenSearch does.
 * Anything without "now" or "||" goes to dt_parse. */
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

/* calendar_interval names: "1m"/"minute", "1h"/"hour", "1d"/"day",
 * "1w"/"week", "1M"/"month", "1q"/"quarter", "1y"/"year". 0 or GK_EINVAL. */
int dt_calendar_unit(const char *s, size_t len, enum dt_unit *out, char *err, size_t errlen);
/* fixed_interval: a positive integer and one of ms s m h d ("30s", "5m",
 * "1d"); sets *ms. 0 or GK_EINVAL. */
int dt_fixed_interval(const char *s, size_t len, int64_t *ms, char *err, size_t errlen);

/* The first instant of the calendar unit holding ms, in zone. */
int64_t dt_floor(int64_t ms, enum dt_unit u, const struct tz *zone);
/* The first instant of the next unit after the one starting at start. */
int64_t dt_next(int64_t start, enum dt_unit u, const struct tz *zone);
/* The first instant of the fixed-interval bucket holding ms: buckets are
 * aligned on local time in zone (as OpenSearch aligns fixed intervals when a
 * time_zone is given), i.e. floor over local ms, then back to an instant. */
int64_t dt_floor_fixed(int64_t ms, int64_t interval_ms, const struct tz *zone);

/* Formats ms in zone. pattern NULL is OpenSearch's default for dates,
 * strict_date_optional_time: "2021-09-03T09:14:49.000Z" in UTC,
 * "2021-09-03T18:14:49.000+09:00" elsewhere. Otherwise a Joda/java.time
 * pattern made of yyyy, yy, MM, dd, HH, mm, ss, SSS, XXX/ZZ/Z (offset) and
 * literal text (quoted with '' or any of "-:/ T."), or the names
 * "epoch_millis", "epoch_second", "date_optional_time",
 * "strict_date_optional_time", "yyyy-MM-dd HH:mm:ss". Returns the length
 * written (always NUL-terminated, out holds at least 64 bytes), or -1 with
 * err set for a pattern it does not support. */
int dt_format(int64_t ms, const struct tz *zone, const char *pattern, char *out, size_t outlen,
              char *err, size_t errlen);
/* Checks a format pattern once, so a query can be refused before it runs. */
int dt_format_check(const char *pattern, char *err, size_t errlen);

#endif
