/* store_hroll.c: the hot tier's rollups, computed from its rows as read.
 *
 * Why: the writer used to upsert a rollup row per (series, minute) and
 * per (series, hour) into the hot file at every group commit; with many
 * groups that was a third of its time per reading. Now the hot tier keeps
 * only its rows, and readers aggregate them. Through SQL (GROUP BY over
 * the computed bucket) SQLite sorts every row in a temporary b-tree
 * first: a 24 h histogram of 16,000 hot readings of a group took 34 ms.
 * This virtual table reads the rows in the order of the hot files'
 * indexes, (idx, grp, name, ts) for measurements and (idx, groupid, ts)
 * for documents, and adds up each bucket as its rows go by.
 *
 * Module gk_hroll(W): one table per width W in ms (temp.hroll_1m with
 * 60000, temp.hroll_1h with 3600000, made by store_view_sql), columns as
 * rollup_1m's: (idx, grp, name, t, n, mn, mx, sm). Its rows, read in this
 * order from the statements below on the reader's connection (in the same
 * read transaction as the rest of the query):
 *   per hot file, the buckets of its measurements above the `moved` mark
 *   (a bucket whose values are all NULL has no row, as in gasket.db);
 *   per hot file, the documents above the mark per bucket, named
 *   STORE_DOCS_NAME with NULL mn, mx and sm: the groups, then (when the
 *   query asks for grp '') the documents without a group.
 * A bucket may have a row in each file, and documents of groupid NULL and
 * '' have a row each, as rollup_1m may have a row in gasket.db and in the
 * hot tier: queries add rows of the same key up.
 *
 * It takes equality on idx, grp and name and a range or equality on t,
 * which becomes a ts range (rows in buckets outside it are never read).
 * Constraints are never omitted: SQLite checks every row again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/sqldb.h"
#include "store/store_int.h"

/* Plan bits (idxNum): the constraints xFilter gets, in this order (t
 * bounds are any of GE, GT, LE, LT, EQ, each at most once). */
enum { P_IDX = 1, P_GRP = 2, P_NAME = 4, P_T0 = 8 };
#define NT_OPS 5
enum { C_IDX, C_GRP, C_NAME, C_T, C_N, C_MN, C_MX, C_SM };
/* The statements' kinds: a file's measurements, documents, documents
 * without a group. */
enum { K_MEAS, K_DOCS, K_DOCS_NULL, NKIND };
#define NSRC  (2 * NKIND)
#define NKEYS (NKIND * 2 * 16)

static const int t_ops[NT_OPS] = {SQLITE_INDEX_CONSTRAINT_GE, SQLITE_INDEX_CONSTRAINT_GT,
                                  SQLITE_INDEX_CONSTRAINT_LE, SQLITE_INDEX_CONSTRAINT_LT,
                                  SQLITE_INDEX_CONSTRAINT_EQ};

struct hvtab {
    sqlite3_vtab base;
    sqlite3 *db;
    int64_t w;                    /* the buckets' width, ms */
    sqlite3_stmt *idle[NKEYS][2]; /* statements not in use, by key() */
};

/* A key's text, owned: idx, grp or name of the bucket being added up. */
struct htext {
    char *s;
    int len, cap;
};

struct hcur {
    sqlite3_vtab_cursor base;
    struct {
        sqlite3_stmt *st;
        int key;
        int fixed;         /* every row has the key of fixed[] (all bound) */
    } src[NSRC];           /* the statements to read, in order */
    struct htext fixed[3]; /* idx, grp, name as bound, for src[].fixed */
    int nsrc, at;          /* how many, the one being read */
    int ready;             /* src[at] is on a row not added up yet */
    int eof;
    /* the current bucket */
    struct htext k[3];
    int64_t t, n;
    double mn, mx, sm;
    int docs; /* a document count: NULL mn, mx, sm */
};

static int h_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **err)
{
    (void)aux;
    char *end = NULL;
    long long w = argc == 4 ? strtoll(argv[3], &end, 10) : 0;
    if (w <= 0 || !end || *end) {
        *err = sqlite3_mprintf("gk_hroll: one argument, the buckets' width in ms");
        return SQLITE_ERROR;
    }
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(idx TEXT, grp TEXT, name TEXT, t INTEGER,"
                                      " n INTEGER, mn REAL, mx REAL, sm REAL)");
    if (rc != SQLITE_OK) return rc;
    struct hvtab *t = sqlite3_malloc(sizeof(*t));
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof(*t));
    t->db = db;
    t->w = w;
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &t->base;
    return SQLITE_OK;
}

static int h_disconnect(sqlite3_vtab *vt)
{
    struct hvtab *t = (struct hvtab *)vt;
    for (int i = 0; i < NKEYS; i++)
        for (int k = 0; k < 2; k++)
            sqlite3_finalize(t->idle[i][k]);
    sqlite3_free(t);
    return SQLITE_OK;
}

static int h_best_index(sqlite3_vtab *vt, sqlite3_index_info *ii)
{
    (void)vt;
    int at[3 + NT_OPS], plan = 0, arg = 1;
    for (int i = 0; i < 3 + NT_OPS; i++)
        at[i] = -1;
    for (int i = 0; i < ii->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
        int slot = -1;
        if (!c->usable) continue;
        if (c->iColumn >= C_IDX && c->iColumn <= C_NAME && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
            slot = c->iColumn;
        else if (c->iColumn == C_T)
            for (int k = 0; k < NT_OPS; k++)
                if (c->op == t_ops[k]) slot = 3 + k;
        if (slot < 0 || at[slot] >= 0) continue;
        at[slot] = i;
        plan |= 1 << slot;
    }
    for (int s = 0; s < 3 + NT_OPS; s++)
        if (at[s] >= 0) ii->aConstraintUsage[at[s]].argvIndex = arg++;
    ii->idxNum = plan;
    double rows = (plan & (P_IDX | P_GRP | P_NAME)) == (P_IDX | P_GRP | P_NAME) ? 100
                  : (plan & (P_IDX | P_GRP)) == (P_IDX | P_GRP)                 ? 1000
                  : plan & P_IDX                                                ? 1e5
                                                                                : 1e6;
    if (plan >= P_T0) rows /= 4;
    ii->estimatedRows = (sqlite3_int64)rows;
    ii->estimatedCost = 10 + rows;
    return SQLITE_OK;
}

static int h_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    struct hcur *c = sqlite3_malloc(sizeof(*c));
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

/* Gives the cursor's statements back to the table's idle ones. */
static void cur_release(struct hcur *c)
{
    struct hvtab *t = (struct hvtab *)c->base.pVtab;
    for (int i = 0; i < c->nsrc; i++) {
        sqlite3_stmt *st = c->src[i].st;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_stmt **slot = t->idle[c->src[i].key];
        if (!slot[0])
            slot[0] = st;
        else if (!slot[1])
            slot[1] = st;
        else
            sqlite3_finalize(st);
    }
    c->nsrc = c->at = c->ready = 0;
    c->eof = 1;
}

static int h_close(sqlite3_vtab_cursor *cur)
{
    struct hcur *c = (struct hcur *)cur;
    cur_release(c);
    for (int i = 0; i < 3; i++) {
        sqlite3_free(c->k[i].s);
        sqlite3_free(c->fixed[i].s);
    }
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Whether a statement of kind and bits binds every part of its rows' key. */
static int all_bound(int kind, int bits)
{
    return kind == K_MEAS   ? (bits & (P_IDX | P_GRP | P_NAME)) == (P_IDX | P_GRP | P_NAME)
           : kind == K_DOCS ? (bits & (P_IDX | P_GRP)) == (P_IDX | P_GRP)
                            : (bits & P_IDX) != 0;
}

/* The statement of a kind, hot file and the constraints it binds (P_IDX,
 * P_GRP, P_NAME, and P_T0 for a ts range ?4 .. ?5). Its columns: idx,
 * grp, name, ts, value (documents: name and value unused; NULL texts
 * when all_bound: the cursor has them). */
static sqlite3_stmt *src_stmt(struct hvtab *t, int kind, int file, int bits)
{
    int key = (kind * 2 + file) * 16 + bits;
    for (int k = 0; k < 2; k++)
        if (t->idle[key][k]) {
            sqlite3_stmt *st = t->idle[key][k];
            t->idle[key][k] = NULL;
            return st;
        }
    struct buf b = {0};
    const char *cols = all_bound(kind, bits) ? "NULL, NULL, NULL"
                       : kind == K_MEAS      ? "idx, grp, name"
                                             : "idx, coalesce(groupid, ''), NULL";
    if (kind == K_MEAS)
        buf_printf(&b,
                   SQLDB_OWNED "SELECT %s, ts, value FROM hot%d.measurements"
                               " WHERE doc > " STORE_MOVED_MARK,
                   cols, file);
    else
        buf_printf(&b,
                   SQLDB_OWNED "SELECT %s, ts, NULL FROM hot%d.docs WHERE id > " STORE_MOVED_MARK,
                   cols, file);
    if (bits & P_IDX) buf_puts(&b, " AND idx = ?1");
    if (kind == K_MEAS && (bits & P_GRP)) buf_puts(&b, " AND grp = ?2");
    if (kind == K_DOCS && (bits & P_GRP)) buf_puts(&b, " AND groupid = ?2");
    if (kind == K_DOCS_NULL) buf_puts(&b, " AND groupid IS NULL");
    if (kind == K_MEAS && (bits & P_NAME)) buf_puts(&b, " AND name = ?3");
    if (bits & P_T0) buf_puts(&b, " AND ts >= ?4 AND ts <= ?5");
    buf_puts(&b, kind == K_MEAS   ? " ORDER BY idx, grp, name, ts"
                 : kind == K_DOCS ? " ORDER BY idx, groupid, ts"
                                  : " ORDER BY idx, ts");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(t->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        st = NULL;
    buf_free(&b);
    return st;
}

static int is_text(sqlite3_value *v, const char *s, int len)
{
    return v && sqlite3_value_type(v) == SQLITE_TEXT && sqlite3_value_bytes(v) == len &&
           memcmp(sqlite3_value_text(v), s, (size_t)len) == 0;
}

static int text_set(struct htext *k, const unsigned char *s, int len)
{
    if (len + 1 > k->cap) {
        char *p = sqlite3_realloc(k->s, len + 1 > 64 ? len + 1 : 64);
        if (!p) return SQLITE_NOMEM;
        k->s = p;
        k->cap = len + 1 > 64 ? len + 1 : 64;
    }
    if (len) memcpy(k->s, s, (size_t)len);
    k->s[len] = 0;
    k->len = len;
    return SQLITE_OK;
}

static int text_is(const struct htext *k, const unsigned char *s, int len)
{
    return k->len == len && (len == 0 || memcmp(k->s, s, (size_t)len) == 0);
}

static int cur_next(struct hcur *c);

static int h_filter(sqlite3_vtab_cursor *cur, int plan, const char *s, int argc,
                    sqlite3_value **argv)
{
    (void)s, (void)argc;
    struct hcur *c = (struct hcur *)cur;
    struct hvtab *t = (struct hvtab *)cur->pVtab;
    sqlite3_value *name[3] = {NULL, NULL, NULL};
    int64_t lo = INT64_MIN, hi = INT64_MAX; /* t in [lo, hi] */
    int arg = 0;
    cur_release(c);
    for (int b = 0; b < 3 + NT_OPS; b++) {
        if (!(plan & (1 << b))) continue;
        sqlite3_value *v = argv[arg++];
        if (b < 3)
            name[b] = v;
        else
            store_ts_bound(v, t_ops[b - 3], &lo, &hi);
    }
    if (lo > hi) return SQLITE_OK; /* nothing */
    for (int i = 0; i < 3; i++) {
        int rc = name[i] ? text_set(&c->fixed[i], sqlite3_value_text(name[i]),
                                    sqlite3_value_bytes(name[i]))
                         : SQLITE_OK;
        if (rc != SQLITE_OK) return rc;
    }
    /* buckets t in [lo, hi]: ts from lo (the rows of a bucket that
     * starts before lo are skipped: SQLite drops that bucket anyway) to
     * the end of hi's bucket */
    int64_t ts_hi = hi;
    if (hi != INT64_MAX) {
        int64_t f = store_roll_floor(hi, t->w);
        ts_hi = f > INT64_MAX - t->w ? INT64_MAX : f + t->w - 1;
    }
    int ranged = lo != INT64_MIN || hi != INT64_MAX;
    int bits = (plan & (P_IDX | P_GRP | P_NAME)) | (ranged ? P_T0 : 0);
    /* the documents' name is STORE_DOCS_NAME, never a measurement's */
    int docs_name = is_text(name[2], STORE_DOCS_NAME, (int)strlen(STORE_DOCS_NAME));
    int want_meas = !name[2] || !docs_name, want_docs = !name[2] || docs_name;
    int no_group = is_text(name[1], "", 0);
    for (int kind = 0; kind < NKIND; kind++)
        for (int file = 0; file < 2; file++) {
            if (kind == K_MEAS ? !want_meas : !want_docs || (kind == K_DOCS_NULL && !no_group))
                continue;
            int kbits = kind == K_MEAS ? bits : bits & ~P_NAME;
            if (kind == K_DOCS_NULL) kbits &= ~P_GRP;
            sqlite3_stmt *st = src_stmt(t, kind, file, kbits);
            if (!st) {
                sqlite3_free(t->base.zErrMsg);
                t->base.zErrMsg = sqlite3_mprintf("gk_hroll: %s", sqlite3_errmsg(t->db));
                cur_release(c);
                return SQLITE_ERROR;
            }
            c->src[c->nsrc].st = st;
            c->src[c->nsrc].key = (kind * 2 + file) * 16 + kbits;
            c->src[c->nsrc].fixed = all_bound(kind, kbits);
            c->nsrc++;
            for (int i = 0; i < 3; i++)
                if (name[i] && (kbits & (1 << i))) sqlite3_bind_value(st, i + 1, name[i]);
            if (kbits & P_T0) {
                sqlite3_bind_int64(st, 4, lo);
                sqlite3_bind_int64(st, 5, ts_hi);
            }
        }
    c->eof = 0;
    return cur_next(c);
}

/* Whether src[at]'s row belongs to the current bucket. */
static int row_in_bucket(struct hcur *c, sqlite3_stmt *st, int64_t w)
{
    if (store_roll_floor(sqlite3_column_int64(st, 3), w) != c->t) return 0;
    if (c->src[c->at].fixed) return 1;
    for (int i = 0; i < (c->docs ? 2 : 3); i++)
        if (!text_is(&c->k[i], sqlite3_column_text(st, i), sqlite3_column_bytes(st, i))) return 0;
    return 1;
}

static void row_add(struct hcur *c, sqlite3_stmt *st)
{
    if (c->docs) {
        c->n++;
        return;
    }
    if (sqlite3_column_type(st, 4) == SQLITE_NULL) return;
    double v = sqlite3_column_double(st, 4);
    if (c->n++ == 0) {
        c->mn = c->mx = c->sm = v;
        return;
    }
    if (v < c->mn) c->mn = v;
    if (v > c->mx) c->mx = v;
    c->sm += v;
}

/* Adds up the next bucket that has a row (eof after the last). */
static int cur_next(struct hcur *c)
{
    struct hvtab *t = (struct hvtab *)c->base.pVtab;
    while (c->at < c->nsrc) {
        sqlite3_stmt *st = c->src[c->at].st;
        int rc;
        if (!c->ready) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) {
                c->at++;
                continue;
            }
            if (rc != SQLITE_ROW) return rc;
        }
        /* a new bucket from this row */
        c->docs = c->src[c->at].key / 32 != K_MEAS;
        for (int i = 0; i < 3; i++) {
            int fixed = c->src[c->at].fixed;
            rc = i == 2 && c->docs ? text_set(&c->k[i], (const unsigned char *)STORE_DOCS_NAME,
                                              (int)strlen(STORE_DOCS_NAME))
                 : fixed
                     ? text_set(&c->k[i], (const unsigned char *)c->fixed[i].s, c->fixed[i].len)
                     : text_set(&c->k[i], sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
            if (rc != SQLITE_OK) return rc;
        }
        c->t = store_roll_floor(sqlite3_column_int64(st, 3), t->w);
        c->n = 0;
        row_add(c, st);
        c->ready = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!row_in_bucket(c, st, t->w)) {
                c->ready = 1;
                break;
            }
            row_add(c, st);
        }
        if (rc == SQLITE_DONE)
            c->at++;
        else if (rc != SQLITE_ROW)
            return rc;
        if (c->n > 0) return SQLITE_OK;
    }
    cur_release(c);
    return SQLITE_OK;
}

static int h_next(sqlite3_vtab_cursor *cur)
{
    return cur_next((struct hcur *)cur);
}

static int h_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct hcur *)cur)->eof;
}

static int h_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct hcur *c = (struct hcur *)cur;
    switch (col) {
    case C_IDX:
    case C_GRP:
    case C_NAME:
        sqlite3_result_text(ctx, c->k[col].s, c->k[col].len, SQLITE_TRANSIENT);
        break;
    case C_T:
        sqlite3_result_int64(ctx, c->t);
        break;
    case C_N:
        sqlite3_result_int64(ctx, c->n);
        break;
    default:
        if (!c->docs) sqlite3_result_double(ctx, col == C_MN ? c->mn : col == C_MX ? c->mx : c->sm);
        break;
    }
    return SQLITE_OK;
}

static int h_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    (void)cur;
    *rowid = 0;
    return SQLITE_OK;
}

static const sqlite3_module h_module = {
    .iVersion = 0,
    .xCreate = h_connect,
    .xConnect = h_connect,
    .xBestIndex = h_best_index,
    .xDisconnect = h_disconnect,
    .xDestroy = h_disconnect,
    .xOpen = h_open,
    .xClose = h_close,
    .xFilter = h_filter,
    .xNext = h_next,
    .xEof = h_eof,
    .xColumn = h_column,
    .xRowid = h_rowid,
};

int store_hroll_reader(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, "gk_hroll", &h_module, NULL, NULL);
}
