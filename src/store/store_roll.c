/* store_roll.c: the writer's known groups, and the rollups' bucket floor.
 *
 * The group set mirrors the `groups` table so that INSERT OR IGNORE runs
 * only for a pair never seen; pairs added by a transaction that rolls back
 * are forgotten again (see store_int.h). It is an open-addressing table
 * with FNV-1a hashes; writer thread only. (The writer's series set and
 * measurement rows were here too, until the hot tier kept a document's
 * measurements in its row: store_hmeas.c.) */
#include <stdlib.h>
#include <string.h>

#include "core/map.h"
#include "core/mem.h"
#include "store/store_int.h"

static uint32_t fnv(uint32_t h, const char *s)
{
    h = map_fnv32(h, s, strlen(s));
    return map_fnv32(h, "\xff", 1); /* terminator: ("ab","c") != ("a","bc") */
}

static uint32_t hash_ig(const char *idx, const char *grp)
{
    return fnv(fnv(MAP_FNV32_OFFSET, idx), grp);
}

int64_t store_roll_floor(int64_t ts, int64_t w)
{
    int64_t r = ts % w, t = ts - r; /* t: toward zero, never overflows */
    if (r < 0 && t >= INT64_MIN + w) t -= w;
    return t;
}

/* ---- known (index, group) pairs ---- */

struct store_group {
    struct store_group *next_pending;
    uint32_t hash;
    int pending;
    char *grp;  /* points into key, after the index's NUL */
    char key[]; /* idx NUL grp NUL */
};

void store_groups_init(struct store_groups *g)
{
    memset(g, 0, sizeof(*g));
    g->cap = 64;
    g->slots = xcalloc(g->cap, sizeof(*g->slots));
}

void store_groups_free(struct store_groups *g)
{
    for (size_t i = 0; i < g->cap; i++)
        free(g->slots[i]);
    free(g->slots);
    memset(g, 0, sizeof(*g));
}

static void groups_place(struct store_group **slots, size_t cap, struct store_group *e)
{
    size_t j = e->hash & (cap - 1);
    while (slots[j])
        j = (j + 1) & (cap - 1);
    slots[j] = e;
}

/* Rebuilds the table at capacity cap, dropping the pending pairs if asked. */
static void groups_rebuild(struct store_groups *g, size_t cap, int drop_pending)
{
    struct store_group **slots = xcalloc(cap, sizeof(*slots));
    g->len = 0;
    for (size_t i = 0; i < g->cap; i++) {
        struct store_group *e = g->slots[i];
        if (!e) continue;
        if (drop_pending && e->pending) {
            free(e);
            continue;
        }
        groups_place(slots, cap, e);
        g->len++;
    }
    free(g->slots);
    g->slots = slots;
    g->cap = cap;
}

int store_groups_add(struct store_groups *g, const char *idx, const char *grp)
{
    uint32_t h = hash_ig(idx, grp);
    size_t j = h & (g->cap - 1);
    for (; g->slots[j]; j = (j + 1) & (g->cap - 1)) {
        const struct store_group *e = g->slots[j];
        if (e->hash == h && strcmp(e->key, idx) == 0 && strcmp(e->grp, grp) == 0) return 0;
    }
    size_t il = strlen(idx) + 1, gl = strlen(grp) + 1;
    struct store_group *e = xmalloc(sizeof(*e) + il + gl);
    memcpy(e->key, idx, il);
    memcpy(e->key + il, grp, gl);
    e->grp = e->key + il;
    e->hash = h;
    e->pending = 1;
    e->next_pending = g->pending;
    g->pending = e;
    g->slots[j] = e;
    if (++g->len * 2 > g->cap) groups_rebuild(g, g->cap * 2, 0);
    return 1;
}

void store_groups_commit(struct store_groups *g)
{
    for (struct store_group *e = g->pending; e; e = e->next_pending)
        e->pending = 0;
    g->pending = NULL;
}

void store_groups_rollback(struct store_groups *g)
{
    if (!g->pending) return;
    g->pending = NULL;
    groups_rebuild(g, g->cap, 1);
}
