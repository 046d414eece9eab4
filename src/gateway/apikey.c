/* apikey.c: API keys and token-bucket throttling (see apikey.h). */
#include "gateway/apikey.h"
#include "core/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

struct key {
    char *name;
    char *key;
    size_t key_len;
    double rate, burst;
    char *routes;
    struct bucket bucket;
};

struct apikeys {
    struct key *v;
    size_t n;
};

int bucket_take(struct bucket *b, double rate, double burst, int64_t now_ms, double *wait_s)
{
    if (b->last_ms == 0) {
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * rate;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    if (now_ms > b->last_ms)
        b->last_ms = now_ms;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    *wait_s = (1.0 - b->tokens) / rate;
    return 0;
}

struct apikeys *apikeys_new(void)
{
    return xcalloc(1, sizeof(struct apikeys));
}

static void key_free(struct key *k)
{
    free(k->name);
    free(k->key);
    free(k->routes);
}

static const struct key *find_name(const struct apikeys *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i].name, name) == 0)
            return &k->v[i];
    return NULL;
}

void apikeys_configure(struct apikeys *k, const struct cfg_apikey *cfg, size_t n)
{
    struct key *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].name = xstrdup(cfg[i].name);
        v[i].key = xstrdup(cfg[i].key);
        v[i].key_len = strlen(cfg[i].key);
        v[i].rate = cfg[i].rate;
        v[i].burst = cfg[i].burst;
        v[i].routes = cfg[i].routes ? xstrdup(cfg[i].routes) : NULL;
        const struct key *old = find_name(k, cfg[i].name);
        if (old)
            v[i].bucket = old->bucket;
    }
    for (size_t i = 0; i < k->n; i++)
        key_free(&k->v[i]);
    free(k->v);
    k->v = v;
    k->n = n;
}

/* Finds the key by value, comparing every candidate in constant time. */
static struct key *find_key(struct apikeys *k, const char *key)
{
    size_t len = strlen(key);
    struct key *found = NULL;
    for (size_t i = 0; i < k->n; i++)
        if (k->v[i].key_len == len && CRYPTO_memcmp(k->v[i].key, key, len) == 0)
            found = &k->v[i];
    return found;
}

enum apikey_verdict apikeys_check(struct apikeys *k, const char *key, const char *path,
                                  int64_t now_ms, double *wait_s, const char **name)
{
    struct key *e = key ? find_key(k, key) : NULL;
    if (!e || (path && !config_route_allowed(e->routes, path)))
        return APIKEY_FORBIDDEN;
    if (!bucket_take(&e->bucket, e->rate, e->burst, now_ms, wait_s))
        return APIKEY_THROTTLED;
    *name = e->name;
    return APIKEY_OK;
}

int apikeys_allows(struct apikeys *k, const char *key, const char *path)
{
    struct key *e = key ? find_key(k, key) : NULL;
    return e && (!path || config_route_allowed(e->routes, path));
}

size_t apikeys_count(const struct apikeys *k)
{
    return k->n;
}

void apikeys_free(struct apikeys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        key_free(&k->v[i]);
    free(k->v);
    free(k);
}
