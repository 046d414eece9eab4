/* query_int.h: internals shared by the query files, not by other modules.
 *
 * The query module has one layer per file:
 *   query_parse.c      DSL JSON -> plan: the request, queries, sort, _source
 *   query_parse_agg.c  DSL JSON -> plan: the aggregations
 *   query_sql.c        plan -> SQL: WHERE clauses, bound values, statements
 *   query_hits.c       execution of hits and counts (sort, window, _source)
 *   query_agg.c        execution of aggregations on raw rows, and replies
 *   query_fast.c       the choice of fast aggregation plans: groups first
 *                      for terms on groupid, top_hits through an index
 *   query_rollup.c     the rollup plan of date histograms and metrics
 *   query_count.c      document counts from the rollups (with conditions
 *                      on one measurement's values)
 *   query.c            the public API of query.h, errors, reply shape,
 *                      _doc and _cat/indices
 * Parsing is pure (no database, no clock); everything it produces is owned
 * by struct query and freed by query_free(). docs/search.md describes the
 * subset and the plans. */
#ifndef GASKET_STORE_QUERY_INT_H
#define GASKET_STORE_QUERY_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/map.h"
#include "core/datetime.h"
#include "store/query.h"

#define QUERY_MAX_TERMS   65536 /* values of one terms query (OpenSearch's max_terms_count) */
#define QUERY_MAX_BUCKETS 65535 /* search.max_buckets */
#define QUERY_MAX_AGGS    100   /* aggregations in one request */
#define QUERY_MAX_TOPHITS 100   /* top_hits from + size (index.max_inner_result_window) */
#define QUERY_REASON      256   /* bytes of an error reason */
#define QUERY_MAX_CLAUSES 1024  /* queries in one request (indices.query.bool.max_clause_count) */
#define QUERY_INLINE_VALS 16    /* terms values bound one by one; more go as one JSON array */

/* ---- fields ------------------------------------------------------------ */

enum qf_kind {
    QF_DATE,    /* `date` -> docs.ts (seconds precision) */
    QF_ID,      /* `_id` -> docs.id */
    QF_GROUP,   /* `groupid`, `groupid.keyword` -> docs.groupid */
    QF_MEAS,    /* `<m>.value` -> measurements.value of name m */
    QF_KEYWORD, /* any other path -> json_extract(source, path) as text */
};

struct qfield {
    enum qf_kind kind;
    char *name; /* as written in the request (for messages and replies) */
    char *arg;  /* QF_MEAS: the measurement name; QF_KEYWORD: the JSON path */
};

/* ---- queries ----------------------------------------------------------- */

enum qn_kind { QN_ALL, QN_NONE, QN_TERMS, QN_RANGE, QN_EXISTS, QN_BOOL };
enum qb_occur { QB_MUST, QB_FILTER, QB_SHOULD, QB_MUST_NOT, QB_NOCCUR };

/* One value of a term/terms/range: the kind follows the field's. */
struct qval {
    int64_t i; /* QF_DATE: ms; QF_ID: id */
    double d;  /* QF_MEAS */
    char *s;   /* QF_GROUP, QF_KEYWORD */
};

struct qnode {
    enum qn_kind kind;
    double boost;
    struct qfield f;
    /* QN_TERMS */
    size_t nvals;
    struct qval *vals;
    char *json_vals; /* long lists: the values as a JSON array (json_each) */
    /* QN_RANGE: QF_DATE bounds are on docs.ts, half-open [lo, hi); the
     * others keep their inclusive flags. */
    int has_lo, has_hi, lo_incl, hi_incl;
    struct qval lo, hi;
    /* QN_BOOL */
    struct qnode **kids[QB_NOCCUR];
    size_t nkids[QB_NOCCUR];
    int msm; /* minimum_should_match, resolved to a count */
};

/* ---- sort and _source -------------------------------------------------- */

enum qs_kind { QS_SCORE, QS_DOC, QS_FIELD };

struct qsort {
    enum qs_kind kind;
    struct qfield f; /* QS_FIELD */
    int desc;
};

struct qsrc {
    int off; /* _source: false */
    size_t ninc, nexc;
    char **inc, **exc; /* patterns with '*' */
};

/* ---- aggregations ------------------------------------------------------ */

enum qa_kind {
    QA_AVG,
    QA_MIN,
    QA_MAX,
    QA_SUM,
    QA_COUNT, /* value_count */
    QA_STATS,
    QA_PCT, /* percentiles */
    QA_TERMS,
    QA_DATEH, /* date_histogram */
    QA_TOPHITS,
};

enum qa_order { QO_COUNT, QO_KEY, QO_SUB };

struct qagg {
    char *name;
    enum qa_kind kind;
    struct qfield f;
    size_t nsubs;
    struct qagg **subs;
    /* terms */
    int64_t size, min_doc_count;
    enum qa_order order;
    int order_desc;
    int order_sub;      /* QO_SUB: index into subs */
    char *order_metric; /* QO_SUB of a multi-value metric: "max", "50", ... */
    /* date_histogram */
    int calendar; /* calendar_interval (else fixed) */
    enum dt_unit unit;
    int64_t interval; /* fixed_interval in ms */
    const struct tz *zone;
    char *format; /* key_as_string pattern (NULL: default) */
    int has_bounds;
    int64_t bounds_lo, bounds_hi;
    int keyed;
    /* percentiles */
    size_t npct;
    double *pct;
    /* top_hits */
    int64_t from;
    size_t nsorts;
    struct qsort *sorts;
    struct qsrc src;
};

/* ---- the request ------------------------------------------------------- */

struct query {
    enum query_kind kind;
    char *index;
    struct qnode *root;
    int64_t from, size;
    size_t nsorts;
    struct qsort *sorts; /* empty: by _score */
    struct qsrc src;
    int64_t track; /* track_total_hits: -1 exact, 0 off, N up to N */
    int track_scores;
    int64_t timeout_ms; /* "timeout" of the request (0: none) */
    long max_aggs, max_buckets; /* the budget (query_env's, defaults applied) */
    size_t max_memory;
    int64_t max_timeout_ms; /* 0: no cap */
    size_t naggs;
    struct qagg **aggs;
    const struct tz *zone; /* env->zone */
    int64_t now_ms;
    uint64_t deadline_mono;
    size_t nzones;
    struct tz **zones;    /* time_zone parameters loaded by the parse */
    int no_rollups;       /* test switch: no fast plans, everything from raw rows */
    struct qstats *stats; /* test probe: which plans ran (may be NULL) */
};

struct qstats {
    int rollups; /* aggregations answered from rollups */
    int counts;  /* counts (or count plans of many groups) from rollups */
};

/* ---- parsing (query_parse.c, query_parse_agg.c) ------------------------ */

/* The parse context: the request being built and the first error. */
struct qp {
    struct query *q;
    char reason[QUERY_REASON];
    int depth;
    size_t nclauses;
    size_t naggs_total; /* aggregations in the whole tree so far */
};

int qp_fail(struct qp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qp_field(struct qp *p, const char *name, struct qfield *f);
int qp_int(struct qp *p, json_t *v, const char *what, int64_t lo, int64_t hi, int64_t *out);
int qp_bool(struct qp *p, json_t *v, const char *what, int *out);
int qp_zone(struct qp *p, json_t *v, const struct tz **out);
int qp_sort(struct qp *p, json_t *v, struct qsort **out, size_t *n);
int qp_source(struct qp *p, json_t *v, struct qsrc *out);
int qp_aggs(struct qp *p, json_t *v, struct qagg ***out, size_t *n);
void qp_field_free(struct qfield *f);
void qp_sorts_free(struct qsort *s, size_t n);
void qp_src_free(struct qsrc *s);
void qp_aggs_free(struct qagg **a, size_t n);
/* query_parse() without the error object: reason holds the message. */
int query_parse_plan(struct query **out, enum query_kind kind, const char *index, const char *body,
                     size_t len, const struct query_env *env, char *reason, size_t reasonlen);

/* ---- SQL (query_sql.c) ------------------------------------------------- */

enum qbind_kind { QB_INT, QB_REAL, QB_TEXT };

struct qbind {
    enum qbind_kind kind;
    int64_t i;
    double d;
    const char *s; /* borrowed from the plan */
};

/* SQL text with its bound values, numbered ?1, ?2, ... in order. */
struct qsql {
    struct buf sql;
    size_t nb, cap;
    struct qbind *b;
};

void qsql_free(struct qsql *s);
void qsql_add(struct qsql *s, const char *text);
void qsql_int(struct qsql *s, int64_t v);
void qsql_real(struct qsql *s, double v);
void qsql_text(struct qsql *s, const char *v);
/* The WHERE condition of node n over docs aliased `d`. */
void qsql_cond(struct qsql *s, const struct qnode *n);
/* The SQL value of field f of the doc row `d` (NULL when missing). */
void qsql_field(struct qsql *s, const struct qfield *f);
/* Score of the doc row `d` as an SQL expression; *constant set when it is
 * the same for every matching document (then *score holds it). */
void qsql_score(struct qsql *s, const struct qnode *n, int *constant, double *score);
int qsql_score_const(const struct qnode *n, double *score);

/* measurements.grp of the doc row `d` (how the writer stores a missing
 * groupid). */
#define QSQL_DOC_GRP "IFNULL(d.groupid, '')"

/* The execution context shared by the exec files. */
struct qx {
    const struct query *q;
    sqlite3 *db;
    uint64_t deadline; /* clock_mono_ms(), 0: none */
    int timed_out;
    int failed; /* a database error: GK_ESTORE */
    int bad;    /* a request the data makes too big: GK_ELIMIT with ... */
    char bad_type[48], bad_reason[QUERY_REASON];
    size_t nbuckets; /* buckets in the reply so far */
    size_t nlive;    /* buckets built while collecting */
    size_t mem;      /* bytes of aggregation state charged (qx_charge) */
    int minutes;     /* qx_minutes_kept: 0 not looked up yet, 1 kept, -1 not */
    /* A top-level date_histogram on `date` puts every matching document in
     * one bucket: the sum of its doc_counts is the total hits, with no
     * count query (search_reply). */
    const struct qagg *total_from;
    int64_t agg_total;
    int has_agg_total;
    /* statements (qx_stmt): those handed out and not given back yet, and
     * those this request prepared (finalized by qx_finish unless the
     * connection keeps them: query_conn_keep) */
    int cache, keep;
    struct qstmts {
        sqlite3_stmt **v;
        size_t n, cap;
    } out, made;
};

/* Charges bytes of aggregation state to the request's memory budget;
 * 0, or GK_ELIMIT (x->bad set, naming [http] search_max_memory) when over it. */
int qx_charge(struct qx *x, size_t bytes);

/* A filter for aggregations: the request's query, optionally narrowed to
 * one groupid (the bucket of a terms aggregation on groupid). */
struct qctx {
    const struct qnode *root;
    const char *grp;
    int has_count; /* count is known (a bucket's doc_count) */
    int64_t count;
    int by_rowid; /* written as +d.idx: read docs in id order, not by an index */
};

/* Records a GK_ELIMIT error object for the reply (the first one only);
 * returns NULL for convenience. */
void *qx_bad(struct qx *x, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The progress handler: nonzero once x->deadline passed. */
int qx_deadline_passed(void *x);
/* 1 when the index has documents (a row in `indices`), else 0 (also on a
 * database error, which sets x->failed). */
int qx_index_exists(struct qx *x, const char *index);

/* Statements: after qx_start, a statement given back (qx_done) is reset
 * and found again by the next qx_stmt of the same SQL text, in this
 * request and, on a connection that keeps them (query_conn_keep), in the
 * next ones: a prepare through the views costs tens of microseconds. */
void qx_start(struct qx *x);
/* Finalizes the statements of the request, unless the connection keeps
 * them; frees the lists. */
void qx_finish(struct qx *x);
/* The statement of sql (len bytes), reused or prepared; NULL (x->failed
 * set) on an error. No deadline check, no bindings. */
sqlite3_stmt *qx_stmt(struct qx *x, const char *sql, int len);
/* Gives st back (NULL: nothing): reset with its bindings cleared when
 * cached, else finalized. */
void qx_done(struct qx *x, sqlite3_stmt *st);
/* Prepares (qx_stmt) and binds s. Returns the statement or NULL (x->failed
 * or x->timed_out set). */
sqlite3_stmt *qx_prepare(struct qx *x, struct qsql *s);
/* sqlite3_step with the deadline: SQLITE_ROW, or SQLITE_DONE at the end,
 * when the deadline passed (x->timed_out) or on an error (x->failed). */
int qx_step(struct qx *x, sqlite3_stmt *st);
/* Narrows [*lo, *hi) to the span of the index's documents, [min(ts),
 * max(ts) + 1). Returns 0 when nothing is left (also for an index without
 * documents or on a database error, which sets x->failed). */
int qx_clamp_to_index(struct qx *x, int64_t *lo, int64_t *hi);

/* ---- execution (query_hits.c, query_agg.c, query_rollup.c) ------------- */

/* A sort key value of a row: SQLITE_INTEGER (i), SQLITE_FLOAT (d),
 * SQLITE_TEXT (s, owned) or SQLITE_NULL (missing, sorts last). */
struct qkey {
    int type;
    int64_t i;
    double d;
    char *s;
};

/* A document row of a hit list. */
struct qrow {
    int64_t id, ts;
    double score;
    char *src; /* owned; NULL until loaded */
    int srclen;
    struct qkey *keys; /* one per sort key */
};

/* The sort key expressions of sorts as SQL columns ("k0, k1, ..."). */
void qx_sort_cols(struct qsql *s, const struct qsort *sorts, size_t n);
/* Reads sort keys from columns [col, col + n) of st into r. */
void qx_row_keys(struct qrow *r, sqlite3_stmt *st, int col, const struct qsort *sorts, size_t n);
/* Orders two rows by sorts, then by id ascending. */
int qx_row_cmp(const struct qsort *sorts, size_t n, const struct qrow *a, const struct qrow *b);
void qx_row_clear(struct qrow *r, size_t nkeys);
/* Sorts rows by qx_row_cmp (stable). */
void qx_rows_sort(struct qrow *rows, size_t n, const struct qsort *sorts, size_t nsorts);
/* One hit object: {_index,_id,_score,_source[,sort]}. */
json_t *qx_hit(const struct query *q, const struct qrow *r, const struct qsort *sorts, size_t n,
               const struct qsrc *src, int scores);
/* Loads r->src of rows[0..n) by id. */
void qx_load_sources(struct qx *x, struct qrow *rows, size_t n);
/* The number of matching docs, counting at most limit + 1 (limit < 0:
 * exact). */
int64_t qx_count(struct qx *x, const struct qnode *root, int64_t limit);

/* hits.total as requested, or NULL with track_total_hits false (counted
 * unless the aggregations did: x->has_agg_total). */
json_t *qx_total(struct qx *x, int64_t *count);
/* hits.hits and hits.max_score for the window of the request. */
json_t *qx_hits(struct qx *x, const struct qctx *c, const struct qsort *sorts, size_t nsorts,
                const struct qsrc *src, int64_t from, int64_t size, int scores, json_t **max_score);
/* The document source as returned: parsed, then filtered by src. */
json_t *qx_source(const char *text, int len, const struct qsrc *src);
/* The aggregations object of the reply (x->failed / x->bad on errors). */
json_t *qx_aggs(struct qx *x);
/* Evaluates aggs[0..n) over the documents of c into the object `into`
 * (one member per aggregation): fast plans where they apply, one scan of
 * the raw rows for the rest. */
void qx_aggs_eval(struct qx *x, struct qagg *const *aggs, size_t n, const struct qctx *c,
                  json_t *into);
/* The fast plans (query_fast.c): the reply of aggregation a over c, or
 * NULL when no fast plan applies (the caller computes from raw rows). */
json_t *qx_fast_agg(struct qx *x, const struct qagg *a, const struct qctx *c);
/* The rollup plan (query_rollup.c), or NULL when it does not apply. */
json_t *qx_rollup_agg(struct qx *x, const struct qagg *a, const struct qctx *c);
/* A query that is a conjunction (bool must/filter, should without a
 * minimum) of: match_all/match_none, ranges on `date`, at most one
 * groupid term/terms (no "" value) and leaves on measurement values. */
struct qconj {
    int64_t lo, hi; /* docs.ts in [lo, hi) (INT64_MIN/MAX: open) */
    int none;       /* a match_none: nothing matches */
    const struct qnode *grp;
    size_t nmeas;
    const struct qnode *meas[8];
};

/* 1 and *c filled when root is such a conjunction, else 0. */
int qconj_of(const struct qnode *root, struct qconj *c);
/* " IN (values of terms node n)": bound one by one, or a long list as one
 * JSON array through json_each (SQLite binds at most 32766 values). */
void qsql_in(struct qsql *s, const struct qnode *n);
/* The condition of a measurement leaf over the measurements row `m`. */
void qsql_meas_cond(struct qsql *s, const struct qnode *n);
/* The WHERE condition of c over docs `d` (index included). */
void qsql_ctx_cond(struct qsql *s, const struct query *q, const struct qctx *c);

/* ---- counts from rollups (query_count.c) ------------------------------ */

#define QX_MINUTE      INT64_C(60000)
#define QX_HOUR        INT64_C(3600000)
#define QX_MAX_REGIONS 7

/* One piece of a time range, read from a rollup tier (QX_HOUR, QX_MINUTE)
 * or from raw rows (tier 0): [from, to). */
struct qregion {
    int64_t tier, from, to;
};

/* 1 when gasket.db keeps the 1-minute rollups of the query's index; 0
 * when the mover stopped keeping them (main.rollup_off: they summarised
 * about one reading per minute, so the raw rows are as quick). */
int qx_minutes_kept(struct qx *x);

/* Cuts [lo, hi) into whole hours (when tier is QX_HOUR), whole minutes at
 * their edges and raw pieces for the partial minutes at the very edges, in
 * time order; returns the number of pieces written to r (at most
 * QX_MAX_REGIONS). Without 1-minute rollups (qx_minutes_kept), what is not
 * whole hours is one raw piece. */
size_t qx_regions(struct qx *x, int64_t lo, int64_t hi, int64_t tier, struct qregion *r);

/* The number of documents of the index matching root, also narrowed to
 * groupid grp when grp is not NULL, counted from the rollups: returns 1
 * with *n set, or 0 when root is not a conjunction the rollups answer
 * exactly (see query_count.c) or grp is "" (docs.groupid "" and NULL
 * share a rollup group). x->failed / x->timed_out as for any read. */
int qx_rollup_count(struct qx *x, const struct qnode *root, const char *grp, int64_t *n);
/* The documents of c (c->count when known): from the rollups when they
 * answer exactly, else a count(*) of the raw rows. */
int64_t qx_ctx_count(struct qx *x, const struct qctx *c);

/* A prepared rollup count, for counting many groups under one query. */
struct qcount;
/* NULL when root is not countable from the rollups. */
struct qcount *qcount_new(struct qx *x, const struct qnode *root);
/* The documents of root with groupid grp (grp must not be ""). */
int64_t qcount_group(struct qcount *k, const char *grp);
void qcount_free(struct qcount *k);

/* ---- aggregation state (query_agg.c) ---------------------------------- */

/* An aggregation with the columns a raw scan reads for it (-1: none). */
struct qplan {
    const struct qagg *a;
    int col;    /* the field's column */
    int keycol; /* top_hits: the column of its first sort key */
    struct qplan *subs;
};

/* A metric accumulator: count, min, max, a compensated (Kahan) sum as
 * OpenSearch keeps it, and the values themselves for percentiles. */
struct qmetric {
    int64_t n;
    double min, max, sum, comp;
    double *vals;
    size_t nv, cap;
};

struct qstate;

/* Where a state tree's buckets and sub-states live: zeroed memory handed
 * out in order from a few chunks, freed at once with the tree's root
 * (qs_free). A histogram of 1,440 buckets then makes a handful of
 * allocations, not three per bucket. */
struct qarena {
    struct qchunk *chunks;
    char *next;
    size_t left, size;
};

struct qbucket {
    int64_t ki;           /* date_histogram key */
    char *ks;             /* terms key */
    int64_t n;            /* doc_count */
    struct qstate **subs; /* one per sub-aggregation, created on first use */
    json_t *subj;         /* sub-aggregation replies computed by a fill callback */
};

/* The state of one aggregation (in one bucket of its parent). */
struct qstate {
    const struct qplan *p;
    struct qarena *arena; /* the tree's; owned by the root (qs_new) */
    struct qmetric m;
    struct qbucket **b; /* buckets in creation order */
    size_t nb, capb;
    struct map *sidx; /* terms: key -> bucket */
    int64_t *ikeys;   /* date_histogram: open addressing key -> bucket index */
    size_t *ibk, icap;
    struct qbucket *last;
    struct qrow *rows; /* top_hits: the best rows, in order */
    size_t nrows;
    int64_t total;
    /* When set, the replies of a bucket's sub-aggregations come from this
     * callback (called once per bucket the reply needs) instead of the
     * states: plans that evaluate sub-aggregations per bucket. */
    json_t *(*fill)(struct qx *x, const struct qstate *s, struct qbucket *b);
    const void *fill_arg;
};

/* A root state, with the arena of its tree. */
struct qstate *qs_new(const struct qplan *p);
/* Frees what s holds (and, for a root, s and its arena). */
void qs_free(struct qstate *s);
struct qbucket *qs_bucket_int(struct qx *x, struct qstate *s, int64_t key);
struct qbucket *qs_bucket_str(struct qx *x, struct qstate *s, const char *key);
/* The state of sub-aggregation i of b, created when missing. */
struct qstate *qs_sub(const struct qstate *s, struct qbucket *b, size_t i);
void qm_add(struct qmetric *m, double v, int keep);
/* Adds a summary of n values (a rollup row). */
void qm_merge(struct qmetric *m, int64_t n, double mn, double mx, double sm);
/* The reply object of s (buckets sorted, cut and counted). */
json_t *qs_json(struct qx *x, struct qstate *s);
/* The start of the date_histogram bucket of a holding ms, and of the
 * bucket after the one starting at key. */
int64_t qx_dh_floor(const struct qagg *a, int64_t ms);
int64_t qx_dh_next(const struct qagg *a, int64_t key);
/* The plan tree of a with no columns (for the fast paths). */
struct qplan *qplan_bare(const struct qagg *a);
void qplan_free(struct qplan *p);

/* floor and ceiling of a / b for b > 0 */
static inline int64_t q_floordiv(int64_t a, int64_t b)
{
    int64_t r = a / b;
    return (a % b != 0 && a < 0) ? r - 1 : r;
}

#endif
