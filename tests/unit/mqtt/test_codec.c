/* test_codec.c: unit tests for src/mqtt/codec*.c, the pure MQTT packet codec.
 *
 * Every decode reads its input from right before a PROT_NONE guard page, so
 * an over-read crashes the test. Covered: round trips of every packet type in
 * 3.1.1 and 5.0 (with every property each packet allows), remaining-length
 * edges, bytes captured from mosquitto_pub and written from the specs, every
 * proper prefix needing more, and a table of malformed packets with the
 * reason code each must be refused with. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mqtt/codec.h"
#include "guard.h"
#include "test.h"

/* ---- helpers ---- */

/* Decodes a guarded copy of b[0..n). */
static int dec(const void *b, size_t n, int v, uint32_t max, struct mqtt_packet *p, size_t *used)
{
    return mqtt_decode(guarded(b, n), n, v, max, p, used);
}

static struct buf enc_buf;

/* Encodes p, checks the size helper, that every proper prefix needs more, that
 * the whole decodes to an equal packet, and that re-encoding it gives the
 * same bytes. Leaves the decoded packet in *out (pointing into enc_buf). */
static void roundtrip(const struct mqtt_packet *p, int v, struct mqtt_packet *out)
{
    struct mqtt_packet tmp;
    size_t used = 99;
    buf_reset(&enc_buf);
    mqtt_encode(p, v, &enc_buf);
    CHECK_EQ_INT(mqtt_encoded_size(p, v), enc_buf.len);
    for (size_t i = 0; i < enc_buf.len; i++) {
        int rc = dec(enc_buf.data, i, v, 0, &tmp, &used);
        if (rc != GK_EAGAIN) {
            fprintf(stderr, "type %d v%d prefix %zu: rc %d (%s)\n", p->type, v, i, rc, tmp.why);
            CHECK_EQ_INT(rc, GK_EAGAIN);
            break;
        }
        CHECK_EQ_INT(used, 0);
    }
    int rc = mqtt_decode((const uint8_t *)enc_buf.data, enc_buf.len, v, 0, out, &used);
    if (rc) fprintf(stderr, "type %d v%d: %s\n", p->type, v, out->why);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(used, enc_buf.len);
    CHECK_EQ_INT(out->type, p->type);
    CHECK(mqtt_packet_equal(p, out, v));
    struct buf again = {0};
    mqtt_encode(out, v, &again);
    CHECK(again.len == enc_buf.len && memcmp(again.data, enc_buf.data, again.len) == 0);
    buf_free(&again);
}

static bool str_is(struct mqtt_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

#define S(x)               mqtt_cstr(x)
#define SETP(pr, id, f, v) ((pr)->present |= 1ull << (id), (pr)->f = (v))
#define BYTES_EQ(buf, lit) ((buf).len == sizeof(lit) - 1 && memcmp((buf).data, lit, (buf).len) == 0)

static struct buf ups, sids, items;

/* Three user properties (one repeated key, one empty value) into ups. */
static struct mqtt_list user_props(void)
{
    buf_reset(&ups);
    mqtt_put_user_prop(&ups, S("region"), S("eu"));
    mqtt_put_user_prop(&ups, S("region"), S("us"));
    mqtt_put_user_prop(&ups, S("k\xc3\xa9y"), S(""));
    return mqtt_list_view(&ups, 3);
}

static struct mqtt_packet pkt(int type)
{
    struct mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = (uint8_t)type;
    return p;
}

/* ---- round trips ---- */

static struct mqtt_packet full_connect(int v)
{
    struct mqtt_packet p = pkt(MQTT_CONNECT);
    struct mqtt_connect *c = &p.connect;
    c->clean_start = true;
    c->will = true;
    c->will_qos = 2;
    c->will_retain = true;
    c->has_username = c->has_password = true;
    c->keep_alive = 600;
    c->client_id = S("gasket-client");
    c->will_topic = S("devices/1/status");
    c->will_payload = (struct mqtt_str){"off\0line", 8};
    c->username = S("user");
    c->password = (struct mqtt_str){"\x00\xffpw", 4};
    if (v == MQTT_V5) {
        struct mqtt_props *pr = &p.props, *w = &c->will_props;
        SETP(pr, MQTT_PROP_SESSION_EXPIRY, session_expiry, 3600);
        SETP(pr, MQTT_PROP_RECEIVE_MAX, receive_max, 20);
        SETP(pr, MQTT_PROP_MAX_PACKET_SIZE, max_packet_size, 1 << 20);
        SETP(pr, MQTT_PROP_TOPIC_ALIAS_MAX, topic_alias_max, 10);
        SETP(pr, MQTT_PROP_REQUEST_RESPONSE_INFO, request_response_info, 1);
        SETP(pr, MQTT_PROP_REQUEST_PROBLEM_INFO, request_problem_info, 0);
        SETP(pr, MQTT_PROP_AUTH_METHOD, auth_method, S("SCRAM-SHA-1"));
        SETP(pr, MQTT_PROP_AUTH_DATA, auth_data, S("client-first"));
        pr->user_props = user_props();
        SETP(w, MQTT_PROP_WILL_DELAY, will_delay, 30);
        SETP(w, MQTT_PROP_PAYLOAD_FORMAT, payload_format, 0);
        SETP(w, MQTT_PROP_MESSAGE_EXPIRY, message_expiry, 86400);
        SETP(w, MQTT_PROP_CONTENT_TYPE, content_type, S("text/plain"));
        SETP(w, MQTT_PROP_RESPONSE_TOPIC, response_topic, S("devices/1/reply"));
        SETP(w, MQTT_PROP_CORRELATION_DATA, correlation_data, S("\x01\x02"));
        w->user_props = pr->user_props;
    }
    return p;
}

static void test_connect_roundtrip(void)
{
    struct mqtt_packet out;
    for (int v = MQTT_V311; v <= MQTT_V5; v++) {
        struct mqtt_packet p = full_connect(v);
        roundtrip(&p, v, &out);
        CHECK_EQ_INT(out.connect.level, v);
        CHECK(str_is(out.connect.protocol, "MQTT"));
        CHECK(str_is(out.connect.client_id, "gasket-client"));
        CHECK_EQ_INT(out.connect.will_payload.len, 8);
        CHECK_EQ_INT(out.connect.will_qos, 2);
        CHECK_EQ_INT(out.connect.keep_alive, 600);
        /* minimal: empty client id, clean start, nothing else */
        struct mqtt_packet m = pkt(MQTT_CONNECT);
        m.connect.clean_start = true;
        m.connect.client_id = S("");
        roundtrip(&m, v, &out);
        CHECK(!out.connect.will && !out.connect.has_username);
    }
    /* 5.0 allows a password without a user name */
    struct mqtt_packet p = pkt(MQTT_CONNECT);
    p.connect.has_password = true;
    p.connect.password = S("token");
    p.connect.client_id = S("c");
    roundtrip(&p, MQTT_V5, &out);
    CHECK(out.connect.has_password && !out.connect.has_username);
    CHECK_EQ_INT(out.props.user_props.count, 0);
}

static void test_connect_props_decoded(void)
{
    struct mqtt_packet p = full_connect(MQTT_V5), out;
    roundtrip(&p, MQTT_V5, &out);
    CHECK_EQ_INT(out.props.session_expiry, 3600);
    CHECK_EQ_INT(out.props.receive_max, 20);
    CHECK_EQ_INT(out.props.max_packet_size, 1 << 20);
    CHECK(mqtt_has(&out.props, MQTT_PROP_REQUEST_PROBLEM_INFO));
    CHECK(!mqtt_has(&out.props, MQTT_PROP_TOPIC_ALIAS));
    CHECK(str_is(out.props.auth_method, "SCRAM-SHA-1"));
    CHECK_EQ_INT(out.props.user_props.count, 3);
    struct mqtt_iter it;
    struct mqtt_str k, val;
    const char *want[3][2] = {{"region", "eu"}, {"region", "us"}, {"k\xc3\xa9y", ""}};
    mqtt_iter_init(&it, &out.props.user_props);
    for (int i = 0; i < 3; i++) {
        CHECK(mqtt_user_prop_next(&it, &k, &val));
        CHECK(str_is(k, want[i][0]) && str_is(val, want[i][1]));
    }
    CHECK(!mqtt_user_prop_next(&it, &k, &val));
    const struct mqtt_props *w = &out.connect.will_props;
    CHECK_EQ_INT(w->will_delay, 30);
    CHECK(mqtt_has(w, MQTT_PROP_PAYLOAD_FORMAT) && w->payload_format == 0);
    CHECK(str_is(w->response_topic, "devices/1/reply"));
    CHECK_EQ_INT(w->user_props.count, 3);
}

static void test_connack_roundtrip(void)
{
    struct mqtt_packet p = pkt(MQTT_CONNACK), out;
    p.connack.session_present = true;
    roundtrip(&p, MQTT_V311, &out);
    CHECK(out.connack.session_present);
    p.connack.session_present = false;
    p.connack.code = 5;
    roundtrip(&p, MQTT_V311, &out);
    CHECK_EQ_INT(out.connack.code, 5);

    struct mqtt_props *pr = &p.props;
    p.connack.code = 0x00;
    p.connack.session_present = true;
    SETP(pr, MQTT_PROP_SESSION_EXPIRY, session_expiry, 0xffffffffu);
    SETP(pr, MQTT_PROP_RECEIVE_MAX, receive_max, 65535);
    SETP(pr, MQTT_PROP_MAX_QOS, max_qos, 1);
    SETP(pr, MQTT_PROP_RETAIN_AVAILABLE, retain_available, 0);
    SETP(pr, MQTT_PROP_MAX_PACKET_SIZE, max_packet_size, 268435460);
    SETP(pr, MQTT_PROP_ASSIGNED_CLIENT_ID, assigned_client_id, S("auto-1234"));
    SETP(pr, MQTT_PROP_TOPIC_ALIAS_MAX, topic_alias_max, 0);
    SETP(pr, MQTT_PROP_REASON_STRING, reason_string, S("welcome"));
    SETP(pr, MQTT_PROP_WILDCARD_SUB_AVAILABLE, wildcard_sub_available, 1);
    SETP(pr, MQTT_PROP_SUB_ID_AVAILABLE, sub_id_available, 1);
    SETP(pr, MQTT_PROP_SHARED_SUB_AVAILABLE, shared_sub_available, 0);
    SETP(pr, MQTT_PROP_SERVER_KEEP_ALIVE, server_keep_alive, 120);
    SETP(pr, MQTT_PROP_RESPONSE_INFO, response_info, S("resp/"));
    SETP(pr, MQTT_PROP_SERVER_REFERENCE, server_reference, S("other:1883"));
    SETP(pr, MQTT_PROP_AUTH_METHOD, auth_method, S("SCRAM-SHA-1"));
    SETP(pr, MQTT_PROP_AUTH_DATA, auth_data, S("server-final"));
    pr->user_props = user_props();
    roundtrip(&p, MQTT_V5, &out);
    CHECK_EQ_INT(out.props.max_packet_size, 268435460);
    CHECK(mqtt_has(&out.props, MQTT_PROP_TOPIC_ALIAS_MAX) && out.props.topic_alias_max == 0);
    CHECK(str_is(out.props.assigned_client_id, "auto-1234"));
    p.connack.code = 0x9c;
    p.connack.session_present = false;
    roundtrip(&p, MQTT_V5, &out);
    CHECK_EQ_INT(out.connack.code, 0x9c);
}

static struct mqtt_packet publish(int qos, const char *topic, const char *payload)
{
    struct mqtt_packet p = pkt(MQTT_PUBLISH);
    p.publish.qos = (uint8_t)qos;
    p.publish.id = qos ? 4242 : 0;
    p.publish.topic = S(topic);
    p.publish.payload = S(payload);
    return p;
}

static void test_publish_roundtrip(void)
{
    struct mqtt_packet out;
    for (int v = MQTT_V311; v <= MQTT_V5; v++) {
        for (int qos = 0; qos <= 2; qos++) {
            struct mqtt_packet p = publish(qos, "sensors/t\xc3\xa9/1", "21.5");
            p.publish.retain = qos == 1;
            p.publish.dup = qos == 2;
            roundtrip(&p, v, &out);
            CHECK_EQ_INT(out.publish.qos, qos);
            CHECK_EQ_INT(out.publish.id, qos ? 4242 : 0);
            CHECK_EQ_INT(out.publish.retain, qos == 1);
            CHECK(str_is(out.publish.payload, "21.5"));
        }
        struct mqtt_packet e = publish(1, "a", "");
        roundtrip(&e, v, &out);
        CHECK_EQ_INT(out.publish.payload.len, 0);
    }
}

static void test_publish_v5_props(void)
{
    struct mqtt_packet p = publish(1, "a/b", "{\"t\":1}"), out;
    struct mqtt_props *pr = &p.props;
    SETP(pr, MQTT_PROP_PAYLOAD_FORMAT, payload_format, 1);
    SETP(pr, MQTT_PROP_MESSAGE_EXPIRY, message_expiry, 60);
    SETP(pr, MQTT_PROP_TOPIC_ALIAS, topic_alias, 3);
    SETP(pr, MQTT_PROP_RESPONSE_TOPIC, response_topic, S("reply/here"));
    SETP(pr, MQTT_PROP_CORRELATION_DATA, correlation_data, ((struct mqtt_str){"\x01\x00\x02", 3}));
    SETP(pr, MQTT_PROP_CONTENT_TYPE, content_type, S("application/json"));
    pr->user_props = user_props();
    buf_reset(&sids);
    uint32_t ids[] = {1, 127, 128, 16384, 268435455};
    for (int i = 0; i < 5; i++)
        mqtt_put_sub_id(&sids, ids[i]);
    pr->sub_ids = mqtt_list_view(&sids, 5);
    roundtrip(&p, MQTT_V5, &out);
    CHECK_EQ_INT(out.props.topic_alias, 3);
    CHECK_EQ_INT(out.props.payload_format, 1);
    CHECK_EQ_INT(out.props.correlation_data.len, 3);
    CHECK_EQ_INT(out.props.sub_ids.count, 5);
    struct mqtt_iter it;
    uint32_t id;
    mqtt_iter_init(&it, &out.props.sub_ids);
    for (int i = 0; i < 5; i++) {
        CHECK(mqtt_sub_id_next(&it, &id));
        CHECK_EQ_INT(id, ids[i]);
    }
    CHECK(!mqtt_sub_id_next(&it, &id));
    /* empty topic with a topic alias (5.0 only) */
    struct mqtt_packet a = publish(0, "", "x");
    SETP(&a.props, MQTT_PROP_TOPIC_ALIAS, topic_alias, 65535);
    roundtrip(&a, MQTT_V5, &out);
    CHECK_EQ_INT(out.publish.topic.len, 0);
    /* the 3.1.1 encoding drops the properties */
    struct buf b = {0};
    mqtt_encode(&p, MQTT_V311, &b);
    CHECK(mqtt_decode((const uint8_t *)b.data, b.len, MQTT_V311, 0, &out, &(size_t){0}) == 0);
    CHECK_EQ_INT(out.props.present, 0);
    buf_free(&b);
}

static void test_acks_roundtrip(void)
{
    static const uint8_t codes[4][2] = {{0x10, 0x99}, {0x80, 0x97}, {0x92, 0x92}, {0x92, 0x00}};
    struct mqtt_packet out;
    for (int t = MQTT_PUBACK; t <= MQTT_PUBCOMP; t++) {
        struct mqtt_packet p = pkt(t);
        p.ack.id = 65535;
        roundtrip(&p, MQTT_V311, &out);
        CHECK_EQ_INT(enc_buf.len, 4);
        CHECK_EQ_INT((uint8_t)enc_buf.data[0], t << 4 | (t == MQTT_PUBREL ? 2 : 0));
        roundtrip(&p, MQTT_V5, &out); /* short form: reason and properties omitted */
        CHECK_EQ_INT(enc_buf.len, 4);
        p.ack.code = codes[t - MQTT_PUBACK][0];
        roundtrip(&p, MQTT_V5, &out); /* reason code only */
        CHECK_EQ_INT(enc_buf.len, 5);
        CHECK_EQ_INT(out.ack.code, p.ack.code);
        p.ack.code = codes[t - MQTT_PUBACK][1];
        SETP(&p.props, MQTT_PROP_REASON_STRING, reason_string, S("because"));
        p.props.user_props = user_props();
        roundtrip(&p, MQTT_V5, &out);
        CHECK(str_is(out.props.reason_string, "because"));
        CHECK_EQ_INT(out.props.user_props.count, 3);
    }
}

static void test_subscribe_roundtrip(void)
{
    struct mqtt_packet p = pkt(MQTT_SUBSCRIBE), out;
    p.subscribe.id = 10;
    buf_reset(&items);
    mqtt_put_sub(&items, S("a/+/c"), 0);
    mqtt_put_sub(&items, S("#"), 1);
    mqtt_put_sub(&items, S("$share/g/x"), 2);
    p.subscribe.list = mqtt_list_view(&items, 3);
    roundtrip(&p, MQTT_V311, &out);
    CHECK_EQ_INT(out.subscribe.list.count, 3);
    buf_reset(&items);
    mqtt_put_sub(&items, S("a/+/c"), 0x2c); /* qos 0, no local, RAP, RH 2 */
    mqtt_put_sub(&items, S("#"), 0x11);     /* qos 1, RH 1 */
    mqtt_put_sub(&items, S("x"), 0x02);
    p.subscribe.list = mqtt_list_view(&items, 3);
    buf_reset(&sids);
    mqtt_put_sub_id(&sids, 268435455);
    p.props.sub_ids = mqtt_list_view(&sids, 1);
    p.props.user_props = user_props();
    roundtrip(&p, MQTT_V5, &out);
    struct mqtt_iter it;
    struct mqtt_sub s;
    mqtt_iter_init(&it, &out.subscribe.list);
    CHECK(mqtt_sub_next(&it, &s));
    CHECK(str_is(s.filter, "a/+/c") && s.qos == 0 && s.no_local && s.retain_as_published);
    CHECK_EQ_INT(s.retain_handling, 2);
    CHECK(mqtt_sub_next(&it, &s));
    CHECK(str_is(s.filter, "#") && s.qos == 1 && !s.no_local && s.retain_handling == 1);
    CHECK(mqtt_sub_next(&it, &s));
    CHECK(str_is(s.filter, "x") && s.qos == 2);
    CHECK(!mqtt_sub_next(&it, &s));
    CHECK_EQ_INT(out.props.sub_ids.count, 1);
}

static void test_suback_unsub_roundtrip(void)
{
    struct mqtt_packet p = pkt(MQTT_SUBACK), out;
    p.suback.id = 10;
    p.suback.list = (struct mqtt_list){(const uint8_t *)"\x00\x01\x02\x80", 4, 4};
    roundtrip(&p, MQTT_V311, &out);
    p.suback.list = (struct mqtt_list){(const uint8_t *)"\x00\x8f\xa2\x9e\x97", 5, 5};
    SETP(&p.props, MQTT_PROP_REASON_STRING, reason_string, S("partly"));
    p.props.user_props = user_props();
    roundtrip(&p, MQTT_V5, &out);
    struct mqtt_iter it;
    uint8_t code;
    mqtt_iter_init(&it, &out.suback.list);
    for (int i = 0; i < 5; i++)
        CHECK(mqtt_code_next(&it, &code) && code == (uint8_t) "\x00\x8f\xa2\x9e\x97"[i]);
    CHECK(!mqtt_code_next(&it, &code));

    struct mqtt_packet u = pkt(MQTT_UNSUBSCRIBE);
    u.unsubscribe.id = 11;
    buf_reset(&items);
    mqtt_put_filter(&items, S("a/+/c"));
    mqtt_put_filter(&items, S("\xf0\x9f\x98\x80/#"));
    u.unsubscribe.list = mqtt_list_view(&items, 2);
    roundtrip(&u, MQTT_V311, &out);
    u.props.user_props = user_props();
    roundtrip(&u, MQTT_V5, &out);
    struct mqtt_str f;
    mqtt_iter_init(&it, &out.unsubscribe.list);
    CHECK(mqtt_filter_next(&it, &f) && str_is(f, "a/+/c"));
    CHECK(mqtt_filter_next(&it, &f) && str_is(f, "\xf0\x9f\x98\x80/#"));
    CHECK(!mqtt_filter_next(&it, &f));

    struct mqtt_packet ua = pkt(MQTT_UNSUBACK);
    ua.unsuback.id = 11;
    roundtrip(&ua, MQTT_V311, &out);
    CHECK_EQ_INT(enc_buf.len, 4);
    ua.unsuback.list = (struct mqtt_list){(const uint8_t *)"\x00\x11", 2, 2};
    SETP(&ua.props, MQTT_PROP_REASON_STRING, reason_string, S("one missing"));
    ua.props.user_props = user_props();
    roundtrip(&ua, MQTT_V5, &out);
    CHECK_EQ_INT(out.unsuback.list.count, 2);
}

static void test_small_packets_roundtrip(void)
{
    struct mqtt_packet out;
    int types[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
    for (int v = MQTT_V311; v <= MQTT_V5; v++)
        for (int i = 0; i < 3; i++) {
            struct mqtt_packet p = pkt(types[i]);
            roundtrip(&p, v, &out);
            CHECK_EQ_INT(enc_buf.len, 2);
        }
    struct mqtt_packet d = pkt(MQTT_DISCONNECT);
    d.disconnect.code = 0x04;
    roundtrip(&d, MQTT_V5, &out);
    CHECK_EQ_INT(enc_buf.len, 3);
    SETP(&d.props, MQTT_PROP_SESSION_EXPIRY, session_expiry, 0);
    SETP(&d.props, MQTT_PROP_REASON_STRING, reason_string, S("bye"));
    SETP(&d.props, MQTT_PROP_SERVER_REFERENCE, server_reference, S("b:1883"));
    d.props.user_props = user_props();
    d.disconnect.code = 0x9c;
    roundtrip(&d, MQTT_V5, &out);
    CHECK_EQ_INT(out.disconnect.code, 0x9c);
    CHECK(mqtt_has(&out.props, MQTT_PROP_SESSION_EXPIRY));

    struct mqtt_packet a = pkt(MQTT_AUTH);
    roundtrip(&a, MQTT_V5, &out);
    CHECK_EQ_INT(enc_buf.len, 2);
    a.auth.code = 0x18;
    SETP(&a.props, MQTT_PROP_AUTH_METHOD, auth_method, S("SCRAM-SHA-1"));
    SETP(&a.props, MQTT_PROP_AUTH_DATA, auth_data, S("\x00\x01"));
    SETP(&a.props, MQTT_PROP_REASON_STRING, reason_string, S("continue"));
    a.props.user_props = user_props();
    roundtrip(&a, MQTT_V5, &out);
    CHECK_EQ_INT(out.auth.code, 0x18);
    struct buf b = {0};
    mqtt_encode(&a, MQTT_V311, &b); /* AUTH does not exist in 3.1.1 */
    CHECK_EQ_INT(b.len, 0);
    buf_free(&b);
}

/* The encoder writes only what a packet allows: CONNECT-only properties set
 * on a PUBLISH are dropped, so the result is valid. */
static void test_encode_drops_foreign_props(void)
{
    struct mqtt_packet p = publish(0, "t", "x"), out;
    SETP(&p.props, MQTT_PROP_SESSION_EXPIRY, session_expiry, 5);
    SETP(&p.props, MQTT_PROP_MAX_QOS, max_qos, 1);
    struct buf b = {0};
    mqtt_encode(&p, MQTT_V5, &b);
    CHECK(BYTES_EQ(b, "\x30\x05\x00\x01t\x00x"));
    CHECK(mqtt_decode((const uint8_t *)b.data, b.len, MQTT_V5, 0, &out, &(size_t){0}) == 0);
    buf_free(&b);
}

/* ---- remaining length ---- */

static void test_remaining_length_edges(void)
{
    static const struct {
        uint32_t rl;
        const char *hdr;
        size_t n;
    } e[] = {
        {0, "\x30\x00", 2},
        {127, "\x30\x7f", 2},
        {128, "\x30\x80\x01", 3},
        {16383, "\x30\xff\x7f", 3},
        {16384, "\x30\x80\x80\x01", 4},
        {2097151, "\x30\xff\xff\x7f", 4},
        {2097152, "\x30\x80\x80\x80\x01", 5},
        {268435455, "\x30\xff\xff\xff\x7f", 5},
    };
    char *payload = calloc(1, 2097152);
    struct mqtt_packet p = publish(0, "ab", ""), out;
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        size_t used;
        uint32_t body = 4; /* topic "ab" */
        p.publish.payload = (struct mqtt_str){payload, e[i].rl > body ? e[i].rl - body : 0};
        struct buf b = {0};
        size_t head = mqtt_encode_publish_head(&p, MQTT_V311, &b);
        if (e[i].rl >= body) {
            CHECK(head == e[i].n + body && memcmp(b.data, e[i].hdr, e[i].n) == 0);
        }
        if (e[i].rl >= body && e[i].rl <= 2097152) {
            buf_reset(&b);
            mqtt_encode(&p, MQTT_V311, &b);
            CHECK_EQ_INT(b.len, e[i].n + e[i].rl);
            CHECK_EQ_INT(mqtt_decode((uint8_t *)b.data, b.len, MQTT_V311, 0, &out, &used), 0);
            CHECK_EQ_INT(out.remaining, e[i].rl);
            CHECK_EQ_INT(out.publish.payload.len, e[i].rl - body);
            CHECK_EQ_INT(mqtt_decode((uint8_t *)b.data, b.len - 1, MQTT_V311, 0, &out, &used),
                         GK_EAGAIN);
        }
        /* the header alone: need more, or refused by size before the body */
        CHECK_EQ_INT(dec(e[i].hdr, e[i].n, MQTT_V5, 0, &out, &used),
                     e[i].rl ? GK_EAGAIN : GK_EPROTO);
        CHECK_EQ_INT(dec(e[i].hdr, e[i].n, MQTT_V5, (uint32_t)(e[i].n + e[i].rl), &out, &used),
                     e[i].rl ? GK_EAGAIN : GK_EPROTO);
        int rc = dec(e[i].hdr, e[i].n, MQTT_V5, (uint32_t)(e[i].n + e[i].rl - 1), &out, &used);
        CHECK_EQ_INT(rc, GK_ETOOBIG);
        CHECK_EQ_INT(out.reason, MQTT_RC_PACKET_TOO_LARGE);
        CHECK_EQ_INT(out.remaining, e[i].rl);
        buf_free(&b);
    }
    free(payload);
}

static void test_remaining_length_forms(void)
{
    struct mqtt_packet out;
    size_t used;
    /* 5-byte forms are refused as soon as the 4th byte still continues */
    CHECK_EQ_INT(dec("\x30\x80\x80\x80\x80\x01", 6, MQTT_V311, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(out.reason, MQTT_RC_MALFORMED);
    CHECK_EQ_INT(dec("\x30\xff\xff\xff\xff", 5, MQTT_V5, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(dec("\x30\xff\xff\xff", 4, MQTT_V5, 0, &out, &used), GK_EAGAIN);
    /* non-minimal: refused in 5.0 (MQTT-1.5.5-1), accepted in 3.1.1 */
    CHECK_EQ_INT(dec("\xc0\x80\x00", 3, MQTT_V5, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(out.reason, MQTT_RC_MALFORMED);
    CHECK_EQ_INT(dec("\xc0\x80\x00", 3, MQTT_V311, 0, &out, &used), 0);
    CHECK_EQ_INT(used, 3);
    CHECK_EQ_INT(out.type, MQTT_PINGREQ);
    CHECK_EQ_INT(dec("\x30\x83\x00\x00\x01t", 6, MQTT_V311, 0, &out, &used), 0);
    CHECK(str_is(out.publish.topic, "t"));
    /* ... in CONNECT the level decides */
    static const char c4[] = "\x10\x8c\x00\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
    static const char c5[] = "\x10\x8d\x00\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00";
    CHECK_EQ_INT(dec(c4, sizeof c4 - 1, MQTT_V5, 0, &out, &used), 0);
    CHECK_EQ_INT(dec(c5, sizeof c5 - 1, MQTT_V311, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(out.reason, MQTT_RC_MALFORMED);
    CHECK_EQ_INT(out.connect.level, 5);
    /* max_packet counts the whole packet */
    CHECK_EQ_INT(dec("\x30\x03\x00\x01t", 5, MQTT_V311, 5, &out, &used), 0);
    CHECK_EQ_INT(dec("\x30\x03\x00\x01t", 5, MQTT_V311, 4, &out, &used), GK_ETOOBIG);
    CHECK_EQ_INT(dec("\x30\x03", 2, MQTT_V311, 4, &out, &used), GK_ETOOBIG);
}

/* ---- bytes from elsewhere ---- */

/* mosquitto_pub -V mqttv311 -i gk1 -u user -P pass -k 30 --will-topic w/t
 * --will-payload bye --will-qos 1 --will-retain -t a/b -m hello -q 1 */
static const char mosq_v4[] = "\x10\x25\x00\x04MQTT\x04\xee\x00\x1e\x00\x03gk1\x00\x03w/t"
                              "\x00\x03"
                              "bye\x00\x04user\x00\x04pass"
                              "\x32\x0c\x00\x03"
                              "a/b\x00\x01hello"
                              "\xe0\x00";

/* mosquitto_pub -V mqttv5 ... -D connect session-expiry-interval 120
 * -D connect user-property k v -D publish user-property a b
 * -D publish content-type text/plain -D publish message-expiry-interval 60 */
static const char mosq_v5[] =
    "\x10\x2b\x00\x04MQTT\x05\xc2\x00\x1e\x0f\x11\x00\x00\x00\x78"
    "\x26\x00\x01k\x00\x01v\x21\x00\x14\x00\x03gk1\x00\x04user\x00\x04pass"
    "\x32\x26\x00\x03"
    "a/b\x00\x01\x19\x26\x00\x01"
    "a\x00\x01"
    "b\x03\x00\x0atext/plain\x02\x00\x00\x00\x3chello"
    "\xe0\x00";

static void test_mosquitto_v311(void)
{
    struct mqtt_packet p;
    size_t used, off = 0, n = sizeof mosq_v4 - 1;
    const uint8_t *b = guarded(mosq_v4, n);
    CHECK_EQ_INT(mqtt_decode(b, n, 0, 0, &p, &used), 0);
    CHECK_EQ_INT(used, 39);
    CHECK_EQ_INT(p.connect.level, 4);
    CHECK(p.connect.clean_start && p.connect.will && p.connect.will_retain);
    CHECK_EQ_INT(p.connect.will_qos, 1);
    CHECK_EQ_INT(p.connect.keep_alive, 30);
    CHECK(str_is(p.connect.client_id, "gk1") && str_is(p.connect.will_topic, "w/t"));
    CHECK(str_is(p.connect.will_payload, "bye") && str_is(p.connect.username, "user"));
    CHECK(str_is(p.connect.password, "pass"));
    struct buf e = {0};
    mqtt_encode(&p, MQTT_V311, &e); /* byte-exact re-encoding */
    CHECK(e.len == used && memcmp(e.data, b, used) == 0);
    off += used;
    CHECK_EQ_INT(mqtt_decode(b + off, n - off, MQTT_V311, 0, &p, &used), 0);
    CHECK_EQ_INT(p.type, MQTT_PUBLISH);
    CHECK(p.publish.qos == 1 && p.publish.id == 1 && str_is(p.publish.topic, "a/b"));
    CHECK(str_is(p.publish.payload, "hello"));
    buf_reset(&e);
    mqtt_encode(&p, MQTT_V311, &e);
    CHECK(e.len == used && memcmp(e.data, b + off, used) == 0);
    off += used;
    CHECK_EQ_INT(mqtt_decode(b + off, n - off, MQTT_V311, 0, &p, &used), 0);
    CHECK_EQ_INT(p.type, MQTT_DISCONNECT);
    CHECK_EQ_INT(off + used, n);
    buf_free(&e);
}

static void test_mosquitto_v5(void)
{
    struct mqtt_packet p;
    struct mqtt_iter it;
    struct mqtt_str k, v;
    size_t used, n = sizeof mosq_v5 - 1;
    const uint8_t *b = guarded(mosq_v5, n);
    CHECK_EQ_INT(mqtt_decode(b, n, MQTT_V311, 0, &p, &used), 0);
    CHECK_EQ_INT(p.connect.level, 5);
    CHECK(p.connect.clean_start && !p.connect.will && p.connect.has_username);
    CHECK_EQ_INT(p.props.session_expiry, 120);
    CHECK_EQ_INT(p.props.receive_max, 20);
    mqtt_iter_init(&it, &p.props.user_props);
    CHECK(mqtt_user_prop_next(&it, &k, &v) && str_is(k, "k") && str_is(v, "v"));
    CHECK(!mqtt_user_prop_next(&it, &k, &v));
    size_t off = used;
    CHECK_EQ_INT(mqtt_decode(b + off, n - off, MQTT_V5, 0, &p, &used), 0);
    CHECK(p.publish.qos == 1 && p.publish.id == 1 && str_is(p.publish.payload, "hello"));
    CHECK(str_is(p.props.content_type, "text/plain"));
    CHECK_EQ_INT(p.props.message_expiry, 60);
    CHECK_EQ_INT(p.props.user_props.count, 1);
    /* our encoding orders properties by identifier */
    struct buf e = {0};
    mqtt_encode(&p, MQTT_V5, &e);
    CHECK(BYTES_EQ(e, "\x32\x26\x00\x03"
                      "a/b\x00\x01\x19\x02\x00\x00\x00\x3c\x03\x00\x0atext/plain"
                      "\x26\x00\x01"
                      "a\x00\x01"
                      "bhello"));
    off += used;
    CHECK_EQ_INT(mqtt_decode(b + off, n - off, MQTT_V5, 0, &p, &used), 0);
    CHECK(p.type == MQTT_DISCONNECT && p.disconnect.code == 0 && off + used == n);
    buf_free(&e);
}

/* Packets written by hand from the spec's figures and field tables. */
static void test_spec_bytes(void)
{
    struct buf e = {0};
    /* 3.1.1 figure 3.23: SUBSCRIBE id 10, "a/b" QoS 1, "c/d" QoS 2 */
    struct mqtt_packet s = pkt(MQTT_SUBSCRIBE);
    s.subscribe.id = 10;
    buf_reset(&items);
    mqtt_put_sub(&items, S("a/b"), 1);
    mqtt_put_sub(&items, S("c/d"), 2);
    s.subscribe.list = mqtt_list_view(&items, 2);
    mqtt_encode(&s, MQTT_V311, &e);
    CHECK(BYTES_EQ(e, "\x82\x0e\x00\x0a\x00\x03"
                      "a/b\x01\x00\x03"
                      "c/d\x02"));
    /* 5.0: the same with Subscription Identifier 300 (VBI ac 02) */
    buf_reset(&e);
    buf_reset(&sids);
    mqtt_put_sub_id(&sids, 300);
    s.props.sub_ids = mqtt_list_view(&sids, 1);
    mqtt_encode(&s, MQTT_V5, &e);
    CHECK(BYTES_EQ(e, "\x82\x12\x00\x0a\x03\x0b\xac\x02\x00\x03"
                      "a/b\x01\x00\x03"
                      "c/d\x02"));
    /* 5.0 CONNACK: session present, success, Receive Maximum 10, Topic Alias Maximum 5 */
    struct mqtt_packet c = pkt(MQTT_CONNACK);
    c.connack.session_present = true;
    SETP(&c.props, MQTT_PROP_RECEIVE_MAX, receive_max, 10);
    SETP(&c.props, MQTT_PROP_TOPIC_ALIAS_MAX, topic_alias_max, 5);
    buf_reset(&e);
    mqtt_encode(&c, MQTT_V5, &e);
    CHECK(BYTES_EQ(e, "\x20\x09\x01\x00\x06\x21\x00\x0a\x22\x00\x05"));
    /* 5.0 DISCONNECT 0x8e with Reason String "x" */
    struct mqtt_packet d = pkt(MQTT_DISCONNECT);
    d.disconnect.code = 0x8e;
    SETP(&d.props, MQTT_PROP_REASON_STRING, reason_string, S("x"));
    buf_reset(&e);
    mqtt_encode(&d, MQTT_V5, &e);
    CHECK(BYTES_EQ(e, "\xe0\x06\x8e\x04\x1f\x00\x01x"));
    /* 3.1.1 CONNECT of the mosquitto capture, built field by field */
    struct mqtt_packet k = pkt(MQTT_CONNECT);
    k.connect = (struct mqtt_connect){.clean_start = true,
                                      .will = true,
                                      .will_qos = 1,
                                      .will_retain = true,
                                      .has_username = true,
                                      .has_password = true,
                                      .keep_alive = 30,
                                      .client_id = S("gk1"),
                                      .will_topic = S("w/t"),
                                      .will_payload = S("bye"),
                                      .username = S("user"),
                                      .password = S("pass")};
    buf_reset(&e);
    mqtt_encode(&k, MQTT_V311, &e);
    CHECK(e.len == 39 && memcmp(e.data, mosq_v4, 39) == 0);
    buf_free(&e);
}

/* Several packets back to back, decoded one after the other. */
static void test_stream(void)
{
    struct buf b = {0};
    struct mqtt_packet p = publish(1, "x/y", "abc"), out;
    mqtt_encode(&p, MQTT_V5, &b);
    struct mqtt_packet ping = pkt(MQTT_PINGREQ);
    mqtt_encode(&ping, MQTT_V5, &b);
    mqtt_encode(&p, MQTT_V5, &b);
    size_t off = 0, used;
    int types[3] = {0}, n = 0;
    const uint8_t *g = guarded(b.data, b.len);
    while (off < b.len && mqtt_decode(g + off, b.len - off, MQTT_V5, 0, &out, &used) == 0) {
        types[n++] = out.type;
        off += used;
    }
    CHECK_EQ_INT(off, b.len);
    CHECK(n == 3 && types[0] == MQTT_PUBLISH && types[1] == MQTT_PINGREQ);
    buf_free(&b);
}

static void test_utf8(void)
{
    static const char *ok[] = {"\x01\x1f\x7f", "\xc2\x80\xc2\x9f", "\xef\xbf\xbf",
                               "\xef\xbb\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
                               "\xee\x80\x80", "\xf0\x90\x80\x80"};
    static const char *bad[] = {
        "\xc0\xaf",         "\xc1\xbf",         "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80",         "\xc3",
        "\xe2\x82",         "\xed\xa0\x80",     "\xed\xbf\xbf", "\xff"};
    struct mqtt_packet p, out;
    struct buf b = {0};
    size_t used;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        p = publish(0, ok[i], "");
        buf_reset(&b);
        mqtt_encode(&p, MQTT_V5, &b);
        CHECK_EQ_INT(dec(b.data, b.len, MQTT_V5, 0, &out, &used), 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = publish(0, bad[i], "");
        buf_reset(&b);
        mqtt_encode(&p, MQTT_V311, &b);
        CHECK_EQ_INT(dec(b.data, b.len, MQTT_V311, 0, &out, &used), GK_EPROTO);
        CHECK_EQ_INT(out.reason, MQTT_RC_MALFORMED);
    }
    buf_free(&b);
}

/* ---- malformed packets ---- */

struct bad {
    const char *name;
    int version;
    uint8_t first; /* 0: `body` is the whole packet */
    const char *body;
    size_t n;
    int rc;
    uint8_t reason;
};

#define B(name, v, first, body, reason)                                                            \
    {                                                                                              \
        name, v, first, body, sizeof(body) - 1, GK_EPROTO, reason                                  \
    }
#define RAW(name, v, bytes, reason)                                                                \
    {                                                                                              \
        name, v, 0, bytes, sizeof(bytes) - 1, GK_EPROTO, reason                                    \
    }

static const struct bad bads[] = {
    RAW("5-byte remaining length", 4, "\x30\x80\x80\x80\x80\x01", 0x81),
    RAW("non-minimal remaining length v5", 5, "\xe0\x80\x00", 0x81),
    RAW("reserved type 0", 4, "\x00\x00", 0x81),
    RAW("AUTH in 3.1.1", 4, "\xf0\x00", 0x81),
    B("protocol name MQTX", 4, 0x10, "\x00\x04MQTX\x04\x02\x00\x3c\x00\x00", 0x84),
    B("MQIsdp level 3", 4, 0x10, "\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00", 0x84),
    B("level 3", 5, 0x10, "\x00\x04MQTT\x03\x02\x00\x3c\x00\x00", 0x84),
    B("level 6", 4, 0x10, "\x00\x04MQTT\x06\x02\x00\x3c\x00\x00", 0x84),
    B("CONNECT reserved flag", 4, 0x10, "\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", 0x81),
    B("CONNECT header flags", 4, 0x11, "\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 0x81),
    B("will QoS without will", 4, 0x10, "\x00\x04MQTT\x04\x0a\x00\x3c\x00\x00", 0x81),
    B("will retain without will", 5, 0x10, "\x00\x04MQTT\x05\x22\x00\x3c\x00\x00\x00", 0x81),
    B("will QoS 3", 4, 0x10, "\x00\x04MQTT\x04\x1e\x00\x3c\x00\x00\x00\x01t\x00\x00", 0x81),
    B("will topic wildcard", 4, 0x10, "\x00\x04MQTT\x04\x06\x00\x3c\x00\x00\x00\x01#\x00\x00",
      0x90),
    B("password without user 3.1.1", 4, 0x10, "\x00\x04MQTT\x04\x42\x00\x3c\x00\x00\x00\x00", 0x81),
    B("empty client id, clean 0", 4, 0x10, "\x00\x04MQTT\x04\x00\x00\x3c\x00\x00", 0x85),
    B("CONNECT trailing byte", 4, 0x10, "\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\x00", 0x81),
    B("CONNECT missing username", 4, 0x10, "\x00\x04MQTT\x04\x82\x00\x3c\x00\x00", 0x81),
    B("CONNECT receive max 0", 5, 0x10, "\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x00",
      0x82),
    B("CONNECT max packet 0", 5, 0x10,
      "\x00\x04MQTT\x05\x02\x00\x3c\x05\x27\x00\x00\x00\x00\x00\x00", 0x82),
    B("CONNECT problem info 2", 5, 0x10, "\x00\x04MQTT\x05\x02\x00\x3c\x02\x17\x02\x00\x00", 0x82),
    B("CONNECT auth data w/o method", 5, 0x10,
      "\x00\x04MQTT\x05\x02\x00\x3c\x03\x16\x00\x00\x00\x00", 0x82),
    B("will property in CONNECT", 5, 0x10,
      "\x00\x04MQTT\x05\x02\x00\x3c\x05\x18\x00\x00\x00\x01\x00\x00", 0x81),
    B("SUBSCRIBE flags 0", 4, 0x80,
      "\x00\x01\x00\x03"
      "a/b\x01",
      0x81),
    B("SUBSCRIBE flags 3", 4, 0x83,
      "\x00\x01\x00\x03"
      "a/b\x01",
      0x81),
    B("UNSUBSCRIBE flags 0", 4, 0xa0,
      "\x00\x01\x00\x03"
      "a/b",
      0x81),
    B("PUBREL flags 0", 4, 0x60, "\x00\x01", 0x81),
    B("PUBACK flags 2", 4, 0x42, "\x00\x01", 0x81),
    B("PINGREQ flags 1", 4, 0xc1, "", 0x81),
    B("PUBLISH QoS 3", 4, 0x36, "\x00\x01t\x00\x01", 0x81),
    B("PUBLISH DUP with QoS 0", 4, 0x38, "\x00\x01t", 0x81),
    B("invalid UTF-8 topic", 4, 0x30, "\x00\x02\xc3\x28", 0x81),
    B("U+0000 in topic", 4, 0x30, "\x00\x02t\x00", 0x81),
    B("surrogate in topic", 5, 0x30, "\x00\x03\xed\xa0\x80\x00", 0x81),
    B("overlong in client id", 4, 0x10, "\x00\x04MQTT\x04\x02\x00\x3c\x00\x02\xc0\x80", 0x81),
    B("wildcard + in PUBLISH topic", 4, 0x30,
      "\x00\x03"
      "a/+",
      0x90),
    B("wildcard # in PUBLISH topic", 5, 0x30, "\x00\x01#\x00", 0x90),
    B("empty topic 3.1.1", 4, 0x30, "\x00\x00", 0x90),
    B("empty topic v5 without alias", 5, 0x30, "\x00\x00\x00", 0x82),
    B("topic longer than packet", 4, 0x30, "\x00\x05t", 0x81),
    B("PUBLISH packet id 0", 4, 0x32, "\x00\x01t\x00\x00", 0x82),
    B("PUBLISH id truncated", 4, 0x32, "\x00\x01t\x00", 0x81),
    B("PUBACK packet id 0", 4, 0x40, "\x00\x00", 0x82),
    B("SUBSCRIBE packet id 0", 4, 0x82, "\x00\x00\x00\x01t\x00", 0x82),
    B("SUBSCRIBE no filters", 4, 0x82, "\x00\x01", 0x82),
    B("SUBSCRIBE no filters v5", 5, 0x82, "\x00\x01\x00", 0x82),
    B("SUBSCRIBE empty filter", 4, 0x82, "\x00\x01\x00\x00\x00", 0x81),
    B("SUBSCRIBE missing options", 4, 0x82, "\x00\x01\x00\x01t", 0x81),
    B("SUBSCRIBE QoS 3", 4, 0x82, "\x00\x01\x00\x01t\x03", 0x81),
    B("SUBSCRIBE 3.1.1 upper bits", 4, 0x82, "\x00\x01\x00\x01t\x04", 0x81),
    B("SUBSCRIBE v5 QoS 3", 5, 0x82, "\x00\x01\x00\x00\x01t\x03", 0x82),
    B("SUBSCRIBE v5 retain handling 3", 5, 0x82, "\x00\x01\x00\x00\x01t\x30", 0x82),
    B("SUBSCRIBE v5 reserved bits", 5, 0x82, "\x00\x01\x00\x00\x01t\x40", 0x81),
    B("SUBSCRIBE sub id 0", 5, 0x82, "\x00\x01\x02\x0b\x00\x00\x01t\x00", 0x82),
    B("SUBSCRIBE sub id twice", 5, 0x82, "\x00\x01\x04\x0b\x01\x0b\x02\x00\x01t\x00", 0x82),
    B("SUBSCRIBE sub id non-minimal", 5, 0x82, "\x00\x01\x03\x0b\x81\x00\x00\x01t\x00", 0x81),
    B("UNSUBSCRIBE no filters", 5, 0xa2, "\x00\x01\x00", 0x82),
    B("SUBACK bad code 3.1.1", 4, 0x90, "\x00\x01\x03", 0x82),
    B("SUBACK no codes", 5, 0x90, "\x00\x01\x00", 0x82),
    B("UNSUBACK body 3.1.1", 4, 0xb0, "\x00\x01\x00", 0x81),
    B("duplicate property", 5, 0x30, "\x00\x01t\x04\x01\x00\x01\x00", 0x82),
    B("duplicate reason string", 5, 0x40, "\x00\x01\x00\x08\x1f\x00\x01x\x1f\x00\x01y", 0x82),
    B("property not allowed in PUBLISH", 5, 0x30, "\x00\x01t\x05\x11\x00\x00\x00\x00", 0x81),
    B("property not allowed in PUBACK", 5, 0x40, "\x00\x01\x00\x03\x23\x00\x01", 0x81),
    B("unknown property", 5, 0x30, "\x00\x01t\x02\x7f\x00", 0x81),
    B("property length past packet", 5, 0x30, "\x00\x01t\x05\x02\x00", 0x81),
    B("truncated property value", 5, 0x30, "\x00\x01t\x03\x02\x00\x00", 0x81),
    B("truncated user property", 5, 0x30, "\x00\x01t\x06\x26\x00\x01k\x00\x05", 0x81),
    B("topic alias 0", 5, 0x30, "\x00\x01t\x03\x23\x00\x00", 0x94),
    B("payload format 2", 5, 0x30, "\x00\x01t\x02\x01\x02", 0x82),
    B("response topic wildcard", 5, 0x30, "\x00\x01t\x04\x08\x00\x01#", 0x82),
    B("CONNACK max QoS 2", 5, 0x20, "\x00\x00\x02\x24\x02", 0x82),
    B("CONNACK reserved flags", 4, 0x20, "\x02\x00", 0x81),
    B("CONNACK return code 6", 4, 0x20, "\x00\x06", 0x82),
    B("CONNACK bad reason v5", 5, 0x20, "\x00\x01\x00", 0x82),
    B("PUBACK bad reason", 5, 0x40, "\x00\x01\x05", 0x82),
    B("PUBREL reason 0x10", 5, 0x62, "\x00\x01\x10", 0x82),
    B("PUBACK 3.1.1 trailing", 4, 0x40, "\x00\x01\x00", 0x81),
    B("PINGREQ with body", 4, 0xc0, "\x00", 0x81),
    B("DISCONNECT body 3.1.1", 4, 0xe0, "\x00", 0x81),
    B("DISCONNECT bad reason", 5, 0xe0, "\x05", 0x82),
    B("AUTH without method", 5, 0xf0, "\x18\x00", 0x82),
    B("AUTH bad reason", 5, 0xf0, "\x01\x00", 0x82),
};

static void test_malformed_table(void)
{
    uint8_t pkt[256];
    struct mqtt_packet out;
    size_t used;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *c = &bads[i];
        size_t n = 0;
        if (c->first) {
            pkt[n++] = c->first;
            pkt[n++] = (uint8_t)c->n;
        }
        memcpy(pkt + n, c->body, c->n);
        n += c->n;
        int rc = dec(pkt, n, c->version, 0, &out, &used);
        if (rc != c->rc || out.reason != c->reason) {
            fprintf(stderr, "case \"%s\": rc %d reason 0x%02x (%s)\n", c->name, rc, out.reason,
                    out.why ? out.why : "-");
            test_cur_failed++;
        }
        CHECK(out.why && out.why[0]);
        CHECK_EQ_INT(used, 0);
    }
}

static void test_refusal_details(void)
{
    struct mqtt_packet out;
    size_t used;
    static const char sub[] = "\x80\x08\x00\x01\x00\x03"
                              "a/b\x01";
    CHECK_EQ_INT(dec(sub, sizeof sub - 1, MQTT_V311, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_STR(out.why, "reserved flag bits set in SUBSCRIBE");
    /* refused on the first byte: no need to wait for the rest */
    CHECK_EQ_INT(dec("\x80", 1, MQTT_V311, 0, &out, &used), GK_EPROTO);
    /* CONNECT level is reported for the CONNACK */
    static const char l3[] = "\x10\x0e\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00";
    CHECK_EQ_INT(dec(l3, sizeof l3 - 1, MQTT_V5, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(out.type, MQTT_CONNECT);
    CHECK_EQ_INT(out.connect.level, 3);
    CHECK_EQ_INT(mqtt_connack_v311_code(out.reason), 1);
    static const char e4[] = "\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00";
    CHECK_EQ_INT(dec(e4, sizeof e4 - 1, MQTT_V5, 0, &out, &used), GK_EPROTO);
    CHECK_EQ_INT(mqtt_connack_v311_code(out.reason), 2);
    CHECK_EQ_INT(mqtt_connack_v311_code(MQTT_RC_MALFORMED), -1);
    /* an empty client id with clean start 0 is fine in 5.0 */
    static const char e5[] = "\x10\x0d\x00\x04MQTT\x05\x00\x00\x3c\x00\x00\x00";
    CHECK_EQ_INT(dec(e5, sizeof e5 - 1, MQTT_V311, 0, &out, &used), 0);
    /* wildcard characters in a topic filter are another module's business */
    static const char wild[] = "\x82\x0a\x00\x01\x00\x05+/#/a\x00";
    CHECK_EQ_INT(dec(wild, sizeof wild - 1, MQTT_V311, 0, &out, &used), 0);
    /* packet over max_packet refused from the header alone */
    CHECK_EQ_INT(dec("\x30\xff\xff\xff\x7f", 5, MQTT_V5, 1024, &out, &used), GK_ETOOBIG);
    CHECK_EQ_INT(out.reason, 0x95);
    CHECK_EQ_INT(out.remaining, 268435455);
}

static void test_reason_text(void)
{
    CHECK_EQ_STR(mqtt_reason_text(0x81), "Malformed Packet");
    CHECK_EQ_STR(mqtt_reason_text(0x82), "Protocol Error");
    CHECK_EQ_STR(mqtt_reason_text(0x95), "Packet too large");
    CHECK_EQ_STR(mqtt_reason_text(0xa2), "Wildcard Subscriptions not supported");
    CHECK_EQ_STR(mqtt_reason_text(0x03), "Unknown reason code");
    CHECK_EQ_STR(mqtt_reason_text(0xff), "Unknown reason code");
}

int main(void)
{
    RUN(test_connect_roundtrip);
    RUN(test_connect_props_decoded);
    RUN(test_connack_roundtrip);
    RUN(test_publish_roundtrip);
    RUN(test_publish_v5_props);
    RUN(test_acks_roundtrip);
    RUN(test_subscribe_roundtrip);
    RUN(test_suback_unsub_roundtrip);
    RUN(test_small_packets_roundtrip);
    RUN(test_encode_drops_foreign_props);
    RUN(test_remaining_length_edges);
    RUN(test_remaining_length_forms);
    RUN(test_mosquitto_v311);
    RUN(test_mosquitto_v5);
    RUN(test_spec_bytes);
    RUN(test_stream);
    RUN(test_utf8);
    RUN(test_malformed_table);
    RUN(test_refusal_details);
    RUN(test_reason_text);
    buf_free(&enc_buf);
    buf_free(&ups);
    buf_free(&sids);
    buf_free(&items);
    TEST_MAIN_END();
}
