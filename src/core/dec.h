/* dec.h: decimal text to a double, without strtod.
 *
 * Readings are decimals of a few digits ("26.20", "0.12"); strtod reads
 * them through its multi-precision path, a large part of a POST's CPU.
 * dec_read() reads the ones that need no such path: at most 15 significant
 * digits and a power of ten up to 1e22 either way (Clinger's fast path).
 * Both the digits and the power are then exact doubles, and one
 * multiplication or division rounds once, to the double strtod returns.
 * Decimals of 16 to 19 digits with a fraction (a position's "37.61002501514269")
 * are checked in 128-bit integers instead (dec_rounds_to), where the
 * compiler has them. */
#ifndef GASKET_CORE_DEC_H
#define GASKET_CORE_DEC_H

#include <stddef.h>
#include <stdint.h>

/* Reads s[0, n) as [+-]digits[.digits][(e|E)[+-]digits] (digits on at
 * least one side of the point) into *out and returns 1; returns 0, *out
 * untouched, for any other text and for decimals outside the fast path:
 * the caller then asks strtod, whose answer this always equals. */
int dec_read(const char *s, size_t n, double *out);

/* 1 when the decimal x * 10^-k reads back (strtod, rounding to nearest,
 * ties to even) as d, a positive normal double; 0 when it does not; -1
 * when this cannot tell (k outside 0..21, d not such a double, numbers too
 * wide for 128 bits, or no 128-bit integers). */
int dec_rounds_to(uint64_t x, int k, double d);

#endif
