/* handle_publish.c: PUBLISH from a client and the acknowledgements of both
 * directions (PUBACK, PUBREC, PUBREL, PUBCOMP).
 *
 * An inbound QoS 2 message is routed when its PUBLISH arrives; its packet
 * id is then remembered until PUBREL so that a resent PUBLISH (DUP) is not
 * routed twice.
 *
 * Refused PUBLISHes (into $SYS/, to a reserved topic without a grant, where
 * the ACL does not allow writing, or refused by the host's hook) are never
 * routed nor stored: 5.0 clients get PUBACK/PUBREC 0x87 "not authorized",
 * 3.1.1 clients (which have no way to hear no) an ordinary acknowledgement,
 * as Mosquitto does. The host's hook runs before routing. */
#include "core/log.h"
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include <stdlib.h>
#include <string.h>

/* Resolves the 5.0 topic alias, if any, into *topic. Returns 0 or a reason. */
static int resolve_alias(struct mqtt_client *c, const struct mqtt_packet *p,
                         struct mqtt_str *topic)
{
    if (!mqtt_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
        return topic->len ? 0 : MQTT_RC_PROTOCOL_ERROR;
    uint16_t a = p->props.topic_alias;
    if (a == 0 || a > c->alias_max)
        return MQTT_RC_TOPIC_ALIAS_INVALID;
    if (topic->len) {
        free(c->aliases[a]);
        c->aliases[a] = xstrndup(topic->p, topic->len);
    } else if (c->aliases[a]) {
        *topic = mqtt_cstr(c->aliases[a]);
    } else {
        return MQTT_RC_PROTOCOL_ERROR;
    }
    return 0;
}

/* True when the host still owes the acknowledgement of packet id pid. */
static bool owed(const struct mqtt_client *c, uint16_t pid)
{
    for (const struct mqtt_inbound *in = c->owed; in; in = in->next)
        if (in->pid == pid)
            return true;
    return false;
}

/* Offers the message to the host's hook and returns its verdict. */
static enum mqtt_hook_verdict offer(struct mqtt_client *c, struct mqtt_str topic,
                                    const struct mqtt_packet *p)
{
    const struct mqtt_publish *pub = &p->publish;
    struct mqtt_inbound *in = xcalloc(1, sizeof *in);
    in->c = c;
    in->pid = pub->id;
    in->qos = pub->qos;
    in->next = c->owed;
    if (c->owed)
        c->owed->prev = in;
    c->owed = in;
    if (pub->qos == 2)
        mqtt__session_qos2_add(c->s, pub->id); /* a resend is not routed again */
    struct mqtt_identity id = mqtt__auth_identity(c);
    in->props = &p->props;
    enum mqtt_hook_verdict v = c->b->hook(c->b->hook_ud, in, &id, topic.p, topic.len,
                                          pub->payload.p, pub->payload.len, pub->qos);
    in->props = NULL;
    if (v == MQTT_HOOK_TAKEN) {
        if (c->b->backpressure)
            mqtt__client_pause(c); /* read no more from it until the host catches up */
        return v;
    }
    if (pub->qos == 2)
        mqtt__session_qos2_del(c->s, pub->id);
    c->owed = in->next;
    if (c->owed)
        c->owed->prev = NULL;
    free(in);
    return v;
}

static void log_refused(const struct mqtt_client *c, struct mqtt_str topic, const char *why)
{
    char who[128], t[256];
    log_info("mqtt: refused a PUBLISH from %s to %s: %s",
             c->user ? mqtt__auth_escape(c->user, strlen(c->user), who, sizeof who) : "(anonymous)",
             mqtt__auth_escape(topic.p, topic.len, t, sizeof t), why);
}

/* A failure that the same PUBLISH sent again may not meet (mqtt_inbound_done). */
static bool retry_cures(uint8_t reason)
{
    return reason == 0x80 || reason == 0x83 || reason == 0x89 || reason == 0x97;
}

void mqtt_inbound_done(struct mqtt_inbound *in, uint8_t reason)
{
    struct mqtt_client *c = in->c;
    if (c) {
        if (in->prev)
            in->prev->next = in->next;
        else
            c->owed = in->next;
        if (in->next)
            in->next->prev = in->prev;
        bool v5 = c->version == MQTT_V5, resend = !v5 && retry_cures(reason);
        if (in->qos == 2 && c->s && (resend || (v5 && reason >= 0x80)))
            mqtt__session_qos2_del(c->s, in->pid); /* the flow ends: a resend is new */
        bool ack = !c->closing && in->qos > 0;
        if (ack && resend) /* 3.1.1 cannot say no: it will send it again */
            mqtt__client_close(c, 0, "PUBLISH not taken (store failed): the client resends it");
        else if (ack)
            mqtt__send_ack(c, in->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, in->pid, v5 ? reason : 0);
    }
    free(in);
}

bool mqtt_inbound_user_prop(const struct mqtt_inbound *in, const char *name, const char **value,
                            size_t *len)
{
    struct mqtt_iter it;
    struct mqtt_str k, v;
    if (!in->props) return false;
    mqtt_iter_init(&it, &in->props->user_props);
    while (mqtt_user_prop_next(&it, &k, &v)) {
        if (k.len == strlen(name) && memcmp(k.p, name, k.len) == 0) {
            *value = v.p;
            *len = v.len;
            return true;
        }
    }
    return false;
}

int mqtt__handle_publish(struct mqtt_client *c, const struct mqtt_packet *p)
{
    const struct mqtt_publish *pub = &p->publish;
    struct mqtt_broker *b = c->b;
    struct mqtt_str topic = pub->topic;
    if (mqtt_has(&p->props, MQTT_PROP_SUBSCRIPTION_ID))
        return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.3.4-6: only the server sends those */
    int rc = resolve_alias(c, p, &topic);
    if (rc)
        return rc;
    if (!mqtt_topic_valid_name(topic.p, topic.len, &b->opt.topic))
        return MQTT_RC_TOPIC_NAME_INVALID;
    if (pub->qos == 2 && mqtt__session_qos2_has(c->s, pub->id)) {
        if (!owed(c, pub->id))
            mqtt__send_ack(c, MQTT_PUBREC, pub->id, 0); /* a resend: routed already */
        return 0;
    }
    if (pub->qos == 2 && c->version == MQTT_V5 && c->s->nqos2_in >= b->opt.max_inflight)
        return 0x93; /* Receive Maximum exceeded */
    /* 3.1.1 has no way to say no: the message is acknowledged and dropped */
    uint8_t code = 0;
    if (!mqtt__auth_may_write_reserved(c, topic.p, topic.len)) {
        log_refused(c, topic, "reserved topic");
        code = 0x87; /* not authorized */
    } else if (!mqtt__acl_may_publish(c, topic.p, topic.len)) {
        code = 0x87;
    }
    enum mqtt_hook_verdict v = code || !b->hook ? MQTT_HOOK_PASS : offer(c, topic, p);
    if (v == MQTT_HOOK_REFUSED) {
        log_refused(c, topic, "not allowed to ingest there");
        code = 0x87;
    }
    if (!code) {
        struct mqtt_message *m = mqtt__message_new(b, topic.p, topic.len, pub->payload.p,
                                             pub->payload.len, pub->qos, pub->retain, &p->props);
        mqtt__message_set_owner(m, c->s->user_kind, c->s->user);
        mqtt__broker_route(b, m, c->s);
        mqtt__message_unref(m);
    }
    if (v == MQTT_HOOK_TAKEN)
        return 0; /* the host acknowledges it (mqtt_inbound_done) */
    if (pub->qos == 1) {
        mqtt__send_ack(c, MQTT_PUBACK, pub->id, code);
    } else if (pub->qos == 2 && code) {
        mqtt__send_ack(c, MQTT_PUBREC, pub->id, code); /* 5.0: the flow ends with this refusal */
    } else if (pub->qos == 2) {
        mqtt__session_qos2_add(c->s, pub->id);
        mqtt__send_ack(c, MQTT_PUBREC, pub->id, 0);
    }
    return 0;
}

int mqtt__handle_ack(struct mqtt_client *c, const struct mqtt_packet *p)
{
    if (p->type != MQTT_PUBREL) {
        mqtt__session_ack(c->s, p->type, p->ack.id, p->ack.code);
        return 0;
    }
    bool known = mqtt__session_qos2_del(c->s, p->ack.id);
    mqtt__send_ack(c, MQTT_PUBCOMP, p->ack.id, known ? 0 : 0x92); /* 0x92: id not found */
    return 0;
}
