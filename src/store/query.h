/* query.h: the OpenSearch query DSL subset gasket answers, run on a
 * read-only SQLite connection of the store (see store_read() in store.h).
 *
 * A request is parsed and checked first (query_parse: no database, pure, the
 * fuzz target's entry), then run (query_exec) on a worker thread. Replies
 * are built in OpenSearch's JSON shape; anything outside the subset is
 * GK_EINVAL with OpenSearch's error object, whose "status" is the one the
 * gateway answers with:
 *   {"error":{"root_cause":[{"type":"parsing_exception","reason":"..."}],
 *             "type":"parsing_exception","reason":"..."},"status":400}
 * naming what is not supported, never a silently wrong answer.
 *
 * Every function returns 0 or a negative GK_E* code (core/err.h); the
 * gateway turns a code into an HTTP status (search_status_of()):
 *   GK_EINVAL     a bad request (400)
 *   GK_ELIMIT     over the request's budget (400, naming the setting)
 *   GK_ENOTFOUND  no such index, or document (404)
 *   GK_ETIMEDOUT  an export page passed its deadline (504)
 *   GK_ESTORE     a database error (500) */
#ifndef GASKET_STORE_QUERY_H
#define GASKET_STORE_QUERY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/datetime.h"

#define QUERY_MAX_BODY   (1u << 20) /* bytes of DSL accepted */
#define QUERY_MAX_DEPTH  32         /* nesting of bool / aggs */
#define QUERY_MAX_WINDOW 10000      /* from + size, as index.max_result_window */
#define QUERY_MAX_FIELD  256        /* bytes of a field name */

enum query_kind {
    QUERY_SEARCH, /* _search: hits and aggregations */
    QUERY_COUNT,  /* _count: {"count":N,"_shards":...}; only "query" allowed */
};

struct query_env {
    const struct tz *zone;  /* the configured zone: date text without offset */
    int64_t now_ms;         /* "now" of date math, fixed once per request */
    uint64_t deadline_mono; /* clock_mono_ms() past which the query stops
                             * and answers what it has with timed_out:true;
                             * 0: no limit */
    /* The request's budget ([http] search_max_*), 0 for the defaults:
     * aggregations in the whole tree (QUERY_MAX_AGGS), buckets built by all
     * aggregations together, while collecting and in the reply
     * (QUERY_MAX_BUCKETS), bytes of aggregation state held (buckets, the
     * values percentiles keep; QUERY_MAX_MEMORY), and the cap of the body's
     * "timeout" (none), which a body without one gets. Over a budget:
     * GK_ELIMIT, the reply naming the setting. */
    long max_aggs, max_buckets;
    size_t max_memory;
    int64_t max_timeout_ms;
};

#define QUERY_MAX_MEMORY ((size_t)256 << 20)

struct query; /* a parsed, checked request */

/* Parses body (JSON text; NULL or empty: match_all) for index. On success
 * returns 0 with *out set. On a bad request returns GK_EINVAL with
 * *err_reply set to the error object above (the caller owns it). */
int query_parse(struct query **out, enum query_kind kind, const char *index, const char *body,
                size_t len, const struct query_env *env, json_t **err_reply);
/* Runs q on db (read-only; another thread may be writing). Returns 0,
 * GK_ENOTFOUND (index_not_found_exception: the index does not exist),
 * GK_ELIMIT (over a budget of the request's query_env) or GK_ESTORE (a
 * database error) and sets *reply, the answer or its error object (the
 * caller owns it). */
int query_exec(const struct query *q, sqlite3 *db, json_t **reply);
void query_free(struct query *q);

/* Statements of queries on a store reader's connection: query_conn_keep
 * marks db as a connection that keeps the statements its queries prepared
 * (reset, found again by the next query of the same SQL text: a prepare
 * through the hot tier's views costs tens of microseconds);
 * query_conn_idle, between two reads, resets them, finalizes the oldest
 * past a few dozen and finalizes any left running (returns how many were:
 * a statement not given back, which would pin a snapshot);
 * query_conn_forget finalizes them all and unmarks db, before it is
 * closed. Any thread (a connection is used by one thread at a time). */
void query_conn_keep(sqlite3 *db);
int query_conn_idle(sqlite3 *db);
void query_conn_forget(sqlite3 *db);

/* One page of an export: the documents of q's index matching its query
 * whose _id is over after, in _id order, at most max: row(ud, id, source
 * text, length) for each (a non-zero return stops the page). Runs until
 * clock_mono_ms() passes deadline (0: no limit). Returns 0, GK_ENOTFOUND
 * when the index does not exist, GK_ETIMEDOUT when the deadline passed,
 * GK_ESTORE on a database error. */
int query_scan(const struct query *q, sqlite3 *db, int64_t after, size_t max, uint64_t deadline,
               int (*row)(void *ud, int64_t id, const char *src, size_t len), void *ud);

/* The JSON text of a reply of query_exec() or query_get_doc() (flags:
 * JSON_COMPACT or JSON_INDENT(n), laid out as json_dumps() would, but
 * reals as short as core/json.c writes them), with every unfiltered
 * `_source` spliced in as the stored text itself, byte for byte. Use it
 * instead of json_dumps() on replies: such a `_source` is held in the tree as a string starting with a NUL (a
 * character no stored document can hold), and so are a date histogram's
 * buckets (their compact text; with JSON_INDENT, the reply's buckets are
 * first replaced by their values, so reply is changed, not its meaning).
 * The caller frees the text. */
char *query_dump(const json_t *reply, size_t flags);

/* GET /{index}/_doc/{id}: 0 with {"_index","_id","_version":1,
 * "_seq_no","_primary_term":1,"found":true,"_source"}; GK_ENOTFOUND with
 * {"_index","_id","found":false} (no such document) or
 * index_not_found_exception (no such index); GK_ESTORE with the error
 * object of a database error. */
int query_get_doc(sqlite3 *db, const char *index, const char *id, json_t **reply);

/* GET /{index}: 0 with {"<index>":{"aliases":{},"mappings":{"properties":
 * ...},"settings":{...}}} (date, groupid, gps and each measurement name seen
 * as an object whose `value` is a double), GK_ENOTFOUND with
 * index_not_found_exception, or GK_ESTORE (reply NULL) on a database
 * error. */
int query_index_info(sqlite3 *db, const char *index, json_t **reply);

/* GET /_cat/indices: one row per index (health status index uuid pri rep
 * docs.count docs.deleted store.size pri.store.size), as text with a header
 * line when verbose, appended to *out (malloc'd, NUL-terminated). 0 or
 * GK_ESTORE. keep (NULL: every index) chooses the rows: called on the calling
 * thread with each index name, 1 to list it. */
typedef int (*query_cat_keep_fn)(void *ud, const char *index);
int query_cat_indices(sqlite3 *db, int verbose, query_cat_keep_fn keep, void *keep_ud, char **out,
                      size_t *len);

#endif
