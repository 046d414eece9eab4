/* store_fixture.h: helpers shared by the store's unit tests (test_store*.c).
 *
 * Fresh directories, a store on a libuv loop, and SQL run on a separate
 * connection to read what the store wrote. Included by one test file per
 * binary, after test.h. */
#ifndef GASKET_TEST_STORE_FIXTURE_H
#define GASKET_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "store/store.h"
#include "hot_view.h"

struct rec {
    int calls;
    int status;
    int64_t seq;
    char id[24];
};

static inline void fx_on_ack(void *ud, const struct store_ack *ack)
{
    struct rec *r = ud;
    r->calls++;
    r->status = ack->status;
    r->seq = ack->seq_no;
    memcpy(r->id, ack->id, sizeof r->id);
}

static inline char *fx_make_dir(void)
{
    char tmpl[] = "/tmp/gasket-store-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fx_rm_dir(char *dir)
{
    nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline struct store *fx_open(uv_loop_t *loop, const char *dir, size_t max_batch,
                                    unsigned max_pages)
{
    struct store_options opt = {.dir = dir,
                                .durability = STORE_DURABILITY_NORMAL,
                                .max_batch = max_batch,
                                .max_pages = max_pages};
    struct store *s = NULL;
    CHECK_EQ_INT(store_open(&s, loop, &opt), 0);
    return s;
}

static inline void fx_close(uv_loop_t *loop, struct store *s)
{
    store_close(s);
    uv_run(loop, UV_RUN_DEFAULT); /* runs the handles' close callbacks */
}

static inline sqlite3 *fx_db(const char *dir)
{
    char path[256];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/gasket.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    fx_see_hot(db, dir);
    return db;
}

/* Runs sql on db; returns the first column of its first row (-1: no row,
 * -2: error, printed). */
static inline long long fx_q(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "fx_q: %s: %s\n", sql, sqlite3_errmsg(db));
        return -2;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        v = -2, fprintf(stderr, "fx_q: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

/* As fx_q, on a connection of its own. */
static inline long long fx_q_dir(const char *dir, const char *sql)
{
    sqlite3 *db = fx_db(dir);
    long long v = db ? fx_q(db, sql) : -2;
    sqlite3_close(db);
    return v;
}

/* One statement (one snapshot) counting the buckets of rollup table `tab`
 * (width w ms) that differ from the aggregates of the measurements, or
 * from the documents' counts for the rows named STORE_DOCS_NAME (x'ff'),
 * either way (missing, extra, or other n/min/max/sum). Sums are compared
 * with a relative tolerance of 1e-9 (rollup sums add in another order). */
#define FX_ROLLUP_DIFF(tab, w)                                                                     \
    "SELECT count(*) FROM (SELECT idx, grp, name, ts - ((ts % " w ") + " w ") % " w " AS t,"       \
    " count(value) AS n, min(value) AS mn, max(value) AS mx, sum(value) AS sm"                     \
    " FROM measurements WHERE value IS NOT NULL GROUP BY 1, 2, 3, 4"                               \
    " UNION ALL SELECT idx, IFNULL(groupid, ''), CAST(x'ff' AS TEXT),"                             \
    " ts - ((ts % " w ") + " w ") % " w ", count(*), NULL, NULL, NULL"                             \
    " FROM docs GROUP BY 1, 2, 3, 4) AS a"                                                         \
    " FULL JOIN (SELECT idx, grp, name, t, sum(n) AS n, min(mn) AS mn, max(mx) AS mx,"            \
    " sum(sm) AS sm FROM " tab " GROUP BY 1, 2, 3, 4) AS r USING(idx, grp, name, t)"                                             \
    " WHERE r.n IS NOT a.n OR r.mn IS NOT a.mn OR r.mx IS NOT a.mx"                                \
    " OR (a.sm IS NULL) IS NOT (r.sm IS NULL)"                                                     \
    " OR NOT abs(r.sm - a.sm) <= 1e-9 * max(1.0, abs(a.sm))"

#define FX_ROLLUP_1M_DIFF FX_ROLLUP_DIFF("rollup_1m", "60000")
#define FX_ROLLUP_1H_DIFF FX_ROLLUP_DIFF("rollup_1h", "3600000")

#endif
