/* history.h: the alarm history behind GET /alarms and POST /alarms/{id}/ack.
 *
 * Records the events of the alarm engine (alarm.h) in an SQLite table, one
 * row per alarm from raised to cleared: its route, group, rule, measurement,
 * severity ("warning", "alarm" or "offline"), state ("active" or "cleared"),
 * the value that raised it, its peak, when it was raised, last changed
 * severity and cleared, and who acknowledged it when. A group gone silent is
 * a row of severity "offline" without rule or measurement, cleared when the
 * group speaks again. The row's route is what scopes it: a principal sees
 * and acknowledges the alarms of its routes.
 *
 * Threads and connections. Every history_* function is called on the loop
 * thread and never blocks there:
 *   - the history's writer thread owns the write connection to the database
 *     (WAL, synchronous=NORMAL) and the map of active rows. It takes every
 *     queued event and acknowledgement (gathering for 10 ms after the first)
 *     and commits them in one transaction (group commit), then writes the files handed to history_write_file();
 *     completions come back to the loop through a uv_async_t.
 *   - a listing runs on the query pool (a workpool) on a read-only
 *     connection of its own, opened for it and closed after it. It starts
 *     once the writer has committed everything queued before it, so a
 *     listing sees every event recorded before the call.
 * Callbacks run on the loop thread, never inside the call that queued them.
 * The HTTP glue (query strings, scope from the principal) is the gateway's
 * (gateway/alarms_api.c). */
#ifndef GASKET_RULES_HISTORY_H
#define GASKET_RULES_HISTORY_H

#include "core/buf.h"
#include "rules/alarm.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HISTORY_GROUP_MAX 256 /* bytes of a group filter, NUL included */
#define HISTORY_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_MAX 1000

struct history;
struct workpool;

/* The routes a caller may see: routes NULL is every route, else only the
 * rows whose route is one of routes[0..nroutes) (nroutes 0: none). The
 * strings are the caller's; calls that queue work copy them. */
struct history_scope {
    const char *const *routes;
    size_t nroutes;
};

/* What GET /alarms lists. A zeroed filter lists everything, newest first,
 * HISTORY_LIMIT_DEFAULT rows. */
struct history_filter {
    int active;                    /* 1: active alarms only */
    char group[HISTORY_GROUP_MAX]; /* "": any group */
    int64_t since_ms;              /* > 0: raised at or after this time only */
    int limit;                     /* 0: HISTORY_LIMIT_DEFAULT; capped at HISTORY_LIMIT_MAX */
    struct history_scope scope;
    int gzip; /* 1: a listing of 1 KiB or more comes back gzipped (made on the pool) */
};

/* Opens (creating when missing) the history database at path, reloads
 * which rows are active (so events after a restart continue them) and
 * starts the writer thread; listings run on pool (the caller's, closed
 * after history_close()). Returns 0 with *out set, or GK_ESTORE with the
 * reason in err (*out then NULL). Loop thread; blocks while opening. */
int history_open(struct history **out, uv_loop_t *loop, struct workpool *pool, const char *path,
                 char *err, size_t errlen);

/* Commits what is queued, writes the pending files, runs the remaining
 * acknowledgement callbacks, stops the writer and closes the database; h
 * is freed once its handle is closed (the loop runs once more). Listings
 * already queued finish on the pool. Blocks; loop thread. NULL: nothing. */
void history_close(struct history *h);

/* Queues one event of the alarm engine (a copy), for the next group commit:
 *   RAISED   a new active row; an active row of the same (route, group,
 *            rule) left over (a lost engine state) is cleared first
 *   CHANGED  the active row takes the new severity, peak and changed time
 *   CLEARED  the active row becomes cleared, with its cleared time and peak
 *   OFFLINE  a new active row of severity "offline" for (route, group)
 *   ONLINE   that row becomes cleared
 * CHANGED and CLEARED without an active row (a history database newer than
 * the engine's state) first insert the row, raised at ev->since_ms. Failures
 * are logged, never returned: history is a record, not an acknowledged
 * reading. */
void history_record(struct history *h, const struct alarm_event *ev);

/* Receives the listing: status 0 and body the JSON object
 *   {"alarms":[{"id":1,"route":"/r","group":"2","rule":"no2",
 *     "measurement":"no2","severity":"warning","state":"active","value":90,
 *     "peak":95,"raised":"2026-11-26T08:00:00.000Z","changed":"...",
 *     "cleared":null,"acked":null,"acked_by":null},...],"total":N}
 * of the rows the filter selects, newest raised first, at most its limit;
 * "total" counts every row selected regardless of the limit. Times are ISO
 * 8601 UTC with milliseconds; absent values are null. Or status GK_ESTORE
 * (logged) and an empty body. body is valid during the call only. */
/* gzipped: body is a gzip member (only when the filter asked for gzip). */
typedef void (*history_list_cb)(void *ud, int status, const struct buf *body, int gzipped);

/* Lists f's rows (f is copied); cb(ud, ...) runs later on the loop thread. */
void history_list(struct history *h, const struct history_filter *f, history_list_cb cb,
                  void *ud);

/* Receives an acknowledgement's result: 0, GK_ENOTFOUND for an unknown id
 * or one outside the scope, GK_EEXIST when it was acknowledged already
 * (nothing changed), GK_ESTORE on a database failure (logged). */
typedef void (*history_ack_cb)(void *ud, int status);

/* Acknowledges alarm id in the next group commit: sets its acked time to
 * now_ms and acked_by to by (NULL: null) when its route is in scope (NULL:
 * every route). cb runs on the loop thread after the commit. Cleared alarms
 * may be acknowledged too. */
void history_ack(struct history *h, int64_t id, const struct history_scope *scope, const char *by,
                 int64_t now_ms, history_ack_cb cb, void *ud);

/* Hands text (malloc'ed, NUL-terminated; h frees it) to the writer thread,
 * which writes it to path atomically (temporary file, fsync, rename) after
 * its next commit. Used for alarms.json. */
void history_write_file(struct history *h, const char *path, char *text);

#endif
