/* fuzz_pub_line.c: libFuzzer target for what gasket-pub makes of its
 * user's lines (--stdin, and --exec's output): device/source.c's line
 * reader and device/payload.c's conversion into the seed's shape.
 *
 * The input is fed to linebuf in two pieces (the first byte says where it
 * is cut) and every line goes through payload_from_json(): each line
 * number comes once, in order; a line is refused with a reason or becomes
 * one JSON object with a groupid and at least one measurement, which
 * always parses back.
 * Corpus: tests/fuzz/corpus/pub_line (replayed by `make fuzz-replay`). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "device/payload.h"
#include "device/source.h"

struct seen {
    size_t last;
};

static void on_line(void *ud, size_t lineno, const char *line, size_t len, int too_long)
{
    struct seen *s = ud;
    if (lineno != s->last + 1) abort();
    s->last = lineno;
    if (too_long) return;
    char *copy = malloc(len ? len : 1); /* exactly the line */
    memcpy(copy, line, len);
    struct payload_ctx c = {lineno & 1 ? "2" : NULL, "37.6, 127.0"};
    struct buf out = {0};
    char err[200] = "";
    if (payload_from_json(&out, copy, len, &c, "2024-01-02 03:04:05", err, sizeof err) != 0) {
        if (!err[0] || out.len) abort();
    } else {
        json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "groupid"))) abort();
        json_decref(j);
    }
    buf_free(&out);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t cut = size > 1 ? data[0] % size : 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    cut = cut > n ? n : cut;
    struct linebuf lb = {0};
    struct seen s = {0};
    linebuf_feed(&lb, text, cut, 0, on_line, &s);
    linebuf_feed(&lb, text + cut, n - cut, 1, on_line, &s);
    linebuf_free(&lb);
    return 0;
}
