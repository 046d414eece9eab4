/* codec.h: the pure MQTT packet codec, for MQTT 3.1.1 (level 4) and 5.0 (level 5).
 *
 * Decoding takes a byte buffer and returns one packet, "need more" or an error;
 * it never allocates, never reads past the given length, and never touches a
 * socket. Strings and binary data in a decoded packet are (pointer, length)
 * views into the caller's buffer, so the packet is valid only as long as that
 * buffer is. Lists (subscriptions, filters, reason codes, user properties,
 * subscription identifiers) stay raw views too: the decoder has validated them
 * completely, so the iterators below cannot fail.
 *
 * Encoding appends a packet to a struct buf (core/buf.h; growth aborts on
 * exhaustion as in core/mem.h). The same structs serve both directions: to
 * send a list, build it with the mqtt_put_* helpers and mqtt_list_view(). */
#ifndef GASKET_MQTT_CODEC_H
#define GASKET_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15, /* 5.0 only */
};

/* Protocol levels as carried in CONNECT. */
#define MQTT_V311 4
#define MQTT_V5   5

/* Largest remaining length (and variable byte integer) the protocol allows. */
#define MQTT_MAX_REMAINING 268435455u

/* MQTT 5 property identifiers (MQTT 5.0 section 2.2.2.2). */
enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAX = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAX_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAX_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* A few MQTT 5 reason codes the codec itself produces. */
#define MQTT_RC_SUCCESS             0x00
#define MQTT_RC_MALFORMED           0x81
#define MQTT_RC_PROTOCOL_ERROR      0x82
#define MQTT_RC_UNSUPPORTED_VERSION 0x84
#define MQTT_RC_CLIENT_ID_INVALID   0x85
#define MQTT_RC_TOPIC_NAME_INVALID  0x90
#define MQTT_RC_TOPIC_ALIAS_INVALID 0x94
#define MQTT_RC_PACKET_TOO_LARGE    0x95

/* A view of bytes: UTF-8 text (validated, not NUL-terminated) or binary. */
struct mqtt_str {
    const char *p;
    size_t len;
};

/* A validated list in wire form. For user properties and subscription
 * identifiers `data` is the whole property block (other properties are
 * skipped by the iterator); otherwise it is the run of items itself.
 * `count` is the number of items. */
struct mqtt_list {
    const uint8_t *data;
    size_t len;
    uint32_t count;
};

/* Cursor over a struct mqtt_list; start it with mqtt_iter_init(). */
struct mqtt_iter {
    const uint8_t *p, *end;
};

/* One SUBSCRIBE entry. `options` is the raw byte; the rest is decoded from it
 * (in 3.1.1 only qos can be non-zero). */
struct mqtt_sub {
    struct mqtt_str filter;
    uint8_t options;
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;
};

/* The MQTT 5 properties of one packet (or of a CONNECT's will). A property is
 * present when bit (1 << id) of `present` is set (see mqtt_has()); absent
 * fields are zero. Lists are counted by their own `count`. */
struct mqtt_props {
    uint64_t present;
    uint8_t payload_format;
    uint8_t request_problem_info;
    uint8_t request_response_info;
    uint8_t max_qos;
    uint8_t retain_available;
    uint8_t wildcard_sub_available;
    uint8_t sub_id_available;
    uint8_t shared_sub_available;
    uint16_t server_keep_alive;
    uint16_t receive_max;
    uint16_t topic_alias_max;
    uint16_t topic_alias;
    uint32_t message_expiry;
    uint32_t session_expiry;
    uint32_t will_delay;
    uint32_t max_packet_size;
    struct mqtt_str content_type;
    struct mqtt_str response_topic;
    struct mqtt_str correlation_data;
    struct mqtt_str assigned_client_id;
    struct mqtt_str auth_method;
    struct mqtt_str auth_data;
    struct mqtt_str response_info;
    struct mqtt_str server_reference;
    struct mqtt_str reason_string;
    struct mqtt_list user_props; /* mqtt_user_prop_next() */
    struct mqtt_list sub_ids;    /* mqtt_sub_id_next() */
};

struct mqtt_connect {
    struct mqtt_str protocol; /* "MQTT" once valid */
    uint8_t level;            /* 4 or 5; set as soon as read, also on errors */
    bool clean_start;         /* "clean session" in 3.1.1 */
    bool will;
    uint8_t will_qos;
    bool will_retain;
    bool has_username;
    bool has_password;
    uint16_t keep_alive;
    struct mqtt_str client_id;
    struct mqtt_str will_topic;
    struct mqtt_str will_payload;
    struct mqtt_str username;
    struct mqtt_str password;
    struct mqtt_props will_props; /* 5.0 only */
};

struct mqtt_connack {
    bool session_present;
    uint8_t code; /* 3.1.1 return code (0..5) or 5.0 reason code */
};

struct mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    uint16_t id; /* only when qos > 0 */
    struct mqtt_str topic;
    struct mqtt_str payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct mqtt_ack {
    uint16_t id;
    uint8_t code; /* 5.0 reason code; 0 in 3.1.1 */
};

/* SUBSCRIBE (list of entries: mqtt_sub_next), UNSUBSCRIBE (filters:
 * mqtt_filter_next), SUBACK and UNSUBACK (reason codes: mqtt_code_next; an
 * UNSUBACK in 3.1.1 has an empty list). */
struct mqtt_idlist {
    uint16_t id;
    struct mqtt_list list;
};

/* DISCONNECT and AUTH (5.0 reason code; 0 in 3.1.1). */
struct mqtt_code {
    uint8_t code;
};

struct mqtt_packet {
    uint8_t type;            /* enum mqtt_type */
    uint8_t reason;          /* after an error: the MQTT 5 reason code to send */
    const char *why;         /* after an error: static text naming the fault */
    uint32_t remaining;      /* remaining length, once known (also on GK_ETOOBIG) */
    struct mqtt_props props; /* 5.0 only */
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;
        struct mqtt_idlist subscribe;
        struct mqtt_idlist suback;
        struct mqtt_idlist unsubscribe;
        struct mqtt_idlist unsuback;
        struct mqtt_code disconnect;
        struct mqtt_code auth;
    };
};

/* Decodes the packet at the start of buf[0..len).
 *
 * `version` is the connection's level (MQTT_V311 or MQTT_V5; any other value
 * counts as 3.1.1, so a broker can pass 0 before CONNECT). For CONNECT it is
 * ignored: the packet carries its own level, left in out->connect.level.
 * `max_packet` bounds the whole packet (fixed header included); 0 means the
 * protocol maximum.
 *
 * Returns 0 with *consumed set to the packet's size; GK_EAGAIN when buf holds
 * only a prefix of a packet (bytes beyond len are never read); GK_ETOOBIG as
 * soon as the fixed header shows a packet over max_packet (out->remaining is
 * set; reason 0x95); GK_EPROTO for anything the specs refuse, with out->reason
 * the MQTT 5 reason code (0x81 malformed, 0x82 protocol error, 0x84
 * unsupported protocol version, 0x85 client identifier not valid, 0x90 topic
 * name invalid, 0x94 topic alias invalid) and out->why a static text. On a
 * CONNECT error out->type is MQTT_CONNECT and out->connect.level is set when it
 * was read, so the broker can answer with the right CONNACK (see
 * mqtt_connack_v311_code()). On failure *consumed is 0.
 *
 * Spec choices: a non-minimal remaining length is refused in 5.0 (MQTT-1.5.5-1)
 * and accepted in 3.1.1, which does not require the shortest form; DUP set on
 * a QoS 0 PUBLISH is malformed; Subscription Identifiers are accepted in any
 * PUBLISH (a server must refuse them from clients, MQTT-3.3.4-6: the caller
 * knows the direction); topic filter syntax (+ and # placement, shared
 * subscriptions) is left to mqtt/topic.h, only UTF-8 and non-empty are checked
 * here; a payload format indicator of 1 does not make the codec validate the
 * payload (the spec's MAY). */
int mqtt_decode(const uint8_t *buf, size_t len, int version, uint32_t max_packet,
                struct mqtt_packet *out, size_t *consumed);

/* Appends packet p in the given version (for CONNECT, the level written).
 * Remaining and property lengths are computed; fields a version lacks are
 * ignored (AUTH appends nothing in 3.1.1). PUBACK/PUBREC/PUBREL/PUBCOMP,
 * DISCONNECT and AUTH use the short 5.0 forms when the reason code is 0 and
 * there are no properties. Properties are written only in the packet types
 * that allow them; a property or list absent from `present`/count is not
 * written. The caller keeps the packet within MQTT_MAX_REMAINING and each
 * string within 65,535 bytes (checked by assert()). */
void mqtt_encode(const struct mqtt_packet *p, int version, struct buf *out);

/* Appends a PUBLISH packet without its payload: fixed header (whose remaining
 * length counts p->publish.payload.len), topic, packet id and properties. The
 * caller sends the payload right after. Returns the number of bytes appended. */
size_t mqtt_encode_publish_head(const struct mqtt_packet *p, int version, struct buf *out);

/* The size mqtt_encode() would append, e.g. to honour a peer's maximum packet
 * size before sending. */
size_t mqtt_encoded_size(const struct mqtt_packet *p, int version);

/* True when property `id` is present in props. */
static inline bool mqtt_has(const struct mqtt_props *props, enum mqtt_prop_id id)
{
    return (props->present >> id) & 1;
}

/* Starts iterating over a list. */
void mqtt_iter_init(struct mqtt_iter *it, const struct mqtt_list *list);

/* Each returns 1 and fills *out with the next item, or 0 at the end of the
 * list. On a decoded list they cannot fail; on a hand-made list that does not
 * parse they stop early. */
int mqtt_sub_next(struct mqtt_iter *it, struct mqtt_sub *out);
int mqtt_filter_next(struct mqtt_iter *it, struct mqtt_str *out);
int mqtt_code_next(struct mqtt_iter *it, uint8_t *out);
int mqtt_user_prop_next(struct mqtt_iter *it, struct mqtt_str *key, struct mqtt_str *value);
int mqtt_sub_id_next(struct mqtt_iter *it, uint32_t *out);

/* List builders for encoding: each appends one item in wire form to b.
 * After the last item, mqtt_list_view(b, n) is the list of n items (valid
 * until b changes). A list of reason codes is just the bytes (buf_putc). */
void mqtt_put_sub(struct buf *b, struct mqtt_str filter, uint8_t options);
void mqtt_put_filter(struct buf *b, struct mqtt_str filter);
void mqtt_put_user_prop(struct buf *b, struct mqtt_str key, struct mqtt_str value);
void mqtt_put_sub_id(struct buf *b, uint32_t id);
struct mqtt_list mqtt_list_view(const struct buf *b, uint32_t count);

/* A view of a NUL-terminated string (for building packets). */
struct mqtt_str mqtt_cstr(const char *s);

/* True when two decoded (or built) packets of the given version carry the same
 * fields, comparing views by content and lists item by item (by count, not by
 * the `present` bits of list properties). A CONNECT's protocol name and level
 * are not compared: the encoder writes "MQTT" and the version it is given.
 * For tests and fuzzing. */
bool mqtt_packet_equal(const struct mqtt_packet *a, const struct mqtt_packet *b, int version);

/* Static English text for an MQTT 5 reason code ("Malformed Packet"), or
 * "Unknown reason code". 0x00 reads "Success" (it is also Normal disconnection
 * and Granted QoS 0); 0x01 and 0x02 read as the SUBACK's granted QoS. */
const char *mqtt_reason_text(uint8_t code);

/* The 3.1.1 CONNACK return code matching a CONNECT refusal `reason` (0 -> 0, 0x84 -> 1
 * unacceptable protocol version, 0x85 -> 2 identifier rejected, 0x88/0x89 -> 3
 * server unavailable, 0x86 -> 4 bad user name or password, 0x87 -> 5 not
 * authorized), or -1 when a 3.1.1 server just closes the connection
 * (malformed packets, protocol errors). */
int mqtt_connack_v311_code(uint8_t reason);

#endif
