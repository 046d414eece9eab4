/* handle_connect.c: CONNECT, DISCONNECT and the end of a connection.
 *
 * Client identifiers: an empty one gets "gasket-N" assigned (5.0, and 3.1.1
 * with clean session); a 3.1.1 client asking for a persistent session
 * without an identifier is refused (return code 2). A second connection
 * with an identifier already connected takes the session over: the first
 * is closed (5.0: DISCONNECT 0x8E). A session belongs to the identity
 * (user name and how it was proved; anonymous clients are one identity)
 * that created it: another identity using its client id is refused (5.0
 * CONNACK 0x87, 3.1.1 code 5) and the session, its queue and its live
 * connection are left as they are. A will on $SYS/ or on a reserved topic
 * the client is not granted is refused the same way. Wills are published when a connection
 * ends without a normal DISCONNECT, after the 5.0 will delay unless the
 * session is resumed first. */
#include "core/log.h"
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIAS_MAX 32 /* topic aliases accepted from a 5.0 client */

int mqtt__connect_refuse(struct mqtt_client *c, uint8_t reason)
{
    if (c->version == MQTT_V5) {
        mqtt__send_connack(c, false, reason, NULL);
    } else {
        int code = mqtt_connack_v311_code(reason);
        if (code > 0)
            mqtt__send_connack(c, false, (uint8_t)code, NULL);
    }
    return reason;
}

static int take_will(struct mqtt_client *c, const struct mqtt_connect *k)
{
    if (!k->will)
        return 0;
    if (!mqtt_topic_valid_name(k->will_topic.p, k->will_topic.len, &c->b->opt.topic))
        return MQTT_RC_TOPIC_NAME_INVALID;
    if (!mqtt__auth_may_write_reserved(c, k->will_topic.p, k->will_topic.len)) {
        char who[128], topic[256];
        log_info("mqtt: refused a will from %s on %s: reserved topic",
                 c->user ? mqtt__auth_escape(c->user, strlen(c->user), who, sizeof who) : "(anonymous)",
                 mqtt__auth_escape(k->will_topic.p, k->will_topic.len, topic, sizeof topic));
        return 0x87; /* not authorized */
    }
    c->will = mqtt__message_new(c->b, k->will_topic.p, k->will_topic.len, k->will_payload.p,
                          k->will_payload.len, k->will_qos, k->will_retain, &k->will_props);
    c->will_delay_s = k->will_props.will_delay;
    return 0;
}

static void cancel_will(struct mqtt_broker *b, const char *id)
{
    for (struct pending_will **pp = &b->wills, *w; (w = *pp);) {
        if (strcmp(w->session_id, id) == 0) {
            *pp = w->next;
            mqtt__message_unref(w->msg);
            free(w->session_id);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* True when c is the identity that owns s. */
static bool owns(const struct mqtt_client *c, const struct mqtt_session *s)
{
    if (s->user_kind != c->user_kind || (s->user == NULL) != (c->user == NULL))
        return false;
    return !s->user || strcmp(s->user, c->user) == 0;
}

/* Refuses c when the session id belongs to another identity. */
static int check_owner(struct mqtt_client *c, struct mqtt_str id)
{
    struct mqtt_session *s = map_get(&c->b->sessions, id.p, id.len);
    if (!s || owns(c, s))
        return 0;
    char who[128], cid[128];
    log_info("mqtt: refused %s as client id %s: the session belongs to another identity",
             c->user ? mqtt__auth_escape(c->user, strlen(c->user), who, sizeof who) : "(anonymous)",
             mqtt__auth_escape(id.p, id.len, cid, sizeof cid));
    return 0x87; /* not authorized */
}

/* Attaches c to its session: a new one, or the one it resumes. */
static struct mqtt_session *attach(struct mqtt_client *c, struct mqtt_str id, bool clean,
                                   bool *present)
{
    struct mqtt_broker *b = c->b;
    struct mqtt_session *s = map_get(&b->sessions, id.p, id.len);
    if (s && s->client) { /* takeover */
        struct mqtt_client *old = s->client;
        old->s = NULL;
        s->client = NULL;
        mqtt__client_close(old, 0x8E, "Session taken over");
    }
    if (s && clean) {
        mqtt__session_free(s);
        s = NULL;
    }
    *present = s != NULL;
    if (!s)
        s = mqtt__session_new(b, id.p, id.len);
    cancel_will(b, s->id);
    if (!*present) { /* its owner; a resumed one has it already (check_owner) */
        s->user = c->user ? xstrdup(c->user) : NULL;
        s->user_kind = c->user_kind;
    }
    s->client = c;
    s->expire_at = 0;
    c->s = s;
    return s;
}

static void connack_props(struct mqtt_client *c, struct mqtt_props *pr, const char *assigned)
{
    const struct mqtt_broker_options *o = &c->b->opt;
    memset(pr, 0, sizeof *pr);
    pr->present = (1ull << MQTT_PROP_RECEIVE_MAX) | (1ull << MQTT_PROP_MAX_PACKET_SIZE) |
                  (1ull << MQTT_PROP_TOPIC_ALIAS_MAX);
    pr->receive_max = o->max_inflight;
    pr->max_packet_size = o->max_packet_size;
    pr->topic_alias_max = ALIAS_MAX;
    if (assigned) {
        pr->present |= 1ull << MQTT_PROP_ASSIGNED_CLIENT_ID;
        pr->assigned_client_id = mqtt_cstr(assigned);
    }
}

static void take_options(struct mqtt_client *c, const struct mqtt_packet *p)
{
    const struct mqtt_props *pr = &p->props;
    c->keep_alive = p->connect.keep_alive;
    c->recv_max = mqtt_has(pr, MQTT_PROP_RECEIVE_MAX) ? pr->receive_max : 65535;
    c->max_packet_out = mqtt_has(pr, MQTT_PROP_MAX_PACKET_SIZE) ? pr->max_packet_size : 0;
    if (c->version == MQTT_V5) {
        c->alias_max = ALIAS_MAX;
        c->aliases = xcalloc(ALIAS_MAX + 1, sizeof *c->aliases);
    }
}

int mqtt__handle_connect(struct mqtt_client *c, const struct mqtt_packet *p)
{
    c->version = p->connect.level;
    int rc = mqtt__auth_connect(c, p);
    if (rc == AUTH_PENDING)
        return 0;
    return rc ? mqtt__connect_refuse(c, (uint8_t)rc) : mqtt__connect_accept(c, p);
}

int mqtt__connect_accept(struct mqtt_client *c, const struct mqtt_packet *p)
{
    const struct mqtt_connect *k = &p->connect;
    struct mqtt_broker *b = c->b;
    struct mqtt_str id = k->client_id;
    char assigned[40];
    if (id.len == 0 && c->version == MQTT_V311 && !k->clean_start)
        return mqtt__connect_refuse(c, MQTT_RC_CLIENT_ID_INVALID);
    if (id.len == 0) {
        snprintf(assigned, sizeof assigned, "gasket-%llu", (unsigned long long)++b->next_client_no);
        id = mqtt_cstr(assigned);
    }
    int rc = check_owner(c, id);
    if (!rc)
        rc = take_will(c, k);
    if (rc)
        return mqtt__connect_refuse(c, (uint8_t)rc);
    take_options(c, p);
    bool present;
    struct mqtt_session *s = attach(c, id, k->clean_start, &present);
    if (c->will && !mqtt__acl_may_publish(c, c->will->topic, c->will->topic_len)) {
        mqtt__message_unref(c->will); /* the ACL does not let it write there */
        c->will = NULL;
    }
    uint32_t asked = c->version == MQTT_V5 ? (mqtt_has(&p->props, MQTT_PROP_SESSION_EXPIRY)
                                                   ? p->props.session_expiry
                                                   : 0)
                                           : (k->clean_start ? 0 : UINT32_MAX);
    struct mqtt_props pr;
    connack_props(c, &pr, k->client_id.len ? NULL : assigned);
    if (mqtt__session_set_expiry(s, asked) != asked) { /* capped: 5.0 says so in the CONNACK */
        pr.present |= 1ull << MQTT_PROP_SESSION_EXPIRY;
        pr.session_expiry = s->expiry_s;
    }
    mqtt__send_connack(c, present, 0, &pr);
    c->connected = true;
    b->stats.clients_connected++;
    if (present)
        mqtt__session_resume(s);
    return 0;
}

int mqtt__handle_disconnect(struct mqtt_client *c, const struct mqtt_packet *p)
{
    struct mqtt_session *s = c->s;
    if (c->version == MQTT_V5 && s && mqtt_has(&p->props, MQTT_PROP_SESSION_EXPIRY)) {
        if (s->expiry_s == 0 && p->props.session_expiry != 0)
            return MQTT_RC_PROTOCOL_ERROR;
        mqtt__session_set_expiry(s, p->props.session_expiry);
    }
    if (!(c->version == MQTT_V5 && p->disconnect.code == 0x04)) { /* 0x04: with will */
        mqtt__message_unref(c->will);
        c->will = NULL;
    }
    mqtt__client_close(c, 0, NULL);
    return 0;
}

/* ---- the end of a connection ---- */

static void defer_will(struct mqtt_broker *b, struct mqtt_message *will, const char *id,
                       uint32_t delay_s)
{
    struct pending_will *w = xcalloc(1, sizeof *w);
    w->msg = will;
    w->session_id = xstrdup(id);
    w->at = uv_now(b->loop) + (uint64_t)delay_s * 1000;
    w->next = b->wills;
    b->wills = w;
}

void mqtt__client_gone(struct mqtt_client *c)
{
    struct mqtt_broker *b = c->b;
    struct mqtt_session *s = c->s;
    if (c->connected)
        b->stats.clients_connected--;
    struct mqtt_message *will = c->will;
    c->will = NULL;
    if (will) /* its owner, for the retained limits (taken over: anonymous) */
        mqtt__message_set_owner(will, s ? s->user_kind : MQTT_ID_ANONYMOUS, s ? s->user : NULL);
    if (s)
        s->client = NULL;
    bool ends = s && s->expiry_s == 0;
    if (will && s && c->will_delay_s && !ends) {
        defer_will(b, will, s->id, c->will_delay_s); /* cancelled if the session resumes */
    } else if (will && !s && c->will_delay_s) {
        mqtt__message_unref(will); /* taken over: the session went on within the delay */
    } else if (will) {
        mqtt__broker_route(b, will, NULL);
        mqtt__message_unref(will);
    }
    if (ends)
        mqtt__session_free(s);
    else if (s && s->expiry_s != UINT32_MAX)
        s->expire_at = uv_now(b->loop) + (uint64_t)s->expiry_s * 1000;
}

void mqtt__wills_tick(struct mqtt_broker *b, uint64_t now)
{
    for (struct pending_will **pp = &b->wills, *w; (w = *pp);) {
        struct mqtt_session *s = map_get(&b->sessions, w->session_id, strlen(w->session_id));
        if (now < w->at && s) { /* the session ending also sends it */
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        mqtt__broker_route(b, w->msg, NULL);
        mqtt__message_unref(w->msg);
        free(w->session_id);
        free(w);
    }
}
