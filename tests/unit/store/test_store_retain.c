/* test_store_retain.c: unit tests of retention (src/store/store_retain.c).
 *
 * Old documents (2 to 3 hours old, 1500 of them with one same ts, across
 * groups and without group) of an index with a 1 hour max age vanish with
 * their measurements and rollups; recent ones and another index stay;
 * ingest acknowledgements keep arriving while the pass deletes in batches;
 * store_close() in the middle of a pass stops it between two batches. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "test.h"
#include "store_fixture.h"

#define NMEAS 3
#define HOUR  3600000LL

enum { NOLD = 20000, NSAME = 1500, NNEW = 300, NKEEP = 200 };

static void append_doc(struct store *s, const char *index, int64_t ts, int i, store_cb cb, void *ud)
{
    static const char *const groups[] = {"g0", "g1", "g2", NULL};
    struct store_meas m[NMEAS] = {{"co", i % 50}, {"no2", (i % 7) * 0.5}, {"h2", -i}};
    struct store_doc d = {.index = index,
                          .source = "{\"x\":1}",
                          .source_len = 7,
                          .ts_ms = ts,
                          .groupid = groups[i % 4],
                          .nmeas = NMEAS,
                          .meas = m};
    store_append(s, &d, cb, ud);
}

static void count_ack(void *ud, const struct store_ack *ack)
{
    int *n = ud;
    (*n) += ack->status == 0;
}

/* Appends the old, recent and other-index documents; returns "now". */
static int64_t fill(uv_loop_t *loop, struct store *s)
{
    int64_t now = clock_now_ms();
    int acked = 0;
    for (int i = 0; i < NOLD; i++) {
        int64_t ts = i < NSAME ? now - 3 * HOUR : now - 3 * HOUR + (int64_t)i * (HOUR / NOLD);
        append_doc(s, "t", ts, i, count_ack, &acked);
    }
    for (int i = 0; i < NNEW; i++)
        append_doc(s, "t", now - 600000 + i * 1000, i, count_ack, &acked);
    for (int i = 0; i < NKEEP; i++)
        append_doc(s, "keep", now - 5 * HOUR + i * 1000, i, count_ack, &acked);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acked, NOLD + NNEW + NKEEP);
    return now;
}

/* A chain of appends, one at a time, while the pass runs. */
struct chain {
    struct store *s;
    sqlite3 *db;
    char old_sql[128];
    long long initial;
    int acks, during;
};

static void chain_next(struct chain *c);

static void chain_ack(void *ud, const struct store_ack *ack)
{
    struct chain *c = ud;
    CHECK_EQ_INT(ack->status, 0);
    c->acks++;
    long long left = fx_q(c->db, c->old_sql);
    if (left > 0 && left < c->initial) c->during++;
    if (store_get_stats(c->s)->retention_passes == 0) chain_next(c);
}

static void chain_next(struct chain *c)
{
    append_doc(c->s, "t", clock_now_ms(), c->acks, chain_ack, c);
}

static void test_retention(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir(), sql[256];
    struct chain c = {0};
    uv_loop_init(&loop);
    struct store *s = fx_open(&loop, dir, 0, 0);
    int64_t now = fill(&loop, s);
    int64_t mid = now - 90 * 60000; /* between the old and the recent ones */
    c.s = s;
    c.db = fx_db(dir);
    snprintf(c.old_sql, sizeof c.old_sql, "SELECT count(*) FROM docs WHERE idx = 't' AND ts < %lld",
             (long long)mid);
    c.initial = fx_q(c.db, c.old_sql);
    CHECK_EQ_INT(c.initial, NOLD);
    CHECK_EQ_INT(fx_q(c.db, FX_ROLLUP_1M_DIFF), 0);

    store_set_retention(s, "t", HOUR);
    chain_next(&c);
    uv_run(&loop, UV_RUN_DEFAULT); /* until the chain stops, after the pass */
    printf("test_retention: %d acks, %d of them while the pass was deleting\n", c.acks, c.during);
    CHECK(c.during >= 2);
    CHECK_EQ_INT(store_get_stats(s)->retention_passes, 1);
    CHECK_EQ_INT(store_get_stats(s)->retention_docs, NOLD);

    CHECK_EQ_INT(fx_q(c.db, c.old_sql), 0);
    CHECK_EQ_INT(fx_q(c.db, "SELECT count(*) FROM docs WHERE idx = 't'"), NNEW + c.acks);
    CHECK_EQ_INT(fx_q(c.db, "SELECT count(*) FROM docs WHERE idx = 'keep'"), NKEEP);
    CHECK_EQ_INT(fx_q(c.db, "SELECT count(*) FROM measurements"), (NNEW + c.acks + NKEEP) * NMEAS);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM rollup_1h WHERE idx = 't' AND t < %lld",
             (long long)mid);
    CHECK_EQ_INT(fx_q(c.db, sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM rollup_1m WHERE idx = 't' AND t < %lld",
             (long long)mid);
    CHECK_EQ_INT(fx_q(c.db, sql), 0);
    CHECK(fx_q(c.db, "SELECT count(*) FROM rollup_1h WHERE idx = 'keep'") >= 4 * NMEAS);
    CHECK_EQ_INT(fx_q(c.db, FX_ROLLUP_1M_DIFF), 0);
    CHECK_EQ_INT(fx_q(c.db, FX_ROLLUP_1H_DIFF), 0);
    CHECK_EQ_INT(fx_q(c.db, "SELECT count(*) FROM groups WHERE idx = 't'"), 4); /* kept */

    /* off again: the timer stops; nothing keeps the loop alive anyway */
    store_set_retention(s, "t", 0);
    CHECK(!uv_loop_alive(&loop));
    sqlite3_close(c.db);
    fx_close(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

struct poll {
    uv_timer_t timer;
    struct store *s;
    sqlite3 *db;
    long long initial;
    int closed;
};

/* Closes the store as soon as the pass has deleted something. */
static void on_poll(uv_timer_t *t)
{
    struct poll *p = t->data;
    if (fx_q(p->db, "SELECT count(*) FROM docs WHERE idx = 't'") == p->initial) return;
    store_close(p->s);
    p->closed = 1;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_close_during_pass(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    struct poll p = {0};
    uv_loop_init(&loop);
    p.s = fx_open(&loop, dir, 0, 0);
    fill(&loop, p.s);
    p.db = fx_db(dir);
    p.initial = fx_q(p.db, "SELECT count(*) FROM docs WHERE idx = 't'");
    store_set_retention(p.s, "t", HOUR);
    p.timer.data = &p;
    uv_timer_init(&loop, &p.timer);
    uv_timer_start(&p.timer, on_poll, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(p.closed);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    long long left = fx_q(p.db, "SELECT count(*) FROM docs WHERE idx = 't'");
    printf("test_close_during_pass: %lld of %lld documents left\n", left, p.initial);
    CHECK(left < p.initial && left >= NNEW);
    /* each batch is whole: documents and measurements go together */
    CHECK_EQ_INT(fx_q(p.db, "SELECT count(*) FROM measurements"), (left + NKEEP) * NMEAS);
    sqlite3_close(p.db);
    fx_rm_dir(dir);
}

int main(void)
{
    alarm(300);
    RUN(test_retention);
    RUN(test_close_during_pass);
    TEST_MAIN_END();
}
