/* store_groll.c: a moved generation's rollups, added up by the mover.
 *
 * The hot tier keeps no rollup rows (store_hroll.c): when the mover moves
 * a generation into gasket.db it adds up the generation's buckets and
 * merges them into rollup_1m and rollup_1h. In SQL (GROUP BY over the
 * computed minute, then over the hour) SQLite sorted every measurement
 * twice: ~16 µs of the mover's time per seed document, which made the
 * mover the bound of a long _bulk load. Here the buckets are added up in
 * one pass over rows that come in order already:
 *   store_groll_series  the points of one series, sorted by time, as
 *                       store_mblk_move reads them for the blocks;
 *   store_groll_docs    the generation's documents, through the hot
 *                       file's (idx, groupid, ts) index;
 *   store_groll_flush   decides, per index, whether its minutes earn
 *                       their place (below), then upserts the minutes
 *                       kept and the hours (the minutes of a series
 *                       folded in order) into gasket.db, and forgets
 *                       the generation.
 * Rollups earn their place: an index whose minutes of a generation
 * summarise less than 1.5 readings a row on average, over at least
 * MINUTES_MIN_ROWS rows (devices posting about once a minute or less),
 * stops keeping them in gasket.db for good (rollup_off; queries read the
 * raw rows instead, as many, query_count.c); its rows already there are
 * deleted a few groups a move.
 * Mover's thread only, inside the move's transaction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/store_block.h"
#include "store/store_int.h"

#define MINUTES_MIN_ROWS 64

/* A series of the generation (documents: name STORE_DOCS_NAME); its
 * strings owned. */
struct gseries {
    char *idx, *grp, *name;
    size_t ix; /* its index in g->ixs */
};

/* One minute bucket of a series (mn, mx, sm unused for documents). */
struct gbucket {
    uint32_t series;
    int64_t t, n;
    double mn, mx, sm;
};

/* An index of the generation: its minute rows and values, and whether
 * gasket.db keeps its minutes. */
struct gindex {
    char *name;
    int64_t rows, n;
    int kept;
};

enum { G_OFF, G_CLEAN, G_KEPT, G_1M, G_1H, G_DOCS0, G_DOCS1, G_N };

static const char *const g_sql[G_N] = {
    "INSERT OR IGNORE INTO main.rollup_off(idx, level) VALUES(?1, '1m')",
    "DELETE FROM main.rollup_1m WHERE (idx, grp) IN (SELECT DISTINCT r.idx, r.grp"
    " FROM main.rollup_off o JOIN main.rollup_1m r ON r.idx = o.idx WHERE o.level = '1m'"
    " LIMIT 16)",
    "SELECT 1 FROM main.rollup_off WHERE idx = ?1 AND level = '1m'",
    "INSERT INTO main.rollup_1m(idx, grp, name, t, n, mn, mx, sm) VALUES(?1, ?2, ?3, ?4, ?5, ?6,"
    " ?7, ?8) ON CONFLICT(idx, grp, name, t) DO UPDATE SET n = n + excluded.n,"
    " mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm",
    "INSERT INTO main.rollup_1h(idx, grp, name, t, n, mn, mx, sm) VALUES(?1, ?2, ?3, ?4, ?5, ?6,"
    " ?7, ?8) ON CONFLICT(idx, grp, name, t) DO UPDATE SET n = n + excluded.n,"
    " mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm",
    "SELECT idx, coalesce(groupid, ''), ts FROM hot0.docs WHERE id > ?1 AND id <= ?2"
    " ORDER BY idx, groupid, ts",
    "SELECT idx, coalesce(groupid, ''), ts FROM hot1.docs WHERE id > ?1 AND id <= ?2"
    " ORDER BY idx, groupid, ts",
};

struct store_groll {
    sqlite3 *db;
    sqlite3_stmt *st[G_N];
    struct gseries *ser;
    size_t nser, capser;
    struct gbucket *b;
    size_t nb, capb;
    struct gindex *ixs;
    size_t nix;
};

struct store_groll *store_groll_new(sqlite3 *db)
{
    struct store_groll *g = xcalloc(1, sizeof(*g));
    g->db = db;
    return g;
}

void store_groll_clear(struct store_groll *g)
{
    for (size_t i = 0; i < g->nser; i++) {
        free(g->ser[i].idx);
        free(g->ser[i].grp);
        free(g->ser[i].name);
    }
    for (size_t i = 0; i < g->nix; i++)
        free(g->ixs[i].name);
    g->nser = g->nb = g->nix = 0;
}

void store_groll_free(struct store_groll *g)
{
    if (!g) return;
    store_groll_clear(g);
    for (int i = 0; i < G_N; i++)
        sqlite3_finalize(g->st[i]);
    free(g->ser);
    free(g->b);
    free(g->ixs);
    free(g);
}

static sqlite3_stmt *stmt(struct store_groll *g, int i)
{
    if (!g->st[i] && sqlite3_prepare_v3(g->db, g_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &g->st[i],
                                        NULL) != SQLITE_OK)
        return NULL;
    return g->st[i];
}

static uint32_t series_add(struct store_groll *g, const char *idx, const char *grp,
                           const char *name)
{
    if (g->nser == g->capser) {
        g->capser = g->capser ? g->capser * 2 : 256;
        g->ser = xrealloc(g->ser, g->capser * sizeof(*g->ser));
    }
    struct gseries *s = &g->ser[g->nser];
    s->idx = xstrdup(idx);
    s->grp = xstrdup(grp);
    s->name = xstrdup(name);
    s->ix = g->nix;
    for (size_t i = 0; i < g->nix; i++)
        if (strcmp(g->ixs[i].name, idx) == 0) s->ix = i;
    if (s->ix == g->nix) {
        g->ixs = xrealloc(g->ixs, (g->nix + 1) * sizeof(*g->ixs));
        g->ixs[g->nix++] = (struct gindex){.name = xstrdup(idx)};
    }
    return (uint32_t)g->nser++;
}

static struct gbucket *bucket_push(struct store_groll *g)
{
    if (g->nb == g->capb) {
        g->capb = g->capb ? g->capb * 2 : 1024;
        g->b = xrealloc(g->b, g->capb * sizeof(*g->b));
    }
    return &g->b[g->nb++];
}

void store_groll_series(struct store_groll *g, const char *idx, const char *grp, const char *name,
                        const struct mpoint *p, size_t n)
{
    uint32_t s = UINT32_MAX;
    struct gbucket *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].has || isnan(p[i].value)) continue; /* NULL: in no rollup */
        double v = p[i].value;
        int64_t t = store_roll_floor(p[i].ts, STORE_MINUTE_MS);
        if (cur && cur->t == t) {
            cur->n++;
            if (v < cur->mn) cur->mn = v;
            if (v > cur->mx) cur->mx = v;
            cur->sm += v;
            continue;
        }
        if (s == UINT32_MAX) s = series_add(g, idx, grp, name);
        cur = bucket_push(g);
        *cur = (struct gbucket){.series = s, .t = t, .n = 1, .mn = v, .mx = v, .sm = v};
    }
}

int store_groll_docs(struct store_groll *g, int hot, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st = stmt(g, hot ? G_DOCS1 : G_DOCS0);
    if (!st) return sqlite3_errcode(g->db);
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    int rc;
    uint32_t s = UINT32_MAX;
    struct gbucket *cur = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *idx = (const char *)sqlite3_column_text(st, 0);
        const char *grp = (const char *)sqlite3_column_text(st, 1);
        if (!idx || !grp) {
            rc = SQLITE_NOMEM;
            break;
        }
        int64_t t = store_roll_floor(sqlite3_column_int64(st, 2), STORE_MINUTE_MS);
        if (s == UINT32_MAX || strcmp(g->ser[s].idx, idx) || strcmp(g->ser[s].grp, grp)) {
            s = series_add(g, idx, grp, STORE_DOCS_NAME);
            cur = NULL;
        }
        if (cur && cur->t == t) {
            cur->n++;
            continue;
        }
        cur = bucket_push(g);
        *cur = (struct gbucket){.series = s, .t = t, .n = 1};
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Upserts a bucket (width's statement st) of series s. */
static int put(sqlite3_stmt *st, const struct gseries *s, const struct gbucket *b)
{
    sqlite3_bind_text(st, 1, s->idx, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, b->t);
    sqlite3_bind_int64(st, 5, b->n);
    if (strcmp(s->name, STORE_DOCS_NAME) == 0) {
        for (int k = 6; k <= 8; k++)
            sqlite3_bind_null(st, k);
    } else {
        sqlite3_bind_double(st, 6, b->mn);
        sqlite3_bind_double(st, 7, b->mx);
        sqlite3_bind_double(st, 8, b->sm);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether each index keeps its minutes, deciding for the generation's. */
static int decide_minutes(struct store_groll *g)
{
    for (size_t i = 0; i < g->nb; i++) {
        struct gindex *x = &g->ixs[g->ser[g->b[i].series].ix];
        x->rows++;
        x->n += g->b[i].n;
    }
    sqlite3_stmt *off = stmt(g, G_OFF), *kept = stmt(g, G_KEPT), *clean = stmt(g, G_CLEAN);
    if (!off || !kept || !clean) return sqlite3_errcode(g->db);
    int rc = SQLITE_OK;
    for (size_t i = 0; i < g->nix && rc == SQLITE_OK; i++) {
        struct gindex *x = &g->ixs[i];
        if (x->rows >= MINUTES_MIN_ROWS && (double)x->n < 1.5 * (double)x->rows) {
            sqlite3_bind_text(off, 1, x->name, -1, SQLITE_STATIC);
            rc = sqlite3_step(off) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(g->db);
            sqlite3_reset(off);
        }
        if (rc != SQLITE_OK) break;
        sqlite3_bind_text(kept, 1, x->name, -1, SQLITE_STATIC);
        int r = sqlite3_step(kept);
        sqlite3_reset(kept);
        if (r != SQLITE_ROW && r != SQLITE_DONE) rc = r;
        x->kept = r == SQLITE_DONE;
    }
    if (rc == SQLITE_OK) { /* the rows of indexes turned off, a few groups a move */
        rc = sqlite3_step(clean) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(g->db);
        sqlite3_reset(clean);
    }
    return rc;
}

int store_groll_flush(struct store_groll *g)
{
    int rc = decide_minutes(g);
    sqlite3_stmt *m1 = stmt(g, G_1M), *h1 = stmt(g, G_1H);
    if (rc == SQLITE_OK && (!m1 || !h1)) rc = sqlite3_errcode(g->db);
    struct gbucket hour = {.series = UINT32_MAX};
    for (size_t i = 0; i < g->nb && rc == SQLITE_OK; i++) {
        const struct gbucket *b = &g->b[i];
        const struct gseries *s = &g->ser[b->series];
        if (g->ixs[s->ix].kept) rc = put(m1, s, b);
        int64_t h = store_roll_floor(b->t, STORE_HOUR_MS);
        if (hour.series == b->series && hour.t == h) { /* minutes come in order */
            hour.n += b->n;
            if (b->mn < hour.mn) hour.mn = b->mn;
            if (b->mx > hour.mx) hour.mx = b->mx;
            hour.sm += b->sm;
            continue;
        }
        if (rc == SQLITE_OK && hour.series != UINT32_MAX) rc = put(h1, &g->ser[hour.series], &hour);
        hour = *b;
        hour.t = h;
    }
    if (rc == SQLITE_OK && hour.series != UINT32_MAX) rc = put(h1, &g->ser[hour.series], &hour);
    store_groll_clear(g);
    return rc;
}
