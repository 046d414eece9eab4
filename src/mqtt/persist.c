/* persist.c: the broker's state that survives a restart, in SQLite (mqtt.db).
 *
 * What is saved: retained messages (with the identity that set each one),
 * and the sessions that outlive their connection, with their owner, their
 * subscriptions, their in-flight and queued deliveries and their inbound
 * QoS 2 ids. A message is kept as the MQTT 5 PUBLISH packet that carries it
 * (codec.c is the serializer), so every property survives.
 *
 * Only what changed is written. The broker marks a retained topic dirty
 * when it is set, replaced or cleared, and a session when it is created,
 * changed (subscriptions, deliveries, acknowledgements, expiry, owner) or
 * ended. Every persist_interval the loop thread takes a snapshot of the
 * dirty entries alone (copies: encoded packets and strings) and hands that
 * batch to this file's writer thread, which writes it in one transaction
 * (a retained topic or a session is replaced as a whole, or deleted). The
 * loop never waits for the writer: while a batch is being written the next
 * one waits for a later tick. A batch that fails is rolled back and its
 * keys are marked dirty again, so the next batch carries them. At shutdown
 * the final batch is written and the loop waits for it (it is stopping).
 * A crash loses what changed since the last batch committed.
 *
 * Threads: the SQLite connection `db` (opened by core/sqldb: one thread at a
 * time) is used by the loop thread alone while opening, migrating and loading
 * (mqtt__persist_open, mqtt__persist_load, before the writer exists); from
 * mqtt__persist_start() until mqtt__persist_close() has joined the writer,
 * the writer thread alone uses it; mqtt__persist_close() then closes it on
 * the loop thread. The dirty sets belong to the loop
 * thread; `batch`, `failed`, `busy` and `stop` are shared under `mu`.
 *
 * Schema (PRAGMA user_version = 1):
 *   retained(topic TEXT PRIMARY KEY, packet BLOB NOT NULL, owner TEXT)
 *     owner: "<kind>:<user>" of the client that set it (enum mqtt_id_kind;
 *     "0:" anonymous), NULL for gasketd's own messages and for messages
 *     saved by schema 0
 *   sessions(id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, qos2_in BLOB,
 *            user TEXT, user_kind INTEGER NOT NULL DEFAULT 0)
 *   subscriptions(session, filter, grp, qos, no_local, rap, rh, sub_id)
 *   deliveries(session, ord, state, pid, qos, retain, sub_id, packet)
 * Schema 0 (user_version 0, no owners) is upgraded in place at open. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "mqtt/broker_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define BUSY_MS        5000      /* how long a statement waits for another connection's lock */
#define NO_INT         INT64_MIN /* sqldb_int's answer on failure (no 32-bit value is it) */

struct persist_sub {
    char *filter, *group;
    struct mqtt_topic_opts o;
};

struct persist_dlv {
    void *packet; /* NULL for D_WAIT_PUBCOMP */
    size_t len;
    uint32_t sub_id;
    uint16_t pid;
    uint8_t state, qos;
    bool retain;
};

/* One retained topic or one session to write (or delete) as a whole. */
struct persist_op {
    struct persist_op *next;
    bool session; /* else a retained topic */
    bool gone;    /* delete it */
    char *key;    /* the topic or the session id */
    void *packet; /* retained: the message */
    size_t len;
    char *owner; /* retained: its owner; session: its user */
    int64_t expiry;
    int user_kind;
    void *qos2;
    size_t qos2_len;
    struct persist_sub *subs;
    size_t nsubs;
    struct persist_dlv *dlv;
    size_t ndlv;
};

struct mqtt_persist {
    sqlite3 *db;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    bool started;              /* the writer thread runs */
    struct persist_op *batch;  /* handed over, not yet taken (mu) */
    struct persist_op *failed; /* a batch rolled back: its keys to mark again (mu) */
    bool busy;                 /* a batch is handed over or being written (mu) */
    bool stop;                 /* the writer ends once the batch is written (mu) */
    struct map dirty_retained, dirty_sessions; /* loop thread */
};

static const char schema_v1[] =
    "CREATE TABLE retained(topic TEXT PRIMARY KEY, packet BLOB NOT NULL, owner TEXT);"
    "CREATE TABLE sessions(id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, qos2_in BLOB,"
    " user TEXT, user_kind INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE subscriptions(session TEXT NOT NULL, filter TEXT NOT NULL,"
    " grp TEXT, qos INTEGER, no_local INTEGER, rap INTEGER, rh INTEGER, sub_id INTEGER);"
    "CREATE TABLE deliveries(session TEXT NOT NULL, ord INTEGER NOT NULL,"
    " state INTEGER, pid INTEGER, qos INTEGER, retain INTEGER, sub_id INTEGER, packet BLOB);";

static const char migrate_v0[] = "ALTER TABLE retained ADD COLUMN owner TEXT;"
                                 "ALTER TABLE sessions ADD COLUMN user TEXT;"
                                 "ALTER TABLE sessions ADD COLUMN user_kind INTEGER NOT NULL"
                                 " DEFAULT 0;";

/* Every commit is on the disk before the next batch is taken. */
static const char pragmas[] = "PRAGMA synchronous=FULL";

static const char indexes[] =
    "CREATE INDEX IF NOT EXISTS subscriptions_session ON subscriptions(session);"
    "CREATE INDEX IF NOT EXISTS deliveries_session ON deliveries(session);"
    "PRAGMA user_version = 1;";

static int fail_db(sqlite3 *db, const char *what)
{
    log_error("mqtt: persistence: %s: %s", what, sqldb_error(db));
    return GK_ESTORE;
}

/* Brings the file to SCHEMA_VERSION: created, upgraded from schema 0, or
 * refused when a newer gasket wrote it. */
static int migrate(sqlite3 *db, const char *path)
{
    int64_t version = sqldb_int(db, "PRAGMA user_version", NO_INT), tables = NO_INT;
    if (version != NO_INT)
        tables =
            sqldb_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'sessions'", NO_INT);
    if (tables == NO_INT)
        return fail_db(db, path);
    if (version > SCHEMA_VERSION) {
        log_error("mqtt: %s was written by a newer gasket (schema %" PRId64 "); move it away",
                  path, version);
        return GK_ESTORE;
    }
    if (version == SCHEMA_VERSION)
        return 0;
    struct buf sql = {0};
    buf_puts(&sql, "BEGIN IMMEDIATE;");
    buf_puts(&sql, tables ? migrate_v0 : schema_v1);
    buf_puts(&sql, indexes);
    buf_puts(&sql, "COMMIT;");
    int rc = sqldb_exec(db, sql.data, NULL, 0);
    buf_free(&sql);
    if (rc != SQLITE_OK) {
        rc = fail_db(db, path);
        sqldb_exec(db, "ROLLBACK", NULL, 0);
        return rc;
    }
    if (tables)
        log_info("mqtt: %s upgraded from schema 0 to %d", path, SCHEMA_VERSION);
    return 0;
}

int mqtt__persist_open(struct mqtt_persist **out, const char *path)
{
    sqlite3 *db;
    char err[600];
    *out = NULL;
    if (sqldb_open(&db, path, SQLDB_WAL, BUSY_MS, pragmas, err, sizeof err) != 0) {
        log_error("mqtt: persistence: %s", err);
        return GK_ESTORE;
    }
    if (migrate(db, path) != 0) {
        sqldb_close(db);
        return GK_ESTORE;
    }
    struct mqtt_persist *p = xcalloc(1, sizeof *p);
    p->db = db;
    uv_mutex_init(&p->mu);
    uv_cond_init(&p->cv);
    *out = p;
    return 0;
}

/* ---- marking (loop thread) ---- */

static bool is_sys(const char *topic, size_t len)
{
    return len >= 5 && memcmp(topic, "$SYS/", 5) == 0; /* made afresh by the running broker */
}

void mqtt__persist_mark_retained(struct mqtt_broker *b, const char *topic, size_t len)
{
    if (b->persist && !is_sys(topic, len))
        map_put(&b->persist->dirty_retained, topic, len, b);
}

void mqtt__persist_mark_session(struct mqtt_session *s)
{
    struct mqtt_broker *b = s->b;
    if (b->persist && (s->expiry_s || s->persisted))
        map_put(&b->persist->dirty_sessions, s->id, strlen(s->id), b);
}

/* ---- snapshots (loop thread) ---- */

static void *copy_bytes(const void *p, size_t n)
{
    void *c = xmalloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    return c;
}

static void encode_message(struct mqtt_broker *b, const struct mqtt_message *m, struct buf *out)
{
    struct mqtt_packet pk = {.type = MQTT_PUBLISH};
    pk.publish.qos = m->qos;
    pk.publish.retain = m->retain;
    pk.publish.id = m->qos ? 1 : 0;
    pk.publish.topic = (struct mqtt_str){m->topic, m->topic_len};
    pk.publish.payload = (struct mqtt_str){(const char *)m->payload, m->payload_len};
    pk.props = m->props;
    if (m->expiry_at) {
        uint64_t now = uv_now(b->loop);
        pk.props.message_expiry = m->expiry_at > now ? (uint32_t)((m->expiry_at - now) / 1000) : 0;
    }
    buf_reset(out);
    mqtt_encode(&pk, MQTT_V5, out);
}

struct snap {
    struct mqtt_broker *b;
    struct persist_op *head;
    struct buf pk;
};

static struct persist_op *op_new(struct snap *sn, bool session, const char *key)
{
    struct persist_op *op = xcalloc(1, sizeof *op);
    op->session = session;
    op->key = xstrdup(key);
    op->next = sn->head;
    sn->head = op;
    return op;
}

static void snap_retained(void *ud, const char *topic, void *value)
{
    struct snap *sn = ud;
    (void)value;
    struct persist_op *op = op_new(sn, false, topic);
    const struct mqtt_message *m = mqtt_retain_get(sn->b->retained, topic, strlen(topic));
    op->gone = m == NULL;
    if (m) {
        encode_message(sn->b, m, &sn->pk);
        op->packet = copy_bytes(sn->pk.data, sn->pk.len);
        op->len = sn->pk.len;
        op->owner = m->owner ? xstrdup(m->owner) : NULL;
    }
}

static void snap_deliveries(struct snap *sn, struct persist_op *op, const struct mqtt_session *s)
{
    size_t n = 0;
    for (const struct delivery *d = s->head; d; d = d->next)
        n++;
    op->dlv = xcalloc(n ? n : 1, sizeof *op->dlv);
    for (const struct delivery *d = s->head; d; d = d->next) {
        struct persist_dlv *v = &op->dlv[op->ndlv++];
        *v = (struct persist_dlv){.sub_id = d->sub_id, .pid = d->pid, .state = d->state,
                                  .qos = d->qos, .retain = d->retain};
        if (d->msg) {
            encode_message(sn->b, d->msg, &sn->pk);
            v->packet = copy_bytes(sn->pk.data, sn->pk.len);
            v->len = sn->pk.len;
        }
    }
}

static void snap_session(void *ud, const char *id, void *value)
{
    struct snap *sn = ud;
    (void)value;
    struct persist_op *op = op_new(sn, true, id);
    struct mqtt_session *s = map_get(&sn->b->sessions, id, strlen(id));
    op->gone = !s || s->expiry_s == 0; /* a session that ends with its connection */
    if (s)
        s->persisted = !op->gone;
    if (op->gone)
        return;
    op->expiry = s->expiry_s;
    op->owner = s->user ? xstrdup(s->user) : NULL;
    op->user_kind = s->user_kind;
    op->qos2_len = s->nqos2_in * sizeof *s->qos2_in;
    op->qos2 = copy_bytes(s->qos2_in, op->qos2_len);
    op->subs = xcalloc(s->nsubs ? s->nsubs : 1, sizeof *op->subs);
    for (size_t i = 0; i < s->nsubs; i++) {
        const struct sub_rec *r = &s->subs[i];
        op->subs[i] = (struct persist_sub){xstrdup(r->filter), r->group ? xstrdup(r->group) : NULL,
                                           r->o};
    }
    op->nsubs = s->nsubs;
    snap_deliveries(sn, op, s);
}

static void op_free(struct persist_op *op)
{
    for (size_t i = 0; i < op->nsubs; i++) {
        free(op->subs[i].filter);
        free(op->subs[i].group);
    }
    for (size_t i = 0; i < op->ndlv; i++)
        free(op->dlv[i].packet);
    free(op->subs);
    free(op->dlv);
    free(op->qos2);
    free(op->packet);
    free(op->owner);
    free(op->key);
    free(op);
}

static void ops_free(struct persist_op *op)
{
    for (struct persist_op *next; op; op = next) {
        next = op->next;
        op_free(op);
    }
}

/* The dirty entries as a batch (NULL: nothing changed); clears the sets. */
static struct persist_op *snapshot(struct mqtt_persist *p, struct mqtt_broker *b)
{
    struct snap sn = {.b = b};
    map_foreach(&p->dirty_retained, snap_retained, &sn);
    map_foreach(&p->dirty_sessions, snap_session, &sn);
    map_free(&p->dirty_retained);
    map_free(&p->dirty_sessions);
    memset(&p->dirty_retained, 0, sizeof p->dirty_retained);
    memset(&p->dirty_sessions, 0, sizeof p->dirty_sessions);
    buf_free(&sn.pk);
    return sn.head;
}

/* A failed batch's keys become dirty again; frees the batch. */
static void remark(struct mqtt_persist *p, struct mqtt_broker *b, struct persist_op *ops)
{
    for (struct persist_op *op = ops; op; op = op->next)
        map_put(op->session ? &p->dirty_sessions : &p->dirty_retained, op->key, strlen(op->key),
                b);
    ops_free(ops);
}

/* ---- writing (writer thread) ---- */

enum {
    ST_RET_PUT, ST_RET_DEL, ST_SES_PUT, ST_SES_DEL, ST_SUB_DEL, ST_DLV_DEL, ST_SUB_PUT,
    ST_DLV_PUT, ST_COUNT
};

static const char *const write_sql[ST_COUNT] = {
    "INSERT OR REPLACE INTO retained(topic, packet, owner) VALUES(?1, ?2, ?3)",
    "DELETE FROM retained WHERE topic = ?1",
    "INSERT OR REPLACE INTO sessions(id, expiry, qos2_in, user, user_kind)"
    " VALUES(?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM sessions WHERE id = ?1",
    "DELETE FROM subscriptions WHERE session = ?1",
    "DELETE FROM deliveries WHERE session = ?1",
    "INSERT INTO subscriptions VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "INSERT INTO deliveries VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

struct writer {
    sqlite3_stmt *st[ST_COUNT];
    int rc;
};

/* Runs st (every parameter bound) and keeps the batch's first failure. */
static void step(struct writer *w, sqlite3_stmt *st)
{
    int rc = sqldb_run(st);
    if (w->rc == SQLITE_OK)
        w->rc = rc;
}

static void by_key(struct writer *w, int which, const char *key)
{
    sqlite3_bind_text(w->st[which], 1, key, -1, SQLITE_STATIC);
    step(w, w->st[which]);
}

static void write_retained(struct writer *w, const struct persist_op *op)
{
    if (op->gone)
        return by_key(w, ST_RET_DEL, op->key);
    sqlite3_stmt *st = w->st[ST_RET_PUT];
    sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, op->packet, (int)op->len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->owner, -1, SQLITE_STATIC); /* NULL stays NULL */
    step(w, st);
}

static void write_subs(struct writer *w, const struct persist_op *op)
{
    sqlite3_stmt *st = w->st[ST_SUB_PUT];
    for (size_t i = 0; i < op->nsubs; i++) {
        const struct persist_sub *r = &op->subs[i];
        sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->filter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->group, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, r->o.qos);
        sqlite3_bind_int(st, 5, r->o.no_local);
        sqlite3_bind_int(st, 6, r->o.retain_as_published);
        sqlite3_bind_int(st, 7, r->o.retain_handling);
        sqlite3_bind_int64(st, 8, r->o.sub_id);
        step(w, st);
    }
}

static void write_deliveries(struct writer *w, const struct persist_op *op)
{
    sqlite3_stmt *st = w->st[ST_DLV_PUT];
    for (size_t i = 0; i < op->ndlv; i++) {
        const struct persist_dlv *d = &op->dlv[i];
        sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_int(st, 3, d->state);
        sqlite3_bind_int(st, 4, d->pid);
        sqlite3_bind_int(st, 5, d->qos);
        sqlite3_bind_int(st, 6, d->retain);
        sqlite3_bind_int64(st, 7, d->sub_id);
        if (d->packet)
            sqlite3_bind_blob(st, 8, d->packet, (int)d->len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8); /* D_WAIT_PUBCOMP */
        step(w, st);
    }
}

static void write_session(struct writer *w, const struct persist_op *op)
{
    by_key(w, ST_SUB_DEL, op->key);
    by_key(w, ST_DLV_DEL, op->key);
    if (op->gone)
        return by_key(w, ST_SES_DEL, op->key);
    sqlite3_stmt *st = w->st[ST_SES_PUT];
    sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->expiry);
    sqlite3_bind_blob(st, 3, op->qos2, (int)op->qos2_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, op->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, op->user_kind);
    step(w, st);
    write_subs(w, op);
    write_deliveries(w, op);
}

/* Writes a batch in one transaction; returns 0 or GK_ESTORE (rolled back). */
static int write_batch(sqlite3 *db, const struct persist_op *ops)
{
    struct writer w = {.rc = SQLITE_OK};
    if (sqldb_exec(db, "BEGIN IMMEDIATE", NULL, 0) != SQLITE_OK)
        return fail_db(db, "save");
    for (int i = 0; i < ST_COUNT && w.rc == SQLITE_OK; i++)
        w.rc = sqldb_prepare(db, write_sql[i], &w.st[i]);
    for (const struct persist_op *op = ops; op && w.rc == SQLITE_OK; op = op->next) {
        if (op->session)
            write_session(&w, op);
        else
            write_retained(&w, op);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(w.st[i]);
    if (w.rc != SQLITE_OK || sqldb_exec(db, "COMMIT", NULL, 0) != SQLITE_OK) {
        int rc = fail_db(db, "save");
        sqldb_exec(db, "ROLLBACK", NULL, 0);
        return rc;
    }
    return 0;
}

static void writer_main(void *arg)
{
    struct mqtt_persist *p = arg;
    uv_mutex_lock(&p->mu);
    for (;;) {
        while (!p->batch && !p->stop)
            uv_cond_wait(&p->cv, &p->mu);
        struct persist_op *ops = p->batch;
        if (!ops)
            break;
        p->batch = NULL;
        uv_mutex_unlock(&p->mu);
        int rc = write_batch(p->db, ops);
        uv_mutex_lock(&p->mu);
        if (rc == 0) {
            ops_free(ops);
        } else { /* the loop marks its keys again (several failures: all of them) */
            struct persist_op **tail = &ops;
            while (*tail)
                tail = &(*tail)->next;
            *tail = p->failed;
            p->failed = ops;
        }
        p->busy = false;
        uv_cond_broadcast(&p->cv);
    }
    uv_mutex_unlock(&p->mu);
}

void mqtt__persist_start(struct mqtt_persist *p)
{
    if (uv_thread_create(&p->thread, writer_main, p) != 0)
        abort(); /* the out-of-memory policy: no thread, no broker */
    p->started = true;
}

/* Takes the writer's failures back into the dirty sets; true when the
 * writer is idle. Loop thread. */
static bool reap(struct mqtt_persist *p, struct mqtt_broker *b, bool wait)
{
    uv_mutex_lock(&p->mu);
    while (wait && p->busy)
        uv_cond_wait(&p->cv, &p->mu);
    bool idle = !p->busy;
    struct persist_op *failed = p->failed;
    p->failed = NULL;
    uv_mutex_unlock(&p->mu);
    remark(p, b, failed);
    return idle;
}

static void hand_over(struct mqtt_persist *p, struct persist_op *ops, bool stop)
{
    uv_mutex_lock(&p->mu);
    p->batch = ops;
    p->busy = ops != NULL;
    p->stop = stop;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
}

bool mqtt__persist_tick(struct mqtt_persist *p, struct mqtt_broker *b)
{
    if (!reap(p, b, false))
        return false; /* the previous batch is still being written */
    struct persist_op *ops = snapshot(p, b);
    if (ops)
        hand_over(p, ops, false);
    return true;
}

void mqtt__persist_close(struct mqtt_persist *p, struct mqtt_broker *b)
{
    if (!p)
        return;
    if (p->started) {
        reap(p, b, true);
        hand_over(p, snapshot(p, b), true);
        uv_thread_join(&p->thread);
        if (p->failed)
            log_error("mqtt: persistence: the last changes could not be saved");
        ops_free(p->failed);
    }
    map_free(&p->dirty_retained);
    map_free(&p->dirty_sessions);
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    sqldb_close(p->db);
    free(p);
}

/* ---- loading (loop thread, before the writer starts) ---- */

static struct mqtt_message *decode_message(struct mqtt_broker *b, const void *blob, int len)
{
    struct mqtt_packet pk;
    size_t used;
    if (!blob || len <= 0 || mqtt_decode(blob, (size_t)len, MQTT_V5, 0, &pk, &used) != 0 ||
        pk.type != MQTT_PUBLISH)
        return NULL;
    const struct mqtt_publish *pub = &pk.publish;
    return mqtt__message_new(b, pub->topic.p, pub->topic.len, pub->payload.p, pub->payload.len,
                       pub->qos, pub->retain, &pk.props);
}

/* Calls row(b, st) for each row of sql. */
static int each_row(struct mqtt_persist *p, const char *sql,
                    void (*row)(void *b, sqlite3_stmt *st), struct mqtt_broker *b)
{
    return sqldb_each(p->db, sql, row, b) == SQLITE_OK ? 0 : fail_db(p->db, "load");
}

static const char *text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static void load_retained(void *ud, sqlite3_stmt *st)
{
    struct mqtt_broker *b = ud;
    struct mqtt_message *m = decode_message(b, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1));
    if (!m)
        return;
    const char *owner = text(st, 2);
    m->owner = owner ? xstrdup(owner) : NULL;
    mqtt__broker_retain_restore(b, m);
    mqtt__message_unref(m);
}

static void load_session(void *ud, sqlite3_stmt *st)
{
    struct mqtt_broker *b = ud;
    const char *id = text(st, 0), *user = text(st, 3);
    struct mqtt_session *s = mqtt__session_new(b, id, strlen(id));
    int64_t expiry = sqlite3_column_int64(st, 1);
    mqtt__session_set_expiry(s, expiry < 0 || expiry > UINT32_MAX ? UINT32_MAX : (uint32_t)expiry);
    if (s->expiry_s != UINT32_MAX)
        s->expire_at = uv_now(b->loop) + (uint64_t)s->expiry_s * 1000;
    s->user = user ? xstrdup(user) : NULL;
    s->user_kind = (uint8_t)sqlite3_column_int(st, 4);
    s->persisted = true;
    const uint16_t *ids = sqlite3_column_blob(st, 2);
    size_t n = (size_t)sqlite3_column_bytes(st, 2) / sizeof *ids;
    for (size_t i = 0; ids && i < n; i++) {
        uint16_t pid;
        memcpy(&pid, ids + i, sizeof pid);
        mqtt__session_qos2_add(s, pid);
    }
}

static struct mqtt_session *session_of(struct mqtt_broker *b, sqlite3_stmt *st)
{
    const char *id = text(st, 0);
    return id ? map_get(&b->sessions, id, strlen(id)) : NULL;
}

static void load_subscription(void *ud, sqlite3_stmt *st)
{
    struct mqtt_broker *b = ud;
    struct mqtt_session *s = session_of(b, st);
    const char *filter = text(st, 1), *group = text(st, 2);
    if (!s || !filter)
        return;
    struct mqtt_topic_filter f = {filter, strlen(filter), group, group ? strlen(group) : 0};
    struct mqtt_topic_opts o = {.qos = (uint8_t)sqlite3_column_int(st, 3),
                                .no_local = sqlite3_column_int(st, 4),
                                .retain_as_published = sqlite3_column_int(st, 5),
                                .retain_handling = (uint8_t)sqlite3_column_int(st, 6),
                                .sub_id = (uint32_t)sqlite3_column_int64(st, 7)};
    mqtt__session_subscribe(s, &f, &o);
}

static void load_delivery(void *ud, sqlite3_stmt *st)
{
    struct mqtt_broker *b = ud;
    struct mqtt_session *s = session_of(b, st);
    int state = sqlite3_column_int(st, 2);
    struct mqtt_message *m = decode_message(b, sqlite3_column_blob(st, 7), sqlite3_column_bytes(st, 7));
    if (s && (m || state == D_WAIT_PUBCOMP) && state >= D_QUEUED && state <= D_WAIT_PUBCOMP)
        mqtt__session_restore(s, m, (uint8_t)sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
                        (uint32_t)sqlite3_column_int64(st, 6), (uint8_t)state,
                        (uint16_t)sqlite3_column_int(st, 3));
    mqtt__message_unref(m);
}

int mqtt__persist_load(struct mqtt_persist *p, struct mqtt_broker *b)
{
    int rc = each_row(p, "SELECT topic, packet, owner FROM retained", load_retained, b);
    if (rc == 0)
        rc = each_row(p, "SELECT id, expiry, qos2_in, user, user_kind FROM sessions",
                      load_session, b);
    if (rc == 0)
        rc = each_row(p,
                      "SELECT session, filter, grp, qos, no_local, rap, rh, sub_id"
                      " FROM subscriptions",
                      load_subscription, b);
    if (rc == 0)
        rc = each_row(p,
                      "SELECT session, ord, state, pid, qos, retain, sub_id, packet"
                      " FROM deliveries ORDER BY session, ord",
                      load_delivery, b);
    b->stats.retained = mqtt_retain_count(b->retained);
    map_free(&p->dirty_retained); /* loading marked what is on disk already */
    map_free(&p->dirty_sessions);
    memset(&p->dirty_retained, 0, sizeof p->dirty_retained);
    memset(&p->dirty_sessions, 0, sizeof p->dirty_sessions);
    log_info("mqtt: loaded %zu retained message(s) and %zu session(s)",
             mqtt_retain_count(b->retained), b->sessions.count);
    return rc;
}
