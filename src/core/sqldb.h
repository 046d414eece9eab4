/* sqldb.h: the few SQLite calls every database of gasket makes the same way.
 *
 * Opening (flags, extended result codes, busy timeout, WAL checked, the
 * caller's pragmas), preparing, stepping a statement that returns no row,
 * walking the rows of a query, one-integer queries, exec and the error
 * text. No policy: which pragmas, which thread and what a failure means are
 * the caller's. A connection is used by one thread at a time (opened
 * SQLITE_OPEN_NOMUTEX). */
#ifndef GASKET_CORE_SQLDB_H
#define GASKET_CORE_SQLDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

enum sqldb_flags {
    SQLDB_READONLY = 1, /* read-only; the file must exist */
    SQLDB_WAL = 2,      /* switch to WAL and check that it took */
};

/* Opens path (created when missing unless SQLDB_READONLY) with extended
 * result codes on and a busy timeout of busy_ms, then runs pragmas (NULL:
 * none). Returns 0 with *out set, or GK_EIO (the file cannot be opened) or
 * GK_ESTORE with "path: reason" in err (*out NULL). */
int sqldb_open(sqlite3 **out, const char *path, int flags, int busy_ms, const char *pragmas,
               char *err, size_t errlen);
/* sqlite3_close(db) (NULL: nothing), finalizing what is still prepared,
 * except the statements a module owns. */
void sqldb_close(sqlite3 *db);
/* SQL that starts with this marks a statement owned by a module of the
 * connection (a virtual table's): whoever walks a connection's statements
 * (sqlite3_next_stmt) leaves those alone; the module finalizes them when
 * the connection closes. */
#define SQLDB_OWNED "/*owned*/"
int sqldb_owned(sqlite3_stmt *st);
/* Finalizes every statement of db but those a module owns. */
void sqldb_finalize_all(sqlite3 *db);
/* Runs sql (several statements allowed); returns the SQLite result code,
 * with the reason in err (errlen 0: none wanted). */
int sqldb_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* Prepares sql into *st; returns the SQLite result code (*st NULL on failure). */
int sqldb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);
/* Steps st once and resets it (bindings kept); returns SQLITE_OK when it
 * ran to completion or gave a row, else the step's result code. */
int sqldb_run(sqlite3_stmt *st);
/* Prepares sql and calls row(ud, st) for each row it gives, then finalizes
 * it; returns SQLITE_OK when every row was seen, else the SQLite result
 * code of the failure (rows seen before it have been handed over). */
int sqldb_each(sqlite3 *db, const char *sql, void (*row)(void *ud, sqlite3_stmt *st), void *ud);
/* The first column of the first row of sql, or dflt (no row, an error). */
int64_t sqldb_int(sqlite3 *db, const char *sql, int64_t dflt);
/* The reason of the last failure on db ("out of memory" for NULL). */
const char *sqldb_error(sqlite3 *db);

#endif
