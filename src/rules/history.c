/* history.c: the alarm history in SQLite (history.h).
 *
 * One table, `alarms`, one row per alarm. Three kinds of work:
 *   - the loop thread copies each event, acknowledgement, listing request
 *     and file into an op and queues it for the writer (one mutex, one
 *     condition variable);
 *   - the writer thread waits for work, gathers what comes in the next
 *     HISTORY_LINGER_MS, and runs the events and acknowledgements in one
 *     transaction (BEGIN IMMEDIATE ... COMMIT), then
 *     writes the files, then hands acknowledgements and listing requests
 *     back to the loop (the done queue, a uv_async_t). Which rows are active
 *     is kept in a map of the writer's, from "route\x1fgroup\x1frule" (rule
 *     "" for a group gone offline) to the row's id, rebuilt at open, so an
 *     event updates its row by primary key;
 *   - a listing, released by the writer once everything before it has
 *     committed, runs on the query pool on a read-only connection of its own
 *     and answers on the loop thread.
 * The writer's statements are prepared once at open. */
#include "rules/history.h"

#include "core/err.h"
#include "core/gzip.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "core/workpool.h"
#include "rules/alarm_file.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INSERT, ST_CHANGE, ST_CLEAR, ST_ACK, ST_ROUTE,
       ST_ACTIVE, ST_FIXED };

enum op_kind { OP_EVENT, OP_ACK, OP_LIST, OP_FILE };

/* How long the writer gathers work after the first op before committing. */
#define HISTORY_LINGER_MS 10

/* One piece of work for the writer; what it holds depends on kind. */
struct op {
    struct op *next;
    int kind; /* enum op_kind */
    struct alarm_event ev;  /* EVENT: its strings point into text */
    char *text;             /* EVENT: the event's strings; FILE: the content */
    char *path;             /* FILE */
    int64_t id, now_ms;     /* ACK */
    char *by;               /* ACK */
    char **routes;          /* ACK, LIST: the scope (NULL: every route) */
    size_t nroutes;
    struct history_filter f; /* LIST (its scope points into routes) */
    char *db_path;          /* LIST: the database to read */
    history_ack_cb ack_cb;
    history_list_cb list_cb;
    int gzipped; /* list: body is gzipped */
    void *ud;
    int status;
    struct buf body; /* LIST: the answer */
};

struct history {
    uv_loop_t *loop;
    struct workpool *pool;
    char *path;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* under mu */
    struct op *queue, **queue_tail, *done, **done_tail;
    int stopping;
    /* loop thread */
    size_t pending; /* acknowledgements and listings not answered yet */
    /* writer thread (and history_open before it starts) */
    sqlite3 *db;
    sqlite3_stmt *st[ST_FIXED];
    struct map active; /* key -> int64_t * row id */
    struct buf key;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS alarms(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " route TEXT, grp TEXT, rule TEXT, measurement TEXT, severity TEXT, state TEXT,"
    " value REAL, peak REAL, raised_ms INTEGER, changed_ms INTEGER, cleared_ms INTEGER,"
    " acked_ms INTEGER, acked_by TEXT);"
    "CREATE INDEX IF NOT EXISTS alarms_state ON alarms(state);"
    "CREATE INDEX IF NOT EXISTS alarms_grp ON alarms(grp, raised_ms);"
    "CREATE INDEX IF NOT EXISTS alarms_raised ON alarms(raised_ms);";

static const char *const fixed_sql[ST_FIXED] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO alarms(route, grp, rule, measurement, severity, state, value,"
                  " peak, raised_ms, changed_ms) VALUES(?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7,"
                  " ?8, ?8)",
    [ST_CHANGE] = "UPDATE alarms SET severity = ?2, peak = ?3, changed_ms = ?4 WHERE id = ?1",
    [ST_CLEAR] = "UPDATE alarms SET state = 'cleared', cleared_ms = ?2,"
                 " peak = coalesce(?3, peak) WHERE id = ?1",
    [ST_ACK] = "UPDATE alarms SET acked_ms = ?2, acked_by = ?3"
               " WHERE id = ?1 AND acked_ms IS NULL",
    [ST_ROUTE] = "SELECT route FROM alarms WHERE id = ?1",
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

static int db_fail(sqlite3 *db, const char *what)
{
    log_error("history: %s: %s", what, sqldb_error(db));
    return GK_ESTORE;
}

/* Steps a statement that returns no row, then resets it. */
static int run(struct history *h, sqlite3_stmt *st, const char *what)
{
    return sqldb_run(st) == SQLITE_OK ? 0 : db_fail(h->db, what);
}

/* ---- the map of active rows (writer thread) ---- */

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

/* ---- recording (writer thread) ---- */

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

static void record(struct history *h, const struct alarm_event *ev)
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

/* ---- scope ---- */

static int in_scope(char *const *routes, size_t n, const char *route)
{
    if (!routes)
        return 1;
    for (size_t i = 0; route && i < n; i++)
        if (strcmp(routes[i], route) == 0)
            return 1;
    return 0;
}

/* Copies a scope into op (NULL routes stays NULL: every route). */
static void copy_scope(struct op *op, const struct history_scope *s)
{
    if (!s || !s->routes)
        return;
    op->routes = xcalloc(s->nroutes ? s->nroutes : 1, sizeof *op->routes);
    op->nroutes = s->nroutes;
    for (size_t i = 0; i < s->nroutes; i++)
        op->routes[i] = xstrdup(s->routes[i]);
}

/* ---- acknowledging (writer thread) ---- */

/* 1 when row op->id exists and its route is in op's scope; 0 when not (or
 * on a failure, *failed then set). */
static int ack_visible(struct history *h, struct op *op, int *failed)
{
    sqlite3_stmt *st = h->st[ST_ROUTE];
    sqlite3_bind_int64(st, 1, op->id);
    int rc = sqlite3_step(st), ok = 0;
    if (rc == SQLITE_ROW)
        ok = in_scope(op->routes, op->nroutes, (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        *failed = 1;
    sqlite3_reset(st);
    return ok;
}

static void run_ack(struct history *h, struct op *op)
{
    int failed = 0;
    if (!ack_visible(h, op, &failed)) {
        op->status = failed ? db_fail(h->db, "ack") : GK_ENOTFOUND;
        return;
    }
    sqlite3_stmt *st = h->st[ST_ACK];
    sqlite3_bind_int64(st, 1, op->id);
    sqlite3_bind_int64(st, 2, op->now_ms);
    sqlite3_bind_text(st, 3, op->by, -1, SQLITE_STATIC);
    if (run(h, st, "ack") != 0)
        op->status = GK_ESTORE;
    else
        op->status = sqlite3_changes(h->db) > 0 ? 0 : GK_EEXIST;
}

/* ---- the writer thread ---- */

/* Waits for work, then lingers HISTORY_LINGER_MS so that a burst of events
 * becomes one transaction (alarms crossing on many groups at once would
 * otherwise be one commit each); returns all of it, or NULL when stopping
 * with none left. */
static struct op *writer_take(struct history *h)
{
    uv_mutex_lock(&h->mu);
    while (!h->queue && !h->stopping)
        uv_cond_wait(&h->cv, &h->mu);
    if (h->queue && !h->stopping) {
        uv_mutex_unlock(&h->mu);
        uv_sleep(HISTORY_LINGER_MS);
        uv_mutex_lock(&h->mu);
    }
    struct op *ops = h->queue;
    h->queue = NULL;
    h->queue_tail = &h->queue;
    uv_mutex_unlock(&h->mu);
    return ops;
}

/* Runs the events and acknowledgements of ops in one transaction. A failed
 * commit fails the acknowledgements (logged; the events are lost, and the
 * map of active rows is rebuilt from the database). */
static void writer_commit(struct history *h, struct op *ops)
{
    int rc = run(h, h->st[ST_BEGIN], "begin");
    for (struct op *op = ops; rc == 0 && op; op = op->next) {
        if (op->kind == OP_EVENT)
            record(h, &op->ev);
        else if (op->kind == OP_ACK)
            run_ack(h, op);
    }
    if (rc == 0 && run(h, h->st[ST_COMMIT], "commit") == 0)
        return;
    if (!sqlite3_get_autocommit(h->db))
        run(h, h->st[ST_ROLLBACK], "rollback");
    for (struct op *op = ops; op; op = op->next)
        if (op->kind == OP_ACK)
            op->status = GK_ESTORE;
    map_foreach(&h->active, free_value, NULL);
    map_free(&h->active);
    if (load_active(h) != 0)
        db_fail(h->db, "reloading the active alarms");
}

static void op_free(struct op *op)
{
    for (size_t i = 0; op->routes && i < op->nroutes; i++)
        free(op->routes[i]);
    free(op->routes);
    free(op->text), free(op->path), free(op->by), free(op->db_path);
    buf_free(&op->body);
    free(op);
}

/* After the commit: writes the files, frees the events, and hands the rest
 * to the loop thread. */
static void writer_finish(struct history *h, struct op *ops)
{
    struct op *back = NULL, **tail = &back;
    for (struct op *op = ops, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_FILE)
            alarm_file_write(op->path, op->text);
        if (op->kind == OP_EVENT || op->kind == OP_FILE) {
            op_free(op);
            continue;
        }
        op->next = NULL;
        *tail = op;
        tail = &op->next;
    }
    if (!back)
        return;
    uv_mutex_lock(&h->mu);
    *h->done_tail = back;
    h->done_tail = tail;
    uv_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
}

static void writer_main(void *arg)
{
    struct history *h = arg;
    struct op *ops;
    while ((ops = writer_take(h)) != NULL) {
        writer_commit(h, ops);
        writer_finish(h, ops);
    }
}

/* ---- listing (a pool thread) ---- */

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


/* Appends the WHERE clause of f; parameters ?1 group, ?2 since, ?3 limit,
 * ?4.. the scope's routes. */
static void where(struct buf *sql, const struct history_filter *f)
{
    buf_puts(sql, " FROM alarms WHERE 1");
    if (f->active)
        buf_puts(sql, " AND state = 'active'");
    if (f->group[0])
        buf_puts(sql, " AND grp = ?1");
    if (f->since_ms > 0)
        buf_puts(sql, " AND raised_ms >= ?2");
    if (f->scope.routes) {
        buf_puts(sql, " AND route IN (NULL");
        for (size_t i = 0; i < f->scope.nroutes; i++)
            buf_printf(sql, ", ?%zu", i + 4);
        buf_putc(sql, ')');
    }
}

static sqlite3_stmt *prepare_listing(sqlite3 *db, const struct history_filter *f, int count)
{
    struct buf sql = {0};
    sqlite3_stmt *st = NULL;
    if (count) {
        buf_puts(&sql, "SELECT count(*)");
    } else {
        for (size_t i = 0; i < NCOLS; i++)
            buf_printf(&sql, "%s%s", i ? ", " : "SELECT ", cols[i].sql);
    }
    where(&sql, f);
    if (!count)
        buf_puts(&sql, " ORDER BY raised_ms DESC, id DESC LIMIT ?3");
    if (sqldb_prepare(db, sql.data, &st) != SQLITE_OK)
        db_fail(db, "prepare listing");
    buf_free(&sql);
    if (!st)
        return NULL;
    if (f->group[0])
        sqlite3_bind_text(st, 1, f->group, -1, SQLITE_STATIC);
    if (f->since_ms > 0)
        sqlite3_bind_int64(st, 2, f->since_ms);
    for (size_t i = 0; f->scope.routes && i < f->scope.nroutes; i++)
        sqlite3_bind_text(st, (int)i + 4, f->scope.routes[i], -1, SQLITE_STATIC);
    return st;
}

/* Writes the listing of f from db into out; 0 or GK_ESTORE (logged). */
static int list_rows(sqlite3 *db, const struct history_filter *f, struct buf *out)
{
    int limit = f->limit <= 0                   ? HISTORY_LIMIT_DEFAULT
                : f->limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX
                                               : f->limit;
    sqlite3_stmt *list = prepare_listing(db, f, 0), *count = prepare_listing(db, f, 1);
    int rc = SQLITE_ERROR, n = 0;
    if (list && count) {
        sqlite3_bind_int(list, 3, limit);
        buf_puts(out, "{\"alarms\":[");
        while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
            if (n++)
                buf_putc(out, ',');
            put_row(out, list);
        }
        if (rc == SQLITE_DONE && (rc = sqlite3_step(count)) == SQLITE_ROW)
            buf_printf(out, "],\"total\":%lld}", (long long)sqlite3_column_int64(count, 0));
    }
    sqlite3_finalize(list);
    sqlite3_finalize(count);
    return rc == SQLITE_ROW ? 0 : db_fail(db, "query");
}

static void list_work(void *arg)
{
    struct op *op = arg;
    sqlite3 *db = NULL;
    char why[600];
    if (sqldb_open(&db, op->db_path, SQLDB_READONLY, 5000, NULL, why, sizeof why) != 0) {
        log_error("history: cannot open a reader on %s", why);
        op->status = GK_ESTORE;
        return;
    }
    /* one read transaction: the rows and their count agree */
    sqldb_exec(db, "BEGIN", NULL, 0);
    op->status = list_rows(db, &op->f, &op->body);
    sqldb_close(db);
    if (op->status != 0) {
        buf_reset(&op->body);
    } else if (op->f.gzip) {
        op->gzipped = gzip_replace(&op->body, 1024);
    }
}

static void list_done(void *arg, int status)
{
    struct op *op = arg;
    struct buf empty = {0};
    int ok = !op->status && !status;
    op->list_cb(op->ud, status ? GK_ESTORE : op->status, ok ? &op->body : &empty,
                ok && op->gzipped);
    op_free(op);
}

/* ---- the loop thread ---- */

/* The writer's completions: acknowledgements answered, listings started. */
static void on_async(uv_async_t *a)
{
    struct history *h = a->data;
    uv_mutex_lock(&h->mu);
    struct op *op = h->done, *next;
    h->done = NULL;
    h->done_tail = &h->done;
    uv_mutex_unlock(&h->mu);
    for (; op; op = next) {
        next = op->next;
        if (--h->pending == 0 && !uv_is_closing((uv_handle_t *)a))
            uv_unref((uv_handle_t *)a);
        if (op->kind == OP_ACK) {
            op->ack_cb(op->ud, op->status);
            op_free(op);
        } else {
            workpool_submit(h->pool, list_work, list_done, op);
        }
    }
}

static void queue_op(struct history *h, struct op *op)
{
    if (op->kind == OP_ACK || op->kind == OP_LIST) {
        if (h->pending++ == 0)
            uv_ref((uv_handle_t *)&h->async);
    }
    uv_mutex_lock(&h->mu);
    *h->queue_tail = op;
    h->queue_tail = &op->next;
    uv_cond_signal(&h->cv);
    uv_mutex_unlock(&h->mu);
}

/* Copies s (NULL stays NULL) to *p, advancing it. */
static const char *put_str(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    *p += n;
    return *p - n;
}

void history_record(struct history *h, const struct alarm_event *ev)
{
    const char *s[] = {ev->route, ev->group, ev->rule, ev->measurement};
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += s[i] ? strlen(s[i]) + 1 : 0;
    struct op *op = xcalloc(1, sizeof *op);
    op->kind = OP_EVENT;
    op->ev = *ev;
    op->text = xmalloc(n ? n : 1);
    char *p = op->text;
    op->ev.route = put_str(&p, ev->route);
    op->ev.group = put_str(&p, ev->group);
    op->ev.rule = put_str(&p, ev->rule);
    op->ev.measurement = put_str(&p, ev->measurement);
    queue_op(h, op);
}

void history_ack(struct history *h, int64_t id, const struct history_scope *scope, const char *by,
                 int64_t now_ms, history_ack_cb cb, void *ud)
{
    struct op *op = xcalloc(1, sizeof *op);
    op->kind = OP_ACK;
    op->id = id;
    op->now_ms = now_ms;
    op->by = by ? xstrdup(by) : NULL;
    op->ack_cb = cb;
    op->ud = ud;
    copy_scope(op, scope);
    queue_op(h, op);
}

void history_list(struct history *h, const struct history_filter *f, history_list_cb cb,
                  void *ud)
{
    struct op *op = xcalloc(1, sizeof *op);
    op->kind = OP_LIST;
    op->f = *f;
    copy_scope(op, &f->scope);
    op->f.scope.routes = (const char *const *)op->routes;
    op->f.scope.nroutes = op->nroutes;
    op->db_path = xstrdup(h->path);
    op->list_cb = cb;
    op->ud = ud;
    queue_op(h, op);
}

void history_write_file(struct history *h, const char *path, char *text)
{
    struct op *op = xcalloc(1, sizeof *op);
    op->kind = OP_FILE;
    op->path = xstrdup(path);
    op->text = text;
    queue_op(h, op);
}

/* ---- opening and closing ---- */

static void free_db(struct history *h)
{
    for (int i = 0; i < ST_FIXED; i++)
        sqlite3_finalize(h->st[i]);
    sqldb_close(h->db);
    h->db = NULL;
    map_foreach(&h->active, free_value, NULL);
    map_free(&h->active);
    buf_free(&h->key);
}

static int open_db(struct history *h, char *err, size_t errlen)
{
    if (sqldb_open(&h->db, h->path, SQLDB_WAL, 5000, "PRAGMA synchronous=NORMAL", err,
                   errlen) != 0)
        return GK_ESTORE;
    if (sqldb_exec(h->db, schema, NULL, 0) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < ST_FIXED; i++)
        if (sqldb_prepare(h->db, fixed_sql[i], &h->st[i]) != SQLITE_OK)
            goto fail;
    if (load_active(h) != 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", h->path, sqldb_error(h->db));
    return GK_ESTORE;
}

int history_open(struct history **out, uv_loop_t *loop, struct workpool *pool, const char *path,
                 char *err, size_t errlen)
{
    struct history *h = xcalloc(1, sizeof *h);
    char why[600];
    *out = NULL;
    h->loop = loop;
    h->pool = pool;
    h->path = xstrdup(path);
    if (open_db(h, why, sizeof why) != 0) {
        snprintf(err, errlen, "history: %s", why);
        free_db(h);
        free(h->path);
        free(h);
        return GK_ESTORE;
    }
    log_debug("history: %s: %zu active alarms", path, h->active.count);
    h->queue_tail = &h->queue;
    h->done_tail = &h->done;
    uv_mutex_init(&h->mu);
    uv_cond_init(&h->cv);
    uv_async_init(loop, &h->async, on_async);
    h->async.data = h;
    uv_unref((uv_handle_t *)&h->async);
    if (uv_thread_create(&h->thread, writer_main, h) != 0)
        abort(); /* no thread at start: nothing sensible to do */
    *out = h;
    return 0;
}

static void on_closed(uv_handle_t *handle)
{
    struct history *h = handle->data;
    uv_cond_destroy(&h->cv);
    uv_mutex_destroy(&h->mu);
    free(h->path);
    free(h);
}

void history_close(struct history *h)
{
    if (!h)
        return;
    uv_mutex_lock(&h->mu);
    h->stopping = 1;
    uv_cond_signal(&h->cv);
    uv_mutex_unlock(&h->mu);
    uv_thread_join(&h->thread);
    free_db(h);
    on_async(&h->async); /* the last answers; listings go to the pool */
    uv_close((uv_handle_t *)&h->async, on_closed);
}
