/* clock.c: wall-clock time and local-time text (see clock.h). The local
 * zone is a struct tz (core/tz.h), the same zone code that reads a `date`
 * back, so the text written for an instant always reads back as that
 * instant (libc's localtime, which applies right/ zones' leap seconds and
 * may read a zone otherwise, is not used). */
#include "core/clock.h"

#include "core/datetime.h"

#include <string.h>
#include <time.h>

/* Set at start-up by clock_set_zone (the process-wide zone, as TZ was);
 * NULL until then, which is UTC. */
static struct tz *local_zone;

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
    char err[160];
    struct tz *z = NULL;
    if (!zone) zone = "localtime"; /* the system's zone (tz_load) */
    if (tz_load(&z, zone, strlen(zone), err, sizeof err) != 0) z = NULL; /* UTC, as libc did */
    tz_free(local_zone);
    local_zone = z;
}

static const struct tz *zone(void)
{
    return local_zone ? local_zone : tz_utc();
}

int clock_format_local(int64_t ms, char out[20])
{
    char err[120];
    out[0] = '\0';
    if (ms < CLOCK_MIN_MS || ms > CLOCK_MAX_MS) return -1;
    /* a zone east of UTC can move the last instant into year 10000, which
     * "uuuu" writes as "+10000": 20 characters, so it does not fit */
    if (dt_format(ms, zone(), "uuuu-MM-dd HH:mm:ss", out, 20, err, sizeof err) != 19) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
