/* persist.c: the broker's state that survives a restart, in SQLite.
 *
 * Saved as a whole, in one transaction, at shutdown and every
 * persist_interval when something changed (as Mosquitto's autosave does):
 * retained messages, and the sessions that outlive their connection, with
 * their subscriptions, their in-flight and queued deliveries and their
 * inbound QoS 2 ids. A message is kept as the MQTT 5 PUBLISH packet that
 * carries it (codec.c is the serializer), so every property survives.
 * A crash loses what changed since the last save. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct mqtt_persist {
    sqlite3 *db;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS retained(topic TEXT PRIMARY KEY, packet BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, expiry INTEGER NOT NULL,"
    " qos2_in BLOB);"
    "CREATE TABLE IF NOT EXISTS subscriptions(session TEXT NOT NULL, filter TEXT NOT NULL,"
    " grp TEXT, qos INTEGER, no_local INTEGER, rap INTEGER, rh INTEGER, sub_id INTEGER);"
    "CREATE TABLE IF NOT EXISTS deliveries(session TEXT NOT NULL, ord INTEGER NOT NULL,"
    " state INTEGER, pid INTEGER, qos INTEGER, retain INTEGER, sub_id INTEGER, packet BLOB);";

static int fail(struct mqtt_persist *p, const char *what)
{
    log_error("mqtt: persistence: %s: %s", what, sqlite3_errmsg(p->db));
    return GK_ESTORE;
}

int persist_open(struct mqtt_persist **out, const char *path)
{
    struct mqtt_persist *p = xcalloc(1, sizeof *p);
    *out = NULL;
    if (sqlite3_open(path, &p->db) != SQLITE_OK ||
        sqlite3_exec(p->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        fail(p, path);
        sqlite3_close(p->db);
        free(p);
        return GK_ESTORE;
    }
    *out = p;
    return 0;
}

void persist_close(struct mqtt_persist *p)
{
    if (p) {
        sqlite3_close(p->db);
        free(p);
    }
}

/* ---- messages as packets ---- */

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

static struct mqtt_message *decode_message(struct mqtt_broker *b, const void *blob, int len)
{
    struct mqtt_packet pk;
    size_t used;
    if (!blob || len <= 0 || mqtt_decode(blob, (size_t)len, MQTT_V5, 0, &pk, &used) != 0 ||
        pk.type != MQTT_PUBLISH)
        return NULL;
    const struct mqtt_publish *pub = &pk.publish;
    return message_new(b, pub->topic.p, pub->topic.len, pub->payload.p, pub->payload.len,
                       pub->qos, pub->retain, &pk.props);
}

/* ---- saving ---- */

struct saver {
    struct mqtt_broker *b;
    sqlite3_stmt *st[4]; /* retained, session, subscription, delivery */
    struct buf pk;
    int rc;
};

static const char *const insert_sql[4] = {
    "INSERT INTO retained VALUES(?1, ?2)",
    "INSERT INTO sessions VALUES(?1, ?2, ?3)",
    "INSERT INTO subscriptions VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "INSERT INTO deliveries VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

static void step(struct saver *sv, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE && sv->rc == SQLITE_OK)
        sv->rc = sqlite3_errcode(sqlite3_db_handle(st));
    sqlite3_reset(st);
}

static void save_retained(void *ud, const char *topic, size_t len, void *msg)
{
    struct saver *sv = ud;
    if (len >= 5 && memcmp(topic, "$SYS/", 5) == 0)
        return; /* made afresh by the running broker */
    encode_message(sv->b, msg, &sv->pk);
    sqlite3_bind_text(sv->st[0], 1, topic, (int)len, SQLITE_STATIC);
    sqlite3_bind_blob(sv->st[0], 2, sv->pk.data, (int)sv->pk.len, SQLITE_STATIC);
    step(sv, sv->st[0]);
}

static void save_subs(struct saver *sv, const struct mqtt_session *s)
{
    sqlite3_stmt *st = sv->st[2];
    for (size_t i = 0; i < s->nsubs; i++) {
        const struct sub_rec *r = &s->subs[i];
        sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->filter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->group, -1, SQLITE_STATIC); /* NULL stays NULL */
        sqlite3_bind_int(st, 4, r->o.qos);
        sqlite3_bind_int(st, 5, r->o.no_local);
        sqlite3_bind_int(st, 6, r->o.retain_as_published);
        sqlite3_bind_int(st, 7, r->o.retain_handling);
        sqlite3_bind_int64(st, 8, r->o.sub_id);
        step(sv, st);
    }
}

static void save_deliveries(struct saver *sv, const struct mqtt_session *s)
{
    sqlite3_stmt *st = sv->st[3];
    int ord = 0;
    for (const struct delivery *d = s->head; d; d = d->next) {
        sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, ord++);
        sqlite3_bind_int(st, 3, d->state);
        sqlite3_bind_int(st, 4, d->pid);
        sqlite3_bind_int(st, 5, d->qos);
        sqlite3_bind_int(st, 6, d->retain);
        sqlite3_bind_int64(st, 7, d->sub_id);
        if (d->msg) {
            encode_message(sv->b, d->msg, &sv->pk);
            sqlite3_bind_blob(st, 8, sv->pk.data, (int)sv->pk.len, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 8);
        }
        step(sv, st);
    }
}

static void save_session(void *ud, const char *key, void *value)
{
    struct saver *sv = ud;
    const struct mqtt_session *s = value;
    (void)key;
    if (s->expiry_s == 0)
        return; /* ends with its connection */
    sqlite3_bind_text(sv->st[1], 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sv->st[1], 2, s->expiry_s);
    sqlite3_bind_blob(sv->st[1], 3, s->qos2_in, (int)(s->nqos2_in * sizeof *s->qos2_in),
                      SQLITE_STATIC);
    step(sv, sv->st[1]);
    save_subs(sv, s);
    save_deliveries(sv, s);
}

int persist_save(struct mqtt_persist *p, struct mqtt_broker *b)
{
    struct saver sv = {.b = b, .rc = SQLITE_OK};
    if (sqlite3_exec(p->db,
                     "BEGIN IMMEDIATE; DELETE FROM retained; DELETE FROM sessions;"
                     "DELETE FROM subscriptions; DELETE FROM deliveries;",
                     NULL, NULL, NULL) != SQLITE_OK)
        return sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL), fail(p, "save");
    for (int i = 0; i < 4 && sv.rc == SQLITE_OK; i++)
        sv.rc = sqlite3_prepare_v2(p->db, insert_sql[i], -1, &sv.st[i], NULL);
    if (sv.rc == SQLITE_OK) {
        mqtt_retain_foreach(b->retained, save_retained, &sv);
        map_foreach(&b->sessions, save_session, &sv);
    }
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(sv.st[i]);
    buf_free(&sv.pk);
    if (sv.rc != SQLITE_OK || sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fail(p, "save");
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    b->saved_changes = b->changes;
    return 0;
}

/* ---- loading ---- */

/* Runs sql and calls row(ctx, st) for each row. */
static int each_row(struct mqtt_persist *p, const char *sql,
                    void (*row)(struct mqtt_broker *b, sqlite3_stmt *st), struct mqtt_broker *b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(p, "load");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        row(b, st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(p, "load");
}

static const char *text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static void load_retained(struct mqtt_broker *b, sqlite3_stmt *st)
{
    struct mqtt_message *m = decode_message(b, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1));
    if (m)
        message_unref(mqtt_retain_set(b->retained, m->topic, m->topic_len, m));
}

static void load_session(struct mqtt_broker *b, sqlite3_stmt *st)
{
    const char *id = text(st, 0);
    struct mqtt_session *s = session_new(b, id, strlen(id));
    int64_t expiry = sqlite3_column_int64(st, 1);
    s->expiry_s = expiry < 0 || expiry > UINT32_MAX ? UINT32_MAX : (uint32_t)expiry;
    if (s->expiry_s != UINT32_MAX)
        s->expire_at = uv_now(b->loop) + (uint64_t)s->expiry_s * 1000;
    const uint16_t *ids = sqlite3_column_blob(st, 2);
    size_t n = (size_t)sqlite3_column_bytes(st, 2) / sizeof *ids;
    for (size_t i = 0; ids && i < n; i++) {
        uint16_t pid;
        memcpy(&pid, ids + i, sizeof pid);
        session_qos2_add(s, pid);
    }
}

static struct mqtt_session *session_of(struct mqtt_broker *b, sqlite3_stmt *st)
{
    const char *id = text(st, 0);
    return id ? map_get(&b->sessions, id, strlen(id)) : NULL;
}

static void load_subscription(struct mqtt_broker *b, sqlite3_stmt *st)
{
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
    session_subscribe(s, &f, &o);
}

static void load_delivery(struct mqtt_broker *b, sqlite3_stmt *st)
{
    struct mqtt_session *s = session_of(b, st);
    int state = sqlite3_column_int(st, 2);
    struct mqtt_message *m = decode_message(b, sqlite3_column_blob(st, 7), sqlite3_column_bytes(st, 7));
    if (s && (m || state == D_WAIT_PUBCOMP) && state >= D_QUEUED && state <= D_WAIT_PUBCOMP)
        session_restore(s, m, (uint8_t)sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
                        (uint32_t)sqlite3_column_int64(st, 6), (uint8_t)state,
                        (uint16_t)sqlite3_column_int(st, 3));
    message_unref(m);
}

int persist_load(struct mqtt_persist *p, struct mqtt_broker *b)
{
    int rc = each_row(p, "SELECT topic, packet FROM retained", load_retained, b);
    if (rc == 0)
        rc = each_row(p, "SELECT id, expiry, qos2_in FROM sessions", load_session, b);
    if (rc == 0)
        rc = each_row(p, "SELECT * FROM subscriptions", load_subscription, b);
    if (rc == 0)
        rc = each_row(p,
                      "SELECT session, ord, state, pid, qos, retain, sub_id, packet"
                      " FROM deliveries ORDER BY session, ord",
                      load_delivery, b);
    b->stats.retained = mqtt_retain_count(b->retained);
    b->saved_changes = b->changes;
    log_info("mqtt: loaded %zu retained message(s) and %zu session(s)",
             mqtt_retain_count(b->retained), b->sessions.count);
    return rc;
}
