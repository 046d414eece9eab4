/* store_block.h: measurement blocks, a compact encoding of one series'
 * points (the codec alone; store_block.c describes the bytes).
 *
 * A block holds 1..MBLK_MAX points of one series (index, group, name), in
 * (ts, doc) order. The codec is pure: it neither knows where a block is
 * kept nor touches SQLite, so it can be tested and fuzzed on its own. */
#ifndef GASKET_STORE_STORE_BLOCK_H
#define GASKET_STORE_STORE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MBLK_MAX 256 /* points in one block at most */

/* One measurement of a series: a measurements row less its (idx, grp, name). */
struct mpoint {
    int64_t ts;   /* epoch ms */
    int64_t doc;  /* the document id */
    double value; /* meaningful when has */
    int has;      /* 0: the value is SQL NULL */
};

/* Appends to b the block of p[0..n): 1 <= n <= MBLK_MAX, sorted by (ts, doc), no two points with
 * the same (ts, doc) (asserted). Every value comes back bit for bit (-0.0, NaN payloads,
 * infinities and subnormals included). Grows b (aborts when out of memory, as buf.h). */
void mblk_encode(struct buf *b, const struct mpoint *p, size_t n);

/* Decodes the block data[0..len) into p (room for MBLK_MAX points); returns its number of points
 * (1..MBLK_MAX), or -1 when the bytes are not a block mblk_encode writes: truncated, trailing
 * bytes, a count of 0 or above MBLK_MAX, points not strictly increasing by (ts, doc), an integer
 * overflow, an unknown format byte. Absent values (has 0) read as 0.0. Never reads outside
 * data[0..len), never allocates; p's contents are unspecified after -1. */
int mblk_decode(const void *data, size_t len, struct mpoint *p);

#endif
