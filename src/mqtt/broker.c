/* broker.c: the broker's lifecycle, its connections and timers.
 *
 * Bytes from a connection accumulate in the client's buffer; every complete
 * packet is decoded (codec.c) and handed to its handler (handle_*.c) while
 * its views still point into that buffer. A malformed packet ends only that
 * connection: 5.0 clients are told why (CONNACK or DISCONNECT with a reason
 * code) where the protocol allows it. One timer, ticking four times a
 * second, enforces keep-alive (1.5 times the client's interval), the
 * CONNECT deadline (until the CONNACK is sent, password check included),
 * session expiry and will delays, and hands what changed to the persistence
 * writer (persist.c) every persist_interval.
 *
 * Back-pressure: while the host says its store is behind, a client whose
 * PUBLISH the host takes is paused (its link is not read, its buffered
 * packets wait) until the host says it caught up. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/version.h"
#include "mqtt/broker_int.h"
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 250
#define SYS_INTERVAL_MS 10000 /* $SYS/broker/... are republished this often */

/* ---- connections from the broker's own listeners ---- */

static int net_write(void *link, const void *p, size_t n)
{
    return net_conn_write(link, p, n);
}

static void net_close(void *link)
{
    net_conn_close(link);
}

static size_t net_pending(void *link)
{
    return net_conn_pending(link);
}

static const char *net_peer(void *link)
{
    return net_conn_peer(link);
}

static const char *net_cn(void *link)
{
    return net_conn_tls_cn(link);
}

static void net_pause(void *link)
{
    net_conn_pause(link);
}

static void net_resume(void *link)
{
    net_conn_resume(link);
}

static const struct mqtt_link_ops net_ops = {net_write, net_close,  net_pending, net_peer,
                                             net_cn,    net_pause, net_resume};

static void on_read(struct net_conn *nc, const char *data, size_t len)
{
    mqtt_client_input(net_conn_data(nc), data, len);
}

static void on_close(struct net_conn *nc, int err)
{
    (void)err;
    mqtt_client_closed(net_conn_data(nc));
}

static const struct net_conn_handler handler = {.on_read = on_read, .on_close = on_close};

void mqtt_broker_options_default(struct mqtt_broker_options *o)
{
    *o = (struct mqtt_broker_options){
        .max_packet_size = 256 * 1024,
        .max_inflight = 20,
        .max_queued = 1000,
        .max_connections = 10000,
        .connect_timeout_ms = 10000,
        .topic = {MQTT_TOPIC_MAX_LEN_DEFAULT, MQTT_TOPIC_MAX_LEVELS_DEFAULT},
        .allow_anonymous = false,
        .auth_threads = 2,
        .auth_queue = 256,
        .auth_pending_bytes = 64 * 1024,
        .max_session_expiry_s = 7 * 86400,
        .max_subscriptions = 100,
        .max_retained_per_identity = 1000,
        .max_retained_bytes = 64u << 20,
    };
}

/* ---- connections ---- */

void mqtt__client_write(struct mqtt_client *c, const void *p, size_t n)
{
    c->b->stats.bytes_sent += n;
    c->ops->write(c->link, p, n);
}

void mqtt__client_close(struct mqtt_client *c, uint8_t reason, const char *why)
{
    if (c->closing)
        return;
    if (reason && c->connected)
        mqtt__send_disconnect(c, reason, why);
    c->closing = true;
    c->ops->close(c->link);
}

struct mqtt_client *mqtt_broker_attach(struct mqtt_broker *b, const struct mqtt_link_ops *ops,
                                       void *link)
{
    if (b->closing || b->nclients >= b->opt.max_connections) {
        log_debug("mqtt: refusing %s: %s", ops->peer(link),
                  b->closing ? "shutting down" : "too many connections");
        return NULL;
    }
    struct mqtt_client *c = xcalloc(1, sizeof *c);
    c->b = b;
    c->ops = ops;
    c->link = link;
    c->connected_at = c->last_rx = uv_now(b->loop);
    c->next = b->clients;
    if (b->clients)
        b->clients->prev = c;
    b->clients = c;
    b->nclients++;
    return c;
}

struct mqtt_client *mqtt_broker_attach_dashboard(struct mqtt_broker *b,
                                                 const struct mqtt_link_ops *ops, void *link,
                                                 const char *user)
{
    struct mqtt_client *c = mqtt_broker_attach(b, ops, link);
    if (c)
        c->vouched = xstrdup(user);
    return c;
}

static void on_accept(struct net_listener *l, struct net_conn *nc)
{
    struct mqtt_client *c = mqtt_broker_attach(net_listener_data(l), &net_ops, nc);
    if (c)
        net_conn_start(nc, &handler, c);
    else
        net_conn_close(nc);
}

/* A packet the codec refused: answer where the protocol allows, then close. */
static void refuse(struct mqtt_client *c, const struct mqtt_packet *p, int rc)
{
    log_debug("mqtt: closing %s: %s", c->ops->peer(c->link), p->why ? p->why : "malformed");
    if (!c->version && p->type == MQTT_CONNECT && p->connect.level == MQTT_V5) {
        c->version = MQTT_V5;
        mqtt__send_connack(c, false, p->reason, NULL);
    } else if (!c->version && p->type == MQTT_CONNECT) {
        int code = mqtt_connack_v311_code(p->reason);
        c->version = MQTT_V311;
        if (code >= 0)
            mqtt__send_connack(c, false, (uint8_t)code, NULL);
    }
    mqtt__client_close(c, rc == GK_ETOOBIG ? MQTT_RC_PACKET_TOO_LARGE : p->reason, p->why);
}

static int dispatch(struct mqtt_client *c, const struct mqtt_packet *p)
{
    if (!c->version && p->type != MQTT_CONNECT)
        return MQTT_RC_PROTOCOL_ERROR;
    switch (p->type) {
    case MQTT_CONNECT:
        return c->version ? MQTT_RC_PROTOCOL_ERROR : mqtt__handle_connect(c, p);
    case MQTT_PUBLISH:
        return mqtt__handle_publish(c, p);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return mqtt__handle_ack(c, p);
    case MQTT_SUBSCRIBE:
        return mqtt__handle_subscribe(c, p);
    case MQTT_UNSUBSCRIBE:
        return mqtt__handle_unsubscribe(c, p);
    case MQTT_PINGREQ: {
        static const uint8_t pingresp[2] = {0xD0, 0};
        mqtt__client_write(c, pingresp, sizeof pingresp);
        return 0;
    }
    case MQTT_DISCONNECT:
        return mqtt__handle_disconnect(c, p);
    default: /* server-to-client types, and AUTH (no enhanced authentication) */
        return MQTT_RC_PROTOCOL_ERROR;
    }
}

void mqtt__client_process(struct mqtt_client *c)
{
    struct mqtt_broker *b = c->b;
    size_t off = 0;
    while (!c->closing && !c->auth && !c->paused && off < c->in.len) {
        struct mqtt_packet p;
        size_t used;
        const uint8_t *at = (const uint8_t *)c->in.data + off;
        int rc = mqtt_decode(at, c->in.len - off, c->version, b->opt.max_packet_size, &p, &used);
        if (rc == GK_EAGAIN)
            break;
        if (rc < 0) {
            refuse(c, &p, rc);
            break;
        }
        off += used;
        c->raw = at;
        c->raw_len = used;
        int reason = dispatch(c, &p);
        if (reason)
            mqtt__client_close(c, (uint8_t)reason, mqtt_reason_text((uint8_t)reason));
    }
    buf_consume(&c->in, off);
}

void mqtt_client_input(struct mqtt_client *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    c->b->stats.bytes_received += len;
    c->last_rx = uv_now(c->b->loop);
    if (c->auth && c->in.len + len > c->b->opt.auth_pending_bytes) {
        log_debug("mqtt: closing %s: too much sent before its CONNACK", c->ops->peer(c->link));
        mqtt__client_close(c, 0, NULL);
        return;
    }
    buf_append(&c->in, data, len);
    mqtt__client_process(c);
}

static void broker_maybe_free(struct mqtt_broker *b);
static void broker_free(struct mqtt_broker *b);

void mqtt_client_closed(struct mqtt_client *c)
{
    struct mqtt_broker *b = c->b;
    mqtt__auth_forget(c);
    for (struct mqtt_inbound *in = c->owed; in; in = in->next)
        in->c = NULL; /* mqtt_inbound_done() only frees them now */
    mqtt__client_gone(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        b->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->nclients--;
    for (unsigned i = 1; c->aliases && i <= c->alias_max; i++)
        free(c->aliases[i]);
    free(c->aliases);
    mqtt__message_unref(c->will);
    buf_free(&c->in);
    free(c->user);
    free(c->vouched);
    free(c);
    broker_maybe_free(b);
}

/* ---- timers ---- */

static void check_client(struct mqtt_client *c, uint64_t now)
{
    if (c->closing || c->paused)
        return; /* a paused client is not read: its silence is ours */
    if (!c->connected && now - c->connected_at >= c->b->opt.connect_timeout_ms)
        mqtt__client_close(c, 0, NULL); /* no CONNACK yet: no CONNECT, or its check still queued */
    else if (c->keep_alive && now - c->last_rx >= (uint64_t)c->keep_alive * 1500)
        mqtt__client_close(c, 0x8D, "Keep Alive timeout");
}

struct expired {
    struct mqtt_session **v;
    size_t n, cap;
    uint64_t now;
};

static void collect_expired(void *ud, const char *key, void *value)
{
    struct expired *e = ud;
    struct mqtt_session *s = value;
    (void)key;
    if (!s->client && s->expire_at && e->now >= s->expire_at) {
        if (e->n == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 16;
            e->v = xrealloc(e->v, e->cap * sizeof *e->v);
        }
        e->v[e->n++] = s;
    }
}

/* The counters under $SYS/broker/, with Mosquitto's topic names. */
static void publish_sys(struct mqtt_broker *b, uint64_t now)
{
    const struct mqtt_broker_stats *st = &b->stats;
    const struct {
        const char *topic;
        uint64_t value;
    } rows[] = {
        {"$SYS/broker/clients/connected", st->clients_connected},
        {"$SYS/broker/clients/total", st->sessions},
        {"$SYS/broker/messages/received", st->msgs_received},
        {"$SYS/broker/messages/sent", st->msgs_sent},
        {"$SYS/broker/publish/messages/dropped", st->msgs_dropped},
        {"$SYS/broker/bytes/received", st->bytes_received},
        {"$SYS/broker/bytes/sent", st->bytes_sent},
        {"$SYS/broker/retained messages/count", st->retained},
        {"$SYS/broker/uptime", (now - b->started) / 1000},
    };
    char text[32];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(text, sizeof text, "%llu", (unsigned long long)rows[i].value);
        mqtt__broker_sys_publish(b, rows[i].topic, text);
    }
    mqtt__broker_sys_publish(b, "$SYS/broker/version", "gasket " GASKET_VERSION);
}

static void on_tick(uv_timer_t *t)
{
    struct mqtt_broker *b = t->data;
    uint64_t now = uv_now(b->loop);
    for (struct mqtt_client *c = b->clients; c; c = c->next)
        check_client(c, now);
    if (b->persist && b->opt.persist_interval_ms && now >= b->next_save &&
        mqtt__persist_tick(b->persist, b))
        b->next_save = now + b->opt.persist_interval_ms; /* else: the next tick */
    if (now >= b->next_sys) {
        publish_sys(b, now);
        b->next_sys = now + SYS_INTERVAL_MS;
    }
    struct expired e = {.now = now};
    map_foreach(&b->sessions, collect_expired, &e);
    for (size_t i = 0; i < e.n; i++)
        mqtt__session_free(e.v[i]);
    free(e.v);
    mqtt__wills_tick(b, now);
}

/* ---- the broker ---- */

int mqtt_broker_new(struct mqtt_broker **out, uv_loop_t *loop,
                    const struct mqtt_broker_options *o)
{
    struct mqtt_broker *b = xcalloc(1, sizeof *b);
    b->loop = loop;
    b->opt = *o;
    b->subs = mqtt_topic_tree_new();
    b->retained = mqtt_retain_new();
    if (o->persist_path &&
        (mqtt__persist_open(&b->persist, o->persist_path) != 0 || mqtt__persist_load(b->persist, b) != 0)) {
        mqtt__persist_close(b->persist, NULL);
        b->persist = NULL; /* nothing to save over what could not be read */
        broker_free(b);
        *out = NULL;
        return GK_ESTORE;
    }
    if (b->persist)
        mqtt__persist_start(b->persist);
    b->started = uv_now(loop);
    b->next_save = b->started + o->persist_interval_ms;
    uv_timer_init(loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
    *out = b;
    return 0;
}

int mqtt_broker_listen(struct mqtt_broker *b, const char *addr, struct net_tls *tls)
{
    struct net_listener *l;
    int rc = net_listen(&l, b->loop, addr, tls, on_accept, b);
    if (rc != 0)
        return rc;
    b->ls = xrealloc(b->ls, (b->nls + 1) * sizeof *b->ls);
    b->ls[b->nls++] = l;
    log_info("mqtt: listening on %s%s", net_listener_addr(l), tls ? " (TLS)" : "");
    return 0;
}

const char *mqtt_broker_addr(struct mqtt_broker *b, unsigned n)
{
    return n < b->nls ? net_listener_addr(b->ls[n]) : NULL;
}

int mqtt_broker_publish(struct mqtt_broker *b, const char *topic, size_t topic_len,
                        const void *payload, size_t len, int qos, bool retain)
{
    if (qos < 0 || qos > 2 || !mqtt_topic_valid_name(topic, topic_len, &b->opt.topic))
        return GK_EINVAL;
    struct mqtt_message *m =
        mqtt__message_new(b, topic, topic_len, payload, len, (uint8_t)qos, retain, NULL);
    mqtt__broker_route(b, m, NULL);
    mqtt__message_unref(m);
    return 0;
}

void mqtt_broker_set_publish_hook(struct mqtt_broker *b, mqtt_publish_hook hook, void *ud)
{
    b->hook = hook;
    b->hook_ud = ud;
}

void mqtt__client_pause(struct mqtt_client *c)
{
    if (!c->paused && !c->closing && c->ops->pause) {
        c->paused = true;
        c->ops->pause(c->link);
    }
}

void mqtt_broker_set_backpressure(struct mqtt_broker *b, bool on)
{
    if (b->backpressure == on)
        return;
    b->backpressure = on;
    log_debug("mqtt: back-pressure %s", on ? "on: telemetry senders paused" : "off");
    uint64_t now = uv_now(b->loop);
    /* resuming may queue enough readings to turn it on again: stop there */
    for (struct mqtt_client *c = b->clients; c && !b->backpressure; c = c->next) {
        if (!c->paused)
            continue;
        c->paused = false;
        c->last_rx = now; /* keep-alive counts from now */
        if (!c->closing) {
            c->ops->resume(c->link);
            mqtt__client_process(c); /* the packets that waited in its buffer */
        }
    }
}

const struct mqtt_broker_stats *mqtt_broker_get_stats(const struct mqtt_broker *b)
{
    return &b->stats;
}

void mqtt_broker_stop_accepting(struct mqtt_broker *b)
{
    for (unsigned i = 0; i < b->nls; i++)
        net_listener_close(b->ls[i]);
    free(b->ls);
    b->ls = NULL;
    b->nls = 0;
}

static void drop_session(void *ud, const char *key, void *value)
{
    struct mqtt_session ***list = ud;
    (void)key;
    *(*list)++ = value;
}

static void unref_retained(void *msg)
{
    mqtt__message_unref(msg);
}

/* Saves what must survive, then frees everything but the timer handle. */
static void broker_free(struct mqtt_broker *b)
{
    mqtt__persist_close(b->persist, b); /* the last changes; blocks: the loop is stopping */
    b->persist = NULL;
    struct mqtt_session **all = xcalloc(b->sessions.count + 1, sizeof *all), **p = all;
    map_foreach(&b->sessions, drop_session, &p);
    for (struct mqtt_session **s = all; s < p; s++)
        mqtt__session_free(*s);
    free(all);
    map_free(&b->sessions);
    mqtt__wills_tick(b, UINT64_MAX); /* publishes nothing: no subscriber is left */
    mqtt_topic_tree_free(b->subs);
    mqtt_retain_free(b->retained, unref_retained);
    mqtt__reserved_free(b);
    free(b->auth); /* its threads and handle are gone (mqtt__auth_pool_close) */
    mqtt__broker_retain_free(b);
    buf_free(&b->scratch);
    buf_free(&b->ids);
    free(b->ls);
    free(b);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct mqtt_broker *b = h->data;
    if (--b->open_handles == 0)
        broker_free(b);
}

static void broker_maybe_free(struct mqtt_broker *b)
{
    if (b->closing && b->nclients == 0 && !uv_is_closing((uv_handle_t *)&b->tick)) {
        b->open_handles++; /* the tick; the pool counted its own handle */
        mqtt__auth_pool_close(b, on_handle_closed);
        uv_close((uv_handle_t *)&b->tick, on_handle_closed);
    }
}

void mqtt_broker_close(struct mqtt_broker *b)
{
    b->closing = true;
    mqtt_broker_stop_accepting(b);
    for (struct mqtt_client *c = b->clients; c; c = c->next)
        mqtt__client_close(c, 0x8B, "Server shutting down");
    broker_maybe_free(b);
}
