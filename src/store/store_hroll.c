/* store_hroll.c: the hot tier's rollups, computed from its rows as read.
 *
 * Why: the writer used to upsert a rollup row per (series, minute) and
 * per (series, hour) into the hot file at every group commit; with many
 * groups that was a third of its time per reading. Now the hot tier keeps
 * only its documents (their measurements in a blob each, store_hmeas.c),
 * and readers aggregate them. Through SQL (GROUP BY over the computed
 * bucket) SQLite sorts every row in a temporary b-tree first: a 24 h
 * histogram of 16,000 hot readings of a group took 34 ms. This virtual
 * table reads the documents in the order of the hot files' index (idx,
 * groupid, ts, id, m) and adds up each bucket as its rows go by.
 *
 * Module gk_hroll(W): one table per width W in ms (temp.hroll_1m with
 * 60000, temp.hroll_1h with 3600000, made by store_view_sql), columns as
 * rollup_1m's: (idx, grp, name, t, n, mn, mx, sm). Its rows, read in this
 * order from the statements below on the reader's connection (in the same
 * read transaction as the rest of the query):
 *   per hot file, the buckets of its measurements above the `moved` mark,
 *   a row per name in each (idx, grp, t) bucket (a name whose values are
 *   all NULL has no row, as in gasket.db): the groups, then (when the
 *   query asks for grp '') the documents without a group;
 *   per hot file, the documents above the mark per bucket, named
 *   STORE_DOCS_NAME with NULL mn, mx and sm, in the same two parts.
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
/* The statements' kinds: a file's documents' measurements, those of its
 * documents without a group, its documents, those without a group. */
enum { K_MEAS, K_MEAS_NULL, K_DOCS, K_DOCS_NULL, NKIND };
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

/* One name's values in the current bucket. */
struct hacc {
    struct htext name;
    int64_t n;
    double mn, mx, sm;
};

struct hcur {
    sqlite3_vtab_cursor base;
    struct {
        sqlite3_stmt *st;
        int key;
        int fixed;         /* every row has the key of fixed[] (all bound) */
    } src[NSRC];           /* the statements to read, in order */
    struct htext fixed[3]; /* idx, grp, name as bound, for src[].fixed */
    int want_name;         /* only the measurements named fixed[2] */
    int nsrc, at;          /* how many, the one being read */
    int ready;             /* src[at] is on a row not added up yet */
    int eof;
    /* the current bucket: its key, and a row per name (pos the one shown) */
    struct htext k[2];
    int64_t t;
    int docs; /* a document count: n of acc[0], NULL mn, mx, sm */
    struct hacc *acc;
    int nacc, capacc, pos;
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
    for (int i = 0; i < c->nsrc; i++)
        store_idle_give(t->idle[c->src[i].key], 2, c->src[i].st);
    c->nsrc = c->at = c->ready = 0;
    c->nacc = c->pos = 0;
    c->eof = 1;
}

static int h_close(sqlite3_vtab_cursor *cur)
{
    struct hcur *c = (struct hcur *)cur;
    cur_release(c);
    for (int i = 0; i < 3; i++) {
        if (i < 2) sqlite3_free(c->k[i].s);
        sqlite3_free(c->fixed[i].s);
    }
    for (int i = 0; i < c->capacc; i++)
        sqlite3_free(c->acc[i].name.s);
    sqlite3_free(c->acc);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Whether a statement of kind and bits binds both idx and grp (its rows'
 * key: the cursor has it). */
static int all_bound(int kind, int bits)
{
    return kind == K_MEAS || kind == K_DOCS ? (bits & (P_IDX | P_GRP)) == (P_IDX | P_GRP)
                                            : (bits & P_IDX) != 0;
}

/* The statement of a kind, hot file and the constraints it binds (P_IDX,
 * P_GRP, and P_T0 for a ts range ?4 .. ?5). Its columns: idx, grp, ts, m
 * (documents: NULL; idx and grp NULL when all_bound: the cursor has
 * them). */
static sqlite3_stmt *src_stmt(struct hvtab *t, int kind, int file, int bits)
{
    int key = (kind * 2 + file) * 16 + bits;
    sqlite3_stmt *st = store_idle_take(t->idle[key], 2);
    if (st) return st;
    struct buf b = {0};
    int meas = kind == K_MEAS || kind == K_MEAS_NULL;
    int grouped = kind == K_MEAS || kind == K_DOCS;
    buf_printf(&b,
               SQLDB_OWNED "SELECT %s, ts, %s FROM hot%d.docs WHERE id > " STORE_MOVED_MARK "%s",
               all_bound(kind, bits) ? "NULL, NULL" : "idx, coalesce(groupid, '')",
               meas ? "m" : "NULL", file, meas ? " AND m IS NOT NULL" : "");
    if (bits & P_IDX) buf_puts(&b, " AND idx = ?1");
    if (grouped && (bits & P_GRP)) buf_puts(&b, " AND groupid = ?2");
    if (!grouped) buf_puts(&b, " AND groupid IS NULL");
    if (bits & P_T0) buf_puts(&b, " AND ts >= ?4 AND ts <= ?5");
    buf_puts(&b, grouped ? " ORDER BY idx, groupid, ts" : " ORDER BY idx, ts");
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
    /* a name that is not text is no measurement's */
    if (name[2] && sqlite3_value_type(name[2]) != SQLITE_TEXT) return SQLITE_OK;
    for (int i = 0; i < 3; i++) {
        int rc = name[i] ? text_set(&c->fixed[i], sqlite3_value_text(name[i]),
                                    sqlite3_value_bytes(name[i]))
                         : SQLITE_OK;
        if (rc != SQLITE_OK) return rc;
    }
    c->want_name = name[2] != NULL;
    /* buckets t in [lo, hi]: ts from lo (the rows of a bucket that
     * starts before lo are skipped: SQLite drops that bucket anyway) to
     * the end of hi's bucket */
    int64_t ts_hi = hi;
    if (hi != INT64_MAX) {
        int64_t f = store_roll_floor(hi, t->w);
        ts_hi = f > INT64_MAX - t->w ? INT64_MAX : f + t->w - 1;
    }
    int ranged = lo != INT64_MIN || hi != INT64_MAX;
    int bits = (plan & (P_IDX | P_GRP)) | (ranged ? P_T0 : 0);
    /* the documents' name is STORE_DOCS_NAME, never a measurement's */
    int docs_name = is_text(name[2], STORE_DOCS_NAME, (int)strlen(STORE_DOCS_NAME));
    int want_meas = !name[2] || !docs_name, want_docs = !name[2] || docs_name;
    int no_group = is_text(name[1], "", 0);
    for (int kind = 0; kind < NKIND; kind++)
        for (int file = 0; file < 2; file++) {
            int meas = kind == K_MEAS || kind == K_MEAS_NULL;
            int grouped = kind == K_MEAS || kind == K_DOCS;
            if (meas ? !want_meas : !want_docs) continue;
            if (!grouped && !no_group) continue;
            int kbits = grouped ? bits : bits & ~P_GRP;
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
            for (int i = 0; i < 2; i++)
                if (name[i] && (kbits & (1 << i))) sqlite3_bind_value(st, i + 1, name[i]);
            if (kbits & P_T0) {
                sqlite3_bind_int64(st, 4, lo);
                sqlite3_bind_int64(st, 5, ts_hi);
            }
        }
    c->eof = 0;
    c->pos = -1;
    return cur_next(c);
}

/* Whether src[at]'s row belongs to the current bucket. */
static int row_in_bucket(struct hcur *c, sqlite3_stmt *st, int64_t w)
{
    if (store_roll_floor(sqlite3_column_int64(st, 2), w) != c->t) return 0;
    if (c->src[c->at].fixed) return 1;
    for (int i = 0; i < 2; i++)
        if (!text_is(&c->k[i], sqlite3_column_text(st, i), sqlite3_column_bytes(st, i))) return 0;
    return 1;
}

/* The accumulator of name v in the current bucket (hint: where the
 * document's k-th measurement went last time); NULL: no memory. */
static struct hacc *acc_of(struct hcur *c, int k, const struct store_hmeas_val *v)
{
    for (int i = 0; i < c->nacc; i++) {
        struct hacc *a = &c->acc[(k + i) % c->nacc];
        if (text_is(&a->name, (const unsigned char *)v->name, v->nlen)) return a;
    }
    if (c->nacc == c->capacc) {
        int cap = c->capacc ? c->capacc * 2 : 16;
        struct hacc *p = sqlite3_realloc64(c->acc, (sqlite3_uint64)cap * sizeof(*p));
        if (!p) return NULL;
        memset(p + c->capacc, 0, (size_t)(cap - c->capacc) * sizeof(*p));
        c->acc = p;
        c->capacc = cap;
    }
    struct hacc *a = &c->acc[c->nacc];
    if (text_set(&a->name, (const unsigned char *)v->name, v->nlen) != SQLITE_OK) return NULL;
    c->nacc++;
    a->n = 0;
    return a;
}

/* Adds the row's measurements (or the document) to the current bucket. */
static int row_add(struct hcur *c, sqlite3_stmt *st)
{
    if (c->docs) {
        c->acc[0].n++;
        return SQLITE_OK;
    }
    struct store_hmeas_it it = {.p = sqlite3_column_blob(st, 3)};
    it.end = it.p + sqlite3_column_bytes(st, 3);
    struct store_hmeas_val v;
    int r, k = 0;
    while ((r = store_hmeas_next(&it, &v)) > 0) {
        if (c->want_name && !text_is(&c->fixed[2], (const unsigned char *)v.name, v.nlen)) continue;
        struct hacc *a = acc_of(c, k++, &v);
        if (!a) return SQLITE_NOMEM;
        if (!v.has) continue;
        if (a->n++ == 0) {
            a->mn = a->mx = a->sm = v.value;
            continue;
        }
        if (v.value < a->mn) a->mn = v.value;
        if (v.value > a->mx) a->mx = v.value;
        a->sm += v.value;
    }
    return r < 0 ? SQLITE_CORRUPT : SQLITE_OK;
}

/* Moves to the next row: the current bucket's next name with values, or
 * the next bucket that has one (eof after the last). */
static int cur_next(struct hcur *c)
{
    struct hvtab *t = (struct hvtab *)c->base.pVtab;
    while (++c->pos < c->nacc)
        if (c->acc[c->pos].n > 0) return SQLITE_OK;
    int rc = SQLITE_OK;
    while (c->at < c->nsrc) {
        sqlite3_stmt *st = c->src[c->at].st;
        if (!c->ready) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) {
                c->at++;
                continue;
            }
            if (rc != SQLITE_ROW) return rc;
        }
        /* a new bucket from this row */
        int kind = c->src[c->at].key / 32;
        c->docs = kind == K_DOCS || kind == K_DOCS_NULL;
        for (int i = 0; i < 2; i++) {
            rc = c->src[c->at].fixed
                     ? text_set(&c->k[i], (const unsigned char *)c->fixed[i].s, c->fixed[i].len)
                     : text_set(&c->k[i], sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
            if (rc != SQLITE_OK) return rc;
        }
        c->t = store_roll_floor(sqlite3_column_int64(st, 2), t->w);
        c->nacc = 0;
        if (c->docs) {
            static const struct store_hmeas_val d = {.name = STORE_DOCS_NAME};
            struct store_hmeas_val v = d;
            v.nlen = (int)strlen(STORE_DOCS_NAME);
            if (!acc_of(c, 0, &v)) return SQLITE_NOMEM;
        }
        if ((rc = row_add(c, st)) != SQLITE_OK) break;
        c->ready = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!row_in_bucket(c, st, t->w)) {
                c->ready = 1;
                break;
            }
            if ((rc = row_add(c, st)) != SQLITE_OK) break;
        }
        if (rc == SQLITE_DONE)
            c->at++;
        else if (rc != SQLITE_ROW)
            break;
        for (c->pos = 0; c->pos < c->nacc; c->pos++)
            if (c->acc[c->pos].n > 0) return SQLITE_OK;
        continue;
    }
    if (rc == SQLITE_CORRUPT) {
        sqlite3_free(t->base.zErrMsg);
        t->base.zErrMsg = sqlite3_mprintf("gk_hroll: damaged measurements in a hot document");
    }
    if (c->at < c->nsrc) return rc; /* broke off on an error */
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
    const struct hacc *a = &c->acc[c->pos];
    switch (col) {
    case C_IDX:
    case C_GRP:
        sqlite3_result_text(ctx, c->k[col].s, c->k[col].len, SQLITE_TRANSIENT);
        break;
    case C_NAME:
        sqlite3_result_text(ctx, a->name.s, a->name.len, SQLITE_TRANSIENT);
        break;
    case C_T:
        sqlite3_result_int64(ctx, c->t);
        break;
    case C_N:
        sqlite3_result_int64(ctx, a->n);
        break;
    default:
        if (!c->docs) sqlite3_result_double(ctx, col == C_MN ? a->mn : col == C_MX ? a->mx : a->sm);
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
