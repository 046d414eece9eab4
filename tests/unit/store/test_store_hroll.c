/* test_store_hroll.c: the hot tier's rollups read through gk_hroll
 * (store_hroll.c).
 *
 * Two in-memory hot files get random documents and measurements (groups
 * 'g1', 'g2', '' and none; NULL values; dates on both sides of 0; ids at
 * and below the `moved` mark, which must not count). For both widths and
 * for every combination of constraints the query layer and retention use
 * (equality on idx, grp and name, the documents' name x'ff', ranges and
 * equality on t with aligned, unaligned and fractional bounds), the
 * virtual table's buckets, added up per key, must equal those SQL computes
 * from the same rows with GROUP BY; so must a join of the table with
 * itself (two cursors at once). A width that is not a positive integer is
 * refused. */
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
           " (SELECT * FROM hot0.measurements UNION ALL SELECT * FROM hot1.measurements)"          \
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

/* n documents into hot file f, ids from *id, dates in [-3 h, 3 h). */
static void fill(int f, int n, int64_t *id)
{
    char sql[512];
    exec_ok("BEGIN");
    for (int i = 0; i < n; i++, (*id)++) {
        const char *idx = idxs[rand() % 2], *grp = grps[rand() % 4];
        long long ts = (long long)(rand() % 21600000) - 10800000;
        int edge = rand() % 8;
        if (edge == 0) ts = (ts / 60000) * 60000;               /* a minute's first ms */
        if (edge == 1) ts = (ts / 60000) * 60000 + 59999;       /* its last */
        if (edge == 2) ts = (ts / 3600000) * 3600000 + 3599999; /* an hour's last */
        snprintf(sql, sizeof sql,
                 "INSERT INTO hot%d.docs(id, idx, seq, ts, groupid, source)"
                 " VALUES(%lld, '%s', 0, %lld, %s%s%s, '{}')",
                 f, (long long)*id, idx, ts, grp ? "'" : "", grp ? grp : "NULL", grp ? "'" : "");
        exec_ok(sql);
        for (int k = 0; k < 3; k++) {
            if (rand() % 3 == 0) continue;
            char v[32] = "NULL";
            if (rand() % 10) snprintf(v, sizeof v, "%d.0 / 8", rand() % 4001 - 2000);
            snprintf(sql, sizeof sql,
                     "INSERT INTO hot%d.measurements(idx, grp, name, ts, doc, value)"
                     " VALUES('%s', '%s', '%s', %lld, %lld, %s)",
                     f, idx, grp ? grp : "", names[k], ts, (long long)*id, v);
            exec_ok(sql);
        }
    }
    exec_ok("COMMIT");
}

static void setup(void)
{
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_EQ_INT(store_mblk_reader(db), SQLITE_OK); /* registers gk_hroll too */
    exec_ok("CREATE TABLE main.meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
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
    exec_ok("CREATE VIRTUAL TABLE temp.h1m USING gk_hroll(60000);"
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
    RUN(test_refused_width);
    CHECK_EQ_INT(sqlite3_close(db), SQLITE_OK);
    TEST_MAIN_END();
}
