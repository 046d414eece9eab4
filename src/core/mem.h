/* mem.h: gasket's out-of-memory policy, decided once.
 *
 * Internal allocations never fail: xmalloc() and friends abort the process
 * with a message when the C library returns NULL. Sizes a peer controls
 * (bodies, packets, queries) are checked against configured limits *before*
 * allocating, so a client cannot drive the daemon into this path. */
#ifndef GASKET_CORE_MEM_H
#define GASKET_CORE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* The same end for memory a library allocates itself (a zstd context):
 * the message, then abort(). n: the bytes asked for, 0 when unknown. */
_Noreturn void xoom(size_t n);

#endif
