/* query_count.c: document counts from the rollup tables.
 *
 * The writer keeps, per (index, group) and minute/hour, the number of
 * documents (rollup rows named STORE_DOCS_NAME) and, per measurement, the
 * count, min and max of its values (store.h). A count is read from them
 * when that is exactly the raw count: the query is a conjunction
 * (query_sql.c: qconj_of) of ranges on `date`, at most one groupid
 * term/terms and leaves (range, exists, term/terms of at most
 * QUERY_INLINE_VALS values) on the values of ONE measurement m.
 *
 * A document holds at most one value of m: JSON member names of a posted
 * document are unique (the gateway parses with JSON_REJECT_DUPLICATES, and
 * the store takes a document's measurements from its members). So the documents matching the leaves
 * are exactly the values of m matching them (a NaN value is stored as NULL,
 * matches no leaf and is in no rollup), and counting values counts
 * documents.
 *
 * The time range, narrowed to the index's documents (min ts .. max ts, as
 * in query_rollup.c: retention deletes the oldest documents first, so a
 * rollup unit starting at or after the oldest document left counts no
 * deleted one), is cut into whole hours, whole minutes at its edges and raw
 * rows for the partial minutes (qx_regions). Per group and unit:
 *   - without value leaves: n of the document-count row;
 *   - with them, from the unit's [mn, mx]: n when every value matches
 *     (mn >= a gte bound, ...), nothing when none can (mx < a gte bound,
 *     ...), else the raw values of the unit are counted (consecutive such
 *     units in one range read). */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"
#include "store/store.h"
#include "store/store_int.h"

#define MAX_GROUPS 256 /* values of the query's groupid terms, at most */

enum { K_NONE, K_SOME, K_ALL };

struct qcount {
    struct qx *x;
    struct qconj cj;
    const char *name; /* the leaves' measurement, or STORE_DOCS_NAME */
    int empty;        /* nothing matches: 0 for every group */
    struct qregion rg[QX_MAX_REGIONS];
    size_t nrg;
    sqlite3_stmt *roll[2]; /* rollup_1m, rollup_1h rows of ?2, ?3 in [?4, ?5)
                            * (without leaves: their sum, sum_sql) */
    sqlite3_stmt *raw;     /* matching raw rows of group ?2 in [?4, ?5) */
};

/* ---- regions ----------------------------------------------------------- */

static int64_t ceil_to(int64_t v, int64_t t)
{
    return -q_floordiv(-v, t) * t;
}

static size_t minute_pieces(int64_t from, int64_t to, int minutes, struct qregion *r)
{
    size_t n = 0;
    if (!minutes) {
        if (from < to) r[n++] = (struct qregion){0, from, to};
        return n;
    }
    int64_t m0 = ceil_to(from, QX_MINUTE), m1 = q_floordiv(to, QX_MINUTE) * QX_MINUTE;
    if (m0 >= m1) {
        if (from < to) r[n++] = (struct qregion){0, from, to};
        return n;
    }
    if (from < m0) r[n++] = (struct qregion){0, from, m0};
    r[n++] = (struct qregion){QX_MINUTE, m0, m1};
    if (m1 < to) r[n++] = (struct qregion){0, m1, to};
    return n;
}

int qx_minutes_kept(struct qx *x)
{
    if (x->minutes == 0) {
        sqlite3_stmt *st =
            qx_stmt(x, "SELECT 1 FROM main.rollup_off WHERE idx = ?1 AND level = '1m'", -1);
        x->minutes = 1;
        if (!st) return 0;
        sqlite3_bind_text(st, 1, x->q->index, -1, SQLITE_STATIC);
        if (qx_step(x, st) == SQLITE_ROW) x->minutes = -1;
        qx_done(x, st);
    }
    return x->minutes > 0;
}

size_t qx_regions(struct qx *x, int64_t lo, int64_t hi, int64_t tier, struct qregion *r)
{
    int m = qx_minutes_kept(x);
    if (tier != QX_HOUR) return minute_pieces(lo, hi, m, r);
    int64_t h0 = ceil_to(lo, QX_HOUR), h1 = q_floordiv(hi, QX_HOUR) * QX_HOUR;
    if (h0 >= h1) return minute_pieces(lo, hi, m, r);
    size_t n = minute_pieces(lo, h0, m, r);
    r[n++] = (struct qregion){QX_HOUR, h0, h1};
    return n + minute_pieces(h1, hi, m, r + n);
}

/* ---- eligibility and classification ------------------------------------ */

/* 1 when the value leaves of cj all name one measurement and each is a
 * leaf whose matches a unit's [mn, mx] can bound. */
static int leaves_ok(const struct qconj *cj)
{
    for (size_t i = 0; i < cj->nmeas; i++) {
        const struct qnode *n = cj->meas[i];
        if (strcmp(n->f.arg, cj->meas[0]->f.arg) != 0) return 0;
        if (n->kind == QN_TERMS && (n->json_vals || n->nvals > QUERY_INLINE_VALS)) return 0;
        if (n->kind != QN_RANGE && n->kind != QN_EXISTS && n->kind != QN_TERMS) return 0;
    }
    return 1;
}

/* What leaf n matches among values in [mn, mx]: none, some or all. */
static int leaf_class(const struct qnode *n, double mn, double mx)
{
    if (n->kind == QN_EXISTS) return K_ALL;
    if (n->kind == QN_TERMS) {
        int some = 0;
        for (size_t i = 0; i < n->nvals; i++) {
            double v = n->vals[i].d;
            if (mn == mx && v == mn) return K_ALL;
            some |= v >= mn && v <= mx;
        }
        return some ? K_SOME : K_NONE;
    }
    int all = 1;
    if (n->has_lo) {
        double b = n->lo.d;
        if (mx < b || (mx == b && !n->lo_incl)) return K_NONE;
        all &= mn > b || (mn == b && n->lo_incl);
    }
    if (n->has_hi) {
        double b = n->hi.d;
        if (mn > b || (mn == b && !n->hi_incl)) return K_NONE;
        all &= mx < b || (mx == b && n->hi_incl);
    }
    return all ? K_ALL : K_SOME;
}

/* The class of the current rollup row of st for the leaves. */
/* One bucket's rollup, its rows merged: gasket.db and each hot file may
 * hold a row of the same bucket (store_move.c). */
struct krow {
    int64_t t, n;
    double mn, mx;
    int null; /* a row without min and max: never written so, read raw */
};

/* Adds the statement's current row to r (r->n == 0: r starts with it). */
static void krow_add(struct krow *r, sqlite3_stmt *st)
{
    double mn = sqlite3_column_double(st, 1), mx = sqlite3_column_double(st, 2);
    int null = sqlite3_column_type(st, 1) == SQLITE_NULL;
    if (r->n == 0) {
        *r = (struct krow){.t = sqlite3_column_int64(st, 0), .mn = mn, .mx = mx, .null = null};
    } else {
        r->mn = mn < r->mn ? mn : r->mn;
        r->mx = mx > r->mx ? mx : r->mx;
        r->null |= null;
    }
    r->n += sqlite3_column_int64(st, 3);
}

static int row_class(const struct qcount *k, const struct krow *r)
{
    if (k->cj.nmeas == 0) return K_ALL;
    if (r->null) return K_SOME;
    int cls = K_ALL;
    for (size_t i = 0; i < k->cj.nmeas && cls != K_NONE; i++) {
        int c = leaf_class(k->cj.meas[i], r->mn, r->mx);
        if (c < cls) cls = c;
    }
    return cls;
}

static int in_groups(const struct qconj *cj, const char *grp)
{
    if (!cj->grp) return 1;
    for (size_t i = 0; i < cj->grp->nvals; i++)
        if (strcmp(cj->grp->vals[i].s, grp) == 0) return 1;
    return 0;
}

/* ---- statements -------------------------------------------------------- */

/* The rows of a bucket in time order (several for a bucket in gasket.db
 * and the hot tier: merged by tier_count; a GROUP BY through the views
 * would sort them all in a temporary table first). */
static const char *const roll_sql[2] = {
    "SELECT t, mn, mx, n FROM rollup_1m"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5 ORDER BY t",
    "SELECT t, mn, mx, n FROM rollup_1h"
    " WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5 ORDER BY t",
};

/* The documents of one (group, name) in whole units of a tier, when no
 * leaf needs a unit's min and max: one sum, rows never leave SQLite. The
 * hours of gasket.db and of the hot tier (its rows counted: store_move.c's
 * temp.hroll_1h) are summed apart, gasket.db's from its primary key:
 * ~5x faster than through the view, whose ordered rows are merged. */
#define HOUR_SUM(tab)                                                                              \
    "SELECT sum(n) AS s FROM " tab " WHERE idx = ?1 AND grp = ?2 AND name = ?3"                    \
    " AND t >= ?4 AND t < ?5"
static const char *const sum_sql[2] = {
    "SELECT sum(n) FROM rollup_1m WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t >= ?4 AND t < ?5",
    "SELECT sum(s) FROM (" HOUR_SUM("main.rollup_1h") " UNION ALL " HOUR_SUM("temp.hroll_1h") ")",
};

/* The sum of count(*) of each file's documents matching `where`: each
 * count is read from the file's (idx, groupid, ts) index alone. Through
 * the docs view, SQLite would read every column of every matching row,
 * the source included. */
#define DOCS_COUNT(where)                                                                          \
    "(SELECT sum(c) FROM (SELECT count(*) AS c FROM main.docs WHERE " where                        \
    " UNION ALL SELECT count(*) FROM hot0.docs WHERE id > " STORE_MOVED_MARK " AND " where         \
    " UNION ALL SELECT count(*) FROM hot1.docs WHERE id > " STORE_MOVED_MARK " AND " where "))"

/* Documents of a group: grp "" is docs.groupid "" or NULL (?3 unused). */
static const char docs_sql[] =
    "SELECT " DOCS_COUNT("idx = ?1 AND groupid = ?2 AND ts >= ?4 AND ts < ?5") " + " DOCS_COUNT(
        "?2 = '' AND idx = ?1 AND groupid IS NULL AND ts >= ?4 AND ts < ?5");

/* The raw count of values of the measurement matching every leaf. */
/* The raw count of values of the measurement matching every leaf. */
static sqlite3_stmt *values_stmt(struct qcount *k)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT count(*) FROM measurements m WHERE m.idx = ");
    qsql_text(&s, k->x->q->index);
    qsql_add(&s, " AND m.grp = ");
    qsql_text(&s, "");
    qsql_add(&s, " AND m.name = ");
    qsql_text(&s, k->name);
    qsql_add(&s, " AND m.ts >= ");
    qsql_int(&s, 0);
    qsql_add(&s, " AND m.ts < ");
    qsql_int(&s, 0);
    for (size_t i = 0; i < k->cj.nmeas; i++) {
        qsql_add(&s, " AND (");
        qsql_meas_cond(&s, k->cj.meas[i]);
        qsql_add(&s, ")");
    }
    sqlite3_stmt *st = qx_prepare(k->x, &s);
    qsql_free(&s);
    return st;
}

/* Narrows the range to the index's documents and cuts it into regions. */
static void plan_range(struct qcount *k)
{
    int64_t lo = k->cj.lo, hi = k->cj.hi;
    if (!qx_clamp_to_index(k->x, &lo, &hi)) {
        k->empty = 1;
        return;
    }
    k->nrg = qx_regions(k->x, lo, hi, QX_HOUR, k->rg);
}

struct qcount *qcount_new(struct qx *x, const struct qnode *root)
{
    struct qconj cj;
    if (!qconj_of(root, &cj) || !leaves_ok(&cj)) return NULL;
    if (cj.grp && (cj.grp->json_vals || cj.grp->nvals > MAX_GROUPS)) return NULL;
    struct qcount *k = xcalloc(1, sizeof *k);
    k->x = x;
    k->cj = cj;
    k->name = cj.nmeas ? cj.meas[0]->f.arg : STORE_DOCS_NAME;
    k->empty = cj.none;
    if (x->q->stats) x->q->stats->counts++;
    if (!k->empty) plan_range(k);
    if (k->empty) return k;
    for (int i = 0; i < 2; i++)
        k->roll[i] = qx_stmt(x, cj.nmeas ? roll_sql[i] : sum_sql[i], -1);
    k->raw = cj.nmeas ? values_stmt(k) : qx_stmt(x, docs_sql, -1);
    if (!k->raw || !k->roll[0] || !k->roll[1]) x->failed = 1;
    return k;
}

void qcount_free(struct qcount *k)
{
    if (!k) return;
    qx_done(k->x, k->roll[0]);
    qx_done(k->x, k->roll[1]);
    qx_done(k->x, k->raw);
    free(k);
}

/* ---- counting ---------------------------------------------------------- */

static void bind_range(struct qcount *k, sqlite3_stmt *st, const char *grp, int64_t from,
                       int64_t to)
{
    sqlite3_bind_text(st, 1, k->x->q->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, from);
    sqlite3_bind_int64(st, 5, to);
}

static int64_t raw_count(struct qcount *k, const char *grp, int64_t from, int64_t to)
{
    bind_range(k, k->raw, grp, from, to);
    int64_t n = qx_step(k->x, k->raw) == SQLITE_ROW ? sqlite3_column_int64(k->raw, 0) : 0;
    sqlite3_reset(k->raw);
    return n;
}

/* The matches of one group in a region of whole tier units. */
static int64_t tier_count(struct qcount *k, const char *grp, const struct qregion *r)
{
    sqlite3_stmt *st = k->roll[r->tier == QX_HOUR];
    int64_t n = 0, run0 = 0, run1 = 0; /* [run0, run1): units to read raw */
    bind_range(k, st, grp, r->from, r->to);
    if (k->cj.nmeas == 0) { /* every unit counts whole */
        n = qx_step(k->x, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        return n;
    }
    int more = qx_step(k->x, st) == SQLITE_ROW;
    while (more) {
        struct krow b = {0};
        krow_add(&b, st);
        while ((more = qx_step(k->x, st) == SQLITE_ROW) && sqlite3_column_int64(st, 0) == b.t)
            krow_add(&b, st);
        int64_t t = b.t;
        int cls = row_class(k, &b);
        if (cls == K_ALL) n += b.n;
        if (cls != K_SOME) continue;
        if (t != run1) {
            if (run0 < run1) n += raw_count(k, grp, run0, run1);
            run0 = t;
        }
        run1 = t + r->tier;
    }
    sqlite3_reset(st);
    if (run0 < run1) n += raw_count(k, grp, run0, run1);
    return n;
}

int64_t qcount_group(struct qcount *k, const char *grp)
{
    int64_t n = 0;
    if (k->empty || !in_groups(&k->cj, grp)) return 0;
    for (size_t i = 0; i < k->nrg && !k->x->failed; i++) {
        const struct qregion *r = &k->rg[i];
        n += r->tier ? tier_count(k, grp, r) : raw_count(k, grp, r->from, r->to);
    }
    return n;
}

/* The sum over every group of the index (the groups table lists each
 * once; "" holds the documents without groupid too). */
static int64_t all_groups(struct qcount *k)
{
    struct qsql s = {0};
    int64_t n = 0;
    qsql_add(&s, "SELECT grp FROM groups WHERE idx = ");
    qsql_text(&s, k->x->q->index);
    sqlite3_stmt *st = qx_prepare(k->x, &s);
    while (st && qx_step(k->x, st) == SQLITE_ROW)
        n += qcount_group(k, (const char *)sqlite3_column_text(st, 0));
    qx_done(k->x, st);
    qsql_free(&s);
    return n;
}

int qx_rollup_count(struct qx *x, const struct qnode *root, const char *grp, int64_t *n)
{
    if (grp && grp[0] == '\0') return 0;
    struct qcount *k = qcount_new(x, root);
    if (!k) return 0;
    *n = k->empty ? 0 : grp ? qcount_group(k, grp) : all_groups(k);
    qcount_free(k);
    return 1;
}

int64_t qx_ctx_count(struct qx *x, const struct qctx *c)
{
    int64_t n = 0;
    if (c->has_count) return c->count;
    if (!x->q->no_rollups && qx_rollup_count(x, c->root, c->grp, &n)) return n;
    struct qsql s = {0};
    qsql_add(&s, "SELECT count(*) FROM docs d WHERE ");
    qsql_ctx_cond(&s, x->q, c);
    sqlite3_stmt *st = qx_prepare(x, &s);
    n = st && qx_step(x, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    qx_done(x, st);
    qsql_free(&s);
    return n;
}
