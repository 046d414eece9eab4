/* test_search_status.c: unit tests of search_status_of() (gateway/search.c),
 * the one mapping of the query API's GK_E* codes (store/query.h) to HTTP
 * statuses: each code's status, and that the error object the query layer
 * returns with a code holds the status the gateway answers with (run on an
 * in-memory database: an `indices` table without rows, or no table at all
 * for a database error, whose log lines are expected). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gateway/search.h"
#include "store/query.h"
#include "store/store_int.h"
#include "test.h"

static void test_each_code(void)
{
    CHECK_EQ_INT(search_status_of(0), 200);
    CHECK_EQ_INT(search_status_of(GK_EINVAL), 400);
    CHECK_EQ_INT(search_status_of(GK_ELIMIT), 400);
    CHECK_EQ_INT(search_status_of(GK_ENOTFOUND), 404);
    CHECK_EQ_INT(search_status_of(GK_ESTORE), 500);
    CHECK_EQ_INT(search_status_of(GK_ECLOSED), 503);
    CHECK_EQ_INT(search_status_of(GK_ETIMEDOUT), 504);
    /* anything else is the server's fault */
    CHECK_EQ_INT(search_status_of(GK_ENOMEM), 500);
    CHECK_EQ_INT(search_status_of(GK_EIO), 500);
    CHECK_EQ_INT(search_status_of(-1000), 500);
}

static void test_timedout_has_a_name(void)
{
    CHECK_EQ_STR(gk_strerror(GK_ETIMEDOUT), "timed out");
}

/* The "status" of reply, which must be what the gateway answers for rc. */
static void check_agrees(int rc, int want_rc, json_t *reply)
{
    CHECK_EQ_INT(rc, want_rc);
    CHECK(reply != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(reply, "status")), search_status_of(rc));
    json_decref(reply);
}

static struct query *parsed(const char *index)
{
    struct query_env env = {.zone = tz_utc(), .now_ms = 1630660489000};
    struct query *q = NULL;
    json_t *err = NULL;
    CHECK_EQ_INT(query_parse(&q, QUERY_SEARCH, index, NULL, 0, &env, &err), 0);
    return q;
}

static void test_parse_error_agrees(void)
{
    struct query_env env = {.zone = tz_utc(), .now_ms = 1630660489000};
    struct query *q = NULL;
    json_t *err = NULL;
    const char *body = "{\"query\":{\"fuzzy\":{}}}";
    int rc = query_parse(&q, QUERY_SEARCH, "gasdetect", body, strlen(body), &env, &err);
    CHECK(q == NULL);
    check_agrees(rc, GK_EINVAL, err);
}

static int count_row(void *ud, int64_t id, const char *src, size_t len)
{
    (void)id, (void)src, (void)len;
    ++*(size_t *)ud;
    return 0;
}

/* An export page: no status in a reply, the code alone. */
static void test_scan_codes(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_EQ_INT(store_zip_reader(db), SQLITE_OK); /* what a store reader has */
    CHECK_EQ_INT(
        sqlite3_exec(db,
                     "CREATE TABLE indices(name TEXT);"
                     "CREATE TABLE docs(id INTEGER PRIMARY KEY, idx TEXT, source TEXT);"
                     "INSERT INTO indices VALUES ('gasdetect');"
                     "INSERT INTO docs VALUES (1, 'gasdetect', '{}'), (2, 'gasdetect', '{}');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    struct query *q = parsed("gasdetect"), *nope = parsed("nope");
    size_t n = 0;
    CHECK_EQ_INT(query_scan(q, db, 0, 10, 0, count_row, &n), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(query_scan(nope, db, 0, 10, 0, count_row, &n), GK_ENOTFOUND);
    CHECK_EQ_INT(n, 2);
    /* a deadline long past stops a page that reads many rows (the
     * progress handler runs every 1000 SQLite instructions) */
    CHECK_EQ_INT(sqlite3_exec(db,
                              "WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k"
                              " WHERE i < 20000) INSERT INTO docs SELECT i, 'other', '{}' FROM k",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(query_scan(q, db, 2, 10, 1, count_row, &n), GK_ETIMEDOUT);
    query_free(q);
    query_free(nope);
    sqlite3_close(db);
}

/* _search and _doc of index on db answer want, and their replies agree. */
static void search_and_doc_agree(sqlite3 *db, const char *index, int want)
{
    struct query *q = parsed(index);
    json_t *reply = NULL;
    int rc = query_exec(q, db, &reply);
    check_agrees(rc, want, reply);
    rc = query_get_doc(db, index, "1", &reply);
    check_agrees(rc, want, reply);
    query_free(q);
}

static void test_not_found_agrees(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE indices(name TEXT)", NULL, NULL, NULL), SQLITE_OK);
    search_and_doc_agree(db, "nope", GK_ENOTFOUND);
    json_t *reply = NULL;
    int rc = query_index_info(db, "nope", &reply);
    check_agrees(rc, GK_ENOTFOUND, reply);
    sqlite3_close(db);
}

static void test_store_error_agrees(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK); /* no tables: every query fails */
    search_and_doc_agree(db, "gasdetect", GK_ESTORE);
    json_t *reply = NULL;
    CHECK_EQ_INT(query_index_info(db, "gasdetect", &reply), GK_ESTORE);
    CHECK(reply == NULL);
    char *out = NULL;
    size_t len;
    CHECK_EQ_INT(query_cat_indices(db, 1, NULL, NULL, &out, &len), GK_ESTORE);
    free(out);
    struct query *q = parsed("gasdetect");
    CHECK_EQ_INT(query_scan(q, db, 0, 10, 0, count_row, &len), GK_ESTORE);
    query_free(q);
    sqlite3_close(db);
}

int main(void)
{
    RUN(test_each_code);
    RUN(test_timedout_has_a_name);
    RUN(test_parse_error_agrees);
    RUN(test_not_found_agrees);
    RUN(test_store_error_agrees);
    RUN(test_scan_codes);
    TEST_MAIN_END();
}
