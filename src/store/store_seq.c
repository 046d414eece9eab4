/* store_seq.c: the in-memory _seq_no counters of the store's indices.
 *
 * The writer thread hands out sequence numbers from here without touching
 * SQLite; the counters touched by the open transaction are kept on a dirty
 * list so that store_db.c can persist them in the same transaction and, if
 * it rolls back, put them back to their committed values (see store_int.h). */
#include <stdlib.h>
#include <string.h>

#include "core/map.h"
#include "core/mem.h"
#include "store/store_int.h"

static uint32_t seq_hash(const char *s)
{
    return map_fnv32(MAP_FNV32_OFFSET, s, strlen(s));
}

void store_seq_init(struct store_seq *t)
{
    memset(t, 0, sizeof(*t));
    t->cap = 16;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
}

void store_seq_free(struct store_seq *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i]) {
            free(t->slots[i]->name);
            free(t->slots[i]);
        }
    }
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static void seq_grow(struct store_seq *t)
{
    size_t cap = t->cap * 2;
    struct store_seq_entry **slots = xcalloc(cap, sizeof(*slots));
    for (size_t i = 0; i < t->cap; i++) {
        struct store_seq_entry *e = t->slots[i];
        if (!e) continue;
        size_t j = e->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

/* Finds the counter of `name`, creating it at 0. */
static struct store_seq_entry *seq_get(struct store_seq *t, const char *name)
{
    uint32_t h = seq_hash(name);
    size_t i = h & (t->cap - 1);
    for (; t->slots[i]; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i]->hash == h && strcmp(t->slots[i]->name, name) == 0) return t->slots[i];
    }
    struct store_seq_entry *e = xcalloc(1, sizeof(*e));
    e->name = xstrdup(name);
    e->hash = h;
    t->slots[i] = e;
    if (++t->len * 2 > t->cap) seq_grow(t);
    return e;
}

void store_seq_load(struct store_seq *t, const char *name, int64_t next)
{
    struct store_seq_entry *e = seq_get(t, name);
    e->next = e->committed = next;
}

int64_t store_seq_take(struct store_seq *t, const char *name)
{
    struct store_seq_entry *e = t->last;
    if (!e || strcmp(e->name, name) != 0) e = t->last = seq_get(t, name);
    if (!e->dirty) {
        e->dirty = 1;
        e->dirty_next = t->dirty;
        t->dirty = e;
    }
    return e->next++;
}

void store_seq_bump(struct store_seq *t, const char *name, int64_t seq_no)
{
    struct store_seq_entry *e = t->last;
    if (!e || strcmp(e->name, name) != 0) e = t->last = seq_get(t, name);
    if (e->next > seq_no) return;
    e->next = seq_no + 1;
    if (!e->dirty) {
        e->dirty = 1;
        e->dirty_next = t->dirty;
        t->dirty = e;
    }
}

struct store_seq_entry *store_seq_dirty(const struct store_seq *t)
{
    return t->dirty;
}

static void seq_settle(struct store_seq *t, int keep)
{
    struct store_seq_entry *e = t->dirty, *next;
    for (; e; e = next) {
        next = e->dirty_next;
        if (keep)
            e->committed = e->next;
        else
            e->next = e->committed;
        e->dirty = 0;
        e->dirty_next = NULL;
    }
    t->dirty = NULL;
}

void store_seq_commit(struct store_seq *t)
{
    seq_settle(t, 1);
}

void store_seq_rollback(struct store_seq *t)
{
    seq_settle(t, 0);
}
