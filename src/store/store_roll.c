/* store_roll.c: the writer's series, measurement rows and known groups.
 *
 * During one transaction the writer names every series (index, group,
 * name) once in a series set, which borrows the strings of the first job
 * that names it (with their lengths), and refers to it by number after
 * that; it keeps every measurement's row for later; before COMMIT
 * store_db.c inserts the rows sorted by series and time, so that the
 * b-tree pages of a series are touched together. Both are cleared after
 * the transaction. (The writer used to upsert the hot tier's rollups here
 * too; they are computed from the rows now: store_move.c.)
 *
 * The group set mirrors the `groups` table so that INSERT OR IGNORE runs
 * only for a pair never seen; pairs added by a transaction that rolls back
 * are forgotten again (see store_int.h). The sets and maps are
 * open-addressing tables with FNV-1a hashes; writer thread only. */
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

int64_t store_roll_floor(int64_t ts, int64_t w)
{
    int64_t r = ts % w, t = ts - r; /* t: toward zero, never overflows */
    if (r < 0 && t >= INT64_MIN + w) t -= w;
    return t;
}

/* ---- series ---- */

void store_series_init(struct store_series_set *s)
{
    memset(s, 0, sizeof(*s));
    s->nslots = 256;
    s->slots = xcalloc(s->nslots, sizeof(*s->slots));
}

void store_series_free(struct store_series_set *s)
{
    free(s->v);
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

uint32_t store_roll_hash_ig(const char *idx, const char *grp)
{
    return fnv(fnv(MAP_FNV32_OFFSET, idx), grp);
}

static void series_grow(struct store_series_set *s)
{
    free(s->slots);
    s->nslots *= 2;
    s->slots = xcalloc(s->nslots, sizeof(*s->slots));
    for (size_t i = 0; i < s->len; i++) {
        size_t j = s->v[i].hash & (s->nslots - 1);
        while (s->slots[j])
            j = (j + 1) & (s->nslots - 1);
        s->slots[j] = (uint32_t)i + 1;
    }
}

uint32_t store_series_get(struct store_series_set *s, uint32_t hash_ig, const char *idx,
                          const char *grp, const char *name)
{
    uint32_t h = fnv(hash_ig, name);
    size_t j = h & (s->nslots - 1);
    for (; s->slots[j]; j = (j + 1) & (s->nslots - 1)) {
        const struct store_series *e = &s->v[s->slots[j] - 1];
        if (e->hash == h && strcmp(e->name, name) == 0 && strcmp(e->grp, grp) == 0 &&
            strcmp(e->idx, idx) == 0)
            return s->slots[j] - 1;
    }
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->len] = (struct store_series){.idx = idx,
                                         .grp = grp,
                                         .name = name,
                                         .hash = h,
                                         .ilen = (int)strlen(idx),
                                         .glen = (int)strlen(grp),
                                         .nlen = (int)strlen(name)};
    s->slots[j] = (uint32_t)++s->len;
    if (s->len * 2 > s->nslots) series_grow(s);
    return (uint32_t)(s->len - 1);
}

void store_series_clear(struct store_series_set *s)
{
    if (s->len) memset(s->slots, 0, s->nslots * sizeof(*s->slots));
    s->len = 0;
}

static int cmp_series_t(uint32_t sa, int64_t ta, uint32_t sb, int64_t tb)
{
    if (sa != sb) return sa < sb ? -1 : 1;
    return ta < tb ? -1 : ta > tb;
}

/* ---- measurement rows ---- */

void store_meas_rows_add(struct store_meas_rows *r, const struct store_meas_row *row)
{
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    r->v[r->len++] = *row;
}

static int row_cmp(const void *a, const void *b)
{
    const struct store_meas_row *x = a, *y = b;
    int c = cmp_series_t(x->series, x->ts, y->series, y->ts);
    return c ? c : (x->doc > y->doc) - (x->doc < y->doc);
}

void store_meas_rows_sort(struct store_meas_rows *r)
{
    if (r->len > 1) qsort(r->v, r->len, sizeof *r->v, row_cmp);
}

void store_meas_rows_free(struct store_meas_rows *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
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
    uint32_t h = store_roll_hash_ig(idx, grp);
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
