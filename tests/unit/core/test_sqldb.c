/* Unit tests for core/sqldb.c: opening with flags and pragmas, exec, run,
 * walking rows, one-integer queries and the errors of each. */
#include "core/err.h"
#include "core/sqldb.h"
#include "test.h"

#include <stdio.h>
#include <unistd.h>

static char path[64];

static void remove_db(void)
{
    char p[80];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* A row callback: adds column 0 to the sum at ud. */
static void add_row(void *ud, sqlite3_stmt *st)
{
    *(int64_t *)ud += sqlite3_column_int64(st, 0);
}

static void test_open_write_read(void)
{
    sqlite3 *db = NULL, *ro = NULL;
    sqlite3_stmt *st = NULL;
    char err[300] = "";
    snprintf(path, sizeof path, "/tmp/gasket-test-sqldb-%d.db", (int)getpid());
    remove_db();
    CHECK_EQ_INT(
        sqldb_open(&db, path, SQLDB_WAL, 1000, "PRAGMA synchronous=NORMAL", err, sizeof err), 0);
    CHECK(db != NULL);
    CHECK(sqldb_int(db, "PRAGMA synchronous", -1) == 1);
    CHECK_EQ_INT(sqldb_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", err, sizeof err),
                 SQLITE_OK);
    CHECK_EQ_INT(sqldb_prepare(db, "INSERT INTO t VALUES(?1)", &st), SQLITE_OK);
    sqlite3_bind_int(st, 1, 41);
    CHECK_EQ_INT(sqldb_run(st), SQLITE_OK);
    CHECK_EQ_INT(sqldb_run(st), SQLITE_OK); /* reset: runs again with its binding */
    CHECK(sqldb_int(db, "SELECT sum(x) FROM t", -1) == 83);
    CHECK(sqldb_int(db, "SELECT x FROM t WHERE x > 100", -7) == -7);
    CHECK(sqldb_int(db, "SELECT nosuch FROM t", -7) == -7);
    int64_t sum = 0;
    CHECK_EQ_INT(sqldb_each(db, "SELECT x FROM t ORDER BY x", add_row, &sum), SQLITE_OK);
    CHECK(sum == 83);
    sum = 0;
    CHECK_EQ_INT(sqldb_each(db, "SELECT x FROM t WHERE x > 100", add_row, &sum), SQLITE_OK);
    CHECK(sum == 0);
    CHECK_EQ_INT(sqldb_each(db, "SELECT nosuch FROM t", add_row, &sum), SQLITE_ERROR);
    CHECK(strstr(sqldb_error(db), "nosuch") != NULL);
    /* a failure after a row (the second row, 41, overflows): the first was handed over */
    CHECK_EQ_INT(sqldb_each(db,
                            "SELECT CASE WHEN x < 41 THEN x"
                            " ELSE abs(x - 41 - 9223372036854775807 - 1) END FROM t",
                            add_row, &sum),
                 SQLITE_ERROR);
    CHECK(sum == 1);
    CHECK(strstr(sqldb_error(db), "integer overflow") != NULL);
    CHECK(sqldb_exec(db, "NOT SQL", err, sizeof err) != SQLITE_OK);
    CHECK(strstr(err, "syntax error") != NULL);
    CHECK_EQ_INT(sqldb_open(&ro, path, SQLDB_READONLY, 1000, NULL, err, sizeof err), 0);
    CHECK(sqldb_int(ro, "SELECT count(*) FROM t", -1) == 3);
    CHECK(sqldb_exec(ro, "INSERT INTO t VALUES(5)", NULL, 0) != SQLITE_OK);
    sqldb_close(ro);
    sqldb_close(db); /* finalizes st too */
    sqldb_close(NULL);
    remove_db();
}

static void test_open_fails(void)
{
    sqlite3 *db = (sqlite3 *)1;
    char err[300] = "";
    CHECK_EQ_INT(sqldb_open(&db, "/nonexistent-dir/x.db", 0, 0, NULL, err, sizeof err), GK_EIO);
    CHECK(db == NULL);
    CHECK(strstr(err, "/nonexistent-dir/x.db: ") == err);
    CHECK_EQ_INT(
        sqldb_open(&db, "/tmp/gasket-no-such.db", SQLDB_READONLY, 0, NULL, err, sizeof err),
        GK_EIO);
    snprintf(path, sizeof path, "/tmp/gasket-test-sqldb-%d.db", (int)getpid());
    remove_db();
    CHECK_EQ_INT(sqldb_open(&db, path, 0, 0, "PRAGMA nonsense(", err, sizeof err), GK_ESTORE);
    CHECK(db == NULL);
    remove_db();
}

int main(void)
{
    RUN(test_open_write_read);
    RUN(test_open_fails);
    TEST_MAIN_END();
}
