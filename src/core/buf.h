/* buf.h: a growable byte buffer.
 *
 * `data` is always NUL-terminated (when allocated) so text can be used in
 * place; `len` excludes the terminator. A zeroed struct buf is an empty
 * buffer. Growth aborts on exhaustion (mem.h). */
#ifndef GASKET_CORE_BUF_H
#define GASKET_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Makes room for at least `extra` more bytes beyond len. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
/* v in decimal, as printf's %" PRId64 " writes it, without printf: at p
 * (room for 20 bytes, no NUL written; returns the end), or appended. */
char *i64_text(char *p, int64_t v);
void buf_put_i64(struct buf *b, int64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259. */
void buf_json_str(struct buf *b, const char *s, size_t n);
/* Drops the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Hands the storage to the caller (who frees it) and empties the buffer. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
