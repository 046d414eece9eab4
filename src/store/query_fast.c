/* query_fast.c: aggregation plans faster than one scan of the raw rows.
 *
 * qx_fast_agg() picks, per aggregation, the first plan that applies:
 *   rollups      date histograms and metrics over the 1-minute and 1-hour
 *                rollups (query_rollup.c);
 *   groups       terms on groupid: one count per group of the `groups`
 *                table (from the rollups when query_count.c can, else an
 *                index range of docs_idx_grp_ts), then the
 *                sub-aggregations evaluated per bucket the reply keeps
 *                (each with the filter narrowed to the group, so they may
 *                use fast plans too);
 *   top_hits     the hit query of the bucket, which reads docs in the order
 *                of an index when the sort starts with `date`.
 * Otherwise the caller computes the aggregation from raw rows. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"

static json_t *tophits_plan(struct qx *x, const struct qagg *a, const struct qctx *c)
{
    int64_t total = qx_ctx_count(x, c);
    json_t *max;
    json_t *hits = qx_hits(x, c, a->sorts, a->nsorts, &a->src, a->from, a->size, 0, &max);
    if (a->size == 0 && a->nsorts == 0 && total > 0) {
        /* the raw plan reports the best score even with no rows */
        double sc;
        json_decref(max);
        max = qsql_score_const(c->root, &sc) ? json_real((float)sc) : json_null();
    }
    return json_pack("{s:{s:{s:I, s:s}, s:o, s:o}}", "hits", "total", "value", (json_int_t)total,
                     "relation", "eq", "max_score", max, "hits", hits);
}

/* The fill callback of the groups plan: the sub-aggregations of one
 * group's bucket. */
static json_t *group_subs(struct qx *x, const struct qstate *s, struct qbucket *b)
{
    const struct qctx *parent = s->fill_arg;
    const struct qagg *a = s->p->a;
    struct qctx c = {.root = parent->root, .grp = b->ks, .has_count = 1, .count = b->n};
    json_t *obj = json_object();
    qx_aggs_eval(x, a->subs, a->nsubs, &c, obj);
    return obj;
}

static void bucket_count(struct qx *x, struct qstate *st, const char *grp, int64_t n)
{
    struct qbucket *b = n > 0 ? qs_bucket_str(x, st, grp) : NULL;
    if (b) b->n = n;
}

/* The groups' counts from the rollups (query_count.c); the group "" (a
 * groupid "", whose rollups also count the documents without groupid)
 * from its documents. */
static void group_counts_rollup(struct qx *x, struct qstate *st, const struct qctx *c,
                                struct qcount *k)
{
    struct qsql s = {0};
    qsql_add(&s, "SELECT grp FROM groups WHERE idx = ");
    qsql_text(&s, x->q->index);
    if (c->grp) {
        qsql_add(&s, " AND grp = ");
        qsql_text(&s, c->grp);
    }
    sqlite3_stmt *stmt = qx_prepare(x, &s);
    while (stmt && !x->bad && qx_step(x, stmt) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(stmt, 0);
        struct qctx one = {.root = c->root, .grp = g};
        bucket_count(x, st, g, g[0] ? qcount_group(k, g) : qx_ctx_count(x, &one));
    }
    qx_done(x, stmt);
    qsql_free(&s);
}

static void group_counts(struct qx *x, struct qstate *st, const struct qctx *c)
{
    struct qcount *k = x->q->no_rollups ? NULL : qcount_new(x, c->root);
    if (k) {
        group_counts_rollup(x, st, c, k);
        qcount_free(k);
        return;
    }
    struct qsql s = {0};
    qsql_add(&s, "SELECT g.grp, (SELECT count(*) FROM docs d WHERE d.groupid = g.grp AND ");
    qsql_ctx_cond(&s, x->q, c);
    qsql_add(&s, ") FROM groups g WHERE g.idx = ");
    qsql_text(&s, x->q->index);
    if (c->grp) {
        qsql_add(&s, " AND g.grp = ");
        qsql_text(&s, c->grp);
    }
    sqlite3_stmt *stmt = qx_prepare(x, &s);
    while (stmt && qx_step(x, stmt) == SQLITE_ROW) {
        bucket_count(x, st, (const char *)sqlite3_column_text(stmt, 0),
                     sqlite3_column_int64(stmt, 1));
    }
    qx_done(x, stmt);
    qsql_free(&s);
}

static json_t *terms_by_group(struct qx *x, const struct qagg *a, const struct qctx *c)
{
    struct qplan *p = qplan_bare(a);
    struct qstate *st = qs_new(p);
    st->fill = group_subs;
    st->fill_arg = c;
    group_counts(x, st, c);
    json_t *r = qs_json(x, st);
    qs_free(st);
    qplan_free(p);
    return r;
}

json_t *qx_fast_agg(struct qx *x, const struct qagg *a, const struct qctx *c)
{
    json_t *r = qx_rollup_agg(x, a, c);
    if (r || x->failed || x->bad) return r;
    if (a->kind == QA_TERMS && a->f.kind == QF_GROUP) return terms_by_group(x, a, c);
    if (a->kind == QA_TOPHITS) return tophits_plan(x, a, c);
    return NULL;
}
