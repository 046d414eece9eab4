/* fuzz_query.c: libFuzzer target for the query DSL parser (store/query*.c).
 *
 * Every input is parsed twice, as a _search and as a _count body, by the
 * pure query_parse(). A refused one must come with GK_EINVAL and
 * OpenSearch's 400 error object (status 400, a non-empty reason, the same
 * in root_cause); an accepted one is turned into its SQL condition and score expression (the
 * plan-to-SQL layer, still without a database) and freed. Corpus:
 * tests/fuzz/corpus/query (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/query.h"
#include "store/query_int.h"

static void check_error(const json_t *err)
{
    json_t *e = json_object_get(err, "error");
    const char *reason = json_string_value(json_object_get(e, "reason"));
    json_t *cause = json_array_get(json_object_get(e, "root_cause"), 0);
    const char *again = json_string_value(json_object_get(cause, "reason"));
    if (json_integer_value(json_object_get(err, "status")) != 400 || !reason || !reason[0] ||
        !again || strcmp(reason, again) != 0)
        abort();
}

static void check_plan(const struct query *q)
{
    struct qsql s = {0};
    struct qctx c = {.root = q->root};
    int constant;
    double score;
    qsql_add(&s, "SELECT ");
    qsql_score(&s, q->root, &constant, &score);
    qsql_add(&s, " FROM docs d WHERE ");
    qsql_ctx_cond(&s, q, &c);
    if (!s.sql.data || strlen(s.sql.data) != s.sql.len) abort();
    if (q->from < 0 || q->size < 0 || q->from + q->size > QUERY_MAX_WINDOW) abort();
    qsql_free(&s);
}

static void one(enum query_kind kind, const char *body, size_t size)
{
    struct query_env env = {.zone = tz_utc(), .now_ms = INT64_C(1630660489000)};
    struct query *q = NULL;
    json_t *err = NULL;
    int st = query_parse(&q, kind, "gasdetect", body, size, &env, &err);
    if (st == 0) {
        if (!q || err) abort();
        check_plan(q);
        query_free(q);
    } else {
        if (st != GK_EINVAL || q || !err) abort();
        check_error(err);
        json_decref(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(QUERY_SEARCH, (const char *)data, size);
    one(QUERY_COUNT, (const char *)data, size);
    return 0;
}
