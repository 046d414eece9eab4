/* codec_util.c: the codec's list iterators and builders, packet comparison,
 * reason-code texts and the 3.1.1 CONNACK mapping (codec.h).
 *
 * The iterators read lists in wire form. Lists from mqtt_decode() were
 * validated item by item, so iteration never fails on them; every read is
 * still bounds-checked so a hand-made list can at worst end early. */
#include <string.h>

#include "mqtt/codec_int.h"

void mqtt_iter_init(struct mqtt_iter *it, const struct mqtt_list *list)
{
    it->p = list->data;
    it->end = list->data ? list->data + list->len : list->data;
}

/* Reads a two-byte length and that many bytes at it->p. */
static int next_str(struct mqtt_iter *it, struct mqtt_str *s)
{
    size_t n = (size_t)(it->end - it->p);
    if (n < 2 || n - 2 < (size_t)(it->p[0] << 8 | it->p[1])) return 0;
    s->len = (size_t)(it->p[0] << 8 | it->p[1]);
    s->p = (const char *)it->p + 2;
    it->p += 2 + s->len;
    return 1;
}

int mqtt_sub_next(struct mqtt_iter *it, struct mqtt_sub *out)
{
    struct mqtt_iter save = *it;
    if (!next_str(it, &out->filter) || it->p >= it->end) {
        *it = save;
        return 0;
    }
    uint8_t o = *it->p++;
    out->options = o;
    out->qos = o & 3;
    out->no_local = (o >> 2) & 1;
    out->retain_as_published = (o >> 3) & 1;
    out->retain_handling = (o >> 4) & 3;
    return 1;
}

int mqtt_filter_next(struct mqtt_iter *it, struct mqtt_str *out)
{
    return next_str(it, out);
}

int mqtt_code_next(struct mqtt_iter *it, uint8_t *out)
{
    if (it->p >= it->end) return 0;
    *out = *it->p++;
    return 1;
}

int mqtt_user_prop_next(struct mqtt_iter *it, struct mqtt_str *key, struct mqtt_str *value)
{
    uint8_t id;
    const uint8_t *v;
    while (mqtt__prop_next(it, &id, &v)) {
        if (id != MQTT_PROP_USER_PROPERTY) continue;
        struct mqtt_iter in = {v, it->p};
        return next_str(&in, key) && next_str(&in, value);
    }
    return 0;
}

int mqtt_sub_id_next(struct mqtt_iter *it, uint32_t *out)
{
    uint8_t id;
    const uint8_t *v;
    bool minimal;
    while (mqtt__prop_next(it, &id, &v))
        if (id == MQTT_PROP_SUBSCRIPTION_ID)
            return mqtt__vbi_parse(v, (size_t)(it->p - v), out, &minimal) > 0;
    return 0;
}

void mqtt_put_sub(struct buf *b, struct mqtt_str filter, uint8_t options)
{
    struct mqtt__wr w = {b, 0};
    mqtt__put_str(&w, filter);
    mqtt__put_u8(&w, options);
}

void mqtt_put_filter(struct buf *b, struct mqtt_str filter)
{
    struct mqtt__wr w = {b, 0};
    mqtt__put_str(&w, filter);
}

void mqtt_put_user_prop(struct buf *b, struct mqtt_str key, struct mqtt_str value)
{
    struct mqtt__wr w = {b, 0};
    mqtt__put_u8(&w, MQTT_PROP_USER_PROPERTY);
    mqtt__put_str(&w, key);
    mqtt__put_str(&w, value);
}

void mqtt_put_sub_id(struct buf *b, uint32_t id)
{
    struct mqtt__wr w = {b, 0};
    mqtt__put_u8(&w, MQTT_PROP_SUBSCRIPTION_ID);
    mqtt__put_vbi(&w, id);
}

struct mqtt_list mqtt_list_view(const struct buf *b, uint32_t count)
{
    struct mqtt_list l = {(const uint8_t *)b->data, b->len, count};
    return l;
}

struct mqtt_str mqtt_cstr(const char *s)
{
    struct mqtt_str v = {s, strlen(s)};
    return v;
}

bool mqtt__str_eq(struct mqtt_str a, struct mqtt_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool connect_equal(const struct mqtt_connect *a, const struct mqtt_connect *b, int v)
{
    if (a->clean_start != b->clean_start || a->will != b->will ||
        a->has_username != b->has_username || a->has_password != b->has_password ||
        a->keep_alive != b->keep_alive || !mqtt__str_eq(a->client_id, b->client_id))
        return false;
    if (a->will && (a->will_qos != b->will_qos || a->will_retain != b->will_retain ||
                    !mqtt__str_eq(a->will_topic, b->will_topic) ||
                    !mqtt__str_eq(a->will_payload, b->will_payload) ||
                    (v == MQTT_V5 && !mqtt__props_equal(&a->will_props, &b->will_props))))
        return false;
    return (!a->has_username || mqtt__str_eq(a->username, b->username)) &&
           (!a->has_password || mqtt__str_eq(a->password, b->password));
}

static bool publish_equal(const struct mqtt_publish *a, const struct mqtt_publish *b)
{
    return a->dup == b->dup && a->qos == b->qos && a->retain == b->retain &&
           (a->qos == 0 || a->id == b->id) && mqtt__str_eq(a->topic, b->topic) &&
           mqtt__str_eq(a->payload, b->payload);
}

/* Item by item, as each type's iterator reads them. */
static bool items_equal(int type, const struct mqtt_list *a, const struct mqtt_list *b)
{
    struct mqtt_iter ia, ib;
    struct mqtt_sub sa, sb;
    uint8_t ca, cb;
    if (a->count != b->count) return false;
    mqtt_iter_init(&ia, a);
    mqtt_iter_init(&ib, b);
    for (uint32_t i = 0; i < a->count; i++) {
        memset(&sa, 0, sizeof sa);
        memset(&sb, 0, sizeof sb);
        ca = cb = 0;
        int ra = type == MQTT_SUBSCRIBE     ? mqtt_sub_next(&ia, &sa)
                 : type == MQTT_UNSUBSCRIBE ? mqtt_filter_next(&ia, &sa.filter)
                                            : mqtt_code_next(&ia, &ca);
        int rb = type == MQTT_SUBSCRIBE     ? mqtt_sub_next(&ib, &sb)
                 : type == MQTT_UNSUBSCRIBE ? mqtt_filter_next(&ib, &sb.filter)
                                            : mqtt_code_next(&ib, &cb);
        if (ra != rb || ca != cb || sa.options != sb.options || !mqtt__str_eq(sa.filter, sb.filter))
            return false;
    }
    return true;
}

static bool body_equal(const struct mqtt_packet *a, const struct mqtt_packet *b, int v)
{
    switch (a->type) {
    case MQTT_CONNECT:
        return connect_equal(&a->connect, &b->connect, v);
    case MQTT_CONNACK:
        return a->connack.session_present == b->connack.session_present &&
               a->connack.code == b->connack.code;
    case MQTT_PUBLISH:
        return publish_equal(&a->publish, &b->publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return a->ack.id == b->ack.id && a->ack.code == b->ack.code;
    case MQTT_SUBSCRIBE:
    case MQTT_SUBACK:
    case MQTT_UNSUBSCRIBE:
    case MQTT_UNSUBACK:
        return a->subscribe.id == b->subscribe.id &&
               items_equal(a->type, &a->subscribe.list, &b->subscribe.list);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return a->disconnect.code == b->disconnect.code;
    default:
        return true;
    }
}

bool mqtt_packet_equal(const struct mqtt_packet *a, const struct mqtt_packet *b, int version)
{
    if (a->type != b->type || !body_equal(a, b, version)) return false;
    return version != MQTT_V5 || mqtt__props_equal(&a->props, &b->props);
}

static const char *const reason_texts[256] = {
    [0x00] = "Success",
    [0x01] = "Granted QoS 1",
    [0x02] = "Granted QoS 2",
    [0x04] = "Disconnect with Will Message",
    [0x10] = "No matching subscribers",
    [0x11] = "No subscription existed",
    [0x18] = "Continue authentication",
    [0x19] = "Re-authenticate",
    [0x80] = "Unspecified error",
    [0x81] = "Malformed Packet",
    [0x82] = "Protocol Error",
    [0x83] = "Implementation specific error",
    [0x84] = "Unsupported Protocol Version",
    [0x85] = "Client Identifier not valid",
    [0x86] = "Bad User Name or Password",
    [0x87] = "Not authorized",
    [0x88] = "Server unavailable",
    [0x89] = "Server busy",
    [0x8A] = "Banned",
    [0x8B] = "Server shutting down",
    [0x8C] = "Bad authentication method",
    [0x8D] = "Keep Alive timeout",
    [0x8E] = "Session taken over",
    [0x8F] = "Topic Filter invalid",
    [0x90] = "Topic Name invalid",
    [0x91] = "Packet Identifier in use",
    [0x92] = "Packet Identifier not found",
    [0x93] = "Receive Maximum exceeded",
    [0x94] = "Topic Alias invalid",
    [0x95] = "Packet too large",
    [0x96] = "Message rate too high",
    [0x97] = "Quota exceeded",
    [0x98] = "Administrative action",
    [0x99] = "Payload format invalid",
    [0x9A] = "Retain not supported",
    [0x9B] = "QoS not supported",
    [0x9C] = "Use another server",
    [0x9D] = "Server moved",
    [0x9E] = "Shared Subscriptions not supported",
    [0x9F] = "Connection rate exceeded",
    [0xA0] = "Maximum connect time",
    [0xA1] = "Subscription Identifiers not supported",
    [0xA2] = "Wildcard Subscriptions not supported",
};

const char *mqtt_reason_text(uint8_t code)
{
    return reason_texts[code] ? reason_texts[code] : "Unknown reason code";
}

int mqtt_connack_v311_code(uint8_t reason)
{
    switch (reason) {
    case 0x00:
        return 0;
    case 0x84:
        return 1;
    case 0x85:
        return 2;
    case 0x88:
    case 0x89:
        return 3;
    case 0x86:
        return 4;
    case 0x87:
        return 5;
    default:
        return -1;
    }
}
