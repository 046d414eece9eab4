/* test_store.c: unit tests of the document store (src/store).
 *
 * Each test runs a real libuv loop against a store in a fresh mkdtemp
 * directory, checks exact callback counts and statuses, and reads the
 * tables back through a separate SQLite connection. Disk full is tested
 * twice: with the max_pages quota (a real SQLITE_FULL, always runs) and with
 * a real full filesystem on a tiny tmpfs (runs only where mount(2) is
 * allowed, e.g. as root; skipped otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "store/store.h"
#include "hot_view.h"
#include "test.h"

#define NMEAS 4

struct rec {
    int calls;
    int status;
    int64_t seq;
    char id[24];
};

static const char *const meas_names[NMEAS] = {"temp", "hum", "pres", "co2"};

static void on_ack(void *ud, const struct store_ack *ack)
{
    struct rec *r = ud;
    r->calls++;
    r->status = ack->status;
    r->seq = ack->seq_no;
    memcpy(r->id, ack->id, sizeof r->id);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/gasket-store-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_dir(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Queues one document of index `index` (source padded to srclen bytes). */
static void append(struct store *s, const char *index, int i, size_t srclen, struct rec *r)
{
    static char src[16384];
    struct store_meas meas[NMEAS];
    int n = snprintf(src, sizeof src, "{\"i\":%d,\"pad\":\"", i);
    size_t len = srclen > (size_t)n + 2 ? srclen : (size_t)n + 2;
    /* letters that do not compress: srclen is what the journal writes too */
    uint32_t x = 2463534242u + (uint32_t)i;
    for (size_t k = (size_t)n; k < len - 2; k++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        src[k] = (char)('a' + x % 26);
    }
    memcpy(src + len - 2, "\"}", 2);
    for (int k = 0; k < NMEAS; k++) {
        meas[k].name = meas_names[k];
        meas[k].value = i * 10 + k + 0.5;
    }
    struct store_doc doc = {.index = index,
                            .source = src,
                            .source_len = len,
                            .ts_ms = 1700000000000 + i,
                            .groupid = "g1",
                            .nmeas = NMEAS,
                            .meas = meas};
    store_append(s, &doc, on_ack, r);
    memset(src, 0, len); /* the store must have its own copy */
}

static struct store *open_store(uv_loop_t *loop, const char *dir, enum store_durability dur,
                                size_t max_batch, unsigned max_pages)
{
    struct store_options opt = {
        .dir = dir, .durability = dur, .max_batch = max_batch, .max_pages = max_pages};
    struct store *s = NULL;
    CHECK_EQ_INT(store_open(&s, loop, &opt), 0);
    return s;
}

static void close_store(uv_loop_t *loop, struct store *s)
{
    store_close(s);
    uv_run(loop, UV_RUN_DEFAULT); /* runs the async handle's close callback */
}

/* Runs one SQL query on a separate connection; returns its first column. */
static long long q_int(const char *dir, const char *sql)
{
    char path[256];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    snprintf(path, sizeof path, "%s/gasket.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -2;
    }
    fx_see_hot(db, dir);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void check_recs_ok(const struct rec *r, int n, int64_t first_seq)
{
    long long prev_id = 0;
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(r[i].calls, 1);
        CHECK_EQ_INT(r[i].status, 0);
        CHECK_EQ_INT(r[i].seq, first_seq + i);
        CHECK(atoll(r[i].id) > prev_id);
        prev_id = atoll(r[i].id);
    }
}

static void test_append(void)
{
    enum { N = 500 };
    static struct rec r[N];
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    memset(r, 0, sizeof r);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < N; i++)
        append(s, "sensors", i, 0, &r[i]);
    CHECK_EQ_INT(r[0].calls, 0);   /* never inside store_append */
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once no callback is pending */
    check_recs_ok(r, N, 0);
    const struct store_stats *st = store_get_stats(s);
    uint64_t nlat = 0;
    for (int b = 0; b < STORE_LAT_NBUCKETS; b++)
        nlat += st->lat_count[b];
    CHECK_EQ_INT(st->docs, N);
    CHECK_EQ_INT(st->failures, 0);
    CHECK(st->commits >= 1);
    CHECK_EQ_INT(nlat, st->commits);
    CHECK(st->lat_sum > 0);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);

    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), N);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM measurements"), N * NMEAS);
    CHECK_EQ_INT(q_int(dir, "SELECT next_seq FROM indices WHERE name = 'sensors'"), N);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs WHERE seq = id - 1 AND idx = 'sensors'"
                            " AND groupid = 'g1' AND ts = 1700000000000 + seq"
                            " AND json_extract(gk_unzip(source), '$.i') = seq"),
                 N);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM measurements m JOIN docs d ON d.id = m.doc"
                            " WHERE m.ts = d.ts AND m.grp = 'g1' AND m.value ="
                            " d.seq * 10 + (CASE m.name WHEN 'temp' THEN 0 WHEN 'hum' THEN 1"
                            " WHEN 'pres' THEN 2 WHEN 'co2' THEN 3 END) + 0.5"),
                 N * NMEAS);
    rm_dir(dir);
}

static void test_reopen(void)
{
    static struct rec a[10], b[10], c[3];
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < 10; i++)
        append(s, "a", i, 0, &a[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    close_store(&loop, s);
    check_recs_ok(a, 10, 0);
    /* ids are never reused, even after the newest documents are deleted */
    CHECK_EQ_INT(q_int(dir, "DELETE FROM main.docs WHERE id > 5 RETURNING 0"), 0);

    s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < 10; i++)
        append(s, "a", 10 + i, 0, &b[i]);
    for (int i = 0; i < 3; i++)
        append(s, "b", i, 0, &c[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    check_recs_ok(b, 10, 10);
    check_recs_ok(c, 3, 0);
    CHECK(atoll(b[0].id) > atoll(a[9].id));
    CHECK(atoll(c[0].id) > atoll(b[9].id));
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs WHERE idx = 'a'"), 15);
    CHECK_EQ_INT(q_int(dir, "SELECT next_seq FROM indices WHERE name = 'a'"), 20);
    CHECK_EQ_INT(q_int(dir, "SELECT next_seq FROM indices WHERE name = 'b'"), 3);
    rm_dir(dir);
}

static void test_group_commit(void)
{
    enum { N = 1000 };
    static struct rec r[N];
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < N; i++)
        append(s, "sensors", i, 0, &r[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_recs_ok(r, N, 0);
    printf("test_group_commit: %d docs in %llu commits\n", N,
           (unsigned long long)store_get_stats(s)->commits);
    CHECK(store_get_stats(s)->commits <= N / 20);
    CHECK_EQ_INT(store_get_stats(s)->docs, N);
    close_store(&loop, s);

    /* max_batch bounds a transaction */
    memset(r, 0, sizeof r);
    s = open_store(&loop, dir, STORE_DURABILITY_FULL, 100, 0);
    for (int i = 0; i < N; i++)
        append(s, "sensors", i, 0, &r[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_recs_ok(r, N, N);
    CHECK(store_get_stats(s)->commits >= N / 100);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    rm_dir(dir);
}

static void test_durability_normal(void)
{
    enum { N = 200 };
    static struct rec r[N];
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_NORMAL, 0, 0);
    for (int i = 0; i < N / 2; i++)
        append(s, "sensors", i, 0, &r[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_set_durability(s, STORE_DURABILITY_FULL);
    for (int i = N / 2; i < N; i++)
        append(s, "sensors", i, 0, &r[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_set_durability(s, STORE_DURABILITY_NORMAL);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    check_recs_ok(r, N, 0);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), N);
    rm_dir(dir);
}

static void test_ping(void)
{
    struct rec r = {0};
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    store_ping(s, on_ack, &r);
    CHECK_EQ_INT(r.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r.calls, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(store_get_stats(s)->commits, 1);
    CHECK_EQ_INT(store_get_stats(s)->docs, 0);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM health WHERE at > 1600000000000"), 1);
    rm_dir(dir);
}

/* store_close commits what is still queued and runs its callbacks. */
static void test_close_flushes(void)
{
    enum { N = 300 };
    static struct rec r[N];
    uv_loop_t loop;
    char *dir = make_dir();
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < N; i++)
        append(s, "sensors", i, 0, &r[i]);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    check_recs_ok(r, N, 0);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), N);
    rm_dir(dir);
}

/* Appends one document and waits for its callback. */
static int append_one(uv_loop_t *loop, struct store *s, int i, size_t srclen, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    append(s, "sensors", i, srclen, r);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r->calls, 1);
    return r->status;
}

/* Appends n documents in one loop turn; checks they all failed with GK_EFULL. */
static void append_all_full(uv_loop_t *loop, struct store *s, int first, int n)
{
    static struct rec r[64];
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++)
        append(s, "sensors", first + i, 12000, &r[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(r[i].calls, 1);
        CHECK_EQ_INT(r[i].status, GK_EFULL);
        CHECK_EQ_INT(r[i].seq, -1);
        CHECK_EQ_STR(r[i].id, "");
    }
}

static void test_quota_full(void)
{
    struct rec r;
    uv_loop_t loop;
    char *dir = make_dir();
    int ok = 0;
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 64);
    while (ok < 200 && append_one(&loop, s, ok, 4000, &r) == 0)
        ok++;
    /* the failing group (one document) left nothing behind */
    CHECK(ok > 10 && ok < 200);
    CHECK_EQ_INT(r.status, GK_EFULL);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), ok);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM measurements"), ok * NMEAS);
    CHECK_EQ_INT(q_int(dir, "SELECT next_seq FROM indices"), ok);
    append_all_full(&loop, s, ok, 20);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), ok);
    CHECK(store_get_stats(s)->failures >= 2);
    close_store(&loop, s);

    /* with room again (no quota), the next document continues the seq */
    s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    CHECK_EQ_INT(append_one(&loop, s, ok, 4000, &r), 0);
    CHECK_EQ_INT(r.seq, ok);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), ok + 1);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM measurements"), (ok + 1) * NMEAS);
    CHECK_EQ_INT(q_int(dir, "SELECT max(seq) FROM docs"), ok);
    rm_dir(dir);
}

/* Fills the file system of dir with a file dir/filler. */
static void fill_disk(const char *dir)
{
    static char chunk[65536];
    char path[256];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    for (size_t n = sizeof chunk; n > 0 && fd >= 0; n /= 2)
        while (write(fd, chunk, n) == (ssize_t)n)
            ;
    if (fd >= 0) close(fd);
}

static void test_disk_full_tmpfs(void)
{
    struct rec r;
    uv_loop_t loop;
    char *dir = make_dir(), path[256];
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        printf("test_disk_full_tmpfs: skipped (mount tmpfs: %s)\n", strerror(errno));
        rm_dir(dir);
        return;
    }
    uv_loop_init(&loop);
    struct store *s = open_store(&loop, dir, STORE_DURABILITY_FULL, 0, 0);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(append_one(&loop, s, i, 500, &r), 0);
    fill_disk(dir);
    /* 12000 letters: more than a page of the journal, even compressed */
    CHECK_EQ_INT(append_one(&loop, s, 20, 12000, &r), GK_EFULL);
    memset(&r, 0, sizeof r);
    store_ping(s, on_ack, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(r.status, GK_EFULL);
    append_all_full(&loop, s, 20, 20);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), 20);
    snprintf(path, sizeof path, "%s/filler", dir);
    unlink(path);
    CHECK_EQ_INT(append_one(&loop, s, 20, 4000, &r), 0);
    CHECK_EQ_INT(r.seq, 20);
    close_store(&loop, s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM docs"), 21);
    CHECK_EQ_INT(q_int(dir, "SELECT count(*) FROM measurements"), 21 * NMEAS);
    CHECK_EQ_INT(q_int(dir, "SELECT max(seq) FROM docs"), 20);
    umount2(dir, MNT_DETACH);
    rm_dir(dir);
}

static void test_open_fails(void)
{
    uv_loop_t loop;
    struct store *s = (struct store *)&loop;
    struct store_options opt = {.dir = "/proc/gasket-no-such/dir"};
    uv_loop_init(&loop);
    CHECK_EQ_INT(store_open(&s, &loop, &opt), GK_EIO);
    CHECK(s == NULL);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_append);
    RUN(test_reopen);
    RUN(test_group_commit);
    RUN(test_durability_normal);
    RUN(test_ping);
    RUN(test_close_flushes);
    RUN(test_quota_full);
    RUN(test_disk_full_tmpfs);
    RUN(test_open_fails);
    TEST_MAIN_END();
}
