/* dash_limit.h: the limit on dashboard login attempts that fail, per client
 * address and per user name (docs/api.md, "Dashboard login").
 *
 * Each address and each user name has a token bucket (bucket_take of
 * apikey.h): an attempt takes a token of both before its password is
 * checked, and a successful one gives them back, so only failures count,
 * attempts running side by side included. An empty bucket refuses the
 * attempt, a right password too, until it refills. Each table holds at most
 * `max` names: a new one then evicts those whose bucket is full again (they
 * remember nothing), else the one idle longest. Loop thread only. */
#ifndef GASKET_GATEWAY_DASH_LIMIT_H
#define GASKET_GATEWAY_DASH_LIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Failed logins: 5 at once from an address, then one per 10 s; 10 at once
 * for a user name (from anywhere), then one per 10 s. */
#define DASH_LIMIT_ADDR_BURST 5
#define DASH_LIMIT_USER_BURST 10
#define DASH_LIMIT_RATE       0.1 /* per second */
#define DASH_LIMIT_MAX        4096

struct dash_limit;

/* A limiter whose tables hold at most max (at least 1) names each. */
struct dash_limit *dash_limit_new(size_t max);
/* Takes a token of addr's and of user's bucket at now_ms (monotonic).
 * Returns 1 when both had one; otherwise 0 (nothing taken) and the seconds
 * until both have one in *wait_s. addr: the client's address without its
 * port. */
int dash_limit_take(struct dash_limit *l, const char *addr, const char *user, int64_t now_ms,
                    double *wait_s);
/* Gives back the tokens an attempt took (it succeeded). */
void dash_limit_refund(struct dash_limit *l, const char *addr, const char *user);
/* Names held by the address and the user table (for tests). */
size_t dash_limit_count(const struct dash_limit *l, int users);
void dash_limit_free(struct dash_limit *l);

#endif
