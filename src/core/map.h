/* map.h: a hash map from strings to pointers (open addressing, linear
 * probing, tombstone-free deletion by backward shift).
 *
 * Keys are copied; values are the caller's. Iteration order is unspecified
 * and iterating while changing the map is not allowed. A zeroed struct map
 * is an empty map. */
#ifndef GASKET_CORE_MAP_H
#define GASKET_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, the one hash of gasket's string tables (this map, the store's
 * sequence and rollup tables, the MQTT topic trie). map_fnv32() continues
 * from h: pass MAP_FNV32_OFFSET to start, or a seeded or earlier value to
 * chain several strings; map_fnv64() likewise with MAP_FNV64_OFFSET. */
#define MAP_FNV32_OFFSET 2166136261u
#define MAP_FNV64_OFFSET 14695981039346656037ull
uint32_t map_fnv32(uint32_t h, const void *data, size_t len);
uint64_t map_fnv64(uint64_t h, const void *data, size_t len);

struct map_slot {
    char *key; /* NULL: empty */
    size_t len;
    size_t hash;
    void *value;
};

struct map {
    struct map_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
};

/* The value of key[0..len), or NULL. */
void *map_get(const struct map *m, const char *key, size_t len);
/* Sets key to value (not NULL); returns the value it replaces, or NULL. */
void *map_put(struct map *m, const char *key, size_t len, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *map_del(struct map *m, const char *key, size_t len);
/* Calls fn for every entry. */
void map_foreach(const struct map *m, void (*fn)(void *ud, const char *key, void *value),
                 void *ud);
/* Frees the map's memory (not the values). */
void map_free(struct map *m);

#endif
