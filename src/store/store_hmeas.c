/* store_hmeas.c: the hot tier's measurements, kept in their documents' rows.
 *
 * Why: the hot files had a table of one row per measurement, primary key
 * (idx, grp, name, ts, doc). A group commit of readings from 50 groups
 * inserted into ~400 places of that b-tree, a page each, every page then
 * written to the WAL: with 50 groupids the writer spent more of its time
 * there than on anything else (docs/benchmarks.md). Now a document's
 * measurements are one blob, column `m` of its hot row and the last column
 * of the index docs(idx, groupid, ts, id, m): one insertion per document
 * in a b-tree it was inserted into anyway, and the readers of a group's
 * measurements read that index alone, in time order.
 *
 * Encoding of m (the hot files are made anew at every start: no schema to
 * keep): per measurement, in the document's order, the name's length in
 * bytes (LEB128), the name, the value as 8 bytes in host order (NaN for no
 * value: SQLite stores a NaN as NULL). NULL when the document has none.
 *
 * Module gk_hmeas, table temp.hmeas per reader connection (store_view_sql),
 * columns as measurements' (idx, grp, name, ts, doc, value): the hot
 * files' measurements above the `moved` mark, grp '' for the documents
 * without a group (as gasket.db keeps them). It takes equality on idx,
 * grp, name and doc and a range or equality on ts; rows come in no
 * particular order. Constraints are never omitted: SQLite checks every
 * row again. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/sqldb.h"
#include "store/store_int.h"

/* ---- the blob ---- */

void store_hmeas_encode(struct buf *b, const struct store_job_meas *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(m[i].name), rest = len;
        unsigned char v[10];
        int k = 0;
        do {
            v[k++] = (unsigned char)((rest & 0x7f) | (rest > 0x7f ? 0x80 : 0));
            rest >>= 7;
        } while (rest);
        buf_append(b, v, (size_t)k);
        buf_append(b, m[i].name, len);
        buf_append(b, &m[i].value, sizeof m[i].value);
    }
}

int store_hmeas_next(struct store_hmeas_it *it, struct store_hmeas_val *out)
{
    if (it->p >= it->end) return 0;
    uint64_t len = 0;
    for (int shift = 0;; shift += 7) {
        if (it->p >= it->end || shift > 28) return -1;
        unsigned char c = *it->p++;
        len |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
    }
    if ((uint64_t)(it->end - it->p) < len + sizeof(double)) return -1;
    out->name = (const char *)it->p;
    out->nlen = (int)len;
    it->p += len;
    memcpy(&out->value, it->p, sizeof(double));
    it->p += sizeof(double);
    out->has = !isnan(out->value);
    return 1;
}

/* ---- the readers' virtual table ---- */

/* Plan bits (idxNum): the constraints xFilter gets, in this order. */
enum { P_IDX = 1, P_GRP = 2, P_NAME = 4, P_T0 = 8, P_DOC = 256 };
#define NT_OPS 5
#define NBITS  9 /* idx, grp, name, 5 ts operators, doc */
enum { C_IDX, C_GRP, C_NAME, C_TS, C_DOC, C_VALUE };
/* The statements' kinds: a file's documents (with groupid = ?2 when
 * bound), its documents without a group (for grp ''). */
enum { K_DOCS, K_NULL, NKIND };
#define NSRC  (2 * NKIND)
#define SBITS 16 /* a statement's bits: P_IDX, P_GRP, P_T0 (as 4), P_DOC (as 8) */

static const int t_ops[NT_OPS] = {SQLITE_INDEX_CONSTRAINT_GE, SQLITE_INDEX_CONSTRAINT_GT,
                                  SQLITE_INDEX_CONSTRAINT_LE, SQLITE_INDEX_CONSTRAINT_LT,
                                  SQLITE_INDEX_CONSTRAINT_EQ};

struct hmvtab {
    sqlite3_vtab base;
    sqlite3 *db;
    sqlite3_stmt *idle[NSRC][SBITS][2]; /* statements not in use */
};

struct hmcur {
    sqlite3_vtab_cursor base;
    struct {
        sqlite3_stmt *st;
        int key, bits;
    } src[NSRC];
    int nsrc, at;
    int eof;
    sqlite3_value *name; /* the name asked for (a copy), or NULL */
    const char *want;    /* its text */
    int want_len;
    struct store_hmeas_it it; /* the measurements of src[at]'s row */
    struct store_hmeas_val v; /* the current one */
};

static int hm_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err)
{
    (void)aux, (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(idx TEXT, grp TEXT, name TEXT,"
                                      " ts INTEGER, doc INTEGER, value REAL)");
    if (rc != SQLITE_OK) return rc;
    struct hmvtab *t = sqlite3_malloc(sizeof(*t));
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof(*t));
    t->db = db;
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &t->base;
    return SQLITE_OK;
}

static int hm_disconnect(sqlite3_vtab *vt)
{
    struct hmvtab *t = (struct hmvtab *)vt;
    for (int i = 0; i < NSRC; i++)
        for (int b = 0; b < SBITS; b++)
            for (int k = 0; k < 2; k++)
                sqlite3_finalize(t->idle[i][b][k]);
    sqlite3_free(t);
    return SQLITE_OK;
}

static int hm_best_index(sqlite3_vtab *vt, sqlite3_index_info *ii)
{
    (void)vt;
    int at[NBITS], plan = 0, arg = 1;
    for (int i = 0; i < NBITS; i++)
        at[i] = -1;
    for (int i = 0; i < ii->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
        int slot = -1;
        if (!c->usable) continue;
        if (c->iColumn >= C_IDX && c->iColumn <= C_NAME && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
            slot = c->iColumn;
        else if (c->iColumn == C_DOC && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
            slot = 8;
        else if (c->iColumn == C_TS)
            for (int k = 0; k < NT_OPS; k++)
                if (c->op == t_ops[k]) slot = 3 + k;
        if (slot < 0 || at[slot] >= 0) continue;
        at[slot] = i;
        plan |= 1 << slot;
    }
    for (int s = 0; s < NBITS; s++)
        if (at[s] >= 0) ii->aConstraintUsage[at[s]].argvIndex = arg++;
    ii->idxNum = plan;
    /* as gk_meas's estimates, a little lower: the hot tier is small */
    double rows = plan & P_DOC                                  ? 1
                  : (plan & (P_IDX | P_GRP)) == (P_IDX | P_GRP) ? 1000
                  : plan & P_IDX                                ? 1e5
                                                                : 1e6;
    if ((plan & P_DOC) == 0 && (plan & (0x1f * P_T0))) rows /= 4;
    if ((plan & P_NAME) && rows > 1) rows /= 8;
    ii->estimatedRows = (sqlite3_int64)rows;
    ii->estimatedCost = 10 + rows;
    return SQLITE_OK;
}

static int hm_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    struct hmcur *c = sqlite3_malloc(sizeof(*c));
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static void cur_release(struct hmcur *c)
{
    struct hmvtab *t = (struct hmvtab *)c->base.pVtab;
    for (int i = 0; i < c->nsrc; i++)
        store_idle_give(t->idle[c->src[i].key][c->src[i].bits], 2, c->src[i].st);
    c->nsrc = c->at = 0;
    c->it.p = c->it.end = NULL;
    c->eof = 1;
}

static int hm_close(sqlite3_vtab_cursor *cur)
{
    struct hmcur *c = (struct hmcur *)cur;
    cur_release(c);
    sqlite3_value_free(c->name);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* The statement of hot file `file`, a kind and bits (SBITS: 1 idx = ?1,
 * 2 groupid = ?2, 4 ts in [?4, ?5], 8 id = ?6). Columns: idx, grp, ts,
 * id, m. */
static sqlite3_stmt *src_stmt(struct hmvtab *t, int key, int bits)
{
    sqlite3_stmt *st = store_idle_take(t->idle[key][bits], 2);
    if (st) return st;
    int kind = key / 2, file = key % 2;
    struct buf b = {0};
    buf_printf(&b,
               SQLDB_OWNED "SELECT idx, coalesce(groupid, ''), ts, id, m FROM hot%d.docs"
                           " WHERE id > " STORE_MOVED_MARK " AND m IS NOT NULL",
               file);
    if (bits & 1) buf_puts(&b, " AND idx = ?1");
    if (kind == K_NULL)
        buf_puts(&b, " AND groupid IS NULL");
    else if (bits & 2)
        buf_puts(&b, " AND groupid = ?2");
    if (bits & 4) buf_puts(&b, " AND ts >= ?4 AND ts <= ?5");
    if (bits & 8) buf_puts(&b, " AND id = ?6");
    if (sqlite3_prepare_v3(t->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        st = NULL;
    buf_free(&b);
    return st;
}

static int cur_next(struct hmcur *c);

static int hm_filter(sqlite3_vtab_cursor *cur, int plan, const char *s, int argc,
                     sqlite3_value **argv)
{
    (void)s, (void)argc;
    struct hmcur *c = (struct hmcur *)cur;
    struct hmvtab *t = (struct hmvtab *)cur->pVtab;
    sqlite3_value *name[3] = {NULL, NULL, NULL}, *doc = NULL;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    int arg = 0;
    cur_release(c);
    sqlite3_value_free(c->name);
    c->name = NULL;
    c->want = NULL;
    for (int b = 0; b < NBITS; b++) {
        if (!(plan & (1 << b))) continue;
        sqlite3_value *v = argv[arg++];
        if (b < 3)
            name[b] = v;
        else if (b < 8)
            store_ts_bound(v, t_ops[b - 3], &lo, &hi);
        else
            doc = v;
    }
    if (lo > hi) return SQLITE_OK; /* nothing */
    if (name[2]) {
        /* a name that is not text matches no measurement's */
        if (sqlite3_value_type(name[2]) != SQLITE_TEXT) return SQLITE_OK;
        if (!(c->name = sqlite3_value_dup(name[2]))) return SQLITE_NOMEM;
        c->want = (const char *)sqlite3_value_text(c->name);
        c->want_len = sqlite3_value_bytes(c->name);
    }
    int no_group =
        name[1] && sqlite3_value_type(name[1]) == SQLITE_TEXT && sqlite3_value_bytes(name[1]) == 0;
    int bits = (name[0] ? 1 : 0) | (name[1] ? 2 : 0) |
               (lo != INT64_MIN || hi != INT64_MAX ? 4 : 0) | (doc ? 8 : 0);
    for (int kind = 0; kind < NKIND; kind++)
        for (int file = 0; file < 2; file++) {
            if (kind == K_NULL && !no_group) continue;
            int key = kind * 2 + file, kbits = kind == K_NULL ? bits & ~2 : bits;
            sqlite3_stmt *st = src_stmt(t, key, kbits);
            if (!st) {
                sqlite3_free(t->base.zErrMsg);
                t->base.zErrMsg = sqlite3_mprintf("gk_hmeas: %s", sqlite3_errmsg(t->db));
                cur_release(c);
                return SQLITE_ERROR;
            }
            c->src[c->nsrc].st = st;
            c->src[c->nsrc].key = key;
            c->src[c->nsrc].bits = kbits;
            c->nsrc++;
            if (kbits & 1) sqlite3_bind_value(st, 1, name[0]);
            if (kbits & 2) sqlite3_bind_value(st, 2, name[1]);
            if (kbits & 4) {
                sqlite3_bind_int64(st, 4, lo);
                sqlite3_bind_int64(st, 5, hi);
            }
            if (kbits & 8) sqlite3_bind_value(st, 6, doc);
        }
    c->eof = 0;
    return cur_next(c);
}

/* Moves to the next measurement (of the name asked for), reading rows as
 * needed; eof after the last. */
static int cur_next(struct hmcur *c)
{
    while (c->at < c->nsrc) {
        int r;
        while ((r = store_hmeas_next(&c->it, &c->v)) > 0)
            if (!c->want ||
                (c->v.nlen == c->want_len && memcmp(c->v.name, c->want, (size_t)c->want_len) == 0))
                return SQLITE_OK;
        if (r < 0) {
            struct hmvtab *t = (struct hmvtab *)c->base.pVtab;
            sqlite3_free(t->base.zErrMsg);
            t->base.zErrMsg = sqlite3_mprintf("gk_hmeas: damaged measurements of hot document %lld",
                                              (long long)sqlite3_column_int64(c->src[c->at].st, 3));
            return SQLITE_CORRUPT;
        }
        sqlite3_stmt *st = c->src[c->at].st;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            c->at++;
            c->it.p = c->it.end = NULL;
            continue;
        }
        if (rc != SQLITE_ROW) return rc;
        c->it.p = sqlite3_column_blob(st, 4);
        c->it.end = c->it.p + sqlite3_column_bytes(st, 4);
    }
    cur_release(c);
    return SQLITE_OK;
}

static int hm_next(sqlite3_vtab_cursor *cur)
{
    return cur_next((struct hmcur *)cur);
}

static int hm_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct hmcur *)cur)->eof;
}

static int hm_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct hmcur *c = (struct hmcur *)cur;
    sqlite3_stmt *st = c->src[c->at].st;
    switch (col) {
    case C_IDX:
    case C_GRP:
        sqlite3_result_value(ctx, sqlite3_column_value(st, col));
        break;
    case C_NAME:
        sqlite3_result_text(ctx, c->v.name, c->v.nlen, SQLITE_TRANSIENT);
        break;
    case C_TS:
        sqlite3_result_int64(ctx, sqlite3_column_int64(st, 2));
        break;
    case C_DOC:
        sqlite3_result_int64(ctx, sqlite3_column_int64(st, 3));
        break;
    default:
        if (c->v.has) sqlite3_result_double(ctx, c->v.value);
        break;
    }
    return SQLITE_OK;
}

static int hm_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    struct hmcur *c = (struct hmcur *)cur;
    *rowid = sqlite3_column_int64(c->src[c->at].st, 3);
    return SQLITE_OK;
}

static const sqlite3_module hm_module = {
    .iVersion = 0,
    .xCreate = hm_connect,
    .xConnect = hm_connect,
    .xBestIndex = hm_best_index,
    .xDisconnect = hm_disconnect,
    .xDestroy = hm_disconnect,
    .xOpen = hm_open,
    .xClose = hm_close,
    .xFilter = hm_filter,
    .xNext = hm_next,
    .xEof = hm_eof,
    .xColumn = hm_column,
    .xRowid = hm_rowid,
};

int store_hmeas_reader(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, "gk_hmeas", &hm_module, NULL, NULL);
}
