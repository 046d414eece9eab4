/* query_rollup.c: date histograms and metrics from the rollup tables.
 *
 * The writer keeps, per (index, group, measurement), the count, min, max
 * and sum of every minute (rollup_1m) and hour (rollup_1h); see store.h.
 * An aggregation is answered from them only when that is exactly the raw
 * answer:
 *   - the query is a conjunction of match_all, ranges on `date` and at most
 *     one groupid term/terms (query_sql.c: qconj_of), so it selects whole
 *     groups over one time range [lo, hi);
 *   - the aggregation is a metric (avg, min, max, sum, value_count, stats)
 *     on `<m>.value`, a date_histogram of such metrics, or a terms on
 *     groupid over those;
 *   - every bucket boundary inside [lo, hi) falls on a tier boundary (1 h,
 *     else 1 min), in the histogram's time zone, so each tier unit lies in
 *     one bucket.
 * The range is cut into whole hours, whole minutes at its edges, and raw
 * measurements for the partial minutes at the very edges. [lo, hi) is
 * first narrowed to the index's documents (min ts .. max ts): retention
 * deletes the oldest documents first, so a rollup unit starting at or after
 * the oldest document left counts no deleted one.
 *
 * doc_count counts documents, rollups count values: the counts of the
 * first measurement name are used when they add up to the number of
 * documents in the range (then every document has exactly one value of it,
 * in every bucket); otherwise the documents' ts are read and counted. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"

#define HOUR             INT64_C(3600000)
#define MINUTE           INT64_C(60000)
#define ALIGN_CHECK_MAX  200000 /* bucket boundaries checked at most */
#define MAX_SCOPE_GROUPS 256    /* groups named by the query, at most */

/* ---- eligibility ------------------------------------------------------- */

static int rollable_metric(const struct qagg *m)
{
    return m->kind >= QA_AVG && m->kind <= QA_STATS && m->f.kind == QF_MEAS;
}

static int dh_ok(const struct qagg *a)
{
    for (size_t i = 0; i < a->nsubs; i++)
        if (!rollable_metric(a->subs[i])) return 0;
    return 1;
}

static int shape_ok(const struct qagg *a)
{
    if (rollable_metric(a)) return 1;
    if (a->kind == QA_DATEH) return dh_ok(a);
    if (a->kind != QA_TERMS || a->f.kind != QF_GROUP) return 0;
    for (size_t i = 0; i < a->nsubs; i++) {
        const struct qagg *s = a->subs[i];
        if (!rollable_metric(s) && !(s->kind == QA_DATEH && dh_ok(s))) return 0;
    }
    return 1;
}

/* 1 when every bucket boundary of dh inside (lo, hi) is a multiple of t. */
static int dh_aligned(const struct qagg *dh, int64_t lo, int64_t hi, int64_t t)
{
    int64_t k = qx_dh_floor(dh, lo);
    for (int i = 0; i < ALIGN_CHECK_MAX; i++) {
        k = qx_dh_next(dh, k);
        if (k >= hi) return 1;
        if (q_floordiv(k, t) * t != k) return 0;
    }
    return 0;
}

static int tree_aligned(const struct qagg *a, int64_t lo, int64_t hi, int64_t t)
{
    if (a->kind == QA_DATEH) return dh_aligned(a, lo, hi, t);
    for (size_t i = 0; i < a->nsubs; i++)
        if (!tree_aligned(a->subs[i], lo, hi, t)) return 0;
    return 1;
}

/* ---- scope: groups and time range -------------------------------------- */

struct rscope {
    int64_t lo, hi;
    size_t ngrp;
    char **grp;
    int all; /* every group of the index: no groupid condition on docs */
};

static void scope_free(struct rscope *sc)
{
    for (size_t i = 0; i < sc->ngrp; i++)
        free(sc->grp[i]);
    free(sc->grp);
}

static void scope_add(struct rscope *sc, const char *g)
{
    sc->grp = xrealloc(sc->grp, (sc->ngrp + 1) * sizeof *sc->grp);
    sc->grp[sc->ngrp++] = xstrdup(g);
}

static int64_t one_int(struct qx *x, const char *sql, int *null)
{
    struct qsql s = {0};
    qsql_add(&s, sql);
    qsql_text(&s, x->q->index);
    sqlite3_stmt *st = qx_prepare(x, &s);
    int64_t v = 0;
    *null = 1;
    if (st && qx_step(x, st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
        *null = 0;
    }
    sqlite3_finalize(st);
    qsql_free(&s);
    return v;
}

static int scope_all_groups(struct qx *x, struct rscope *sc, int by_group)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT grp FROM groups WHERE idx = ");
    qsql_text(&s, x->q->index);
    sqlite3_stmt *st = qx_prepare(x, &s);
    int ok = 1;
    while (st && qx_step(x, st) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        if (g[0] == '\0' && by_group) ok = 0; /* "" holds docs without groupid too */
        scope_add(sc, g);
    }
    sqlite3_finalize(st);
    qsql_free(&s);
    sc->all = 1;
    return ok;
}

static int scope_groups(struct qx *x, const struct qctx *c, const struct qconj *cj,
                        struct rscope *sc, int by_group)
{
    if (c->grp) {
        int in = !cj->grp;
        for (size_t i = 0; cj->grp && i < cj->grp->nvals; i++)
            in |= strcmp(cj->grp->vals[i].s, c->grp) == 0;
        if (!in || c->grp[0] == '\0') return 0; /* filtered out: raw is quick */
        scope_add(sc, c->grp);
        return 1;
    }
    if (cj->grp) {
        if (cj->grp->nvals > MAX_SCOPE_GROUPS) return 0;
        for (size_t i = 0; i < cj->grp->nvals; i++)
            scope_add(sc, cj->grp->vals[i].s);
        return 1;
    }
    return scope_all_groups(x, sc, by_group);
}

static int scope_of(struct qx *x, const struct qagg *a, const struct qctx *c, struct rscope *sc)
{
    struct qconj cj;
    int null_lo, null_hi;
    memset(sc, 0, sizeof *sc);
    if (!qconj_of(c->root, &cj) || cj.none || cj.nmeas > 0) return 0;
    int64_t first = one_int(x, "SELECT min(ts) FROM docs WHERE idx = ", &null_lo);
    int64_t last = one_int(x, "SELECT max(ts) FROM docs WHERE idx = ", &null_hi);
    if (null_lo || null_hi) return 0;
    sc->lo = cj.lo > first ? cj.lo : first;
    sc->hi = cj.hi <= last ? cj.hi : last + 1;
    if (sc->lo >= sc->hi) return 0;
    return scope_groups(x, c, &cj, sc, a->kind == QA_TERMS);
}

/* ---- reading ----------------------------------------------------------- */

/* One piece of the range, read from a tier (1 h, 1 min) or raw (0). */
struct region {
    int64_t tier, from, to;
};

static int64_t ceil_to(int64_t v, int64_t t)
{
    return -q_floordiv(-v, t) * t;
}

static size_t minute_pieces(int64_t from, int64_t to, struct region *r)
{
    size_t n = 0;
    int64_t m0 = ceil_to(from, MINUTE), m1 = q_floordiv(to, MINUTE) * MINUTE;
    if (m0 >= m1) {
        if (from < to) r[n++] = (struct region){0, from, to};
        return n;
    }
    if (from < m0) r[n++] = (struct region){0, from, m0};
    r[n++] = (struct region){MINUTE, m0, m1};
    if (m1 < to) r[n++] = (struct region){0, m1, to};
    return n;
}

/* [lo, hi) as hours (when tier is an hour), minutes and raw edges. */
static size_t regions_of(int64_t lo, int64_t hi, int64_t tier, struct region *r)
{
    if (tier != HOUR) return minute_pieces(lo, hi, r);
    int64_t h0 = ceil_to(lo, HOUR), h1 = q_floordiv(hi, HOUR) * HOUR;
    if (h0 >= h1) return minute_pieces(lo, hi, r);
    size_t n = minute_pieces(lo, h0, r);
    r[n++] = (struct region){HOUR, h0, h1};
    return n + minute_pieces(h1, hi, r + n);
}

/* A rollup row or a raw value on its way into the state tree. */
struct feed {
    struct qx *x;
    const char *name; /* measurement of the row; NULL: doc counts only */
    int count;        /* the row counts documents */
    const char *grp;
    int64_t t, n;
    double mn, mx, sm;
};

static void feed(const struct feed *f, struct qstate *s)
{
    const struct qagg *a = s->p->a;
    struct qbucket *b;
    if (a->kind == QA_TERMS) {
        b = qs_bucket_str(f->x, s, f->grp);
    } else if (a->kind == QA_DATEH) {
        b = qs_bucket_int(f->x, s, qx_dh_floor(a, f->t));
    } else {
        if (f->name && strcmp(a->f.arg, f->name) == 0) qm_merge(&s->m, f->n, f->mn, f->mx, f->sm);
        return;
    }
    if (!b) return;
    if (f->count) b->n += f->n;
    for (size_t i = 0; i < a->nsubs; i++)
        feed(f, qs_sub(s, b, i));
}

static const char *const region_sql[3] = {
    "SELECT ts, value, value, value, 1 FROM measurements"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND ts >= ?4 AND ts < ?5",
    "SELECT t, mn, mx, sm, n FROM rollup_1m"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
    "SELECT t, mn, mx, sm, n FROM rollup_1h"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
};

/* Feeds the rows of one (group, name, region); returns the values read. */
static int64_t read_region(struct qx *x, sqlite3_stmt *st, struct feed *f, struct qstate *root,
                           const struct region *r)
{
    int64_t total = 0;
    sqlite3_bind_text(st, 1, x->q->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->from);
    sqlite3_bind_int64(st, 5, r->to);
    while (qx_step(x, st) == SQLITE_ROW) {
        f->n = sqlite3_column_int64(st, 4);
        if (f->n <= 0 || sqlite3_column_type(st, 1) == SQLITE_NULL) continue; /* NaN */
        f->t = q_floordiv(sqlite3_column_int64(st, 0), 1000) * 1000;
        f->mn = sqlite3_column_double(st, 1);
        f->mx = sqlite3_column_double(st, 2);
        f->sm = sqlite3_column_double(st, 3);
        total += f->n;
        feed(f, root);
    }
    sqlite3_reset(st);
    return total;
}

/* Feeds one measurement name over the scope; returns its value count. */
static int64_t read_name(struct qx *x, sqlite3_stmt **st, const struct rscope *sc,
                         const struct region *rg, size_t nrg, const char *name, int count,
                         struct qstate *root)
{
    int64_t total = 0;
    struct feed f = {.x = x, .name = name, .count = count};
    for (size_t g = 0; g < sc->ngrp && !x->failed && !x->bad; g++) {
        f.grp = sc->grp[g];
        for (size_t i = 0; i < nrg; i++)
            total +=
                read_region(x, st[rg[i].tier == HOUR ? 2 : rg[i].tier == MINUTE], &f, root, &rg[i]);
    }
    return total;
}

/* ---- document counts --------------------------------------------------- */

static void docs_where(struct qsql *s, const struct query *q, const struct rscope *sc)
{
    qsql_add(s, " FROM docs WHERE idx = ");
    qsql_text(s, q->index);
    qsql_add(s, " AND ts >= ");
    qsql_int(s, sc->lo);
    qsql_add(s, " AND ts < ");
    qsql_int(s, sc->hi);
    if (sc->all) return;
    qsql_add(s, " AND groupid IN (");
    for (size_t i = 0; i < sc->ngrp; i++) {
        if (i) qsql_add(s, ", ");
        qsql_text(s, sc->grp[i]);
    }
    qsql_add(s, ")");
}

static int64_t docs_in_scope(struct qx *x, const struct rscope *sc)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT count(*)");
    docs_where(&s, x->q, sc);
    sqlite3_stmt *st = qx_prepare(x, &s);
    int64_t n = st && qx_step(x, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    qsql_free(&s);
    return n;
}

static void zero_counts(struct qstate *s)
{
    for (size_t i = 0; i < s->nb; i++) {
        s->b[i]->n = 0;
        for (size_t k = 0; s->b[i]->subs && k < s->p->a->nsubs; k++)
            if (s->b[i]->subs[k]) zero_counts(s->b[i]->subs[k]);
    }
}

/* Counts documents into the buckets from their (groupid, ts). */
static void count_docs(struct qx *x, const struct rscope *sc, struct qstate *root)
{
    struct qsql s = {0};
    struct feed f = {.x = x, .count = 1, .n = 1};
    qsql_add(&s, "SELECT IFNULL(groupid, ''), ts");
    docs_where(&s, x->q, sc);
    sqlite3_stmt *st = qx_prepare(x, &s);
    while (st && !x->bad && qx_step(x, st) == SQLITE_ROW) {
        f.grp = (const char *)sqlite3_column_text(st, 0);
        f.t = q_floordiv(sqlite3_column_int64(st, 1), 1000) * 1000;
        feed(&f, root);
    }
    sqlite3_finalize(st);
    qsql_free(&s);
}

/* ---- the plan ---------------------------------------------------------- */

#define MAX_NAMES 64

/* The distinct measurement names of a's metrics; 0 past MAX_NAMES. */
static int names_of(const struct qagg *a, const char **names, size_t *n)
{
    size_t i;
    if (rollable_metric(a)) {
        for (i = 0; i < *n && strcmp(names[i], a->f.arg) != 0; i++)
            ;
        if (i == *n && *n == MAX_NAMES) return 0;
        if (i == *n) names[(*n)++] = a->f.arg;
    }
    for (i = 0; i < a->nsubs; i++)
        if (!names_of(a->subs[i], names, n)) return 0;
    return 1;
}

static void fill(struct qx *x, const char **names, size_t nnames, const struct rscope *sc,
                 int64_t tier, struct qstate *root)
{
    struct region rg[7];
    size_t nrg = regions_of(sc->lo, sc->hi, tier, rg);
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        sqlite3_prepare_v2(x->db, region_sql[i], -1, &st[i], NULL);
    if (!st[0] || !st[1] || !st[2]) x->failed = 1;
    int64_t counted = -1;
    for (size_t i = 0; i < nnames && !x->failed; i++) {
        int64_t n = read_name(x, st, sc, rg, nrg, names[i], i == 0, root);
        if (i == 0) counted = n;
    }
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(st[i]);
    if (x->failed || x->bad || x->timed_out) return;
    if (counted < 0 || counted != docs_in_scope(x, sc)) {
        zero_counts(root);
        count_docs(x, sc, root);
    }
}

json_t *qx_rollup_agg(struct qx *x, const struct qagg *a, const struct qctx *c)
{
    struct rscope sc;
    const char *names[MAX_NAMES];
    size_t nnames = 0;
    if (!shape_ok(a) || !names_of(a, names, &nnames)) return NULL;
    if (!scope_of(x, a, c, &sc)) {
        scope_free(&sc);
        return NULL;
    }
    int64_t tier = tree_aligned(a, sc.lo, sc.hi, HOUR)     ? HOUR
                   : tree_aligned(a, sc.lo, sc.hi, MINUTE) ? MINUTE
                                                           : 0;
    json_t *r = NULL;
    if (tier) {
        struct qplan *p = qplan_bare(a);
        struct qstate *st = qs_new(p);
        fill(x, names, nnames, &sc, tier, st);
        if (x->q->stats) x->q->stats->rollups++;
        if (!x->failed && !x->bad) r = qs_json(x, st);
        qs_free(st);
        qplan_free(p);
    }
    scope_free(&sc);
    return r;
}
