/* url.h: percent-decoding of URL query strings and path segments. */
#ifndef GASKET_CORE_URL_H
#define GASKET_CORE_URL_H

#include <stddef.h>

/* Decodes s[0..n) (percent-encoding, '+' as a space) into out[cap] with a
 * terminating NUL. Returns the decoded length, -1 for a bad escape (a '%'
 * not followed by two hex digits) or a %00, -2 when it does not fit. */
int url_decode(const char *s, size_t n, char *out, size_t cap);
/* As url_decode for one segment of a URL path, where '+' is itself. */
int url_decode_segment(const char *s, size_t n, char *out, size_t cap);
/* The same as url_decode into a new string (the caller frees it); NULL for a bad escape
 * or a %00. */
char *url_decode_dup(const char *s, size_t n);

#endif
