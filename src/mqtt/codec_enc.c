/* codec_enc.c: MQTT packet encoding (mqtt_encode and friends in codec.h).
 *
 * Each packet body is produced by one function writing through a struct
 * mqtt__wr. It runs twice: first counting (no buffer) to learn the remaining
 * length, then writing after the fixed header. Nothing is allocated besides
 * the growth of the caller's struct buf. */
#include <assert.h>

#include "mqtt/codec_int.h"

void mqtt__put(struct mqtt__wr *w, const void *p, size_t n)
{
    w->n += n;
    if (w->b) buf_append(w->b, p, n);
}

void mqtt__put_u8(struct mqtt__wr *w, uint8_t v)
{
    mqtt__put(w, &v, 1);
}

void mqtt__put_u16(struct mqtt__wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    mqtt__put(w, b, 2);
}

void mqtt__put_u32(struct mqtt__wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    mqtt__put(w, b, 4);
}

void mqtt__put_vbi(struct mqtt__wr *w, uint32_t v)
{
    uint8_t b[4];
    size_t n = 0;
    assert(v <= MQTT_MAX_REMAINING);
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v && n < 4);
    mqtt__put(w, b, n);
}

void mqtt__put_str(struct mqtt__wr *w, struct mqtt_str s)
{
    assert(s.len <= UINT16_MAX);
    mqtt__put_u16(w, (uint16_t)s.len);
    mqtt__put(w, s.p, s.len);
}

static uint8_t connect_flags(const struct mqtt_connect *c)
{
    uint8_t f = (uint8_t)(c->has_username << 7 | c->has_password << 6 | c->clean_start << 1);
    if (c->will) f |= (uint8_t)(c->will_retain << 5 | (c->will_qos & 3) << 3 | 1 << 2);
    return f;
}

static void put_connect(struct mqtt__wr *w, const struct mqtt_packet *p, int v)
{
    const struct mqtt_connect *c = &p->connect;
    mqtt__put_str(w, mqtt_cstr("MQTT"));
    mqtt__put_u8(w, (uint8_t)v);
    mqtt__put_u8(w, connect_flags(c));
    mqtt__put_u16(w, c->keep_alive);
    if (v == MQTT_V5) mqtt__put_props(w, MQTT_CONNECT, &p->props);
    mqtt__put_str(w, c->client_id);
    if (c->will) {
        if (v == MQTT_V5) mqtt__put_props(w, MQTT__WILL, &c->will_props);
        mqtt__put_str(w, c->will_topic);
        mqtt__put_str(w, c->will_payload);
    }
    if (c->has_username) mqtt__put_str(w, c->username);
    if (c->has_password) mqtt__put_str(w, c->password);
}

/* Reason code and properties of the 5.0 packets where both may be omitted
 * (PUBACK family, DISCONNECT, AUTH). */
static void put_code_props(struct mqtt__wr *w, const struct mqtt_packet *p, uint8_t code)
{
    size_t psize = mqtt__props_size(p->type, &p->props);
    if (code == 0 && psize == 0) return;
    mqtt__put_u8(w, code);
    if (psize) mqtt__put_props(w, p->type, &p->props);
}

/* The items of a SUBSCRIBE, UNSUBSCRIBE, SUBACK or UNSUBACK list. */
static void put_items(struct mqtt__wr *w, const struct mqtt_packet *p, int v)
{
    struct mqtt_iter it;
    struct mqtt_sub s;
    struct mqtt_str f;
    uint8_t code;
    const struct mqtt_list *l = &p->subscribe.list;
    mqtt_iter_init(&it, l);
    for (uint32_t i = 0; i < l->count; i++) {
        if (p->type == MQTT_SUBSCRIBE && mqtt_sub_next(&it, &s)) {
            mqtt__put_str(w, s.filter);
            mqtt__put_u8(w, s.options & (v == MQTT_V5 ? 0x3f : 0x03));
        } else if (p->type == MQTT_UNSUBSCRIBE && mqtt_filter_next(&it, &f)) {
            mqtt__put_str(w, f);
        } else if ((p->type == MQTT_SUBACK || p->type == MQTT_UNSUBACK) &&
                   mqtt_code_next(&it, &code)) {
            mqtt__put_u8(w, code);
        } else {
            break;
        }
    }
}

static void put_idlist(struct mqtt__wr *w, const struct mqtt_packet *p, int v)
{
    mqtt__put_u16(w, p->subscribe.id);
    if (v == MQTT_V5) mqtt__put_props(w, p->type, &p->props);
    if (v == MQTT_V5 || p->type != MQTT_UNSUBACK) put_items(w, p, v);
}

static void put_publish(struct mqtt__wr *w, const struct mqtt_packet *p, int v, bool payload)
{
    mqtt__put_str(w, p->publish.topic);
    if (p->publish.qos) mqtt__put_u16(w, p->publish.id);
    if (v == MQTT_V5) mqtt__put_props(w, MQTT_PUBLISH, &p->props);
    if (payload) mqtt__put(w, p->publish.payload.p, p->publish.payload.len);
}

static void put_body(struct mqtt__wr *w, const struct mqtt_packet *p, int v, bool payload)
{
    switch (p->type) {
    case MQTT_CONNECT:
        put_connect(w, p, v);
        break;
    case MQTT_CONNACK:
        mqtt__put_u8(w, p->connack.session_present);
        mqtt__put_u8(w, p->connack.code);
        if (v == MQTT_V5) mqtt__put_props(w, MQTT_CONNACK, &p->props);
        break;
    case MQTT_PUBLISH:
        put_publish(w, p, v, payload);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        mqtt__put_u16(w, p->ack.id);
        if (v == MQTT_V5) put_code_props(w, p, p->ack.code);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_SUBACK:
    case MQTT_UNSUBSCRIBE:
    case MQTT_UNSUBACK:
        put_idlist(w, p, v);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (v == MQTT_V5) put_code_props(w, p, p->disconnect.code);
        break;
    default:
        break;
    }
}

static uint8_t header_flags(const struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_PUBLISH:
        return (uint8_t)(p->publish.dup << 3 | (p->publish.qos & 3) << 1 | p->publish.retain);
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return 2;
    default:
        return 0;
    }
}

/* Writes the fixed header and the body (without the PUBLISH payload unless
 * `payload`), the remaining length counting `extra` more bytes. */
static size_t encode(const struct mqtt_packet *p, int v, struct buf *out, bool payload,
                     size_t extra)
{
    v = v == MQTT_V5 ? MQTT_V5 : MQTT_V311;
    if (p->type == MQTT_AUTH && v != MQTT_V5) return 0;
    struct mqtt__wr count = {NULL, 0}, w = {out, 0};
    put_body(&count, p, v, payload);
    assert(count.n + extra <= MQTT_MAX_REMAINING);
    mqtt__put_u8(&w, (uint8_t)(p->type << 4 | header_flags(p)));
    mqtt__put_vbi(&w, (uint32_t)(count.n + extra));
    if (out) buf_reserve(out, count.n);
    put_body(&w, p, v, payload);
    return w.n;
}

void mqtt_encode(const struct mqtt_packet *p, int version, struct buf *out)
{
    encode(p, version, out, true, 0);
}

size_t mqtt_encode_publish_head(const struct mqtt_packet *p, int version, struct buf *out)
{
    assert(p->type == MQTT_PUBLISH);
    return encode(p, version, out, false, p->publish.payload.len);
}

size_t mqtt_encoded_size(const struct mqtt_packet *p, int version)
{
    return encode(p, version, NULL, true, 0);
}
