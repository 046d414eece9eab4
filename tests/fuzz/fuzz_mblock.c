/* fuzz_mblock.c: libFuzzer target for store/store_block.c, the codec of
 * measurement blocks (read back from gasket.db, where a bad disk or an
 * older bug may have left any bytes).
 *
 * The input is read twice:
 * - as a block (given exactly: over-reads are caught). When it decodes, its
 *   points are in strictly increasing (ts, doc) order, absent values read
 *   0.0, and encoding them again gives a block that decodes to the same
 *   points bit for bit, and encodes once more to the same bytes. A block
 *   in the raw or the none mode that encodes again in the same mode must
 *   be the same bytes as the input: there every point has one encoding
 *   (in the decimal mode, a larger s than needed is read too);
 * - as points, POINT_BYTES each (at most MBLK_MAX): a control byte, then
 *   ts, doc and the value's bits (8 bytes each, little-endian). Control bit
 *   0 set: the value is NULL; bit 1 set: the value is decimal-shaped,
 *   (double)k / 10^s with k the value's bits modulo 2^53 (signed by bit 63)
 *   and s bits 2-5 (so the decimal mode is reached, not only the raw one).
 *   Sorted by (ts, doc), duplicates dropped, they are encoded and must
 *   decode to the same points bit for bit.
 * Corpus: tests/fuzz/corpus/mblock (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/store_block.h"

#define POINT_BYTES 25

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static int cmp_key(const void *a, const void *b)
{
    const struct mpoint *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int same(const struct mpoint *a, const struct mpoint *b, int n)
{
    for (int i = 0; i < n; i++) {
        if (a[i].ts != b[i].ts || a[i].doc != b[i].doc || a[i].has != b[i].has) return 0;
        if (a[i].has && bits_of(a[i].value) != bits_of(b[i].value)) return 0;
    }
    return 1;
}

/* Encodes p[0..n), decodes it into q and checks they are the same. */
static void round_trip(struct buf *b, const struct mpoint *p, int n, struct mpoint *q)
{
    b->len = 0;
    mblk_encode(b, p, (size_t)n);
    if (mblk_decode(b->data, b->len, q) != n || !same(p, q, n)) abort();
}

static void as_block(const uint8_t *data, size_t size)
{
    static struct mpoint p[MBLK_MAX], q[MBLK_MAX];
    int n = mblk_decode(data, size, p);
    if (n == -1) return;
    if (n < 1 || n > MBLK_MAX) abort();
    for (int i = 0; i < n; i++) {
        if ((p[i].has != 0 && p[i].has != 1) || (!p[i].has && bits_of(p[i].value) != 0)) abort();
        if (i && cmp_key(&p[i - 1], &p[i]) >= 0) abort();
    }
    struct buf first = {0}, second = {0};
    round_trip(&first, p, n, q);
    round_trip(&second, q, n, p);
    if (first.len != second.len || memcmp(first.data, second.data, first.len)) abort();
    if ((data[0] & 3) != 1 && (uint8_t)first.data[0] == data[0] &&
        (first.len != size || memcmp(first.data, data, size)))
        abort();
    buf_free(&first);
    buf_free(&second);
}

static uint64_t le64(const uint8_t *q)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | q[i];
    return u;
}

static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static void as_points(const uint8_t *data, size_t size)
{
    static struct mpoint p[MBLK_MAX], q[MBLK_MAX];
    size_t n = size / POINT_BYTES;
    if (n > MBLK_MAX) n = MBLK_MAX;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = data + i * POINT_BYTES;
        uint64_t v = le64(r + 17);
        p[i].ts = (int64_t)le64(r + 1);
        p[i].doc = (int64_t)le64(r + 9);
        p[i].has = !(r[0] & 1);
        if (r[0] & 2) {
            int64_t k = (int64_t)(v & ((UINT64_C(1) << 53) - 1));
            p[i].value = (double)(v >> 63 ? -k : k) / p10[r[0] >> 2 & 15];
        } else {
            memcpy(&p[i].value, &v, sizeof v);
        }
        if (!p[i].has) p[i].value = 0;
    }
    if (!n) return;
    qsort(p, n, sizeof p[0], cmp_key);
    size_t kept = 1;
    for (size_t i = 1; i < n; i++)
        if (cmp_key(&p[kept - 1], &p[i]) != 0) p[kept++] = p[i];
    struct buf b = {0};
    round_trip(&b, p, (int)kept, q);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_block(data, size);
    as_points(data, size);
    return 0;
}
