/* dash_limit.c: failed dashboard logins, per address and per user name
 * (see dash_limit.h). Two maps from a name to its bucket. */
#include "gateway/dash_limit.h"
#include "core/map.h"
#include "core/mem.h"
#include "gateway/apikey.h"

#include <stdlib.h>
#include <string.h>

struct table {
    struct map names; /* name -> struct bucket * */
    double burst;
};

struct dash_limit {
    struct table addrs, users;
    size_t max;
};

struct dash_limit *dash_limit_new(size_t max)
{
    struct dash_limit *l = xcalloc(1, sizeof *l);
    l->addrs.burst = DASH_LIMIT_ADDR_BURST;
    l->users.burst = DASH_LIMIT_USER_BURST;
    l->max = max ? max : 1;
    return l;
}

static int refilled(const struct table *t, const struct bucket *b, int64_t now_ms)
{
    return b->tokens + (double)(now_ms - b->last_ms) / 1000.0 * DASH_LIMIT_RATE >= t->burst;
}

/* Makes room for one more name: drops the names whose bucket is full
 * again, or else the one idle longest. */
static void evict(struct table *t, int64_t now_ms)
{
    struct map *m = &t->names;
    const char **gone = xcalloc(m->count, sizeof *gone);
    size_t n = 0, oldest = m->cap;
    for (size_t i = 0; i < m->cap; i++) {
        const struct bucket *b = m->slots[i].value;
        if (!m->slots[i].key)
            continue;
        if (refilled(t, b, now_ms))
            gone[n++] = m->slots[i].key;
        else if (oldest == m->cap ||
                 b->last_ms < ((const struct bucket *)m->slots[oldest].value)->last_ms)
            oldest = i;
    }
    if (n == 0 && oldest < m->cap)
        gone[n++] = m->slots[oldest].key;
    for (size_t i = 0; i < n; i++) {
        char *key = xstrdup(gone[i]); /* the map's copy goes with the entry */
        free(map_del(m, key, strlen(key)));
        free(key);
    }
    free(gone);
}

static struct bucket *bucket_of(struct table *t, const char *name, size_t max, int64_t now_ms)
{
    struct bucket *b = map_get(&t->names, name, strlen(name));
    if (b)
        return b;
    if (t->names.count >= max)
        evict(t, now_ms);
    b = xcalloc(1, sizeof *b); /* last_ms 0: full at its first take */
    map_put(&t->names, name, strlen(name), b);
    return b;
}

static void give_back(struct table *t, const char *name)
{
    struct bucket *b = map_get(&t->names, name, strlen(name));
    if (b && (b->tokens += 1.0) > t->burst)
        b->tokens = t->burst;
}

int dash_limit_take(struct dash_limit *l, const char *addr, const char *user, int64_t now_ms,
                    double *wait_s)
{
    struct bucket *a = bucket_of(&l->addrs, addr, l->max, now_ms);
    double wa = 0, wu = 0;
    if (!bucket_take(a, DASH_LIMIT_RATE, l->addrs.burst, now_ms, &wa)) {
        *wait_s = wa;
        return 0;
    }
    struct bucket *u = bucket_of(&l->users, user, l->max, now_ms);
    if (bucket_take(u, DASH_LIMIT_RATE, l->users.burst, now_ms, &wu))
        return 1;
    give_back(&l->addrs, addr);
    *wait_s = wu;
    return 0;
}

void dash_limit_refund(struct dash_limit *l, const char *addr, const char *user)
{
    give_back(&l->addrs, addr);
    give_back(&l->users, user);
}

size_t dash_limit_count(const struct dash_limit *l, int users)
{
    return (users ? &l->users : &l->addrs)->names.count;
}

static void free_bucket(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    free(value);
}

void dash_limit_free(struct dash_limit *l)
{
    if (!l)
        return;
    struct table *t[2] = {&l->addrs, &l->users};
    for (int i = 0; i < 2; i++) {
        map_foreach(&t[i]->names, free_bucket, NULL);
        map_free(&t[i]->names);
    }
    free(l);
}
