/* reading_text.h: the checks on the text of a reading's members (numeric
 * strings, "lat, lon", times, the groupid's text form), shared by the one-pass
 * scanner (reading_scan.c) and the tree walk (reading.c) so that both accept
 * exactly the same values. Every function reads a NUL-terminated string. */
#ifndef GASKET_GATEWAY_READING_TEXT_H
#define GASKET_GATEWAY_READING_TEXT_H

#include <stddef.h>

/* A measurement value given as a string: a plain finite decimal number
 * ([+-]digits[.digits][e[+-]digits], no hex, inf or nan) with optional
 * whitespace around it. Returns 0 with *out set, or -1. */
int reading_value_text(const char *s, double *out);

/* "lat, lon" with whitespace allowed around the comma and at the ends (no
 * range check). Returns 0 or -1. */
int reading_gps_text(const char *s, double *lat, double *lon);

/* "YYYY-MM-DD HH:MM:SS" or ISO 8601 "YYYY-MM-DDTHH:MM:SS[.f][Z|+HH:MM]", a
 * real calendar date and time of day. Returns 0 or -1. */
int reading_time_text(const char *s);

/* The shortest text form of d that reads back as d ("2.5", not "2.5000..."). */
void reading_real_text(double d, char *out, size_t cap);

#endif
