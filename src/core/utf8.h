/* utf8.h: UTF-8 well-formedness (Unicode table 3-7), shared by the payload
 * validator and the MQTT codec. */
#ifndef GASKET_CORE_UTF8_H
#define GASKET_CORE_UTF8_H

#include <stddef.h>

/* The length (1..4) of the well-formed sequence at p[0..n), n >= 1; 0 when
 * it is ill-formed or cut short; -1 when it is a well-formed encoding of a
 * surrogate (U+D800..U+DFFF), which is not a scalar value either. */
int utf8_seq(const unsigned char *p, size_t n);

#endif
