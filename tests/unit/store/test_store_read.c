/* test_store_read.c: unit tests of store_read() (src/store/store_read.c).
 *
 * Reads run on libuv's worker pool while the writer appends: each sees one
 * consistent snapshot (rollups equal to the measurements' aggregates, every
 * document acknowledged before the read was queued), at most 4 connections
 * are ever opened, idle connections do not keep the loop alive, and
 * store_close() with reads in flight lets the running ones finish and fails
 * the others. alarm() turns a hang into a failure. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/store.h"
#include "test.h"
#include "store_fixture.h"

#define NMEAS 4

/* Shared by the worker threads, under mu. */
static uv_mutex_t mu;
static sqlite3 *seen[16];
static int nseen, running, max_running;

static void note_db(sqlite3 *db)
{
    uv_mutex_lock(&mu);
    int i = 0;
    while (i < nseen && seen[i] != db)
        i++;
    if (i == nseen && nseen < 16) seen[nseen++] = db;
    if (++running > max_running) max_running = running;
    uv_mutex_unlock(&mu);
}

static void unnote_db(void)
{
    uv_mutex_lock(&mu);
    running--;
    uv_mutex_unlock(&mu);
}

static long long one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -2;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -3;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

struct read {
    long long acked_at_submit;
    long long docs, meas, diff, write_rc;
    int done_calls, status;
};

/* Worker thread: one snapshot over several statements. */
static void read_fn(sqlite3 *db, void *arg)
{
    struct read *r = arg;
    note_db(db);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    r->docs = one_int(db, "SELECT count(*) FROM docs");
    r->meas = one_int(db, "SELECT count(*) FROM measurements");
    r->diff = one_int(db, FX_ROLLUP_1M_DIFF);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    /* neither file can be written through a reader (docs is a view there) */
    r->write_rc = sqlite3_exec(db, "DELETE FROM main.docs", NULL, NULL, NULL) & 0xff;
    if (r->write_rc == SQLITE_READONLY)
        r->write_rc = sqlite3_exec(db, "DELETE FROM hot1.docs", NULL, NULL, NULL) & 0xff;
    unnote_db();
}

static void read_done(void *arg, int status)
{
    struct read *r = arg;
    r->done_calls++;
    r->status = status;
}

/* The test's driver: each tick appends a wave of documents and queues one
 * read, for TICKS ticks. */
enum { TICKS = 40, WAVE = 250 };
struct driver {
    uv_timer_t timer;
    struct store *s;
    int ticks;
    long long acked, sent;
    struct read reads[TICKS];
};

static void on_ack(void *ud, const struct store_ack *ack)
{
    struct driver *d = ud;
    CHECK_EQ_INT(ack->status, 0);
    d->acked++;
}

static void on_tick(uv_timer_t *t)
{
    struct driver *d = t->data;
    struct store_meas m[NMEAS] = {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}};
    for (int i = 0; i < WAVE; i++, d->sent++) {
        m[0].value = (double)(d->sent % 13) / 4;
        struct store_doc doc = {.index = "r",
                                .source = "{}",
                                .source_len = 2,
                                .ts_ms = 1700000000000 + d->sent * 37,
                                .groupid = "g",
                                .nmeas = NMEAS,
                                .meas = m};
        store_append(d->s, &doc, on_ack, d);
    }
    struct read *r = &d->reads[d->ticks];
    r->acked_at_submit = d->acked;
    store_read(d->s, read_fn, read_done, r);
    if (++d->ticks == TICKS) uv_timer_stop(t);
}

static void test_concurrent(void)
{
    static struct driver d;
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    memset(&d, 0, sizeof d);
    nseen = max_running = 0;
    d.s = fx_open(&loop, dir, 0, 0);
    d.timer.data = &d;
    uv_timer_init(&loop, &d.timer);
    uv_timer_start(&d.timer, on_tick, 0, 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&d.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(d.acked, (long long)TICKS * WAVE);
    int grew = 0;
    for (int i = 0; i < TICKS; i++) {
        struct read *r = &d.reads[i];
        CHECK_EQ_INT(r->done_calls, 1);
        CHECK_EQ_INT(r->status, 0);
        CHECK(r->docs >= r->acked_at_submit);
        CHECK_EQ_INT(r->meas, r->docs * NMEAS);
        CHECK_EQ_INT(r->diff, 0);
        CHECK_EQ_INT(r->write_rc, SQLITE_READONLY);
        grew += i > 0 && r->docs > d.reads[i - 1].docs;
    }
    printf("test_concurrent: %d connections, %d reads at once at most, %d of %d reads saw more"
           " documents than the previous one\n",
           nseen, max_running, grew, TICKS - 1);
    CHECK(nseen >= 1 && nseen <= 4);
    CHECK(d.reads[0].docs < (long long)TICKS * WAVE); /* reads ran while writing */
    CHECK(!uv_loop_alive(&loop));                     /* idle connections keep nothing alive */
    fx_close(&loop, d.s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

static void slow_fn(sqlite3 *db, void *arg)
{
    struct read *r = arg;
    note_db(db);
    r->docs = one_int(db, "SELECT count(*) FROM docs");
    usleep(100000);
    unnote_db();
}

/* A read that leaves a statement open and a transaction begun. */
static void sloppy_fn(sqlite3 *db, void *arg)
{
    sqlite3_stmt *st;
    (void)arg;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "SELECT id FROM docs", -1, &st, NULL);
    sqlite3_step(st);
}

/* store_close() with reads in flight: the running ones finish with status
 * 0, the queued ones get GK_ESTORE without running; nothing leaks. */
static void test_close_inflight(void)
{
    enum { N = 12 };
    static struct read r[N];
    struct read sloppy = {0};
    struct rec ack = {0};
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    memset(r, 0, sizeof r);
    struct store *s = fx_open(&loop, dir, 0, 0);
    struct store_doc doc = {.index = "r", .source = "{}", .source_len = 2, .ts_ms = 1};
    store_append(s, &doc, fx_on_ack, &ack);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_read(s, sloppy_fn, read_done, &sloppy);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(sloppy.done_calls, 1);
    CHECK_EQ_INT(sloppy.status, 0);
    store_append(s, &doc, fx_on_ack, &ack);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(ack.status, 0);
    for (int i = 0; i < N; i++) {
        r[i].docs = -1;
        store_read(s, slow_fn, read_done, &r[i]);
    }
    usleep(30000); /* let the workers start the first reads */
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    int ran = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(r[i].done_calls, 1);
        if (r[i].status == 0) {
            ran++;
            CHECK_EQ_INT(r[i].docs, 2); /* the sloppy read left no stale snapshot */
        } else {
            failed++;
            CHECK_EQ_INT(r[i].status, GK_ESTORE);
            CHECK_EQ_INT(r[i].docs, -1);
        }
    }
    printf("test_close_inflight: %d reads finished, %d failed\n", ran, failed);
    CHECK(ran >= 1 && failed >= 1 && ran + failed == N);
    fx_rm_dir(dir);
}

/* The first read opens a connection lazily; a failing open gives GK_ESTORE. */
static void test_open_fails(void)
{
    struct read r = {0};
    char path[300];
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    snprintf(path, sizeof path, "%s/gasket.db", dir);
    CHECK_EQ_INT(chmod(path, 0), 0);
    if (access(path, R_OK) == 0) { /* root: permissions do not stop it */
        CHECK_EQ_INT(rename(path, "/tmp/gasket-store-gone.db"), 0);
        snprintf(path, sizeof path, "%s", "/tmp/gasket-store-gone.db");
    }
    r.docs = -1;
    store_read(s, slow_fn, read_done, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r.done_calls, 1);
    CHECK_EQ_INT(r.status, GK_ESTORE);
    CHECK_EQ_INT(r.docs, -1);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    unlink("/tmp/gasket-store-gone.db");
    fx_rm_dir(dir);
}

int main(void)
{
    alarm(300);
    uv_mutex_init(&mu);
    RUN(test_concurrent);
    RUN(test_close_inflight);
    RUN(test_open_fails);
    uv_mutex_destroy(&mu);
    TEST_MAIN_END();
}
