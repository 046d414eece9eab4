/* codec_rd.c: the primitive readers of the MQTT decoder (codec_int.h).
 *
 * Each reader takes its value from a packet body that is already fully
 * buffered; running past the body's end is a Malformed Packet, never a "need
 * more". UTF-8 is checked as MQTT 5.0 section 1.5.4 (and 3.1.1 section 1.5.3)
 * require: well-formed per Unicode, no U+0000, no surrogate code points. The
 * "SHOULD NOT" code points (controls, non-characters) are accepted. */
#include "core/err.h"
#include "core/utf8.h"
#include "mqtt/codec_int.h"

int mqtt__fail(struct mqtt__rd *r, uint8_t reason, const char *why)
{
    r->out->reason = reason;
    r->out->why = why;
    return GK_EPROTO;
}

static int need(struct mqtt__rd *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "field runs past the end of the packet");
    return 0;
}

int mqtt__rd_u8(struct mqtt__rd *r, uint8_t *v)
{
    if (need(r, 1)) return GK_EPROTO;
    *v = *r->p++;
    return 0;
}

int mqtt__rd_u16(struct mqtt__rd *r, uint16_t *v)
{
    if (need(r, 2)) return GK_EPROTO;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return 0;
}

int mqtt__rd_u32(struct mqtt__rd *r, uint32_t *v)
{
    if (need(r, 4)) return GK_EPROTO;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return 0;
}

int mqtt__vbi_parse(const uint8_t *p, size_t n, uint32_t *v, bool *minimal)
{
    uint32_t val = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= n) return 0;
        val |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = val;
            *minimal = i == 0 || p[i] != 0;
            return (int)i + 1;
        }
    }
    return -1;
}

int mqtt__rd_vbi(struct mqtt__rd *r, uint32_t *v)
{
    bool minimal;
    int n = mqtt__vbi_parse(r->p, (size_t)(r->end - r->p), v, &minimal);
    if (n == 0)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "variable byte integer runs past the packet");
    if (n < 0) return mqtt__fail(r, MQTT_RC_MALFORMED, "variable byte integer over 4 bytes");
    if (!minimal)
        return mqtt__fail(r, MQTT_RC_MALFORMED, "variable byte integer not in its shortest form");
    r->p += n;
    return 0;
}

int mqtt__rd_bin(struct mqtt__rd *r, struct mqtt_str *s)
{
    uint16_t n;
    if (mqtt__rd_u16(r, &n) || need(r, n)) return GK_EPROTO;
    s->p = (const char *)r->p;
    s->len = n;
    r->p += n;
    return 0;
}

int mqtt__rd_str(struct mqtt__rd *r, struct mqtt_str *s)
{
    if (mqtt__rd_bin(r, s)) return GK_EPROTO;
    const char *why = mqtt__utf8_check((const uint8_t *)s->p, s->len);
    return why ? mqtt__fail(r, MQTT_RC_MALFORMED, why) : 0;
}

const char *mqtt__utf8_check(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] == 0) return "U+0000 in a UTF-8 string";
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int len = utf8_seq(p + i, n - i);
        if (len < 0) return "surrogate code point in a UTF-8 string";
        if (len == 0) return "ill-formed UTF-8 string";
        i += (size_t)len;
    }
    return NULL;
}
