/* store_move.c: the hot tier, between the journal and gasket.db.
 *
 * Why: a group commit that wrote its documents, measurements and rollups
 * into gasket.db dirtied a page per group, per gas and per rollup level,
 * each written twice (WAL, then checkpoint): tens of kilobytes per reading.
 * Now a group commit appends one record to the journal (store_journal.c)
 * and syncs it (the acknowledgement waits for that, and only that), and
 * writes the same rows into the hot database: a SQLite file with
 * gasket.db's tables, kept on a tmpfs (/dev/shm) so that its pages never
 * reach a disk. Every STORE_MOVE_DOCS documents or STORE_MOVE_MS, and at
 * close, the writer moves the hot generation into gasket.db in one
 * transaction, durable at its commit, which writes each page once for
 * thousands of readings; then the journal files that held only moved
 * documents are deleted. At open the hot database is made afresh and the
 * journal's documents not moved yet are read back into it.
 *
 * Marks (gasket.db's meta table, written in the move's transaction):
 * `moved` (every document with id <= it is in gasket.db) and `gen` (the
 * rollup rows of every generation <= it are). Readers see both files
 * through temporary views named as the tables (store_view_sql): the hot
 * rows count only above the marks, read in the same statement as them, so
 * a reader never counts a document twice nor misses one while a move
 * commits. The hot rows a move copied are deleted at the next move, not at
 * once, for a reader that took gasket.db's snapshot just before the move
 * committed and the hot file's just after.
 *
 * Writer thread only, except store_view_sql and store_hot_path. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "store/store_int.h"

#define SHM_DIR "/dev/shm"

static const char hot_schema_sql[] =
    "PRAGMA hot.journal_mode=WAL;"
    "PRAGMA hot.synchronous=OFF;"
    "CREATE TABLE hot.docs(id INTEGER PRIMARY KEY, idx TEXT NOT NULL, seq INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, groupid TEXT, source TEXT NOT NULL);"
    "CREATE INDEX hot.docs_idx_ts ON docs(idx, ts);"
    "CREATE INDEX hot.docs_idx_grp_ts ON docs(idx, groupid, ts);"
    "CREATE TABLE hot.measurements(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " name TEXT NOT NULL, ts INTEGER NOT NULL, doc INTEGER NOT NULL, value REAL,"
    " PRIMARY KEY(idx, grp, name, ts, doc)) WITHOUT ROWID;"
    "CREATE TABLE hot.rollup_1m(idx TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,"
    " t INTEGER NOT NULL, gen INTEGER NOT NULL, n INTEGER NOT NULL, mn REAL, mx REAL, sm REAL,"
    " PRIMARY KEY(idx, grp, name, t, gen)) WITHOUT ROWID;"
    "CREATE TABLE hot.rollup_1h(idx TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,"
    " t INTEGER NOT NULL, gen INTEGER NOT NULL, n INTEGER NOT NULL, mn REAL, mx REAL, sm REAL,"
    " PRIMARY KEY(idx, grp, name, t, gen)) WITHOUT ROWID;"
    "CREATE TABLE hot.groups(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " PRIMARY KEY(idx, grp)) WITHOUT ROWID;"
    "CREATE TABLE hot.indices(name TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);"
    "CREATE TABLE hot.health(id INTEGER PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE hot.idem(doc INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
    " seq INTEGER NOT NULL, fp INTEGER NOT NULL, at INTEGER NOT NULL);";

#define ABOVE_MOVED "(SELECT v FROM main.meta WHERE k = 'moved')"
#define ABOVE_GEN   "(SELECT v FROM main.meta WHERE k = 'gen')"
#define ROLLUP_VIEW(t)                                                                             \
    "CREATE TEMP VIEW " t " AS SELECT idx, grp, name, t, n, mn, mx, sm FROM main." t               \
    " UNION ALL SELECT idx, grp, name, t, n, mn, mx, sm FROM hot." t " WHERE gen > " ABOVE_GEN ";"

const char store_view_sql[] =
    "CREATE TEMP VIEW docs AS SELECT id, idx, seq, ts, groupid, source FROM main.docs"
    " UNION ALL SELECT id, idx, seq, ts, groupid, source FROM hot.docs"
    " WHERE id > " ABOVE_MOVED ";"
    "CREATE TEMP VIEW measurements AS SELECT idx, grp, name, ts, doc, value FROM main.measurements"
    " UNION ALL SELECT idx, grp, name, ts, doc, value FROM hot.measurements"
    " WHERE doc > " ABOVE_MOVED ";" ROLLUP_VIEW("rollup_1m") ROLLUP_VIEW("rollup_1h")
    "CREATE TEMP VIEW groups AS SELECT idx, grp FROM main.groups"
    " UNION SELECT idx, grp FROM hot.groups;"
    "CREATE TEMP VIEW indices AS SELECT name, max(next_seq) AS next_seq FROM"
    " (SELECT name, next_seq FROM main.indices UNION ALL SELECT name, next_seq FROM hot.indices)"
    " GROUP BY name;";

/* ---- the hot database's file ---- */

char *store_hot_path(const char *data_dir)
{
    char real[PATH_MAX];
    struct stat st;
    if (realpath(data_dir, real) && stat(SHM_DIR, &st) == 0 && S_ISDIR(st.st_mode) &&
        access(SHM_DIR, W_OK | X_OK) == 0) {
        /* one file per data folder: the next start of the same folder
         * finds (and replaces) what a killed gasketd left */
        uint64_t h = map_fnv64(MAP_FNV64_OFFSET, real, strlen(real));
        size_t n = sizeof SHM_DIR + 48;
        char *p = xmalloc(n);
        snprintf(p, n, SHM_DIR "/gasket-%u-%016" PRIx64 ".hot", (unsigned)getuid(), h);
        return p;
    }
    size_t n = strlen(data_dir) + sizeof "/hot.db";
    char *p = xmalloc(n);
    snprintf(p, n, "%s/hot.db", data_dir);
    return p;
}

void store_hot_remove(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            log_warn("store: cannot delete %s: %s", p, strerror(errno));
    }
}

int store_hot_create(struct store_db *d)
{
    store_hot_remove(d->hot_path);
    sqlite3_stmt *st;
    int rc = sqldb_prepare(d->db, "ATTACH ?1 AS hot", &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, d->hot_path, -1, SQLITE_STATIC);
        rc = sqldb_run(st);
        sqlite3_finalize(st);
    }
    char why[256];
    if (rc == SQLITE_OK) rc = sqldb_exec(d->db, hot_schema_sql, why, sizeof why);
    else snprintf(why, sizeof why, "%s", sqlite3_errmsg(d->db));
    if (rc != SQLITE_OK) {
        log_error("store: creating %s: %s", d->hot_path, why);
        return GK_ESTORE;
    }
    chmod(d->hot_path, 0600);
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
    if (rc == 0 && store_db_finish(d, seq, SQLITE_OK) != SQLITE_OK) rc = GK_ESTORE;
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

/* ---- the move ---- */

int store_move_due(const struct store_db *d, int64_t now_ms)
{
    if (d->gen_docs == 0 || now_ms < d->retry_ms) return 0;
    return d->gen_docs >= d->move_docs || now_ms - d->gen_first_ms >= d->move_ms ||
           d->move_err != 0;
}

int64_t store_move_wait_ms(const struct store_db *d, int64_t now_ms)
{
    if (d->gen_docs == 0) return -1;
    int64_t at = d->move_err ? d->retry_ms : d->gen_first_ms + d->move_ms;
    return at > now_ms ? at - now_ms : 0;
}

static int exec_f(struct store_db *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int exec_f(struct store_db *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    int rc = sql ? sqlite3_exec(d->db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    return rc;
}

#define ROLLUP_MOVE(t)                                                                             \
    "INSERT INTO main." t "(idx, grp, name, t, n, mn, mx, sm)"                                     \
    " SELECT idx, grp, name, t, n, mn, mx, sm FROM hot." t " WHERE gen = %3$lld"                     \
    " ORDER BY idx, grp, name, t ON CONFLICT(idx, grp, name, t) DO UPDATE SET"                     \
    " n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx),"                   \
    " sm = sm + excluded.sm;"

/* The move of generation ?gen (documents lo < id <= hi), one transaction. */
static const char move_sql[] =
    "BEGIN IMMEDIATE;"
    "INSERT INTO main.docs(id, idx, seq, ts, groupid, source)"
    " SELECT id, idx, seq, ts, groupid, source FROM hot.docs"
    " WHERE id > %1$lld AND id <= %2$lld ORDER BY id;"
    "INSERT INTO main.measurements(idx, grp, name, ts, doc, value)"
    " SELECT idx, grp, name, ts, doc, value FROM hot.measurements"
    " WHERE doc > %1$lld AND doc <= %2$lld ORDER BY idx, grp, name, ts, doc;"
    ROLLUP_MOVE("rollup_1m") ROLLUP_MOVE("rollup_1h")
    "INSERT OR IGNORE INTO main.groups(idx, grp) SELECT idx, grp FROM hot.groups;"
    "INSERT INTO main.idem(doc, key, seq, fp, at) SELECT doc, key, seq, fp, at FROM hot.idem"
    " WHERE doc > %1$lld AND doc <= %2$lld;"
    "INSERT INTO main.indices(name, next_seq) SELECT name, next_seq FROM hot.indices WHERE 1"
    " ON CONFLICT(name) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq);"
    "INSERT INTO main.health(id, at) SELECT id, at FROM hot.health WHERE 1"
    " ON CONFLICT(id) DO UPDATE SET at = excluded.at;"
    "UPDATE main.meta SET v = %2$lld WHERE k = 'moved';"
    "UPDATE main.meta SET v = %3$lld WHERE k = 'gen';"
    "COMMIT;";

static int move_txn(struct store_db *d, long long lo, long long hi, long long gen)
{
    char sql[sizeof move_sql + 400];
    snprintf(sql, sizeof sql, move_sql, lo, hi, gen);
    int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", 0, 0, 0);
    return rc;
}

int store_db_move(struct store_db *d)
{
    int64_t now = (int64_t)clock_mono_ms();
    long long lo = d->moved_id, hi = d->next_id - 1, gen = d->gen;
    if (d->gen_docs == 0 && hi <= lo && !d->pinged) return 0;
    uint64_t t0 = clock_mono_ms();
    int rc = move_txn(d, lo, hi, gen);
    if (rc != SQLITE_OK) {
        int err = store_db_err(d->db, rc);
        log_msg(err != d->move_err ? LOG_ERROR : LOG_DEBUG,
                "store: moving %zu documents into gasket.db failed: %s (%s); they stay in the "
                "journal, tried again in %d ms",
                d->gen_docs, sqlite3_errstr(rc), sqlite3_errmsg(d->db), STORE_MOVE_RETRY_MS);
        d->move_err = err;
        d->retry_ms = now + STORE_MOVE_RETRY_MS;
        return err;
    }
    if (d->move_err) log_info("store: moves into gasket.db work again");
    log_debug("store: moved %zu documents (ids to %lld) into gasket.db in %" PRIu64 " ms",
              d->gen_docs, hi, clock_mono_ms() - t0);
    d->move_err = 0;
    /* the rows moved last time: no reader can need them any more */
    rc = exec_f(d,
                "BEGIN;"
                "DELETE FROM hot.docs WHERE id <= %lld;"
                "DELETE FROM hot.measurements WHERE doc <= %lld;"
                "DELETE FROM hot.idem WHERE doc <= %lld;"
                "DELETE FROM hot.rollup_1m WHERE gen <= %lld;"
                "DELETE FROM hot.rollup_1h WHERE gen <= %lld;"
                "COMMIT;",
                (long long)d->prev_moved, (long long)d->prev_moved, (long long)d->prev_moved,
                (long long)d->moved_gen, (long long)d->moved_gen);
    if (rc != SQLITE_OK) {
        log_warn("store: clearing the hot database: %s", sqlite3_errmsg(d->db));
        if (!sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", 0, 0, 0);
    }
    d->prev_moved = lo;
    d->moved_id = hi;
    d->moved_gen = gen;
    d->gen = gen + 1;
    d->gen_docs = 0;
    d->pinged = 0;
    store_jnl_moved(&d->jnl, hi, d->next_id);
    return 0;
}
