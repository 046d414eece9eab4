/* query_sql.c: the plan as SQL over the store's tables (schema in store.h).
 *
 * A query node becomes a WHERE condition over the docs row `d`; fields
 * become SQL values of that row (a measurement is one primary-key lookup
 * in `measurements`, a keyword a json_extract of the source, read back
 * as posted by gk_unzip: store_zip.c). Values are
 * never spliced into the text: each one is bound (?1, ?2, ...). Conditions
 * may be NULL where SQL says so; NOT and sums wrap them in IFNULL. This
 * file also runs statements under the request's deadline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/query_int.h"
#include "store/store_int.h"

void qsql_free(struct qsql *s)
{
    buf_free(&s->sql);
    free(s->b);
    memset(s, 0, sizeof *s);
}

void qsql_add(struct qsql *s, const char *text)
{
    buf_puts(&s->sql, text);
}

static struct qbind *bind_new(struct qsql *s, enum qbind_kind kind)
{
    if (s->nb == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->b = xrealloc(s->b, s->cap * sizeof *s->b);
    }
    struct qbind *b = &s->b[s->nb++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    buf_printf(&s->sql, "?%zu", s->nb);
    return b;
}

void qsql_int(struct qsql *s, int64_t v)
{
    bind_new(s, QB_INT)->i = v;
}
void qsql_real(struct qsql *s, double v)
{
    bind_new(s, QB_REAL)->d = v;
}
void qsql_text(struct qsql *s, const char *v)
{
    bind_new(s, QB_TEXT)->s = v;
}

/* ---- fields ------------------------------------------------------------ */

/* The measurement row of the doc row d named by the next bound value. */
static void meas_of_doc(struct qsql *s, const struct qfield *f)
{
    qsql_add(s,
             "FROM measurements m WHERE m.idx = d.idx AND m.grp = " QSQL_DOC_GRP " AND m.name = ");
    qsql_text(s, f->arg);
    qsql_add(s, " AND m.ts = d.ts AND m.doc = d.id");
}

/* A keyword's text: strings as they are, numbers as SQLite prints them,
 * booleans as true/false, objects and arrays as no value. */
static void keyword_of_doc(struct qsql *s, const struct qfield *f)
{
    qsql_add(s, "(CASE json_type(gk_unzip(d.source), ");
    qsql_text(s, f->arg);
    qsql_add(s, ") WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'object' THEN NULL"
                " WHEN 'array' THEN NULL ELSE CAST(json_extract(gk_unzip(d.source), ");
    qsql_text(s, f->arg);
    qsql_add(s, ") AS TEXT) END)");
}

void qsql_field(struct qsql *s, const struct qfield *f)
{
    switch (f->kind) {
    case QF_DATE:
        qsql_add(s, "(d.ts - (d.ts % 1000 + 1000) % 1000)");
        break;
    case QF_ID:
        qsql_add(s, "d.id");
        break;
    case QF_GROUP:
        qsql_add(s, "d.groupid");
        break;
    case QF_MEAS:
        qsql_add(s, "(SELECT m.value ");
        meas_of_doc(s, f);
        qsql_add(s, ")");
        break;
    case QF_KEYWORD:
        keyword_of_doc(s, f);
        break;
    }
}

/* ---- conditions -------------------------------------------------------- */

static void bind_val(struct qsql *s, const struct qfield *f, const struct qval *v)
{
    if (f->kind == QF_MEAS)
        qsql_real(s, v->d);
    else if (f->kind == QF_DATE || f->kind == QF_ID)
        qsql_int(s, v->i);
    else
        qsql_text(s, v->s);
}

/* The column a leaf compares: docs columns directly, a measurement
 * through m (inside an EXISTS opened by the caller). */
static void leaf_col(struct qsql *s, const struct qfield *f)
{
    switch (f->kind) {
    case QF_DATE:
        qsql_add(s, "d.ts");
        break;
    case QF_MEAS:
        qsql_add(s, "m.value");
        break;
    default:
        qsql_field(s, f);
    }
}

void qsql_in(struct qsql *s, const struct qnode *n)
{
    if (n->json_vals) {
        qsql_add(s, " IN (SELECT value FROM json_each(");
        qsql_text(s, n->json_vals);
        qsql_add(s, "))");
        return;
    }
    qsql_add(s, " IN (");
    for (size_t i = 0; i < n->nvals; i++) {
        if (i) qsql_add(s, ", ");
        bind_val(s, &n->f, &n->vals[i]);
    }
    qsql_add(s, ")");
}

static void terms_cond(struct qsql *s, const struct qnode *n)
{
    leaf_col(s, &n->f);
    if (n->nvals == 1) {
        qsql_add(s, " = ");
        bind_val(s, &n->f, &n->vals[0]);
        return;
    }
    qsql_in(s, n);
}

static void range_cond(struct qsql *s, const struct qnode *n)
{
    int date = n->f.kind == QF_DATE;
    if (!n->has_lo && !n->has_hi) {
        qsql_add(s, "(");
        leaf_col(s, &n->f);
        qsql_add(s, " IS NOT NULL)");
        return;
    }
    qsql_add(s, "(");
    if (n->has_lo) {
        leaf_col(s, &n->f);
        qsql_add(s, date || n->lo_incl ? " >= " : " > ");
        bind_val(s, &n->f, &n->lo);
    }
    if (n->has_lo && n->has_hi) qsql_add(s, " AND ");
    if (n->has_hi) {
        leaf_col(s, &n->f);
        qsql_add(s, date || !n->hi_incl ? " < " : " <= ");
        bind_val(s, &n->f, &n->hi);
    }
    qsql_add(s, ")");
}

static void exists_cond(struct qsql *s, const struct qfield *f)
{
    switch (f->kind) {
    case QF_DATE:
    case QF_ID:
        qsql_add(s, "1");
        break;
    case QF_GROUP:
        qsql_add(s, "(d.groupid IS NOT NULL)");
        break;
    case QF_MEAS:
        qsql_add(s, "EXISTS(SELECT 1 ");
        meas_of_doc(s, f);
        qsql_add(s, " AND m.value IS NOT NULL)");
        break;
    case QF_KEYWORD:
        qsql_add(s, "IFNULL(json_type(gk_unzip(d.source), ");
        qsql_text(s, f->arg);
        qsql_add(s, ") NOT IN ('null', 'array') OR json_array_length(gk_unzip(d.source), ");
        qsql_text(s, f->arg);
        qsql_add(s, ") > 0, 0)");
        break;
    }
}

/* One operand of a bool's combined condition or score. */
enum part_kind {
    PART_COND,      /* (cond) */
    PART_NOT,       /* NOT IFNULL((cond), 0) */
    PART_ONE,       /* IFNULL((cond), 0): 0 or 1 */
    PART_SCORE,     /* the score of a must clause */
    PART_SHOULD_SC, /* the score of a should clause when it matches, else 0 */
};

struct part {
    enum part_kind kind;
    const struct qnode *n;
};

static void part_emit(struct qsql *s, const struct part *p)
{
    int k;
    double v;
    switch (p->kind) {
    case PART_COND:
        qsql_add(s, "(");
        qsql_cond(s, p->n);
        qsql_add(s, ")");
        break;
    case PART_NOT:
    case PART_ONE:
        qsql_add(s, p->kind == PART_NOT ? "NOT IFNULL((" : "IFNULL((");
        qsql_cond(s, p->n);
        qsql_add(s, "), 0)");
        break;
    case PART_SCORE:
        qsql_score(s, p->n, &k, &v);
        break;
    case PART_SHOULD_SC:
        qsql_add(s, "(CASE WHEN IFNULL((");
        qsql_cond(s, p->n);
        qsql_add(s, "), 0) THEN ");
        qsql_score(s, p->n, &k, &v);
        qsql_add(s, " ELSE 0 END)");
        break;
    }
}

/* p[0] op p[1] op ... as a balanced tree: SQLite limits the depth of an
 * expression (1000), and a bool may hold up to 1024 clauses. */
static void balanced(struct qsql *s, const struct part *p, size_t n, const char *op)
{
    if (n == 1) {
        part_emit(s, p);
        return;
    }
    qsql_add(s, "(");
    balanced(s, p, n / 2, op);
    qsql_add(s, op);
    balanced(s, p + n / 2, n - n / 2, op);
    qsql_add(s, ")");
}

static size_t bool_count(const struct qnode *n)
{
    size_t c = 0;
    for (int o = 0; o < QB_NOCCUR; o++)
        c += n->nkids[o];
    return c;
}

/* The should clauses as one condition, or 0 when none is needed. */
static int should_cond(struct qsql *s, const struct qnode *n, struct part *p)
{
    size_t ns = n->nkids[QB_SHOULD];
    if (n->msm <= 0) return 0;
    if ((size_t)n->msm > ns) {
        qsql_add(s, "0");
        return 1;
    }
    int one = n->msm == 1, all = (size_t)n->msm == ns;
    for (size_t i = 0; i < ns; i++)
        p[i] = (struct part){one || all ? PART_COND : PART_ONE, n->kids[QB_SHOULD][i]};
    if (!one && !all) qsql_add(s, "(");
    balanced(s, p, ns, one ? " OR " : all ? " AND " : " + ");
    if (!one && !all) buf_printf(&s->sql, " >= %d)", n->msm);
    return 1;
}

static void bool_cond(struct qsql *s, const struct qnode *n)
{
    struct part *p = xmalloc((bool_count(n) + 1) * sizeof *p);
    size_t k = 0;
    for (int o = QB_MUST; o <= QB_FILTER; o++)
        for (size_t i = 0; i < n->nkids[o]; i++)
            p[k++] = (struct part){PART_COND, n->kids[o][i]};
    for (size_t i = 0; i < n->nkids[QB_MUST_NOT]; i++)
        p[k++] = (struct part){PART_NOT, n->kids[QB_MUST_NOT][i]};
    qsql_add(s, "(");
    if (k) balanced(s, p, k, " AND ");
    if (k && n->msm > 0) qsql_add(s, " AND ");
    if (!should_cond(s, n, p) && !k) qsql_add(s, "1");
    qsql_add(s, ")");
    free(p);
}

void qsql_cond(struct qsql *s, const struct qnode *n)
{
    int meas = n->f.kind == QF_MEAS && (n->kind == QN_TERMS || n->kind == QN_RANGE);
    if (meas) {
        qsql_add(s, "EXISTS(SELECT 1 ");
        meas_of_doc(s, &n->f);
        qsql_add(s, " AND ");
    }
    switch (n->kind) {
    case QN_ALL:
        qsql_add(s, "1");
        break;
    case QN_NONE:
        qsql_add(s, "0");
        break;
    case QN_TERMS:
        terms_cond(s, n);
        break;
    case QN_RANGE:
        range_cond(s, n);
        break;
    case QN_EXISTS:
        exists_cond(s, &n->f);
        break;
    case QN_BOOL:
        bool_cond(s, n);
        break;
    }
    if (meas) qsql_add(s, ")");
}

void qsql_meas_cond(struct qsql *s, const struct qnode *n)
{
    if (n->kind == QN_EXISTS)
        qsql_add(s, "m.value IS NOT NULL");
    else if (n->kind == QN_TERMS)
        terms_cond(s, n);
    else
        range_cond(s, n);
}

/* ---- conjunctions ------------------------------------------------------ */

static int conj_leaf(const struct qnode *n, struct qconj *c)
{
    if (n->f.kind == QF_DATE && n->kind == QN_RANGE) {
        if (n->has_lo && n->lo.i > c->lo) c->lo = n->lo.i;
        if (n->has_hi && n->hi.i < c->hi) c->hi = n->hi.i;
        return 1;
    }
    if (n->f.kind == QF_DATE && n->kind == QN_EXISTS) return 1;
    if (n->f.kind == QF_GROUP && n->kind == QN_TERMS) {
        if (c->grp) return 0;
        for (size_t i = 0; i < n->nvals; i++)
            if (n->vals[i].s[0] == '\0') return 0; /* "" is also the grp of no groupid */
        c->grp = n;
        return 1;
    }
    if (n->f.kind == QF_MEAS && n->kind != QN_BOOL) {
        if (c->nmeas == sizeof c->meas / sizeof c->meas[0]) return 0;
        c->meas[c->nmeas++] = n;
        return 1;
    }
    return 0;
}

static int conj_walk(const struct qnode *n, struct qconj *c)
{
    switch (n->kind) {
    case QN_ALL:
        return 1;
    case QN_NONE:
        c->none = 1;
        return 1;
    case QN_BOOL:
        if (n->nkids[QB_MUST_NOT] || (n->nkids[QB_SHOULD] && n->msm > 0)) return 0;
        for (int o = QB_MUST; o <= QB_FILTER; o++)
            for (size_t i = 0; i < n->nkids[o]; i++)
                if (!conj_walk(n->kids[o][i], c)) return 0;
        return 1;
    default:
        return conj_leaf(n, c);
    }
}

int qconj_of(const struct qnode *root, struct qconj *c)
{
    memset(c, 0, sizeof *c);
    c->lo = INT64_MIN;
    c->hi = INT64_MAX;
    return conj_walk(root, c);
}

void qsql_ctx_cond(struct qsql *s, const struct query *q, const struct qctx *c)
{
    qsql_add(s, c->by_rowid ? "+d.idx = " : "d.idx = ");
    qsql_text(s, q->index);
    if (c->grp) {
        qsql_add(s, " AND d.groupid = ");
        qsql_text(s, c->grp);
    }
    qsql_add(s, " AND (");
    qsql_cond(s, c->root);
    qsql_add(s, ")");
}

/* ---- scores ------------------------------------------------------------ */

static int bool_empty(const struct qnode *n)
{
    for (int o = 0; o < QB_NOCCUR; o++)
        if (n->nkids[o]) return 0;
    return 1;
}

/* A bool of must_not clauses only matches everything else with score 1,
 * as OpenSearch adds a match_all to a purely negative bool. */
static int bool_pure_negative(const struct qnode *n)
{
    return n->nkids[QB_MUST_NOT] && !n->nkids[QB_MUST] && !n->nkids[QB_FILTER] &&
           !n->nkids[QB_SHOULD];
}

int qsql_score_const(const struct qnode *n, double *score)
{
    if (n->kind == QN_NONE) return *score = 0, 1;
    if (n->kind != QN_BOOL || bool_empty(n)) return *score = n->boost, 1;
    if (n->nkids[QB_SHOULD]) return 0;
    double sum = bool_pure_negative(n) ? 1.0 : 0.0;
    for (size_t i = 0; i < n->nkids[QB_MUST]; i++) {
        double k;
        if (!qsql_score_const(n->kids[QB_MUST][i], &k)) return 0;
        sum += k;
    }
    *score = n->boost * sum;
    return 1;
}

void qsql_score(struct qsql *s, const struct qnode *n, int *constant, double *score)
{
    double c;
    *constant = qsql_score_const(n, &c);
    if (*constant) {
        *score = c;
        buf_printf(&s->sql, "%.17g", c);
        return;
    }
    struct part *p = xmalloc((bool_count(n) + 1) * sizeof *p);
    size_t k = 0;
    for (size_t i = 0; i < n->nkids[QB_MUST]; i++)
        p[k++] = (struct part){PART_SCORE, n->kids[QB_MUST][i]};
    for (size_t i = 0; i < n->nkids[QB_SHOULD]; i++)
        p[k++] = (struct part){PART_SHOULD_SC, n->kids[QB_SHOULD][i]};
    buf_printf(&s->sql, "(%.17g * ", n->boost);
    balanced(s, p, k, " + "); /* k > 0: a bool without should is constant */
    qsql_add(s, ")");
    free(p);
}

/* ---- statements -------------------------------------------------------- */

/* Statements are cached in the connection itself: a statement given back
 * is reset and stays in SQLite's list of the connection's statements
 * (sqlite3_next_stmt, newest first), found again by its SQL text. One
 * handed out (x->out) is never handed out twice: a plan may hold several
 * of the same text at once (a count per group inside a count). */

#define QX_KEEP_MAX 48 /* statements a connection keeps between reads */

static pthread_mutex_t keep_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 **keep_db;
static size_t keep_n, keep_cap;

static int kept(sqlite3 *db)
{
    int found = 0;
    pthread_mutex_lock(&keep_mu);
    for (size_t i = 0; i < keep_n && !found; i++)
        found = keep_db[i] == db;
    pthread_mutex_unlock(&keep_mu);
    return found;
}

void query_conn_keep(sqlite3 *db)
{
    pthread_mutex_lock(&keep_mu);
    if (keep_n == keep_cap) {
        keep_cap = keep_cap ? 2 * keep_cap : 8;
        keep_db = xrealloc(keep_db, keep_cap * sizeof *keep_db);
    }
    keep_db[keep_n++] = db;
    pthread_mutex_unlock(&keep_mu);
}

void query_conn_forget(sqlite3 *db)
{
    sqldb_finalize_all(db);
    pthread_mutex_lock(&keep_mu);
    for (size_t i = 0; i < keep_n; i++)
        if (keep_db[i] == db) {
            keep_db[i] = keep_db[--keep_n];
            break;
        }
    if (keep_n == 0) {
        free(keep_db);
        keep_db = NULL;
        keep_cap = 0;
    }
    pthread_mutex_unlock(&keep_mu);
}

int query_conn_idle(sqlite3 *db)
{
    int running = 0, n = 0;
    sqlite3_stmt *st = sqlite3_next_stmt(db, NULL), *next;
    for (; st; st = next) {
        next = sqlite3_next_stmt(db, st);
        if (sqldb_owned(st)) continue;
        running += sqlite3_stmt_busy(st) != 0;
        if (sqlite3_stmt_busy(st) || ++n > QX_KEEP_MAX) {
            sqlite3_finalize(st);
        } else {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        }
    }
    return running;
}

static void stmts_add(struct qstmts *l, sqlite3_stmt *st)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = st;
}

/* Removes st from l; 0 when it was not there. */
static int stmts_remove(struct qstmts *l, sqlite3_stmt *st)
{
    for (size_t i = l->n; i-- > 0;)
        if (l->v[i] == st) {
            l->v[i] = l->v[--l->n];
            return 1;
        }
    return 0;
}

static int stmts_has(const struct qstmts *l, sqlite3_stmt *st)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == st) return 1;
    return 0;
}

void qx_start(struct qx *x)
{
    x->cache = 1;
    x->keep = kept(x->db);
}

void qx_finish(struct qx *x)
{
    for (size_t i = 0; !x->keep && i < x->made.n; i++)
        sqlite3_finalize(x->made.v[i]);
    free(x->out.v);
    free(x->made.v);
    x->out = x->made = (struct qstmts){0};
    x->cache = 0;
}

/* A statement of the connection with this SQL text, not handed out. */
static sqlite3_stmt *stmt_find(struct qx *x, const char *sql, int len)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(x->db, NULL); st; st = sqlite3_next_stmt(x->db, st)) {
        const char *t = sqlite3_sql(st);
        if (t && t[0] == sql[0] && strncmp(t, sql, (size_t)len) == 0 && t[len] == '\0' &&
            !sqlite3_stmt_busy(st) && !stmts_has(&x->out, st) &&
            (x->keep || stmts_has(&x->made, st)))
            return st;
    }
    return NULL;
}

sqlite3_stmt *qx_stmt(struct qx *x, const char *sql, int len)
{
    if (len < 0) len = (int)strlen(sql);
    sqlite3_stmt *st = x->cache ? stmt_find(x, sql, len) : NULL;
    if (st) {
        stmts_add(&x->out, st);
        return st;
    }
    int rc =
        sqlite3_prepare_v3(x->db, sql, len, x->cache ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_INTERRUPT) {
            x->timed_out = 1;
        } else {
            log_error("query: cannot prepare: %s (%.*s)", sqlite3_errmsg(x->db), len, sql);
            x->failed = 1;
        }
        return NULL;
    }
    if (x->cache) {
        stmts_add(&x->out, st);
        stmts_add(&x->made, st);
    }
    return st;
}

void qx_done(struct qx *x, sqlite3_stmt *st)
{
    if (!st) return;
    if (!stmts_remove(&x->out, st)) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

sqlite3_stmt *qx_prepare(struct qx *x, struct qsql *s)
{
    if (x->timed_out || qx_deadline_passed(x)) {
        x->timed_out = 1;
        return NULL;
    }
    sqlite3_stmt *st = qx_stmt(x, s->sql.data, (int)s->sql.len);
    if (!st) return NULL;
    for (size_t i = 0; i < s->nb; i++) {
        const struct qbind *b = &s->b[i];
        int at = (int)i + 1;
        if (b->kind == QB_INT)
            sqlite3_bind_int64(st, at, b->i);
        else if (b->kind == QB_REAL)
            sqlite3_bind_double(st, at, b->d);
        else
            sqlite3_bind_text(st, at, b->s, -1, SQLITE_STATIC);
    }
    return st;
}

int qx_step(struct qx *x, sqlite3_stmt *st)
{
    if (x->timed_out || x->failed) return SQLITE_DONE;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
    if (rc == SQLITE_INTERRUPT) {
        x->timed_out = 1;
    } else {
        log_error("query: %s", sqlite3_errmsg(x->db));
        x->failed = 1;
    }
    return SQLITE_DONE;
}

/* One of min(ts) / max(ts) of the index's documents, asked of gasket.db
 * and of each hot file apart (store_move.c's tables, the hot ones above
 * the `moved` mark as in its docs view): one aggregate per table, so that
 * SQLite answers each from its (idx, ts) index. Through the docs view it
 * would read every entry of the index (seconds for a million documents).
 * A hot file holds one generation: moved (every id up to the mark: it
 * adds nothing) or not yet (every id over it: its index answers alone);
 * the mark is checked against the file's first and last id, as the
 * aggregate over "id > mark" walks the whole index when no row passes
 * (a moved generation's 16,384 documents, read twice per request). */
#define HOT_TS(f, agg)                                                                             \
    "SELECT CASE WHEN (SELECT max(id) FROM " f ".docs) <= " STORE_MOVED_MARK " THEN NULL"          \
    " WHEN (SELECT min(id) FROM " f ".docs) > " STORE_MOVED_MARK " THEN (SELECT " agg              \
    "(ts) FROM " f ".docs WHERE idx = ?1)"                                                         \
    " ELSE (SELECT " agg "(ts) FROM " f ".docs WHERE id > " STORE_MOVED_MARK " AND idx = ?1) END"
#define INDEX_TS(agg)                                                                              \
    "SELECT " agg "(v) FROM (SELECT " agg "(ts) AS v FROM main.docs WHERE idx = ?1"                \
    " UNION ALL " HOT_TS("hot0", agg) " UNION ALL " HOT_TS("hot1", agg) ")"

static int index_ts(struct qx *x, int want_max, int64_t *v)
{
    static const char *const sql[2] = {INDEX_TS("min"), INDEX_TS("max")};
    sqlite3_stmt *st = qx_stmt(x, sql[want_max], -1);
    if (st) sqlite3_bind_text(st, 1, x->q->index, -1, SQLITE_STATIC);
    int found = st && qx_step(x, st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (found) *v = sqlite3_column_int64(st, 0);
    qx_done(x, st);
    return found;
}

int qx_clamp_to_index(struct qx *x, int64_t *lo, int64_t *hi)
{
    int64_t first, last;
    if (!index_ts(x, 0, &first) || !index_ts(x, 1, &last)) return 0;
    if (*lo < first) *lo = first;
    if (*hi > last) *hi = last + 1;
    return *lo < *hi;
}

int qx_deadline_passed(void *arg)
{
    const struct qx *x = arg;
    return x->deadline && clock_mono_ms() > x->deadline;
}
