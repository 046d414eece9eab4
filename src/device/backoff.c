/* backoff.c: exponential backoff with jitter (backoff.h). */
#include "device/backoff.h"

void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms, uint64_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms >= b->base_ms ? max_ms : b->base_ms;
    b->failures = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t backoff_rand(struct backoff *b, uint64_t n)
{
    b->rng ^= b->rng >> 12; /* xorshift64* */
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (b->rng * 0x2545f4914f6cdd1dull >> 11) % n;
}

uint64_t backoff_next(struct backoff *b, uint64_t retry_after_ms)
{
    uint64_t d = b->base_ms;
    for (unsigned i = 0; i < b->failures && d < b->max_ms; i++)
        d *= 2;
    if (d > b->max_ms) d = b->max_ms;
    if (b->failures < 64) b->failures++;
    d = d - d / 2 + backoff_rand(b, d / 2 + 1); /* [d - d/2, d] */
    return d < retry_after_ms ? retry_after_ms : d;
}

void backoff_reset(struct backoff *b)
{
    b->failures = 0;
}
