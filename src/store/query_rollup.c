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
 * doc_count comes from the document-count rollups (name STORE_DOCS_NAME,
 * store.h), cut into the same regions, with the documents' ts read raw in
 * the partial minutes at the edges. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/query_int.h"
#include "store/store_block.h"
#include "store/store_int.h"
#include "store/store.h"

#define HOUR             QX_HOUR
#define MINUTE           QX_MINUTE
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

/* Adds group g once (a terms query may repeat a value). */
static void scope_add(struct rscope *sc, const char *g)
{
    for (size_t i = 0; i < sc->ngrp; i++)
        if (strcmp(sc->grp[i], g) == 0) return;
    sc->grp = xrealloc(sc->grp, (sc->ngrp + 1) * sizeof *sc->grp);
    sc->grp[sc->ngrp++] = xstrdup(g);
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
    qx_done(x, st);
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
    memset(sc, 0, sizeof *sc);
    if (!qconj_of(c->root, &cj) || cj.none || cj.nmeas > 0) return 0;
    sc->lo = cj.lo;
    sc->hi = cj.hi;
    if (!qx_clamp_to_index(x, &sc->lo, &sc->hi)) return 0;
    return scope_groups(x, c, &cj, sc, a->kind == QA_TERMS);
}

/* ---- reading ----------------------------------------------------------- */

/* A rollup row or a raw value on its way into the state tree. */
struct feed {
    struct qx *x;
    const char *rname; /* the rows' name in the tables */
    const char *name;  /* measurement of the row; NULL: doc counts only */
    int count;         /* the row counts documents */
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

/* Raw values: gasket.db's blocks are read by read_blocks, these are the
 * rest of the `measurements` view (store_move.c): an older schema's rows
 * not converted yet, and the hot files' (store_hmeas.c). */
static const char *const region_sql[6] = {
    "SELECT ts, value, value, value, 1 FROM main.measurements"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND ts >= ?4 AND ts < ?5"
    " UNION ALL SELECT ts, value, value, value, 1 FROM temp.hmeas"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND ts >= ?4 AND ts < ?5",
    "SELECT t, mn, mx, sm, n FROM rollup_1m"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
    "SELECT t, mn, mx, sm, n FROM rollup_1h"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
    /* documents: grp "" is docs.groupid "" or NULL; ?3 is not used */
    "SELECT ts, NULL, NULL, NULL, 1 FROM docs"
    " WHERE idx = ?1 AND groupid = ?2 AND ts >= ?4 AND ts < ?5"
    " UNION ALL SELECT ts, NULL, NULL, NULL, 1 FROM docs"
    " WHERE ?2 = '' AND idx = ?1 AND groupid IS NULL AND ts >= ?4 AND ts < ?5",
    "SELECT t, NULL, NULL, NULL, n FROM rollup_1m"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
    "SELECT t, NULL, NULL, NULL, n FROM rollup_1h"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
};

/* Feeds the rows of one (group, name, region). */
static void read_region(struct qx *x, sqlite3_stmt *st, struct feed *f, struct qstate *root,
                        const struct qregion *r)
{
    sqlite3_bind_text(st, 1, x->q->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->rname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->from);
    sqlite3_bind_int64(st, 5, r->to);
    while (qx_step(x, st) == SQLITE_ROW) {
        f->n = sqlite3_column_int64(st, 4);
        if (f->n <= 0 || (f->name && sqlite3_column_type(st, 1) == SQLITE_NULL)) continue; /* NaN */
        f->t = q_floordiv(sqlite3_column_int64(st, 0), 1000) * 1000;
        f->mn = sqlite3_column_double(st, 1);
        f->mx = sqlite3_column_double(st, 2);
        f->sm = sqlite3_column_double(st, 3);
        feed(f, root);
    }
    sqlite3_reset(st);
}

/* The statements of read_blocks (store_int.h), as gk_meas uses them. */
static const char *const blocks_sql[2] = {STORE_MBLK_SEEK_SQL, STORE_MBLK_SERIES_SQL};

/* Feeds the values of one (group, name) in a raw region from gasket.db's
 * blocks, decoded here: what the `measurements` view's gk_meas rows give,
 * in the same order, without a pass through SQL per value. */
static void read_blocks(struct qx *x, sqlite3_stmt **st, struct feed *f, struct qstate *root,
                        const struct qregion *r)
{
    int64_t lo = r->from, hi = r->to - 1, k0 = lo, k1 = INT64_MIN;
    if (r->to <= r->from) return;
    sqlite3_stmt *seek = st[0], *blocks = st[1];
    sqlite3_bind_text(seek, 1, x->q->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(seek, 2, f->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(seek, 3, f->rname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(seek, 4, lo);
    sqlite3_bind_int64(seek, 5, INT64_MIN);
    if (qx_step(x, seek) == SQLITE_ROW) {
        k0 = sqlite3_column_int64(seek, 0);
        k1 = sqlite3_column_int64(seek, 1);
    }
    sqlite3_reset(seek);
    sqlite3_bind_text(blocks, 1, x->q->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(blocks, 2, f->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(blocks, 3, f->rname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(blocks, 4, k0);
    sqlite3_bind_int64(blocks, 5, k1);
    sqlite3_bind_int64(blocks, 6, hi);
    struct mpoint pts[MBLK_MAX];
    while (!x->failed && qx_step(x, blocks) == SQLITE_ROW) {
        int n = mblk_decode(sqlite3_column_blob(blocks, 5), (size_t)sqlite3_column_bytes(blocks, 5),
                            pts);
        if (n < 0) {
            log_error("query: a damaged measurement block (%s, %s, %s)", x->q->index, f->grp,
                      f->rname);
            x->failed = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (pts[i].ts < lo || pts[i].ts > hi || !pts[i].has) continue;
            f->n = 1;
            f->t = q_floordiv(pts[i].ts, 1000) * 1000;
            f->mn = f->mx = f->sm = pts[i].value;
            feed(f, root);
        }
        if (pts[n - 1].ts > hi) break;
    }
    sqlite3_reset(blocks);
}

/* Feeds one measurement name (NULL: the document counts) over the scope;
 * st: the raw, 1-minute and 1-hour statements; blk: read_blocks's (for a
 * name). */
static void read_name(struct qx *x, sqlite3_stmt **st, sqlite3_stmt **blk, const struct rscope *sc,
                      const struct qregion *rg, size_t nrg, const char *name, struct qstate *root)
{
    struct feed f = {.x = x, .rname = name ? name : STORE_DOCS_NAME, .name = name, .count = !name};
    for (size_t g = 0; g < sc->ngrp && !x->failed && !x->bad; g++) {
        f.grp = sc->grp[g];
        for (size_t i = 0; i < nrg; i++) {
            if (name && rg[i].tier == 0) read_blocks(x, blk, &f, root, &rg[i]);
            read_region(x, st[rg[i].tier == HOUR ? 2 : rg[i].tier == MINUTE], &f, root, &rg[i]);
        }
    }
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
    struct qregion rg[QX_MAX_REGIONS];
    size_t nrg = qx_regions(x, sc->lo, sc->hi, tier, rg);
    sqlite3_stmt *st[8] = {NULL};
    for (int i = 0; i < 8; i++)
        if (!(st[i] = qx_stmt(x, i < 6 ? region_sql[i] : blocks_sql[i - 6], -1))) x->failed = 1;
    for (size_t i = 0; i < nnames && !x->failed; i++)
        read_name(x, st, st + 6, sc, rg, nrg, names[i], root);
    if (!x->failed) read_name(x, st + 3, NULL, sc, rg, nrg, NULL, root);
    for (int i = 0; i < 8; i++)
        qx_done(x, st[i]);
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
