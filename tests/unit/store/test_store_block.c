/* test_store_block.c: measurement blocks (store_block.c).
 *
 * Points come back as they went in, values bit for bit, in each value mode
 * (decimal for readings such as "26.20", raw for the rest, none when all
 * are NULL), with NULLs anywhere, at the extremes of int64 and of double;
 * a few blocks are pinned byte for byte (the store keeps them); a
 * seed-shaped series takes a few bytes a point; damaged blocks (cut short,
 * one byte too many, any bit flipped, hand-made bad ones) are refused or
 * read as points in order, never read past their end (decoded right before
 * a guard page). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/store_block.h"
#include "guard.h"
#include "test.h"

#define T0      1764210000000LL /* 2025-11-27, epoch ms */
#define CADENCE 600000LL

static int dec(const void *b, size_t n, struct mpoint *out)
{
    return mblk_decode(guarded(b, n), n, out);
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int same_point(const struct mpoint *a, const struct mpoint *b)
{
    if (a->ts != b->ts || a->doc != b->doc || !a->has != !b->has) return 0;
    return !a->has || memcmp(&a->value, &b->value, sizeof a->value) == 0;
}

static int strictly_increasing(const struct mpoint *p, int n)
{
    for (int i = 1; i < n; i++)
        if (p[i].ts < p[i - 1].ts || (p[i].ts == p[i - 1].ts && p[i].doc <= p[i - 1].doc)) return 0;
    return 1;
}

static struct buf blk;

/* Encodes p[0..n) after a few bytes already in blk, checks that they are
 * kept and that the block decodes to the same points; returns the block's
 * first byte (its format byte), the block itself left in blk without the
 * prefix. */
static int round_trip(const struct mpoint *p, size_t n)
{
    static struct mpoint out[MBLK_MAX];
    buf_reset(&blk);
    buf_append(&blk, "pre", 3);
    mblk_encode(&blk, p, n);
    CHECK(memcmp(blk.data, "pre", 3) == 0);
    buf_consume(&blk, 3);
    CHECK(blk.len > 0);
    if (!blk.len) return -1;
    memset(out, 0xa5, sizeof out);
    int got = dec(blk.data, blk.len, out);
    CHECK_EQ_INT(got, n);
    size_t same = 0;
    for (size_t i = 0; got > 0 && i < n; i++) {
        same += same_point(&p[i], &out[i]);
        if (!out[i].has) CHECK(bits(out[i].value) == 0);
    }
    CHECK_EQ_INT(same, n);
    return (uint8_t)blk.data[0];
}

#define MODE(head) ((head)&3)
enum { RAW, DECIMAL, NONE };
#define HAS_NULLS(head) (((head) >> 2) & 1)

/* n points every CADENCE ms from T0, documents 100 apart, values v[i % nv]. */
static void series(struct mpoint *p, size_t n, const double *v, size_t nv)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (struct mpoint){T0 + (int64_t)i * CADENCE, 1000 + (int64_t)i * 100, v[i % nv], 1};
}

static void test_gas_readings(void)
{
    struct mpoint p[16];
    const double small[] = {26.2, 0.05, strtod("26.20", NULL), 3.0, -4.75, 1e-7, -0.05, 0.0};
    series(p, 8, small, 8);
    CHECK(bits(p[2].value) == bits(26.2));
    int head = round_trip(p, 8);
    CHECK_EQ_INT(MODE(head), DECIMAL);
    CHECK_EQ_INT(HAS_NULLS(head), 0);

    const double counter[] = {1234567890123456.0, 1234567890123457.0, 1234567890124000.0};
    series(p, 3, counter, 3);
    CHECK_EQ_INT(MODE(round_trip(p, 3)), DECIMAL);

    /* the counter's k at 2 decimals would pass 2^53: raw, still exact */
    const double both[] = {1234567890123456.0, 0.05, 26.2};
    series(p, 3, both, 3);
    CHECK_EQ_INT(MODE(round_trip(p, 3)), RAW);

    /* 15 decimals at most, k below 2^53 */
    const double fine[] = {0.123456789012345, 1e-15, 9007199254740991.0};
    series(p, 2, fine, 2);
    CHECK_EQ_INT(MODE(round_trip(p, 2)), DECIMAL);
    series(p, 1, fine + 2, 1);
    CHECK_EQ_INT(MODE(round_trip(p, 1)), DECIMAL);
    /* k / 10^s whose v * 10^s rounds to k's neighbour */
    const double near[] = {(double)4241730586038571 / 1e11, (double)-2770584332923387 / 1e7,
                           (double)3908771367311963 / 1e8, (double)4441795170778061 / 1e3};
    for (int i = 0; i < 4; i++) {
        series(p, 1, near + i, 1);
        CHECK_EQ_INT(MODE(round_trip(p, 1)), DECIMAL);
    }
    const double too_fine[] = {1e-16, 9007199254740992.0, 1e300, 0.1 + 0.2};
    for (int i = 0; i < 4; i++) {
        series(p, 1, too_fine + i, 1);
        CHECK_EQ_INT(MODE(round_trip(p, 1)), RAW);
    }
}

/* The decimal mode takes the smallest scale that serves the block: a
 * single point at ts 0, doc 0 shows it (head, n, ts, doc, s, zz(k)). */
static void test_golden(void)
{
    struct mpoint p[3] = {{0, 0, 26.2, 1}, {1, 5, 0, 0}, {3, 4, 0, 0}};
    round_trip(p, 1);
    const uint8_t dec[] = {0x11, 1, 0, 0, 1, 0x8c, 0x04}; /* s 1, zz(262) = 524 */
    CHECK(blk.len == sizeof dec && memcmp(blk.data, dec, sizeof dec) == 0);

    p[0].value = -0.0; /* IEEE bits 0x8000000000000000: one byte, t 7, m 1 */
    round_trip(p, 1);
    const uint8_t raw[] = {0x10, 1, 0, 0, 0x71, 0x80};
    CHECK(blk.len == sizeof raw && memcmp(blk.data, raw, sizeof raw) == 0);

    /* ts 0, 1, 3: zz 0, zz(1 - 0) = 2, zz(2 - 1) = 2; docs 0, 5, 4: 0, 10, 1 */
    p[0].has = 0;
    round_trip(p, 3);
    const uint8_t none[] = {0x12, 3, 0, 2, 2, 0, 10, 1};
    CHECK(blk.len == sizeof none && memcmp(blk.data, none, sizeof none) == 0);

    p[1] = (struct mpoint){1, 5, 3.0, 1};
    round_trip(p, 3);
    const uint8_t nulls[] = {0x15, 3, 0, 2, 2, 0, 10, 1, 0x02, 0, 6};
    CHECK(blk.len == sizeof nulls && memcmp(blk.data, nulls, sizeof nulls) == 0);
}

static void test_times(void)
{
    static struct mpoint p[MBLK_MAX];
    const double v[] = {1.5, 2.25};
    series(p, MBLK_MAX, v, 2);
    round_trip(p, MBLK_MAX);

    srand(7);
    int64_t ts = T0;
    for (int i = 0; i < MBLK_MAX; i++) {
        int r = rand() % 10;
        ts += r == 0 ? 0 : r == 1 ? 86400000LL * (rand() % 400) : rand() % 5000;
        p[i].ts = ts;
        p[i].doc = i;
    }
    round_trip(p, MBLK_MAX);

    /* equal timestamps, documents apart in any increasing way */
    for (int i = 0; i < MBLK_MAX; i++)
        p[i] = (struct mpoint){T0 + i / 8 * CADENCE, (int64_t)(i % 8) * 1000000 - i, i * 0.5, 1};
    round_trip(p, MBLK_MAX);

    /* documents decreasing as time goes on */
    for (int i = 0; i < MBLK_MAX; i++)
        p[i] = (struct mpoint){T0 + i * CADENCE, 50000 - (int64_t)i * 97 - rand() % 50, 1.0, 1};
    round_trip(p, MBLK_MAX);
}

static void test_extremes(void)
{
    struct mpoint p[6] = {
        {INT64_MIN, INT64_MAX, 1, 1}, {-1, INT64_MIN, 2, 1}, {0, 0, 3, 1},
        {INT64_MAX, INT64_MIN, 4, 1}, {INT64_MAX, -1, 5, 1}, {INT64_MAX, INT64_MAX, 6, 1}};
    round_trip(p, 6);
    round_trip(p + 3, 3);
    struct mpoint q[2] = {{INT64_MIN, INT64_MIN, 0, 0}, {INT64_MAX, INT64_MAX, 0, 0}};
    CHECK_EQ_INT(MODE(round_trip(q, 2)), NONE);
    struct mpoint one = {T0, 42, 26.2, 1};
    round_trip(&one, 1);
}

static void test_nulls(void)
{
    static struct mpoint p[MBLK_MAX];
    const double v[] = {26.2, 26.25, 26.3};
    for (size_t n = 1; n <= 17; n++) {
        series(p, n, v, 3);
        for (size_t i = 0; i < n; i++)
            p[i].has = 0;
        int head = round_trip(p, n);
        CHECK_EQ_INT(MODE(head), NONE);
        CHECK_EQ_INT(HAS_NULLS(head), 0);
    }
    /* one NULL at each place, every other one, all but one */
    for (size_t n = 2; n <= 17; n++) {
        for (size_t at = 0; at < n; at++) {
            series(p, n, v, 3);
            p[at].has = 0;
            int head = round_trip(p, n);
            CHECK_EQ_INT(MODE(head), DECIMAL);
            CHECK_EQ_INT(HAS_NULLS(head), 1);
            for (size_t i = 0; i < n; i++)
                p[i].has = i == at;
            CHECK_EQ_INT(HAS_NULLS(round_trip(p, n)), 1);
        }
    }
    series(p, MBLK_MAX, v, 3);
    for (size_t i = 0; i < MBLK_MAX; i++) {
        p[i].has = i % 2;
        if (i % 10 == 0) p[i].value = from_bits(0x7ff8000000000000 | i); /* absent: not kept */
    }
    CHECK_EQ_INT(MODE(round_trip(p, MBLK_MAX)), DECIMAL);
    p[7].value = 0.1 + 0.2;
    CHECK_EQ_INT(MODE(round_trip(p, MBLK_MAX)), RAW);
}

/* Each special double among ordinary readings, first, in the middle and
 * last: raw mode, bit for bit. */
static void test_special_doubles(void)
{
    const double special[] = {
        -0.0,
        from_bits(0x7ff8000000000123), /* quiet NaN with a payload */
        from_bits(0xfff0000000000abc), /* negative signalling NaN */
        NAN,
        INFINITY,
        -INFINITY,
        from_bits(1), /* the smallest subnormal */
        DBL_TRUE_MIN * 12345,
        DBL_MAX,
        -DBL_MAX,
        DBL_MIN,
        0.1 + 0.2,
        1e-300,
    };
    const double ordinary[] = {26.2, 0.05, 3.0, -4.75, 26.2, 26.2};
    struct mpoint p[8];
    for (size_t s = 0; s < sizeof special / sizeof special[0]; s++) {
        for (size_t at = 0; at < 7; at += 3) {
            series(p, 7, ordinary, 6);
            p[at].value = special[s];
            CHECK_EQ_INT(MODE(round_trip(p, 7)), RAW);
            p[(at + 1) % 7].has = 0;
            CHECK_EQ_INT(MODE(round_trip(p, 7)), RAW);
        }
        series(p, 1, special + s, 1);
        round_trip(p, 1);
    }
    /* all of them in one block, and each twice in a row (XOR 0) */
    struct mpoint q[2 * sizeof special / sizeof special[0]];
    size_t nq = sizeof q / sizeof q[0];
    for (size_t i = 0; i < nq; i++)
        q[i] = (struct mpoint){T0 + (int64_t)i, (int64_t)i, special[i / 2], 1};
    CHECK_EQ_INT(MODE(round_trip(q, nq)), RAW);
}

/* 256 points as the seed posts them: every 10 minutes with a few ms of
 * jitter, documents ~100 apart, readings with 2 decimals moving slowly. */
static void test_size(void)
{
    static struct mpoint p[MBLK_MAX];
    srand(3);
    int64_t doc = 812345, centi = 2620;
    for (int i = 0; i < MBLK_MAX; i++) {
        doc += 90 + rand() % 21;
        centi += rand() % 41 - 20;
        p[i] = (struct mpoint){T0 + i * CADENCE + rand() % 7, doc, (double)centi / 100, 1};
    }
    CHECK_EQ_INT(MODE(round_trip(p, MBLK_MAX)), DECIMAL);
    printf("seed-shaped block: %zu bytes for %d points (%.2f bytes a point)\n", blk.len, MBLK_MAX,
           (double)blk.len / MBLK_MAX);
    CHECK(blk.len <= 6 * MBLK_MAX);

    for (int i = 0; i < MBLK_MAX; i++) /* the cadence exact */
        p[i].ts = T0 + i * CADENCE;
    round_trip(p, MBLK_MAX);
    printf("the same on an exact cadence: %zu bytes (%.2f a point)\n", blk.len,
           (double)blk.len / MBLK_MAX);
    CHECK(blk.len <= 5 * MBLK_MAX);
}

/* Blocks of every mode, for the damage tests: blocks[i] of lens[i] bytes. */
#define NBLOCKS 6
static uint8_t blocks[NBLOCKS][8192];
static size_t lens[NBLOCKS];

static void make_blocks(void)
{
    static struct mpoint p[MBLK_MAX];
    const double v[] = {26.2, 26.25, -0.5, 3.0};
    const double w[] = {26.2, 0.1 + 0.2, -0.0, DBL_MAX, 1e-310};
    size_t n[NBLOCKS] = {40, 40, 40, 40, 1, 200};
    for (int b = 0; b < NBLOCKS; b++) {
        series(p, n[b], b == 1 || b == 3 ? w : v, b == 1 || b == 3 ? 5 : 4);
        for (size_t i = 0; i < n[b]; i++) {
            p[i].ts += (int64_t)(i * i % 13) - 6;
            if (b == 2) p[i].has = 0;
            if ((b == 3 && i % 3 == 0) || (b == 5 && i % 7 == 3)) p[i].has = 0;
        }
        buf_reset(&blk);
        mblk_encode(&blk, p, n[b]);
        memcpy(blocks[b], blk.data, blk.len);
        lens[b] = blk.len;
    }
}

static void test_cut_short(void)
{
    static struct mpoint out[MBLK_MAX];
    for (int b = 0; b < NBLOCKS; b++) {
        CHECK(dec(blocks[b], lens[b], out) > 0);
        size_t refused = 0;
        for (size_t len = 0; len < lens[b]; len++)
            refused += dec(blocks[b], len, out) == -1;
        CHECK_EQ_INT(refused, lens[b]);
        uint8_t longer[8193];
        memcpy(longer, blocks[b], lens[b]);
        for (int extra = 0; extra < 256; extra += 85) {
            longer[lens[b]] = (uint8_t)extra;
            CHECK_EQ_INT(dec(longer, lens[b] + 1, out), -1);
        }
    }
}

static void test_bit_flips(void)
{
    static struct mpoint out[MBLK_MAX];
    uint8_t copy[8192];
    size_t decoded = 0, flips = 0;
    for (int b = 0; b < NBLOCKS; b++) {
        for (size_t bit = 0; bit < lens[b] * 8; bit++) {
            memcpy(copy, blocks[b], lens[b]);
            copy[bit / 8] ^= (uint8_t)(1u << bit % 8);
            int n = dec(copy, lens[b], out);
            flips++;
            if (n == -1) continue;
            decoded++;
            CHECK(n >= 1 && n <= MBLK_MAX);
            CHECK(strictly_increasing(out, n));
        }
    }
    /* most flips in a value or a delta still make a block */
    CHECK(decoded > 0 && decoded < flips);
}

/* A hand-made block: head, then varints, then raw bytes. */
struct mk {
    uint8_t b[4096];
    size_t n;
};

static void mk_byte(struct mk *m, unsigned c)
{
    m->b[m->n++] = (uint8_t)c;
}

static void mk_varint(struct mk *m, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        mk_byte(m, (unsigned)(v | 0x80));
    mk_byte(m, (unsigned)v);
}

static uint64_t zz(int64_t x)
{
    return ((uint64_t)x << 1) ^ (0 - ((uint64_t)x >> 63));
}

/* An all-NULL block of n points at ts 0, 1, ..., docs 0. */
static void mk_nulls(struct mk *m, uint64_t n)
{
    m->n = 0;
    mk_byte(m, 0x12);
    mk_varint(m, n);
    mk_varint(m, 0);
    for (uint64_t i = 1; i < n; i++)
        mk_varint(m, zz(i == 1));
    for (uint64_t i = 0; i < n; i++)
        mk_varint(m, 0);
}

static void test_counts(void)
{
    static struct mpoint out[MBLK_MAX + 1];
    struct mk m;
    mk_nulls(&m, MBLK_MAX);
    CHECK_EQ_INT(mblk_decode(m.b, m.n, out), MBLK_MAX);
    CHECK(out[MBLK_MAX - 1].ts == MBLK_MAX - 1 && !out[MBLK_MAX - 1].has);
    mk_nulls(&m, MBLK_MAX + 1);
    CHECK_EQ_INT(mblk_decode(m.b, m.n, out), -1);
    mk_nulls(&m, 1);
    CHECK_EQ_INT(dec(m.b, m.n, out), 1);
    mk_nulls(&m, 0);
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    const uint8_t zero[] = {0x12, 0, 0, 0};
    CHECK_EQ_INT(dec(zero, sizeof zero, out), -1);
    /* the count as 0x80 0x00, 1 written in two bytes: not the shortest */
    const uint8_t long_one[] = {0x12, 0x81, 0x00, 0, 0};
    CHECK_EQ_INT(dec(long_one, sizeof long_one, out), -1);
    const uint8_t one[] = {0x12, 0x01, 0, 0};
    CHECK_EQ_INT(dec(one, sizeof one, out), 1);
}

/* One decimal point at ts t, doc 0, k: head, n, ts, doc, s, k; bytes
 * changed by the caller. */
static void mk_decimal(struct mk *m, uint64_t ts_varint, unsigned s, uint64_t k_varint)
{
    m->n = 0;
    mk_byte(m, 0x11);
    mk_byte(m, 1);
    mk_varint(m, ts_varint);
    mk_byte(m, 0);
    mk_byte(m, s);
    mk_varint(m, k_varint);
}

static void test_bad_blocks(void)
{
    static struct mpoint out[MBLK_MAX];
    struct mk m;
    mk_decimal(&m, zz(T0), 1, zz(262));
    CHECK_EQ_INT(dec(m.b, m.n, out), 1);
    CHECK(out[0].ts == T0 && out[0].value == 26.2);

    /* the format byte: another version, the zero bit, mode 3, NULLS with none */
    const unsigned heads[] = {0x01, 0x21, 0xf1, 0x19, 0x13, 0x16};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        m.b[0] = (uint8_t)heads[i];
        CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    }

    /* s above 15; k at 2^53 either side */
    mk_decimal(&m, 0, 16, 2);
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    mk_decimal(&m, 0, 15, 2);
    CHECK_EQ_INT(dec(m.b, m.n, out), 1);
    mk_decimal(&m, 0, 0, zz((1LL << 53) - 1));
    CHECK_EQ_INT(dec(m.b, m.n, out), 1);
    mk_decimal(&m, 0, 0, zz(1LL << 53));
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    mk_decimal(&m, 0, 0, zz(-(1LL << 53)));
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);

    /* varints: 10 bytes at most, the 10th 0 or 1; none ending in a 0 byte */
    mk_decimal(&m, UINT64_MAX, 0, 0);
    CHECK_EQ_INT(dec(m.b, m.n, out), 1);
    CHECK(out[0].ts == INT64_MIN);
    m.b[2 + 9] = 0x02; /* the 10th byte of the ts: a bit past 64 */
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    const uint8_t eleven[] = {0x12, 1,    0x80, 0x80, 0x80, 0x80, 0x80,
                              0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0};
    CHECK_EQ_INT(dec(eleven, sizeof eleven, out), -1);
    const uint8_t padded[] = {0x12, 1, 0x80, 0x00, 0};
    CHECK_EQ_INT(dec(padded, sizeof padded, out), -1);
    const uint8_t plain[] = {0x12, 1, 0x00, 0};
    CHECK_EQ_INT(dec(plain, sizeof plain, out), 1);
}

static void test_bad_order(void)
{
    static struct mpoint out[MBLK_MAX];
    struct mk m;
    /* ts 10, 20, then 20 + the delta 10 + dod; docs 7, 8, then 8 + ddoc */
    const struct {
        int64_t dod, ddoc;
        int n;
    } cases[] = {{-5, 0, 3}, {-11, 0, -1}, {-10, 0, -1}, {-10, 1, 3}, {-5, -1, 3}, {-10, -1, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m.n = 0;
        mk_byte(&m, 0x12);
        mk_byte(&m, 3);
        mk_varint(&m, zz(10));
        mk_varint(&m, zz(10));
        mk_varint(&m, zz(cases[i].dod));
        mk_varint(&m, zz(7));
        mk_varint(&m, zz(1));
        mk_varint(&m, zz(cases[i].ddoc));
        CHECK_EQ_INT(dec(m.b, m.n, out), cases[i].n);
        if (cases[i].n > 0)
            CHECK(out[2].ts == 30 + cases[i].dod && out[2].doc == 8 + cases[i].ddoc);
    }
    /* ts equal, doc going down: out of order; up: fine */
    const uint8_t down[] = {0x12, 2, 0, 0, 10, 1};
    CHECK_EQ_INT(dec(down, sizeof down, out), -1);
    const uint8_t up[] = {0x12, 2, 0, 0, 10, 2};
    CHECK_EQ_INT(dec(up, sizeof up, out), 2);

    /* a sum past INT64_MAX wraps to the negative: out of order */
    m.n = 0;
    mk_byte(&m, 0x12);
    mk_byte(&m, 2);
    mk_varint(&m, zz(INT64_MAX));
    mk_varint(&m, zz(1));
    mk_varint(&m, 0);
    mk_varint(&m, 2);
    CHECK_EQ_INT(dec(m.b, m.n, out), -1);
    m.b[m.n - 3] = 0; /* the delta 0, the doc +1: fine */
    CHECK_EQ_INT(dec(m.b, m.n, out), 2);
}

/* Raw values: (t << 4 | m) then m bytes; the bitmap's rules. */
static void test_bad_values(void)
{
    static struct mpoint out[MBLK_MAX];
    const uint8_t good[] = {0x10, 2, 0, 2, 0, 2, 0x71, 0x80, 0x00};
    CHECK_EQ_INT(dec(good, sizeof good, out), 2);
    CHECK(bits(out[0].value) == bits(-0.0) && bits(out[1].value) == bits(-0.0));
    const uint8_t eight[] = {0x10, 1, 0, 0, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ_INT(dec(eight, sizeof eight, out), 1);
    CHECK(bits(out[0].value) == 0x0807060504030201);

    uint8_t v[sizeof eight];
    const uint8_t bad_heads[] = {0x09, 0x0f, 0x18, 0x80};
    for (size_t i = 0; i < sizeof bad_heads; i++) {
        memcpy(v, eight, sizeof v);
        v[4] = bad_heads[i];
        CHECK_EQ_INT(dec(v, sizeof v, out), -1);
    }
    memcpy(v, eight, sizeof v);
    v[5] = 0; /* a zero low byte: t should be 1 */
    CHECK_EQ_INT(dec(v, sizeof v, out), -1);
    memcpy(v, eight, sizeof v);
    v[12] = 0; /* a zero high byte: m should be 7 */
    CHECK_EQ_INT(dec(v, sizeof v, out), -1);
    const uint8_t zero_bytes[] = {0x10, 1, 0, 0, 0x01, 0x00};
    CHECK_EQ_INT(dec(zero_bytes, sizeof zero_bytes, out), -1);
    const uint8_t xor0[] = {0x10, 1, 0, 0, 0x00};
    CHECK_EQ_INT(dec(xor0, sizeof xor0, out), 1);
    CHECK(bits(out[0].value) == 0);
    const uint8_t t_without_m[] = {0x10, 1, 0, 0, 0x10};
    CHECK_EQ_INT(dec(t_without_m, sizeof t_without_m, out), -1);
    const uint8_t t7_without_m[] = {0x10, 1, 0, 0, 0x70};
    CHECK_EQ_INT(dec(t7_without_m, sizeof t7_without_m, out), -1);

    /* NULLS: bitmap 0b10 of 2 points; all set, all clear and a bit past n refused */
    const uint8_t nulls[] = {0x15, 2, 0, 2, 0, 2, 0x02, 0, 6};
    CHECK_EQ_INT(dec(nulls, sizeof nulls, out), 2);
    CHECK(!out[0].has && out[1].has && out[1].value == 3.0);
    const uint8_t maps[] = {0x06, 0x82};
    for (size_t i = 0; i < sizeof maps; i++) {
        memcpy(v, nulls, sizeof nulls);
        v[6] = maps[i];
        CHECK_EQ_INT(dec(v, sizeof nulls, out), -1);
    }
    const uint8_t all_set[] = {0x15, 2, 0, 2, 0, 2, 0x03, 0, 6, 2}; /* 3.0, 4.0 */
    CHECK_EQ_INT(dec(all_set, sizeof all_set, out), -1);
    const uint8_t no_nulls[] = {0x11, 2, 0, 2, 0, 2, 0, 6, 2};
    CHECK_EQ_INT(dec(no_nulls, sizeof no_nulls, out), 2);
    CHECK(out[0].value == 3.0 && out[1].value == 4.0);
    const uint8_t all_clear[] = {0x15, 2, 0, 2, 0, 2, 0x00, 0};
    CHECK_EQ_INT(dec(all_clear, sizeof all_clear, out), -1);
    const uint8_t none_with_map[] = {0x16, 2, 0, 2, 0, 2, 0x02};
    CHECK_EQ_INT(dec(none_with_map, sizeof none_with_map, out), -1);
}

int main(void)
{
    make_blocks();
    RUN(test_gas_readings);
    RUN(test_golden);
    RUN(test_times);
    RUN(test_extremes);
    RUN(test_nulls);
    RUN(test_special_doubles);
    RUN(test_size);
    RUN(test_cut_short);
    RUN(test_bit_flips);
    RUN(test_counts);
    RUN(test_bad_blocks);
    RUN(test_bad_order);
    RUN(test_bad_values);
    buf_free(&blk);
    TEST_MAIN_END();
}
