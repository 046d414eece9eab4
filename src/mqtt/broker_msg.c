/* broker_msg.c: published messages and their routing.
 *
 * A message is one allocation holding the topic, the payload and the 5.0
 * properties that travel with it (payload format, message expiry, content
 * type, response topic, correlation data, user properties). It is shared,
 * by reference count, by every delivery and by the retained store.
 *
 * Retained limits: a message over max_retained_bytes (all retained topics
 * and payloads together, $SYS/ aside) or one that would give its owner more
 * than max_retained_per_identity retained topics is still delivered to
 * every subscriber but not retained, and the topic's previous retained
 * message is cleared (it is no longer the latest); the publisher is not
 * told (its PUBLISH was delivered, so a refusal code would be wrong, and
 * 3.1.1 has none), a log line is (at most one every 10 s). gasketd's own
 * messages (no owner) are counted but never refused. */
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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

struct mqtt_message *mqtt__message_new(struct mqtt_broker *b, const char *topic, size_t topic_len,
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

void mqtt__message_ref(struct mqtt_message *m)
{
    m->refs++;
}

void mqtt__message_unref(struct mqtt_message *m)
{
    if (m && --m->refs == 0) {
        free(m->owner);
        free(m);
    }
}

void mqtt__message_set_owner(struct mqtt_message *m, uint8_t kind, const char *user)
{
    size_t n = (user ? strlen(user) : 0) + 4;
    free(m->owner);
    m->owner = xmalloc(n);
    snprintf(m->owner, n, "%u:%s", kind, user ? user : "");
}

bool mqtt__message_expired(const struct mqtt_broker *b, const struct mqtt_message *m)
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
    if ((o->no_local && s == r->from) || !mqtt__acl_may_receive(s, r->m->topic, r->m->topic_len))
        return;
    uint8_t qos = r->m->qos < o->qos ? r->m->qos : o->qos;
    mqtt__session_deliver(s, r->m, qos, o->retain_as_published && r->m->retain, o->sub_id);
}

/* ---- the retained store's accounting ---- */

static bool is_sys(const struct mqtt_message *m)
{
    return m->topic_len >= 5 && memcmp(m->topic, "$SYS/", 5) == 0;
}

static size_t owned(const struct mqtt_broker *b, const char *owner)
{
    return owner ? (uintptr_t)map_get(&b->retained_owners, owner, strlen(owner)) : 0;
}

/* Adds (+1) or removes (-1) m from the totals. */
static void account(struct mqtt_broker *b, const struct mqtt_message *m, int sign)
{
    if (!m || is_sys(m))
        return;
    size_t bytes = m->topic_len + m->payload_len;
    b->retained_bytes = sign > 0 ? b->retained_bytes + bytes : b->retained_bytes - bytes;
    if (!m->owner)
        return;
    size_t len = strlen(m->owner), n = owned(b, m->owner) + (size_t)(ssize_t)sign;
    if (n)
        map_put(&b->retained_owners, m->owner, len, (void *)(uintptr_t)n);
    else
        map_del(&b->retained_owners, m->owner, len);
}

/* Why m may not replace old as the retained message, or NULL. */
static const char *over_limit(const struct mqtt_broker *b, const struct mqtt_message *m,
                              const struct mqtt_message *old)
{
    if (!m->owner)
        return NULL;
    size_t bytes = m->topic_len + m->payload_len;
    size_t old_bytes = old ? old->topic_len + old->payload_len : 0;
    if (b->opt.max_retained_bytes && b->retained_bytes - old_bytes + bytes > b->opt.max_retained_bytes)
        return "max_retained_bytes";
    bool same_owner = old && old->owner && strcmp(old->owner, m->owner) == 0;
    if (b->opt.max_retained_per_identity && !same_owner &&
        owned(b, m->owner) >= b->opt.max_retained_per_identity)
        return "max_retained_per_identity";
    return NULL;
}

static void retain_set(struct mqtt_broker *b, struct mqtt_message *m)
{
    void *old = mqtt_retain_set(b->retained, m->topic, m->topic_len, m);
    mqtt__message_ref(m);
    account(b, old, -1);
    account(b, m, +1);
    mqtt__message_unref(old);
}

void mqtt__broker_retain_restore(struct mqtt_broker *b, struct mqtt_message *m)
{
    retain_set(b, m);
    b->stats.retained = mqtt_retain_count(b->retained);
}

void mqtt__broker_retain_free(struct mqtt_broker *b)
{
    map_free(&b->retained_owners);
}

/* Stores or clears the retained copy of m (an empty payload clears and is
 * not itself retained), within the limits. */
static void retain(struct mqtt_broker *b, struct mqtt_message *m)
{
    struct mqtt_message *old = mqtt_retain_get(b->retained, m->topic, m->topic_len);
    const char *why = m->payload_len ? over_limit(b, m, old) : NULL;
    if (why) {
        uint64_t now = uv_now(b->loop);
        if (!b->retain_warned || now - b->retain_warned >= 10000) {
            log_warn("mqtt: %s from %s delivered but not retained: %s reached", m->topic,
                     m->owner[2] ? m->owner + 2 : "an anonymous client", why);
            b->retain_warned = now;
        }
    }
    if (m->payload_len && !why) {
        retain_set(b, m);
    } else if (old) {
        mqtt_retain_set(b->retained, m->topic, m->topic_len, NULL); /* prunes the node */
        account(b, old, -1);
        mqtt__message_unref(old);
    }
    mqtt__persist_mark_retained(b, m->topic, m->topic_len);
    b->stats.retained = mqtt_retain_count(b->retained);
}

/* Stores or clears the retained copy and hands m to every subscription. */
static void route(struct mqtt_broker *b, struct mqtt_message *m, struct mqtt_session *from)
{
    if (m->retain)
        retain(b, m);
    struct route r = {m, from};
    mqtt_topic_match(b->subs, m->topic, m->topic_len, on_match, &r);
}

void mqtt__broker_route(struct mqtt_broker *b, struct mqtt_message *m, struct mqtt_session *from)
{
    b->stats.msgs_received++;
    route(b, m, from);
}

void mqtt__broker_sys_publish(struct mqtt_broker *b, const char *topic, const char *value)
{
    struct mqtt_message *m =
        mqtt__message_new(b, topic, strlen(topic), value, strlen(value), 0, true, NULL);
    route(b, m, NULL);
    mqtt__message_unref(m);
}
