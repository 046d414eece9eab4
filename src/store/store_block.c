/* store_block.c: measurement blocks, up to MBLK_MAX points of one series
 * (index, group, name) in a few bytes each.
 *
 * Why: a measurements row repeats its series' key and holds a full 8-byte
 * ts, doc and value, plus SQLite's record and b-tree overhead. A series'
 * points are regular: times on a cadence, document ids that grow by about
 * the number of groups, decimal readings ("26.20") that move slowly. A
 * block keeps differences of those, as varints: a seed-shaped series costs
 * about 4 bytes a point. Decoding runs on the query path: one straight loop
 * per column, errors gathered in a flag and looked at once per column.
 *
 * Layout. varint: LEB128 (7 bits a byte, least significant first, the high
 * bit set on all bytes but the last), at most 10 bytes, no zero last byte
 * after the first; zz(x): zigzag (2x for x >= 0, -2x - 1 below). Every
 * difference is taken on 64 bits modulo 2^64 (uint64_t), so any int64 ts or
 * doc has a block, and a block whose sums wrap decodes out of order and is
 * refused.
 *   u8 head: bits 7-4 the version (1), bit 3 zero, bit 2 NULLS (some value
 *      is NULL: a bitmap follows), bits 1-0 the value mode: 0 raw,
 *      1 decimal, 2 none (every value NULL; NULLS clear, nothing follows the
 *      docs)
 *   varint n, 1..MBLK_MAX
 *   ts:  zz(ts[0]), then for i >= 1 zz(d[i] - d[i-1]) where d[i] =
 *        ts[i] - ts[i-1] and d[0] = 0 (deltas of deltas: a steady cadence
 *        costs a byte a point)
 *   doc: zz(doc[0]), then for i >= 1 zz(doc[i] - doc[i-1])
 *   when NULLS: ceil(n / 8) bytes, bit i % 8 of byte i / 8 set when point i
 *        has a value; the bits past n clear; neither all set nor all clear
 *   then, for the present values only, in order:
 *   decimal: u8 s (0..15), then zz(k - the previous k) (the first: k) for
 *        each value v = (double)k / 1e<s>, |k| < 2^53, s the smallest that
 *        serves every value of the block; the encoder checks exactly that
 *        expression (dec_value), so the round trip is bit for bit, and
 *        -0.0, NaN and infinities never qualify
 *   raw: x = the value's IEEE bits XOR the previous value's (the first: 0);
 *        u8 (t << 4 | m) then m bytes of x >> 8t, least significant first,
 *        where t is x's count of trailing zero bytes and m = 8 - t - its
 *        leading zero bytes (x = 0: the byte 0 alone)
 * Nothing follows. The decoder refuses anything the encoder does not write
 * save in the values: a raw block whose values the decimal mode could
 * hold, a decimal s larger than needed, another k giving the same double
 * (two can, above 2^52). Every point still has one ts, doc and bitmap
 * encoding, and a raw or none block one encoding in all.
 *
 * Pure: no I/O, no allocation but the output buffer's growth. */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "store/store_block.h"

/* The decimal mode relies on a double division rounded once, as IEEE
 * says: not so where doubles are computed in wider registers (x87). */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD < 0 || FLT_EVAL_METHOD > 1
#error "store_block.c needs double arithmetic done in double (FLT_EVAL_METHOD 0 or 1)"
#endif

#define MBLK_VERSION 1
#define HEAD_NULLS   0x04
#define HEAD_ZERO    0x08
#define HEAD_MODE    0x03
enum { MODE_RAW, MODE_DEC, MODE_NONE };

#define DEC_MAX_S  15
#define DEC_K_LIM  (UINT64_C(1) << 53) /* |k| < DEC_K_LIM */
#define VARINT_MAX 10
/* The most bytes a block of n points takes: head, count, ts, doc, bitmap, s,
 * values. */
#define MBLK_BOUND(n) (1 + 2 + 2 * VARINT_MAX * (n) + ((n) + 7) / 8 + 1 + VARINT_MAX * (n))

static const double p10[DEC_MAX_S + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static uint64_t zz(uint64_t x)
{
    return (x << 1) ^ (0 - (x >> 63));
}

static uint64_t unzz(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* The decimal mode's value: the one expression both sides compute. */
static double dec_value(int64_t k, unsigned s)
{
    return (double)k / p10[s];
}

/* ---- encoding ---- */

static uint8_t *put_varint(uint8_t *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static int in_order(const struct mpoint *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i].ts < p[i - 1].ts || (p[i].ts == p[i - 1].ts && p[i].doc <= p[i - 1].doc)) return 0;
    return 1;
}

static uint8_t *put_keys(uint8_t *o, const struct mpoint *p, size_t n)
{
    uint64_t d = 0;
    o = put_varint(o, zz((uint64_t)p[0].ts));
    for (size_t i = 1; i < n; i++) {
        uint64_t d2 = (uint64_t)p[i].ts - (uint64_t)p[i - 1].ts;
        o = put_varint(o, zz(d2 - d));
        d = d2;
    }
    o = put_varint(o, zz((uint64_t)p[0].doc));
    for (size_t i = 1; i < n; i++)
        o = put_varint(o, zz((uint64_t)p[i].doc - (uint64_t)p[i - 1].doc));
    return o;
}

/* Whether v is dec_value(k, s) for some |k| < DEC_K_LIM, bit for bit; sets
 * *k. v * 10^s is k with two roundings' error (below 1 under 2^52, and an
 * integer above), so rounded it is k or a neighbour; a miss would only cost
 * the decimal mode, never exactness. */
static int dec_fit(double v, unsigned s, int64_t *k)
{
    double x = v * p10[s];
    if (!(fabs(x) < (double)DEC_K_LIM + 4)) return 0; /* NaN, infinities, too large */
    int64_t k0 = (int64_t)nearbyint(x);
    const int64_t try[3] = {k0, k0 - 1, k0 + 1};
    for (int i = 0; i < 3; i++) {
        if ((uint64_t)try[i] + (DEC_K_LIM - 1) > 2 * (DEC_K_LIM - 1)) continue;
        if (bits_of(dec_value(try[i], s)) == bits_of(v)) {
            *k = try[i];
            return 1;
        }
    }
    return 0;
}

/* The smallest s that serves every present value of p[0..n), with their k
 * in k[0..): a value that is k / 10^s is also 10k / 10^(s+1) (the same
 * quotient, rounded once), so that s is the largest of the values' own
 * smallest; -1 when there is none (raw mode). */
static int dec_scale(const struct mpoint *p, size_t n, int64_t *k)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].has) continue;
        while (s <= DEC_MAX_S && !dec_fit(p[i].value, s, &k[0]))
            s++;
        if (s > DEC_MAX_S) return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].has && !dec_fit(p[i].value, s, &k[m++])) return -1;
    return (int)s;
}

static uint8_t *put_xor(uint8_t *o, uint64_t x)
{
    if (!x) {
        *o++ = 0;
        return o;
    }
    unsigned t = (unsigned)__builtin_ctzll(x) / 8, m = 8 - t - (unsigned)__builtin_clzll(x) / 8;
    *o++ = (uint8_t)(t << 4 | m);
    x >>= 8 * t;
    for (unsigned i = 0; i < m; i++, x >>= 8)
        *o++ = (uint8_t)x;
    return o;
}

/* The bitmap (when some value is NULL) and the present values. */
static uint8_t *put_values(uint8_t *o, uint8_t *head, const struct mpoint *p, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += p[i].has != 0;
    if (!m) {
        *head |= MODE_NONE;
        return o;
    }
    if (m < n) {
        *head |= HEAD_NULLS;
        memset(o, 0, (n + 7) / 8);
        for (size_t i = 0; i < n; i++)
            o[i / 8] |= (uint8_t)((p[i].has != 0) << (i % 8));
        o += (n + 7) / 8;
    }
    int64_t k[MBLK_MAX];
    int s = dec_scale(p, n, k);
    if (s >= 0) {
        *head |= MODE_DEC;
        *o++ = (uint8_t)s;
        uint64_t prev = 0;
        for (size_t j = 0; j < m; j++) {
            o = put_varint(o, zz((uint64_t)k[j] - prev));
            prev = (uint64_t)k[j];
        }
        return o;
    }
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].has) continue;
        o = put_xor(o, bits_of(p[i].value) ^ prev);
        prev = bits_of(p[i].value);
    }
    return o;
}

void mblk_encode(struct buf *b, const struct mpoint *p, size_t n)
{
    assert(n >= 1 && n <= MBLK_MAX && in_order(p, n));
    buf_reserve(b, MBLK_BOUND(n));
    uint8_t *start = (uint8_t *)b->data + b->len, *o = start + 1;
    *start = MBLK_VERSION << 4;
    o = put_varint(o, n);
    o = put_keys(o, p, n);
    o = put_values(o, start, p, n);
    b->len += (size_t)(o - start);
    b->data[b->len] = '\0';
}

/* ---- decoding ---- */

/* A reader of data[0..len): on an error bad is set and p moved to end, so
 * that what follows reads nothing and the caller looks once per column. */
struct rd {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t fail(struct rd *r)
{
    r->bad = 1;
    r->p = r->end;
    return 0;
}

static uint64_t get_varint_long(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX && r->p < r->end; i++) {
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c < 0x80) {
            if ((i > 0 && c == 0) || (i == VARINT_MAX - 1 && c > 1)) break;
            return v;
        }
    }
    return fail(r);
}

static inline uint64_t get_varint(struct rd *r)
{
    const uint8_t *q = r->p;
    if (r->end - q >= 2) {
        if (q[0] < 0x80) {
            r->p = q + 1;
            return q[0];
        }
        if (q[1] < 0x80 && q[1]) {
            r->p = q + 2;
            return (q[0] & 0x7fu) | (uint64_t)q[1] << 7;
        }
    }
    return get_varint_long(r);
}

/* The ts and doc columns; 0 when the points are not in order. */
static int get_keys(struct rd *r, struct mpoint *p, size_t n)
{
    uint64_t ts = unzz(get_varint(r)), d = 0;
    p[0].ts = (int64_t)ts;
    for (size_t i = 1; i < n; i++) {
        d += unzz(get_varint(r));
        ts += d;
        p[i].ts = (int64_t)ts;
    }
    uint64_t doc = unzz(get_varint(r));
    int bad = 0;
    p[0].doc = (int64_t)doc;
    for (size_t i = 1; i < n; i++) {
        doc += unzz(get_varint(r));
        p[i].doc = (int64_t)doc;
        bad |= (p[i].ts < p[i - 1].ts) | ((p[i].ts == p[i - 1].ts) & (p[i].doc <= p[i - 1].doc));
    }
    return !bad && !r->bad;
}

/* Sets every point's has; returns how many values are present. */
static size_t get_presence(struct rd *r, unsigned head, struct mpoint *p, size_t n)
{
    int all = (head & HEAD_MODE) != MODE_NONE;
    if (!(head & HEAD_NULLS)) {
        for (size_t i = 0; i < n; i++)
            p[i].has = all;
        return all ? n : 0;
    }
    size_t nb = (n + 7) / 8, m = 0;
    if ((size_t)(r->end - r->p) < nb) return fail(r);
    const uint8_t *map = r->p;
    r->p += nb;
    for (size_t i = 0; i < n; i++) {
        p[i].has = map[i / 8] >> (i % 8) & 1;
        m += (size_t)p[i].has;
    }
    if ((n % 8 && map[nb - 1] >> (n % 8)) || m == 0 || m == n) fail(r);
    return m;
}

static void get_decimal(struct rd *r, double *v, size_t m)
{
    if (r->p == r->end || *r->p > DEC_MAX_S) {
        fail(r);
        return;
    }
    unsigned s = *r->p++;
    uint64_t k = 0, out = 0;
    for (size_t j = 0; j < m; j++) {
        k += unzz(get_varint(r));
        out |= (k + (DEC_K_LIM - 1) > 2 * (DEC_K_LIM - 1));
        v[j] = dec_value((int64_t)k, s);
    }
    if (out) fail(r);
}

static uint64_t load_le64(const uint8_t *q)
{
    uint64_t u;
    memcpy(&u, q, sizeof u);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    return u;
}

static void get_raw(struct rd *r, double *v, size_t m)
{
    static const uint64_t mask[9] = {0,          0xff,         0xffff,         0xffffff,
                                     0xffffffff, 0xffffffffff, 0xffffffffffff, 0xffffffffffffff,
                                     UINT64_MAX};
    uint64_t bits = 0;
    int bad = 0;
    for (size_t j = 0; j < m; j++) {
        size_t avail = (size_t)(r->end - r->p);
        uint8_t tail[8] = {0};
        const uint8_t *src = r->p + 1;
        if (avail < 9) { /* the block's last bytes: copied, not over-read */
            if (!avail) {
                fail(r);
                return;
            }
            memcpy(tail, r->p + 1, avail - 1);
            src = tail;
        }
        unsigned h = *r->p, t = h >> 4, c = h & 15, mb = c > 8 ? 8 : c;
        uint64_t x = load_le64(src) & mask[mb];
        bad |= (c > 8) | (t + c > 8) | ((c == 0) & (t != 0)) | (1 + mb > avail);
        /* the shortest form: x's lowest and highest bytes kept are not 0 */
        bad |= (mb != 0) & (((x & 0xff) == 0) | ((x >> (8 * ((mb + 7) & 7))) == 0));
        r->p += 1 + mb > avail ? avail : 1 + mb;
        bits ^= x << (8 * t & 63);
        v[j] = double_of(bits);
    }
    if (bad) fail(r);
}

int mblk_decode(const void *data, size_t len, struct mpoint *p)
{
    struct rd r = {data, (const uint8_t *)data + len, 0};
    if (!len) return -1;
    unsigned head = *r.p++, mode = head & HEAD_MODE;
    if (head >> 4 != MBLK_VERSION || head & HEAD_ZERO || mode > MODE_NONE ||
        (mode == MODE_NONE && head & HEAD_NULLS))
        return -1;
    uint64_t n = get_varint(&r);
    if (r.bad || n == 0 || n > MBLK_MAX || !get_keys(&r, p, n)) return -1;
    double v[MBLK_MAX + 1]; /* v[0] = 0: the value of an absent one */
    size_t m = get_presence(&r, head, p, n);
    v[0] = 0;
    if (mode == MODE_DEC)
        get_decimal(&r, v + 1, m);
    else if (mode == MODE_RAW)
        get_raw(&r, v + 1, m);
    if (r.bad || r.p != r.end) return -1;
    for (size_t i = 0, j = 0; i < n; i++) {
        j += (size_t)p[i].has;
        p[i].value = v[j & (0 - (size_t)p[i].has)];
    }
    return (int)n;
}
