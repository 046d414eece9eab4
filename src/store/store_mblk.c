/* store_mblk.c: measurements kept in per-series blocks in gasket.db.
 *
 * Why: one SQLite row per measurement (idx, grp, name, ts, doc, value:
 * ~44 bytes with its b-tree cell, 8 of them per seed reading) was the
 * largest part of gasket.db and of what a move writes, twice (WAL, then
 * checkpoint). A block holds up to MBLK_MAX points of one series (index,
 * group, name) in a few bytes each (store_block.c); the series' names
 * are written once per block.
 *
 * Table (schema 7): mblocks(id, idx, grp, name, t0, d0, t1, n, data),
 * unique on (idx, grp, name, t0, d0): (t0, d0) the first point's (ts,
 * doc), t1 the last point's ts, n the points. The blocks of a series are
 * disjoint and ordered by (ts, doc). New points go into the block before
 * them when it is not full (or when they fall inside it), in place, with
 * what overflows into new blocks; otherwise into blocks of their own. So a
 * series that grows in time order rewrites only its last block until it
 * is full, and a back-filled point rewrites one block, however old.
 *
 * Writers (the mover's thread and the writer's, each with its own struct
 * store_mblk on its connection, inside their transactions):
 *   store_mblk_move   the generation's measurements from a hot file, a
 *                     series at a time, merged into the blocks they
 *                     touch; then the next slice of the rows an older
 *                     schema kept in main.measurements (legacy rows, read
 *                     by the views as before until converted);
 *   store_mblk_trim   retention: the points of a series before a bound.
 *
 * Readers: the virtual table module gk_meas (store_mblk_reader), one table
 * temp.mblk per reader connection, columns as measurements'. The readers'
 * `measurements` view (store_move.c) is mblk + main.measurements + the hot
 * files' rows, so every query reads measurements as before. The module
 * takes equality on idx, grp and name, a range or equality on ts and
 * equality on doc; with the three names it seeks the block that holds the
 * range's start and reads on from there. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "store/store_block.h"
#include "store/store_int.h"

#define LEGACY_SLICE 100000 /* legacy rows converted per move */

/* ---- points ---- */

struct mpoints {
    struct mpoint *p;
    size_t n, cap;
};

/* A group's series during a move (struct store_mblk's gs): one per name,
 * its points in the order read. */
struct gseries {
    char *name;
    size_t nlen, ncap;
    int unsorted; /* a point came before the one read before it */
    struct mpoints pts;
};

static struct mpoint *pts_push(struct mpoints *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->p = xrealloc(v->p, v->cap * sizeof(*v->p));
    }
    return &v->p[v->n++];
}

static int key_cmp(const struct mpoint *a, const struct mpoint *b)
{
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* out = a and b merged (both sorted); b's point wins a tie. */
static void pts_merge(struct mpoints *out, const struct mpoint *a, size_t na,
                      const struct mpoint *b, size_t nb)
{
    size_t i = 0, j = 0;
    out->n = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : key_cmp(&a[i], &b[j]);
        *pts_push(out) = c < 0 ? a[i++] : b[j++];
        if (c == 0) i++;
    }
}

/* ---- writers ---- */

enum {
    W_START, /* the last block at or before a key */
    W_NEXT,  /* the key of the first block after a key */
    W_INSERT,
    W_DATA, /* a block's points, its key unchanged */
    W_DELETE,
    W_BEFORE, /* the blocks starting before a ts (retention) */
    W_REKEY,  /* a block's points and key */
    W_LEGACY,
    W_LEGACY_DEL,
    W_N
};

static const char *const w_sql[W_N] = {
    "SELECT id, t0, d0, t1, n, data FROM main.mblocks WHERE idx = ?1 AND grp = ?2 AND name = ?3"
    " AND (t0, d0) <= (?4, ?5) ORDER BY t0 DESC, d0 DESC LIMIT 1",
    "SELECT t0, d0 FROM main.mblocks WHERE idx = ?1 AND grp = ?2 AND name = ?3"
    " AND (t0, d0) > (?4, ?5) ORDER BY t0, d0 LIMIT 1",
    "INSERT INTO main.mblocks(idx, grp, name, t0, d0, t1, n, data)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "UPDATE main.mblocks SET t1 = ?2, n = ?3, data = ?4 WHERE id = ?1",
    "DELETE FROM main.mblocks WHERE id = ?1",
    "SELECT id, t0, d0, t1, n, data FROM main.mblocks WHERE idx = ?1 AND grp = ?2 AND name = ?3"
    " AND t0 < ?4 ORDER BY t0, d0",
    "UPDATE main.mblocks SET t0 = ?2, d0 = ?3, t1 = ?4, n = ?5, data = ?6 WHERE id = ?1",
    "SELECT idx, grp, name, ts, doc, value FROM main.measurements"
    " ORDER BY idx, grp, name, ts, doc LIMIT ?1",
    "DELETE FROM main.measurements WHERE idx = ?1 AND grp = ?2 AND name = ?3"
    " AND (ts < ?4 OR (ts = ?4 AND doc <= ?5))",
};

struct store_mblk {
    sqlite3 *db;
    sqlite3_stmt *st[W_N];
    sqlite3_stmt *hot[2];     /* a hot file's measurements of a generation */
    struct store_groll *roll; /* during store_mblk_move: its rollups */
    struct gseries *gs;       /* and the series of the group being read */
    size_t ngs, capgs;
    char err[256]; /* why the last store_mblk_move failed */
    struct mpoints old, merged, series;
    struct buf enc;
    struct mpoint dec[MBLK_MAX];
};

struct store_mblk *store_mblk_new(sqlite3 *db)
{
    struct store_mblk *w = xcalloc(1, sizeof(*w));
    w->db = db;
    return w;
}

void store_mblk_free(struct store_mblk *w)
{
    if (!w) return;
    for (int i = 0; i < W_N; i++)
        sqlite3_finalize(w->st[i]);
    for (int i = 0; i < 2; i++)
        sqlite3_finalize(w->hot[i]);
    free(w->old.p);
    free(w->merged.p);
    free(w->series.p);
    for (size_t i = 0; i < w->capgs; i++) {
        free(w->gs[i].name);
        free(w->gs[i].pts.p);
    }
    free(w->gs);
    buf_free(&w->enc);
    free(w);
}

static sqlite3_stmt *stmt(struct store_mblk *w, int i)
{
    if (!w->st[i] && sqlite3_prepare_v3(w->db, w_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                                        NULL) != SQLITE_OK)
        return NULL;
    return w->st[i];
}

static void bind_series(sqlite3_stmt *st, const char *idx, const char *grp, const char *name)
{
    sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
}

/* Decodes the block of the row st is on (data in column 5) and appends
 * its points to v. SQLITE_CORRUPT when it is damaged. */
static int take_block(struct store_mblk *w, sqlite3_stmt *st, struct mpoints *v)
{
    int n = mblk_decode(sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5), w->dec);
    if (n < 0) return SQLITE_CORRUPT;
    for (int i = 0; i < n; i++)
        *pts_push(v) = w->dec[i];
    return SQLITE_OK;
}

static int block_insert(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                        const struct mpoint *p, size_t n)
{
    sqlite3_stmt *st = stmt(w, W_INSERT);
    if (!st) return SQLITE_ERROR;
    w->enc.len = 0;
    mblk_encode(&w->enc, p, n);
    bind_series(st, idx, grp, name);
    sqlite3_bind_int64(st, 4, p[0].ts);
    sqlite3_bind_int64(st, 5, p[0].doc);
    sqlite3_bind_int64(st, 6, p[n - 1].ts);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)n);
    sqlite3_bind_blob(st, 8, w->enc.data, (int)w->enc.len, SQLITE_STATIC);
    return sqldb_run(st);
}

/* Rewrites block id with p[0..n): its key unchanged (rekey 0) or not. */
static int block_update(struct store_mblk *w, int64_t id, const struct mpoint *p, size_t n,
                        int rekey)
{
    sqlite3_stmt *st = stmt(w, rekey ? W_REKEY : W_DATA);
    if (!st) return SQLITE_ERROR;
    w->enc.len = 0;
    mblk_encode(&w->enc, p, n);
    int k = 1;
    sqlite3_bind_int64(st, k++, id);
    if (rekey) {
        sqlite3_bind_int64(st, k++, p[0].ts);
        sqlite3_bind_int64(st, k++, p[0].doc);
    }
    sqlite3_bind_int64(st, k++, p[n - 1].ts);
    sqlite3_bind_int64(st, k++, (sqlite3_int64)n);
    sqlite3_bind_blob(st, k, w->enc.data, (int)w->enc.len, SQLITE_STATIC);
    return sqldb_run(st);
}

static int block_delete(struct store_mblk *w, int64_t id)
{
    sqlite3_stmt *st = stmt(w, W_DELETE);
    if (!st) return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    return sqldb_run(st);
}

/* The points of p[0..n) that go before the series' next block, with the
 * block they join: S, the last block at or before p[0]'s key, when it is
 * not full or p[0] falls inside it (then S and them are written again in
 * MBLK_MAX chunks, the first keeping S's key and row); otherwise they make
 * blocks of their own. Returns SQLITE_OK with *used set, or an error. */
static int add_run(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                   const struct mpoint *p, size_t n, size_t *used)
{
    sqlite3_stmt *st = stmt(w, W_START), *next = stmt(w, W_NEXT);
    if (!st || !next) return SQLITE_ERROR;
    int64_t id = 0;
    int rc;
    w->old.n = 0;
    bind_series(st, idx, grp, name);
    sqlite3_bind_int64(st, 4, p[0].ts);
    sqlite3_bind_int64(st, 5, p[0].doc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW &&
        (sqlite3_column_int64(st, 4) < MBLK_MAX || sqlite3_column_int64(st, 3) >= p[0].ts)) {
        id = sqlite3_column_int64(st, 0);
        rc = take_block(w, st, &w->old);
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_OK) return rc;
    /* the run ends where the next block starts */
    size_t k = n;
    bind_series(next, idx, grp, name);
    sqlite3_bind_int64(next, 4, p[0].ts);
    sqlite3_bind_int64(next, 5, p[0].doc);
    if ((rc = sqlite3_step(next)) == SQLITE_ROW) {
        struct mpoint nk = {.ts = sqlite3_column_int64(next, 0),
                            .doc = sqlite3_column_int64(next, 1)};
        for (k = 1; k < n && key_cmp(&p[k], &nk) < 0; k++)
            ;
    }
    sqlite3_reset(next);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    *used = k;

    const struct mpoint *m = p;
    size_t nm = k, at = 0;
    rc = SQLITE_OK;
    if (id) { /* S's first point stays first: its row keeps its key */
        pts_merge(&w->merged, w->old.p, w->old.n, p, k);
        m = w->merged.p, nm = w->merged.n;
        at = nm < MBLK_MAX ? nm : MBLK_MAX;
        rc = block_update(w, id, m, at, 0);
    }
    for (; at < nm && rc == SQLITE_OK; at += MBLK_MAX)
        rc = block_insert(w, idx, grp, name, m + at, nm - at < MBLK_MAX ? nm - at : MBLK_MAX);
    return rc;
}

/* Adds p[0..n) (sorted by (ts, doc), n >= 1) to the blocks of a series, a
 * run at a time (add_run): only the blocks that receive points are read
 * and written again, so a reading dated years back (a device whose clock
 * was reset) rewrites one block, not the series' history. */
int store_mblk_add(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                   const struct mpoint *p, size_t n)
{
    int rc = SQLITE_OK;
    for (size_t i = 0, used = 0; i < n && rc == SQLITE_OK; i += used)
        rc = add_run(w, idx, grp, name, p + i, n - i, &used);
    return rc;
}

int store_mblk_trim(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                    int64_t bound, uint64_t *deleted)
{
    sqlite3_stmt *st = stmt(w, W_BEFORE);
    if (!st) return SQLITE_ERROR;
    struct {
        int64_t id;
        int n;
    } gone[64];
    int rc;
    /* a batch of whole blocks at a time: the statement is reset before they go */
    for (;;) {
        size_t ngone = 0;
        int64_t keep_id = 0;
        w->old.n = 0;
        bind_series(st, idx, grp, name);
        sqlite3_bind_int64(st, 4, bound);
        while (ngone < sizeof gone / sizeof *gone && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_int64(st, 3) < bound) {
                gone[ngone].id = sqlite3_column_int64(st, 0);
                gone[ngone++].n = sqlite3_column_int(st, 4);
                continue;
            }
            keep_id = sqlite3_column_int64(st, 0); /* the block across the bound */
            rc = take_block(w, st, &w->old);
            if (rc == SQLITE_OK) rc = SQLITE_DONE;
            break;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
        for (size_t i = 0; i < ngone; i++) {
            if ((rc = block_delete(w, gone[i].id)) != SQLITE_OK) return rc;
            *deleted += (uint64_t)gone[i].n;
        }
        if (keep_id) {
            size_t k = 0;
            while (k < w->old.n && w->old.p[k].ts < bound)
                k++;
            *deleted += k;
            return block_update(w, keep_id, w->old.p + k, w->old.n - k, 1);
        }
        if (ngone < sizeof gone / sizeof *gone) return SQLITE_OK;
    }
}

/* A measurements row (idx, grp, name, ts, doc, value, in that order):
 * its series' names, and its point. */
static int row_series(sqlite3_stmt *st, const char *col[3])
{
    for (int i = 0; i < 3; i++)
        if (!(col[i] = (const char *)sqlite3_column_text(st, i))) return SQLITE_MISMATCH;
    return SQLITE_OK;
}

static void row_point(sqlite3_stmt *st, struct mpoint *pt)
{
    pt->ts = sqlite3_column_int64(st, 3);
    pt->doc = sqlite3_column_int64(st, 4);
    pt->has = sqlite3_column_type(st, 5) != SQLITE_NULL;
    pt->value = pt->has ? sqlite3_column_double(st, 5) : 0;
}

/* A series of legacy rows: into blocks, and out of main.measurements. */
static int convert_series(struct store_mblk *w, const char *idx, const char *grp, const char *name)
{
    sqlite3_stmt *del = stmt(w, W_LEGACY_DEL);
    if (!del) return SQLITE_ERROR;
    const struct mpoint *last = &w->series.p[w->series.n - 1];
    int rc = store_mblk_add(w, idx, grp, name, w->series.p, w->series.n);
    if (rc != SQLITE_OK) return rc;
    bind_series(del, idx, grp, name);
    sqlite3_bind_int64(del, 4, last->ts);
    sqlite3_bind_int64(del, 5, last->doc);
    return sqldb_run(del);
}

/* The rows of a slice are read whole before any goes: a statement does
 * not read a table it deletes from. */
struct legacy_series {
    char *key[3];
    size_t from, n;
};

static int convert_legacy(struct store_mblk *w)
{
    sqlite3_stmt *st = stmt(w, W_LEGACY);
    if (!st) return SQLITE_ERROR;
    sqlite3_bind_int(st, 1, LEGACY_SLICE);
    struct legacy_series *ls = NULL;
    size_t nls = 0, cap = 0;
    struct mpoints all = {0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col[3];
        if ((rc = row_series(st, col)) != SQLITE_OK) break;
        struct legacy_series *cur = nls ? &ls[nls - 1] : NULL;
        if (!cur || strcmp(cur->key[0], col[0]) || strcmp(cur->key[1], col[1]) ||
            strcmp(cur->key[2], col[2])) {
            if (nls == cap) ls = xrealloc(ls, (cap = cap ? cap * 2 : 64) * sizeof(*ls));
            cur = &ls[nls++];
            for (int i = 0; i < 3; i++)
                cur->key[i] = xstrdup(col[i]);
            cur->from = all.n;
            cur->n = 0;
        }
        row_point(st, pts_push(&all));
        cur->n++;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    for (size_t i = 0; i < nls && rc == SQLITE_OK; i++) {
        w->series.n = 0;
        for (size_t k = 0; k < ls[i].n; k++)
            *pts_push(&w->series) = all.p[ls[i].from + k];
        rc = convert_series(w, ls[i].key[0], ls[i].key[1], ls[i].key[2]);
    }
    for (size_t i = 0; i < nls; i++)
        for (int k = 0; k < 3; k++)
            free(ls[i].key[k]);
    free(ls);
    free(all.p);
    return rc;
}

static int gs_cmp(const void *a, const void *b)
{
    const struct gseries *x = *(struct gseries *const *)a, *y = *(struct gseries *const *)b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

static int pt_cmp(const void *a, const void *b)
{
    return key_cmp(a, b);
}

/* The series of name v in the group being read (k: where the document's
 * k-th measurement went last time, tried first). */
static struct gseries *gs_of(struct store_mblk *w, size_t k, const struct store_hmeas_val *v)
{
    size_t n = (size_t)v->nlen;
    for (size_t i = 0; i < w->ngs; i++) {
        struct gseries *g = &w->gs[(k + i) % w->ngs];
        if (g->nlen == n && memcmp(g->name, v->name, n) == 0) return g;
    }
    if (w->ngs == w->capgs) {
        w->capgs = w->capgs ? w->capgs * 2 : 16;
        w->gs = xrealloc(w->gs, w->capgs * sizeof(*w->gs));
        memset(w->gs + w->ngs, 0, (w->capgs - w->ngs) * sizeof(*w->gs));
    }
    struct gseries *g = &w->gs[w->ngs++];
    if (n + 1 > g->ncap) {
        g->ncap = n + 1 > 32 ? n + 1 : 32;
        g->name = xrealloc(g->name, g->ncap);
    }
    memcpy(g->name, v->name, n);
    g->name[n] = 0;
    g->nlen = n;
    g->unsorted = 0;
    g->pts.n = 0;
    return g;
}

/* The series of the group read, in order of name, into blocks (and
 * rollups); then the group is forgotten. */
static int flush_group(struct store_mblk *w, const char *idx, const char *grp)
{
    struct gseries **order = xmalloc((w->ngs ? w->ngs : 1) * sizeof(*order));
    for (size_t i = 0; i < w->ngs; i++)
        order[i] = &w->gs[i];
    qsort(order, w->ngs, sizeof(*order), gs_cmp);
    int rc = SQLITE_OK;
    for (size_t i = 0; i < w->ngs && rc == SQLITE_OK; i++) {
        struct gseries *g = order[i];
        if (g->unsorted) qsort(g->pts.p, g->pts.n, sizeof(*g->pts.p), pt_cmp);
        if (w->roll) store_groll_series(w->roll, idx, grp, g->name, g->pts.p, g->pts.n);
        rc = store_mblk_add(w, idx, grp, g->name, g->pts.p, g->pts.n);
    }
    free(order);
    w->ngs = 0;
    return rc;
}

/* Reads the documents of st (idx, grp, ts, id, m; in order of idx, grp)
 * a group at a time, its measurements split by name (store_hmeas.c). */
static int move_docs(struct store_mblk *w, sqlite3_stmt *st)
{
    char *key[2] = {NULL, NULL};
    int rc;
    w->ngs = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *idx = (const char *)sqlite3_column_text(st, 0);
        const char *grp = (const char *)sqlite3_column_text(st, 1);
        if (!idx || !grp) {
            rc = SQLITE_MISMATCH;
            break;
        }
        if (key[0] && (strcmp(key[0], idx) || strcmp(key[1], grp))) {
            if ((rc = flush_group(w, key[0], key[1])) != SQLITE_OK) break;
        }
        if (!key[0] || w->ngs == 0) {
            free(key[0]);
            free(key[1]);
            key[0] = xstrdup(idx);
            key[1] = xstrdup(grp);
        }
        struct mpoint pt = {.ts = sqlite3_column_int64(st, 2), .doc = sqlite3_column_int64(st, 3)};
        struct store_hmeas_it it = {.p = sqlite3_column_blob(st, 4)};
        it.end = it.p + sqlite3_column_bytes(st, 4);
        struct store_hmeas_val v;
        size_t k = 0;
        int r;
        while ((r = store_hmeas_next(&it, &v)) > 0) {
            struct gseries *g = gs_of(w, k++, &v);
            pt.has = v.has;
            pt.value = v.has ? v.value : 0;
            if (g->pts.n && key_cmp(&pt, &g->pts.p[g->pts.n - 1]) < 0) g->unsorted = 1;
            *pts_push(&g->pts) = pt;
        }
        if (r < 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
    }
    if (rc == SQLITE_DONE) rc = w->ngs ? flush_group(w, key[0], key[1]) : SQLITE_OK;
    w->ngs = 0;
    free(key[0]);
    free(key[1]);
    return rc;
}

int store_mblk_move(struct store_mblk *w, int hot, int64_t lo, int64_t hi, struct store_groll *roll)
{
    if (!w->hot[hot]) {
        /* in the index's order, not sorted again: the hot file holds
         * this generation only */
        char sql[240];
        snprintf(sql, sizeof sql,
                 "SELECT idx, coalesce(groupid, ''), ts, id, m FROM hot%d.docs"
                 " INDEXED BY docs_idx_grp_ts WHERE id > ?1 AND id <= ?2 AND m IS NOT NULL"
                 " ORDER BY idx, groupid, ts, id",
                 hot);
        int rc = sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &w->hot[hot], NULL);
        if (rc != SQLITE_OK) return rc;
    }
    sqlite3_stmt *st = w->hot[hot];
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    w->roll = roll;
    int rc = move_docs(w, st);
    w->roll = NULL;
    /* resetting st, which read on, would clear the message of what failed */
    if (rc == SQLITE_CORRUPT)
        snprintf(w->err, sizeof w->err, "damaged measurements in a hot document");
    else if (rc != SQLITE_OK)
        snprintf(w->err, sizeof w->err, "%s", sqlite3_errmsg(w->db));
    sqlite3_reset(st);
    if (rc == SQLITE_OK && (rc = convert_legacy(w)) != SQLITE_OK)
        snprintf(w->err, sizeof w->err, "%s", sqlite3_errmsg(w->db));
    return rc;
}

const char *store_mblk_err(const struct store_mblk *w)
{
    return w->err;
}

/* ---- the readers' virtual table ---- */

/* Plan bits (idxNum): which constraints xFilter gets, in this order. */
enum {
    P_IDX = 1,
    P_GRP = 2,
    P_NAME = 4,
    P_TS_GE = 8,
    P_TS_GT = 16,
    P_TS_LE = 32,
    P_TS_LT = 64,
    P_TS_EQ = 128,
    P_DOC = 256,
};
#define P_SERIES (P_IDX | P_GRP | P_NAME)

enum { C_IDX, C_GRP, C_NAME, C_TS, C_DOC, C_VALUE };

struct mvtab {
    sqlite3_vtab base;
    sqlite3 *db;
    /* idle statements by the names they bind (P_SERIES bits), and the seek */
    sqlite3_stmt *idle[8][4];
    sqlite3_stmt *seek;
};

struct mcur {
    sqlite3_vtab_cursor base;
    sqlite3_stmt *st; /* the blocks being read; NULL: at the end */
    int names;        /* st's P_SERIES bits */
    int64_t lo, hi;   /* ts in [lo, hi] */
    int64_t doc;
    int has_doc, ordered;
    struct mpoint pts[MBLK_MAX];
    int npts, pos; /* pts of the current block, the current one */
    int ndec;      /* pts hold the ndec points decoded from blob (0: none) */
    void *blob;
    size_t blen, bcap;
};

static int mv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err)
{
    (void)aux, (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(idx TEXT, grp TEXT, name TEXT,"
                                      " ts INTEGER, doc INTEGER, value REAL)");
    if (rc != SQLITE_OK) return rc;
    struct mvtab *t = sqlite3_malloc(sizeof(*t));
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof(*t));
    t->db = db;
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &t->base;
    return SQLITE_OK;
}

static int mv_disconnect(sqlite3_vtab *vt)
{
    struct mvtab *t = (struct mvtab *)vt;
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++)
            sqlite3_finalize(t->idle[i][k]);
    sqlite3_finalize(t->seek);
    sqlite3_free(t);
    return SQLITE_OK;
}

static int mv_best_index(sqlite3_vtab *vt, sqlite3_index_info *ii)
{
    (void)vt;
    int at[9], plan = 0;
    for (int i = 0; i < 9; i++)
        at[i] = -1;
    for (int i = 0; i < ii->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
        if (!c->usable) continue;
        int bit = 0;
        switch (c->iColumn) {
        case C_IDX:
            bit = c->op == SQLITE_INDEX_CONSTRAINT_EQ ? 0 : -1;
            break;
        case C_GRP:
            bit = c->op == SQLITE_INDEX_CONSTRAINT_EQ ? 1 : -1;
            break;
        case C_NAME:
            bit = c->op == SQLITE_INDEX_CONSTRAINT_EQ ? 2 : -1;
            break;
        case C_TS:
            bit = c->op == SQLITE_INDEX_CONSTRAINT_GE   ? 3
                  : c->op == SQLITE_INDEX_CONSTRAINT_GT ? 4
                  : c->op == SQLITE_INDEX_CONSTRAINT_LE ? 5
                  : c->op == SQLITE_INDEX_CONSTRAINT_LT ? 6
                  : c->op == SQLITE_INDEX_CONSTRAINT_EQ ? 7
                                                        : -1;
            break;
        case C_DOC:
            bit = c->op == SQLITE_INDEX_CONSTRAINT_EQ ? 8 : -1;
            break;
        default:
            bit = -1;
        }
        if (bit < 0 || at[bit] >= 0) continue;
        at[bit] = i;
        plan |= 1 << bit;
    }
    int arg = 1;
    for (int b = 0; b < 9; b++) {
        if (at[b] < 0) continue;
        ii->aConstraintUsage[at[b]].argvIndex = arg++;
        /* the names are matched by SQL as the column would be; ts and doc
         * values of another type are checked again by SQLite */
        ii->aConstraintUsage[at[b]].omit = b < 3;
    }
    ii->idxNum = plan;
    double rows = 1e7;
    if ((plan & P_SERIES) == P_SERIES) {
        rows = plan & P_DOC                                     ? 1
               : plan & P_TS_EQ                                 ? 2
               : plan & (P_TS_GE | P_TS_GT | P_TS_LE | P_TS_LT) ? 200
                                                                : 2000;
        if ((plan & (P_DOC | P_TS_EQ)) == (P_DOC | P_TS_EQ))
            ii->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    } else if ((plan & (P_IDX | P_GRP)) == (P_IDX | P_GRP)) {
        rows = 20000;
    } else if (plan & P_IDX) {
        rows = 1e6;
    }
    ii->estimatedRows = (sqlite3_int64)rows;
    ii->estimatedCost = 10 + rows;
    return SQLITE_OK;
}

static int mv_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    struct mcur *c = sqlite3_malloc(sizeof(*c));
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    *out = &c->base;
    return SQLITE_OK;
}

/* Gives the cursor's statement back to the table's idle ones. */
static void cur_release(struct mcur *c)
{
    struct mvtab *t = (struct mvtab *)c->base.pVtab;
    if (!c->st) return;
    store_idle_give(t->idle[c->names], 4, c->st);
    c->st = NULL;
}

static int mv_close(sqlite3_vtab_cursor *cur)
{
    struct mcur *c = (struct mcur *)cur;
    cur_release(c);
    sqlite3_free(c->blob);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* The statement reading the blocks for the names in `names` (bound as ?1
 * idx, ?2 grp, ?3 name), ts bounds ?4 .. ?6: with all three names, from
 * the block at or before key (?4, ?5) up to t0 <= ?6; otherwise every
 * block that overlaps [?4, ?6]. */
static sqlite3_stmt *names_stmt(struct mvtab *t, int names)
{
    sqlite3_stmt *st = store_idle_take(t->idle[names], 4);
    if (st) return st;
    struct buf b = {0};
    if (names == P_SERIES) {
        buf_puts(&b, SQLDB_OWNED STORE_MBLK_SERIES_SQL);
    } else {
        buf_puts(&b, SQLDB_OWNED "SELECT idx, grp, name, t0, t1, data FROM main.mblocks WHERE 1");
        if (names & P_IDX) buf_puts(&b, " AND idx = ?1");
        if (names & P_GRP) buf_puts(&b, " AND grp = ?2");
        if (names & P_NAME) buf_puts(&b, " AND name = ?3");
        buf_puts(&b, " AND t1 >= ?4 AND t0 <= ?6");
    }
    if (sqlite3_prepare_v3(t->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        st = NULL;
    buf_free(&b);
    return st;
}

void store_ts_bound(sqlite3_value *v, int op, int64_t *lo, int64_t *hi)
{
    int64_t l = INT64_MIN, h = INT64_MAX, x;
    int ge = op == SQLITE_INDEX_CONSTRAINT_GE, gt = op == SQLITE_INDEX_CONSTRAINT_GT;
    int le = op == SQLITE_INDEX_CONSTRAINT_LE, lt = op == SQLITE_INDEX_CONSTRAINT_LT;
    int eq = op == SQLITE_INDEX_CONSTRAINT_EQ;
    if (sqlite3_value_type(v) == SQLITE_INTEGER) {
        x = sqlite3_value_int64(v);
        if (ge || eq) l = x;
        if (gt) l = x == INT64_MAX ? x : x + 1;
        if (le || eq) h = x;
        if (lt) h = x == INT64_MIN ? x : x - 1;
    } else if (sqlite3_value_type(v) == SQLITE_FLOAT) {
        double d = sqlite3_value_double(v);
        if (!(d > -9e18 && d < 9e18)) return;
        if (!le && !lt) l = (int64_t)floor(d);
        if (!ge && !gt) h = (int64_t)ceil(d);
    }
    if (l > *lo) *lo = l;
    if (h < *hi) *hi = h;
}

sqlite3_stmt *store_idle_take(sqlite3_stmt **slot, int n)
{
    for (int k = 0; k < n; k++)
        if (slot[k]) {
            sqlite3_stmt *st = slot[k];
            slot[k] = NULL;
            return st;
        }
    return NULL;
}

void store_idle_give(sqlite3_stmt **slot, int n, sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int k = 0; k < n; k++)
        if (!slot[k]) {
            slot[k] = st;
            return;
        }
    sqlite3_finalize(st);
}

static int cur_block(struct mcur *c);

/* The constraint of plan bits P_TS_GE .. P_TS_EQ, in order. */
static const int ts_ops[5] = {SQLITE_INDEX_CONSTRAINT_GE, SQLITE_INDEX_CONSTRAINT_GT,
                              SQLITE_INDEX_CONSTRAINT_LE, SQLITE_INDEX_CONSTRAINT_LT,
                              SQLITE_INDEX_CONSTRAINT_EQ};

static int mv_filter(sqlite3_vtab_cursor *cur, int plan, const char *s, int argc,
                     sqlite3_value **argv)
{
    (void)s, (void)argc;
    struct mcur *c = (struct mcur *)cur;
    struct mvtab *t = (struct mvtab *)cur->pVtab;
    sqlite3_value *name[3] = {NULL, NULL, NULL};
    int arg = 0;
    cur_release(c);
    c->npts = c->pos = 0;
    c->lo = INT64_MIN, c->hi = INT64_MAX;
    c->has_doc = 0;
    for (int b = 0; b < 9; b++) {
        if (!(plan & (1 << b))) continue;
        sqlite3_value *v = argv[arg++];
        if (b < 3)
            name[b] = v;
        else if (b < 8)
            store_ts_bound(v, ts_ops[b - 3], &c->lo, &c->hi);
        else if (sqlite3_value_type(v) == SQLITE_INTEGER)
            c->doc = sqlite3_value_int64(v), c->has_doc = 1;
    }
    if (c->lo > c->hi) return SQLITE_OK; /* nothing: st stays NULL */
    c->names = plan & P_SERIES;
    c->ordered = c->names == P_SERIES;
    int64_t k0 = INT64_MIN, k1 = INT64_MIN;
    if (c->ordered && c->lo != INT64_MIN) { /* the block the range starts in */
        if (!t->seek && sqlite3_prepare_v3(t->db, SQLDB_OWNED STORE_MBLK_SEEK_SQL, -1,
                                           SQLITE_PREPARE_PERSISTENT, &t->seek, NULL) != SQLITE_OK)
            return SQLITE_ERROR;
        for (int i = 0; i < 3; i++)
            sqlite3_bind_value(t->seek, i + 1, name[i]);
        sqlite3_bind_int64(t->seek, 4, c->lo);
        sqlite3_bind_int64(t->seek, 5, c->has_doc && c->lo == c->hi ? c->doc : INT64_MIN);
        int rc = sqlite3_step(t->seek);
        if (rc == SQLITE_ROW) {
            k0 = sqlite3_column_int64(t->seek, 0);
            k1 = sqlite3_column_int64(t->seek, 1);
        } else {
            k0 = c->lo;
        }
        sqlite3_reset(t->seek);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    }
    if (!(c->st = names_stmt(t, c->names))) return SQLITE_ERROR;
    for (int i = 0; i < 3; i++)
        if (name[i]) sqlite3_bind_value(c->st, i + 1, name[i]);
    sqlite3_bind_int64(c->st, 4, c->ordered ? k0 : c->lo);
    if (c->ordered) sqlite3_bind_int64(c->st, 5, k1);
    sqlite3_bind_int64(c->st, 6, c->hi);
    return cur_block(c);
}

static int cur_match(const struct mcur *c, const struct mpoint *p)
{
    return p->ts >= c->lo && p->ts <= c->hi && (!c->has_doc || p->doc == c->doc);
}

/* Moves to the next matching point, reading blocks as needed (c->pos at
 * the current point's index + 1 before the call). */
static int cur_block(struct mcur *c)
{
    for (;;) {
        for (; c->pos < c->npts; c->pos++)
            if (cur_match(c, &c->pts[c->pos])) return SQLITE_OK;
        if (c->npts && c->ordered && c->pts[c->npts - 1].ts > c->hi) break;
        int rc = sqlite3_step(c->st);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return rc;
        const void *data = sqlite3_column_blob(c->st, 5);
        size_t len = (size_t)sqlite3_column_bytes(c->st, 5);
        c->pos = 0;
        if (c->ndec && len == c->blen && memcmp(data, c->blob, len) == 0) {
            c->npts = c->ndec; /* the same block again: decoded already */
            continue;
        }
        c->ndec = 0;
        int n = mblk_decode(data, len, c->pts);
        if (n < 0) {
            struct mvtab *t = (struct mvtab *)c->base.pVtab;
            sqlite3_free(t->base.zErrMsg);
            t->base.zErrMsg = sqlite3_mprintf(
                "a damaged measurement block (%s, %s, %s from %lld)", sqlite3_column_text(c->st, 0),
                sqlite3_column_text(c->st, 1), sqlite3_column_text(c->st, 2),
                (long long)sqlite3_column_int64(c->st, 3));
            c->npts = 0;
            return SQLITE_CORRUPT;
        }
        c->npts = n;
        if (len > c->bcap) {
            sqlite3_free(c->blob);
            c->bcap = len * 2;
            if (!(c->blob = sqlite3_malloc64(c->bcap))) {
                c->bcap = c->blen = 0;
                return SQLITE_NOMEM;
            }
        }
        memcpy(c->blob, data, len);
        c->blen = len;
        c->ndec = n;
    }
    cur_release(c);
    c->npts = c->pos = 0;
    return SQLITE_OK;
}

static int mv_next(sqlite3_vtab_cursor *cur)
{
    struct mcur *c = (struct mcur *)cur;
    c->pos++;
    return cur_block(c);
}

static int mv_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct mcur *)cur)->st == NULL;
}

static int mv_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct mcur *c = (struct mcur *)cur;
    const struct mpoint *p = &c->pts[c->pos];
    switch (col) {
    case C_IDX:
    case C_GRP:
    case C_NAME:
        sqlite3_result_value(ctx, sqlite3_column_value(c->st, col));
        break;
    case C_TS:
        sqlite3_result_int64(ctx, p->ts);
        break;
    case C_DOC:
        sqlite3_result_int64(ctx, p->doc);
        break;
    default:
        if (p->has) sqlite3_result_double(ctx, p->value);
        break;
    }
    return SQLITE_OK;
}

static int mv_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    struct mcur *c = (struct mcur *)cur;
    *rowid = c->pts[c->pos].doc;
    return SQLITE_OK;
}

static const sqlite3_module mv_module = {
    .iVersion = 0,
    .xCreate = mv_connect,
    .xConnect = mv_connect,
    .xBestIndex = mv_best_index,
    .xDisconnect = mv_disconnect,
    .xDestroy = mv_disconnect,
    .xOpen = mv_open,
    .xClose = mv_close,
    .xFilter = mv_filter,
    .xNext = mv_next,
    .xEof = mv_eof,
    .xColumn = mv_column,
    .xRowid = mv_rowid,
};

int store_mblk_reader(sqlite3 *db)
{
    int rc = sqlite3_create_module_v2(db, "gk_meas", &mv_module, NULL, NULL);
    if (rc == SQLITE_OK) rc = store_hmeas_reader(db);
    return rc == SQLITE_OK ? store_hroll_reader(db) : rc;
}
