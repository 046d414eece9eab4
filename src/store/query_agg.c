/* query_agg.c: aggregations computed from raw rows, and their replies.
 *
 * One scan of the matching documents reads, per row, the id, ts, score and
 * one column per distinct field the aggregations use; each row then walks
 * the aggregation tree: a terms or date_histogram aggregation routes it to
 * its bucket (created on first use) and on to the bucket's sub-aggregations,
 * a metric accumulates the value, top_hits keeps its best rows. Replies are
 * built from the same state structures the fast plans (query_rollup.c)
 * fill: buckets sorted, cut to size, empty date buckets filled in, and
 * every bucket counted against search.max_buckets. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "store/query_int.h"


void *qx_bad(struct qx *x, const char *type, const char *fmt, ...)
{
    if (!x->bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->bad_reason, sizeof x->bad_reason, fmt, ap);
        va_end(ap);
        snprintf(x->bad_type, sizeof x->bad_type, "%s", type);
        x->bad = 1;
    }
    return NULL;
}

static void *too_many_buckets(struct qx *x, size_t n)
{
    return qx_bad(x, "too_many_buckets_exception",
                  "Trying to create too many buckets. Must be less than or equal to: [%ld] but was "
                  "[%zu]. This limit can be set by changing the [http] search_max_buckets "
                  "setting.",
                  x->q->max_buckets, n);
}

int qx_charge(struct qx *x, size_t bytes)
{
    x->mem += bytes;
    if (x->mem <= x->q->max_memory)
        return 0;
    qx_bad(x, "circuit_breaking_exception",
           "[request] Data too large: the aggregations of this request would hold more than "
           "[%zu] bytes. This limit can be set by changing the [http] search_max_memory setting.",
           x->q->max_memory);
    return GK_ELIMIT;
}

/* ---- metrics ----------------------------------------------------------- */

/* OpenSearch's CompensatedSum (Kahan summation). */
static void kahan_add(struct qmetric *m, double v)
{
    if (!isfinite(v) || !isfinite(m->sum)) {
        m->sum += v;
        return;
    }
    double corrected = v - m->comp;
    double s = m->sum + corrected;
    m->comp = (s - m->sum) - corrected;
    m->sum = s;
}

void qm_add(struct qmetric *m, double v, int keep)
{
    if (m->n == 0 || v < m->min) m->min = v;
    if (m->n == 0 || v > m->max) m->max = v;
    m->n++;
    kahan_add(m, v);
    if (!keep) return;
    if (m->nv == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->vals = xrealloc(m->vals, m->cap * sizeof *m->vals);
    }
    m->vals[m->nv++] = v;
}

void qm_merge(struct qmetric *m, int64_t n, double mn, double mx, double sm)
{
    if (n <= 0) return;
    if (m->n == 0 || mn < m->min) m->min = mn;
    if (m->n == 0 || mx > m->max) m->max = mx;
    m->n += n;
    kahan_add(m, sm);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exact percentile p of the sorted values: linear interpolation between
 * the closest ranks (rank p/100 * (n - 1)). */
static double percentile(const double *v, size_t n, double p)
{
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (rank - (double)lo) * (v[lo + 1] - v[lo]);
}

/* Java's Double.toString for the percents used as keys: "50.0", "99.9". */
static void pct_key(double p, char *out, size_t n)
{
    for (int dec = 1; dec <= 17; dec++) {
        snprintf(out, n, "%.*f", dec, p);
        if (strtod(out, NULL) == p) break;
    }
}

static json_t *num_or_null(int64_t n, double v)
{
    return n ? json_real(v) : json_null();
}

/* {"value": v}: built directly, as replies hold tens of thousands. */
static json_t *value_obj(json_t *v)
{
    json_t *o = json_object();
    json_object_set_new_nocheck(o, "value", v);
    return o;
}

static json_t *pct_json(const struct qagg *a, struct qmetric *m)
{
    json_t *vals = a->keyed ? json_object() : json_array();
    if (m->nv > 1) qsort(m->vals, m->nv, sizeof *m->vals, dbl_cmp);
    for (size_t i = 0; i < a->npct; i++) {
        char key[32];
        pct_key(a->pct[i], key, sizeof key);
        json_t *v = m->nv ? json_real(percentile(m->vals, m->nv, a->pct[i])) : json_null();
        if (a->keyed)
            json_object_set_new(vals, key, v);
        else
            json_array_append_new(vals, json_pack("{s:f, s:o}", "key", a->pct[i], "value", v));
    }
    return json_pack("{s:o}", "values", vals);
}

static json_t *value_json(const struct qagg *a, int64_t n, double v)
{
    json_t *r = value_obj(num_or_null(n, v));
    if (a->f.kind == QF_DATE && n) {
        char s[64], err[64];
        if (dt_format((int64_t)v, tz_utc(), a->format, s, sizeof s, err, sizeof err) >= 0)
            json_object_set_new(r, "value_as_string", json_string(s));
    }
    return r;
}

static json_t *metric_json(const struct qagg *a, struct qmetric *m)
{
    switch (a->kind) {
    case QA_AVG:
        return value_json(a, m->n, m->n ? m->sum / (double)m->n : 0);
    case QA_MIN:
        return value_json(a, m->n, m->min);
    case QA_MAX:
        return value_json(a, m->n, m->max);
    case QA_SUM:
        return value_obj(json_real(m->sum));
    case QA_COUNT:
        return value_obj(json_integer((json_int_t)m->n));
    case QA_STATS:
        return json_pack("{s:I, s:o, s:o, s:o, s:f}", "count", (json_int_t)m->n, "min",
                         num_or_null(m->n, m->min), "max", num_or_null(m->n, m->max), "avg",
                         num_or_null(m->n, m->n ? m->sum / (double)m->n : 0), "sum", m->sum);
    default:
        return pct_json(a, m);
    }
}

/* A single value of metric state s for ordering terms buckets (NAN when
 * there is none). */
static double metric_value(const struct qagg *a, const char *which, struct qmetric *m)
{
    enum qa_kind k = a->kind;
    if (k == QA_STATS) {
        static const enum qa_kind map[] = {QA_COUNT, QA_MIN, QA_MAX, QA_AVG, QA_SUM};
        static const char *const names[] = {"count", "min", "max", "avg", "sum"};
        for (int i = 0; i < 5; i++)
            if (strcmp(which, names[i]) == 0) k = map[i];
    }
    if (k == QA_COUNT) return (double)m->n;
    if (k == QA_SUM) return m->sum;
    if (m->n == 0) return NAN;
    if (k == QA_AVG) return m->sum / (double)m->n;
    if (k == QA_MIN) return m->min;
    if (k == QA_MAX) return m->max;
    if (m->nv > 1) qsort(m->vals, m->nv, sizeof *m->vals, dbl_cmp);
    return m->nv ? percentile(m->vals, m->nv, strtod(which, NULL)) : NAN;
}

/* ---- states and buckets ------------------------------------------------ */

struct qchunk {
    struct qchunk *next;
    max_align_t data[];
};

/* n zeroed bytes from the arena, aligned for any type. */
static void *arena_alloc(struct qarena *ar, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n > ar->left) {
        ar->size = ar->size ? ar->size * 2 : 4096;
        if (ar->size > 262144) ar->size = 262144;
        size_t size = n > ar->size ? n : ar->size;
        struct qchunk *c = xcalloc(1, sizeof *c + size);
        c->next = ar->chunks;
        ar->chunks = c;
        ar->next = (char *)c->data;
        ar->left = size;
    }
    void *p = ar->next;
    ar->next += n;
    ar->left -= n;
    return p;
}

static void arena_free(struct qarena *ar)
{
    for (struct qchunk *c = ar->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
}

struct qstate *qs_new(const struct qplan *p)
{
    struct qstate *s = xcalloc(1, sizeof *s + sizeof(struct qarena));
    s->p = p;
    s->arena = (struct qarena *)(s + 1);
    return s;
}

/* What b holds; b itself and its subs array are in the arena. */
static void bucket_clear(struct qbucket *b, const struct qagg *a)
{
    for (size_t i = 0; b->subs && i < a->nsubs; i++)
        qs_free(b->subs[i]);
    json_decref(b->subj);
    free(b->ks);
}

void qs_free(struct qstate *s)
{
    if (!s) return;
    const struct qagg *a = s->p->a;
    for (size_t i = 0; i < s->nb; i++)
        bucket_clear(s->b[i], a);
    free(s->b);
    if (s->sidx) map_free(s->sidx);
    free(s->sidx);
    free(s->ikeys);
    free(s->ibk);
    free(s->m.vals);
    for (size_t i = 0; i < s->nrows; i++)
        qx_row_clear(&s->rows[i], a->nsorts ? a->nsorts : 1);
    free(s->rows);
    if (s->arena == (struct qarena *)(s + 1)) { /* the root */
        arena_free(s->arena);
        free(s);
    }
}

static struct qbucket *bucket_add(struct qx *x, struct qstate *s)
{
    if (++x->nlive > (size_t)x->q->max_buckets) return too_many_buckets(x, x->nlive);
    if (qx_charge(x, sizeof(struct qbucket) + 2 * sizeof(void *)) != 0) return NULL;
    if (s->nb == s->capb) {
        s->capb = s->capb ? 2 * s->capb : 16;
        s->b = xrealloc(s->b, s->capb * sizeof *s->b);
    }
    struct qbucket *b = arena_alloc(s->arena, sizeof *b);
    s->b[s->nb++] = b;
    return b;
}

struct qbucket *qs_bucket_str(struct qx *x, struct qstate *s, const char *key)
{
    size_t len = strlen(key);
    if (s->last && strcmp(s->last->ks, key) == 0) return s->last;
    if (!s->sidx) s->sidx = xcalloc(1, sizeof *s->sidx);
    struct qbucket *b = map_get(s->sidx, key, len);
    if (!b && (b = bucket_add(x, s)) != NULL) {
        b->ks = xstrdup(key);
        map_put(s->sidx, key, len, b);
    }
    return s->last = b;
}

static size_t ihash(int64_t k, size_t cap)
{
    return (size_t)(((uint64_t)k * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static void igrow(struct qstate *s)
{
    size_t cap = s->icap ? 2 * s->icap : 64;
    int64_t *keys = xmalloc(cap * sizeof *keys);
    size_t *bk = xmalloc(cap * sizeof *bk);
    for (size_t i = 0; i < cap; i++)
        bk[i] = SIZE_MAX;
    for (size_t j = 0; j < s->nb; j++) {
        size_t i = ihash(s->b[j]->ki, cap);
        while (bk[i] != SIZE_MAX)
            i = (i + 1) & (cap - 1);
        keys[i] = s->b[j]->ki, bk[i] = j;
    }
    free(s->ikeys);
    free(s->ibk);
    s->ikeys = keys, s->ibk = bk, s->icap = cap;
}

struct qbucket *qs_bucket_int(struct qx *x, struct qstate *s, int64_t key)
{
    if (s->last && s->last->ki == key) return s->last;
    if ((s->nb + 1) * 2 > s->icap) igrow(s);
    size_t i = ihash(key, s->icap);
    while (s->ibk[i] != SIZE_MAX && s->ikeys[i] != key)
        i = (i + 1) & (s->icap - 1);
    if (s->ibk[i] != SIZE_MAX) return s->last = s->b[s->ibk[i]];
    struct qbucket *b = bucket_add(x, s);
    if (!b) return NULL;
    b->ki = key;
    s->ikeys[i] = key, s->ibk[i] = s->nb - 1;
    return s->last = b;
}

struct qstate *qs_sub(const struct qstate *s, struct qbucket *b, size_t i)
{
    const struct qagg *a = s->p->a;
    if (!b->subs) b->subs = arena_alloc(s->arena, a->nsubs * sizeof *b->subs);
    if (!b->subs[i]) {
        struct qstate *sub = arena_alloc(s->arena, sizeof *sub);
        sub->p = &s->p->subs[i];
        sub->arena = s->arena;
        b->subs[i] = sub;
    }
    return b->subs[i];
}

/* ---- plans ------------------------------------------------------------- */

struct qplan *qplan_bare(const struct qagg *a)
{
    struct qplan *p = xcalloc(1, sizeof *p);
    p->a = a;
    p->col = p->keycol = -1;
    p->subs = a->nsubs ? xcalloc(a->nsubs, sizeof *p->subs) : NULL;
    for (size_t i = 0; i < a->nsubs; i++) {
        struct qplan *c = qplan_bare(a->subs[i]);
        p->subs[i] = *c;
        free(c);
    }
    return p;
}

static void qplan_clear(struct qplan *p)
{
    for (size_t i = 0; i < p->a->nsubs; i++)
        qplan_clear(&p->subs[i]);
    free(p->subs);
}

void qplan_free(struct qplan *p)
{
    if (!p) return;
    qplan_clear(p);
    free(p);
}

/* ---- replies ----------------------------------------------------------- */

/* The sub-aggregation replies of b computed by the state's fill callback. */
static json_t *filled(struct qx *x, const struct qstate *s, struct qbucket *b)
{
    if (!b->subj) b->subj = s->fill(x, s, b);
    return b->subj;
}

static json_t *subs_json(struct qx *x, const struct qstate *s, struct qbucket *b, json_t *into)
{
    const struct qagg *a = s->p->a;
    if (s->fill) {
        json_object_update(into, filled(x, s, b));
        return into;
    }
    for (size_t i = 0; i < a->nsubs; i++) {
        struct qstate *sub = qs_sub(s, b, i);
        json_object_set_new(into, a->subs[i]->name, qs_json(x, sub));
    }
    return into;
}

static int count_buckets(struct qx *x, size_t n)
{
    x->nbuckets += n;
    if (x->nbuckets > (size_t)x->q->max_buckets) {
        too_many_buckets(x, x->nbuckets);
        return -1;
    }
    return 0;
}

struct order_ctx {
    const struct qagg *a;
    const struct qstate *s;
    struct qx *x;
};

/* The ordering value of a filled bucket, read back from its reply. */
static double filled_value(struct qx *x, const struct qstate *s, struct qbucket *b)
{
    const struct qagg *a = s->p->a, *m = a->subs[a->order_sub];
    json_t *r = json_object_get(filled(x, s, b), m->name), *v;
    if (m->kind == QA_STATS) {
        v = json_object_get(r, a->order_metric);
    } else if (m->kind == QA_PCT) {
        char key[32];
        double p = strtod(a->order_metric, NULL);
        pct_key(p, key, sizeof key);
        json_t *vals = json_object_get(r, "values");
        v = json_object_get(vals, key);
        for (size_t i = 0; json_is_array(vals) && i < json_array_size(vals); i++)
            if (json_number_value(json_object_get(json_array_get(vals, i), "key")) == p)
                v = json_object_get(json_array_get(vals, i), "value");
    } else {
        v = json_object_get(r, "value");
    }
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int bucket_order(const void *pa, const void *pb, void *arg)
{
    const struct order_ctx *c = arg;
    struct qbucket *x = *(struct qbucket *const *)pa, *y = *(struct qbucket *const *)pb;
    const struct qagg *a = c->a;
    int r = 0;
    if (a->order == QO_COUNT) {
        r = (x->n > y->n) - (x->n < y->n);
    } else if (a->order == QO_SUB) {
        const struct qagg *m = a->subs[a->order_sub];
        double u, v;
        if (c->s->fill) {
            u = filled_value(c->x, c->s, x), v = filled_value(c->x, c->s, y);
        } else {
            u = metric_value(m, a->order_metric, &qs_sub(c->s, x, a->order_sub)->m);
            v = metric_value(m, a->order_metric, &qs_sub(c->s, y, a->order_sub)->m);
        }
        if (isnan(u) != isnan(v)) return isnan(u) ? 1 : -1; /* no value: last */
        r = (u > v) - (u < v);
    }
    if (a->order != QO_KEY && r) return a->order_desc ? -r : r;
    int k = strcmp(x->ks, y->ks);
    return a->order == QO_KEY && a->order_desc ? -k : k;
}

static json_t *terms_json(struct qx *x, struct qstate *s)
{
    const struct qagg *a = s->p->a;
    struct order_ctx c = {a, s, x};
    struct qbucket **v = xmalloc((s->nb + 1) * sizeof *v);
    size_t n = 0;
    int64_t other = 0;
    for (size_t i = 0; i < s->nb; i++)
        if (s->b[i]->n >= a->min_doc_count) v[n++] = s->b[i];
    qsort_r(v, n, sizeof *v, bucket_order, &c);
    json_t *arr = json_array();
    size_t keep = n < (size_t)a->size ? n : (size_t)a->size;
    for (size_t i = keep; i < n; i++)
        other += v[i]->n;
    if (count_buckets(x, keep) == 0)
        for (size_t i = 0; i < keep; i++) {
            json_t *b = json_pack("{s:s, s:I}", "key", v[i]->ks, "doc_count", (json_int_t)v[i]->n);
            json_array_append_new(arr, subs_json(x, s, v[i], b));
        }
    free(v);
    return json_pack("{s:i, s:I, s:o}", "doc_count_error_upper_bound", 0, "sum_other_doc_count",
                     (json_int_t)other, "buckets", arr);
}

int64_t qx_dh_floor(const struct qagg *a, int64_t ms)
{
    return a->calendar ? dt_floor(ms, a->unit, a->zone) : dt_floor_fixed(ms, a->interval, a->zone);
}

/* The start of the bucket after the one starting at key. */
int64_t qx_dh_next(const struct qagg *a, int64_t key)
{
    if (a->calendar) return dt_next(key, a->unit, a->zone);
    int64_t probe = key, next;
    do {
        probe += a->interval;
        next = dt_floor_fixed(probe, a->interval, a->zone);
    } while (next <= key);
    return next;
}

static int ki_cmp(const void *pa, const void *pb)
{
    const struct qbucket *x = *(struct qbucket *const *)pa, *y = *(struct qbucket *const *)pb;
    return (x->ki > y->ki) - (x->ki < y->ki);
}

static json_t *dh_bucket(struct qx *x, struct qstate *s, struct qbucket *b)
{
    const struct qagg *a = s->p->a;
    char ks[64], err[64];
    if (dt_format(b->ki, a->zone, a->format, ks, sizeof ks, err, sizeof err) < 0) ks[0] = '\0';
    json_t *o = json_object();
    json_object_set_new_nocheck(o, "key_as_string", json_string(ks));
    json_object_set_new_nocheck(o, "key", json_integer((json_int_t)b->ki));
    json_object_set_new_nocheck(o, "doc_count", json_integer((json_int_t)b->n));
    return subs_json(x, s, b, o);
}

/* ---- date histogram buckets as text ------------------------------------- */

/* A histogram whose sub-aggregations are all metrics has its buckets
 * written as JSON text at once, the bytes dh_bucket's objects would print
 * as (held as a raw string: query_dump): a reply of thousands of buckets
 * costs a fraction of the objects' allocations, and an empty bucket's
 * metrics are printed once. When it does not apply (sub-aggregations that
 * are not metrics, a sub named as a member of the bucket or as another
 * sub, buckets filled by a callback), the buckets are objects. */
#define DH_TEXT_SUBS 16

struct dhtext {
    struct buf out;
    size_t n;                      /* buckets written */
    struct buf name[DH_TEXT_SUBS]; /* ,"<name>": of each sub */
    char *empty[DH_TEXT_SUBS];     /* each sub's reply for no values */
};

static int dh_text_ok(const struct qstate *s)
{
    static const char *const own[] = {"key_as_string", "key", "doc_count"};
    const struct qagg *a = s->p->a;
    if (s->fill || a->nsubs > DH_TEXT_SUBS) return 0;
    for (size_t i = 0; i < a->nsubs; i++) {
        const struct qagg *m = a->subs[i];
        if (m->kind < QA_AVG || m->kind > QA_PCT) return 0;
        for (size_t k = 0; k < 3; k++)
            if (strcmp(m->name, own[k]) == 0) return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->name, a->subs[j]->name) == 0) return 0;
    }
    return 1;
}

/* v's compact text appended to b (v consumed; NULL: nothing). */
static void put_json(struct buf *b, json_t *v)
{
    json_write(b, v, JSON_WRITE_RAW_NUL);
    json_decref(v);
}

static void dh_text_init(struct dhtext *w, const struct qstate *s)
{
    const struct qagg *a = s->p->a;
    memset(w, 0, sizeof *w);
    buf_putc(&w->out, '\0'); /* raw: query_dump */
    buf_putc(&w->out, '[');
    for (size_t i = 0; i < a->nsubs; i++) {
        struct qmetric none = {0};
        struct buf e = {0};
        buf_putc(&w->name[i], ',');
        put_json(&w->name[i], json_string(a->subs[i]->name));
        buf_putc(&w->name[i], ':');
        json_t *r = metric_json(a->subs[i], &none);
        if (r) put_json(&e, r);
        buf_putc(&e, '\0');
        w->empty[i] = r ? buf_steal(&e) : (buf_free(&e), NULL);
    }
}

/* 1 when s has a byte that a JSON string escapes. */
static int needs_escape(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return 1;
    return 0;
}

/* name and {"value": v} of a metric of one value (avg, min, max of a
 * number, sum, value_count) written as metric_json's object would be, but
 * without building it: a histogram writes one per bucket. 0: a metric of
 * another kind (nothing written). */
static int put_value(struct buf *out, const struct buf *name, const struct qagg *a,
                     const struct qmetric *m)
{
    double v;
    switch (a->kind) {
    case QA_AVG:
    case QA_MIN:
    case QA_MAX:
        if (a->f.kind == QF_DATE) return 0; /* value_as_string too */
        v = a->kind == QA_AVG   ? (m->n ? m->sum / (double)m->n : 0)
            : a->kind == QA_MIN ? m->min
                                : m->max;
        break;
    case QA_SUM:
        v = m->sum;
        break;
    case QA_COUNT:
        buf_append(out, name->data, name->len);
        buf_puts(out, "{\"value\":");
        buf_put_i64(out, m->n);
        buf_putc(out, '}');
        return 1;
    default:
        return 0;
    }
    if (!isfinite(v)) return 0; /* what jansson makes of it */
    buf_append(out, name->data, name->len);
    buf_puts(out, "{\"value\":");
    if (m->n || a->kind == QA_SUM)
        json_write_real(out, v);
    else
        buf_puts(out, "null");
    buf_putc(out, '}');
    return 1;
}

static void dh_text_bucket(struct dhtext *w, struct qstate *s, struct qbucket *b)
{
    const struct qagg *a = s->p->a;
    char t[160], *p = t, err[64];
    /* the key as text: no escapes in the default format's digits */
    p = stpcpy(p, w->n++ ? ",{\"key_as_string\":\"" : "{\"key_as_string\":\"");
    int kl = dt_format(b->ki, a->zone, a->format, p, 64, err, sizeof err);
    if (kl < 0) *p = '\0', kl = 0;
    if (a->format && needs_escape(p)) {
        buf_append(&w->out, t, (size_t)(p - t) - 1); /* up to the quote */
        put_json(&w->out, json_string(p));
        p = t;
    } else {
        p += kl;
        *p++ = '"';
    }
    p = stpcpy(p, ",\"key\":");
    p = i64_text(p, b->ki);
    p = stpcpy(p, ",\"doc_count\":");
    p = i64_text(p, b->n);
    buf_append(&w->out, t, (size_t)(p - t));
    for (size_t i = 0; i < a->nsubs; i++) {
        struct qstate *sub = b->subs ? b->subs[i] : NULL;
        if (sub && put_value(&w->out, &w->name[i], a->subs[i], &sub->m)) continue;
        json_t *r = sub ? metric_json(a->subs[i], &sub->m) : NULL;
        if (!(sub ? r != NULL : w->empty[i] != NULL)) continue;
        buf_append(&w->out, w->name[i].data, w->name[i].len);
        if (r)
            put_json(&w->out, r);
        else
            buf_puts(&w->out, w->empty[i]);
    }
    buf_putc(&w->out, '}');
}

/* The buckets as a raw string (w's buffers freed). */
static json_t *dh_text_end(struct dhtext *w, size_t nsubs)
{
    for (size_t i = 0; i < nsubs; i++) {
        buf_free(&w->name[i]);
        free(w->empty[i]);
    }
    if (w->n == 0) {
        buf_free(&w->out);
        return json_array();
    }
    buf_putc(&w->out, ']');
    json_t *r = json_stringn_nocheck(w->out.data, w->out.len);
    buf_free(&w->out);
    return r;
}

/* The keys [lo, hi] of the filled histogram, or -1 past the limit. */
static int dh_range(struct qx *x, struct qstate *s, struct qbucket **v, size_t n, int64_t *lo,
                    int64_t *hi, size_t *count)
{
    const struct qagg *a = s->p->a;
    *count = 0;
    if (n == 0 && a->has_bounds != 3) return 0;
    *lo = n ? v[0]->ki : INT64_MAX, *hi = n ? v[n - 1]->ki : INT64_MIN;
    if (a->has_bounds & 1 && qx_dh_floor(a, a->bounds_lo) < *lo) *lo = qx_dh_floor(a, a->bounds_lo);
    if (a->has_bounds & 2 && qx_dh_floor(a, a->bounds_hi) > *hi) *hi = qx_dh_floor(a, a->bounds_hi);
    for (int64_t k = *lo; k <= *hi; k = qx_dh_next(a, k))
        if (++*count + x->nbuckets > (size_t)x->q->max_buckets) {
            too_many_buckets(x, x->nbuckets + *count);
            return -1;
        }
    return 0;
}

/* Adds b to the reply's buckets: an object to arr, or text to w. */
static void dh_add(struct qx *x, struct qstate *s, struct qbucket *b, json_t *arr,
                   struct dhtext *w)
{
    if (w)
        dh_text_bucket(w, s, b);
    else
        json_array_append_new(arr, dh_bucket(x, s, b));
}

static json_t *dh_json(struct qx *x, struct qstate *s)
{
    const struct qagg *a = s->p->a;
    if (a == x->total_from) {
        x->agg_total = 0;
        for (size_t i = 0; i < s->nb; i++)
            x->agg_total += s->b[i]->n;
        x->has_agg_total = 1;
    }
    struct qbucket **v = xmalloc((s->nb + 1) * sizeof *v);
    if (s->nb) memcpy(v, s->b, s->nb * sizeof *v);
    qsort(v, s->nb, sizeof *v, ki_cmp);
    struct dhtext text, *w = dh_text_ok(s) ? &text : NULL;
    json_t *arr = w ? NULL : json_array();
    size_t n = s->nb, cnt;
    int64_t lo = 0, hi = -1; /* set by dh_range when it finds buckets */
    if (w) dh_text_init(w, s);
    if (a->min_doc_count > 0) {
        size_t keep = 0;
        for (size_t i = 0; i < n; i++)
            keep += v[i]->n >= a->min_doc_count;
        if (count_buckets(x, keep) == 0)
            for (size_t i = 0; i < n; i++)
                if (v[i]->n >= a->min_doc_count) dh_add(x, s, v[i], arr, w);
    } else if (dh_range(x, s, v, n, &lo, &hi, &cnt) == 0 && count_buckets(x, cnt) == 0) {
        size_t j = 0;
        if (w) buf_reserve(&w->out, cnt * (80 + 24 * a->nsubs)); /* ~ a bucket's text */
        for (int64_t k = lo; cnt > 0 && k <= hi; k = qx_dh_next(a, k)) {
            while (j < n && v[j]->ki < k) /* off the sequence: never expected */
                dh_add(x, s, v[j++], arr, w);
            struct qbucket empty = {.ki = k};
            struct qbucket *b = j < n && v[j]->ki == k ? v[j++] : &empty;
            dh_add(x, s, b, arr, w);
            for (size_t i = 0; b == &empty && empty.subs && i < a->nsubs; i++)
                qs_free(empty.subs[i]); /* what it holds: it is in the arena */
        }
    }
    free(v);
    return json_pack("{s:o}", "buckets", w ? dh_text_end(w, a->nsubs) : arr);
}

/* ---- top_hits ---------------------------------------------------------- */

static const struct qsort score_order[] = {{.kind = QS_SCORE, .desc = 1}};

static const struct qsort *th_sorts(const struct qagg *a, size_t *n)
{
    *n = a->nsorts ? a->nsorts : 1;
    return a->nsorts ? a->sorts : score_order;
}

/* Keeps r among the best from + size rows of s (r is consumed). */
static void th_keep(struct qstate *s, struct qrow *r)
{
    const struct qagg *a = s->p->a;
    size_t nk, k = (size_t)(a->from + a->size);
    const struct qsort *sorts = th_sorts(a, &nk);
    s->total++;
    if (k == 0 || (s->nrows == k && qx_row_cmp(sorts, nk, r, &s->rows[k - 1]) >= 0)) {
        qx_row_clear(r, nk);
        return;
    }
    if (!s->rows) s->rows = xcalloc(k, sizeof *s->rows);
    if (s->nrows == k) qx_row_clear(&s->rows[--s->nrows], nk);
    size_t i = s->nrows;
    while (i > 0 && qx_row_cmp(sorts, nk, r, &s->rows[i - 1]) < 0) {
        s->rows[i] = s->rows[i - 1];
        i--;
    }
    s->rows[i] = *r;
    s->nrows++;
}

static json_t *th_json(struct qx *x, struct qstate *s)
{
    const struct qagg *a = s->p->a;
    size_t nk, lo = (size_t)a->from < s->nrows ? (size_t)a->from : s->nrows;
    const struct qsort *sorts = th_sorts(a, &nk);
    int scores = a->nsorts == 0;
    for (size_t i = 0; i < a->nsorts; i++)
        scores |= a->sorts[i].kind == QS_SCORE;
    qx_load_sources(x, s->rows + lo, s->nrows - lo);
    json_t *hits = json_array();
    for (size_t i = lo; i < s->nrows; i++)
        json_array_append_new(hits,
                              qx_hit(x->q, &s->rows[i], a->sorts, a->nsorts, &a->src, scores));
    json_t *max = scores && s->nrows ? json_real((float)s->rows[0].score) : json_null();
    (void)sorts;
    return json_pack("{s:{s:{s:I, s:s}, s:o, s:o}}", "hits", "total", "value", (json_int_t)s->total,
                     "relation", "eq", "max_score", max, "hits", hits);
}

json_t *qs_json(struct qx *x, struct qstate *s)
{
    switch (s->p->a->kind) {
    case QA_TERMS:
        return terms_json(x, s);
    case QA_DATEH:
        return dh_json(x, s);
    case QA_TOPHITS:
        return th_json(x, s);
    default:
        return metric_json(s->p->a, &s->m);
    }
}

/* ---- the raw scan ------------------------------------------------------ */

struct scan {
    struct qsql sql;
    size_t ncols;
    const struct qfield *cols[256];
    int scores;   /* some top_hits needs the score */
    int overflow; /* more columns than cols holds */
};

#define SCAN_COL0 3 /* id, ts, score, then the fields */

/* The column of field f, added on first use (-1 when there are too many). */
static int scan_col(struct scan *sc, const struct qfield *f)
{
    for (size_t i = 0; i < sc->ncols; i++)
        if (strcmp(sc->cols[i]->name, f->name) == 0) return SCAN_COL0 + (int)i;
    if (sc->ncols == sizeof sc->cols / sizeof sc->cols[0]) {
        sc->overflow = 1;
        return -1;
    }
    sc->cols[sc->ncols++] = f;
    qsql_add(&sc->sql, ", ");
    qsql_field(&sc->sql, f);
    return SCAN_COL0 + (int)sc->ncols - 1;
}

static void plan_cols(struct scan *sc, struct qplan *p)
{
    const struct qagg *a = p->a;
    if (a->kind == QA_TOPHITS) {
        size_t nk;
        const struct qsort *sorts = th_sorts(a, &nk);
        p->keycol = SCAN_COL0 + (int)sc->ncols;
        for (size_t i = 0; i < nk; i++) {
            static const struct qfield none = {.kind = QF_ID, .name = "\x01none"};
            static const struct qfield id = {.kind = QF_ID, .name = "_id"};
            const struct qfield *f = sorts[i].kind == QS_FIELD ? &sorts[i].f
                                     : sorts[i].kind == QS_DOC ? &id
                                                               : &none;
            if (sc->ncols == sizeof sc->cols / sizeof sc->cols[0]) {
                sc->overflow = 1;
                return;
            }
            sc->cols[sc->ncols++] = f; /* one column per key, in order */
            qsql_add(&sc->sql, ", ");
            if (f == &none)
                qsql_add(&sc->sql, "NULL");
            else
                qsql_field(&sc->sql, f);
            sc->scores |= sorts[i].kind == QS_SCORE;
        }
    } else if (a->f.name && a->f.kind != QF_DATE) {
        p->col = scan_col(sc, &a->f);
    }
    for (size_t i = 0; i < a->nsubs; i++)
        plan_cols(sc, &p->subs[i]);
}

struct rowv {
    sqlite3_stmt *st;
    int64_t id, ts, date; /* date: ts in whole seconds */
    double score;
};

static void metric_collect(struct qx *x, struct qstate *s, const struct rowv *r)
{
    const struct qagg *a = s->p->a;
    if (a->kind == QA_PCT && qx_charge(x, sizeof(double)) != 0)
        return; /* percentiles keep every value */
    if (a->f.kind == QF_DATE) {
        qm_add(&s->m, (double)r->date, a->kind == QA_PCT);
        return;
    }
    int t = sqlite3_column_type(r->st, s->p->col);
    if (t == SQLITE_NULL) return;
    if (a->kind == QA_COUNT)
        s->m.n++;
    else
        qm_add(&s->m, sqlite3_column_double(r->st, s->p->col), a->kind == QA_PCT);
}

static void th_collect(struct qstate *s, const struct rowv *r)
{
    size_t nk;
    const struct qsort *sorts = th_sorts(s->p->a, &nk);
    struct qrow row = {.id = r->id, .ts = r->ts, .score = r->score};
    qx_row_keys(&row, r->st, s->p->keycol, sorts, nk);
    th_keep(s, &row);
}

static void collect(struct qx *x, struct qstate *s, const struct rowv *r)
{
    const struct qagg *a = s->p->a;
    struct qbucket *b;
    if (a->kind == QA_TOPHITS) return th_collect(s, r);
    if (a->kind == QA_TERMS) {
        const char *k = (const char *)sqlite3_column_text(r->st, s->p->col);
        if (!k) return;
        b = qs_bucket_str(x, s, k);
    } else if (a->kind == QA_DATEH) {
        b = qs_bucket_int(x, s, qx_dh_floor(a, r->date));
    } else {
        return metric_collect(x, s, r);
    }
    if (!b) return;
    b->n++;
    for (size_t i = 0; i < a->nsubs; i++)
        collect(x, qs_sub(s, b, i), r);
}

static void scan_sql(struct scan *sc, const struct query *q, const struct qctx *c)
{
    qsql_add(&sc->sql, " FROM docs d WHERE ");
    qsql_ctx_cond(&sc->sql, q, c);
}

/* Runs one scan for aggs[0..n) and returns their states. */
static struct qstate **raw_scan(struct qx *x, struct qagg *const *aggs, size_t n,
                                const struct qctx *c, struct qplan **plans)
{
    struct scan sc = {0};
    struct qstate **st = xcalloc(n, sizeof *st);
    int k;
    double v;
    for (size_t i = 0; i < n; i++)
        plans[i] = qplan_bare(aggs[i]);
    qsql_add(&sc.sql, "SELECT d.id, d.ts, ");
    qsql_score(&sc.sql, c->root, &k, &v);
    for (size_t i = 0; i < n; i++)
        plan_cols(&sc, plans[i]);
    if (sc.overflow) {
        qx_bad(x, "parsing_exception", "the aggregations use too many fields");
        qsql_free(&sc.sql);
        free(st);
        return NULL;
    }
    scan_sql(&sc, x->q, c);
    for (size_t i = 0; i < n; i++)
        st[i] = qs_new(plans[i]);
    sqlite3_stmt *stmt = qx_prepare(x, &sc.sql);
    struct rowv r = {.st = stmt};
    while (stmt && !x->bad && qx_step(x, stmt) == SQLITE_ROW) {
        r.id = sqlite3_column_int64(stmt, 0);
        r.ts = sqlite3_column_int64(stmt, 1);
        r.date = q_floordiv(r.ts, 1000) * 1000;
        r.score = sqlite3_column_double(stmt, 2);
        for (size_t i = 0; i < n; i++)
            collect(x, st[i], &r);
    }
    qx_done(x, stmt);
    qsql_free(&sc.sql);
    return st;
}

/* ---- entry points ------------------------------------------------------ */

void qx_aggs_eval(struct qx *x, struct qagg *const *aggs, size_t n, const struct qctx *c,
                  json_t *into)
{
    json_t **res = xcalloc(n + 1, sizeof *res);
    struct qagg **raw = xcalloc(n + 1, sizeof *raw);
    size_t nraw = 0;
    for (size_t i = 0; i < n; i++) {
        res[i] = x->q->no_rollups ? NULL : qx_fast_agg(x, aggs[i], c);
        if (!res[i]) raw[nraw++] = aggs[i];
    }
    struct qplan **plans = xcalloc(nraw + 1, sizeof *plans);
    struct qstate **st = nraw && !x->bad ? raw_scan(x, raw, nraw, c, plans) : NULL;
    for (size_t i = 0, j = 0; i < n; i++) {
        if (!res[i]) {
            res[i] = st && !x->bad ? qs_json(x, st[j]) : json_null();
            j++;
        }
        json_object_set_new(into, aggs[i]->name, res[i]);
    }
    for (size_t j = 0; j < nraw; j++) {
        if (st) qs_free(st[j]);
        qplan_free(plans[j]);
    }
    free(st);
    free(plans);
    free(raw);
    free(res);
}

json_t *qx_aggs(struct qx *x)
{
    struct qctx c = {.root = x->q->root};
    json_t *out = json_object();
    qx_aggs_eval(x, x->q->aggs, x->q->naggs, &c, out);
    return out;
}
