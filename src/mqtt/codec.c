/* codec.c: MQTT packet decoding (mqtt_decode in codec.h).
 *
 * The fixed header is checked byte by byte as it arrives: the first byte
 * (type and flags) as soon as it is there, the remaining length as soon as it
 * is complete, and the size against max_packet before any of the body is
 * needed. The body is then decoded by one function per packet type using the
 * readers of codec_rd.c and the property table of codec_props.c; whatever is
 * left over after a body is a Malformed Packet. Decoding never allocates and
 * the result points into the caller's buffer. */
#include <string.h>

#include "core/err.h"
#include "mqtt/codec_int.h"

/* Reason codes each 5.0 packet may carry (MQTT 5.0 sections 3.x.2.1, 3.9.3). */
static const char rc_connack[] = "\x00\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8c\x90\x95"
                                 "\x97\x99\x9a\x9b\x9c\x9d\x9f";
static const char rc_puback[] = "\x00\x10\x80\x83\x87\x90\x91\x97\x99";
static const char rc_pubrel[] = "\x00\x92";
static const char rc_suback[] = "\x00\x01\x02\x80\x83\x87\x8f\x91\x97\x9e\xa1\xa2";
static const char rc_unsuback[] = "\x00\x11\x80\x83\x87\x8f\x91";
static const char rc_disconnect[] = "\x00\x04\x80\x81\x82\x83\x87\x89\x8b\x8d\x8e\x8f\x90\x93\x94"
                                    "\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2";
static const char rc_auth[] = "\x00\x18\x19";
static const char rc_suback_v311[] = "\x00\x01\x02\x80";

struct rc_set {
    const char *codes;
    size_t n;
};

#define RC(a)                                                                                      \
    {                                                                                              \
        a, sizeof a - 1                                                                            \
    }
static const struct rc_set rc_v5[16] = {
    [MQTT_CONNACK] = RC(rc_connack),   [MQTT_PUBACK] = RC(rc_puback),
    [MQTT_PUBREC] = RC(rc_puback),     [MQTT_PUBREL] = RC(rc_pubrel),
    [MQTT_PUBCOMP] = RC(rc_pubrel),    [MQTT_SUBACK] = RC(rc_suback),
    [MQTT_UNSUBACK] = RC(rc_unsuback), [MQTT_DISCONNECT] = RC(rc_disconnect),
    [MQTT_AUTH] = RC(rc_auth),
};
static const struct rc_set rc_suback_311 = RC(rc_suback_v311);

static const char *const bad_flags[16] = {
    [MQTT_CONNECT] = "reserved flag bits set in CONNECT",
    [MQTT_CONNACK] = "reserved flag bits set in CONNACK",
    [MQTT_PUBACK] = "reserved flag bits set in PUBACK",
    [MQTT_PUBREC] = "reserved flag bits set in PUBREC",
    [MQTT_PUBREL] = "reserved flag bits set in PUBREL",
    [MQTT_PUBCOMP] = "reserved flag bits set in PUBCOMP",
    [MQTT_SUBSCRIBE] = "reserved flag bits set in SUBSCRIBE",
    [MQTT_SUBACK] = "reserved flag bits set in SUBACK",
    [MQTT_UNSUBSCRIBE] = "reserved flag bits set in UNSUBSCRIBE",
    [MQTT_UNSUBACK] = "reserved flag bits set in UNSUBACK",
    [MQTT_PINGREQ] = "reserved flag bits set in PINGREQ",
    [MQTT_PINGRESP] = "reserved flag bits set in PINGRESP",
    [MQTT_DISCONNECT] = "reserved flag bits set in DISCONNECT",
    [MQTT_AUTH] = "reserved flag bits set in AUTH",
};

static int rd_code(struct mqtt__rd *r, uint8_t *code)
{
    if (mqtt__rd_u8(r, code)) return GK_EPROTO;
    const struct rc_set *s = r->v5 ? &rc_v5[r->out->type] : NULL;
    if (r->out->type == MQTT_SUBACK && !r->v5) s = &rc_suback_311;
    if (s && !memchr(s->codes, *code, s->n))
        return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "reason code not valid for this packet");
    return 0;
}

static int rd_id(struct mqtt__rd *r, uint16_t *id)
{
    if (mqtt__rd_u16(r, id)) return GK_EPROTO;
    return *id ? 0 : mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "packet identifier 0");
}

static bool left(const struct mqtt__rd *r)
{
    return r->p < r->end;
}

/* Checks the first byte of the fixed header (MQTT 5.0 2.1.3, 3.1.1 2.2.2). */
static int check_first(struct mqtt__rd *r, uint8_t b)
{
    int type = b >> 4, flags = b & 15;
    if (type == 0) return mqtt__fail(r, MQTT_RC_MALFORMED, "reserved packet type 0");
    if (type == MQTT_AUTH && !r->v5)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "AUTH packet outside MQTT 5");
    if (type == MQTT_PUBLISH) {
        if ((flags & 6) == 6) return mqtt__fail(r, MQTT_RC_MALFORMED, "PUBLISH with QoS 3");
        if ((flags & 8) && !(flags & 6))
            return mqtt__fail(r, MQTT_RC_MALFORMED, "DUP set in a QoS 0 PUBLISH");
        return 0;
    }
    int want = type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ? 2 : 0;
    return flags == want ? 0 : mqtt__fail(r, MQTT_RC_MALFORMED, bad_flags[type]);
}

/* Protocol name, level and flags of a CONNECT (3.1.2.1 .. 3.1.2.9). */
static int connect_head(struct mqtt__rd *r, struct mqtt_connect *c)
{
    uint8_t f;
    if (mqtt__rd_bin(r, &c->protocol) || mqtt__rd_u8(r, &c->level)) return GK_EPROTO;
    if (c->protocol.len != 4 || memcmp(c->protocol.p, "MQTT", 4) != 0)
        return mqtt__fail(r, MQTT_RC_UNSUPPORTED_VERSION, "protocol name is not MQTT");
    if (c->level != MQTT_V311 && c->level != MQTT_V5)
        return mqtt__fail(r, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol level");
    r->v5 = c->level == MQTT_V5;
    if (mqtt__rd_u8(r, &f)) return GK_EPROTO;
    if (f & 1) return mqtt__fail(r, MQTT_RC_MALFORMED, "reserved flag set in CONNECT flags");
    c->clean_start = f & 2;
    c->will = f & 4;
    c->will_qos = (f >> 3) & 3;
    c->will_retain = f & 0x20;
    c->has_password = f & 0x40;
    c->has_username = f & 0x80;
    if (!c->will && (c->will_qos || c->will_retain))
        return mqtt__fail(r, MQTT_RC_MALFORMED, "will QoS or retain set without a will");
    if (c->will_qos == 3) return mqtt__fail(r, MQTT_RC_MALFORMED, "will QoS 3");
    if (!r->v5 && c->has_password && !c->has_username)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "password without a user name");
    return mqtt__rd_u16(r, &c->keep_alive);
}

/* A PUBLISH or will topic name: non-empty (unless allowed), no wildcards. */
static int check_topic(struct mqtt__rd *r, struct mqtt_str t, bool may_be_empty)
{
    if (t.len == 0 && !may_be_empty)
        return r->v5 && r->out->type == MQTT_PUBLISH
                   ? mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "empty topic name without topic alias")
                   : mqtt__fail(r, MQTT_RC_TOPIC_NAME_INVALID, "empty topic name");
    if (memchr(t.p, '+', t.len) || memchr(t.p, '#', t.len))
        return mqtt__fail(r, MQTT_RC_TOPIC_NAME_INVALID, "wildcard in a topic name");
    return 0;
}

static int dec_connect(struct mqtt__rd *r)
{
    struct mqtt_connect *c = &r->out->connect;
    if (connect_head(r, c)) return GK_EPROTO;
    if (r->v5 && mqtt__rd_props(r, MQTT_CONNECT, &r->out->props)) return GK_EPROTO;
    if (mqtt_has(&r->out->props, MQTT_PROP_AUTH_DATA) &&
        !mqtt_has(&r->out->props, MQTT_PROP_AUTH_METHOD))
        return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "authentication data without method");
    if (mqtt__rd_str(r, &c->client_id)) return GK_EPROTO;
    if (c->will && ((r->v5 && mqtt__rd_props(r, MQTT__WILL, &c->will_props)) ||
                    mqtt__rd_str(r, &c->will_topic) || check_topic(r, c->will_topic, false) ||
                    mqtt__rd_bin(r, &c->will_payload)))
        return GK_EPROTO;
    if (c->has_username && mqtt__rd_str(r, &c->username)) return GK_EPROTO;
    if (c->has_password && mqtt__rd_bin(r, &c->password)) return GK_EPROTO;
    if (left(r)) return mqtt__fail(r, MQTT_RC_MALFORMED, "unexpected bytes at the end of CONNECT");
    if (!r->v5 && c->client_id.len == 0 && !c->clean_start)
        return mqtt__fail(r, MQTT_RC_CLIENT_ID_INVALID, "empty client identifier, clean session 0");
    return 0;
}

static int dec_connack(struct mqtt__rd *r)
{
    struct mqtt_connack *ca = &r->out->connack;
    uint8_t f;
    if (mqtt__rd_u8(r, &f)) return GK_EPROTO;
    if (f & 0xfe) return mqtt__fail(r, MQTT_RC_MALFORMED, "reserved CONNACK flag bits set");
    ca->session_present = f & 1;
    if (r->v5)
        return rd_code(r, &ca->code) || mqtt__rd_props(r, MQTT_CONNACK, &r->out->props) ? GK_EPROTO
                                                                                        : 0;
    if (mqtt__rd_u8(r, &ca->code)) return GK_EPROTO;
    return ca->code <= 5 ? 0
                         : mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "reserved CONNACK return code");
}

static int dec_publish(struct mqtt__rd *r, uint8_t flags)
{
    struct mqtt_publish *pb = &r->out->publish;
    pb->dup = flags & 8;
    pb->qos = (flags >> 1) & 3;
    pb->retain = flags & 1;
    if (mqtt__rd_str(r, &pb->topic) || (pb->qos && rd_id(r, &pb->id))) return GK_EPROTO;
    if (r->v5 && mqtt__rd_props(r, MQTT_PUBLISH, &r->out->props)) return GK_EPROTO;
    if (check_topic(r, pb->topic, mqtt_has(&r->out->props, MQTT_PROP_TOPIC_ALIAS)))
        return GK_EPROTO;
    pb->payload.p = (const char *)r->p;
    pb->payload.len = (size_t)(r->end - r->p);
    r->p = r->end;
    return 0;
}

/* Optional reason code then optional properties (5.0 PUBACK family,
 * DISCONNECT, AUTH); absent means success and no properties. */
static int dec_code_props(struct mqtt__rd *r, uint8_t *code)
{
    if (!r->v5) return 0;
    if (left(r) && rd_code(r, code)) return GK_EPROTO;
    if (left(r) && mqtt__rd_props(r, r->out->type, &r->out->props)) return GK_EPROTO;
    return 0;
}

static int dec_ack(struct mqtt__rd *r)
{
    if (rd_id(r, &r->out->ack.id)) return GK_EPROTO;
    return dec_code_props(r, &r->out->ack.code);
}

static int dec_auth(struct mqtt__rd *r)
{
    bool empty = !left(r);
    if (dec_code_props(r, &r->out->auth.code)) return GK_EPROTO;
    if (!empty && !mqtt_has(&r->out->props, MQTT_PROP_AUTH_METHOD))
        return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "AUTH without authentication method");
    return 0;
}

static int check_options(struct mqtt__rd *r, uint8_t o)
{
    if (!r->v5)
        return (o & 0xfc) || (o & 3) == 3
                   ? mqtt__fail(r, MQTT_RC_MALFORMED, "invalid subscription options")
                   : 0;
    if (o & 0xc0) return mqtt__fail(r, MQTT_RC_MALFORMED, "reserved subscription option bits set");
    if ((o & 3) == 3) return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "subscription QoS 3");
    if (((o >> 4) & 3) == 3) return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR, "retain handling 3");
    return 0;
}

/* One list item: a filter with options, a filter, or a reason code. */
static int rd_item(struct mqtt__rd *r)
{
    struct mqtt_str f;
    uint8_t b;
    int t = r->out->type;
    if (t == MQTT_SUBACK || t == MQTT_UNSUBACK) return rd_code(r, &b);
    if (mqtt__rd_str(r, &f)) return GK_EPROTO;
    if (f.len == 0) return mqtt__fail(r, MQTT_RC_MALFORMED, "empty topic filter");
    if (t == MQTT_SUBSCRIBE && (mqtt__rd_u8(r, &b) || check_options(r, b))) return GK_EPROTO;
    return 0;
}

/* SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK: id, properties, items. */
static int dec_idlist(struct mqtt__rd *r)
{
    struct mqtt_idlist *l = &r->out->subscribe;
    if (rd_id(r, &l->id)) return GK_EPROTO;
    if (r->v5 && mqtt__rd_props(r, r->out->type, &r->out->props)) return GK_EPROTO;
    if (!r->v5 && r->out->type == MQTT_UNSUBACK) return 0;
    l->list.data = r->p;
    l->list.len = (size_t)(r->end - r->p);
    for (; left(r); l->list.count++)
        if (rd_item(r)) return GK_EPROTO;
    if (l->list.count == 0)
        return mqtt__fail(r, MQTT_RC_PROTOCOL_ERROR,
                          r->out->type == MQTT_SUBSCRIBE ? "SUBSCRIBE with no topic filter"
                          : r->out->type == MQTT_UNSUBSCRIBE
                              ? "UNSUBSCRIBE with no topic filter"
                              : "acknowledgement with no reason code");
    return 0;
}

static int dec_body(struct mqtt__rd *r, uint8_t flags)
{
    switch (r->out->type) {
    case MQTT_CONNECT:
        return dec_connect(r);
    case MQTT_CONNACK:
        return dec_connack(r);
    case MQTT_PUBLISH:
        return dec_publish(r, flags);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return dec_ack(r);
    case MQTT_SUBSCRIBE:
    case MQTT_SUBACK:
    case MQTT_UNSUBSCRIBE:
    case MQTT_UNSUBACK:
        return dec_idlist(r);
    case MQTT_DISCONNECT:
        return dec_code_props(r, &r->out->disconnect.code);
    case MQTT_AUTH:
        return dec_auth(r);
    default: /* PINGREQ, PINGRESP: empty */
        return 0;
    }
}

int mqtt_decode(const uint8_t *buf, size_t len, int version, uint32_t max_packet,
                struct mqtt_packet *out, size_t *consumed)
{
    memset(out, 0, sizeof *out);
    *consumed = 0;
    if (len == 0) return GK_EAGAIN;
    struct mqtt__rd r = {buf, buf + len, out, version == MQTT_V5};
    out->type = buf[0] >> 4;
    if (out->type == MQTT_CONNECT) r.v5 = 0;
    if (check_first(&r, buf[0])) return GK_EPROTO;
    uint32_t rl;
    bool minimal;
    int n = mqtt__vbi_parse(buf + 1, len - 1, &rl, &minimal);
    if (n == 0) return GK_EAGAIN;
    if (n < 0) return mqtt__fail(&r, MQTT_RC_MALFORMED, "remaining length over 4 bytes");
    out->remaining = rl;
    if (!minimal && r.v5)
        return mqtt__fail(&r, MQTT_RC_MALFORMED, "remaining length not in its shortest form");
    size_t total = 1 + (size_t)n + rl;
    if (max_packet && total > max_packet) {
        out->reason = MQTT_RC_PACKET_TOO_LARGE;
        out->why = "packet exceeds the maximum packet size";
        return GK_ETOOBIG;
    }
    if (len < total) return GK_EAGAIN;
    r.p = buf + 1 + n;
    r.end = buf + total;
    if (dec_body(&r, buf[0] & 15)) return GK_EPROTO;
    if (left(&r))
        return mqtt__fail(&r, MQTT_RC_MALFORMED, "unexpected bytes at the end of the packet");
    if (!minimal && r.v5)
        return mqtt__fail(&r, MQTT_RC_MALFORMED, "remaining length not in its shortest form");
    *consumed = total;
    return 0;
}
