/* reading_scan.h: the two paths of reading_parse() (reading.h), declared for
 * reading.c and for the tests that check the paths agree.
 *
 * reading_scan() is the one pass over the raw body that the common reading
 * takes: it validates and extracts everything (groupid, gps, measurements, the
 * flags) without building a tree. It accepts only bodies the tree path
 * accepts, with the same result, and declines everything else (invalid bodies
 * included: their errors come from the tree path). */
#ifndef GASKET_GATEWAY_READING_SCAN_H
#define GASKET_GATEWAY_READING_SCAN_H

#include "gateway/reading.h"

/* Fills *r from body[0..len) (r->doc stays NULL) and returns 0, or returns 1
 * (r undefined, nothing to free) when the body needs the tree path: escapes
 * in strings, numbers longer than 40 characters, more members than it keeps
 * count of, names that do not fit r->names, and every invalid body. */
int reading_scan(struct reading *r, const char *body, size_t len);

/* The tree path alone: jansson, then the walk over the tree (reading.c). */
int reading_parse_tree(struct reading *r, const char *body, size_t len, struct reading_error *err);

/* 1 when a and b hold the same reading (groupid, position, measurements bit
 * for bit, members, `date` and `emergency`): how the tests compare paths. */
int reading_same(const struct reading *a, const struct reading *b);

#endif
