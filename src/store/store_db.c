/* store_db.c: the store's SQLite write connection.
 *
 * Opens gasket.db in WAL mode, checks the schema version (PRAGMA
 * user_version 4; a file of version 3 is upgraded in place, in the
 * transaction that checks it, by adding the idem table; an unversioned file
 * holding the old layout and a file of the unreleased version 2 are
 * refused, an empty one is given the tables of store.h), prepares every statement
 * once, and runs one group of jobs as one transaction (BEGIN IMMEDIATE ...
 * COMMIT): documents, their measurements, new groups, then the rollups the
 * group accumulated (one upsert per bucket, measurements and document
 * counts alike), then the _seq_no counters. Any
 * failure rolls all of it back. Used by the writer thread only; text is
 * bound SQLITE_STATIC from the job's own copy. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sqldb.h"
#include "store/store_int.h"

#define SCHEMA_VERSION 4

/* What version 4 adds to version 3: the idempotency keys (store_idem.c). */
#define IDEM_SQL                                                                                   \
    "CREATE TABLE IF NOT EXISTS idem(doc INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"           \
    " seq INTEGER NOT NULL, fp INTEGER NOT NULL, at INTEGER NOT NULL);"

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
    " at INTEGER NOT NULL);" IDEM_SQL "PRAGMA user_version = 4;";

#define ROLLUP_UPSERT(table)                                                                       \
    "INSERT INTO " table "(idx, grp, name, t, n, mn, mx, sm)"                                      \
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(idx, grp, name, t) DO UPDATE SET"         \
    " n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx),"                   \
    " sm = sm + excluded.sm"

/* The prepared statements, in the order of struct store_db's members. */
static const char *const stmt_sql[] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO docs(idx, seq, ts, groupid, source) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO measurements(idx, grp, name, ts, doc, value) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO indices(name, next_seq) VALUES(?1, ?2)"
    " ON CONFLICT(name) DO UPDATE SET next_seq = excluded.next_seq",
    "INSERT INTO health(id, at) VALUES(1, ?1)"
    " ON CONFLICT(id) DO UPDATE SET at = excluded.at",
    "INSERT OR IGNORE INTO groups(idx, grp) VALUES(?1, ?2)",
    ROLLUP_UPSERT("rollup_1m"),
    ROLLUP_UPSERT("rollup_1h"),
    "SELECT doc, seq, fp FROM idem WHERE key = ?1",
    "INSERT INTO idem(doc, key, seq, fp, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM idem WHERE doc IN (SELECT doc FROM idem ORDER BY doc LIMIT ?2) AND at < ?1",
};
#define NSTMT (sizeof stmt_sql / sizeof stmt_sql[0])

static sqlite3_stmt **stmt_slot(struct store_db *d, size_t i)
{
    sqlite3_stmt **slots[] = {&d->begin,    &d->commit,    &d->rollback,   &d->ins_doc,
                              &d->ins_meas, &d->put_index, &d->put_health, &d->put_group,
                              &d->put_r1m,  &d->put_r1h,   &d->idem_get,   &d->idem_put,
                              &d->idem_sweep};
    _Static_assert(sizeof slots / sizeof slots[0] == NSTMT, "one slot per statement");
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
    if (rc != SQLITE_OK)
        log_error("store: %.80s: %s", sql, why);
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

/* Inside the open transaction: accepts version 4, upgrades version 3,
 * creates version 4 in an empty file, refuses anything else (logged). */
static int db_check_version(struct store_db *d, const char *path)
{
    int64_t ver = db_int(d, "PRAGMA user_version");
    if (ver == SCHEMA_VERSION) return SQLITE_OK;
    if (ver == 3) {
        log_info("store: %s: upgrading schema 3 to 4 (idempotency keys)", path);
        return db_exec(d, IDEM_SQL "PRAGMA user_version = 4;");
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

static int db_schema(struct store_db *d, const char *path)
{
    if (db_exec(d, "BEGIN IMMEDIATE") != SQLITE_OK) return SQLITE_ERROR;
    int rc = db_check_version(d, path);
    if (rc == SQLITE_OK) rc = db_exec(d, "COMMIT");
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", 0, 0, 0);
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
    int rc = sqldb_each(d->db, "SELECT name, next_seq FROM indices", load_seq, seq);
    if (rc == SQLITE_OK)
        rc = sqldb_each(d->db, "SELECT idx, grp FROM groups", load_group, &d->groups);
    store_groups_commit(&d->groups);
    if (rc != SQLITE_OK) log_error("store: loading indices: %s", sqlite3_errmsg(d->db));
    return rc;
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
    store_roll_init(&d->r1m);
    store_roll_init(&d->r1h);
    store_groups_init(&d->groups);
    char why[600];
    int rc = sqldb_open(&d->db, path, SQLDB_WAL, 5000, NULL, why, sizeof why);
    if (rc != 0) {
        log_error("store: cannot open %s", why);
        store_db_close(d);
        return rc;
    }
    if (db_pragmas(d, opt) != SQLITE_OK || store_db_set_durability(d, opt->durability) != 0 ||
        db_schema(d, path) != SQLITE_OK || db_prepare(d) != SQLITE_OK ||
        db_load(d, seq) != SQLITE_OK) {
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
    for (size_t i = 0; i < STORE_RET_NSTMT; i++) {
        sqlite3_finalize(d->ret[i]);
        d->ret[i] = NULL;
    }
    if (d->db && sqlite3_close(d->db) != SQLITE_OK)
        log_error("store: closing the database: %s", sqlite3_errmsg(d->db));
    d->db = NULL;
    store_roll_free(&d->r1m);
    store_roll_free(&d->r1h);
    store_groups_free(&d->groups);
}

int store_db_set_durability(struct store_db *d, enum store_durability dur)
{
    const char *sql =
        dur == STORE_DURABILITY_NORMAL ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL";
    return db_exec(d, sql) == SQLITE_OK ? 0 : GK_ESTORE;
}

/* Inserts the document's measurements and adds them to the minute
 * rollups (NaN, stored as NULL, is left out of the rollups), with one
 * document under STORE_DOCS_NAME. */
static int put_meas(struct store_db *d, const struct store_job *j, const char *grp, int64_t id)
{
    sqlite3_stmt *st = d->ins_meas;
    uint32_t hig = store_roll_hash_ig(j->index, grp);
    int64_t t = store_roll_floor(j->ts_ms, STORE_MINUTE_MS);
    sqlite3_bind_text(st, 1, j->index, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, grp, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, j->ts_ms);
    sqlite3_bind_int64(st, 5, id);
    for (size_t i = 0; i < j->nmeas; i++) {
        double v = j->meas[i].value;
        sqlite3_bind_text(st, 3, j->meas[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, v);
        int rc = sqldb_run(st);
        if (rc != SQLITE_OK) return rc;
        if (!isnan(v)) store_roll_add(&d->r1m, hig, j->index, grp, j->meas[i].name, t, 1, v, v, v);
    }
    store_roll_add(&d->r1m, hig, j->index, grp, STORE_DOCS_NAME, t, 1, NAN, NAN, NAN);
    return SQLITE_OK;
}

static int put_group(struct store_db *d, const char *idx, const char *grp)
{
    if (!store_groups_add(&d->groups, idx, grp)) return SQLITE_OK;
    sqlite3_bind_text(d->put_group, 1, idx, -1, SQLITE_STATIC);
    sqlite3_bind_text(d->put_group, 2, grp, -1, SQLITE_STATIC);
    return sqldb_run(d->put_group);
}

/* Inserts j's document (with its measurements, group and key), or nothing
 * when its idempotency key was stored before (j->ack says what). */
static int put_doc(struct store_db *d, struct store_seq *seq, struct store_job *j)
{
    sqlite3_stmt *st = d->ins_doc;
    const char *grp = j->groupid ? j->groupid : "";
    if (j->source_len > INT_MAX || j->idem_len > INT_MAX) return SQLITE_TOOBIG;
    if (j->idem_key) {
        int found = store_idem_check(d, j);
        if (found == SQLITE_ROW) return SQLITE_OK;
        if (found != SQLITE_DONE) return found;
    }
    int64_t seq_no = store_seq_take(seq, j->index);
    sqlite3_bind_text(st, 1, j->index, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq_no);
    sqlite3_bind_int64(st, 3, j->ts_ms);
    if (j->groupid)
        sqlite3_bind_text(st, 4, j->groupid, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, j->source, (int)j->source_len, SQLITE_STATIC);
    int rc = sqldb_run(st);
    if (rc != SQLITE_OK) return rc;
    int64_t id = sqlite3_last_insert_rowid(d->db);
    rc = put_group(d, j->index, grp);
    if (rc == SQLITE_OK) rc = put_meas(d, j, grp, id);
    if (rc == SQLITE_OK && j->idem_key) rc = store_idem_put(d, j, id, seq_no, clock_now_ms());
    j->ack.seq_no = seq_no;
    snprintf(j->ack.id, sizeof j->ack.id, "%" PRId64, id);
    return rc;
}

static int put_ping(struct store_db *d, const struct store_job *j)
{
    sqlite3_bind_int64(d->put_health, 1, j->ts_ms);
    return sqldb_run(d->put_health);
}

static int put_seqs(struct store_db *d, const struct store_seq *seq)
{
    sqlite3_stmt *st = d->put_index;
    for (struct store_seq_entry *e = store_seq_dirty(seq); e; e = e->dirty_next) {
        sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, e->next);
        int rc = sqldb_run(st);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/* Upserts every bucket of m, once each (a document count with NULL
 * mn, mx and sm). */
static int put_rollups(sqlite3_stmt *st, const struct store_roll_map *m)
{
    for (size_t i = 0; i < m->len; i++) {
        const struct store_roll_ent *e = &m->ents[i];
        sqlite3_bind_text(st, 1, e->idx, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->grp, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, e->t);
        sqlite3_bind_int64(st, 5, e->n);
        if (strcmp(e->name, STORE_DOCS_NAME) == 0) {
            for (int k = 6; k <= 8; k++)
                sqlite3_bind_null(st, k);
        } else {
            sqlite3_bind_double(st, 6, e->mn);
            sqlite3_bind_double(st, 7, e->mx);
            sqlite3_bind_double(st, 8, e->sm);
        }
        int rc = sqldb_run(st);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/* Folds the transaction's minutes into hours and writes both. */
static int flush_rollups(struct store_db *d)
{
    for (size_t i = 0; i < d->r1m.len; i++) {
        const struct store_roll_ent *e = &d->r1m.ents[i];
        store_roll_add(&d->r1h, store_roll_hash_ig(e->idx, e->grp), e->idx, e->grp, e->name,
                       store_roll_floor(e->t, STORE_HOUR_MS), e->n, e->mn, e->mx, e->sm);
    }
    int rc = put_rollups(d->put_r1m, &d->r1m);
    return rc == SQLITE_OK ? put_rollups(d->put_r1h, &d->r1h) : rc;
}

int store_db_run(struct store_db *d, struct store_seq *seq, struct store_job *first,
                 struct store_job *end)
{
    int rc = sqldb_run(d->begin);
    for (struct store_job *j = first; rc == SQLITE_OK && j != end; j = j->next)
        rc = j->kind == STORE_JOB_DOC ? put_doc(d, seq, j) : put_ping(d, j);
    if (rc == SQLITE_OK) rc = flush_rollups(d);
    if (rc == SQLITE_OK) rc = put_seqs(d, seq);
    if (rc == SQLITE_OK) rc = sqldb_run(d->commit);
    store_roll_clear(&d->r1m);
    store_roll_clear(&d->r1h);
    if (rc == SQLITE_OK) {
        store_seq_commit(seq);
        store_groups_commit(&d->groups);
        if (d->last_err != 0) log_info("store: transactions commit again");
        d->last_err = 0;
        return 0;
    }
    int err = store_db_err(d->db, rc);
    /* logged once per run of equal failures, not once per transaction */
    log_msg(err != d->last_err ? LOG_ERROR : LOG_DEBUG, "store: transaction rolled back: %s (%s)",
            sqlite3_errstr(rc), sqlite3_errmsg(d->db));
    d->last_err = err;
    if (!sqlite3_get_autocommit(d->db) && sqldb_run(d->rollback) != SQLITE_OK)
        log_error("store: rollback failed: %s", sqlite3_errmsg(d->db));
    store_seq_rollback(seq);
    store_groups_rollback(&d->groups);
    return err;
}
