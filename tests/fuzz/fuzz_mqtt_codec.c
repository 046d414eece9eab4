/* fuzz_mqtt_codec.c: libFuzzer target for src/mqtt/codec*.c.
 *
 * The input is read as a stream of packets twice, once as an MQTT 3.1.1 and
 * once as an MQTT 5.0 connection. Each decoded packet has every list walked
 * (its item count must match), is re-encoded, and the encoding must decode to
 * an equal packet that encodes to the very same bytes; its size must be what
 * mqtt_encoded_size() said, the publish head plus payload must equal the whole
 * encoding, and a limit one byte short or a prefix one byte short must be
 * refused or need more. Errors must carry a reason code and text.
 * Corpus: tests/fuzz/corpus/mqtt_codec (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mqtt/codec.h"

static uint32_t count_items(const struct mqtt_packet *p)
{
    struct mqtt_iter it;
    struct mqtt_sub s;
    struct mqtt_str f;
    uint8_t c;
    uint32_t n = 0;
    mqtt_iter_init(&it, &p->subscribe.list);
    if (p->type == MQTT_SUBSCRIBE)
        while (mqtt_sub_next(&it, &s))
            n++;
    else if (p->type == MQTT_UNSUBSCRIBE)
        while (mqtt_filter_next(&it, &f))
            n++;
    else
        while (mqtt_code_next(&it, &c))
            n++;
    return n;
}

static void walk_props(const struct mqtt_props *pr)
{
    struct mqtt_iter it;
    struct mqtt_str k, v;
    uint32_t id, n = 0;
    mqtt_iter_init(&it, &pr->user_props);
    while (mqtt_user_prop_next(&it, &k, &v))
        n++;
    if (n != pr->user_props.count) abort();
    n = 0;
    mqtt_iter_init(&it, &pr->sub_ids);
    while (mqtt_sub_id_next(&it, &id)) {
        if (id == 0 || id > MQTT_MAX_REMAINING) abort();
        n++;
    }
    if (n != pr->sub_ids.count) abort();
}

static void walk_lists(const struct mqtt_packet *p)
{
    walk_props(&p->props);
    if (p->type == MQTT_CONNECT) walk_props(&p->connect.will_props);
    if (p->type >= MQTT_SUBSCRIBE && p->type <= MQTT_UNSUBACK &&
        count_items(p) != p->subscribe.list.count)
        abort();
}

/* Re-encodes p and checks the encoding against everything said above. */
static void check_reencode(const struct mqtt_packet *p, int v)
{
    struct buf a = {0}, b = {0}, h = {0};
    struct mqtt_packet q;
    size_t n;
    mqtt_encode(p, v, &a);
    if (mqtt_encoded_size(p, v) != a.len) abort();
    if (mqtt_decode((const uint8_t *)a.data, a.len, v, 0, &q, &n) != 0 || n != a.len) abort();
    if (!mqtt_packet_equal(p, &q, v)) abort();
    mqtt_encode(&q, v, &b);
    if (b.len != a.len || memcmp(a.data, b.data, a.len) != 0) abort();
    if (p->type == MQTT_PUBLISH) {
        size_t head = mqtt_encode_publish_head(p, v, &h);
        buf_append(&h, p->publish.payload.p, p->publish.payload.len);
        if (head + p->publish.payload.len != a.len || memcmp(h.data, a.data, a.len) != 0) abort();
    }
    buf_free(&a);
    buf_free(&b);
    buf_free(&h);
}

static void run(const uint8_t *data, size_t size, int version)
{
    struct mqtt_packet p, q;
    size_t off = 0, used, n;
    while (off < size) {
        int rc = mqtt_decode(data + off, size - off, version, 0, &p, &used);
        if (rc == GK_EAGAIN) return;
        if (rc != 0) {
            if (rc != GK_EPROTO || !p.reason || !p.why || !p.why[0] || used != 0) abort();
            return;
        }
        if (used == 0 || used > size - off) abort();
        walk_lists(&p);
        int v = p.type == MQTT_CONNECT ? p.connect.level : version;
        check_reencode(&p, v);
        if (mqtt_decode(data + off, used, version, (uint32_t)used - 1, &q, &n) != GK_ETOOBIG ||
            q.reason != 0x95)
            abort();
        if (mqtt_decode(data + off, used - 1, version, 0, &q, &n) != GK_EAGAIN) abort();
        off += used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 4);
    run(data, size, 5);
    return 0;
}
