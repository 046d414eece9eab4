/* codec_int.h: internals shared by the codec files (not part of the API).
 *
 * codec.c decodes packets with the reader below; codec_props.c holds the MQTT 5
 * property table (decoding, encoding, skipping); codec_enc.c encodes with the
 * writer below; codec_util.c has the iterators, list builders, comparison and
 * reason texts. */
#ifndef GASKET_MQTT_CODEC_INT_H
#define GASKET_MQTT_CODEC_INT_H

#include "mqtt/codec.h"

/* Property "kind" for the will properties of a CONNECT: packet type 0 is
 * reserved, so its bit in the per-property masks is free. */
#define MQTT__WILL 0

/* Reading a packet body: p advances up to end; errors land in out. */
struct mqtt__rd {
    const uint8_t *p, *end;
    struct mqtt_packet *out;
    int v5;
};

/* Records reason and why in r->out and returns GK_EPROTO. */
int mqtt__fail(struct mqtt__rd *r, uint8_t reason, const char *why);
int mqtt__rd_u8(struct mqtt__rd *r, uint8_t *v);
int mqtt__rd_u16(struct mqtt__rd *r, uint16_t *v);
int mqtt__rd_u32(struct mqtt__rd *r, uint32_t *v);
/* A variable byte integer: at most 4 bytes, minimal (MQTT-1.5.5-1). */
int mqtt__rd_vbi(struct mqtt__rd *r, uint32_t *v);
/* A UTF-8 string, well-formed per MQTT 1.5.4 (no U+0000, no surrogates). */
int mqtt__rd_str(struct mqtt__rd *r, struct mqtt_str *s);
/* Binary data: two-byte length then bytes. */
int mqtt__rd_bin(struct mqtt__rd *r, struct mqtt_str *s);
/* Reads a property length and the properties allowed in `kind` (a packet
 * type or MQTT__WILL), validating each one. */
int mqtt__rd_props(struct mqtt__rd *r, int kind, struct mqtt_props *props);

/* NULL when p[0..n) is well-formed UTF-8 without U+0000 or surrogates, else
 * a static text naming the fault. */
const char *mqtt__utf8_check(const uint8_t *p, size_t n);

/* Parses a variable byte integer from p[0..n) into *v; returns its size, 0
 * when more bytes are needed, -1 when it runs over 4 bytes. `minimal` is
 * cleared when the form is longer than necessary. */
int mqtt__vbi_parse(const uint8_t *p, size_t n, uint32_t *v, bool *minimal);

/* Skips one property at it->p (identifier included), storing its identifier;
 * returns 0 at the end or when it does not parse, else 1 with *value at the
 * property's value. */
int mqtt__prop_next(struct mqtt_iter *it, uint8_t *id, const uint8_t **value);

/* Writing: with b == NULL only counts, so a body is sized and then written by
 * the same code. */
struct mqtt__wr {
    struct buf *b;
    size_t n;
};

void mqtt__put(struct mqtt__wr *w, const void *p, size_t n);
void mqtt__put_u8(struct mqtt__wr *w, uint8_t v);
void mqtt__put_u16(struct mqtt__wr *w, uint16_t v);
void mqtt__put_u32(struct mqtt__wr *w, uint32_t v);
void mqtt__put_vbi(struct mqtt__wr *w, uint32_t v);
void mqtt__put_str(struct mqtt__wr *w, struct mqtt_str s);
/* Writes the property length and the properties of props allowed in kind. */
void mqtt__put_props(struct mqtt__wr *w, int kind, const struct mqtt_props *props);
/* The size mqtt__put_props() would write. */
size_t mqtt__props_size(int kind, const struct mqtt_props *props);

/* Same properties (by content; lists item by item, by count). */
bool mqtt__props_equal(const struct mqtt_props *a, const struct mqtt_props *b);
/* Same bytes. */
bool mqtt__str_eq(struct mqtt_str a, struct mqtt_str b);

#endif
