/* fuzz_bulk.c: libFuzzer target for gateway/bulk.c, the _bulk NDJSON parser.
 *
 * Every input goes through bulk_parse() (the first byte chooses whether the
 * URL names an index). A parsed request must hold at least one action, in
 * increasing line order, each with an index and, except a delete, a source
 * inside the input, an idempotency_key only as it was checked; every reply
 * item written for it, and the error object
 * of a refused request, must be valid JSON.
 * Corpus: tests/fuzz/corpus/bulk (replayed by `make fuzz-replay`). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/bulk.h"

static void must_be_json(struct buf *b)
{
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    if (!json_is_object(j)) abort();
    json_decref(j);
    buf_reset(b);
}

static void check_action(const struct bulk_action *a, const char *body, size_t len,
                         size_t prev_line)
{
    if (a->line <= prev_line || !a->index[0] || !memchr(a->index, '\0', sizeof a->index)) abort();
    if ((a->op == BULK_DELETE) != (a->source == NULL)) abort();
    if (a->idem_len > IDEM_KEY_MAX || strlen(a->idem_key) != a->idem_len) abort();
    for (size_t i = 0; i < a->idem_len; i++) /* checked: printable, no quote nor backslash */
        if (a->idem_key[i] < 0x20 || a->idem_key[i] > 0x7e || a->idem_key[i] == '"' ||
            a->idem_key[i] == '\\')
            abort();
    if (a->source && (a->source < body || a->source + a->source_len > body + len)) abort();
    struct buf b = {0};
    bulk_item_created(&b, a, "42", 7);
    must_be_json(&b);
    bulk_item_noop(&b, a);
    must_be_json(&b);
    bulk_item_error(&b, a, 400, "mapper_parsing_exception", "bad \"value\"\n", "no2.value");
    must_be_json(&b);
    char err[320];
    if (bulk_index_name_check(a->index, strlen(a->index), err, sizeof err) != 0) {
        bulk_error_reply(&b, 400, "invalid_index_name_exception", err, NULL);
        must_be_json(&b);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *dflt = data[0] & 1 ? NULL : "gasdetect";
    /* a copy of exactly the input's length, so an over-read is caught */
    char *body = malloc(size - 1 ? size - 1 : 1);
    memcpy(body, data + 1, size - 1);
    struct bulk_action *v;
    size_t n;
    struct bulk_error e;
    if (bulk_parse(body, size - 1, dflt, &v, &n, &e) != 0) {
        if (!e.type[0] || !e.reason[0] || !memchr(e.reason, '\0', sizeof e.reason)) abort();
        struct buf b = {0};
        bulk_error_reply(&b, 400, e.type, e.reason, NULL);
        must_be_json(&b);
        buf_free(&b);
    } else {
        if (n == 0) abort();
        for (size_t i = 0; i < n; i++)
            check_action(&v[i], body, size - 1, i ? v[i - 1].line : 0);
        free(v);
    }
    free(body);
    return 0;
}
