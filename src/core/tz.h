/* tz.h: time zones. A zone turns instants (ms since the epoch, UTC) into
 * wall-clock ("local") time and back: UTC, a fixed offset, or the rules of
 * an IANA zone read from the system's TZif files (/usr/share/zoneinfo/NAME:
 * the transition table, then the POSIX TZ footer for instants past its
 * end). Zones are immutable once loaded and may be shared between threads.
 *
 * This one implementation both writes gasket's `date` text (core/clock.c)
 * and reads dates back (datetime.h), so the two always agree, whatever the
 * zone (right/ zones included: their leap-second records are not applied,
 * on either side). Implemented by tz.c (loading, fixed
 * offsets), tz_tzif.c (TZif files), tz_rule.c (POSIX TZ strings) and
 * tz_local.c (offsets, transitions, local time). */
#ifndef GASKET_CORE_TZ_H
#define GASKET_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* "UTC", "Z", "GMT", "UT", a fixed offset as java.time's ZoneOffset.of
 * ("+09:00", "-05:30", "+0900", "+09", "+9", "+05:30:15"; at most 18 h),
 * "UTC+09:00"/"GMT-5", or an IANA name ("Asia/Seoul", "Europe/Berlin";
 * letters, digits, '/', '_', '-', '+' only, no "..", no leading '/', at
 * most 64 bytes; checked before the file is opened). Returns 0 with *out
 * set (free with tz_free), or GK_EINVAL ("unknown time zone [Mars/Base]",
 * or "time zone file of [X] is corrupt"), *out NULL. */
int tz_load(struct tz **out, const char *name, size_t len, char *err, size_t errlen);
/* The shared UTC zone (never freed; tz_free ignores it). */
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
/* Offset from UTC, in seconds, in effect at the instant ms (any int64). */
int32_t tz_offset(const struct tz *z, int64_t ms);
/* The instant of a wall-clock time, given as ms since 1970-01-01T00:00
 * local. A time in a gap (spring forward) moves forward by the gap; a time
 * in an overlap (fall back) takes the earlier offset (the one before the
 * transition, so the earlier instant), as java.time does. */
int64_t tz_from_local(const struct tz *z, int64_t local_ms);

#endif
