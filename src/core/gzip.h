/* gzip.h: a gzip member (RFC 1952) of a buffer, for HTTP replies that are
 * worth compressing (Content-Encoding: gzip). CPU only: call it off the
 * event loop for large inputs (the query pool does, for search replies). */
#ifndef GASKET_CORE_GZIP_H
#define GASKET_CORE_GZIP_H

#include <stddef.h>

#include "core/buf.h"

/* Appends the gzip of in[0..n) at level 1..9 to out. 0, or GK_ENOMEM /
 * GK_EIO when zlib fails (out is then as it was). */
int gzip_buf(const void *in, size_t n, int level, struct buf *out);

/* Replaces b by its gzip at level 1 when b holds at least min_len bytes:
 * 1 when replaced, 0 when b stays as it was (shorter, or zlib failed). */
int gzip_replace(struct buf *b, size_t min_len);

#endif
