/* json.h: JSON text of a jansson value, with numbers as short as they can
 * be.
 *
 * jansson prints every real with 17 significant digits, so a reading's
 * 26.2 comes back as 26.199999999999999: the same double, but not what the
 * device sent, and longer. json_write() prints each real with the fewest
 * digits (15, 16 or 17) that read back as the same double, keeping a ".0"
 * on integral values so they stay reals; everything else byte for byte as
 * jansson's json_dumps() would with JSON_ENCODE_ANY (any value at the top)
 * and JSON_COMPACT, or JSON_INDENT(n) when JSON_WRITE_INDENT(n) is given;
 * members in their order unless JSON_WRITE_SORT_KEYS. Use it wherever a
 * stored or echoed number is printed, never json_dumps(). */
#ifndef GASKET_CORE_JSON_H
#define GASKET_CORE_JSON_H

#include <jansson.h>

#include "core/buf.h"

/* A string whose first byte is NUL is written as the rest of its bytes,
 * unquoted: already JSON text, spliced in as is (query replies carry stored
 * documents that way). Documents parsed by jansson never hold a NUL. */
#define JSON_WRITE_RAW_NUL 1
/* Members sorted by key (strcmp), as JSON_SORT_KEYS. */
#define JSON_WRITE_SORT_KEYS 2
/* Each member and element on its own line, indented n (1..31) spaces per
 * level, ": " after keys: jansson's JSON_INDENT(n) without JSON_COMPACT. */
#define JSON_WRITE_INDENT(n) (((n) & 0x1F) << 8)
#define JSON_WRITE_INDENT_OF(flags) (((flags) >> 8) & 0x1F)

/* Appends v's JSON text to b. */
void json_write(struct buf *b, const json_t *v, int flags);
/* v's JSON text in a new string (free() it); NULL when v is NULL. */
char *json_text(const json_t *v, int flags);
/* Appends the shortest text of d that reads back as d (d finite). */
void json_write_real(struct buf *b, double d);
/* The printf path of json_write_real alone (without ".0"), for tests. */
int json__real_text_printf(char *tmp, size_t size, double d);

#endif
