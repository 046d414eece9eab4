/* broker_send.c: the packets the broker sends, encoded by codec.c into one
 * scratch buffer per broker and written to the client's connection. */
#include "mqtt/broker_int.h"

#include <string.h>

void mqtt__send_packet(struct mqtt_client *c, const struct mqtt_packet *p)
{
    struct buf *out = &c->b->scratch;
    buf_reset(out);
    mqtt_encode(p, c->version, out);
    mqtt__client_write(c, out->data, out->len);
}

void mqtt__send_connack(struct mqtt_client *c, bool present, uint8_t code, const struct mqtt_props *pr)
{
    struct mqtt_packet p = {.type = MQTT_CONNACK};
    p.connack.session_present = present;
    p.connack.code = code;
    if (pr)
        p.props = *pr;
    mqtt__send_packet(c, &p);
}

void mqtt__send_ack(struct mqtt_client *c, uint8_t type, uint16_t pid, uint8_t code)
{
    struct mqtt_packet p = {.type = type};
    p.ack.id = pid;
    p.ack.code = c->version == MQTT_V5 ? code : 0;
    mqtt__send_packet(c, &p);
}

void mqtt__send_disconnect(struct mqtt_client *c, uint8_t reason, const char *why)
{
    if (c->version != MQTT_V5)
        return;
    struct mqtt_packet p = {.type = MQTT_DISCONNECT};
    p.disconnect.code = reason;
    if (why) {
        p.props.present |= 1ull << MQTT_PROP_REASON_STRING;
        p.props.reason_string = mqtt_cstr(why);
    }
    mqtt__send_packet(c, &p);
}

/* The 5.0 properties of an outgoing PUBLISH: the message's, its remaining
 * expiry, and the subscription identifier (written into idbuf). */
static void publish_props(struct mqtt_client *c, const struct delivery *d, struct mqtt_props *pr)
{
    const struct mqtt_message *m = d->msg;
    *pr = m->props;
    if (m->expiry_at) {
        uint64_t now = uv_now(c->b->loop);
        pr->message_expiry = m->expiry_at > now ? (uint32_t)((m->expiry_at - now + 999) / 1000) : 0;
    }
    if (d->sub_id) {
        struct buf *ids = &c->b->ids;
        buf_reset(ids);
        mqtt_put_sub_id(ids, d->sub_id);
        pr->sub_ids = mqtt_list_view(ids, 1);
        pr->present |= 1ull << MQTT_PROP_SUBSCRIPTION_ID;
    }
}

bool mqtt__send_publish(struct mqtt_client *c, const struct delivery *d, bool dup)
{
    const struct mqtt_message *m = d->msg;
    if (c->s && !mqtt__acl_may_receive(c->s, m->topic, m->topic_len))
        return false; /* checked when sent, queued deliveries included */
    struct mqtt_packet p = {.type = MQTT_PUBLISH};
    p.publish.dup = dup;
    p.publish.qos = d->qos;
    p.publish.retain = d->retain;
    p.publish.id = d->qos ? d->pid : 0;
    p.publish.topic = (struct mqtt_str){m->topic, m->topic_len};
    p.publish.payload = (struct mqtt_str){(const char *)m->payload, m->payload_len};
    if (c->version == MQTT_V5)
        publish_props(c, d, &p.props);
    if (c->max_packet_out && mqtt_encoded_size(&p, c->version) > c->max_packet_out) {
        c->b->stats.msgs_dropped++; /* 5.0: never send more than the client takes */
        return false;
    }
    mqtt__send_packet(c, &p);
    c->b->stats.msgs_sent++;
    return true;
}
