/* test_store_idem.c: unit tests of the store's idempotency keys
 * (src/store/store_idem.c): one document per key whether the duplicate is
 * in the same transaction, in flight, remembered or only in the table
 * (after a reopen), a different fingerprint refused, the sweep of old
 * keys, and the upgrade of a schema 3 file (tests/fixtures/store-v3.db,
 * made by the gasketd before this change). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/store.h"
#include "test.h"

#include "store_fixture.h"

struct krec {
    int calls, status, dup;
    int64_t seq;
    char id[24];
};

static void on_kack(void *ud, const struct store_ack *ack)
{
    struct krec *r = ud;
    r->calls++;
    r->status = ack->status;
    r->dup = ack->dup;
    r->seq = ack->seq_no;
    memcpy(r->id, ack->id, sizeof r->id);
}

static struct store *open_window(uv_loop_t *loop, const char *dir, int64_t window_ms)
{
    struct store_options opt = {
        .dir = dir, .durability = STORE_DURABILITY_NORMAL, .idem_window_ms = window_ms};
    struct store *s = NULL;
    CHECK_EQ_INT(store_open(&s, loop, &opt), 0);
    return s;
}

/* Appends {"v":v} to index "i" with key (NULL: none) and fingerprint fp. */
static void put(struct store *s, const char *key, uint64_t fp, int v, struct krec *r)
{
    char src[64];
    int n = snprintf(src, sizeof src, "{\"v\":%d}", v);
    struct store_meas m = {"v", v};
    struct store_doc d = {.index = "i", .source = src, .source_len = (size_t)n,
                          .ts_ms = 1700000000000 + v, .groupid = "g", .nmeas = 1, .meas = &m,
                          .idem_key = key, .idem_len = key ? strlen(key) : 0, .idem_fp = fp};
    store_append(s, &d, on_kack, r);
}

/* What a caller does: asks the memory first, appends only when unknown.
 * Returns 1 when the memory took it. */
static int put_once(struct store *s, const char *key, uint64_t fp, int v, struct krec *r)
{
    if (store_idem_find(s, key, strlen(key), fp, on_kack, r)) return 1;
    put(s, key, fp, v, r);
    return 0;
}

static void test_same_transaction(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = open_window(&loop, dir, 0);
    struct krec a = {0}, b = {0}, c = {0};
    put(s, "p\nk1", 7, 1, &a); /* both queued: the writer sees the second in the */
    put(s, "p\nk1", 7, 2, &b); /* first's transaction */
    put(s, "p\nk2", 7, 3, &c);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(b.calls, 1);
    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(a.dup, 0);
    CHECK_EQ_INT(b.status, 0);
    CHECK_EQ_INT(b.dup, 1);
    CHECK_EQ_STR(b.id, a.id);
    CHECK_EQ_INT(b.seq, a.seq);
    CHECK_EQ_INT(c.dup, 0);
    CHECK_EQ_INT(c.seq, a.seq + 1); /* the duplicate took no _seq_no */
    CHECK_EQ_INT(store_get_stats(s)->docs, 2);
    CHECK_EQ_INT(store_get_stats(s)->dups, 1);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM measurements"), 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT json_extract(source, '$.v') FROM docs ORDER BY id"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM idem JOIN docs ON docs.id = idem.doc"
                               " WHERE idem.seq = docs.seq"),
                 2);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

static void test_memory(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = open_window(&loop, dir, 0);
    struct krec a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    CHECK_EQ_INT(put_once(s, "p\nk", 9, 1, &a), 0);
    CHECK_EQ_INT(put_once(s, "p\nk", 9, 2, &b), 1); /* in flight: waits for a */
    CHECK_EQ_INT(put_once(s, "p\nk", 8, 3, &c), 1); /* another body: refused */
    CHECK_EQ_INT(b.calls + c.calls, 0);              /* never inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(b.calls, 1);
    CHECK_EQ_INT(b.status, 0);
    CHECK_EQ_INT(b.dup, 1);
    CHECK_EQ_STR(b.id, a.id);
    CHECK_EQ_INT(c.status, GK_EEXIST);
    CHECK_EQ_INT(put_once(s, "p\nk", 9, 4, &d), 1); /* committed: remembered */
    CHECK_EQ_INT(put_once(s, "q\nk", 9, 5, &e), 0); /* another principal's key */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(d.calls, 1);
    CHECK_EQ_INT(d.dup, 1);
    CHECK_EQ_STR(d.id, a.id);
    CHECK_EQ_INT(d.seq, a.seq);
    CHECK_EQ_INT(e.dup, 0);
    CHECK(strcmp(e.id, a.id) != 0);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 2);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

static void test_reopen(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = open_window(&loop, dir, 0);
    struct krec a = {0}, b = {0}, c = {0}, d = {0};
    put(s, "p\nold", 1, 1, &a);
    put(s, "p\nnew", 1, 2, &b);
    uv_run(&loop, UV_RUN_DEFAULT);
    fx_close(&loop, s);
    /* "old" committed an hour ago: past the memory, still in the window */
    CHECK_EQ_INT(fx_q_dir(dir, "UPDATE idem SET at = at - 3600000 WHERE key = CAST('p' || char(10)"
                               " || 'old' AS BLOB) RETURNING 0"),
                 0);
    s = open_window(&loop, dir, 0);
    CHECK_EQ_INT(put_once(s, "p\nnew", 1, 3, &c), 1); /* read back into memory */
    CHECK_EQ_INT(put_once(s, "p\nold", 1, 4, &d), 0); /* not in memory: the writer finds it */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(c.dup, 1);
    CHECK_EQ_STR(c.id, b.id);
    CHECK_EQ_INT(d.status, 0);
    CHECK_EQ_INT(d.dup, 1);
    CHECK_EQ_STR(d.id, a.id);
    CHECK_EQ_INT(d.seq, a.seq);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 2);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
}

/* A window of 2 s: keys older than that are swept (a pass a second), the
 * newer one stays; a key swept may be used again. */
static void test_sweep(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    char *dir = fx_make_dir();
    uv_loop_init(&loop);
    struct store *s = open_window(&loop, dir, 2000);
    struct krec r[4] = {{0}};
    put(s, "p\na", 1, 1, &r[0]);
    put(s, "p\nb", 1, 2, &r[1]);
    put(s, "p\nc", 1, 3, &r[2]);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* the keys are in the hot tier while the store is open: generation 1 is in hot1 */
    CHECK_EQ_INT(fx_q_dir(dir, "UPDATE hot1.idem SET at = at - 10000 WHERE doc < " /* a and b */
                               "(SELECT max(doc) FROM hot1.idem) RETURNING 0"),
                 0);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_timer, 1600, 0); /* keeps the loop running past one pass */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM (SELECT key FROM main.idem"
                               " UNION ALL SELECT key FROM hot1.idem)"),
                 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM hot1.idem WHERE key = CAST('p' || char(10) || 'c'"
                               " AS BLOB)"),
                 1);
    uv_close((uv_handle_t *)&t, NULL);
    fx_close(&loop, s);
    s = open_window(&loop, dir, 2000); /* the memory has not forgotten "a": reopen */
    put(s, "p\na", 1, 4, &r[3]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r[3].dup, 0);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 4);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ssize_t n = 0;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) n = -1;
    int ok = in >= 0 && out >= 0 && n == 0;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return ok ? 0 : -1;
}

/* A gasket.db of schema 3, written by the gasketd before idempotency keys:
 * upgraded at open, every document kept, new ones (with keys) after them. */
static void test_upgrade_v3(void)
{
    uv_loop_t loop;
    char *dir = fx_make_dir(), path[256];
    snprintf(path, sizeof path, "%s/gasket.db", dir);
    CHECK_EQ_INT(copy_file("tests/fixtures/store-v3.db", path), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "PRAGMA user_version"), 3);
    uv_loop_init(&loop);
    struct store *s = open_window(&loop, dir, 0);
    struct krec a = {0}, b = {0};
    put(s, "p\nk", 1, 1, &a);
    put(s, "p\nk", 1, 2, &b);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_STR(a.id, "6");
    CHECK_EQ_INT(b.dup, 1);
    fx_close(&loop, s);
    CHECK_EQ_INT(fx_q_dir(dir, "PRAGMA user_version"), 7);
    snprintf(path, sizeof path, "%s/gasket.db.schema3.bak", dir); /* the copy made first */
    CHECK_EQ_INT(access(path, F_OK), 0);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs"), 6);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs WHERE idx = 'gasdetect' AND id <= 3"), 3);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM docs WHERE idx = 'other'"), 2);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM idem"), 1);
    CHECK_EQ_INT(fx_q_dir(dir, "SELECT count(*) FROM pragma_integrity_check"
                               " WHERE integrity_check != 'ok'"),
                 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_rm_dir(dir);
}

int main(void)
{
    RUN(test_same_transaction);
    RUN(test_memory);
    RUN(test_reopen);
    RUN(test_sweep);
    RUN(test_upgrade_v3);
    TEST_MAIN_END();
}
