/* clock.h: wall-clock time and its local-time text.
 *
 * The configured `timezone` is loaded process-wide once at start-up with
 * clock_set_zone() (it is the zone of every `date` gasket writes). Local
 * text is made with core/tz.h's zones, the code that parses it back. */
#ifndef GASKET_CORE_CLOCK_H
#define GASKET_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Milliseconds of a monotonic clock, for intervals. */
uint64_t clock_mono_ms(void);
/* Makes `zone` (as tz_load reads it: "Asia/Seoul"; NULL: the system's,
 * "localtime", as the gateway reads it) the local zone, reading its file; an
 * unknown name, or a file that cannot be read, gives UTC, silently (as
 * TZ did; [server] timezone is checked when the configuration is read).
 * Called at start-up, before any thread formats a local time: it frees
 * the zone it replaces. */
void clock_set_zone(const char *zone);
/* The instants gasket formats as a `date`: 1970-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999Z, in ms since the epoch. */
#define CLOCK_MIN_MS 0LL
#define CLOCK_MAX_MS 253402300799999LL
/* Writes "YYYY-MM-DD HH:MM:SS" for ms in the local zone (UTC until
 * clock_set_zone); out holds 20 bytes and is always NUL-terminated.
 * Returns 0, or -1 (out is then "") when ms is outside
 * CLOCK_MIN_MS..CLOCK_MAX_MS or its local time has no 4-digit year. */
int clock_format_local(int64_t ms, char out[20]);

#endif
