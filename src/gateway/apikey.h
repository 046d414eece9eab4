/* apikey.h: API keys and their token-bucket throttles.
 *
 * A key set is built from the [apikey NAME] sections. Each key has a bucket
 * of `burst` tokens refilled at `rate` per second; a request takes one.
 * Reconfiguring (SIGHUP) keeps the bucket of every key whose name stays. */
#ifndef GASKET_GATEWAY_APIKEY_H
#define GASKET_GATEWAY_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct bucket {
    double tokens;
    int64_t last_ms;
};

/* Takes one token at time now_ms (starting full on first use). Returns 1
 * when taken; otherwise 0 and the seconds until one is available. */
int bucket_take(struct bucket *b, double rate, double burst, int64_t now_ms, double *wait_s);

enum apikey_verdict { APIKEY_OK, APIKEY_FORBIDDEN, APIKEY_THROTTLED };

struct apikeys;

struct apikeys *apikeys_new(void);
/* Replaces the keys with cfg[0..n). */
void apikeys_configure(struct apikeys *k, const struct cfg_apikey *cfg, size_t n);
/* Judges a request carrying `key` (NULL when absent) for route `path`
 * (NULL: an endpoint open to every key, such as /alarms).
 * On APIKEY_THROTTLED, *wait_s is the time until a token is available; on
 * APIKEY_OK, *name is the key's name. */
enum apikey_verdict apikeys_check(struct apikeys *k, const char *key, const char *path,
                                  int64_t now_ms, double *wait_s, const char **name);
/* 1 when key exists and may use route path (NULL: any), without taking a
 * token (for the items of a request already let in). */
int apikeys_allows(struct apikeys *k, const char *key, const char *path);
size_t apikeys_count(const struct apikeys *k);
void apikeys_free(struct apikeys *k);

#endif
