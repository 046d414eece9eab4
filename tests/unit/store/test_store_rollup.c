/* test_store_rollup.c: unit tests of the store's schema v3, its groups and
 * the rollups it maintains at ingest (src/store/store_db.c, store_roll.c).
 *
 * The rollups are checked against the aggregates of the measurements and
 * the documents' counts computed by SQL in one statement
 * (FX_ROLLUP_*_DIFF), after random
 * appends in one and in many transactions, around ts 0 (negative floors),
 * and after transactions rolled back by the max_pages quota. */
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_int.h"
#include "test.h"
#include "store_fixture.h"

static const char *const names[] = {"co", "no2", "c2h5oh", "h2", "temperature", "humidity"};
#define NNAMES (int)(sizeof names / sizeof names[0])

/* Queues one random document: index "a" or "b", group g0..g3 or none, a
 * random subset of the names, values k/8 (exact sums) unless `inexact`. */
static void append_random(struct store *s, int64_t ts, int inexact, struct rec *r)
{
    static const char *const groups[] = {"g0", "g1", "g2", "g3", NULL};
    struct store_meas m[NNAMES];
    size_t n = 0;
    for (int k = 0; k < NNAMES; k++) {
        if (rand() % 3 == 0) continue;
        double v = (rand() % 4001 - 2000) / 8.0;
        if (inexact) v = v * 1.1 + 1e-3 * (rand() % 1000);
        m[n++] = (struct store_meas){names[k], v};
    }
    char src[64];
    int len = snprintf(src, sizeof src, "{\"ts\":%lld}", (long long)ts);
    struct store_doc d = {.index = rand() % 4 ? "a" : "b",
                          .source = src,
                          .source_len = (size_t)len,
                          .ts_ms = ts,
                          .groupid = groups[rand() % 5],
                          .nmeas = n,
                          .meas = m};
    store_append(s, &d, fx_on_ack, r);
}

static void check_rollups(const char *dir)
{
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1M_DIFF), 0);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1H_DIFF), 0);
}

static void test_floor(void)
{
    CHECK_EQ_INT(store_roll_floor(0, 60000), 0);
    CHECK_EQ_INT(store_roll_floor(59999, 60000), 0);
    CHECK_EQ_INT(store_roll_floor(60000, 60000), 60000);
    CHECK_EQ_INT(store_roll_floor(-1, 60000), -60000);
    CHECK_EQ_INT(store_roll_floor(-60000, 60000), -60000);
    CHECK_EQ_INT(store_roll_floor(-60001, 60000), -120000);
    CHECK_EQ_INT(store_roll_floor(1700000123456, 3600000), 1699999200000);
    CHECK(store_roll_floor(INT64_MIN, 3600000) <= INT64_MIN + 3600000); /* no overflow */
    CHECK_EQ_INT(store_roll_floor(INT64_MAX, 60000), INT64_MAX - INT64_MAX % 60000);
}

/* A fresh file gets version 7 and every table; the old layout, the
 * unreleased version 2 and newer versions are refused (the upgrade of
 * version 3: test_store_idem.c). */
static void test_schema(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "PRAGMA user_version"), 7);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM sqlite_master WHERE name IN ('docs',"
                               " 'measurements', 'rollup_1m', 'rollup_1h', 'groups', 'indices',"
                               " 'health', 'docs_idx_ts', 'docs_idx_grp_ts', 'idem', 'meta',"
                               " 'dicts', 'rollup_off', 'mblocks', 'mblocks_key')"),
                 15);
    /* reopening a version 7 file works */
    s = fx_open(&loop, dir, 0, 0);
    fx_close(&loop, s);

    struct store_options opt = {.dir = dir};
    static const char *const refused[] = {"PRAGMA user_version = 8", "PRAGMA user_version = 2"};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(fx_q_dir(dir, refused[i]), -1);
        s = (struct store *)&loop;
        CHECK_EQ_INT(store_open(&s, &loop, &opt), GK_ESTORE);
        CHECK(s == NULL);
    }
    fx_rm_dir(dir);

    /* schema 1: no user_version, a docs table */
    dir = fx_make_dir();
    CHECK_EQ_INT(fx_q_dir(dir, "CREATE TABLE docs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               " idx TEXT, seq INTEGER, ts INTEGER, groupid TEXT, source TEXT)"),
                 -1);
    opt.dir = dir;
    CHECK_EQ_INT(store_open(&s, &loop, &opt), GK_ESTORE);
    CHECK(s == NULL);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM sqlite_master"), 2); /* untouched */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

/* groupid NULL: docs.groupid NULL, grp "" elsewhere; NaN: NULL, no rollup. */
static void test_no_group_nan(void)
{
    struct rec r[3] = {{0}};
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    struct store_meas m[2] = {{"co", 1.5}, {"no2", NAN}};
    struct store_doc d = {
        .index = "x", .source = "{}", .source_len = 2, .ts_ms = 120001, .nmeas = 2, .meas = m};
    store_append(s, &d, fx_on_ack, &r[0]);
    m[0].value = 2.5;
    d.ts_ms = 179999;
    store_append(s, &d, fx_on_ack, &r[1]);
    d.groupid = "g";
    store_append(s, &d, fx_on_ack, &r[2]);
    uv_run(&loop, UV_RUN_DEFAULT);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(r[i].status, 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs WHERE groupid IS NULL"), 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM measurements WHERE grp = ''"), 4);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM measurements WHERE value IS NULL"), 3);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups"), 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups WHERE idx = 'x' AND grp = ''"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM rollup_1m"), 4); /* co and docs, 2 groups */
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM rollup_1m WHERE idx = 'x' AND grp = ''"
                               " AND name = CAST(x'ff' AS TEXT) AND t = 120000 AND n = 2"
                               " AND mn IS NULL AND mx IS NULL AND sm IS NULL"),
                 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM rollup_1h WHERE name = CAST(x'ff' AS TEXT)"
                               " AND t = 0 AND n = 1 AND grp = 'g'"),
                 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM rollup_1m WHERE idx = 'x' AND grp = ''"
                               " AND name = 'co' AND t = 120000 AND n = 2 AND mn = 1.5"
                               " AND mx = 2.5 AND sm = 4.0"),
                 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM rollup_1h WHERE grp = 'g' AND t = 0"
                               " AND n = 1 AND sm = 2.5"),
                 1);
    check_rollups(dir);
    /* the oracle sees a wrong sum, a wrong count, a missing and an extra row */
    CHECK_EQ_INT(
        fx_q_dir(dir, "UPDATE rollup_1m SET sm = sm + 1e-6 WHERE grp = 'g' AND name = 'co'"), -1);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1M_DIFF), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "UPDATE rollup_1h SET n = 3 WHERE grp = 'g' AND name = 'co'"), -1);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1H_DIFF), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "DELETE FROM rollup_1h WHERE grp = ''"), -1); /* co and docs */
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1H_DIFF), 3);
    CHECK_EQ_INT(fx_q_dir(dir, "INSERT INTO rollup_1h VALUES('x', 'z', 'co', 0, 1, 1, 1, 1)"), -1);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1H_DIFF), 4);
    CHECK_EQ_INT(fx_q_dir(dir, "UPDATE rollup_1m SET n = n + 1 WHERE grp = 'g'"
                               " AND name = CAST(x'ff' AS TEXT)"),
                 -1);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1M_DIFF), 2);
    fx_rm_dir(dir);
}

/* n documents of index "m", 4 groups, one every `gap` ms from t0. */
static void append_spaced(uv_loop_t *loop, struct store *s, int64_t t0, int64_t gap, int n,
                          struct rec *r)
{
    static const char *const groups[] = {"g0", "g1", "g2", "g3"};
    for (int i = 0; i < n; i++) {
        struct store_meas m[2] = {{"co", i * 0.25}, {"no2", 100 - i * 0.125}};
        struct store_doc d = {.index = "m",
                              .source = "{}",
                              .source_len = 2,
                              .ts_ms = t0 + i * gap,
                              .groupid = groups[i % 4],
                              .nmeas = 2,
                              .meas = m};
        store_append(s, &d, fx_on_ack, &r[i]);
    }
    uv_run(loop, UV_RUN_DEFAULT);
}

/* An index whose readings come about once a minute or less stops keeping
 * 1-minute rollups in gasket.db (its rows already there are deleted);
 * hourly rollups stay, exact. A dense index keeps both. */
static void test_minutes_earn_their_place(void)
{
    static struct rec r[600];
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    append_spaced(&loop, s, 0, 5000, 300, r); /* 12 a minute, 3 per group */
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_off"), 0);
    CHECK(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_1m WHERE idx = 'm'") > 0);
    check_rollups(dir);

    s = fx_open(&loop, dir, 0, 0);
    append_spaced(&loop, s, 3600000, 300000, 300, r + 300); /* one in 5 minutes */
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    for (int i = 0; i < 600; i++)
        CHECK_EQ_INT(r[i].status, 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_off WHERE idx = 'm'"
                               " AND level = '1m'"),
                 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_1m"), 0);
    CHECK_EQ_INT(fx_q_dir(dir, FX_ROLLUP_1H_DIFF), 0);
    fx_rm_dir(dir);
}

/* Random documents, many in the same minutes, around ts 0, in waves of one
 * transaction (max_batch 0) and of many small ones (max_batch 7). */
static void test_rollups_random(void)
{
    enum { WAVES = 12, PER = 400 };
    static struct rec r[WAVES * PER];
    uv_loop_t loop;
    char *dir = fx_make_dir();
    srand(12345);
    uv_loop_init(&loop);
    for (int pass = 0; pass < 2; pass++) {
        struct store *s = fx_open(&loop, dir, pass ? 7 : 0, 0);
        for (int w = 0; w < WAVES; w++) {
            for (int i = 0; i < PER; i++) {
                /* 3 hours around 0, clustered: many documents per minute */
                int64_t ts = (int64_t)(rand() % 180 - 90) * 60000 + rand() % 4 * 15000 + rand() % 3;
                append_random(s, ts, pass == 1 && w % 2, &r[w * PER + i]);
            }
            uv_run(&loop, UV_RUN_DEFAULT);
        }
        if (pass) CHECK(store_get_stats(s)->commits >= WAVES * PER / 7);
        fx_close(&loop, s);
        for (int i = 0; i < WAVES * PER; i++) {
            CHECK_EQ_INT(r[i].calls, 1);
            CHECK_EQ_INT(r[i].status, 0);
        }
        memset(r, 0, sizeof r);
        check_rollups(dir);
    }
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 2 * WAVES * PER);
    CHECK(fx_q_dir(dir, "SELECT count(*) FROM rollup_1m WHERE t < 0") > 50);
    CHECK(fx_q_dir(dir, "SELECT max(n) FROM rollup_1m") > 10);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups"), 10);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM (SELECT DISTINCT idx, grp FROM measurements)"
                               " FULL JOIN groups USING(idx, grp)"),
                 10);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT sum(n) FROM rollup_1h WHERE name <> CAST(x'ff' AS TEXT)"),
                 fx_q_dir(dir, "SELECT count(*) FROM measurements"));
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT sum(n) FROM rollup_1h WHERE name = CAST(x'ff' AS TEXT)"),
                 2 * WAVES * PER);
    fx_rm_dir(dir);
}

/* Appends one document of group grp in its own transaction; returns its status. */
static int append_one(uv_loop_t *loop, struct store *s, const char *grp, int64_t ts)
{
    static char pad[3000];
    struct rec r = {0};
    struct store_meas m[3] = {{"co", (double)(ts % 97)}, {"no2", 1.25}, {"h2", -(double)ts}};
    memset(pad, 'x', sizeof pad);
    struct store_doc d = {.index = "q",
                          .source = pad,
                          .source_len = sizeof pad,
                          .ts_ms = ts,
                          .groupid = grp,
                          .nmeas = 3,
                          .meas = m};
    store_append(s, &d, fx_on_ack, &r);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r.calls, 1);
    return r.status;
}

/* Transactions that fail (quota) leave rollups and groups as they were, and
 * a group first seen in a failed transaction is inserted when seen again. */
static void test_rollback(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    int ok = 0, i;
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 64);
    for (i = 0; i < 300 && append_one(&loop, s, "old", 1000 + i * 7000) == 0; i++)
        ok++;
    CHECK(ok > 10 && ok < 300);
    CHECK_EQ_INT(append_one(&loop, s, "new", 5000), GK_EFULL);
    CHECK(store_get_stats(s)->failures >= 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), ok);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT sum(n) FROM rollup_1m WHERE name <> CAST(x'ff' AS TEXT)"),
                 3 * ok);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT sum(n) FROM rollup_1m WHERE name = CAST(x'ff' AS TEXT)"),
                 ok);
    check_rollups(dir);
    /* make room behind the store's back (rollups now stale, not checked);
     * the rows are in the hot tier, not moved yet (generation 1: hot1) */
    CHECK_EQ_INT(fx_q_dir(dir, "DELETE FROM hot1.docs WHERE seq < 8"), -1);
    CHECK_EQ_INT(append_one(&loop, s, "new", 5000), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups WHERE grp = 'new'"), 1);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

/* A move that fails once its rollups are partly added up (a trigger on
 * mblocks refuses the first block) leaves nothing behind: the retry adds
 * the generation up again from the start, so the rollups still equal the
 * aggregates of the measurements. */
static void test_failed_move_retried(void)
{
    enum { N = 300 };
    static struct rec r[N];
    struct rec fl[2] = {{0}};
    uv_loop_t loop;
    char *dir = fx_make_dir();
    srand(777);
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    for (int i = 0; i < N; i++)
        append_random(s, (int64_t)(rand() % 10) * 60000 + rand() % 60000, 0, &r[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(fx_q_dir(dir, "CREATE TABLE main.fail(x)"), -1);
    CHECK_EQ_INT(fx_q_dir(dir, "INSERT INTO main.fail VALUES(1)"), -1);
    CHECK_EQ_INT(fx_q_dir(dir, "CREATE TRIGGER main.fail_blocks BEFORE INSERT ON main.mblocks"
                               " WHEN (SELECT count(*) FROM main.fail) > 0"
                               " BEGIN SELECT RAISE(ABORT, 'injected'); END"),
                 -1);
    /* the log names what failed: stderr caught in a file meanwhile */
    char logpath[300];
    snprintf(logpath, sizeof logpath, "%s/stderr.txt", dir);
    int logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600), saved = dup(2);
    CHECK(logfd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(logfd, 2);
    store_flush(s, fx_on_ack, &fl[0]);
    uv_run(&loop, UV_RUN_DEFAULT);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char logged[2048] = "";
    ssize_t got = pread(logfd, logged, sizeof logged - 1, 0);
    close(logfd);
    logged[got > 0 ? got : 0] = '\0';
    CHECK(strstr(logged, "failed: constraint failed (injected)") != NULL);
    CHECK_EQ_INT(fl[0].calls, 1);
    CHECK(fl[0].status != 0); /* the move failed */
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_1h"), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "DELETE FROM main.fail"), -1);
    store_flush(s, fx_on_ack, &fl[1]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(fl[1].status, 0);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(r[i].status, 0);
    CHECK(fx_q_dir(dir, "SELECT count(*) FROM main.rollup_1h") > 0);
    check_rollups(dir);
    fx_rm_dir(dir);
}

/* The group set spares the INSERT for known groups (a row deleted behind
 * the store's back stays missing) and is loaded again at open. */
static void test_groups_known(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    CHECK_EQ_INT(append_one(&loop, s, "g1", 1), 0);
    CHECK_EQ_INT(append_one(&loop, s, NULL, 2), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "DELETE FROM hot1.groups WHERE grp = 'g1'"), -1); /* not moved yet */
    CHECK_EQ_INT(append_one(&loop, s, "g1", 3), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups WHERE grp = 'g1'"), 0);
    fx_close(&loop, s);
    s = fx_open(&loop, dir, 0, 0);
    CHECK_EQ_INT(append_one(&loop, s, "g1", 4), 0); /* not in the table: inserted */
    CHECK_EQ_INT(append_one(&loop, s, "g2", 5), 0);
    CHECK_EQ_INT(append_one(&loop, s, NULL, 6), 0);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM groups"), 3);
    check_rollups(dir);
    fx_rm_dir(dir);
}

int main(void)
{
    RUN(test_floor);
    RUN(test_schema);
    RUN(test_no_group_nan);
    RUN(test_rollups_random);
    RUN(test_rollback);
    RUN(test_failed_move_retried);
    RUN(test_groups_known);
    RUN(test_minutes_earn_their_place);
    TEST_MAIN_END();
}
