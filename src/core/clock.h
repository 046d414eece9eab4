/* clock.h: wall-clock time and its local-time text.
 *
 * The configured `timezone` is applied process-wide once at start-up with
 * clock_set_zone() (it is the zone of every `date` gasket writes). */
#ifndef GASKET_CORE_CLOCK_H
#define GASKET_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Milliseconds of a monotonic clock, for intervals. */
uint64_t clock_mono_ms(void);
/* Makes `zone` ("Asia/Seoul"; NULL: the system's) the local zone. */
void clock_set_zone(const char *zone);
/* Writes "YYYY-MM-DD HH:MM:SS" for ms in the local zone; out holds 20 bytes. */
void clock_format_local(int64_t ms, char out[20]);

#endif
