/* test_store_zip.c: documents kept compressed in gasket.db (store_zip.c).
 *
 * Seed-shaped documents of one index are compressed with a dictionary
 * trained on them once enough are at hand, and read back byte for byte
 * through the readers' views; an index with too few documents keeps them
 * as posted; documents moved before their index had a dictionary are
 * compressed later, a slice per move; a damaged document is an error, not
 * a wrong answer. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_int.h"
#include "test.h"
#include "store_fixture.h"

#define NDOCS 700

struct posted {
    char src[512];
    size_t len;
    struct rec r;
};

static struct posted docs[NDOCS];

/* A document shaped as a seed reading (values and times vary). */
static void make_source(struct posted *p, int i)
{
    p->len = (size_t)snprintf(
        p->src, sizeof p->src,
        "{\"groupid\":\"%d\",\"gps\":\"37.5949, 126.9063\",\"no2\":{\"sensorid\":\"0000\","
        "\"sensortype\":\"8\",\"value\":\"%d.%02d\",\"createdtime\":\"2026-11-27 02:%02d:%02d\"},"
        "\"co\":{\"sensorid\":\"0001\",\"sensortype\":\"8\",\"value\":\"%d.%02d\","
        "\"createdtime\":\"2026-11-27 02:%02d:%02d\"},\"date\":\"2026-11-27 02:%02d:%02d\"}",
        i % 50, rand() % 90, rand() % 100, i / 60 % 60, i % 60, rand() % 30, rand() % 100,
        i / 60 % 60, i % 60, i / 60 % 60, i % 60);
}

static void append_docs(uv_loop_t *loop, struct store *s, const char *index, int from, int to)
{
    for (int i = from; i < to; i++) {
        struct store_doc d = {.index = index,
                              .source = docs[i].src,
                              .source_len = docs[i].len,
                              .ts_ms = 1764210000000 + i * 1000LL,
                              .groupid = "g"};
        store_append(s, &d, fx_on_ack, &docs[i].r);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = from; i < to; i++)
        CHECK_EQ_INT(docs[i].r.status, 0);
}

/* How many of docs[from, to) read back through the views byte for byte. */
static int same_sources(sqlite3 *db, int from, int to)
{
    sqlite3_stmt *st;
    int same = 0;
    if (sqlite3_prepare_v2(db, "SELECT gk_unzip(source) FROM docs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (int i = from; i < to; i++) {
        sqlite3_bind_int64(st, 1, atoll(docs[i].r.id));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
            (size_t)sqlite3_column_bytes(st, 0) == docs[i].len &&
            memcmp(sqlite3_column_text(st, 0), docs[i].src, docs[i].len) == 0)
            same++;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return same;
}

static sqlite3 *views(const char *dir)
{
    sqlite3 *db = fx_db(dir);
    CHECK_EQ_INT(fx_reader_views(db), SQLITE_OK);
    return db;
}

static void test_compressed(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    append_docs(&loop, s, "z", 0, 600);
    append_docs(&loop, s, "small", 600, 610);
    fx_close(&loop, s);

    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.dicts WHERE idx = 'z'"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.dicts"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.docs WHERE idx = 'z'"
                               " AND typeof(source) = 'blob'"),
                 600);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.docs WHERE idx = 'small'"
                               " AND typeof(source) = 'text'"),
                 10);
    /* a third of the bytes at most (seed readings: about a seventh) */
    long long posted = 0;
    for (int i = 0; i < 600; i++)
        posted += (long long)docs[i].len;
    long long kept = fx_q_dir(dir, "SELECT sum(length(source)) FROM main.docs WHERE idx = 'z'");
    printf("test_compressed: %lld bytes posted, %lld kept\n", posted, kept);
    CHECK(kept > 0 && kept * 3 < posted);

    sqlite3 *db = views(dir);
    CHECK_EQ_INT(same_sources(db, 0, 610), 610);
    /* what queries do with a source works on the documents as posted */
    CHECK_EQ_INT(fx_q(db, "SELECT count(*) FROM docs WHERE idx = 'z'"
                          " AND json_extract(gk_unzip(source), '$.no2.sensorid') = '0000'"),
                 600);
    /* a damaged document is an error, never another document */
    CHECK_EQ_INT(fx_q(db, "UPDATE main.docs SET source = substr(source, 1, 20) WHERE id = 1"
                          " RETURNING 0"),
                 0);
    CHECK_EQ_INT(fx_q(db, "SELECT length(gk_unzip(source)) FROM docs WHERE id = 1"), -2);
    sqlite3_close(db);
    uv_loop_close(&loop);
    fx_rm_dir(dir);
}

/* Documents moved before their index had a dictionary are compressed by
 * later moves; reopening loads the dictionary again. */
static void test_backfill(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    append_docs(&loop, s, "late", 0, 100);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.dicts"), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.docs WHERE typeof(source) = 'text'"),
                 100);

    s = fx_open(&loop, dir, 0, 0);
    append_docs(&loop, s, "late", 100, 400);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.dicts WHERE done = upto"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.docs WHERE typeof(source) = 'blob'"),
                 400);

    s = fx_open(&loop, dir, 0, 0);
    append_docs(&loop, s, "late", 400, 450);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.dicts"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM main.docs WHERE typeof(source) = 'blob'"),
                 450);
    sqlite3 *db = views(dir);
    CHECK_EQ_INT(same_sources(db, 0, 450), 450);
    sqlite3_close(db);
    uv_loop_close(&loop);
    fx_rm_dir(dir);
}

int main(void)
{
    srand(12);
    for (int i = 0; i < NDOCS; i++)
        make_source(&docs[i], i);
    RUN(test_compressed);
    RUN(test_backfill);
    TEST_MAIN_END();
}
