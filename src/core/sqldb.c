/* sqldb.c: the shared SQLite helpers (see sqldb.h). */
#include "core/sqldb.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>

/* Switches db to WAL; 0 when the journal mode is now "wal". */
static int set_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int wal = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    return wal ? 0 : -1;
}

int sqldb_open(sqlite3 **out, const char *path, int flags, int busy_ms, const char *pragmas,
               char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int oflags = (flags & SQLDB_READONLY) ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    const char *why = NULL;
    int rc = sqlite3_open_v2(path, &db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    int cantopen = (rc & 0xff) == SQLITE_CANTOPEN;
    *out = NULL;
    if (rc != SQLITE_OK) {
        why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    } else {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, busy_ms);
        if ((flags & SQLDB_WAL) && set_wal(db) != 0)
            why = "cannot switch to WAL mode";
        else if (pragmas && sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
            why = sqlite3_errmsg(db);
    }
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        sqlite3_close(db);
        return cantopen ? GK_EIO : GK_ESTORE;
    }
    *out = db;
    return 0;
}

int sqldb_owned(sqlite3_stmt *st)
{
    const char *sql = sqlite3_sql(st);
    return sql && strncmp(sql, SQLDB_OWNED, sizeof SQLDB_OWNED - 1) == 0;
}

void sqldb_finalize_all(sqlite3 *db)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL), *next; st; st = next) {
        next = sqlite3_next_stmt(db, st);
        if (!sqldb_owned(st)) sqlite3_finalize(st);
    }
}

void sqldb_close(sqlite3 *db)
{
    if (!db) return;
    sqldb_finalize_all(db);
    sqlite3_close(db);
}

int sqldb_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK && errlen) snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

int sqldb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(db, sql, -1, st, NULL);
}

int sqldb_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int sqldb_each(sqlite3 *db, const char *sql, void (*row)(void *ud, sqlite3_stmt *st), void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        row(ud, st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int64_t sqldb_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

const char *sqldb_error(sqlite3 *db)
{
    return db ? sqlite3_errmsg(db) : "out of memory";
}
