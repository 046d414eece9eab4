/* query.c: the public API of query.h.
 *
 * query_parse() wraps the pure parser (query_parse.c) and turns a failure
 * into GK_EINVAL and OpenSearch's 400 error object. query_exec() runs a
 * parsed request in one read transaction (one snapshot for counts, hits
 * and aggregations) under the request's deadline, installed as an SQLite
 * progress handler, and builds the reply in OpenSearch's shape. query_get_doc() and
 * query_cat_indices() answer GET /{index}/_doc/{id} and GET /_cat/indices. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "store/query_int.h"

/* ---- errors ------------------------------------------------------------ */

/* The error objects carry the HTTP status OpenSearch answers with, which
 * the gateway's mapping of the code returned with them (search_status_of)
 * gives: GK_EINVAL and GK_ELIMIT 400, GK_ENOTFOUND 404, GK_ESTORE 500. */

/* reason with every byte that is not well-formed UTF-8 (a name cut
 * inside a character, bytes of the request) replaced by '?'. */
static json_t *utf8_string(const char *s)
{
    size_t n = strlen(s);
    char *t = xmalloc(n + 1);
    for (size_t i = 0; i < n;) {
        int k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k > 0) {
            memcpy(t + i, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            t[i++] = '?';
        }
    }
    t[n] = '\0';
    json_t *j = json_string(t);
    free(t);
    return j;
}

static json_t *error_reply(int status, const char *type, const char *reason, const char *index)
{
    json_t *cause = json_pack("{s:s, s:o}", "type", type, "reason", utf8_string(reason));
    if (index) {
        json_object_set_new(cause, "index", utf8_string(index));
        json_object_set_new(cause, "resource.type", json_string("index_or_alias"));
        json_object_set_new(cause, "resource.id", utf8_string(index));
        json_object_set_new(cause, "index_uuid", json_string("_na_"));
    }
    json_t *err = json_object();
    json_object_set_new(err, "root_cause", json_pack("[O]", cause));
    json_object_update(err, cause);
    json_decref(cause);
    return json_pack("{s:o, s:i}", "error", err, "status", status);
}

static json_t *not_found(const char *index)
{
    char reason[QUERY_MAX_FIELD + 32];
    snprintf(reason, sizeof reason, "no such index [%s]", index);
    return error_reply(404, "index_not_found_exception", reason, index);
}

static json_t *server_error(void)
{
    return error_reply(500, "exception", "the store failed to answer the query (see the log)",
                       NULL);
}

int query_parse(struct query **out, enum query_kind kind, const char *index, const char *body,
                size_t len, const struct query_env *env, json_t **err_reply)
{
    char reason[QUERY_REASON];
    *err_reply = NULL;
    if (query_parse_plan(out, kind, index, body, len, env, reason, sizeof reason) == 0) return 0;
    *err_reply = error_reply(400, "parsing_exception", reason, NULL);
    return GK_EINVAL;
}

/* ---- execution --------------------------------------------------------- */

static json_t *shards(void)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "total", 1, "successful", 1, "skipped", 0, "failed",
                     0);
}

int qx_index_exists(struct qx *x, const char *index)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT 1 FROM indices WHERE name = ");
    qsql_text(&s, index);
    sqlite3_stmt *st = qx_prepare(x, &s);
    int found = st && qx_step(x, st) == SQLITE_ROW;
    qx_done(x, st);
    qsql_free(&s);
    return found;
}

static json_t *count_reply(struct qx *x)
{
    int64_t n = qx_count(x, x->q->root, -1);
    json_t *r = json_pack("{s:I, s:o}", "count", (json_int_t)n, "_shards", shards());
    if (x->timed_out) json_object_set_new(r, "timed_out", json_true());
    return r;
}

static json_t *search_reply(struct qx *x, uint64_t start)
{
    const struct query *q = x->q;
    int64_t total;
    json_t *max = NULL;
    for (size_t i = 0; i < q->naggs && q->track != 0; i++)
        if (q->aggs[i]->kind == QA_DATEH && q->aggs[i]->f.kind == QF_DATE) {
            x->total_from = q->aggs[i];
            break;
        }
    struct qctx c = {.root = q->root};
    json_t *hits =
        qx_hits(x, &c, q->sorts, q->nsorts, &q->src, q->from, q->size, q->track_scores, &max);
    json_t *aggs = q->naggs ? qx_aggs(x) : NULL;
    json_t *tot = qx_total(x, &total); /* after the aggregations: they may have counted */
    json_t *h = json_object();
    if (tot) json_object_set_new(h, "total", tot);
    json_object_set_new(h, "max_score", max);
    json_object_set_new(h, "hits", hits);
    json_t *r = json_object();
    json_object_set_new(r, "took", json_integer((json_int_t)(clock_mono_ms() - start)));
    json_object_set_new(r, "timed_out", json_boolean(x->timed_out));
    json_object_set_new(r, "_shards", shards());
    json_object_set_new(r, "hits", h);
    if (aggs) json_object_set_new(r, "aggregations", aggs);
    return r;
}

static uint64_t deadline_of(const struct query *q, uint64_t start)
{
    uint64_t d = q->deadline_mono;
    if (q->timeout_ms > 0 && (d == 0 || start + (uint64_t)q->timeout_ms < d))
        d = start + (uint64_t)q->timeout_ms;
    return d;
}

/* BEGIN or COMMIT, a kept statement too. */
static int txn(struct qx *x, const char *sql)
{
    sqlite3_stmt *st = qx_stmt(x, sql, -1);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    qx_done(x, st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int query_exec(const struct query *q, sqlite3 *db, json_t **reply)
{
    uint64_t start = clock_mono_ms();
    struct qx x = {.q = q, .db = db};
    *reply = NULL;
    qx_start(&x);
    int own_txn = sqlite3_get_autocommit(db);
    if (own_txn && txn(&x, "BEGIN") != SQLITE_OK) x.failed = 1;
    /* the index check runs before the deadline applies: a late request
     * still gets its not-found answer or a reply marked timed_out */
    int found = !x.failed && qx_index_exists(&x, q->index);
    x.deadline = deadline_of(q, start);
    sqlite3_progress_handler(db, 1000, qx_deadline_passed, &x);
    if (found) *reply = q->kind == QUERY_COUNT ? count_reply(&x) : search_reply(&x, start);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    if (own_txn && !sqlite3_get_autocommit(db)) txn(&x, "COMMIT");
    qx_finish(&x);
    json_decref(x.failed || x.bad || !found ? *reply : NULL);
    if (x.failed)
        *reply = server_error();
    else if (x.bad)
        *reply = error_reply(400, x.bad_type, x.bad_reason, NULL);
    else if (!found)
        *reply = not_found(q->index);
    return x.failed ? GK_ESTORE : x.bad ? GK_ELIMIT : !found ? GK_ENOTFOUND : 0;
}

/* ---- GET /{index}/_doc/{id} -------------------------------------------- */

static int64_t parse_id(const char *id)
{
    char *end;
    if (!id || *id < '1' || *id > '9' || strlen(id) > 18) return -1;
    long long v = strtoll(id, &end, 10);
    return *end == '\0' ? v : -1;
}

int query_get_doc(sqlite3 *db, const char *index, const char *id, json_t **reply)
{
    static const struct query dummy;
    static const struct qsrc all;
    struct qx x = {.q = &dummy, .db = db};
    *reply = NULL;
    if (!qx_index_exists(&x, index)) {
        *reply = x.failed ? server_error() : not_found(index);
        return x.failed ? GK_ESTORE : GK_ENOTFOUND;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT seq, gk_unzip(source) FROM docs WHERE id = ?1 AND idx = ?2", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, parse_id(id));
        sqlite3_bind_text(st, 2, index, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        json_t *src =
            qx_source((const char *)sqlite3_column_text(st, 1), sqlite3_column_bytes(st, 1), &all);
        *reply = json_pack("{s:s, s:s, s:i, s:I, s:i, s:b, s:o}", "_index", index, "_id", id,
                           "_version", 1, "_seq_no", (json_int_t)sqlite3_column_int64(st, 0),
                           "_primary_term", 1, "found", 1, "_source", src);
    } else if (rc == SQLITE_DONE) {
        *reply = json_pack("{s:o, s:o, s:b}", "_index", utf8_string(index), "_id", utf8_string(id),
                           "found", 0);
    } else {
        log_error("query: _doc: %s", sqlite3_errmsg(db));
        *reply = server_error();
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? GK_ENOTFOUND : GK_ESTORE;
}

/* ---- GET /_cat/indices ------------------------------------------------- */

#define CAT_COLS 10

static void human_size(int64_t bytes, char *out, size_t n)
{
    static const char *const units[] = {"b", "kb", "mb", "gb", "tb"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    if (u == 0)
        snprintf(out, n, "%lldb", (long long)bytes);
    else
        snprintf(out, n, "%.1f%s", v, units[u]);
}

/* A stable 22-character id for an index name (OpenSearch prints a random
 * uuid; gasket has no per-index state to keep one in). */
static void index_uuid(const char *name, char out[23])
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t h = map_fnv64(1469598103934665603ull, name, strlen(name)), g = 7;
    for (const char *p = name; *p; p++)
        g = g * 31 + (unsigned char)*p;
    for (int i = 0; i < 22; i++) {
        out[i] = a[(i < 11 ? h : g) & 63];
        if (i < 11)
            h = h >> 6 | h << 58;
        else
            g = (g >> 6 | g << 58) ^ h;
    }
    out[22] = '\0';
}

struct cat_row {
    char *cell[CAT_COLS];
};

static void cat_fill(struct cat_row *r, const char *name, int64_t docs, int64_t bytes)
{
    char uuid[23], cnt[24], size[32];
    index_uuid(name, uuid);
    snprintf(cnt, sizeof cnt, "%lld", (long long)docs);
    human_size(bytes, size, sizeof size);
    const char *v[CAT_COLS] = {"green", "open", name, uuid, "1", "0", cnt, "0", size, size};
    for (int i = 0; i < CAT_COLS; i++)
        r->cell[i] = xstrdup(v[i]);
}

static void cat_print(struct buf *b, struct cat_row *rows, size_t n, int verbose)
{
    size_t w[CAT_COLS] = {0};
    for (size_t i = verbose ? 0 : 1; i < n; i++)
        for (int c = 0; c < CAT_COLS; c++) {
            size_t l = strlen(rows[i].cell[c]);
            if (l > w[c]) w[c] = l;
        }
    for (size_t i = verbose ? 0 : 1; i < n; i++) {
        for (int c = 0; c < CAT_COLS; c++)
            buf_printf(b, "%-*s%s", c + 1 < CAT_COLS ? (int)w[c] : 0, rows[i].cell[c],
                       c + 1 < CAT_COLS ? " " : "");
        buf_putc(b, '\n');
    }
}

static const char *const cat_header[CAT_COLS] = {
    "health", "status",     "index",        "uuid",       "pri",
    "rep",    "docs.count", "docs.deleted", "store.size", "pri.store.size"};

int query_cat_indices(sqlite3 *db, int verbose, query_cat_keep_fn keep, void *keep_ud, char **out,
                      size_t *len)
{
    sqlite3_stmt *st = NULL;
    struct buf b = {0};
    size_t n = 1;
    struct cat_row *rows = xcalloc(1, sizeof *rows);
    for (int c = 0; c < CAT_COLS; c++)
        rows[0].cell[c] = xstrdup(cat_header[c]);
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT i.name, (SELECT count(*) FROM docs d WHERE d.idx = i.name),"
        " (SELECT page_count * page_size FROM pragma_page_count, pragma_page_size),"
        " (SELECT count(*) FROM docs) FROM indices i ORDER BY i.name",
        -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (keep && !keep(keep_ud, (const char *)sqlite3_column_text(st, 0))) continue;
        rows = xrealloc(rows, (n + 1) * sizeof *rows);
        int64_t docs = sqlite3_column_int64(st, 1), all = sqlite3_column_int64(st, 3);
        int64_t bytes = all > 0 ? (int64_t)((double)sqlite3_column_int64(st, 2) * docs / all) : 0;
        cat_fill(&rows[n++], (const char *)sqlite3_column_text(st, 0), docs, bytes);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) log_error("query: _cat/indices: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    cat_print(&b, rows, n, verbose);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < CAT_COLS; c++)
            free(rows[i].cell[c]);
    free(rows);
    if (!b.data) buf_reserve(&b, 1), b.data[0] = '\0';
    *len = b.len;
    *out = buf_steal(&b);
    return rc == SQLITE_DONE ? 0 : GK_ESTORE;
}

/* Replaces each date histogram's buckets held as compact text (a raw
 * string under "buckets": query_agg.c) by their values, so that they are
 * indented as the rest. A raw `_source` is never under "buckets". */
static void expand_buckets(json_t *v)
{
    const char *key;
    json_t *m;
    size_t i;
    void *tmp;
    if (json_is_array(v))
        json_array_foreach(v, i, m) expand_buckets(m);
    if (!json_is_object(v)) return;
    json_object_foreach_safe(v, tmp, key, m) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        if (strcmp(key, "buckets") == 0 && s && n > 1 && s[0] == '\0') {
            json_error_t err;
            json_t *b = json_loadb(s + 1, n - 1, 0, &err);
            if (b) json_object_set_new(v, key, b);
        } else {
            expand_buckets(m);
        }
    }
}

char *query_dump(const json_t *reply, size_t flags)
{
    int indent = (int)(flags & JSON_MAX_INDENT); /* JSON_INDENT(n) or compact */
    if (indent) expand_buckets((json_t *)reply); /* the same values, laid out */
    return json_text(reply, JSON_WRITE_RAW_NUL | JSON_WRITE_INDENT(indent));
}
