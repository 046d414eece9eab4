/* codec_props.c: MQTT 5 properties (MQTT 5.0 section 2.2.2), table driven.
 *
 * One descriptor per property identifier says its data type, where it lives
 * in struct mqtt_props, which packets (or the CONNECT will) may carry it,
 * where it may repeat, and its allowed value range. Decoding, encoding and
 * skipping (for the list iterators) all read this table.
 *
 * Errors follow the spec's wording: an unknown identifier or one not valid for
 * the packet makes a Malformed Packet (2.2.2.2); a repeat or a value out of
 * range is a Protocol Error, except Topic Alias 0 (Topic Alias invalid). */
#include <stddef.h>

#include "core/err.h"
#include "mqtt/codec_int.h"

enum ptype { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VBI, PT_STR, PT_BIN, PT_PAIR };

struct pdesc {
    uint8_t type;
    uint8_t bad;     /* reason code for a value out of [min, max] */
    uint8_t topic;   /* a topic name: no wildcards */
    uint16_t off;    /* field in struct mqtt_props (a struct mqtt_list for VBI/PAIR) */
    uint32_t where;  /* kinds (1 << packet type, or MQTT__WILL) allowed */
    uint32_t repeat; /* kinds where it may appear more than once */
    uint32_t min, max;
};

#define K(t)   (1u << (t))
#define WILL   K(MQTT__WILL)
#define PUB    K(MQTT_PUBLISH)
#define CONN   K(MQTT_CONNECT)
#define CACK   K(MQTT_CONNACK)
#define ACKS   (K(MQTT_PUBACK) | K(MQTT_PUBREC) | K(MQTT_PUBREL) | K(MQTT_PUBCOMP))
#define ALL    0xfffeu
#define OFF(f) offsetof(struct mqtt_props, f)
#define BOOL_(f, w)                                                                                \
    {                                                                                              \
        PT_BYTE, MQTT_RC_PROTOCOL_ERROR, 0, OFF(f), w, 0, 0, 1                                     \
    }
#define INT_(t, f, w, lo, hi, bad)                                                                 \
    {                                                                                              \
        t, bad, 0, OFF(f), w, 0, lo, hi                                                            \
    }
#define STR_(t, f, w)                                                                              \
    {                                                                                              \
        t, 0, 0, OFF(f), w, 0, 0, 0                                                                \
    }

static const struct pdesc props[] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = BOOL_(payload_format, PUB | WILL),
    [MQTT_PROP_MESSAGE_EXPIRY] = INT_(PT_U32, message_expiry, PUB | WILL, 0, UINT32_MAX, 0),
    [MQTT_PROP_CONTENT_TYPE] = STR_(PT_STR, content_type, PUB | WILL),
    [MQTT_PROP_RESPONSE_TOPIC] = {PT_STR, 0, 1, OFF(response_topic), PUB | WILL, 0, 0, 0},
    [MQTT_PROP_CORRELATION_DATA] = STR_(PT_BIN, correlation_data, PUB | WILL),
    [MQTT_PROP_SUBSCRIPTION_ID] = {PT_VBI, MQTT_RC_PROTOCOL_ERROR, 0, OFF(sub_ids),
                                   PUB | K(MQTT_SUBSCRIBE), PUB, 1, MQTT_MAX_REMAINING},
    [MQTT_PROP_SESSION_EXPIRY] =
        INT_(PT_U32, session_expiry, CONN | CACK | K(MQTT_DISCONNECT), 0, UINT32_MAX, 0),
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = STR_(PT_STR, assigned_client_id, CACK),
    [MQTT_PROP_SERVER_KEEP_ALIVE] = INT_(PT_U16, server_keep_alive, CACK, 0, UINT16_MAX, 0),
    [MQTT_PROP_AUTH_METHOD] = STR_(PT_STR, auth_method, CONN | CACK | K(MQTT_AUTH)),
    [MQTT_PROP_AUTH_DATA] = STR_(PT_BIN, auth_data, CONN | CACK | K(MQTT_AUTH)),
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = BOOL_(request_problem_info, CONN),
    [MQTT_PROP_WILL_DELAY] = INT_(PT_U32, will_delay, WILL, 0, UINT32_MAX, 0),
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = BOOL_(request_response_info, CONN),
    [MQTT_PROP_RESPONSE_INFO] = STR_(PT_STR, response_info, CACK),
    [MQTT_PROP_SERVER_REFERENCE] = STR_(PT_STR, server_reference, CACK | K(MQTT_DISCONNECT)),
    [MQTT_PROP_REASON_STRING] =
        STR_(PT_STR, reason_string,
             CACK | ACKS | K(MQTT_SUBACK) | K(MQTT_UNSUBACK) | K(MQTT_DISCONNECT) | K(MQTT_AUTH)),
    [MQTT_PROP_RECEIVE_MAX] =
        INT_(PT_U16, receive_max, CONN | CACK, 1, UINT16_MAX, MQTT_RC_PROTOCOL_ERROR),
    [MQTT_PROP_TOPIC_ALIAS_MAX] = INT_(PT_U16, topic_alias_max, CONN | CACK, 0, UINT16_MAX, 0),
    [MQTT_PROP_TOPIC_ALIAS] =
        INT_(PT_U16, topic_alias, PUB, 1, UINT16_MAX, MQTT_RC_TOPIC_ALIAS_INVALID),
    [MQTT_PROP_MAX_QOS] = BOOL_(max_qos, CACK),
    [MQTT_PROP_RETAIN_AVAILABLE] = BOOL_(retain_available, CACK),
    [MQTT_PROP_USER_PROPERTY] = {PT_PAIR, 0, 0, OFF(user_props), ALL | WILL, ALL | WILL, 0, 0},
    [MQTT_PROP_MAX_PACKET_SIZE] =
        INT_(PT_U32, max_packet_size, CONN | CACK, 1, UINT32_MAX, MQTT_RC_PROTOCOL_ERROR),
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = BOOL_(wildcard_sub_available, CACK),
    [MQTT_PROP_SUB_ID_AVAILABLE] = BOOL_(sub_id_available, CACK),
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = BOOL_(shared_sub_available, CACK),
};

#define NPROPS (sizeof props / sizeof props[0])

static const struct pdesc *desc_of(uint8_t id)
{
    return id < NPROPS && props[id].type != PT_NONE ? &props[id] : NULL;
}

static void list_add(struct mqtt_list *l, const uint8_t *block, size_t len)
{
    if (l->count++ == 0) {
        l->data = block;
        l->len = len;
    }
}

static bool has_wildcard(struct mqtt_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == '+' || s.p[i] == '#') return true;
    return false;
}

/* Reads an integer property value into field f (sized by type). */
static int rd_int(struct mqtt__rd *r, const struct pdesc *d, void *f)
{
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v = 0;
    int rc = d->type == PT_BYTE  ? mqtt__rd_u8(r, &v8)
             : d->type == PT_U16 ? mqtt__rd_u16(r, &v16)
             : d->type == PT_U32 ? mqtt__rd_u32(r, &v)
                                 : mqtt__rd_vbi(r, &v);
    if (rc) return rc;
    v = d->type == PT_BYTE ? v8 : d->type == PT_U16 ? v16 : v;
    if (v < d->min || v > d->max) return mqtt__fail(r, d->bad, "property value out of range");
    if (d->type == PT_BYTE)
        *(uint8_t *)f = v8;
    else if (d->type == PT_U16)
        *(uint16_t *)f = v16;
    else if (d->type == PT_U32)
        *(uint32_t *)f = v;
    return 0;
}

/* Reads the value of one property whose identifier was just read. */
static int rd_value(struct mqtt__rd *r, const struct pdesc *d, void *f, const uint8_t *block,
                    size_t blen)
{
    struct mqtt_str k, v;
    switch (d->type) {
    case PT_STR:
        if (mqtt__rd_str(r, f)) return GK_EPROTO;
        if (d->topic && has_wildcard(*(struct mqtt_str *)f))
            return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "wildcard in a response topic");
        return 0;
    case PT_BIN:
        return mqtt__rd_bin(r, f);
    case PT_PAIR:
        if (mqtt__rd_str(r, &k) || mqtt__rd_str(r, &v)) return GK_EPROTO;
        list_add(f, block, blen);
        return 0;
    case PT_VBI:
        if (rd_int(r, d, f)) return GK_EPROTO;
        list_add(f, block, blen);
        return 0;
    default:
        return rd_int(r, d, f);
    }
}

static int rd_prop(struct mqtt__rd *r, int kind, struct mqtt_props *pr, const uint8_t *block,
                   size_t blen)
{
    uint8_t id;
    if (mqtt__rd_u8(r, &id)) return GK_EPROTO;
    const struct pdesc *d = desc_of(id);
    if (!d) return mqtt__fail(r, MQTT_RC_MALFORMED, "unknown property identifier");
    if (!(d->where & K(kind)))
        return mqtt__fail(r, MQTT_RC_MALFORMED, "property not allowed in this packet");
    if (mqtt_has(pr, id) && !(d->repeat & K(kind)))
        return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "property included more than once");
    pr->present |= 1ull << id;
    return rd_value(r, d, (char *)pr + d->off, block, blen);
}

int mqtt__rd_props(struct mqtt__rd *r, int kind, struct mqtt_props *pr)
{
    uint32_t len;
    if (mqtt__rd_vbi(r, &len)) return GK_EPROTO;
    if ((size_t)(r->end - r->p) < len)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "property length runs past the packet");
    struct mqtt__rd sub = *r;
    sub.end = r->p + len;
    while (sub.p < sub.end)
        if (rd_prop(&sub, kind, pr, r->p, len)) return GK_EPROTO;
    r->p = sub.end;
    return 0;
}

int mqtt__prop_next(struct mqtt_iter *it, uint8_t *id, const uint8_t **value)
{
    const uint8_t *p = it->p;
    size_t n = (size_t)(it->end - p), size;
    const struct pdesc *d = n ? desc_of(p[0]) : NULL;
    if (!d) return 0;
    uint32_t v;
    bool minimal;
    switch (d->type) {
    case PT_BYTE:
    case PT_U16:
    case PT_U32:
        size = d->type == PT_BYTE ? 1 : d->type == PT_U16 ? 2 : 4;
        break;
    case PT_VBI: {
        int k = mqtt__vbi_parse(p + 1, n - 1, &v, &minimal);
        if (k <= 0) return 0;
        size = (size_t)k;
        break;
    }
    default:
        if (n < 3) return 0;
        size = 2 + (size_t)(p[1] << 8 | p[2]);
        if (d->type == PT_PAIR && n >= 1 + size + 2)
            size += 2 + (size_t)(p[1 + size] << 8 | p[2 + size]);
        else if (d->type == PT_PAIR)
            return 0;
    }
    if (n - 1 < size) return 0;
    *id = p[0];
    *value = p + 1;
    it->p = p + 1 + size;
    return 1;
}

/* Writes one scalar or string property. */
static void put_one(struct mqtt__wr *w, uint8_t id, const struct pdesc *d, const void *f)
{
    mqtt__put_u8(w, id);
    switch (d->type) {
    case PT_BYTE:
        mqtt__put_u8(w, *(const uint8_t *)f);
        break;
    case PT_U16:
        mqtt__put_u16(w, *(const uint16_t *)f);
        break;
    case PT_U32:
        mqtt__put_u32(w, *(const uint32_t *)f);
        break;
    default:
        mqtt__put_str(w, *(const struct mqtt_str *)f);
    }
}

/* Writes every item of a user property or subscription identifier list. */
static void put_list(struct mqtt__wr *w, uint8_t id, const struct mqtt_list *l)
{
    struct mqtt_iter it;
    const uint8_t *val;
    uint8_t got;
    uint32_t n = 0;
    mqtt_iter_init(&it, l);
    while (n < l->count && mqtt__prop_next(&it, &got, &val)) {
        if (got != id) continue;
        mqtt__put(w, val - 1, (size_t)(it.p - val) + 1);
        n++;
    }
}

static void put_body(struct mqtt__wr *w, int kind, const struct mqtt_props *pr)
{
    for (uint8_t id = 1; id < NPROPS; id++) {
        const struct pdesc *d = desc_of(id);
        if (!d || !(d->where & K(kind))) continue;
        const void *f = (const char *)pr + d->off;
        if (d->type == PT_VBI || d->type == PT_PAIR)
            put_list(w, id, f);
        else if (mqtt_has(pr, id))
            put_one(w, id, d, f);
    }
}

size_t mqtt__props_size(int kind, const struct mqtt_props *pr)
{
    struct mqtt__wr w = {NULL, 0};
    put_body(&w, kind, pr);
    return w.n;
}

void mqtt__put_props(struct mqtt__wr *w, int kind, const struct mqtt_props *pr)
{
    mqtt__put_vbi(w, (uint32_t)mqtt__props_size(kind, pr));
    put_body(w, kind, pr);
}

/* Compares the user properties or subscription identifiers of two lists. */
static bool list_equal(uint8_t id, const struct mqtt_list *a, const struct mqtt_list *b)
{
    struct mqtt_iter ia, ib;
    struct mqtt_str ka, va, kb, vb;
    uint32_t sa, sb;
    int ra, rb;
    if (a->count != b->count) return false;
    mqtt_iter_init(&ia, a);
    mqtt_iter_init(&ib, b);
    for (uint32_t i = 0; i < a->count; i++) {
        if (id == MQTT_PROP_USER_PROPERTY) {
            ra = mqtt_user_prop_next(&ia, &ka, &va);
            rb = mqtt_user_prop_next(&ib, &kb, &vb);
            if (ra != rb || (ra && (!mqtt__str_eq(ka, kb) || !mqtt__str_eq(va, vb)))) return false;
        } else {
            ra = mqtt_sub_id_next(&ia, &sa);
            rb = mqtt_sub_id_next(&ib, &sb);
            if (ra != rb || (ra && sa != sb)) return false;
        }
    }
    return true;
}

static bool value_equal(const struct pdesc *d, const void *fa, const void *fb)
{
    switch (d->type) {
    case PT_BYTE:
        return *(const uint8_t *)fa == *(const uint8_t *)fb;
    case PT_U16:
        return *(const uint16_t *)fa == *(const uint16_t *)fb;
    case PT_U32:
        return *(const uint32_t *)fa == *(const uint32_t *)fb;
    default:
        return mqtt__str_eq(*(const struct mqtt_str *)fa, *(const struct mqtt_str *)fb);
    }
}

bool mqtt__props_equal(const struct mqtt_props *a, const struct mqtt_props *b)
{
    for (uint8_t id = 1; id < NPROPS; id++) {
        const struct pdesc *d = desc_of(id);
        if (!d) continue;
        const void *fa = (const char *)a + d->off, *fb = (const char *)b + d->off;
        if (d->type == PT_VBI || d->type == PT_PAIR) {
            if (!list_equal(id, fa, fb)) return false;
        } else if (mqtt_has(a, id) != mqtt_has(b, id) ||
                   (mqtt_has(a, id) && !value_equal(d, fa, fb))) {
            return false;
        }
    }
    return true;
}
