/* export.c: GET /{index}/_export?format=csv|ndjson (see search.h).
 *
 * Every document of the index matching the request's query (?source= or
 * the body; only its "query" counts: size, from, sort, aggregations and
 * _source are ignored), in _id order, streamed with chunked transfer
 * encoding. The documents are read in pages of EXPORT_PAGE, each page one
 * store_read() job on its own read transaction, continuing after the last
 * _id sent (keyset paging: no OFFSET, so a page costs the same at the end
 * as at the start). The next page is read only once the previous one has
 * left for the client (http_stream_wait), so a slow reader holds the
 * export, not the server's memory. Documents committed during an export
 * appear in it when their _id is past the page being read.
 *
 * Pages come from query_scan() (query.h), the same SQL filter _search uses, so
 * an export holds exactly the documents a _search of the same query would
 * count. ?timeout= limits each page's query.
 *
 * CSV: a header line, then one line per document, RFC 4180 quoting; a
 * text cell starting with = + - @ tab or CR (other than a plain number
 * such as "-3.5") gets a leading ' so that no spreadsheet runs it. The
 * columns are ?fields=a,b.c (each a member path of the document; `_id` is
 * the document's id) or by default _id,date,groupid,gps and <m>.value for
 * every measurement m seen in the first page, in order of appearance.
 * NDJSON: one {"_index","_id","_source"} object per line. */
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "gateway/bulk.h"
#include "gateway/gateway_int.h"
#include "gateway/search.h"
#include "http/http.h"
#include "store/query.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_PAGE     1000 /* documents per read job */
#define EXPORT_MAX_COLS 128

struct export
{
    struct gateway *g;
    struct http_req *req;
    struct query *q;
    char *index;
    int csv;
    int started;  /* the stream has begun */
    size_t ncols; /* CSV columns; 0 until the first page sets them */
    char *cols[EXPORT_MAX_COLS];
    uint64_t timeout_ms; /* per page */
    int64_t after;       /* the last _id sent */
    /* one page, filled on the worker */
    int status; /* 0 or a GK_E* code of query_scan(); GK_ECLOSED: no store */
    size_t nrows;
    struct row *rows;
    struct buf page;
};

struct row {
    int64_t id;
    json_t *doc; /* CSV: the parsed source */
    char *src;   /* NDJSON: the source text */
    size_t srclen;
};

/* ---- the page query (worker thread) ---- */

/* One matching document of the page, from query_scan. */
static int take_row(void *ud, int64_t id, const char *src, size_t len)
{
    struct export *x = ud;
    struct row *r = &x->rows[x->nrows++];
    r->id = id;
    if (x->csv) {
        r->doc = json_loadb(src, len, 0, NULL);
    } else {
        r->src = xmalloc(len + 1);
        memcpy(r->src, src, len);
        r->srclen = len;
    }
    return 0;
}

/* ---- CSV ---- */

static void add_col(struct export *x, const char *name)
{
    for (size_t i = 0; i < x->ncols; i++)
        if (strcmp(x->cols[i], name) == 0) return;
    if (x->ncols < EXPORT_MAX_COLS) x->cols[x->ncols++] = xstrdup(name);
}

/* The default columns: the fixed ones, then the measurements of rows. */
static void default_cols(struct export *x, const struct row *rows, size_t n)
{
    static const char *const fixed[] = {"_id", "date", "groupid", "gps"};
    for (size_t i = 0; i < 4; i++)
        add_col(x, fixed[i]);
    for (size_t r = 0; r < n; r++) {
        const char *key;
        json_t *v;
        json_object_foreach(rows[r].doc, key, v)
        {
            if (json_is_object(v) && json_object_get(v, "value")) {
                char col[QUERY_MAX_FIELD];
                snprintf(col, sizeof col, "%s.value", key);
                add_col(x, col);
            }
        }
    }
}

/* The member at a dotted path of doc, or NULL. */
static json_t *member(json_t *doc, const char *path)
{
    char part[QUERY_MAX_FIELD];
    json_t *v = doc;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part ? n : sizeof part - 1), path);
        v = json_is_object(v) ? json_object_get(v, part) : NULL;
        path += n + (path[n] == '.');
    }
    return v;
}

/* 1 when s[0..n) is a plain decimal number ("-3.5", "+1", "2e-3"), which
 * a spreadsheet reads as that number and nothing else. */
static int plain_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
    if (digits == 0) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) exp++;
        if (exp == 0) return 0;
    }
    return i == n;
}

/* CSV injection (OWASP): a text cell starting with = + - @ tab or CR is
 * what a spreadsheet may run as a formula; it gets a leading '. */
static int formula_like(const char *s, size_t n)
{
    return n > 0 && memchr("=+-@\t\r", s[0], 6) && !plain_number(s, n);
}

/* One text cell: neutralised (above), then quoted as RFC 4180 asks. */
static void csv_field(struct buf *out, const char *s, size_t n)
{
    int guard = formula_like(s, n);
    if (strcspn(s, ",\"\r\n") >= n) {
        if (guard) buf_putc(out, '\'');
        buf_append(out, s, n);
        return;
    }
    buf_putc(out, '"');
    if (guard) buf_putc(out, '\'');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') buf_putc(out, '"');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}

static void csv_value(struct buf *out, json_t *v)
{
    if (json_is_string(v)) {
        csv_field(out, json_string_value(v), json_string_length(v));
    } else if (json_is_number(v)) { /* a number is written as it is ("-3.5") */
        json_write(out, v, 0); /* 26.2, not 26.199999999999999 */
    } else if (v && !json_is_null(v)) { /* true, false, an object or an array */
        char *text = json_text(v, 0);
        csv_field(out, text, strlen(text));
        free(text);
    }
}

static void csv_row(struct export *x, const struct row *r)
{
    for (size_t c = 0; c < x->ncols; c++) {
        if (c) buf_putc(&x->page, ',');
        if (strcmp(x->cols[c], "_id") == 0)
            buf_printf(&x->page, "%lld", (long long)r->id);
        else
            csv_value(&x->page, member(r->doc, x->cols[c]));
    }
    buf_puts(&x->page, "\r\n");
}

/* ---- NDJSON ---- */

static void ndjson_row(struct export *x, const struct row *r)
{
    buf_printf(&x->page, "{\"_index\":\"%s\",\"_id\":\"%lld\",\"_source\":", x->index,
               (long long)r->id);
    if (!memchr(r->src, '\n', r->srclen) && !memchr(r->src, '\r', r->srclen)) {
        buf_append(&x->page, r->src, r->srclen);
    } else { /* stored as posted, over several lines: one line here */
        json_t *doc = json_loadb(r->src, r->srclen, 0, NULL);
        char *text = json_text(doc, 0);
        buf_puts(&x->page, text ? text : "null");
        free(text);
        json_decref(doc);
    }
    buf_puts(&x->page, "}\n");
}

/* One page: store_read's function (worker thread). */
static void page_run(sqlite3 *db, void *arg)
{
    struct export *x = arg;
    struct row *rows = x->rows = xcalloc(EXPORT_PAGE, sizeof *rows);
    x->nrows = 0;
    x->status = query_scan(x->q, db, x->after, EXPORT_PAGE, clock_mono_ms() + x->timeout_ms,
                           take_row, x);
    if (x->csv && !x->started) {
        if (x->ncols == 0) default_cols(x, rows, x->nrows);
        for (size_t c = 0; c < x->ncols; c++) {
            buf_puts(&x->page, c ? "," : "");
            csv_field(&x->page, x->cols[c], strlen(x->cols[c]));
        }
        buf_puts(&x->page, "\r\n");
    }
    for (size_t i = 0; i < x->nrows; i++) {
        if (x->csv)
            csv_row(x, &rows[i]);
        else
            ndjson_row(x, &rows[i]);
        x->after = rows[i].id;
        json_decref(rows[i].doc);
        free(rows[i].src);
    }
    free(rows);
    x->rows = NULL;
}

/* ---- the stream (loop thread) ---- */

static void export_free(struct export *x)
{
    if (x->q) query_free(x->q);
    free(x->index);
    for (size_t i = 0; i < x->ncols; i++)
        free(x->cols[i]);
    buf_free(&x->page);
    free(x);
}

static void first_page_failed(struct export *x)
{
    char reason[BULK_MAX_INDEX + 64];
    int status = search_status_of(x->status);
    if (x->status == GK_ENOTFOUND) {
        snprintf(reason, sizeof reason, "no such index [%s]", x->index);
        search_error(x->req, status, "index_not_found_exception", reason, NULL);
    } else if (x->status == GK_ETIMEDOUT) {
        search_error(x->req, status, "timeout_exception", "the export's first page timed out",
                     NULL);
    } else {
        search_error(x->req, status, "exception", "the export failed", NULL);
    }
}

static void page_done(void *arg, int status);

static void on_ready(void *ud, int status)
{
    struct export *x = ud;
    if (status != 0) { /* the client is gone */
        http_stream_end(x->req);
        export_free(x);
    } else if (x->g->http && http_server_closing(x->g->http)) {
        http_stream_abort(x->req); /* the store is closing: truncated, not complete */
        export_free(x);
    } else {
        store_read(x->g->store, page_run, page_done, x);
    }
}

static void page_done(void *arg, int status)
{
    struct export *x = arg;
    if (status != 0) x->status = GK_ECLOSED; /* the store is closing */
    if (!x->started && x->status != 0) {
        first_page_failed(x);
        return export_free(x);
    }
    if (x->status != 0) {
        log_warn("export of %s: page after _id %lld failed (%s): answer truncated", x->index,
                 (long long)x->after, gk_strerror(x->status));
        http_stream_abort(x->req);
        return export_free(x);
    }
    if (!x->started) {
        char hdr[BULK_MAX_INDEX + 80];
        snprintf(hdr, sizeof hdr, "Content-Disposition: attachment; filename=\"%s.%s\"\r\n",
                 x->index, x->csv ? "csv" : "ndjson");
        http_stream_begin(x->req, 200, hdr,
                          x->csv ? "text/csv; charset=UTF-8" : "application/x-ndjson");
        x->started = 1;
    }
    int rc = http_stream_write(x->req, x->page.data, x->page.len);
    buf_reset(&x->page);
    if (rc != 0 || x->nrows < EXPORT_PAGE || http_stream_wait(x->req, on_ready, x) != 0) {
        http_stream_end(x->req);
        export_free(x);
    }
}

/* ---- the request ---- */

static const char *const export_known[] = {"format",  "fields", "source", "source_content_type",
                                           "timeout", "size",   "pretty", "error_trace",
                                           NULL};

/* The request's DSL without what an export ignores; NULL when the text is
 * no JSON object (query_parse then names the problem on the original). */
static char *query_only(const char *text, size_t len)
{
    static const char *const drop[] = {"size",
                                       "from",
                                       "sort",
                                       "aggs",
                                       "aggregations",
                                       "_source",
                                       "track_total_hits",
                                       "search_after",
                                       "track_scores"};
    json_t *dsl = json_loadb(text, len, 0, NULL);
    char *out = NULL;
    if (json_is_object(dsl)) {
        for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
            json_object_del(dsl, drop[i]);
        out = json_text(dsl, 0);
    }
    json_decref(dsl);
    return out;
}

static int parse_fields(struct export *x, const char *fields, char *err, size_t errlen)
{
    for (const char *p = fields; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= QUERY_MAX_FIELD || x->ncols == EXPORT_MAX_COLS)
            return gk_errf(err, errlen, GK_EINVAL,
                           "fields must be 1-%d comma-separated member paths (e.g. "
                           "fields=_id,date,no2.value)",
                           EXPORT_MAX_COLS);
        char col[QUERY_MAX_FIELD];
        snprintf(col, sizeof col, "%.*s", (int)n, p);
        add_col(x, col);
        p += n + (p[n] == ',');
    }
    return 0;
}

/* The format, columns and query of the request into x; 0 or answered. */
static int export_setup(struct export *x, const struct search_params *p, const char *index)
{
    const char *format = search_param(p, "format"), *fields = search_param(p, "fields");
    char err[256];
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "ndjson") != 0) {
        search_error(x->req, 400, "illegal_argument_exception", "format must be csv or ndjson",
                     NULL);
        return GK_EINVAL;
    }
    x->csv = !format || strcmp(format, "csv") == 0;
    if (fields && parse_fields(x, fields, err, sizeof err) != 0) {
        search_error(x->req, 400, "illegal_argument_exception", err, NULL);
        return GK_EINVAL;
    }
    uint64_t deadline;
    if (search_deadline(x->g, x->req, p, &deadline) != 0) return GK_EINVAL;
    x->index = xstrdup(index);
    x->timeout_ms = deadline - clock_mono_ms();
    struct query_env env;
    search_env(x->g, &env);
    size_t len;
    const char *text = search_dsl(x->req, p, &len);
    char *trimmed = text ? query_only(text, len) : NULL;
    json_t *perr = NULL;
    int st = query_parse(&x->q, QUERY_SEARCH, index, trimmed ? trimmed : text,
                         trimmed ? strlen(trimmed) : len, &env, &perr);
    free(trimmed);
    if (st != 0) {
        char *body = json_text(perr, 0);
        http_respond(x->req, search_status_of(st), NULL, "application/json", body,
                     strlen(body));
        free(body);
        json_decref(perr);
        return GK_EINVAL;
    }
    return 0;
}

void search_export(struct gateway *g, struct http_req *req, const char *index)
{
    struct search_params p;
    if (search_params_parse(req, export_known, &p) != 0) return;
    struct export *x = xcalloc(1, sizeof *x);
    x->g = g;
    x->req = req;
    int rc = export_setup(x, &p, index);
    search_params_free(&p);
    if (rc != 0) {
        for (size_t i = 0; i < x->ncols; i++)
            free(x->cols[i]);
        free(x->index);
        free(x);
        return;
    }
    store_read(g->store, page_run, page_done, x);
}
