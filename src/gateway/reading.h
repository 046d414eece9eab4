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
    const char *name; /* member name; points into the reading (names or doc) */
    double value;
};

/* Room for the measurement names of a reading parsed in one pass; a body
 * whose names do not fit takes the tree path (any size works). */
#define READING_NAMES 1024

/* A parsed reading. It points into itself and into the body it was parsed
 * from: keep the body while the reading is used, and do not copy the struct. */
struct reading {
    char groupid[128];      /* text form: "2" for both "2" and 2 */
    int has_gps;
    double lat, lon;
    size_t nmeas;
    struct measurement meas[READING_MAX_MEAS];
    size_t nmembers;   /* top-level members */
    int has_date;      /* there is a top-level `date` member */
    int has_emergency; /* there is a top-level `emergency` member */
    const char *date;  /* the `date` member's text when it is a string, else NULL; */
    size_t date_len;   /* not NUL-terminated (it may point into the body) */
    json_t *doc; /* the object as a tree (owned), or NULL: reading_doc() builds it */
    const char *body; /* what reading_parse() read, for reading_doc() */
    size_t len;
    char names[READING_NAMES]; /* measurement names of a one-pass parse */
};

struct reading_error {
    char message[160]; /* "value is not a number" */
    char field[160];   /* "no2.value", or "" for the body as a whole */
};

/* Parses and validates body[0..len). On success fills *r (free it with
 * reading_free) and returns 0; otherwise returns GK_EINVAL with *err set and
 * nothing to free. Never allocates more than a small multiple of len.
 * A common reading is read in one pass without building a tree (r->doc stays
 * NULL); any other body, and every invalid one, takes the tree path, whose
 * errors name the field. */
int reading_parse(struct reading *r, const char *body, size_t len, struct reading_error *err);
void reading_free(struct reading *r);
/* The reading as a tree (owned by r), built from the body on first use; NULL
 * only if memory ran out. */
json_t *reading_doc(struct reading *r);
/* The same rules for a document already in memory (its keys unique, its
 * strings UTF-8, as jansson builds them): takes doc (freed on failure). */
int reading_from_json(struct reading *r, json_t *doc, struct reading_error *err);

/* Writes the document to store: the body as it came with
 * "date":"<date>" appended as its last member (an existing `date` member is
 * replaced, re-serializing the object in its original member order). */
void reading_document(struct reading *r, const char *body, size_t len, const char *date,
                      struct buf *out);

#endif
