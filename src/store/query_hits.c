/* query_hits.c: hits and counts of a request.
 *
 * hits.total counts matching documents up to track_total_hits + 1.
 * hits.hits reads the window [from, from + size) in the requested order:
 * by _score (then _doc, i.e. docs.id), or by sort keys (then docs.id, as
 * Lucene breaks ties by document). A sort starting with `date` reads rows
 * in docs.ts order (the (idx, ts) index) and stops at the end of the second
 * holding the last row of the window; those rows are then ordered in C by
 * the full key list, since `date` has second precision while ts has ms.
 * Sources are loaded by id for the window only, then filtered by _source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"

/* ---- rows and keys ----------------------------------------------------- */

void qx_sort_cols(struct qsql *s, const struct qsort *sorts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qsql_add(s, ", ");
        if (sorts[i].kind == QS_SCORE)
            qsql_add(s, "NULL");
        else if (sorts[i].kind == QS_DOC)
            qsql_add(s, "d.id");
        else
            qsql_field(s, &sorts[i].f);
        buf_printf(&s->sql, " AS k%zu", i);
    }
}

void qx_row_keys(struct qrow *r, sqlite3_stmt *st, int col, const struct qsort *sorts, size_t n)
{
    r->keys = n ? xcalloc(n, sizeof *r->keys) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct qkey *k = &r->keys[i];
        if (sorts[i].kind == QS_SCORE) {
            k->type = SQLITE_FLOAT;
            k->d = r->score;
            continue;
        }
        k->type = sqlite3_column_type(st, col + (int)i);
        if (k->type == SQLITE_INTEGER) {
            k->i = sqlite3_column_int64(st, col + (int)i);
        } else if (k->type == SQLITE_FLOAT) {
            k->d = sqlite3_column_double(st, col + (int)i);
        } else if (k->type == SQLITE_TEXT) {
            k->s = xstrdup((const char *)sqlite3_column_text(st, col + (int)i));
        } else {
            k->type = SQLITE_NULL;
        }
        if (sorts[i].f.kind == QF_MEAS && k->type == SQLITE_INTEGER)
            k->type = SQLITE_FLOAT, k->d = (double)k->i;
    }
}

static int key_cmp(const struct qkey *a, const struct qkey *b)
{
    if (a->type != b->type)
        return a->type == SQLITE_NULL ? 2 : b->type == SQLITE_NULL ? -2 : a->type - b->type;
    switch (a->type) {
    case SQLITE_INTEGER:
        return (a->i > b->i) - (a->i < b->i);
    case SQLITE_FLOAT:
        return (a->d > b->d) - (a->d < b->d);
    case SQLITE_TEXT:
        return strcmp(a->s, b->s);
    }
    return 0;
}

int qx_row_cmp(const struct qsort *sorts, size_t n, const struct qrow *a, const struct qrow *b)
{
    for (size_t i = 0; i < n; i++) {
        int c = key_cmp(&a->keys[i], &b->keys[i]);
        /* missing values (±2) sort last in both directions */
        if (c == 2 || c == -2) return c / 2;
        if (c) return sorts[i].desc ? -c : c;
    }
    return (a->id > b->id) - (a->id < b->id);
}

void qx_row_clear(struct qrow *r, size_t nkeys)
{
    for (size_t i = 0; r->keys && i < nkeys; i++)
        free(r->keys[i].s);
    free(r->keys);
    free(r->src);
    memset(r, 0, sizeof *r);
}

/* ---- _source filtering ------------------------------------------------- */

/* Glob match with '*'; in prefix mode, also true when s ends first (some
 * longer text could still match). */
static int glob(const char *p, const char *s, int prefix)
{
    const char *star = NULL, *back = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++, back = s;
        } else if (*p == *s) {
            p++, s++;
        } else if (star) {
            p = star + 1, s = ++back;
        } else {
            return 0;
        }
    }
    if (prefix) return 1;
    while (*p == '*')
        p++;
    return *p == '\0';
}

static int any_match(char **pats, size_t n, const char *path, int prefix)
{
    for (size_t i = 0; i < n; i++)
        if (glob(pats[i], path, prefix)) return 1;
    return 0;
}

static json_t *filter_value(json_t *v, struct buf *path, const struct qsrc *src, int inc);

static json_t *filter_object(json_t *obj, struct buf *path, const struct qsrc *src, int inc)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    size_t plen = path->len;
    json_object_foreach(obj, k, v)
    {
        if (plen) buf_putc(path, '.');
        buf_puts(path, k);
        if (!any_match(src->exc, src->nexc, path->data, 0)) {
            int in = inc || any_match(src->inc, src->ninc, path->data, 0);
            json_t *f = filter_value(v, path, src, in);
            if (f) json_object_set_new(out, k, f);
        }
        path->len = plen;
        path->data[plen] = '\0';
    }
    return out;
}

/* v filtered at path; NULL when nothing of it is kept. */
static json_t *filter_value(json_t *v, struct buf *path, const struct qsrc *src, int inc)
{
    if (!inc && !json_is_object(v) && !json_is_array(v)) return NULL;
    if (!inc) {
        buf_putc(path, '.');
        int deeper = any_match(src->inc, src->ninc, path->data, 1);
        path->data[--path->len] = '\0';
        if (!deeper) return NULL;
    }
    if (json_is_object(v)) {
        json_t *f = filter_object(v, path, src, inc);
        if (!inc && json_object_size(f) == 0) return json_decref(f), NULL;
        return f;
    }
    if (!json_is_array(v)) return json_incref(v);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        json_t *f = json_is_object(e) || json_is_array(e) ? filter_value(e, path, src, inc)
                    : inc                                 ? json_incref(e)
                                                          : NULL;
        if (f) json_array_append_new(out, f);
    }
    if (!inc && json_array_size(out) == 0) return json_decref(out), NULL;
    return out;
}

json_t *qx_source(const char *text, int len, const struct qsrc *src)
{
    json_error_t jerr;
    if (src->ninc == 0 && src->nexc == 0 && len > 0) {
        /* The stored text itself, spliced in by query_dump(): a number
         * comes back as it was posted (26.2, not 26.199999999999999). */
        char *raw = xmalloc((size_t)len + 1);
        raw[0] = '\0';
        memcpy(raw + 1, text, (size_t)len);
        json_t *v = json_stringn_nocheck(raw, (size_t)len + 1);
        free(raw);
        return v;
    }
    json_t *doc = json_loadb(text, (size_t)len, 0, &jerr);
    if (!doc) return json_null();
    struct buf path = {0};
    buf_reserve(&path, 64);
    path.data[0] = '\0';
    json_t *out =
        json_is_object(doc) ? filter_object(doc, &path, src, src->ninc == 0) : json_incref(doc);
    buf_free(&path);
    json_decref(doc);
    return out;
}

/* ---- hits -------------------------------------------------------------- */

static json_t *key_json(const struct qkey *k, const struct qsort *s)
{
    if (s->kind == QS_SCORE) return json_real((float)k->d);
    switch (k->type) {
    case SQLITE_INTEGER:
        return json_integer(k->i);
    case SQLITE_FLOAT:
        return json_real(k->d);
    case SQLITE_TEXT:
        return json_string(k->s);
    }
    return json_null();
}

json_t *qx_hit(const struct query *q, const struct qrow *r, const struct qsort *sorts, size_t n,
               const struct qsrc *src, int scores)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)r->id);
    json_t *h = json_object();
    json_object_set_new(h, "_index", json_string(q->index));
    json_object_set_new(h, "_id", json_string(id));
    json_object_set_new(h, "_score", scores ? json_real((float)r->score) : json_null());
    if (!src->off)
        json_object_set_new(h, "_source", r->src ? qx_source(r->src, r->srclen, src) : json_null());
    if (n) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, key_json(&r->keys[i], &sorts[i]));
        json_object_set_new(h, "sort", a);
    }
    return h;
}

void qx_load_sources(struct qx *x, struct qrow *rows, size_t n)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT gk_unzip(source) FROM docs WHERE id = ?1");
    sqlite3_stmt *st = qx_prepare(x, &s);
    for (size_t i = 0; st && i < n; i++) {
        sqlite3_bind_int64(st, 1, rows[i].id);
        if (qx_step(x, st) == SQLITE_ROW) {
            rows[i].srclen = sqlite3_column_bytes(st, 0);
            rows[i].src = xstrndup((const char *)sqlite3_column_text(st, 0), rows[i].srclen);
        }
        sqlite3_reset(st);
    }
    qx_done(x, st);
    qsql_free(&s);
}

/* The plan of one hit list. */
struct hitplan {
    const struct qctx *c;
    const struct qsort *sorts; /* the effective keys (by _score when none given) */
    size_t nsorts;
    int by_date;     /* first key is `date`: read in ts order, fix ties in C */
    int score_const; /* every match has the same score */
    double score;
    int64_t want; /* from + size */
};

/* 1 when n requires a date range or a groupid, which an index finds. */
static int narrows(const struct qnode *n)
{
    if (n->kind == QN_RANGE && n->f.kind == QF_DATE) return 1;
    if (n->kind == QN_TERMS && n->f.kind == QF_GROUP) return 1;
    if (n->kind != QN_BOOL) return 0;
    for (int o = QB_MUST; o <= QB_FILTER; o++)
        for (size_t i = 0; i < n->nkids[o]; i++)
            if (narrows(n->kids[o][i])) return 1;
    return 0;
}

/* Rows wanted in id order with nothing narrowing them down by an index:
 * walking docs by id and stopping after the window beats sorting every
 * match. */
static int rowid_order(const struct hitplan *hp)
{
    double sc;
    const struct qsort *k = &hp->sorts[0];
    int score_const = qsql_score_const(hp->c->root, &sc);
    if (!(k->kind == QS_DOC && !k->desc) && !(k->kind == QS_SCORE && score_const)) return 0;
    return !hp->c->grp && !narrows(hp->c->root);
}

static void hits_sql(struct qsql *s, const struct query *q, struct hitplan *hp)
{
    struct qctx c = *hp->c;
    c.by_rowid = rowid_order(hp);
    qsql_add(s, "SELECT d.id, d.ts, ");
    qsql_score(s, hp->c->root, &hp->score_const, &hp->score);
    qsql_add(s, " AS sc");
    qx_sort_cols(s, hp->sorts, hp->nsorts);
    qsql_add(s, " FROM docs d WHERE ");
    qsql_ctx_cond(s, q, &c);
    qsql_add(s, " ORDER BY ");
    if (hp->by_date) {
        qsql_add(s, hp->sorts[0].desc ? "d.ts DESC" : "d.ts ASC");
        return;
    }
    for (size_t i = 0; i < hp->nsorts; i++) {
        const struct qsort *k = &hp->sorts[i];
        const char *dir = k->desc ? "DESC" : "ASC";
        if (k->kind == QS_SCORE && !hp->score_const)
            buf_printf(&s->sql, "sc %s, ", dir);
        else if (k->kind == QS_DOC)
            buf_printf(&s->sql, "d.id %s, ", dir);
        else if (k->kind != QS_SCORE)
            buf_printf(&s->sql, "(k%zu IS NULL), k%zu %s, ", i, i, dir);
    }
    buf_printf(&s->sql, "d.id LIMIT %lld", (long long)hp->want);
}

static struct qrow *row_push(struct qrow **rows, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *rows = xrealloc(*rows, *cap * sizeof **rows);
    }
    struct qrow *r = &(*rows)[(*n)++];
    memset(r, 0, sizeof *r);
    return r;
}

/* Reads rows until the window is complete (and, in ts order, until the
 * second of its last row ends). */
static size_t hits_read(struct qx *x, sqlite3_stmt *st, struct hitplan *hp, struct qrow **out)
{
    size_t n = 0, cap = 0;
    struct qrow *rows = NULL;
    while (qx_step(x, st) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 1);
        if (hp->by_date && (int64_t)n >= hp->want &&
            q_floordiv(ts, 1000) != q_floordiv(rows[n - 1].ts, 1000))
            break;
        struct qrow *r = row_push(&rows, &n, &cap);
        r->id = sqlite3_column_int64(st, 0);
        r->ts = ts;
        r->score = sqlite3_column_double(st, 2);
        qx_row_keys(r, st, 3, hp->sorts, hp->nsorts);
    }
    *out = rows;
    return n;
}

/* A stable merge sort by the full key list (qsort(3) has no user data). */
static void rows_sort(struct qrow *rows, size_t n, const struct qsort *sorts, size_t nsorts,
                      struct qrow *tmp)
{
    if (n < 2) return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    rows_sort(rows, h, sorts, nsorts, tmp);
    rows_sort(rows + h, n - h, sorts, nsorts, tmp);
    while (i < h && j < n)
        tmp[k++] = qx_row_cmp(sorts, nsorts, &rows[j], &rows[i]) < 0 ? rows[j++] : rows[i++];
    while (i < h)
        tmp[k++] = rows[i++];
    while (j < n)
        tmp[k++] = rows[j++];
    memcpy(rows, tmp, n * sizeof *tmp);
}

void qx_rows_sort(struct qrow *rows, size_t n, const struct qsort *sorts, size_t nsorts)
{
    if (n < 2) return;
    struct qrow *tmp = xmalloc(n * sizeof *tmp);
    rows_sort(rows, n, sorts, nsorts, tmp);
    free(tmp);
}

/* The highest score of all matches (max_score), or JSON null. */
static json_t *max_score(struct qx *x, const struct qctx *ctx)
{
    struct qsql s = {0};
    int c;
    double v;
    qsql_add(&s, "SELECT max(");
    qsql_score(&s, ctx->root, &c, &v);
    qsql_add(&s, "), count(*) FROM (SELECT * FROM docs d WHERE ");
    qsql_ctx_cond(&s, x->q, ctx);
    qsql_add(&s, c ? " LIMIT 1) d" : ") d");
    sqlite3_stmt *st = qx_prepare(x, &s);
    json_t *r = json_null();
    if (st && qx_step(x, st) == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0)
        r = json_real((float)sqlite3_column_double(st, 0));
    qx_done(x, st);
    qsql_free(&s);
    return r;
}

static const struct qsort by_score[] = {{.kind = QS_SCORE, .desc = 1}};

json_t *qx_hits(struct qx *x, const struct qctx *c, const struct qsort *sorts, size_t nsorts,
                const struct qsrc *src, int64_t from, int64_t size, int scores, json_t **max)
{
    json_t *arr = json_array();
    *max = json_null();
    if (size == 0) return arr;
    struct hitplan hp = {.c = c, .sorts = sorts, .nsorts = nsorts, .want = from + size};
    if (nsorts == 0) hp.sorts = by_score, hp.nsorts = 1, scores = 1;
    for (size_t i = 0; i < nsorts; i++)
        scores |= sorts[i].kind == QS_SCORE;
    hp.by_date = hp.sorts[0].kind == QS_FIELD && hp.sorts[0].f.kind == QF_DATE;
    struct qsql s = {0};
    hits_sql(&s, x->q, &hp);
    sqlite3_stmt *st = qx_prepare(x, &s);
    struct qrow *rows = NULL;
    size_t n = st ? hits_read(x, st, &hp, &rows) : 0;
    qx_done(x, st);
    qsql_free(&s);
    if (hp.by_date) qx_rows_sort(rows, n, hp.sorts, hp.nsorts);
    size_t lo = (size_t)from < n ? (size_t)from : n;
    size_t hi = (size_t)hp.want < n ? (size_t)hp.want : n;
    qx_load_sources(x, rows + lo, hi - lo);
    for (size_t i = lo; i < hi; i++)
        json_array_append_new(arr, qx_hit(x->q, &rows[i], sorts, nsorts, src, scores));
    if (scores && nsorts == 0 && lo == 0 && n > 0)
        *max = json_real((float)rows[0].score);
    else if (scores)
        json_decref(*max), *max = max_score(x, c);
    for (size_t i = 0; i < n; i++)
        qx_row_clear(&rows[i], hp.nsorts);
    free(rows);
    return arr;
}

/* ---- counts ------------------------------------------------------------ */

/* A count that measurements answer alone: a conjunction whose
 * measurement leaves all name one measurement (each document has at most
 * one value per name, so matching values count matching documents). */
static int meas_countable(const struct qnode *root, struct qconj *c)
{
    if (!qconj_of(root, c) || c->none || c->nmeas == 0) return 0;
    for (size_t i = 1; i < c->nmeas; i++)
        if (strcmp(c->meas[i]->f.arg, c->meas[0]->f.arg) != 0) return 0;
    return 1;
}

/* Walks the (group, name, ts) ranges of the measurements' primary key,
 * one group after the other. */
static void meas_count_sql(struct qsql *s, const struct query *q, const struct qconj *c)
{
    qsql_add(s, "SELECT 1 FROM groups g CROSS JOIN measurements m ON m.idx = g.idx"
                " AND m.grp = g.grp AND m.name = ");
    qsql_text(s, c->meas[0]->f.arg);
    if (c->lo != INT64_MIN) qsql_add(s, " AND m.ts >= "), qsql_int(s, c->lo);
    if (c->hi != INT64_MAX) qsql_add(s, " AND m.ts < "), qsql_int(s, c->hi);
    qsql_add(s, " WHERE g.idx = ");
    qsql_text(s, q->index);
    if (c->grp) {
        qsql_add(s, " AND g.grp");
        qsql_in(s, c->grp);
    }
    for (size_t i = 0; i < c->nmeas; i++) {
        qsql_add(s, " AND (");
        qsql_meas_cond(s, c->meas[i]);
        qsql_add(s, ")");
    }
}

/* Counts from the rollups (query_count.c) when they apply, except a
 * count of documents only that may stop after limit + 1: reading that many
 * index entries is cheaper than the rollups of every group. */
int64_t qx_count(struct qx *x, const struct qnode *root, int64_t limit)
{
    struct qsql s = {0};
    struct qconj c;
    int64_t n;
    int meas = !x->q->no_rollups && meas_countable(root, &c);
    if (!x->q->no_rollups && (limit < 0 || meas) && qx_rollup_count(x, root, NULL, &n)) return n;
    qsql_add(&s, "SELECT count(*) FROM (");
    if (meas) {
        meas_count_sql(&s, x->q, &c);
    } else {
        qsql_add(&s, "SELECT 1 FROM docs d WHERE d.idx = ");
        qsql_text(&s, x->q->index);
        qsql_add(&s, " AND (");
        qsql_cond(&s, root);
        qsql_add(&s, ")");
    }
    if (limit >= 0) buf_printf(&s.sql, " LIMIT %lld", (long long)limit + 1);
    qsql_add(&s, ")");
    sqlite3_stmt *st = qx_prepare(x, &s);
    n = st && qx_step(x, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    qx_done(x, st);
    qsql_free(&s);
    return n;
}

json_t *qx_total(struct qx *x, int64_t *count)
{
    int64_t track = x->q->track;
    *count = 0;
    if (track == 0) return NULL;
    int64_t n = x->has_agg_total && !x->timed_out ? x->agg_total
                                                  : qx_count(x, x->q->root, track < 0 ? -1 : track);
    *count = n;
    int gte = x->timed_out || (track > 0 && n > track);
    return json_pack("{s:I, s:s}", "value", (json_int_t)(track > 0 && n > track ? track : n),
                     "relation", gte ? "gte" : "eq");
}
