/* history.c: the alarm history in SQLite (history.h).
 *
 * One table, `alarms`, one row per alarm. Which rows are active is also kept
 * in memory, a map from "route\x1fgroup\x1frule" (rule "" for a group gone
 * offline) to the row's id, so an event updates its row by primary key; the
 * map is rebuilt from the active rows at open. Every statement is prepared
 * once: the fixed ones at open, the listing ones (one per combination of
 * filters, so each can use its index) on first use. The second half of the
 * file is the pure part: rows to JSON, and the query string to a filter. */
#include "rules/history.h"

#include "core/err.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ST_INSERT, ST_CHANGE, ST_CLEAR, ST_ACK, ST_EXISTS, ST_ACTIVE, ST_FIXED };

/* Filters that select a listing statement, as bits of its index. */
enum { F_ACTIVE = 1, F_GROUP = 2, F_SINCE = 4, F_COMBOS = 8 };

struct history {
    sqlite3 *db;
    sqlite3_stmt *st[ST_FIXED];
    sqlite3_stmt *list[F_COMBOS], *count[F_COMBOS]; /* NULL until first used */
    struct map active;                              /* key -> int64_t * row id */
    struct buf key;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS alarms(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " route TEXT, grp TEXT, rule TEXT, measurement TEXT, severity TEXT, state TEXT,"
    " value REAL, peak REAL, raised_ms INTEGER, changed_ms INTEGER, cleared_ms INTEGER,"
    " acked_ms INTEGER, acked_by TEXT);"
    "CREATE INDEX IF NOT EXISTS alarms_state ON alarms(state);"
    "CREATE INDEX IF NOT EXISTS alarms_grp ON alarms(grp, raised_ms);"
    "CREATE INDEX IF NOT EXISTS alarms_raised ON alarms(raised_ms);";

static const char *const fixed_sql[ST_FIXED] = {
    [ST_INSERT] = "INSERT INTO alarms(route, grp, rule, measurement, severity, state, value,"
                  " peak, raised_ms, changed_ms) VALUES(?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7,"
                  " ?8, ?8)",
    [ST_CHANGE] = "UPDATE alarms SET severity = ?2, peak = ?3, changed_ms = ?4 WHERE id = ?1",
    [ST_CLEAR] = "UPDATE alarms SET state = 'cleared', cleared_ms = ?2,"
                 " peak = coalesce(?3, peak) WHERE id = ?1",
    [ST_ACK] = "UPDATE alarms SET acked_ms = ?2, acked_by = ?3"
               " WHERE id = ?1 AND acked_ms IS NULL",
    [ST_EXISTS] = "SELECT 1 FROM alarms WHERE id = ?1",
    [ST_ACTIVE] = "SELECT id, route, grp, rule FROM alarms WHERE state = 'active'",
};

/* The columns a listing selects, in order, and how each is written. */
enum col_kind { COL_INT, COL_TEXT, COL_NUM, COL_TIME };

static const struct {
    const char *name, *sql;
    int kind;
} cols[] = {
    {"id", "id", COL_INT},
    {"route", "route", COL_TEXT},
    {"group", "grp", COL_TEXT},
    {"rule", "rule", COL_TEXT},
    {"measurement", "measurement", COL_TEXT},
    {"severity", "severity", COL_TEXT},
    {"state", "state", COL_TEXT},
    {"value", "value", COL_NUM},
    {"peak", "peak", COL_NUM},
    {"raised", "raised_ms", COL_TIME},
    {"changed", "changed_ms", COL_TIME},
    {"cleared", "cleared_ms", COL_TIME},
    {"acked", "acked_ms", COL_TIME},
    {"acked_by", "acked_by", COL_TEXT},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static int db_fail(struct history *h, const char *what)
{
    log_error("history: %s: %s", what, sqlite3_errmsg(h->db));
    return GK_ESTORE;
}

/* Steps a statement that returns no row, then resets it. */
static int run(struct history *h, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(h, what);
}

/* ---- the map of active rows ---- */

/* Makes h->key the key of an event's alarm. */
static void make_key(struct history *h, const char *route, const char *group, const char *rule)
{
    buf_reset(&h->key);
    buf_printf(&h->key, "%s\x1f%s\x1f%s", route ? route : "", group ? group : "",
               rule ? rule : "");
}

/* The id of the active row under h->key, or 0. */
static int64_t active_id(struct history *h)
{
    int64_t *id = map_get(&h->active, h->key.data, h->key.len);
    return id ? *id : 0;
}

static void active_set(struct history *h, int64_t id)
{
    int64_t *v = xmalloc(sizeof *v);
    *v = id;
    free(map_put(&h->active, h->key.data, h->key.len, v));
}

static void active_drop(struct history *h)
{
    free(map_del(&h->active, h->key.data, h->key.len));
}

static void free_value(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    free(value);
}

static int load_active(struct history *h)
{
    sqlite3_stmt *st = h->st[ST_ACTIVE];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        make_key(h, (const char *)sqlite3_column_text(st, 1),
                 (const char *)sqlite3_column_text(st, 2),
                 (const char *)sqlite3_column_text(st, 3));
        active_set(h, sqlite3_column_int64(st, 0));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : GK_ESTORE;
}

/* ---- opening and closing ---- */

int history_open(struct history **out, const char *path, char *err, size_t errlen)
{
    struct history *h = xcalloc(1, sizeof *h);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    *out = NULL;
    if (sqlite3_open_v2(path, &h->db, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(h->db, schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < ST_FIXED; i++)
        if (sqlite3_prepare_v2(h->db, fixed_sql[i], -1, &h->st[i], NULL) != SQLITE_OK)
            goto fail;
    if (load_active(h) != 0)
        goto fail;
    log_debug("history: %s: %zu active alarms", path, h->active.count);
    *out = h;
    return 0;
fail:
    snprintf(err, errlen, "history: %s: %s", path,
             h->db ? sqlite3_errmsg(h->db) : "out of memory");
    history_close(h);
    return GK_ESTORE;
}

void history_close(struct history *h)
{
    if (!h)
        return;
    for (int i = 0; i < ST_FIXED; i++)
        sqlite3_finalize(h->st[i]);
    for (int i = 0; i < F_COMBOS; i++) {
        sqlite3_finalize(h->list[i]);
        sqlite3_finalize(h->count[i]);
    }
    sqlite3_close(h->db);
    map_foreach(&h->active, free_value, NULL);
    map_free(&h->active);
    buf_free(&h->key);
    free(h);
}

/* ---- recording ---- */

static const char *severity_name(const struct alarm_event *ev)
{
    if (ev->kind == ALARM_EV_OFFLINE || ev->kind == ALARM_EV_ONLINE)
        return "offline";
    return ev->severity == ALARM_SEV_ALARM ? "alarm" : "warning";
}

/* Inserts the active row of ev's alarm, raised at raised_ms, and maps
 * h->key to it. Returns its id, or 0. */
static int64_t insert_row(struct history *h, const struct alarm_event *ev, int64_t raised_ms)
{
    sqlite3_stmt *st = h->st[ST_INSERT];
    int offline = ev->kind == ALARM_EV_OFFLINE;
    sqlite3_bind_text(st, 1, ev->route, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, offline ? NULL : ev->rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, offline ? NULL : ev->measurement, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, severity_name(ev), -1, SQLITE_STATIC);
    if (offline) {
        sqlite3_bind_null(st, 6);
        sqlite3_bind_null(st, 7);
    } else {
        sqlite3_bind_double(st, 6, ev->value);
        sqlite3_bind_double(st, 7, ev->peak);
    }
    sqlite3_bind_int64(st, 8, raised_ms);
    if (run(h, st, "insert") != 0)
        return 0;
    int64_t id = sqlite3_last_insert_rowid(h->db);
    active_set(h, id);
    return id;
}

/* Clears row id at t, with peak unless has_peak is 0, and unmaps h->key. */
static void clear_row(struct history *h, int64_t id, int64_t t, int has_peak, double peak)
{
    sqlite3_stmt *st = h->st[ST_CLEAR];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, t);
    if (has_peak)
        sqlite3_bind_double(st, 3, peak);
    else
        sqlite3_bind_null(st, 3);
    run(h, st, "clear");
    active_drop(h);
}

static void record_raise(struct history *h, const struct alarm_event *ev)
{
    int64_t old = active_id(h);
    if (old) {
        log_warn("history: %s group %s %s raised while active: row %lld cleared", ev->route,
                 ev->group, ev->rule ? ev->rule : "offline", (long long)old);
        clear_row(h, old, ev->time_ms, 0, 0);
    }
    insert_row(h, ev, ev->time_ms);
}

static void record_change(struct history *h, const struct alarm_event *ev)
{
    int64_t id = active_id(h);
    if (!id && !(id = insert_row(h, ev, ev->since_ms)))
        return;
    sqlite3_stmt *st = h->st[ST_CHANGE];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, severity_name(ev), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, ev->peak);
    sqlite3_bind_int64(st, 4, ev->time_ms);
    run(h, st, "change");
}

static void record_clear(struct history *h, const struct alarm_event *ev)
{
    int rule = ev->kind == ALARM_EV_CLEARED;
    int64_t id = active_id(h);
    if (!id && rule)
        id = insert_row(h, ev, ev->since_ms);
    if (id)
        clear_row(h, id, ev->time_ms, rule, ev->peak);
}

void history_record(struct history *h, const struct alarm_event *ev)
{
    int group_event = ev->kind == ALARM_EV_OFFLINE || ev->kind == ALARM_EV_ONLINE;
    make_key(h, ev->route, ev->group, group_event ? NULL : ev->rule);
    switch (ev->kind) {
    case ALARM_EV_RAISED:
    case ALARM_EV_OFFLINE:
        record_raise(h, ev);
        break;
    case ALARM_EV_CHANGED:
        record_change(h, ev);
        break;
    case ALARM_EV_CLEARED:
    case ALARM_EV_ONLINE:
        record_clear(h, ev);
        break;
    default:
        log_error("history: unknown event kind %d", ev->kind);
    }
}

/* ---- acknowledging ---- */

int history_ack(struct history *h, int64_t id, const char *by, int64_t now_ms)
{
    sqlite3_stmt *st = h->st[ST_ACK];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    if (run(h, st, "ack") != 0)
        return GK_ESTORE;
    if (sqlite3_changes(h->db) > 0)
        return 0;
    st = h->st[ST_EXISTS];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(h, "ack");
    return rc == SQLITE_ROW ? GK_EEXIST : GK_ENOTFOUND;
}

/* ---- listing ---- */

/* Writes ms as "2026-11-26T08:00:00.000Z". */
static void put_time(struct buf *out, int64_t ms)
{
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0)
        s--, frac += 1000;
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        buf_puts(out, "null");
        return;
    }
    buf_printf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

static void put_col(struct buf *out, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        buf_puts(out, "null");
        return;
    }
    switch (cols[i].kind) {
    case COL_INT:
        buf_printf(out, "%lld", (long long)sqlite3_column_int64(st, i));
        break;
    case COL_TEXT:
        buf_json_str(out, (const char *)sqlite3_column_text(st, i),
                     (size_t)sqlite3_column_bytes(st, i));
        break;
    case COL_NUM: {
        double v = sqlite3_column_double(st, i);
        if (isfinite(v))
            buf_printf(out, "%.15g", v);
        else
            buf_puts(out, "null");
        break;
    }
    default:
        put_time(out, sqlite3_column_int64(st, i));
    }
}

static void put_row(struct buf *out, sqlite3_stmt *st)
{
    buf_putc(out, '{');
    for (size_t i = 0; i < NCOLS; i++) {
        buf_printf(out, "%s\"%s\":", i ? "," : "", cols[i].name);
        put_col(out, st, (int)i);
    }
    buf_putc(out, '}');
}

/* Prepares (once) the listing or counting statement for a combination of
 * filters. Parameters: ?1 group, ?2 since, ?3 limit. */
static sqlite3_stmt *listing(struct history *h, int mask, int count)
{
    sqlite3_stmt **slot = count ? &h->count[mask] : &h->list[mask];
    if (*slot)
        return *slot;
    struct buf sql = {0};
    if (count) {
        buf_puts(&sql, "SELECT count(*)");
    } else {
        for (size_t i = 0; i < NCOLS; i++)
            buf_printf(&sql, "%s%s", i ? ", " : "SELECT ", cols[i].sql);
    }
    buf_puts(&sql, " FROM alarms WHERE 1");
    if (mask & F_ACTIVE)
        buf_puts(&sql, " AND state = 'active'");
    if (mask & F_GROUP)
        buf_puts(&sql, " AND grp = ?1");
    if (mask & F_SINCE)
        buf_puts(&sql, " AND raised_ms >= ?2");
    if (!count)
        buf_puts(&sql, " ORDER BY raised_ms DESC, id DESC LIMIT ?3");
    if (sqlite3_prepare_v2(h->db, sql.data, -1, slot, NULL) != SQLITE_OK)
        db_fail(h, "prepare listing");
    buf_free(&sql);
    return *slot;
}

static void bind_filter(sqlite3_stmt *st, const struct history_filter *f)
{
    if (f->group[0])
        sqlite3_bind_text(st, 1, f->group, -1, SQLITE_STATIC);
    if (f->since_ms > 0)
        sqlite3_bind_int64(st, 2, f->since_ms);
}

int history_query(struct history *h, const struct history_filter *f, struct buf *out)
{
    int mask = (f->active ? F_ACTIVE : 0) | (f->group[0] ? F_GROUP : 0) |
               (f->since_ms > 0 ? F_SINCE : 0);
    int limit = f->limit <= 0                   ? HISTORY_LIMIT_DEFAULT
                : f->limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX
                                               : f->limit;
    sqlite3_stmt *list = listing(h, mask, 0), *count = listing(h, mask, 1);
    if (!list || !count)
        return GK_ESTORE;
    size_t start = out->len;
    int rc, n = 0;
    bind_filter(list, f);
    sqlite3_bind_int(list, 3, limit);
    buf_puts(out, "{\"alarms\":[");
    while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
        if (n++)
            buf_putc(out, ',');
        put_row(out, list);
    }
    sqlite3_reset(list);
    bind_filter(count, f);
    if (rc != SQLITE_DONE || (rc = sqlite3_step(count)) != SQLITE_ROW) {
        sqlite3_reset(count);
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return db_fail(h, "query");
    }
    buf_printf(out, "],\"total\":%lld}", (long long)sqlite3_column_int64(count, 0));
    sqlite3_reset(count);
    return 0;
}

/* ---- the query string ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) ('+' a space) into out[cap]. Returns 0, -1 for
 * bad encoding (or a %00), -2 when it does not fit. */
static int url_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0 || (c = hi * 16 + lo) == 0)
                return -1;
            i += 2;
        }
        if (o + 1 >= cap)
            return -2;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Reads exactly n digits at *p into *v, advancing *p. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* Parses the zone at p ("Z", "+HH:MM", "+HHMM", "+HH", '-' alike, ' ' for a
 * '+' a query string decoded to a space) into minutes east of UTC. */
static int parse_zone(const char *p, int *minutes)
{
    int hh = 0, mm = 0, sign;
    if (*p == 'Z' || *p == 'z') {
        *minutes = 0;
        return p[1] ? -1 : 0;
    }
    if (*p != '+' && *p != '-' && *p != ' ')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &hh) != 0)
        return -1;
    if (*p == ':')
        p++;
    if (*p && digits(&p, 2, &mm) != 0)
        return -1;
    if (*p || hh > 23 || mm > 59)
        return -1;
    *minutes = sign * (hh * 60 + mm);
    return 0;
}

/* Parses ISO 8601 "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS[.fff]]ZONE". */
static int parse_iso(const char *p, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, s = 0, frac = 0, zone = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (*p) {
        if ((*p != 'T' && *p != 't') || (p++, digits(&p, 2, &h)) || *p++ != ':' ||
            digits(&p, 2, &mi) || h > 23 || mi > 59)
            return -1;
        if (*p == ':' && (p++, digits(&p, 2, &s) || s > 59))
            return -1;
        if (*p == '.' || *p == ',') {
            int n = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, n++)
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
            if (n == 0)
                return -1;
            for (; n < 3; n++)
                frac *= 10;
        }
        if (parse_zone(p, &zone) != 0)
            return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - zone * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

static int set_active(struct history_filter *f, const char *v)
{
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return -1;
    f->active = v[0] == 't';
    return 0;
}

static int set_group(struct history_filter *f, const char *v)
{
    memcpy(f->group, v, strlen(v) + 1); /* fits: decoded into a buffer of that size */
    return 0;
}

/* Reads a decimal integer of at most 15 digits (no sign), so no overflow. */
static int decimal(const char *v, int64_t *out)
{
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 15 || v[n])
        return -1;
    *out = strtoll(v, NULL, 10);
    return 0;
}

static int set_since(struct history_filter *f, const char *v)
{
    int64_t ms;
    if (decimal(v, &ms) != 0 && (parse_iso(v, &ms) != 0 || ms < 0))
        return -1;
    f->since_ms = ms;
    return 0;
}

static int set_limit(struct history_filter *f, const char *v)
{
    int64_t n;
    if (decimal(v, &n) != 0 || n < 1 || n > HISTORY_LIMIT_MAX)
        return -1;
    f->limit = (int)n;
    return 0;
}

static const struct {
    const char *name;
    int (*set)(struct history_filter *f, const char *v);
    const char *expects;
} params[] = {
    {"active", set_active, "must be true or false"},
    {"group", set_group, "must be a group id"},
    {"since", set_since, "must be epoch milliseconds or ISO 8601 (2026-11-26T08:00:00Z)"},
    {"limit", set_limit, "must be 1..1000"},
};
#define NPARAMS (sizeof params / sizeof params[0])

/* Writes the parameter name s[0..n) for an error message: at most 32
 * bytes, anything but printable ASCII as '?'. */
static void name_for_error(const char *s, size_t n, char out[33])
{
    size_t i;
    for (i = 0; i < n && i < 32; i++)
        out[i] = s[i] > ' ' && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

/* Applies one "name=value" of length n; *seen has a bit per parameter set. */
static int apply_param(const char *s, size_t n, struct history_filter *f, unsigned *seen,
                       char *err, size_t errlen)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n, i = 0;
    char value[HISTORY_GROUP_MAX], name[33];
    int dec = eq ? url_decode(eq + 1, n - klen - 1, value, sizeof value) : 0;
    while (i < NPARAMS && (strlen(params[i].name) != klen || memcmp(params[i].name, s, klen)))
        i++;
    const char *reason = NULL;
    if (i == NPARAMS)
        reason = "unknown parameter";
    else if (*seen & (1u << i))
        reason = "given twice";
    else if (!eq || klen + 1 == n)
        reason = "needs a value";
    else if (dec != 0)
        reason = dec == -1 ? "bad percent-encoding" : "too long";
    else if (params[i].set(f, value) != 0)
        reason = params[i].expects;
    if (!reason) {
        *seen |= 1u << i;
        return 0;
    }
    name_for_error(s, klen, name);
    snprintf(err, errlen, "%s: %s", name, reason);
    return GK_EINVAL;
}

int history_filter_parse(const char *query, struct history_filter *f, char *err, size_t errlen)
{
    unsigned seen = 0;
    memset(f, 0, sizeof *f);
    for (const char *p = query ? query : ""; *p;) {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            int rc = apply_param(p, n, f, &seen, err, errlen);
            if (rc != 0)
                return rc;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}
