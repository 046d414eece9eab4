/* map.c: the string hash map of map.h (FNV-1a, linear probing, load <= 1/2). */
#include "core/map.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

uint32_t map_fnv32(uint32_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

uint64_t map_fnv64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* The map's start value has always been 1469598103934665603 (one digit
 * short of the offset basis); kept, so every map hashes as before. */
static size_t hash_of(const char *k, size_t len)
{
    return (size_t)map_fnv64(1469598103934665603ull, k, len);
}

static struct map_slot *find(const struct map *m, const char *key, size_t len, size_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct map_slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static void grow(struct map *m)
{
    struct map old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            *find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
    free(old.slots);
}

void *map_get(const struct map *m, const char *key, size_t len)
{
    struct map_slot *s = find(m, key, len, hash_of(key, len));
    return s && s->key ? s->value : NULL;
}

void *map_put(struct map *m, const char *key, size_t len, void *value)
{
    if ((m->count + 1) * 2 > m->cap)
        grow(m);
    size_t h = hash_of(key, len);
    struct map_slot *s = find(m, key, len, h);
    if (s->key) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    *s = (struct map_slot){xstrndup(key, len), len, h, value};
    m->count++;
    return NULL;
}

void *map_del(struct map *m, const char *key, size_t len)
{
    struct map_slot *s = find(m, key, len, hash_of(key, len));
    if (!s || !s->key)
        return NULL;
    void *value = s->value;
    free(s->key);
    m->count--;
    /* backward shift: pull later entries of the run into the hole */
    size_t mask = m->cap - 1, hole = (size_t)(s - m->slots);
    for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
        size_t home = m->slots[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole] = (struct map_slot){0};
    return value;
}

void map_foreach(const struct map *m, void (*fn)(void *ud, const char *key, void *value),
                 void *ud)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fn(ud, m->slots[i].key, m->slots[i].value);
}

void map_free(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    *m = (struct map){0};
}
