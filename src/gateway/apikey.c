/* apikey.c: API keys and token-bucket throttling (see apikey.h). */
#include "gateway/apikey.h"
#include "core/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

struct key {
    struct principal p; /* its strings are owned here */
    char *key;          /* NULL: no key (an MQTT user or certificate only) */
    size_t key_len;
    double rate, burst;
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
    free((char *)k->p.name);
    free((char *)k->p.routes);
    free((char *)k->p.read);
    free((char *)k->p.mqtt_user);
    free((char *)k->p.cert_cn);
    free((char *)k->p.groups);
    free(k->key);
}

static const struct key *find_name(const struct apikeys *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i].p.name, name) == 0)
            return &k->v[i];
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void apikeys_configure(struct apikeys *k, const struct cfg_apikey *cfg, size_t n)
{
    struct key *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].p.name = xstrdup(cfg[i].name);
        v[i].p.routes = dup_or_null(cfg[i].routes);
        v[i].p.read = dup_or_null(cfg[i].read);
        v[i].p.mqtt_user = dup_or_null(cfg[i].mqtt_user);
        v[i].p.cert_cn = dup_or_null(cfg[i].cert_cn);
        v[i].p.groups = dup_or_null(cfg[i].groups);
        v[i].p.admin = cfg[i].admin;
        v[i].key = dup_or_null(cfg[i].key);
        v[i].key_len = cfg[i].key ? strlen(cfg[i].key) : 0;
        v[i].rate = cfg[i].rate;
        v[i].burst = cfg[i].burst;
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
        if (k->v[i].key && k->v[i].key_len == len &&
            CRYPTO_memcmp(k->v[i].key, key, len) == 0)
            found = &k->v[i];
    return found;
}

int principal_may_route(const struct principal *p, const char *path)
{
    return p->admin || config_route_allowed(p->routes, path);
}

int principal_may_group(const struct principal *p, const char *groupid)
{
    return p->admin || !p->groups || config_list_has(p->groups, groupid);
}

enum apikey_verdict apikeys_check(struct apikeys *k, const char *key, const char *path,
                                  int64_t now_ms, double *wait_s, const struct principal **who)
{
    struct key *e = key ? find_key(k, key) : NULL;
    if (!e || (path && !principal_may_route(&e->p, path)))
        return APIKEY_FORBIDDEN;
    if (!bucket_take(&e->bucket, e->rate, e->burst, now_ms, wait_s))
        return APIKEY_THROTTLED;
    *who = &e->p;
    return APIKEY_OK;
}

const struct principal *apikeys_find(struct apikeys *k, const char *key)
{
    struct key *e = key ? find_key(k, key) : NULL;
    return e ? &e->p : NULL;
}

const struct principal *apikeys_for_mqtt(struct apikeys *k, enum apikey_cred cred,
                                         const char *name)
{
    for (size_t i = 0; name && i < k->n; i++) {
        const struct key *e = &k->v[i];
        const char *have = cred == APIKEY_CRED_KEY         ? (e->key ? e->p.name : NULL)
                           : cred == APIKEY_CRED_MQTT_USER ? e->p.mqtt_user
                                                           : e->p.cert_cn;
        if (have && strcmp(have, name) == 0)
            return &e->p;
    }
    return NULL;
}

int apikeys_mqtt_login(struct apikeys *k, const char *user, size_t ulen, const char *pass,
                       size_t plen)
{
    const struct key *e = NULL;
    for (size_t i = 0; i < k->n; i++)
        if (strlen(k->v[i].p.name) == ulen && memcmp(k->v[i].p.name, user, ulen) == 0)
            e = &k->v[i];
    return e && e->key && e->key_len == plen && CRYPTO_memcmp(e->key, pass, plen) == 0;
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
