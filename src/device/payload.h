/* payload.h: the body gasket-pub sends for one reading, in the seed's
 * shape (../shared/DESIGN.md):
 *   {"groupid":"2","gps":"37.61, 126.99",
 *    "co":{"sensorid":"0005","sensortype":"8","value":"26.20",
 *          "createdtime":"2021-09-03 18:14:49"}, ...}
 * createdtime is when the reading was measured, in local time; it is
 * written once, when the reading is taken, and never changes however late
 * the reading is delivered.
 *
 * payload_from_json() turns a line of the user's own sensor script
 * (--stdin, --exec) into that shape. The line is one JSON object:
 *   - a member whose value is a number, or a string holding one, is a
 *     measurement: {"co": 26.2} becomes "co":{"sensorid":"0005",
 *     "sensortype":"8","value":"26.2","createdtime":"..."} (the ids of the
 *     MiCS-6814 channel of that name, else "" and "0");
 *   - an object with a `value` is a measurement already: kept, with
 *     createdtime added when it has none;
 *   - `groupid` and `gps` are kept (else --group and --gps fill them in);
 *     a top-level `createdtime` string is the time of the line's
 *     measurements (default: when the line was read) and is not sent;
 *   - any other member is kept as it is (the server judges it).
 * Refused (GK_EINVAL, with a reason for the log): not JSON, not an object,
 * duplicate members, no measurement at all, no groupid and no --group. */
#ifndef GASKET_DEVICE_PAYLOAD_H
#define GASKET_DEVICE_PAYLOAD_H

#include "core/buf.h"

#include <stddef.h>

#define PAYLOAD_MAX_LINE (64u << 10) /* bytes of one input line */

struct payload_ctx {
    const char *group; /* --group, or NULL */
    const char *gps;   /* --gps, or NULL */
};

struct payload_meas {
    const char *name, *sensorid, *sensortype;
    double value;
};

/* The seed-shaped body of n measurements taken at createdtime
 * ("YYYY-MM-DD HH:MM:SS"), values written with two decimals. */
void payload_build(struct buf *out, const struct payload_ctx *c, const struct payload_meas *m,
                   size_t n, const char *createdtime);
/* A user's line into out (appended). Returns 0 or GK_EINVAL (reason in
 * err; out unchanged). */
int payload_from_json(struct buf *out, const char *line, size_t len, const struct payload_ctx *c,
                      const char *createdtime, char *err, size_t errlen);
/* now as "YYYY-MM-DD HH:MM:SS" in the local time zone (TZ). */
void payload_local_time(char out[20]);

#endif
