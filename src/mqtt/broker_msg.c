/* broker_msg.c: published messages and their routing.
 *
 * A message is one allocation holding the topic, the payload and the 5.0
 * properties that travel with it (payload format, message expiry, content
 * type, response topic, correlation data, user properties). It is shared,
 * by reference count, by every delivery and by the retained store. */
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include <stdlib.h>
#include <string.h>

#define FORWARDED                                                                                  \
    ((1ull << MQTT_PROP_PAYLOAD_FORMAT) | (1ull << MQTT_PROP_MESSAGE_EXPIRY) |                    \
     (1ull << MQTT_PROP_CONTENT_TYPE) | (1ull << MQTT_PROP_RESPONSE_TOPIC) |                      \
     (1ull << MQTT_PROP_CORRELATION_DATA) | (1ull << MQTT_PROP_USER_PROPERTY))

static uint8_t *copy_str(struct mqtt_str *dst, struct mqtt_str src, uint8_t *p)
{
    if (src.len)
        memcpy(p, src.p, src.len);
    dst->p = (const char *)p;
    dst->len = src.len;
    return p + src.len;
}

static size_t props_size(const struct mqtt_props *pr)
{
    if (!pr)
        return 0;
    return pr->content_type.len + pr->response_topic.len + pr->correlation_data.len +
           pr->user_props.len;
}

static void copy_props(struct mqtt_broker *b, struct mqtt_message *m, const struct mqtt_props *pr,
                       uint8_t *p)
{
    struct mqtt_props *out = &m->props;
    out->present = pr->present & FORWARDED;
    out->payload_format = pr->payload_format;
    p = copy_str(&out->content_type, pr->content_type, p);
    p = copy_str(&out->response_topic, pr->response_topic, p);
    p = copy_str(&out->correlation_data, pr->correlation_data, p);
    if (pr->user_props.count) {
        memcpy(p, pr->user_props.data, pr->user_props.len);
        out->user_props = (struct mqtt_list){p, pr->user_props.len, pr->user_props.count};
    }
    if (mqtt_has(pr, MQTT_PROP_MESSAGE_EXPIRY))
        m->expiry_at = uv_now(b->loop) + (uint64_t)pr->message_expiry * 1000;
}

struct mqtt_message *message_new(struct mqtt_broker *b, const char *topic, size_t topic_len,
                                 const void *payload, size_t len, uint8_t qos, bool retain,
                                 const struct mqtt_props *props)
{
    struct mqtt_message *m = xmalloc(sizeof *m + topic_len + 1 + len + props_size(props));
    memset(m, 0, sizeof *m);
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic_len = topic_len;
    m->payload_len = len;
    m->topic = (char *)m->data;
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    m->payload = m->data + topic_len + 1;
    if (len)
        memcpy(m->payload, payload, len);
    if (props)
        copy_props(b, m, props, m->payload + len);
    return m;
}

void message_ref(struct mqtt_message *m)
{
    m->refs++;
}

void message_unref(struct mqtt_message *m)
{
    if (m && --m->refs == 0)
        free(m);
}

bool message_expired(const struct mqtt_broker *b, const struct mqtt_message *m)
{
    return m->expiry_at && uv_now(b->loop) >= m->expiry_at;
}

struct route {
    struct mqtt_message *m;
    struct mqtt_session *from;
};

static void on_match(void *ud, void *subscriber, const struct mqtt_topic_opts *o,
                     const char *group)
{
    struct route *r = ud;
    struct mqtt_session *s = subscriber;
    (void)group;
    if ((o->no_local && s == r->from) || !acl_may_receive(s, r->m->topic, r->m->topic_len))
        return;
    uint8_t qos = r->m->qos < o->qos ? r->m->qos : o->qos;
    session_deliver(s, r->m, qos, o->retain_as_published && r->m->retain, o->sub_id);
}

/* Stores or clears the retained copy and hands m to every subscription. */
static void route(struct mqtt_broker *b, struct mqtt_message *m, struct mqtt_session *from)
{
    if (m->retain) {
        /* an empty retained payload clears and is not itself retained */
        void *old = mqtt_retain_set(b->retained, m->topic, m->topic_len, m->payload_len ? m : NULL);
        if (m->payload_len)
            message_ref(m);
        message_unref(old);
        b->stats.retained = mqtt_retain_count(b->retained);
    }
    struct route r = {m, from};
    mqtt_topic_match(b->subs, m->topic, m->topic_len, on_match, &r);
}

void broker_route(struct mqtt_broker *b, struct mqtt_message *m, struct mqtt_session *from)
{
    b->stats.msgs_received++;
    b->changes++;
    route(b, m, from);
}

void broker_sys_publish(struct mqtt_broker *b, const char *topic, const char *value)
{
    struct mqtt_message *m =
        message_new(b, topic, strlen(topic), value, strlen(value), 0, true, NULL);
    route(b, m, NULL);
    message_unref(m);
}
