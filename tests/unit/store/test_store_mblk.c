/* test_store_mblk.c: measurements in per-series blocks (store_mblk.c).
 *
 * Points are added to the blocks of an in-memory database in batches of
 * every shape the mover meets (in time order, back-filled into the middle
 * of a series, equal timestamps, batches larger than a block) and kept in
 * a plain reference table too; the virtual table gk_meas must then answer
 * every query shape the query layer asks (a series' range, a document's
 * value, an index or a group without the other names) exactly as the
 * reference does, the blocks must stay ordered and disjoint, retention
 * (store_mblk_trim) must delete exactly the points before its bound, rows
 * of an older schema must move into blocks a slice at a time, and a
 * damaged block must be an error of the query that reads it. */
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_block.h"
#include "store/store_int.h"
#include "test.h"

static const char schema[] =
    "CREATE TABLE mblocks(id INTEGER PRIMARY KEY, idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " name TEXT NOT NULL, t0 INTEGER NOT NULL, d0 INTEGER NOT NULL, t1 INTEGER NOT NULL,"
    " n INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE UNIQUE INDEX mblocks_key ON mblocks(idx, grp, name, t0, d0);"
    "CREATE TABLE measurements(idx TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,"
    " ts INTEGER NOT NULL, doc INTEGER NOT NULL, value REAL,"
    " PRIMARY KEY(idx, grp, name, ts, doc)) WITHOUT ROWID;"
    "CREATE TABLE ref(idx TEXT, grp TEXT, name TEXT, ts INTEGER, doc INTEGER, value REAL,"
    " PRIMARY KEY(idx, grp, name, ts, doc));"
    "ATTACH ':memory:' AS hot0;"
    "CREATE VIRTUAL TABLE temp.mblk USING gk_meas;";

/* series 4 (of the documents without a group and of groupid '') only in
 * test_move_and_legacy */
static const char *const series_idx[] = {"a", "a", "a", "b", "a"};
static const char *const series_grp[] = {"g1", "g1", "g2", "g1", ""};
static const char *const series_name[] = {"co", "no2", "co", "co", "co"};
#define NSERIES 4

static int64_t next_doc = 1;

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_reader(db), SQLITE_OK);
    int rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "schema: %s\n", sqlite3_errmsg(db));
    CHECK_EQ_INT(rc, SQLITE_OK);
    char *hot = store_hot_sql(store_hot_schema_sql, 0);
    CHECK_EQ_INT(sqlite3_exec(db, hot, NULL, NULL, NULL), SQLITE_OK);
    free(hot);
    return db;
}

static int exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    return rc;
}

static int cmp_pt(const void *a, const void *b)
{
    const struct mpoint *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static void ref_put(sqlite3 *db, const char *table, int s, const struct mpoint *p)
{
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(?1, ?2, ?3, ?4, ?5, ?6)", table);
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, series_idx[s], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, series_grp[s], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, series_name[s], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, p->ts);
    sqlite3_bind_int64(st, 5, p->doc);
    if (p->has) sqlite3_bind_double(st, 6, p->value);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* A hot document of point p: its measurement of series s and, when s2 >=
 * 0, one of series s2 (same idx and grp: the same document) with value
 * -p->value; groupid NULL when null_grp (series 4). Kept in ref. */
static void hot_put(sqlite3 *db, int s, int s2, const struct mpoint *p, int null_grp)
{
    struct store_job_meas m[2] = {{series_name[s], p->has ? p->value : NAN},
                                  {s2 >= 0 ? series_name[s2] : "", -p->value}};
    struct buf b = {0};
    store_hmeas_encode(&b, m, s2 >= 0 ? 2 : 1);
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "INSERT INTO hot0.docs(id, idx, seq, ts, groupid, source, m)"
                                    " VALUES(?1, ?2, 0, ?3, ?4, '{}', ?5)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, p->doc);
    sqlite3_bind_text(st, 2, series_idx[s], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, p->ts);
    if (!null_grp) sqlite3_bind_text(st, 4, series_grp[s], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, b.data, (int)b.len, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    buf_free(&b);
    ref_put(db, "ref", s, p);
    if (s2 >= 0) {
        struct mpoint q = *p;
        q.value = -p->value, q.has = 1;
        ref_put(db, "ref", s2, &q);
    }
}

/* A batch of n points of series s with ts in [from, from + span), some
 * on equal timestamps, some without a value; added and kept in ref. */
static void add_batch(sqlite3 *db, struct store_mblk *w, int s, size_t n, int64_t from,
                      int64_t span)
{
    struct mpoint *p = malloc(n * sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        p[i].ts = from + (span > 1 ? rand() % span : 0);
        if (i && rand() % 8 == 0) p[i].ts = p[i - 1].ts; /* equal timestamps */
        p[i].doc = next_doc++;
        p[i].has = rand() % 16 != 0;
        p[i].value = p[i].has ? (rand() % 100000) / 100.0 : 0;
        ref_put(db, "ref", s, &p[i]);
    }
    qsort(p, n, sizeof(*p), cmp_pt);
    CHECK_EQ_INT(exec(db, "BEGIN"), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_add(w, series_idx[s], series_grp[s], series_name[s], p, n), SQLITE_OK);
    CHECK_EQ_INT(exec(db, "COMMIT"), SQLITE_OK);
    free(p);
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        return -2;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

/* Rows of `sql` over temp.mblk and over ref (the same text with "ref" for
 * "temp.mblk"), in the order given, must be equal: *rows counts them. */
static int same_rows(sqlite3 *db, const char *sql_blocks, int64_t a1, int64_t a2, int64_t *rows)
{
    char sql_ref[600];
    const char *at = strstr(sql_blocks, "temp.mblk");
    snprintf(sql_ref, sizeof sql_ref, "%.*sref%s", (int)(at - sql_blocks), sql_blocks, at + 9);
    sqlite3_stmt *x, *y;
    if (sqlite3_prepare_v2(db, sql_blocks, -1, &x, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_ref, -1, &y, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql_blocks, sqlite3_errmsg(db));
        return 0;
    }
    for (int i = 1; i <= sqlite3_bind_parameter_count(x); i++) {
        sqlite3_bind_int64(x, i, i == 1 ? a1 : a2);
        sqlite3_bind_int64(y, i, i == 1 ? a1 : a2);
    }
    int ok = 1, rx, ry;
    *rows = 0;
    for (;;) {
        rx = sqlite3_step(x), ry = sqlite3_step(y);
        if (rx != ry) {
            ok = 0;
            break;
        }
        if (rx != SQLITE_ROW) break;
        ++*rows;
        for (int c = 0; c < sqlite3_column_count(x); c++) {
            sqlite3_value *vx = sqlite3_column_value(x, c), *vy = sqlite3_column_value(y, c);
            if (sqlite3_value_type(vx) != sqlite3_value_type(vy) ||
                (sqlite3_value_type(vx) == SQLITE_FLOAT &&
                 sqlite3_value_double(vx) != sqlite3_value_double(vy)) ||
                (sqlite3_value_type(vx) != SQLITE_FLOAT &&
                 strcmp((const char *)sqlite3_value_text(vx) ? (const char *)sqlite3_value_text(vx)
                                                             : "",
                        (const char *)sqlite3_value_text(vy) ? (const char *)sqlite3_value_text(vy)
                                                             : "")))
                ok = 0;
        }
        if (!ok) break;
    }
    if (!ok || rx != SQLITE_DONE)
        fprintf(stderr, "differs (%d %d, row %" PRId64 "): %s [%" PRId64 ", %" PRId64 "] %s\n", rx,
                ry, *rows, sql_blocks, a1, a2, sqlite3_errmsg(db));
    sqlite3_finalize(x);
    sqlite3_finalize(y);
    return ok && rx == SQLITE_DONE;
}

/* Every block decodes to its n points within (t0, d0) .. t1, and the
 * blocks of a series are ordered and disjoint. */
static void check_blocks(sqlite3 *db)
{
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "SELECT idx || '/' || grp || '/' || name, t0, d0, t1, n, data"
                                    " FROM mblocks ORDER BY idx, grp, name, t0, d0",
                                    -1, &st, NULL),
                 SQLITE_OK);
    char last_series[64] = "";
    struct mpoint last = {0}, p[MBLK_MAX];
    int bad = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *series = (const char *)sqlite3_column_text(st, 0);
        int n = mblk_decode(sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5), p);
        if (n < 1 || n != sqlite3_column_int(st, 4) || p[0].ts != sqlite3_column_int64(st, 1) ||
            p[0].doc != sqlite3_column_int64(st, 2) || p[n - 1].ts != sqlite3_column_int64(st, 3)) {
            bad++;
            continue;
        }
        if (strcmp(series, last_series) == 0 && cmp_pt(&last, &p[0]) >= 0) bad++;
        snprintf(last_series, sizeof last_series, "%s", series);
        last = p[n - 1];
    }
    sqlite3_finalize(st);
    CHECK_EQ_INT(bad, 0);
}

/* The query shapes of query*.c over every series, at random ranges. */
static int64_t check_queries(sqlite3 *db)
{
    int64_t rows, total = 0;
    for (int s = 0; s < NSERIES; s++) {
        char sql[400], where[160];
        snprintf(where, sizeof where, "idx = '%s' AND grp = '%s' AND name = '%s'", series_idx[s],
                 series_grp[s], series_name[s]);
        /* a whole series in its natural order */
        snprintf(sql, sizeof sql, "SELECT ts, doc, value FROM temp.mblk WHERE %s AND ?1 = ?2",
                 where);
        CHECK(same_rows(db, sql, 0, 0, &rows));
        total += rows;
        for (int k = 0; k < 40; k++) {
            int64_t lo = 1000000 + rand() % 400000, hi = lo + rand() % (k < 20 ? 3000 : 200000);
            snprintf(sql, sizeof sql,
                     "SELECT ts, doc, value FROM temp.mblk WHERE %s AND ts >= ?1 AND ts < ?2",
                     where);
            CHECK(same_rows(db, sql, lo, hi, &rows));
            snprintf(sql, sizeof sql,
                     "SELECT ts, doc, value FROM temp.mblk WHERE %s AND ts > ?1 AND ts <= ?2",
                     where);
            CHECK(same_rows(db, sql, lo, hi, &rows));
            snprintf(sql, sizeof sql,
                     "SELECT count(*), sum(value) FROM temp.mblk WHERE %s AND ts >= ?1 AND ts < ?2"
                     " AND value > 100",
                     where);
            CHECK(same_rows(db, sql, lo, hi, &rows));
        }
    }
    /* a document's value, as a correlated subquery (every point of ref) */
    CHECK(same_rows(db,
                    "SELECT r.doc, (SELECT m.value FROM temp.mblk m WHERE m.idx = r.idx AND"
                    " m.grp = r.grp AND m.name = r.name AND m.ts = r.ts AND m.doc = r.doc)"
                    " FROM ref r WHERE ?1 = ?2 ORDER BY r.idx, r.grp, r.name, r.ts, r.doc",
                    0, 0, &rows));
    CHECK_EQ_INT(rows, q_int(db, "SELECT count(*) FROM ref"));
    /* a document whose ts is not the point's finds nothing */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM ref r WHERE EXISTS (SELECT 1 FROM temp.mblk m"
                           " WHERE m.idx = r.idx AND m.grp = r.grp AND m.name = r.name AND"
                           " m.ts = r.ts + 1 AND m.doc = r.doc)"),
                 0);
    /* without the three names */
    CHECK(same_rows(
        db,
        "SELECT idx, grp, name, ts, doc, value FROM temp.mblk WHERE idx = 'a' AND ts >= ?1"
        " AND ts < ?2 ORDER BY 1, 2, 3, 4, 5",
        1100000, 1300000, &rows));
    CHECK(same_rows(db,
                    "SELECT idx, grp, name, ts, doc FROM temp.mblk WHERE idx = 'a' AND grp = 'g1'"
                    " AND ?1 = ?2 ORDER BY 1, 2, 3, 4, 5",
                    0, 0, &rows));
    CHECK(same_rows(db,
                    "SELECT name, count(*) FROM temp.mblk WHERE doc > ?1 AND doc < ?2 GROUP BY 1"
                    " ORDER BY 1",
                    10, 900, &rows));
    CHECK(same_rows(db,
                    "SELECT g.grp, count(*) FROM (SELECT DISTINCT idx, grp FROM ref) g CROSS JOIN"
                    " temp.mblk m ON m.idx = g.idx AND m.grp = g.grp AND m.name = 'co'"
                    " AND m.ts >= ?1 AND m.ts < ?2 GROUP BY 1 ORDER BY 1",
                    1050000, 1250000, &rows));
    check_blocks(db);
    return total;
}

static void test_add_and_read(void)
{
    sqlite3 *db = open_db();
    struct store_mblk *w = store_mblk_new(db);
    srand(7);
    for (int round = 0; round < 30; round++)
        for (int s = 0; s < NSERIES; s++) {
            /* appends in time order, sometimes more than a block at once */
            size_t n = (size_t)(1 + rand() % (round % 5 == 0 ? 700 : 40));
            add_batch(db, w, s, n, 1000000 + round * 10000, 10000);
        }
    CHECK(q_int(db, "SELECT count(*) FROM mblocks") > NSERIES * 4);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM mblocks WHERE n > 256"), 0);
    CHECK_EQ_INT(check_queries(db), q_int(db, "SELECT count(*) FROM ref"));
    /* back-filled: into the middle and before the start of each series */
    for (int s = 0; s < NSERIES; s++) {
        add_batch(db, w, s, 5, 1100000, 50000);
        add_batch(db, w, s, 300, 1000000, 300000);
        add_batch(db, w, s, 3, 900000, 1000);
        add_batch(db, w, s, 1, 1150000, 1);
    }
    /* many points on one timestamp: blocks that start on the same ts */
    add_batch(db, w, 0, 600, 1500000, 1);
    add_batch(db, w, 0, 2, 1500000, 1);
    check_queries(db);
    store_mblk_free(w);
    sqlite3_close(db);
}

/* Blocks written again by the last add: rows whose bytes changed or are new. */
static int64_t rows_changed(sqlite3 *db)
{
    int64_t n = q_int(db, "SELECT count(*) FROM mblocks m WHERE NOT EXISTS (SELECT 1 FROM"
                          " temp.snap s WHERE s.id = m.id AND s.data = m.data)");
    exec(db, "DELETE FROM temp.snap; INSERT INTO temp.snap SELECT id, data FROM mblocks");
    return n;
}

/* Only the blocks that receive points are written again: a reading dated
 * long before a series' history (a device whose clock was reset) and one
 * after it, in one move, touch the first block (or a new one) and the
 * last, not the hundreds between; a reading in the gap between two full
 * blocks makes a block of its own. */
static void test_only_touched_blocks(void)
{
    sqlite3 *db = open_db();
    struct store_mblk *w = store_mblk_new(db);
    CHECK_EQ_INT(exec(db, "CREATE TEMP TABLE snap(id INTEGER PRIMARY KEY, data BLOB)"), SQLITE_OK);
    struct mpoint *p = malloc(256 * 40 * sizeof(*p));
    for (int i = 0; i < 256 * 40; i++)
        p[i] = (struct mpoint){
            .ts = 1000000 + (int64_t)i * 600000, .doc = 1000 + i, .value = i % 100 / 4.0, .has = 1};
    CHECK_EQ_INT(store_mblk_add(w, "a", "g1", "co", p, 256 * 40 - 10), SQLITE_OK);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM mblocks"), 40);
    rows_changed(db);
    /* one from 1970 and the series' next ten */
    p[256 * 40 - 11] = (struct mpoint){.ts = 5, .doc = 99999, .value = 1, .has = 1};
    CHECK_EQ_INT(store_mblk_add(w, "a", "g1", "co", p + 256 * 40 - 11, 11), SQLITE_OK);
    CHECK_EQ_INT(rows_changed(db), 2); /* a block of its own, and the last */
    /* in the gap between two full blocks: after block 3's last point */
    struct mpoint gap = {
        .ts = 1000000 + (int64_t)(256 * 3 - 1) * 600000 + 1, .doc = 50, .value = 2, .has = 1};
    CHECK_EQ_INT(store_mblk_add(w, "a", "g1", "co", &gap, 1), SQLITE_OK);
    CHECK_EQ_INT(rows_changed(db), 1);
    /* inside a full block: that block and the block its overflow makes */
    struct mpoint in = {
        .ts = 1000000 + (int64_t)(256 * 5 + 7) * 600000 + 1, .doc = 51, .value = 3, .has = 1};
    CHECK_EQ_INT(store_mblk_add(w, "a", "g1", "co", &in, 1), SQLITE_OK);
    CHECK_EQ_INT(rows_changed(db), 2);
    CHECK_EQ_INT(q_int(db, "SELECT sum(n) FROM mblocks"), 256 * 40 + 3);
    check_blocks(db);
    free(p);
    store_mblk_free(w);
    sqlite3_close(db);
}

static void test_trim(void)
{
    sqlite3 *db = open_db();
    struct store_mblk *w = store_mblk_new(db);
    srand(11);
    for (int round = 0; round < 20; round++)
        for (int s = 0; s < NSERIES; s++)
            add_batch(db, w, s, (size_t)(1 + rand() % 200), 1000000 + round * 10000, 10000);
    int64_t bounds[] = {999999, 1000000, 1050000, 1055555, 1150001, 1300000};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
        int64_t before = q_int(db, "SELECT count(*) FROM ref");
        uint64_t deleted = 0;
        CHECK_EQ_INT(exec(db, "BEGIN"), SQLITE_OK);
        for (int s = 0; s < NSERIES; s++)
            CHECK_EQ_INT(store_mblk_trim(w, series_idx[s], series_grp[s], series_name[s], bounds[b],
                                         &deleted),
                         SQLITE_OK);
        CHECK_EQ_INT(exec(db, "COMMIT"), SQLITE_OK);
        char sql[100];
        snprintf(sql, sizeof sql, "DELETE FROM ref WHERE ts < %" PRId64, bounds[b]);
        CHECK_EQ_INT(exec(db, sql), SQLITE_OK);
        CHECK_EQ_INT((int64_t)deleted, before - q_int(db, "SELECT count(*) FROM ref"));
        check_queries(db);
    }
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM mblocks"), 0);
    store_mblk_free(w);
    sqlite3_close(db);
}

/* A move: the hot file's points of its documents, then the legacy rows,
 * a slice (100,000 rows) per move, the first slice ending inside a series. */
static void test_move_and_legacy(void)
{
    sqlite3 *db = open_db();
    struct store_mblk *w = store_mblk_new(db);
    srand(13);
    struct mpoint p;
    for (int i = 0; i < 150000; i++) {
        p = (struct mpoint){
            .ts = 1000000 + i / 3, .doc = next_doc++, .value = i % 977 / 4.0, .has = i % 50 != 0};
        int s = i < 70000 ? 0 : i < 140000 ? 1 : 3;
        ref_put(db, "measurements", s, &p);
        ref_put(db, "ref", s, &p);
    }
    int64_t hot_lo = next_doc - 1;
    /* documents of one series, or two (series 0 and 1: co and no2 of a/g1),
     * some without a value, and documents of grp '' with groupid NULL and
     * '' in turn (one series, read in two runs) */
    for (int i = 0; i < 600; i++) {
        p = (struct mpoint){
            .ts = 1000000 + rand() % 100000, .doc = next_doc++, .value = i, .has = i % 7 != 0};
        if (i >= 500)
            hot_put(db, 4, -1, &p, i % 2);
        else
            hot_put(db, i % NSERIES, i % NSERIES == 0 && i % 3 == 0 ? 1 : -1, &p, 0);
    }
    /* the generation's bound: hot rows of later documents stay */
    p = (struct mpoint){.ts = 1000001, .doc = next_doc + 5, .value = 1, .has = 1};
    struct mpoint later = p;
    hot_put(db, 2, -1, &later, 0);
    CHECK_EQ_INT(exec(db, "DELETE FROM ref WHERE doc = (SELECT max(doc) FROM ref)"), SQLITE_OK);
    CHECK_EQ_INT(exec(db, "BEGIN"), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_move(w, 0, hot_lo, next_doc - 1, NULL), SQLITE_OK);
    CHECK_EQ_INT(exec(db, "COMMIT"), SQLITE_OK);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM measurements"), 50000);
    CHECK_EQ_INT(exec(db, "BEGIN"), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_move(w, 0, next_doc, next_doc, NULL), SQLITE_OK);
    CHECK_EQ_INT(exec(db, "COMMIT"), SQLITE_OK);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM measurements"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT sum(n) FROM mblocks"), 150600 + 42);
    CHECK_EQ_INT(q_int(db, "SELECT sum(n) FROM mblocks"), q_int(db, "SELECT count(*) FROM ref"));
    check_queries(db);
    store_mblk_free(w);
    sqlite3_close(db);
}

static void test_damaged_block(void)
{
    sqlite3 *db = open_db();
    struct store_mblk *w = store_mblk_new(db);
    add_batch(db, w, 0, 50, 1000000, 10000);
    CHECK_EQ_INT(exec(db, "UPDATE mblocks SET data = substr(data, 1, length(data) - 1)"),
                 SQLITE_OK);
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "SELECT count(*) FROM temp.mblk WHERE idx = 'a' AND"
                                    " grp = 'g1' AND name = 'co'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_CORRUPT);
    CHECK(strstr(sqlite3_errmsg(db), "damaged measurement block") != NULL);
    sqlite3_finalize(st);
    /* and a move that has to merge into it fails rather than lose it */
    struct mpoint p = {.ts = 1005000, .doc = 999999, .value = 1, .has = 1};
    CHECK_EQ_INT(exec(db, "BEGIN"), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_add(w, "a", "g1", "co", &p, 1), SQLITE_CORRUPT);
    CHECK_EQ_INT(exec(db, "ROLLBACK"), SQLITE_OK);
    store_mblk_free(w);
    sqlite3_close(db);
}

int main(void)
{
    RUN(test_add_and_read);
    RUN(test_only_touched_blocks);
    RUN(test_trim);
    RUN(test_move_and_legacy);
    RUN(test_damaged_block);
    TEST_MAIN_END();
}
