/* history.h: the alarm history behind GET /alarms and POST /alarms/{id}/ack.
 *
 * Records the events of the alarm engine (alarm.h) in an SQLite table, one
 * row per alarm from raised to cleared: its route, group, rule, measurement,
 * severity ("warning", "alarm" or "offline"), state ("active" or "cleared"),
 * the value that raised it, its peak, when it was raised, last changed
 * severity and cleared, and who acknowledged it when. A group gone silent is
 * a row of severity "offline" without rule or measurement, cleared when the
 * group speaks again.
 *
 * Everything runs on the event loop thread; each call is a few prepared
 * statements. history_record() never fails (errors are logged): history is a
 * record, not an acknowledged reading, and the database runs with WAL and
 * synchronous=NORMAL. The HTTP glue is the caller's: this module turns a
 * query string into a filter and a filter into the JSON body. */
#ifndef GASKET_RULES_HISTORY_H
#define GASKET_RULES_HISTORY_H

#include "core/buf.h"
#include "rules/alarm.h"

#include <stddef.h>
#include <stdint.h>

#define HISTORY_GROUP_MAX 256 /* bytes of a group filter, NUL included */
#define HISTORY_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_MAX 1000

struct history;

/* What GET /alarms lists. A zeroed filter lists everything, newest first,
 * HISTORY_LIMIT_DEFAULT rows. It holds no pointers, so it may be copied. */
struct history_filter {
    int active;                    /* 1: active alarms only */
    char group[HISTORY_GROUP_MAX]; /* "": any group */
    int64_t since_ms;              /* > 0: raised at or after this time only */
    int limit;                     /* 0: HISTORY_LIMIT_DEFAULT; capped at HISTORY_LIMIT_MAX */
};

/* Opens (creating when missing) the history database at path and reloads
 * which rows are active, so events after a restart continue them. Returns
 * 0 with *out set, or GK_ESTORE with the reason in err (*out then NULL). */
int history_open(struct history **out, const char *path, char *err, size_t errlen);

/* Closes the database and frees h (NULL: nothing). */
void history_close(struct history *h);

/* Records one event of the alarm engine (usable as its alarm_event_cb with
 * h as ud through a one-line adapter):
 *   RAISED   a new active row; an active row of the same (route, group,
 *            rule) left over (a lost engine state) is cleared first
 *   CHANGED  the active row takes the new severity, peak and changed time
 *   CLEARED  the active row becomes cleared, with its cleared time and peak
 *   OFFLINE  a new active row of severity "offline" for (route, group)
 *   ONLINE   that row becomes cleared
 * CHANGED and CLEARED without an active row (a history database newer than
 * the engine's state) first insert the row, raised at ev->since_ms. Failures
 * are logged, never returned. */
void history_record(struct history *h, const struct alarm_event *ev);

/* Appends to out the JSON object
 *   {"alarms":[{"id":1,"route":"/r","group":"2","rule":"no2",
 *     "measurement":"no2","severity":"warning","state":"active","value":90,
 *     "peak":95,"raised":"2026-11-26T08:00:00.000Z","changed":"...",
 *     "cleared":null,"acked":null,"acked_by":null},...],"total":N}
 * of the rows f selects, newest raised first, at most f's limit; "total"
 * counts every row f selects regardless of the limit. Times are ISO 8601
 * UTC with milliseconds; absent values are null. Returns 0, or GK_ESTORE
 * (logged) with out as it was before the call. */
int history_query(struct history *h, const struct history_filter *f, struct buf *out);

/* Acknowledges alarm id: sets its acked time to now_ms and acked_by to by
 * (NULL: null). Returns 0, GK_ENOTFOUND for an unknown id, GK_EEXIST when
 * it was acknowledged already (nothing changes), GK_ESTORE on a database
 * failure (logged). Cleared alarms may be acknowledged too. */
int history_ack(struct history *h, int64_t id, const char *by, int64_t now_ms);

/* Fills f from the query string of GET /alarms (without the '?'; NULL or ""
 * for none): `active=true|false`, `group=` (percent-decoded, '+' a space),
 * `since=` as epoch milliseconds or ISO 8601 (2026-11-26T08:00:00Z, with
 * optional .fff fraction and a Z, +HH:MM or -HH:MM zone; a date alone is its
 * midnight UTC), `limit=1..1000`. Returns 0, or GK_EINVAL with a reason that
 * starts with the parameter's name in err: an unknown parameter, one given
 * twice or without a value, a bad value or bad percent-encoding. */
int history_filter_parse(const char *query, struct history_filter *f, char *err, size_t errlen);

#endif
