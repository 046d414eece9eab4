/* test_store_hroll.c: the hot tier's measurements (kept as a blob per
 * document, store_hmeas.c) read through gk_hmeas, and its rollups read
 * through gk_hroll (store_hroll.c).
 *
 * Two in-memory hot files get random documents and measurements (groups
 * 'g1', 'g2', '' and none; NULL values; dates on both sides of 0; ids at
 * and below the `moved` mark, which must not count); the test keeps the
 * same measurements as rows of its own (ref_meas). For both widths and
 * for every combination of constraints the query layer and retention use
 * (equality on idx, grp and name, the documents' name x'ff', ranges and
 * equality on t with aligned, unaligned and fractional bounds), the
 * virtual table's buckets, added up per key, must equal those SQL computes
 * from the same rows with GROUP BY; so must a join of the table with
 * itself (two cursors at once). gk_hmeas must give exactly the rows of
 * ref_meas for every combination of constraints on idx, grp, name, ts and
 * doc. A width that is not a positive integer is refused, and a damaged
 * blob is an error, not a crash. */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "test.h"

/* floor(ts / w) * w in SQL, also for negative ts */
#define FLOOR(c, w) "(" c " - (" c " % " w " + " w ") % " w ")"
/* What gk_hroll(w) must add up to: the rows above the mark, per bucket. */
#define REF_VIEW(name, w)                                                                          \
    "CREATE TEMP VIEW " name " AS SELECT idx, grp, name, " FLOOR(                                  \
        "ts",                                                                                      \
        w) " AS t,"                                                                                \
           " count(value) AS n, min(value) AS mn, max(value) AS mx, sum(value) AS sm FROM"         \
           " main.ref_meas"                                                                        \
           " WHERE doc > (SELECT v FROM main.meta WHERE k = 'moved')"                              \
           " GROUP BY 1, 2, 3, 4 HAVING count(value) > 0"                                          \
           " UNION ALL SELECT idx, coalesce(groupid, ''), CAST(x'ff' AS TEXT), " FLOOR(            \
               "ts",                                                                               \
               w) ","                                                                              \
                  " count(*), NULL, NULL, NULL FROM (SELECT * FROM hot0.docs UNION ALL SELECT * "  \
                  "FROM hot1.docs)"                                                                \
                  " WHERE id > (SELECT v FROM main.meta WHERE k = 'moved') GROUP BY 1, 2, 3, 4;"

static const char *const idxs[] = {"a", "b"};
static const char *const grps[] = {"g1", "g2", "", NULL};
static const char *const names[] = {"co", "no2", "h2"};

static sqlite3 *db;

static long long q1(const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n  %s\n", sqlite3_errmsg(db), sql);
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "%s\n  %s\n", sqlite3_errmsg(db), sql);
    sqlite3_finalize(st);
    return v;
}

static void exec_ok(const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "%s\n  %s\n", sqlite3_errmsg(db), sql);
    CHECK_EQ_INT(rc, SQLITE_OK);
}

static sqlite3_stmt *prep(const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fprintf(stderr, "%s\n  %s\n", sqlite3_errmsg(db), sql);
    CHECK(st != NULL);
    return st;
}

/* n documents into hot file f, ids from *id, dates in [-3 h, 3 h); their
 * measurements also into ref_meas. */
static void fill(int f, int n, int64_t *id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO hot%d.docs(id, idx, seq, ts, groupid, source, m)"
             " VALUES(?1, ?2, 0, ?3, ?4, '{}', ?5)",
             f);
    sqlite3_stmt *doc = prep(sql);
    sqlite3_stmt *ref = prep("INSERT INTO main.ref_meas VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    struct buf m = {0};
    exec_ok("BEGIN");
    for (int i = 0; i < n; i++, (*id)++) {
        const char *idx = idxs[rand() % 2], *grp = grps[rand() % 4];
        long long ts = (long long)(rand() % 21600000) - 10800000;
        int edge = rand() % 8;
        if (edge == 0) ts = (ts / 60000) * 60000;               /* a minute's first ms */
        if (edge == 1) ts = (ts / 60000) * 60000 + 59999;       /* its last */
        if (edge == 2) ts = (ts / 3600000) * 3600000 + 3599999; /* an hour's last */
        struct store_job_meas jm[3];
        size_t nm = 0;
        for (int k = 0; k < 3; k++) {
            if (rand() % 3 == 0) continue;
            jm[nm].name = names[(k + i) % 3]; /* in another order per document */
            jm[nm].value = rand() % 10 ? (rand() % 4001 - 2000) / 8.0 : NAN;
            sqlite3_bind_text(ref, 1, idx, -1, SQLITE_STATIC);
            sqlite3_bind_text(ref, 2, grp ? grp : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(ref, 3, jm[nm].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ref, 4, ts);
            sqlite3_bind_int64(ref, 5, *id);
            sqlite3_bind_double(ref, 6, jm[nm].value); /* NaN: NULL */
            CHECK_EQ_INT(sqlite3_step(ref), SQLITE_DONE);
            sqlite3_reset(ref);
            nm++;
        }
        m.len = 0;
        store_hmeas_encode(&m, jm, nm);
        sqlite3_bind_int64(doc, 1, *id);
        sqlite3_bind_text(doc, 2, idx, -1, SQLITE_STATIC);
        sqlite3_bind_int64(doc, 3, ts);
        if (grp)
            sqlite3_bind_text(doc, 4, grp, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(doc, 4);
        if (nm)
            sqlite3_bind_blob(doc, 5, m.data, (int)m.len, SQLITE_STATIC);
        else
            sqlite3_bind_null(doc, 5);
        CHECK_EQ_INT(sqlite3_step(doc), SQLITE_DONE);
        sqlite3_reset(doc);
    }
    exec_ok("COMMIT");
    buf_free(&m);
    sqlite3_finalize(doc);
    sqlite3_finalize(ref);
}

static void setup(void)
{
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_reader(db), SQLITE_OK); /* registers gk_hroll too */
    exec_ok("CREATE TABLE main.meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
            "CREATE TABLE main.ref_meas(idx TEXT, grp TEXT, name TEXT, ts INTEGER, doc INTEGER,"
            " value REAL)");
    for (int f = 0; f < 2; f++) {
        char sql[64];
        snprintf(sql, sizeof sql, "ATTACH ':memory:' AS hot%d", f);
        exec_ok(sql);
        char *schema = store_hot_sql(store_hot_schema_sql, f);
        exec_ok(schema);
        free(schema);
    }
    int64_t id = 1;
    fill(0, 1500, &id);
    fill(1, 1500, &id);
    exec_ok("INSERT INTO main.meta VALUES('moved', 700)"); /* ids 1..700 are moved */
    exec_ok("CREATE VIRTUAL TABLE temp.hm USING gk_hmeas;"
            "CREATE VIRTUAL TABLE temp.h1m USING gk_hroll(60000);"
            "CREATE VIRTUAL TABLE temp.h1h USING gk_hroll(3600000);" REF_VIEW("r1m", "60000")
                REF_VIEW("r1h", "3600000"));
}

/* Rows of `where` that differ between table tab and view ref, either way,
 * after adding up the rows of each key; *rows: the keys ref has. */
static long long differ(const char *tab, const char *ref, const char *where, long long *rows)
{
    char sql[2048];
    const char *sel = "SELECT idx, grp, name, t, sum(n), min(mn), max(mx), sum(sm) FROM";
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (%s %s WHERE %s GROUP BY 1, 2, 3, 4 EXCEPT %s %s WHERE %s"
             " GROUP BY 1, 2, 3, 4) UNION ALL SELECT count(*) FROM (%s %s WHERE %s"
             " GROUP BY 1, 2, 3, 4 EXCEPT %s %s WHERE %s GROUP BY 1, 2, 3, 4)",
             sel, tab, where, sel, ref, where, sel, ref, where, sel, tab, where);
    sqlite3_stmt *st;
    long long n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n  %s\n", sqlite3_errmsg(db), sql);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        n += sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT DISTINCT idx, grp, name, t FROM %s WHERE %s)", ref,
             where);
    *rows = q1(sql);
    return n;
}

static void test_every_constraint(void)
{
    static const char *const ic[] = {"1", "idx = 'a'", "idx = 'b'", "idx = 'zz'"};
    static const char *const gc[] = {"1", "grp = 'g1'", "grp = ''", "grp = 'g9'"};
    static const char *const nc[] = {"1", "name = 'no2'", "name = CAST(x'ff' AS TEXT)",
                                     "name = 'zz'"};
    static const char *const tc[] = {"1",
                                     "t >= 0",
                                     "t > -3600000 AND t < 3600000",
                                     "t >= -5400001 AND t <= 1799999",
                                     "t >= -3600000 AND t <= 0",
                                     "t = 60000",
                                     "t = 3600000",
                                     "t = 60001",
                                     "t >= 59999.5 AND t < 7200000.5",
                                     "t < -10000000",
                                     "t > 100000000"};
    static const char *const tabs[2][2] = {{"h1m", "r1m"}, {"h1h", "r1h"}};
    long long some = 0, cases = 0;
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < 4; i++)
            for (size_t g = 0; g < 4; g++)
                for (size_t n = 0; n < 4; n++)
                    for (size_t t = 0; t < sizeof tc / sizeof *tc; t++) {
                        char where[512];
                        snprintf(where, sizeof where, "%s AND %s AND %s AND %s", ic[i], gc[g],
                                 nc[n], tc[t]);
                        long long rows = 0, d = differ(tabs[w][0], tabs[w][1], where, &rows);
                        if (d != 0) fprintf(stderr, "differ: %s %s: %lld\n", tabs[w][0], where, d);
                        CHECK_EQ_INT(d, 0);
                        some += rows > 0;
                        cases++;
                    }
    CHECK(some > cases / 4); /* many cases had buckets to compare (392 of 1280) */
    /* the moved documents do not count, and the whole tables are equal */
    long long rows = 0;
    CHECK_EQ_INT(differ("h1m", "r1m", "1", &rows), 0);
    CHECK(rows > 3000);
    CHECK_EQ_INT(q1("SELECT sum(n) FROM h1m WHERE name = CAST(x'ff' AS TEXT)"), 3000 - 700);
}

/* Two cursors of one table at once, and statements reused after them. */
static void test_join(void)
{
    const char *j = "SELECT count(*), sum(a.n * b.n) FROM %s a JOIN %s b"
                    " ON a.idx = b.idx AND a.grp = b.grp AND a.t = b.t"
                    " WHERE a.name = 'co' AND b.name = CAST(x'ff' AS TEXT)";
    char s1[512], s2[512];
    /* per key: the table's rows are added up first (a bucket may have a
     * row per file), so compare the sums of the products over
     * added-up keys */
    snprintf(s1, sizeof s1,
             "SELECT sum(an * bn) FROM (SELECT idx, grp, t, sum(n) AS an FROM h1m"
             " WHERE name = 'co' GROUP BY 1, 2, 3) JOIN (SELECT idx, grp, t, sum(n) AS bn FROM h1m"
             " WHERE name = CAST(x'ff' AS TEXT) GROUP BY 1, 2, 3) USING(idx, grp, t)");
    snprintf(s2, sizeof s2,
             "SELECT sum(an * bn) FROM (SELECT idx, grp, t, sum(n) AS an FROM r1m"
             " WHERE name = 'co' GROUP BY 1, 2, 3) JOIN (SELECT idx, grp, t, sum(n) AS bn FROM r1m"
             " WHERE name = CAST(x'ff' AS TEXT) GROUP BY 1, 2, 3) USING(idx, grp, t)");
    long long a = q1(s1), b = q1(s2);
    CHECK(b > 0);
    CHECK_EQ_INT(a, b);
    char s3[512];
    snprintf(s3, sizeof s3, j, "h1m", "h1m");
    CHECK(q1(s3) > 0);           /* a nested loop over the table itself runs */
    for (int i = 0; i < 50; i++) /* the idle statements are taken and given back */
        CHECK(q1("SELECT count(*) FROM h1m WHERE idx = 'a' AND grp = 'g1' AND name = 'co'") > 0);
}

/* gk_hmeas against ref_meas: the same rows (as a bag) for every
 * combination of constraints. */
static void test_hmeas(void)
{
    static const char *const ic[] = {"1", "idx = 'a'", "idx = 'zz'"};
    static const char *const gc[] = {"1", "grp = 'g1'", "grp = ''", "grp = 'g9'", "grp = 1"};
    static const char *const nc[] = {"1", "name = 'no2'", "name = 'zz'", "name = 2"};
    static const char *const tc[] = {"1",
                                     "ts >= 0",
                                     "ts > -3600000 AND ts < 3600000",
                                     "ts >= -5400001.5 AND ts <= 1799999",
                                     "ts = 60000",
                                     "ts < -10000000"};
    static const char *const dc[] = {"1", "doc = 1234", "doc = 17", "doc > 2000"};
    long long some = 0, cases = 0;
    for (size_t i = 0; i < sizeof ic / sizeof *ic; i++)
        for (size_t g = 0; g < sizeof gc / sizeof *gc; g++)
            for (size_t n = 0; n < sizeof nc / sizeof *nc; n++)
                for (size_t t = 0; t < sizeof tc / sizeof *tc; t++)
                    for (size_t d = 0; d < sizeof dc / sizeof *dc; d++) {
                        char where[512], sql[4096];
                        snprintf(where, sizeof where, "%s AND %s AND %s AND %s AND %s", ic[i],
                                 gc[g], nc[n], tc[t], dc[d]);
                        /* a bag: each row with its count, both ways */
                        const char *sel = "SELECT idx, grp, name, ts, doc, value, count(*) FROM";
                        snprintf(sql, sizeof sql,
                                 "SELECT (SELECT count(*) FROM (%s hm WHERE %s GROUP BY 1, 2, 3, 4,"
                                 " 5, 6 EXCEPT %s ref_meas WHERE doc > 700 AND %s GROUP BY 1, 2, 3,"
                                 " 4, 5, 6)) + (SELECT count(*) FROM (%s ref_meas WHERE doc > 700"
                                 " AND %s GROUP BY 1, 2, 3, 4, 5, 6 EXCEPT %s hm WHERE %s GROUP BY"
                                 " 1, 2, 3, 4, 5, 6))",
                                 sel, where, sel, where, sel, where, sel, where);
                        long long diff = q1(sql);
                        if (diff != 0) fprintf(stderr, "hmeas differs: %s: %lld\n", where, diff);
                        CHECK_EQ_INT(diff, 0);
                        snprintf(sql, sizeof sql,
                                 "SELECT count(*) FROM ref_meas WHERE doc > 700 AND %s", where);
                        some += q1(sql) > 0;
                        cases++;
                    }
    fprintf(stderr, "hmeas: %lld of %lld cases had rows\n", some, cases);
    CHECK(some > cases / 20); /* 140 of 1440 */
    CHECK_EQ_INT(q1("SELECT count(*) FROM hm"),
                 q1("SELECT count(*) FROM ref_meas WHERE doc > 700"));
    /* a NULL value stays NULL */
    CHECK(q1("SELECT count(*) FROM hm WHERE value IS NULL") > 0);
}

/* A damaged blob: an error from both tables, then they work again. */
static void test_damaged(void)
{
    exec_ok("INSERT INTO hot1.docs(id, idx, seq, ts, groupid, source, m)"
            " VALUES(99999, 'a', 0, 5, 'g1', '{}', x'05616263')");
    sqlite3_stmt *st = prep("SELECT count(*) FROM hm WHERE idx = 'a' AND grp = 'g1'");
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_CORRUPT);
    sqlite3_finalize(st);
    st = prep("SELECT count(*) FROM h1m WHERE idx = 'a' AND grp = 'g1'");
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_CORRUPT);
    sqlite3_finalize(st);
    exec_ok("DELETE FROM hot1.docs WHERE id = 99999");
    CHECK(q1("SELECT count(*) FROM hm WHERE idx = 'a' AND grp = 'g1'") > 0);
    CHECK(q1("SELECT count(*) FROM h1m WHERE idx = 'a' AND grp = 'g1'") > 0);
}

static void test_refused_width(void)
{
    static const char *const bad[] = {
        "CREATE VIRTUAL TABLE temp.x USING gk_hroll",
        "CREATE VIRTUAL TABLE temp.x USING gk_hroll(0)",
        "CREATE VIRTUAL TABLE temp.x USING gk_hroll(-60000)",
        "CREATE VIRTUAL TABLE temp.x USING gk_hroll(60s)",
        "CREATE VIRTUAL TABLE temp.x USING gk_hroll(60000, 1)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(sqlite3_exec(db, bad[i], NULL, NULL, NULL) != SQLITE_OK);
}

int main(void)
{
    srand(12);
    setup();
    RUN(test_every_constraint);
    RUN(test_join);
    RUN(test_hmeas);
    RUN(test_damaged);
    RUN(test_refused_width);
    CHECK_EQ_INT(sqlite3_close(db), SQLITE_OK);
    TEST_MAIN_END();
}
