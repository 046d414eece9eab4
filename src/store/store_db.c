/* store_db.c: the store's SQLite write connection.
 *
 * Opens gasket.db in WAL mode, checks the schema version (PRAGMA
 * user_version 7; a file of version 3 to 6 is upgraded in place after a
 * backup copy; an unversioned file holding the old layout and a file of the
 * unreleased version 2 are refused, an empty one is given the tables of
 * store.h), attaches the two hot files (store_move.c), prepares every
 * statement once, and runs one group of jobs as one transaction (BEGIN ...
 * COMMIT) on the current hot file: documents (each with its measurements
 * in one blob, store_hmeas.c) and new groups, then the _seq_no counters
 * (the hot tier's rollups are computed from its documents when read:
 * store_hroll.c); the journal record of the group is synced before the
 * COMMIT. Any failure
 * rolls all of it back. Used by the writer thread only; text is bound
 * SQLITE_STATIC from the job's own copy. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "store/store_int.h"

#define SCHEMA_VERSION  7
#define STORE_PING_ROOM (64u << 10) /* bytes free the journal needs to look healthy */

/* What version 4 adds to version 3: the idempotency keys (store_idem.c). */
#define IDEM_SQL                                                                                   \
    "CREATE TABLE IF NOT EXISTS idem(doc INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"           \
    " seq INTEGER NOT NULL, fp INTEGER NOT NULL, at INTEGER NOT NULL);"

/* What version 5 adds to version 4: how far the hot tier has moved into
 * this file (store_move.c): every document with id <= moved, of every
 * generation <= gen, is here with its rollups. */
#define META_SQL                                                                                   \
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"                     \
    "INSERT OR IGNORE INTO meta(k, v) VALUES('moved', coalesce((SELECT max(id) FROM docs), 0));"   \
    "INSERT OR IGNORE INTO meta(k, v) VALUES('gen', 0);"

/* What version 6 adds to version 5: the zstd dictionaries documents are
 * compressed with (store_zip.c; `upto`: the index's documents moved before
 * it, compressed up to `done` so far), and the rollup levels gasket.db no
 * longer keeps for an index (store_move.c; level '1m'). */
#define V6_SQL                                                                                     \
    "CREATE TABLE IF NOT EXISTS dicts(id INTEGER PRIMARY KEY, idx TEXT NOT NULL,"                  \
    " dict BLOB NOT NULL, upto INTEGER NOT NULL, done INTEGER NOT NULL);"                          \
    "CREATE TABLE IF NOT EXISTS rollup_off(idx TEXT NOT NULL, level TEXT NOT NULL,"                \
    " PRIMARY KEY(idx, level)) WITHOUT ROWID;"

/* What version 7 adds to version 6: measurements in per-series blocks
 * (store_mblk.c). The rows of main.measurements an older version wrote
 * are read as before and converted by later moves, a slice at a time. */
#define V7_SQL                                                                                     \
    "CREATE TABLE IF NOT EXISTS mblocks(id INTEGER PRIMARY KEY, idx TEXT NOT NULL,"                \
    " grp TEXT NOT NULL, name TEXT NOT NULL, t0 INTEGER NOT NULL, d0 INTEGER NOT NULL,"            \
    " t1 INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);"                               \
    "CREATE UNIQUE INDEX IF NOT EXISTS mblocks_key ON mblocks(idx, grp, name, t0, d0);"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " idx TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
    " groupid TEXT, source TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS docs_idx_ts ON docs(idx, ts);"
    "CREATE INDEX IF NOT EXISTS docs_idx_grp_ts ON docs(idx, groupid, ts);"
    /* One b-tree ordered for time-range reads by index, group and name
     * (WITHOUT ROWID: no second tree to keep in step on every insert). */
    "CREATE TABLE IF NOT EXISTS measurements(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " name TEXT NOT NULL, ts INTEGER NOT NULL, doc INTEGER NOT NULL, value REAL,"
    " PRIMARY KEY(idx, grp, name, ts, doc)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_1m(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " name TEXT NOT NULL, t INTEGER NOT NULL, n INTEGER NOT NULL, mn REAL, mx REAL, sm REAL,"
    " PRIMARY KEY(idx, grp, name, t)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_1h(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " name TEXT NOT NULL, t INTEGER NOT NULL, n INTEGER NOT NULL, mn REAL, mx REAL, sm REAL,"
    " PRIMARY KEY(idx, grp, name, t)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS groups(idx TEXT NOT NULL, grp TEXT NOT NULL,"
    " PRIMARY KEY(idx, grp)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS indices(name TEXT PRIMARY KEY,"
    " next_seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL);" IDEM_SQL META_SQL V6_SQL V7_SQL "PRAGMA user_version = 7;";

/* The prepared statements, in the order of struct store_db's members. The
 * writer's transactions are deferred: a group of documents writes only the
 * current hot file (store_move.c), so gasket.db stays free for the mover;
 * an idempotency key is looked up in all three files. */
static const char *const stmt_sql[] = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SELECT doc, seq, fp FROM hot0.idem WHERE key = ?1"
    " UNION ALL SELECT doc, seq, fp FROM hot1.idem WHERE key = ?1"
    " UNION ALL SELECT doc, seq, fp FROM main.idem WHERE key = ?1 LIMIT 1",
    "DELETE FROM main.idem WHERE doc IN (SELECT doc FROM main.idem ORDER BY doc LIMIT ?2)"
    " AND at < ?1",
};
#define NSTMT (sizeof stmt_sql / sizeof stmt_sql[0])

static sqlite3_stmt **stmt_slot(struct store_db *d, size_t i)
{
    sqlite3_stmt **slots[] = {&d->begin, &d->commit, &d->rollback, &d->idem_get, &d->idem_sweep};
    _Static_assert(sizeof slots / sizeof slots[0] == NSTMT, "one slot per statement");
    return slots[i];
}

/* The statements of one hot file, "hot." standing for hot0. or hot1. */
static const char *const hot_sql[] = {
    "INSERT INTO hot.docs(id, idx, seq, ts, groupid, source, m)"
    " VALUES(?6, ?1, ?2, ?3, ?4, ?5, ?7)",
    "INSERT INTO hot.indices(name, next_seq) VALUES(?1, ?2)"
    " ON CONFLICT(name) DO UPDATE SET next_seq = excluded.next_seq",
    "INSERT INTO hot.health(id, at) VALUES(1, ?1)"
    " ON CONFLICT(id) DO UPDATE SET at = excluded.at",
    "INSERT OR IGNORE INTO hot.groups(idx, grp) VALUES(?1, ?2)",
    "INSERT INTO hot.idem(doc, key, seq, fp, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM hot.idem WHERE at < ?1 RETURNING doc",
    /* without WHERE: SQLite's truncate optimisation drops the pages at once */
    "DELETE FROM hot.docs",
    "DELETE FROM hot.groups",
    "DELETE FROM hot.indices",
    "DELETE FROM hot.health",
    "DELETE FROM hot.idem",
};
#define NHOT (sizeof hot_sql / sizeof hot_sql[0])

static sqlite3_stmt **hot_slot(struct store_hot_stmts *h, size_t i)
{
    sqlite3_stmt **slots[] = {&h->ins_doc,     &h->put_index,   &h->put_health,  &h->put_group,
                              &h->idem_put,    &h->idem_sweep,  &h->truncate[0], &h->truncate[1],
                              &h->truncate[2], &h->truncate[3], &h->truncate[4]};
    _Static_assert(sizeof slots / sizeof slots[0] == NHOT, "one slot per statement");
    return slots[i];
}

int store_db_err(sqlite3 *db, int rc)
{
    int sys = sqlite3_system_errno(db);
    if ((rc & 0xff) == SQLITE_FULL) return GK_EFULL;
    if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)) return GK_EFULL;
    return GK_ESTORE;
}

static int db_exec(struct store_db *d, const char *sql)
{
    char why[256];
    int rc = sqldb_exec(d->db, sql, why, sizeof why);
    if (rc != SQLITE_OK) log_error("store: %.80s: %s", sql, why);
    return rc;
}

static int db_pragmas(struct store_db *d, const struct store_options *opt)
{
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%u", opt->max_pages);
    if (opt->max_pages && db_exec(d, sql) != SQLITE_OK) return SQLITE_ERROR;
    return db_exec(d, "PRAGMA cache_size=-16384");
}

/* Runs a query returning one integer; -1 on failure. */
static int64_t db_int(struct store_db *d, const char *sql)
{
    return sqldb_int(d->db, sql, -1);
}

/* Inside the open transaction: accepts version 7, upgrades versions 3 to
 * 6, creates version 7 in an empty file, refuses anything else (logged). */
static int db_check_version(struct store_db *d, const char *path)
{
    int64_t ver = db_int(d, "PRAGMA user_version");
    if (ver == SCHEMA_VERSION) return SQLITE_OK;
    if (ver >= 3 && ver <= 6) {
        log_info("store: %s: upgrading schema %" PRId64 " to 7 (%s%s%smeasurement blocks)", path,
                 ver, ver == 3 ? "idempotency keys, " : "",
                 ver <= 4 ? "the hot tier's marks, " : "",
                 ver <= 5 ? "compressed documents, rollup levels, " : "");
        int rc = ver == 3 ? db_exec(d, IDEM_SQL) : SQLITE_OK;
        if (rc == SQLITE_OK && ver <= 4) rc = db_exec(d, META_SQL);
        if (rc == SQLITE_OK && ver <= 5) rc = db_exec(d, V6_SQL);
        return rc == SQLITE_OK ? db_exec(d, V7_SQL "PRAGMA user_version = 7;") : rc;
    }
    if (ver == 0) {
        int64_t old = db_int(d, "SELECT count(*) FROM sqlite_master WHERE name = 'docs'");
        if (old == 0) return db_exec(d, schema_sql);
        if (old > 0)
            log_error("store: %s was written by an older gasket (schema 1); move it away", path);
        else
            log_error("store: %s: reading the schema: %s", path, sqlite3_errmsg(d->db));
        return SQLITE_ERROR;
    }
    if (ver == 2)
        log_error("store: %s was written by an unreleased development version of gasket"
                  " (schema 2, without document-count rollups); move it away",
                  path);
    else if (ver > SCHEMA_VERSION)
        log_error("store: %s was written by a newer gasket (schema %" PRId64 "); move it away",
                  path, ver);
    else
        log_error("store: %s has an unknown schema version %" PRId64 "; move it away", path, ver);
    return SQLITE_ERROR;
}

/* Before an upgrade: a copy of the file as it is, path.schemaN.bak
 * (VACUUM INTO: consistent, compact, written outside any transaction). An
 * upgrade that cannot make its copy does not run. */
static int db_backup(struct store_db *d, const char *path, int64_t ver)
{
    char bak[4096], sql[4200];
    snprintf(bak, sizeof bak, "%s.schema%" PRId64 ".bak", path, ver);
    unlink(bak); /* a copy left by an upgrade that did not finish */
    char *q = sqlite3_mprintf("VACUUM INTO %Q", bak);
    snprintf(sql, sizeof sql, "%s", q ? q : "");
    sqlite3_free(q);
    int64_t pages = db_int(d, "PRAGMA page_count");
    log_info("store: %s has schema %" PRId64 ": copying it to %s first (%" PRId64 " KiB)", path,
             ver, bak, pages * 4);
    uint64_t t0 = clock_mono_ms();
    if (db_exec(d, sql) != SQLITE_OK) {
        log_error("store: cannot copy %s to %s before upgrading it; free some space or move "
                  "the copy's folder, then start again",
                  path, bak);
        unlink(bak);
        return SQLITE_ERROR;
    }
    log_info("store: copied in %" PRIu64 " ms; the copy can be deleted once this version runs "
             "as it should",
             clock_mono_ms() - t0);
    return SQLITE_OK;
}

static int db_schema(struct store_db *d, const char *path)
{
    int64_t ver = db_int(d, "PRAGMA user_version");
    if (ver >= 3 && ver <= 6 && db_backup(d, path, ver) != SQLITE_OK) return SQLITE_ERROR;
    if (db_exec(d, "BEGIN IMMEDIATE") != SQLITE_OK) return SQLITE_ERROR;
    int rc = db_check_version(d, path);
    if (rc == SQLITE_OK) rc = db_exec(d, "COMMIT");
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", 0, 0, 0);
    if (rc == SQLITE_OK && ver != SCHEMA_VERSION && ver != 0)
        log_info("store: %s: now schema %d", path, SCHEMA_VERSION);
    return rc;
}

static void load_seq(void *seq, sqlite3_stmt *st)
{
    store_seq_load(seq, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
}

static void load_group(void *groups, sqlite3_stmt *st)
{
    store_groups_add(groups, (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1));
}

static int db_load(struct store_db *d, struct store_seq *seq)
{
    int rc = sqldb_each(d->db, "SELECT name, next_seq FROM main.indices", load_seq, seq);
    if (rc == SQLITE_OK)
        rc = sqldb_each(d->db, "SELECT idx, grp FROM main.groups", load_group, &d->groups);
    store_groups_commit(&d->groups);
    if (rc != SQLITE_OK) {
        log_error("store: loading indices: %s", sqlite3_errmsg(d->db));
        return rc;
    }
    d->moved_id = db_int(d, "SELECT v FROM main.meta WHERE k = 'moved'");
    d->moved_gen = db_int(d, "SELECT v FROM main.meta WHERE k = 'gen'");
    int64_t top = db_int(d, "SELECT coalesce((SELECT seq FROM main.sqlite_sequence"
                            " WHERE name = 'docs'), 0)");
    if (d->moved_id < 0 || d->moved_gen < 0 || top < 0) {
        log_error("store: reading the marks of the hot tier: %s", sqlite3_errmsg(d->db));
        return SQLITE_ERROR;
    }
    d->gen = d->moved_gen + 1;
    d->w = &d->hs[d->gen & 1];
    d->next_id = (top > d->moved_id ? top : d->moved_id) + 1;
    return SQLITE_OK;
}

static int prepare(struct store_db *d, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
        return SQLITE_OK;
    log_error("store: preparing \"%s\": %s", sql, sqlite3_errmsg(d->db));
    return SQLITE_ERROR;
}

static int db_prepare(struct store_db *d)
{
    for (size_t i = 0; i < NSTMT; i++)
        if (prepare(d, stmt_sql[i], stmt_slot(d, i)) != SQLITE_OK) return SQLITE_ERROR;
    for (int n = 0; n < 2; n++)
        for (size_t i = 0; i < NHOT; i++) {
            char *sql = store_hot_sql(hot_sql[i], n);
            int rc = prepare(d, sql, hot_slot(&d->hs[n], i));
            free(sql);
            if (rc != SQLITE_OK) return rc;
        }
    return SQLITE_OK;
}

/* The page cache of each hot file (KiB, negative as PRAGMA cache_size takes
 * it): a transaction's dirty pages stay in it until COMMIT (with SQLite's
 * default of 2 MiB a batch of documents spilled them into the WAL
 * mid-transaction and read them back), and the pages a batch inserts into
 * are still there for the next one. Taken as the file grows, given back
 * when the connection closes. */
#define STORE_HOT_CACHE "-32768"
/* Pages of a hot file's WAL before it is copied back into the file
 * (SQLite's default 1000): a checkpoint copies each page once, however many
 * commits rewrote it, and with many groups a commit rewrites pages all over
 * the file (50 groupids: 18.6k -> 20.3k readings/s with 8192, A/B on this
 * machine). Up to 32 MiB more of RAM per hot file (its WAL, on the tmpfs). */
#define STORE_HOT_CHECKPOINT "8192"

int store_db_open(struct store_db *d, const char *path, const struct store_options *opt,
                  struct store_seq *seq)
{
    memset(d, 0, sizeof(*d));
    d->jnl.fd = -1;
    store_groups_init(&d->groups);
    char why[600];
    int rc = sqldb_open(&d->db, path, SQLDB_WAL, 5000, NULL, why, sizeof why);
    if (rc != 0) {
        log_error("store: cannot open %s", why);
        store_db_close(d);
        return rc;
    }
    d->hot_path = opt->hot_path ? xstrdup(opt->hot_path) : store_hot_path(opt->dir);
    d->move_docs = opt->move_docs ? opt->move_docs : STORE_MOVE_DOCS;
    d->move_ms = opt->move_ms ? opt->move_ms : STORE_MOVE_MS;
    if (db_pragmas(d, opt) != SQLITE_OK || db_schema(d, path) != SQLITE_OK ||
        store_hot_create(d) != 0 || store_db_set_durability(d, opt->durability) != 0 ||
        db_prepare(d) != SQLITE_OK || db_load(d, seq) != SQLITE_OK) {
        store_db_close(d);
        return GK_ESTORE;
    }
    if (db_exec(d, "PRAGMA hot0.cache_size=" STORE_HOT_CACHE ";"
                   "PRAGMA hot1.cache_size=" STORE_HOT_CACHE ";"
                   "PRAGMA wal_autocheckpoint=" STORE_HOT_CHECKPOINT) != SQLITE_OK) {
        store_db_close(d);
        return GK_ESTORE;
    }
    if (opt->max_pages) { /* the quota holds for what is hot too */
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA hot0.max_page_count=%u; PRAGMA hot1.max_page_count=%u",
                 opt->max_pages, opt->max_pages);
        if (db_exec(d, sql) != SQLITE_OK) {
            store_db_close(d);
            return GK_ESTORE;
        }
    }
    rc = store_hot_replay(d, seq, opt->dir, opt->durability == STORE_DURABILITY_FULL);
    if (rc != 0) {
        store_db_close(d);
        return rc;
    }
    return 0;
}

void store_db_close(struct store_db *d)
{
    store_mover_stop(d);
    for (size_t i = 0; i < NSTMT; i++) {
        sqlite3_finalize(*stmt_slot(d, i));
        *stmt_slot(d, i) = NULL;
    }
    for (int n = 0; n < 2; n++)
        for (size_t i = 0; i < NHOT; i++) {
            sqlite3_finalize(*hot_slot(&d->hs[n], i));
            *hot_slot(&d->hs[n], i) = NULL;
        }
    store_mblk_free(d->ret_mblk);
    d->ret_mblk = NULL;
    for (size_t i = 0; i < STORE_RET_NSTMT; i++) {
        sqlite3_finalize(d->ret[i]);
        d->ret[i] = NULL;
    }
    if (d->db && sqlite3_close(d->db) != SQLITE_OK)
        log_error("store: closing the database: %s", sqlite3_errmsg(d->db));
    d->db = NULL;
    if (d->hot_path) store_hot_remove(d->hot_path);
    free(d->hot_path);
    d->hot_path = NULL;
    store_jnl_close(&d->jnl);
    buf_free(&d->menc);
    store_groups_free(&d->groups);
}

int store_db_set_durability(struct store_db *d, enum store_durability dur)
{
    /* gasket.db is written by moves only, each one durable at its commit;
     * what a reading's acknowledgement waits for is the journal's sync */
    store_jnl_set_sync(&d->jnl, dur == STORE_DURABILITY_FULL);
    d->durability = (int)dur; /* the mover's connection takes it at its next move */
    const char *sql = dur == STORE_DURABILITY_NORMAL ? "PRAGMA main.synchronous=NORMAL"
                                                     : "PRAGMA main.synchronous=FULL";
    return db_exec(d, sql) == SQLITE_OK ? 0 : GK_ESTORE;
}

static int put_group(struct store_db *d, const char *idx, const char *grp)
{
    if (!store_groups_add(&d->groups, idx, grp)) return SQLITE_OK;
    sqlite3_stmt *st = d->w->put_group;
    sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, grp, -1, SQLITE_STATIC);
    return sqldb_run(st);
}

/* Inserts j's document (with its measurements, store_hmeas.c, its group
 * and key), or nothing when its idempotency key was stored before (j->ack
 * says what). */
int store_db_put(struct store_db *d, struct store_seq *seq, struct store_job *j, int64_t id,
                 int64_t seq_no, int64_t at)
{
    sqlite3_stmt *st = d->w->ins_doc;
    const char *grp = j->groupid ? j->groupid : "";
    if (j->source_len > INT_MAX || j->idem_len > INT_MAX) return SQLITE_TOOBIG;
    d->menc.len = 0;
    store_hmeas_encode(&d->menc, j->meas, j->nmeas);
    if (d->menc.len > INT_MAX) return SQLITE_TOOBIG;
    sqlite3_bind_text(st, 1, j->index, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq_no);
    sqlite3_bind_int64(st, 3, j->ts_ms);
    if (j->groupid)
        sqlite3_bind_text(st, 4, j->groupid, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, j->source, (int)j->source_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, id);
    if (d->menc.len)
        sqlite3_bind_blob(st, 7, d->menc.data, (int)d->menc.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    int rc = sqldb_run(st);
    if (rc != SQLITE_OK) return rc;
    rc = put_group(d, j->index, grp);
    if (rc == SQLITE_OK && j->idem_key) rc = store_idem_put(d, j, id, seq_no, at);
    if (rc == SQLITE_OK) store_seq_bump(seq, j->index, seq_no);
    if (d->gen_docs++ == 0) d->gen_first_ms = (int64_t)clock_mono_ms();
    return rc;
}

/* Inserts j's document (with its measurements, group and key) under the
 * next id and adds it to the journal's record, or does nothing when its
 * idempotency key was stored before (j->ack says what). */
static int put_doc(struct store_db *d, struct store_seq *seq, struct store_job *j)
{
    if (j->idem_key) {
        int found = store_idem_check(d, j);
        if (found == SQLITE_ROW) return SQLITE_OK;
        if (found != SQLITE_DONE) return found;
    }
    int64_t id = d->next_id, at = clock_now_ms();
    int64_t seq_no = store_seq_take(seq, j->index);
    int rc = store_db_put(d, seq, j, id, seq_no, at);
    if (rc != SQLITE_OK) return rc;
    d->next_id++;
    store_jnl_add(&d->jnl, j, id, seq_no, at);
    j->ack.seq_no = seq_no;
    snprintf(j->ack.id, sizeof j->ack.id, "%" PRId64, id);
    return SQLITE_OK;
}

/* A health check: a write transaction, and room for the journal (a full
 * disk may still take a few bytes into a file's last block, not a record). */
static int put_ping(struct store_db *d, const struct store_job *j)
{
    struct statvfs fs;
    if (d->jnl.dir && statvfs(d->jnl.dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < STORE_PING_ROOM)
        return SQLITE_FULL;
    sqlite3_bind_int64(d->w->put_health, 1, j->ts_ms);
    d->pinged = 1;
    return sqldb_run(d->w->put_health);
}

static int put_seqs(struct store_db *d, const struct store_seq *seq)
{
    sqlite3_stmt *st = d->w->put_index;
    for (struct store_seq_entry *e = store_seq_dirty(seq); e; e = e->dirty_next) {
        sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, e->next);
        int rc = sqldb_run(st);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

int store_db_finish(struct store_db *d, struct store_seq *seq, int rc)
{
    if (rc == SQLITE_OK) rc = put_seqs(d, seq);
    return rc;
}

int store_db_run(struct store_db *d, struct store_seq *seq, struct store_job *first,
                 struct store_job *end)
{
    int64_t first_id = d->next_id, next_id = d->next_id;
    size_t gen_docs = d->gen_docs;
    int jerr = 0;
    store_jnl_begin(&d->jnl);
    int rc = d->move_err == GK_EFULL ? SQLITE_FULL : sqldb_run(d->begin);
    for (struct store_job *j = first; rc == SQLITE_OK && j != end; j = j->next)
        rc = j->kind == STORE_JOB_DOC ? put_doc(d, seq, j) : put_ping(d, j);
    rc = store_db_finish(d, seq, rc);
    /* durable in the journal before it is visible (and acknowledged) */
    if (rc == SQLITE_OK && (jerr = store_jnl_commit(&d->jnl, first_id)) != 0) rc = SQLITE_IOERR;
    if (rc == SQLITE_OK && (rc = sqldb_run(d->commit)) != SQLITE_OK) store_jnl_undo(&d->jnl);
    if (rc == SQLITE_OK) {
        store_seq_commit(seq);
        store_groups_commit(&d->groups);
        if (d->last_err != 0) log_info("store: transactions commit again");
        d->last_err = 0;
        return 0;
    }
    d->next_id = next_id;
    d->gen_docs = gen_docs;
    int err = jerr ? jerr : d->move_err == GK_EFULL ? GK_EFULL : store_db_err(d->db, rc);
    /* logged once per run of equal failures, not once per transaction */
    log_msg(err != d->last_err ? LOG_ERROR : LOG_DEBUG, "store: transaction rolled back: %s (%s)",
            jerr ? gk_strerror(jerr) : sqlite3_errstr(rc),
            jerr || d->move_err ? "the journal or gasket.db is full" : sqlite3_errmsg(d->db));
    d->last_err = err;
    if (!sqlite3_get_autocommit(d->db) && sqldb_run(d->rollback) != SQLITE_OK)
        log_error("store: rollback failed: %s", sqlite3_errmsg(d->db));
    store_seq_rollback(seq);
    store_groups_rollback(&d->groups);
    return err;
}
