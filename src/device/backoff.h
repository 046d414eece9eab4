/* backoff.h: exponential backoff with jitter, for clients that retry a
 * server (gasket-pub's sends, gasket-sub's reconnects).
 *
 * Pure: no clock, no sleeping; the caller asks for the next delay and waits
 * it out its own way. The n-th delay after a failure is drawn uniformly from
 * [d/2, d], d = min(max_ms, base_ms * 2^n) ("equal jitter": never shorter
 * than half the step, so a fleet of devices that lost the server at once
 * spreads its retries without retrying at once). A server's Retry-After is a
 * floor on the next delay (and may exceed max_ms). */
#ifndef GASKET_DEVICE_BACKOFF_H
#define GASKET_DEVICE_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint64_t base_ms, max_ms;
    unsigned failures; /* since the last success */
    uint64_t rng;      /* xorshift64* state, never 0 */
};

/* base_ms > 0, max_ms >= base_ms; seed: any value (0 is replaced). */
void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms, uint64_t seed);
/* After a failure: the delay before the next try, in ms; retry_after_ms
 * (0: none) is a floor. */
uint64_t backoff_next(struct backoff *b, uint64_t retry_after_ms);
/* After a success: the next failure starts from base_ms again. */
void backoff_reset(struct backoff *b);
/* A uniform draw in [0, n) from b's generator (n > 0). */
uint64_t backoff_rand(struct backoff *b, uint64_t n);

#endif
