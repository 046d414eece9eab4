/* store_db.c: the store's SQLite write connection.
 *
 * Opens gasket.db in WAL mode, creates the tables of store.h, prepares every
 * statement once, and runs one group of jobs as one transaction (BEGIN
 * IMMEDIATE ... COMMIT), rolling all of it back on any failure. Used by the
 * writer thread only; text is bound SQLITE_STATIC from the job's own copy. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " idx TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
    " groupid TEXT, source TEXT NOT NULL);"
    /* One b-tree ordered for time-range reads by group and name (WITHOUT
     * ROWID: no second tree to keep in step on every insert). */
    "CREATE TABLE IF NOT EXISTS measurements(grp TEXT NOT NULL, name TEXT NOT NULL,"
    " ts INTEGER NOT NULL, doc INTEGER NOT NULL, value REAL,"
    " PRIMARY KEY(grp, name, ts, doc)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS indices(name TEXT PRIMARY KEY,"
    " next_seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL);";

/* The prepared statements, in the order of struct store_db's members. */
static const char *const stmt_sql[] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO docs(idx, seq, ts, groupid, source) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO measurements(doc, ts, grp, name, value) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO indices(name, next_seq) VALUES(?1, ?2)"
    " ON CONFLICT(name) DO UPDATE SET next_seq = excluded.next_seq",
    "INSERT INTO health(id, at) VALUES(1, ?1)"
    " ON CONFLICT(id) DO UPDATE SET at = excluded.at",
};
#define NSTMT (sizeof stmt_sql / sizeof stmt_sql[0])

static sqlite3_stmt **stmt_slot(struct store_db *d, size_t i)
{
    sqlite3_stmt **slots[] = {&d->begin,    &d->commit,    &d->rollback,  &d->ins_doc,
                              &d->ins_meas, &d->put_index, &d->put_health};
    _Static_assert(sizeof slots / sizeof slots[0] == NSTMT, "one slot per statement");
    return slots[i];
}

/* Maps an SQLite result to GK_EFULL (disk or quota full) or GK_ESTORE. */
static int db_err(sqlite3 *db, int rc)
{
    int sys = sqlite3_system_errno(db);
    if ((rc & 0xff) == SQLITE_FULL) return GK_EFULL;
    if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)) return GK_EFULL;
    return GK_ESTORE;
}

static int db_exec(struct store_db *d, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(d->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

static int db_pragmas(struct store_db *d, const struct store_options *opt)
{
    char sql[96];
    sqlite3_stmt *st;
    int wal = 0;
    if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
    }
    if (!wal) {
        log_error("store: cannot switch to WAL mode: %s", sqlite3_errmsg(d->db));
        return SQLITE_ERROR;
    }
    sqlite3_busy_timeout(d->db, 5000);
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%u", opt->max_pages);
    if (opt->max_pages && db_exec(d, sql) != SQLITE_OK) return SQLITE_ERROR;
    return db_exec(d, "PRAGMA cache_size=-16384");
}

static int db_load_seq(struct store_db *d, struct store_seq *seq)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(d->db, "SELECT name, next_seq FROM indices", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_seq_load(seq, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) log_error("store: loading indices: %s", sqlite3_errmsg(d->db));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int db_prepare(struct store_db *d)
{
    for (size_t i = 0; i < NSTMT; i++) {
        if (sqlite3_prepare_v3(d->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, stmt_slot(d, i),
                               NULL) != SQLITE_OK) {
            log_error("store: preparing \"%s\": %s", stmt_sql[i], sqlite3_errmsg(d->db));
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

int store_db_open(struct store_db *d, const char *path, const struct store_options *opt,
                  struct store_seq *seq)
{
    memset(d, 0, sizeof(*d));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &d->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: cannot open %s: %s", path,
                  d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        store_db_close(d);
        return (rc & 0xff) == SQLITE_CANTOPEN ? GK_EIO : GK_ESTORE;
    }
    sqlite3_extended_result_codes(d->db, 1);
    if (db_pragmas(d, opt) != SQLITE_OK || store_db_set_durability(d, opt->durability) != 0 ||
        db_exec(d, schema_sql) != SQLITE_OK || db_prepare(d) != SQLITE_OK ||
        db_load_seq(d, seq) != SQLITE_OK) {
        store_db_close(d);
        return GK_ESTORE;
    }
    return 0;
}

void store_db_close(struct store_db *d)
{
    for (size_t i = 0; i < NSTMT; i++) {
        sqlite3_finalize(*stmt_slot(d, i));
        *stmt_slot(d, i) = NULL;
    }
    if (d->db && sqlite3_close(d->db) != SQLITE_OK)
        log_error("store: closing the database: %s", sqlite3_errmsg(d->db));
    d->db = NULL;
}

int store_db_set_durability(struct store_db *d, enum store_durability dur)
{
    const char *sql =
        dur == STORE_DURABILITY_NORMAL ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL";
    return db_exec(d, sql) == SQLITE_OK ? 0 : GK_ESTORE;
}

/* Steps a statement that returns no row of interest and resets it. */
static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int put_meas(struct store_db *d, const struct store_job *j, int64_t id)
{
    sqlite3_stmt *st = d->ins_meas;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, j->ts_ms);
    if (j->groupid)
        sqlite3_bind_text(st, 3, j->groupid, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    for (size_t i = 0; i < j->nmeas; i++) {
        sqlite3_bind_text(st, 4, j->meas[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, j->meas[i].value);
        int rc = step(st);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static int put_doc(struct store_db *d, struct store_seq *seq, struct store_job *j)
{
    sqlite3_stmt *st = d->ins_doc;
    int64_t seq_no = store_seq_take(seq, j->index);
    if (j->source_len > INT_MAX) return SQLITE_TOOBIG;
    sqlite3_bind_text(st, 1, j->index, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq_no);
    sqlite3_bind_int64(st, 3, j->ts_ms);
    if (j->groupid)
        sqlite3_bind_text(st, 4, j->groupid, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, j->source, (int)j->source_len, SQLITE_STATIC);
    int rc = step(st);
    if (rc != SQLITE_OK) return rc;
    int64_t id = sqlite3_last_insert_rowid(d->db);
    rc = put_meas(d, j, id);
    j->ack.seq_no = seq_no;
    snprintf(j->ack.id, sizeof j->ack.id, "%" PRId64, id);
    return rc;
}

static int put_ping(struct store_db *d, const struct store_job *j)
{
    sqlite3_bind_int64(d->put_health, 1, j->ts_ms);
    return step(d->put_health);
}

static int put_seqs(struct store_db *d, const struct store_seq *seq)
{
    sqlite3_stmt *st = d->put_index;
    for (struct store_seq_entry *e = store_seq_dirty(seq); e; e = e->dirty_next) {
        sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, e->next);
        int rc = step(st);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

int store_db_run(struct store_db *d, struct store_seq *seq, struct store_job *first,
                 struct store_job *end)
{
    int rc = step(d->begin);
    for (struct store_job *j = first; rc == SQLITE_OK && j != end; j = j->next)
        rc = j->kind == STORE_JOB_DOC ? put_doc(d, seq, j) : put_ping(d, j);
    if (rc == SQLITE_OK) rc = put_seqs(d, seq);
    if (rc == SQLITE_OK) rc = step(d->commit);
    if (rc == SQLITE_OK) {
        store_seq_commit(seq);
        if (d->last_err != 0) log_info("store: transactions commit again");
        d->last_err = 0;
        return 0;
    }
    int err = db_err(d->db, rc);
    /* logged once per run of equal failures, not once per transaction */
    log_msg(err != d->last_err ? LOG_ERROR : LOG_DEBUG, "store: transaction rolled back: %s (%s)",
            sqlite3_errstr(rc), sqlite3_errmsg(d->db));
    d->last_err = err;
    if (!sqlite3_get_autocommit(d->db) && step(d->rollback) != SQLITE_OK)
        log_error("store: rollback failed: %s", sqlite3_errmsg(d->db));
    store_seq_rollback(seq);
    return err;
}
