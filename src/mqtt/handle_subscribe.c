/* handle_subscribe.c: SUBSCRIBE and UNSUBSCRIBE.
 *
 * SUBACK comes first; the retained messages matching each new (or, with
 * retain handling 0, each renewed) non-shared subscription follow it, with
 * the RETAIN flag set. In 3.1.1 "$share/..." is an ordinary filter. A new
 * filter beyond max_subscriptions is refused in the SUBACK (5.0: 0x97 quota
 * exceeded; 3.1.1: 0x80); renewing one the client holds is always allowed. */
#include "mqtt/broker_int.h"

#include <string.h>

/* Parses one filter for this client; returns 0 or the reason code to put
 * in the SUBACK/UNSUBACK. */
static int parse(struct mqtt_client *c, struct mqtt_str s, struct mqtt_topic_filter *f)
{
    bool v5 = c->version == MQTT_V5;
    if (mqtt_topic_parse_filter(s.p, s.len, &c->b->opt.topic, v5, f) == 0)
        return 0;
    return v5 ? 0x8F : 0x80; /* Topic Filter invalid / 3.1.1 failure */
}

struct retained_ctx {
    struct mqtt_session *s;
    const struct mqtt_topic_opts *o;
};

static void send_retained(void *ud, const char *topic, size_t len, void *msg)
{
    struct retained_ctx *r = ud;
    struct mqtt_message *m = msg;
    if (!mqtt__acl_may_receive(r->s, topic, len))
        return;
    mqtt__session_deliver(r->s, m, m->qos < r->o->qos ? m->qos : r->o->qos, true, r->o->sub_id);
}

static uint32_t sub_id_of(const struct mqtt_packet *p)
{
    struct mqtt_iter it;
    uint32_t id = 0;
    mqtt_iter_init(&it, &p->props.sub_ids);
    return mqtt_sub_id_next(&it, &id) ? id : 0;
}

int mqtt__handle_subscribe(struct mqtt_client *c, const struct mqtt_packet *p)
{
    struct mqtt_broker *b = c->b;
    struct buf codes = {0};
    struct mqtt_iter it;
    struct mqtt_sub sub;
    struct mqtt_topic_filter f;
    /* retained messages to send after the SUBACK: one bit per entry */
    unsigned char want[256] = {0};
    uint32_t n = 0;
    mqtt_iter_init(&it, &p->subscribe.list);
    for (; mqtt_sub_next(&it, &sub); n++) {
        int code = parse(c, sub.filter, &f);
        if (!code && f.group && sub.no_local) {
            buf_free(&codes);
            return MQTT_RC_PROTOCOL_ERROR; /* 5.0 3.8.3.1: no No Local on shared */
        }
        if (!code && !mqtt__acl_may_subscribe(c, f.filter, f.len))
            code = c->version == MQTT_V5 ? 0x87 : 0x80; /* not authorized */
        if (!code && !mqtt__session_may_subscribe(c->s, &f))
            code = c->version == MQTT_V5 ? 0x97 : 0x80; /* quota exceeded: max_subscriptions */
        if (!code) {
            struct mqtt_topic_opts o = {sub_id_of(p), sub.qos, sub.retain_handling, sub.no_local,
                                        sub.retain_as_published};
            int existed = mqtt__session_subscribe(c->s, &f, &o);
            code = sub.qos;
            if (!f.group && (o.retain_handling == 0 || (o.retain_handling == 1 && !existed)) &&
                n < 8 * sizeof want)
                want[n / 8] |= (unsigned char)(1u << (n % 8));
        }
        buf_putc(&codes, (char)code);
    }
    struct mqtt_packet ack = {.type = MQTT_SUBACK};
    ack.suback.id = p->subscribe.id;
    ack.suback.list = mqtt_list_view(&codes, n);
    mqtt__send_packet(c, &ack);
    buf_free(&codes);
    mqtt_iter_init(&it, &p->subscribe.list);
    for (uint32_t i = 0; mqtt_sub_next(&it, &sub) && i < 8 * sizeof want; i++) {
        if (!(want[i / 8] & (1u << (i % 8))) || parse(c, sub.filter, &f))
            continue;
        struct mqtt_topic_opts o = {sub_id_of(p), sub.qos, 0, false, false};
        struct retained_ctx r = {c->s, &o};
        mqtt_retain_match(b->retained, f.filter, f.len, send_retained, &r);
    }
    return 0;
}

int mqtt__handle_unsubscribe(struct mqtt_client *c, const struct mqtt_packet *p)
{
    struct buf codes = {0};
    struct mqtt_iter it;
    struct mqtt_str s;
    struct mqtt_topic_filter f;
    uint32_t n = 0;
    mqtt_iter_init(&it, &p->unsubscribe.list);
    for (; mqtt_filter_next(&it, &s); n++) {
        int code = parse(c, s, &f);
        if (!code)
            code = mqtt__session_unsubscribe(c->s, &f) == 1 ? 0x00 : 0x11;
        buf_putc(&codes, (char)code);
    }
    struct mqtt_packet ack = {.type = MQTT_UNSUBACK};
    ack.unsuback.id = p->unsubscribe.id;
    ack.unsuback.list = mqtt_list_view(&codes, c->version == MQTT_V5 ? n : 0);
    mqtt__send_packet(c, &ack);
    buf_free(&codes);
    return 0;
}
