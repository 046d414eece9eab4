/* topic_node.c: the level trie and pointer hash table behind the
 * subscription tree and the retained store (see topic_node.h).
 *
 * Level hashes are FNV-1a with a per-trie random seed and a final mix, so a
 * client cannot choose level names that collide in every broker. */
#include "mqtt/topic_node.h"
#include "core/map.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TAB_MIN 4

/* ---- Pointer hash table ------------------------------------------------- */

void *mqtt_topic__tab_find(const struct mqtt_topic__tab *t, uint32_t h, mqtt_topic__eq_fn eq,
                           const void *key)
{
    if (!t->n) return NULL;
    uint32_t mask = t->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        void *e = t->slot[i];
        if (!e) return NULL;
        if (eq(e, key)) return e;
    }
}

static void tab_place(struct mqtt_topic__tab *t, uint32_t h, void *entry)
{
    uint32_t mask = t->cap - 1, i = h & mask;
    while (t->slot[i])
        i = (i + 1) & mask;
    t->slot[i] = entry;
}

static void tab_resize(struct mqtt_topic__tab *t, uint32_t cap, mqtt_topic__hash_fn hash_of)
{
    void **old = t->slot;
    uint32_t old_cap = t->cap;
    t->slot = cap ? xcalloc(cap, sizeof *t->slot) : NULL;
    t->cap = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i]) tab_place(t, hash_of(old[i]), old[i]);
    free(old);
}

void mqtt_topic__tab_put(struct mqtt_topic__tab *t, uint32_t h, void *entry,
                         mqtt_topic__hash_fn hash_of)
{
    if ((t->n + 1) * 4 > t->cap * 3) tab_resize(t, t->cap ? t->cap * 2 : TAB_MIN, hash_of);
    tab_place(t, h, entry);
    t->n++;
}

/* Deletes by shifting back the entries of the probe run that follows. */
void mqtt_topic__tab_del(struct mqtt_topic__tab *t, const void *entry, uint32_t h,
                         mqtt_topic__hash_fn hash_of)
{
    uint32_t mask = t->cap - 1, i = h & mask;
    while (t->slot[i] != entry)
        i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; t->slot[j]; j = (j + 1) & mask) {
        uint32_t home = hash_of(t->slot[j]) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i] = NULL;
    t->n--;
    if (t->n == 0)
        mqtt_topic__tab_free(t);
    else if (t->cap > TAB_MIN && t->n * 8 <= t->cap)
        tab_resize(t, t->cap / 4 > TAB_MIN ? t->cap / 4 : TAB_MIN, hash_of);
}

void mqtt_topic__tab_free(struct mqtt_topic__tab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->cap = t->n = 0;
}

uint32_t mqtt_topic__ptr_hash(const void *a, const void *b)
{
    uint64_t x = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;
    x ^= (uint64_t)(uintptr_t)b * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 32;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 29;
    return (uint32_t)x;
}

/* ---- Level trie --------------------------------------------------------- */

static uint32_t level_hash(uint32_t seed, const char *p, size_t len)
{
    uint32_t h = map_fnv32(MAP_FNV32_OFFSET ^ seed, p, len);
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static uint32_t node_hash_of(const void *entry)
{
    return ((const struct mqtt_topic__node *)entry)->h;
}

static struct mqtt_topic__node *node_new(struct mqtt_topic__node *parent, const char *p, size_t len,
                                         uint32_t h)
{
    struct mqtt_topic__node *n = xcalloc(1, sizeof *n + len + 1);
    n->parent = parent;
    n->h = h;
    n->len = (uint32_t)len;
    memcpy(n->name, p, len);
    return n;
}

void mqtt_topic__trie_init(struct mqtt_topic__trie *tr)
{
    uint32_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)tr;
    tr->seed = seed;
    tr->nodes = 0;
    tr->root = node_new(NULL, "", 0, 0);
}

void mqtt_topic__trie_free(struct mqtt_topic__trie *tr,
                           void (*fn)(struct mqtt_topic__node *n, void *ud), void *ud)
{
    struct mqtt_topic__node **all = xmalloc((tr->nodes + 1) * sizeof *all);
    size_t k = 0;
    for (struct mqtt_topic__node *x = tr->root; x; x = mqtt_topic__next(x, tr->root))
        all[k++] = x;
    for (size_t i = 0; i < k; i++) {
        if (fn) fn(all[i], ud);
        mqtt_topic__tab_free(&all[i]->kids);
        free(all[i]);
    }
    free(all);
    tr->root = NULL;
    tr->nodes = 0;
}

struct level_key {
    const char *p;
    size_t len;
    uint32_t h;
};

static bool node_eq(const void *entry, const void *key)
{
    const struct mqtt_topic__node *n = entry;
    const struct level_key *k = key;
    return n->h == k->h && n->len == k->len && memcmp(n->name, k->p, k->len) == 0;
}

struct mqtt_topic__node *mqtt_topic__child(const struct mqtt_topic__trie *tr,
                                           const struct mqtt_topic__node *n, const char *p,
                                           size_t len)
{
    if (!n->kids.n) return NULL;
    struct level_key k = {p, len, level_hash(tr->seed, p, len)};
    return mqtt_topic__tab_find(&n->kids, k.h, node_eq, &k);
}

/* The child of n for one level of a filter or name, created if `create`. */
static struct mqtt_topic__node *step(struct mqtt_topic__trie *tr, struct mqtt_topic__node *n,
                                     const char *p, size_t len, bool create)
{
    struct mqtt_topic__node **wild = NULL;
    if (len == 1 && (p[0] == '+' || p[0] == '#')) wild = p[0] == '+' ? &n->plus : &n->hash;
    if (wild) {
        if (!*wild && create) {
            *wild = node_new(n, p, len, 0);
            tr->nodes++;
        }
        return *wild;
    }
    struct mqtt_topic__node *c = mqtt_topic__child(tr, n, p, len);
    if (!c && create) {
        c = node_new(n, p, len, level_hash(tr->seed, p, len));
        mqtt_topic__tab_put(&n->kids, c->h, c, node_hash_of);
        tr->nodes++;
    }
    return c;
}

static struct mqtt_topic__node *walk(const struct mqtt_topic__trie *tr, const char *s, size_t len,
                                     bool create)
{
    struct mqtt_topic__node *n = tr->root;
    const char *end = s + len;
    for (const char *p = s; p && n;) {
        const char *next;
        size_t l = mqtt_topic__level(p, end, &next);
        n = step((struct mqtt_topic__trie *)tr, n, p, l, create);
        p = next;
    }
    return n;
}

struct mqtt_topic__node *mqtt_topic__find(const struct mqtt_topic__trie *tr, const char *s,
                                          size_t len)
{
    return walk(tr, s, len, false);
}

struct mqtt_topic__node *mqtt_topic__insert(struct mqtt_topic__trie *tr, const char *s, size_t len)
{
    return walk(tr, s, len, true);
}

static bool node_empty(const struct mqtt_topic__node *n)
{
    return !n->subs && !n->groups && !n->msg && !n->plus && !n->hash && !n->kids.n;
}

void mqtt_topic__prune(struct mqtt_topic__trie *tr, struct mqtt_topic__node *n)
{
    while (n->parent && node_empty(n)) {
        struct mqtt_topic__node *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            mqtt_topic__tab_del(&p->kids, n, n->h, node_hash_of);
        free(n);
        tr->nodes--;
        n = p;
    }
}

/* ---- Traversal ---------------------------------------------------------- */

static struct mqtt_topic__node *first_child(const struct mqtt_topic__node *n)
{
    for (uint32_t i = 0; i < n->kids.cap; i++)
        if (n->kids.slot[i]) return n->kids.slot[i];
    return n->plus ? n->plus : n->hash;
}

/* Children are ordered: literal ones in table order, then "+", then "#". */
static struct mqtt_topic__node *next_sibling(const struct mqtt_topic__node *n)
{
    const struct mqtt_topic__node *p = n->parent;
    if (n == p->hash) return NULL;
    if (n == p->plus) return p->hash;
    uint32_t mask = p->kids.cap - 1, i = n->h & mask;
    while (p->kids.slot[i] != n)
        i = (i + 1) & mask;
    for (i++; i < p->kids.cap; i++)
        if (p->kids.slot[i]) return p->kids.slot[i];
    return p->plus ? p->plus : p->hash;
}

struct mqtt_topic__node *mqtt_topic__next(const struct mqtt_topic__node *n,
                                          const struct mqtt_topic__node *top)
{
    struct mqtt_topic__node *c = first_child(n);
    if (c) return c;
    for (; n != top; n = n->parent) {
        struct mqtt_topic__node *s = next_sibling(n);
        if (s) return s;
    }
    return NULL;
}
