/* reading.h: a validated sensor reading, parsed once from a device's JSON.
 *
 * The rules of a valid payload (see docs/api.md):
 *  - a JSON object, valid UTF-8, no duplicate keys, nesting at most 8 deep;
 *  - `groupid`: required, a string or a number;
 *  - `gps`: optional, "lat, lon" with lat in [-90, 90] and lon in [-180, 180];
 *  - every member that is an object with a `value` member is a measurement:
 *    `value` a number or a numeric string, finite; optional `sensorid`,
 *    `sensortype` (string or number), `createdtime` ("YYYY-MM-DD HH:MM:SS"
 *    or ISO 8601); at most READING_MAX_MEAS of them;
 *  - other scalar members are kept as they came.
 * An error names the offending field as a dotted path ("no2.value"). */
#ifndef GASKET_GATEWAY_READING_H
#define GASKET_GATEWAY_READING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define READING_MAX_MEAS 64
#define READING_MAX_DEPTH 8

struct measurement {
    const char *name; /* member name; points into doc */
    double value;
};

struct reading {
    char groupid[128];      /* text form: "2" for both "2" and 2 */
    int has_gps;
    double lat, lon;
    size_t nmeas;
    struct measurement meas[READING_MAX_MEAS];
    json_t *doc; /* the parsed object (owned; JSON_PRESERVE_ORDER dump keeps order) */
};

struct reading_error {
    char message[160]; /* "value is not a number" */
    char field[160];   /* "no2.value", or "" for the body as a whole */
};

/* Parses and validates body[0..len). On success fills *r (free it with
 * reading_free) and returns 0; otherwise returns GK_EINVAL with *err set and
 * nothing to free. Never allocates more than a small multiple of len. */
int reading_parse(struct reading *r, const char *body, size_t len, struct reading_error *err);
void reading_free(struct reading *r);
/* The same rules for a document already in memory (its keys unique, its
 * strings UTF-8, as jansson builds them): takes doc (freed on failure). */
int reading_from_json(struct reading *r, json_t *doc, struct reading_error *err);

/* Writes the document to store: the body as it came with
 * "date":"<date>" appended as its last member (an existing `date` member is
 * replaced, re-serializing the object in its original member order). */
void reading_document(const struct reading *r, const char *body, size_t len, const char *date,
                      struct buf *out);

#endif
