/* guard.h: input placed right before an inaccessible page, for the unit
 * tests of parsers and decoders: reading one byte past the end crashes,
 * with or without ASan. Header-only; one buffer per test program, each
 * call replacing the last. */
#ifndef GASKET_TESTS_GUARD_H
#define GASKET_TESTS_GUARD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *guard_base;
static size_t guard_size;

/* A copy of p[0..n) ending right before an inaccessible page. */
static inline const uint8_t *guarded(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (guard_base) munmap(guard_base, guard_size);
    guard_size = (n + page - 1) / page * page + page;
    guard_base = mmap(NULL, guard_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED) abort();
    mprotect(guard_base + guard_size - page, page, PROT_NONE);
    uint8_t *dst = guard_base + guard_size - page - n;
    if (n) memcpy(dst, p, n);
    return dst;
}

#endif
