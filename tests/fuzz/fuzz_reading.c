/* fuzz_reading.c: libFuzzer target for gateway/reading.c.
 *
 * Every input goes through reading_parse(); an accepted one is also written
 * out with reading_document() and the result must parse back as a JSON object
 * holding the date, and the measurement names must be members of the doc.
 * The one pass (reading_scan) and the tree path must agree: whatever the pass
 * takes, the tree path accepts with the same reading.
 * Corpus: tests/fuzz/corpus/reading (replayed by `make fuzz-replay`). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/reading.h"
#include "gateway/reading_scan.h"

/* The stored document must be valid JSON holding the date, and itself a valid
 * payload with the same measurements. */
static void check_document(struct reading *r, const char *body, size_t len)
{
    struct buf out = {0};
    struct reading again;
    reading_document(r, body, len, "2021-09-03 18:14:49", &out);
    json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
    const char *stored = json_string_value(json_object_get(doc, "date"));
    if (!json_is_object(doc) || !stored || strcmp(stored, "2021-09-03 18:14:49") != 0) abort();
    json_decref(doc);
    /* a measurement named "date" is replaced by the date string */
    size_t nmeas = r->nmeas - (json_is_object(json_object_get(reading_doc(r), "date")) ? 1 : 0);
    if (reading_parse(&again, out.data, out.len, NULL) != 0 || again.nmeas != nmeas ||
        strcmp(again.groupid, r->groupid) != 0)
        abort();
    reading_free(&again);
    buf_free(&out);
}

/* What the one pass takes, the tree path accepts, with the same reading. */
static void check_paths(const char *body, size_t len)
{
    struct reading fast, tree;
    if (reading_scan(&fast, body, len) != 0) return;
    if (reading_parse_tree(&tree, body, len, NULL) != 0 || !reading_same(&fast, &tree)) abort();
    reading_free(&tree);
}

/* Feeds one input through the validator and, on success, the document writer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reading r;
    struct reading_error err;
    const char *body = (const char *)data;
    check_paths(body, size);
    if (reading_parse(&r, body, size, &err) != 0) {
        if (!memchr(err.message, '\0', sizeof err.message) || !err.message[0]) abort();
        return 0;
    }
    if (r.nmeas > READING_MAX_MEAS || !r.groupid[0]) abort();
    for (size_t i = 0; i < r.nmeas; i++)
        if (!json_object_get(reading_doc(&r), r.meas[i].name) || !isfinite(r.meas[i].value)) abort();
    check_document(&r, body, size);
    reading_free(&r);
    return 0;
}
