/* gzip.c: see gzip.h. One deflate() call into a buffer sized by
 * deflateBound(), so there is no loop over partial outputs. */
#include "core/gzip.h"
#include "core/err.h"

#include <limits.h>
#include <zlib.h>

int gzip_buf(const void *in, size_t n, int level, struct buf *out)
{
    z_stream z = {0};
    if (n > UINT_MAX) return GK_EIO;
    /* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
    int rc = deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) return rc == Z_MEM_ERROR ? GK_ENOMEM : GK_EIO;
    size_t bound = deflateBound(&z, (uLong)n);
    buf_reserve(out, bound);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    rc = deflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END) {
        out->len += z.total_out;
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : GK_EIO;
}

int gzip_replace(struct buf *b, size_t min_len)
{
    struct buf z = {0};
    if (b->len < min_len || gzip_buf(b->data, b->len, 1, &z) != 0) {
        buf_free(&z);
        return 0;
    }
    buf_free(b);
    *b = z;
    return 1;
}
