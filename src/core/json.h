/* json.h: compact JSON text of a jansson value, with numbers as short as
 * they can be.
 *
 * jansson prints every real with 17 significant digits, so a reading's
 * 26.2 comes back as 26.199999999999999: the same double, but not what the
 * device sent, and longer. json_write() prints each real with the fewest
 * digits (15, 16 or 17) that read back as the same double, keeping a ".0"
 * on integral values so they stay reals; everything else as jansson would,
 * compact, members in their order. */
#ifndef GASKET_CORE_JSON_H
#define GASKET_CORE_JSON_H

#include <jansson.h>

#include "core/buf.h"

/* A string whose first byte is NUL is written as the rest of its bytes,
 * unquoted: already JSON text, spliced in as is (query replies carry stored
 * documents that way). Documents parsed by jansson never hold a NUL. */
#define JSON_WRITE_RAW_NUL 1

/* Appends v's JSON text to b. */
void json_write(struct buf *b, const json_t *v, int flags);
/* Appends the shortest text of d that reads back as d (d finite). */
void json_write_real(struct buf *b, double d);

#endif
