/* store_move.c: the hot tier, between the journal and gasket.db.
 *
 * Why: a group commit that wrote its documents, measurements and rollups
 * into gasket.db dirtied a page per group, per gas and per rollup level,
 * each written twice (WAL, then checkpoint): tens of kilobytes per reading.
 * Now a group commit appends one record to the journal (store_journal.c)
 * and syncs it (the acknowledgement waits for that, and only that), and
 * writes the documents into a hot file: a SQLite database kept on a tmpfs
 * (/dev/shm) so that its pages never reach a disk, with a document's
 * measurements in a blob of its row (store_hmeas.c) and no rollup rows
 * (readers add the hot documents up: store_hroll.c).
 *
 * Generations: documents are written a generation at a time, generation g
 * into hot file g & 1 (attached as hot0 and hot1). Every move_docs
 * documents or move_ms, at close and on a flush, the writer seals its
 * generation: it empties the other file (which held generation g - 1,
 * moved already) and goes on writing g + 1 there, while the mover, a thread
 * with a connection of its own, copies generation g into gasket.db in one
 * transaction, durable at its commit, which writes each page once for
 * thousands of readings. The writer never waits for a move (it seals the
 * next generation only once the mover is free), so a move costs the
 * acknowledgements nothing; the mover never writes a hot file, and the
 * writer's transactions never write gasket.db (retention and sweeps wait
 * for the move under way first). Once a move has committed, the journal
 * files that held only moved documents are deleted. At open both hot files
 * are made afresh and the journal's documents not moved yet are read back.
 *
 * Marks (gasket.db's meta table, written in the move's transaction):
 * `moved` (every document with id <= it is in gasket.db, with its
 * measurements and rollups) and `gen` (the last generation moved; the
 * next start numbers its generations from it). Readers see the three files
 * through temporary views named as the tables (store_view_sql): hot rows
 * count only above the marks, read in the same transaction as them, so a
 * reader never counts a document twice nor misses one while a move
 * commits; a hot file is emptied only a whole generation after its rows
 * were moved.
 *
 * Writer thread, except the mover's thread, store_view_sql, store_hot_path
 * and store_hot_attach. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "store/store_int.h"

#define SHM_DIR             "/dev/shm"
#define STORE_MOVER_BUSY_MS 5000 /* the mover's busy timeout on gasket.db */

/* "hot." stands for hot0. and hot1. (store_hot_sql) */
const char store_hot_schema_sql[] =
    "PRAGMA hot.journal_mode=WAL;"
    "PRAGMA hot.synchronous=OFF;"
    "CREATE TABLE hot.docs(id INTEGER PRIMARY KEY, idx TEXT NOT NULL, seq INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, groupid TEXT, source TEXT NOT NULL, m BLOB);"
    "CREATE INDEX hot.docs_idx_ts ON docs(idx, ts);"
    "CREATE INDEX hot.docs_idx_grp_ts ON docs(idx, groupid, ts, id, m);"
    "CREATE TABLE hot.groups(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " PRIMARY KEY(idx, grp)) WITHOUT ROWID;"
    "CREATE TABLE hot.indices(name TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);"
    "CREATE TABLE hot.health(id INTEGER PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE hot.idem(doc INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
    " seq INTEGER NOT NULL, fp INTEGER NOT NULL, at INTEGER NOT NULL);";

#define COLS_DOCS "id, idx, seq, ts, groupid, source"
#define COLS_MEAS "idx, grp, name, ts, doc, value"
#define COLS_ROLL "idx, grp, name, t, n, mn, mx, sm"
#define HOT_ROWS(cols, t, where)                                                                   \
    " UNION ALL SELECT " cols " FROM hot0." t " WHERE " where " UNION ALL SELECT " cols            \
    " FROM hot1." t " WHERE " where

/* The hot tier's rollups are not written: they are its rows added up,
 * by readers through the virtual tables temp.hroll_1m and _1h
 * (store_hroll.c), and by the mover for the generation it moves
 * (store_groll.c). That took a quarter off the writer's time per reading
 * with 50 groups (docs/benchmarks.md). */
/* clang-format off */
/* The views rollup_1m/_1h: gasket.db's rows plus the hot tier's buckets
 * (temp.hroll_1m/_1h; a bucket may have a row in each file). */
#define ROLLUP_VIEW(t, hroll, w)                                                                   \
    "CREATE VIRTUAL TABLE temp." hroll " USING gk_hroll(" w ");"                                  \
    "CREATE TEMP VIEW " t " AS SELECT " COLS_ROLL " FROM main." t                                 \
    " UNION ALL SELECT " COLS_ROLL " FROM temp." hroll ";"

const char store_view_sql[] =
    "CREATE TEMP VIEW docs AS SELECT " COLS_DOCS " FROM main.docs"
    HOT_ROWS(COLS_DOCS, "docs", "id > " STORE_MOVED_MARK) ";"
    "CREATE VIRTUAL TABLE temp.mblk USING gk_meas;"
    "CREATE VIRTUAL TABLE temp.hmeas USING gk_hmeas;"
    "CREATE TEMP VIEW measurements AS SELECT " COLS_MEAS " FROM temp.mblk"
    " UNION ALL SELECT " COLS_MEAS " FROM main.measurements"
    " UNION ALL SELECT " COLS_MEAS " FROM temp.hmeas;"
    ROLLUP_VIEW("rollup_1m", "hroll_1m", "60000")
    ROLLUP_VIEW("rollup_1h", "hroll_1h", "3600000")
    "CREATE TEMP VIEW groups AS SELECT idx, grp FROM main.groups"
    " UNION SELECT idx, grp FROM hot0.groups UNION SELECT idx, grp FROM hot1.groups;"
    "CREATE TEMP VIEW indices AS SELECT name, max(next_seq) AS next_seq FROM"
    " (SELECT name, next_seq FROM main.indices UNION ALL SELECT name, next_seq FROM hot0.indices"
    " UNION ALL SELECT name, next_seq FROM hot1.indices) GROUP BY name;";

char *store_hot_sql(const char *sql, int n)
{
    struct buf b = {0};
    for (const char *p = sql, *h; *p; p = h + 4) {
        if (!(h = strstr(p, "hot."))) {
            buf_append(&b, p, strlen(p));
            break;
        }
        buf_append(&b, p, (size_t)(h - p));
        buf_printf(&b, "hot%d.", n);
    }
    buf_append(&b, "", 1);
    return b.data;
}

/* ---- the hot database's file ---- */

char *store_hot_path(const char *data_dir)
{
    char real[PATH_MAX];
    struct stat st;
    if (realpath(data_dir, real) && stat(SHM_DIR, &st) == 0 && S_ISDIR(st.st_mode) &&
        access(SHM_DIR, W_OK | X_OK) == 0) {
        /* named by the data folder and the process: what a killed
         * gasketd left is found by the next start (store_hot_sweep) */
        uint64_t h = map_fnv64(MAP_FNV64_OFFSET, real, strlen(real));
        size_t n = sizeof SHM_DIR + 64;
        char *p = xmalloc(n);
        snprintf(p, n, SHM_DIR "/gasket-%u-%016" PRIx64 "-%ld.hot", (unsigned)getuid(), h,
                 (long)getpid());
        return p;
    }
    size_t n = strlen(data_dir) + sizeof "/gasket.hot";
    char *p = xmalloc(n);
    snprintf(p, n, "%s/gasket.hot", data_dir);
    return p;
}

void store_hot_remove(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX + 16];
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
            snprintf(p, sizeof p, "%s%d%s", path, f, sfx[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                log_warn("store: cannot delete %s: %s", p, strerror(errno));
        }
}

/* Deletes the hot files in SHM_DIR of this user's gasketd processes that
 * are gone (killed: a stopped one deletes its own), whatever their data
 * folder: they are never read again, and they hold RAM. */
static void store_hot_sweep(void)
{
    DIR *dir = opendir(SHM_DIR);
    if (!dir) return;
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "gasket-%u-", (unsigned)getuid());
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        const char *name = e->d_name, *q;
        char *end;
        if (strncmp(name, prefix, (size_t)plen) != 0 || strlen(name) < (size_t)plen + 17 ||
            name[plen + 16] != '-')
            continue;
        long pid = strtol(name + plen + 17, &end, 10);
        if (pid <= 0 || end == name + plen + 17 || strncmp(end, ".hot", 4) != 0) continue;
        q = end + 4;
        if ((*q != '0' && *q != '1') ||
            (q[1] && strcmp(q + 1, "-wal") && strcmp(q + 1, "-shm") && strcmp(q + 1, "-journal")))
            continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, SHM_DIR "/%s", name);
        if (unlink(p) == 0) log_info("store: deleted %s, left by a gasketd that is gone", p);
    }
    closedir(dir);
}

int store_hot_attach(sqlite3 *db, const char *path)
{
    int rc = SQLITE_OK;
    for (int f = 0; f < 2 && rc == SQLITE_OK; f++) {
        char *sql = sqlite3_mprintf("ATTACH '%q%d' AS hot%d", path, f, f);
        rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
        sqlite3_free(sql);
    }
    return rc;
}

int store_hot_create(struct store_db *d)
{
    store_hot_sweep();
    store_hot_remove(d->hot_path);
    char why[256] = "";
    int rc = store_hot_attach(d->db, d->hot_path);
    if (rc != SQLITE_OK) snprintf(why, sizeof why, "%s", sqlite3_errmsg(d->db));
    for (int f = 0; f < 2 && rc == SQLITE_OK; f++) {
        char *sql = store_hot_sql(store_hot_schema_sql, f);
        rc = sqldb_exec(d->db, sql, why, sizeof why);
        free(sql);
        char p[PATH_MAX + 8];
        snprintf(p, sizeof p, "%s%d", d->hot_path, f);
        chmod(p, 0600);
    }
    if (rc != SQLITE_OK) {
        log_error("store: creating %s0 and 1: %s", d->hot_path, why);
        return GK_ESTORE;
    }
    return 0;
}

/* ---- replay ---- */

struct replay {
    struct store_db *d;
    struct store_seq *seq;
    uint64_t n;
};

static int replay_doc(void *ud, struct store_job *doc, int64_t id, int64_t seq_no, int64_t at)
{
    struct replay *r = ud;
    int rc = store_db_put(r->d, r->seq, doc, id, seq_no, at);
    /* the rows it added point into doc, freed after this call: written now */
    rc = store_db_finish(r->d, r->seq, rc);
    if (rc != SQLITE_OK) {
        log_error("store: replaying document %" PRId64 ": %s", id, sqlite3_errmsg(r->d->db));
        return GK_ESTORE;
    }
    if (id >= r->d->next_id) r->d->next_id = id + 1;
    r->n++;
    return 0;
}

int store_hot_replay(struct store_db *d, struct store_seq *seq, const char *data_dir, int sync)
{
    struct replay r = {.d = d, .seq = seq};
    int rc = sqldb_run(d->begin) == SQLITE_OK ? 0 : GK_ESTORE;
    if (rc == 0) rc = store_jnl_open(&d->jnl, data_dir, sync, d->moved_id, replay_doc, &r);
    if (rc == 0 && sqldb_run(d->commit) != SQLITE_OK) rc = GK_ESTORE;
    if (rc != 0) {
        if (!sqlite3_get_autocommit(d->db)) sqldb_run(d->rollback);
        store_seq_rollback(seq);
        store_groups_rollback(&d->groups);
        log_error("store: reading the journal back failed: %s", sqlite3_errmsg(d->db));
        return rc;
    }
    store_seq_commit(seq);
    store_groups_commit(&d->groups);
    if (d->jnl.last_id >= d->next_id) d->next_id = d->jnl.last_id + 1;
    if (r.n) log_info("store: %" PRIu64 " documents read back from the journal", r.n);
    return 0;
}

/* ---- the mover's thread ---- */

/* The move of generation %3 (documents %1 < id <= %2) from hot file %4,
 * in one transaction after store_zip_save, before store_mblk_move and
 * store_groll_flush. A deferred BEGIN: it takes gasket.db's write lock,
 * and only reads the hot file, which the writer goes on writing
 * meanwhile. Documents are compressed on the way (store_zip.c),
 * measurements put into blocks (store_mblk.c), their rollups added up
 * (store_groll.c). */
static const char move_sql[] =
    "INSERT INTO main.docs(id, idx, seq, ts, groupid, source)"
    " SELECT id, idx, seq, ts, groupid, gk_zip(idx, source) FROM hot%4$d.docs"
    " WHERE id > %1$lld AND id <= %2$lld ORDER BY id;"
    "INSERT OR IGNORE INTO main.groups(idx, grp) SELECT idx, grp FROM hot%4$d.groups;"
    "INSERT INTO main.idem(doc, key, seq, fp, at) SELECT doc, key, seq, fp, at FROM hot%4$d.idem"
    " WHERE doc > %1$lld AND doc <= %2$lld;"
    "INSERT INTO main.indices(name, next_seq) SELECT name, next_seq FROM hot%4$d.indices WHERE 1"
    " ON CONFLICT(name) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq);"
    "INSERT INTO main.health(id, at) SELECT id, at FROM hot%4$d.health WHERE 1"
    " ON CONFLICT(id) DO UPDATE SET at = excluded.at;"
    "UPDATE main.meta SET v = %2$lld WHERE k = 'moved';"
    "UPDATE main.meta SET v = %3$lld WHERE k = 'gen';";
/* clang-format on */

/* After a move: gasket.db's WAL (as large as the move wrote, kept at that
 * size by SQLite) emptied and cut to nothing when no reader is using it;
 * else left for the next move. Never waits for a reader. */
static void wal_truncate(sqlite3 *db)
{
    sqlite3_busy_timeout(db, 0);
    sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(db, STORE_MOVER_BUSY_MS);
}

static int move_txn(struct store_mover *m, long long lo, long long hi, long long gen)
{
    char sql[sizeof move_sql + 1024]; /* %N$ numbers expanded */
    snprintf(sql, sizeof sql, move_sql, lo, hi, gen, (int)(gen & 1));
    /* dictionaries trained outside the transaction: it holds the lock */
    int rc = store_zip_prepare(m->zip, m->db, (int)(gen & 1), lo, hi);
    if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = store_zip_save(m->zip, m->db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);
    const char *msg = NULL; /* what failed, when SQLite's message is gone */
    if (rc == SQLITE_OK && (rc = store_mblk_move(m->mblk, (int)(gen & 1), lo, hi, m->roll)))
        msg = store_mblk_err(m->mblk);
    if (rc == SQLITE_OK) rc = store_groll_docs(m->roll, (int)(gen & 1), lo, hi);
    if (rc == SQLITE_OK)
        rc = store_groll_flush(m->roll);
    else
        store_groll_clear(m->roll);
    if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        store_zip_saved(m->zip);
        wal_truncate(m->db);
        return 0;
    }
    snprintf(m->why, sizeof m->why, "%s (%s)", sqlite3_errstr(rc),
             msg ? msg : sqlite3_errmsg(m->db));
    int err = store_db_err(m->db, rc);
    if (!sqlite3_get_autocommit(m->db)) sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static void mover_main(void *arg)
{
    struct store_mover *m = arg;
    int sync = 0; /* the connection's PRAGMA synchronous as last set */
    uv_mutex_lock(&m->mu);
    for (;;) {
        while (m->state != STORE_MOVER_BUSY && m->state != STORE_MOVER_STOP)
            uv_cond_wait(&m->cv, &m->mu);
        if (m->state == STORE_MOVER_STOP) break;
        long long lo = m->lo, hi = m->hi, gen = m->gen;
        int want = m->sync;
        uv_mutex_unlock(&m->mu);
        uint64_t t0 = clock_mono_ms();
        int rc = 0;
        if (want != sync) {
            rc = sqlite3_exec(m->db,
                              want == 2 ? "PRAGMA main.synchronous=FULL"
                                        : "PRAGMA main.synchronous=NORMAL",
                              NULL, NULL, NULL) == SQLITE_OK
                     ? 0
                     : GK_ESTORE;
            if (rc == 0)
                sync = want;
            else
                snprintf(m->why, sizeof m->why, "%s", sqlite3_errmsg(m->db));
        }
        if (rc == 0) rc = move_txn(m, lo, hi, gen);
        uv_mutex_lock(&m->mu);
        m->rc = rc;
        m->ms = clock_mono_ms() - t0;
        m->state = STORE_MOVER_DONE;
        uv_cond_broadcast(&m->cv);
        uv_mutex_unlock(&m->mu);
        m->wake(m->wake_ud);
        uv_mutex_lock(&m->mu);
    }
    uv_mutex_unlock(&m->mu);
}

int store_mover_start(struct store_db *d, const char *path, unsigned max_pages,
                      void (*wake)(void *), void *ud)
{
    struct store_mover *m = &d->mv;
    char why[600], pragmas[96] = "PRAGMA cache_size=-16384";
    if (max_pages) /* the quota binds the moves: they are what writes gasket.db */
        snprintf(pragmas, sizeof pragmas, "PRAGMA cache_size=-16384; PRAGMA max_page_count=%u",
                 max_pages);
    if (sqldb_open(&m->db, path, SQLDB_WAL, STORE_MOVER_BUSY_MS, pragmas, why, sizeof why) != 0) {
        log_error("store: the mover cannot open %s", why);
        return GK_ESTORE;
    }
    m->zip = store_zip_new();
    m->mblk = store_mblk_new(m->db);
    m->roll = store_groll_new(m->db);
    if (store_hot_attach(m->db, d->hot_path) != SQLITE_OK ||
        store_zip_writer(m->db, m->zip) != SQLITE_OK) {
        log_error("store: the mover cannot attach the hot tier: %s", sqlite3_errmsg(m->db));
        store_mover_stop(d);
        return GK_ESTORE;
    }
    m->wake = wake;
    m->wake_ud = ud;
    m->state = STORE_MOVER_IDLE;
    uv_mutex_init(&m->mu);
    uv_cond_init(&m->cv);
    if (uv_thread_create(&m->thread, mover_main, m) != 0) {
        log_error("store: cannot start the mover's thread");
        uv_cond_destroy(&m->cv);
        uv_mutex_destroy(&m->mu);
        store_mover_stop(d);
        return GK_ESTORE;
    }
    m->running = 1;
    return 0;
}

void store_mover_stop(struct store_db *d)
{
    struct store_mover *m = &d->mv;
    if (m->running) {
        uv_mutex_lock(&m->mu);
        while (m->state == STORE_MOVER_BUSY)
            uv_cond_wait(&m->cv, &m->mu);
        m->state = STORE_MOVER_STOP;
        uv_cond_broadcast(&m->cv);
        uv_mutex_unlock(&m->mu);
        uv_thread_join(&m->thread);
        uv_cond_destroy(&m->cv);
        uv_mutex_destroy(&m->mu);
        m->running = 0;
    }
    store_mblk_free(m->mblk); /* its statements first */
    m->mblk = NULL;
    store_groll_free(m->roll);
    m->roll = NULL;
    if (m->db && sqlite3_close(m->db) != SQLITE_OK)
        log_error("store: closing the mover's connection: %s", sqlite3_errmsg(m->db));
    m->db = NULL;
    store_zip_free(m->zip);
    m->zip = NULL;
}

/* ---- the writer's side ---- */

static int mover_state(struct store_db *d)
{
    if (!d->mv.running) return STORE_MOVER_STOP;
    uv_mutex_lock(&d->mv.mu);
    int st = d->mv.state;
    uv_mutex_unlock(&d->mv.mu);
    return st;
}

/* Hands the sealed generation (d->mv.lo, hi, gen) to the mover. */
static void submit(struct store_db *d)
{
    uv_mutex_lock(&d->mv.mu);
    d->mv.sync = d->durability == STORE_DURABILITY_FULL ? 2 : 1;
    d->mv.state = STORE_MOVER_BUSY;
    uv_cond_broadcast(&d->mv.cv);
    uv_mutex_unlock(&d->mv.mu);
}

/* Takes the result of a move that ended (nothing when none did). */
static void collect(struct store_db *d)
{
    struct store_mover *m = &d->mv;
    if (!m->running) return;
    uv_mutex_lock(&m->mu);
    int done = m->state == STORE_MOVER_DONE, rc = m->rc;
    if (done) m->state = STORE_MOVER_IDLE;
    uv_mutex_unlock(&m->mu);
    if (!done) return;
    if (rc != 0) {
        log_msg(rc != d->move_err ? LOG_ERROR : LOG_DEBUG,
                "store: moving documents %lld to %lld into gasket.db failed: %s; they stay in "
                "the journal, tried again in %d ms",
                (long long)m->lo + 1, (long long)m->hi, m->why, STORE_MOVE_RETRY_MS);
        d->move_err = rc;
        d->retry_ms = (int64_t)clock_mono_ms() + STORE_MOVE_RETRY_MS;
        return;
    }
    if (d->move_err) log_info("store: moves into gasket.db work again");
    log_debug("store: moved documents %lld to %lld into gasket.db in %" PRIu64 " ms",
              (long long)m->lo + 1, (long long)m->hi, m->ms);
    d->move_err = 0;
    d->sealed = 0;
    d->moved_id = m->hi;
    d->moved_gen = m->gen;
    store_jnl_moved(&d->jnl, d->moved_id, d->next_id);
}

/* Seals generation gen and hands it to the mover (which is free, with no
 * sealed generation left): the other hot file, whose generation is moved,
 * is emptied and takes generation gen + 1. Returns 0 or GK_ESTORE. */
static int seal(struct store_db *d)
{
    struct store_hot_stmts *next = &d->hs[(d->gen + 1) & 1];
    int rc = sqldb_run(d->begin);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof next->truncate / sizeof *next->truncate; i++)
        rc = sqldb_run(next->truncate[i]);
    if (rc == SQLITE_OK) rc = sqldb_run(d->commit);
    if (rc != SQLITE_OK) {
        log_error("store: emptying a hot file: %s", sqlite3_errmsg(d->db));
        if (!sqlite3_get_autocommit(d->db)) sqldb_run(d->rollback);
        return GK_ESTORE;
    }
    d->mv.lo = d->moved_id;
    d->mv.hi = d->next_id - 1;
    d->mv.gen = d->gen;
    d->sealed = 1;
    d->gen++;
    d->w = next;
    d->gen_docs = 0;
    d->pinged = 0;
    submit(d);
    return 0;
}

static int move_due(const struct store_db *d, int64_t now_ms)
{
    return d->gen_docs > 0 &&
           (d->gen_docs >= d->move_docs || now_ms - d->gen_first_ms >= d->move_ms);
}

/* A generation this many times move_docs makes the writer wait for the
 * move under way: the hot tier (RAM, and slower to query than gasket.db)
 * stays under about three times move_docs when ingest outruns the mover,
 * as a long _bulk load does; the wait holds the jobs in the queue, and
 * max_pending turns clients away. */
#define STORE_HOT_CAP 2

void store_move_tick(struct store_db *d, int64_t now_ms)
{
    collect(d);
    if (d->gen_docs >= STORE_HOT_CAP * d->move_docs && mover_state(d) == STORE_MOVER_BUSY)
        store_move_wait(d); /* then seals at once, below (or retries a failed move) */
    if (mover_state(d) != STORE_MOVER_IDLE) return;
    if (d->sealed) {
        if (now_ms >= d->retry_ms) submit(d);
    } else if (move_due(d, now_ms)) {
        seal(d);
    }
}

int64_t store_move_wait_ms(struct store_db *d, int64_t now_ms)
{
    int st = mover_state(d);
    if (st == STORE_MOVER_DONE) return 0;
    if (st != STORE_MOVER_IDLE) return -1; /* its end wakes the writer */
    int64_t at = d->sealed ? d->retry_ms : d->gen_docs > 0 ? d->gen_first_ms + d->move_ms : -1;
    if (at < 0) return -1;
    return at > now_ms ? at - now_ms : 0;
}

void store_move_wait(struct store_db *d)
{
    struct store_mover *m = &d->mv;
    if (!m->running) return;
    uv_mutex_lock(&m->mu);
    while (m->state == STORE_MOVER_BUSY)
        uv_cond_wait(&m->cv, &m->mu);
    uv_mutex_unlock(&m->mu);
    collect(d);
}

int store_move_all(struct store_db *d)
{
    if (!d->mv.running) return GK_ESTORE;
    store_move_wait(d);
    if (d->sealed) { /* a failed move: once more, now */
        submit(d);
        store_move_wait(d);
        if (d->sealed) return d->move_err;
    }
    if (d->gen_docs == 0 && !d->pinged) return 0;
    if (seal(d) != 0) return GK_ESTORE;
    store_move_wait(d);
    return d->sealed ? d->move_err : 0;
}
