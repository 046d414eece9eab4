/* topic_tree.c: the subscription tree of topic.h.
 *
 * Filters are paths in the level trie of topic_node.c. A node holds its
 * ordinary subscriptions in a list and its shared ones in share groups (one
 * group per share name at that node, i.e. per (name, filter) pair, each with a
 * round-robin cursor). Every subscriber has an owner record, found by pointer
 * hash, indexing its subscriptions by (node, group): that makes add, remove
 * and replace O(1) whatever the number of subscribers on a filter, and
 * remove_all proportional to the subscriber's own subscriptions. Matching
 * follows the topic down the trie (literal child, "+" child, "#" child) and
 * allocates nothing. */
#include "mqtt/topic.h"
#include "core/err.h"
#include "core/mem.h"
#include "mqtt/topic_node.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct mqtt_topic__node node;

struct mqtt_topic__sub {
    struct mqtt_topic__sub *next, *prev; /* in node->subs or group->members */
    node *node;
    struct mqtt_topic__group *group; /* NULL for an ordinary subscription */
    void *subscriber;
    struct mqtt_topic_opts opts;
};

struct mqtt_topic__group {
    struct mqtt_topic__group *next; /* in node->groups */
    struct mqtt_topic__sub *members;
    struct mqtt_topic__sub *cursor; /* the member to receive the next message */
    char name[];
};

struct owner {
    void *subscriber;
    struct mqtt_topic__tab subs; /* keyed by (node, group) */
};

struct mqtt_topic_tree {
    struct mqtt_topic__trie trie;
    struct mqtt_topic__tab owners; /* keyed by subscriber */
    size_t nsubs;
    int matching; /* a match is running: callbacks must not modify the tree */
};

static const struct mqtt_topic_limits structural = {(size_t)-1, MQTT_TOPIC_LEVELS_CEILING};

/* ---- Indexes ------------------------------------------------------------ */

static uint32_t owner_hash_of(const void *e)
{
    return mqtt_topic__ptr_hash(((const struct owner *)e)->subscriber, NULL);
}

static bool owner_eq(const void *e, const void *key)
{
    return ((const struct owner *)e)->subscriber == key;
}

static struct owner *owner_find(const struct mqtt_topic_tree *t, void *subscriber)
{
    return mqtt_topic__tab_find(&t->owners, mqtt_topic__ptr_hash(subscriber, NULL), owner_eq,
                                subscriber);
}

static struct owner *owner_get(struct mqtt_topic_tree *t, void *subscriber)
{
    struct owner *o = owner_find(t, subscriber);
    if (!o) {
        o = xcalloc(1, sizeof *o);
        o->subscriber = subscriber;
        mqtt_topic__tab_put(&t->owners, owner_hash_of(o), o, owner_hash_of);
    }
    return o;
}

static void owner_drop(struct mqtt_topic_tree *t, struct owner *o)
{
    mqtt_topic__tab_del(&t->owners, o, owner_hash_of(o), owner_hash_of);
    mqtt_topic__tab_free(&o->subs);
    free(o);
}

static uint32_t sub_hash_of(const void *e)
{
    const struct mqtt_topic__sub *s = e;
    return mqtt_topic__ptr_hash(s->node, s->group);
}

static bool sub_eq(const void *e, const void *key)
{
    const struct mqtt_topic__sub *s = e, *k = key;
    return s->node == k->node && s->group == k->group;
}

static struct mqtt_topic__sub *sub_find(const struct owner *o, node *n, struct mqtt_topic__group *g)
{
    struct mqtt_topic__sub key = {.node = n, .group = g};
    return mqtt_topic__tab_find(&o->subs, sub_hash_of(&key), sub_eq, &key);
}

/* ---- Share groups ------------------------------------------------------- */

static struct mqtt_topic__group *group_find(const node *n, const char *name, size_t len)
{
    for (struct mqtt_topic__group *g = n->groups; g; g = g->next)
        if (strlen(g->name) == len && memcmp(g->name, name, len) == 0) return g;
    return NULL;
}

static struct mqtt_topic__group *group_get(node *n, const char *name, size_t len)
{
    struct mqtt_topic__group *g = group_find(n, name, len);
    if (!g) {
        g = xcalloc(1, sizeof *g + len + 1);
        memcpy(g->name, name, len);
        g->next = n->groups;
        n->groups = g;
    }
    return g;
}

static void group_drop(node *n, struct mqtt_topic__group *g)
{
    struct mqtt_topic__group **pp = &n->groups;
    while (*pp != g)
        pp = &(*pp)->next;
    *pp = g->next;
    free(g);
}

/* ---- Subscriptions ------------------------------------------------------ */

static bool filter_ok(const struct mqtt_topic_filter *f)
{
    if (!mqtt_topic_valid_filter(f->filter, f->len, &structural)) return false;
    if (!f->group) return true;
    if (f->group_len == 0) return false;
    for (size_t i = 0; i < f->group_len; i++)
        if (strchr("/+#", f->group[i])) /* also refuses NUL */
            return false;
    return true;
}

static void link_sub(struct mqtt_topic__sub *s)
{
    struct mqtt_topic__sub **head = s->group ? &s->group->members : &s->node->subs;
    s->prev = NULL;
    s->next = *head;
    if (*head) (*head)->prev = s;
    *head = s;
    if (s->group && !s->group->cursor) s->group->cursor = s;
}

/* Takes s out of its node or group, freeing what is left empty, but not s. */
static void unlink_sub(struct mqtt_topic_tree *t, struct mqtt_topic__sub *s)
{
    struct mqtt_topic__group *g = s->group;
    struct mqtt_topic__sub **head = g ? &g->members : &s->node->subs;
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next) s->next->prev = s->prev;
    if (g && g->cursor == s) g->cursor = s->next ? s->next : g->members;
    if (g && !g->members) group_drop(s->node, g);
    mqtt_topic__prune(&t->trie, s->node);
    t->nsubs--;
}

int mqtt_topic_add(struct mqtt_topic_tree *t, void *subscriber, const struct mqtt_topic_filter *f,
                   const struct mqtt_topic_opts *opts)
{
    assert(!t->matching);
    if (!filter_ok(f)) return GK_EINVAL;
    node *n = mqtt_topic__insert(&t->trie, f->filter, f->len);
    struct mqtt_topic__group *g = f->group ? group_get(n, f->group, f->group_len) : NULL;
    struct owner *o = owner_get(t, subscriber);
    struct mqtt_topic__sub *s = sub_find(o, n, g);
    if (s) {
        s->opts = *opts;
        return 1;
    }
    s = xcalloc(1, sizeof *s);
    s->node = n;
    s->group = g;
    s->subscriber = subscriber;
    s->opts = *opts;
    link_sub(s);
    mqtt_topic__tab_put(&o->subs, sub_hash_of(s), s, sub_hash_of);
    t->nsubs++;
    return 0;
}

int mqtt_topic_remove(struct mqtt_topic_tree *t, void *subscriber,
                      const struct mqtt_topic_filter *f)
{
    assert(!t->matching);
    if (!filter_ok(f)) return GK_EINVAL;
    struct owner *o = owner_find(t, subscriber);
    node *n = o ? mqtt_topic__find(&t->trie, f->filter, f->len) : NULL;
    struct mqtt_topic__group *g = n && f->group ? group_find(n, f->group, f->group_len) : NULL;
    if (!n || (f->group && !g)) return 0;
    struct mqtt_topic__sub *s = sub_find(o, n, g);
    if (!s) return 0;
    mqtt_topic__tab_del(&o->subs, s, sub_hash_of(s), sub_hash_of);
    unlink_sub(t, s);
    free(s);
    if (!o->subs.n) owner_drop(t, o);
    return 1;
}

size_t mqtt_topic_remove_all(struct mqtt_topic_tree *t, void *subscriber)
{
    assert(!t->matching);
    struct owner *o = owner_find(t, subscriber);
    if (!o) return 0;
    size_t removed = 0;
    for (uint32_t i = 0; i < o->subs.cap; i++) {
        struct mqtt_topic__sub *s = o->subs.slot[i];
        if (s) {
            unlink_sub(t, s);
            free(s);
            removed++;
        }
    }
    owner_drop(t, o);
    return removed;
}

/* ---- Matching ----------------------------------------------------------- */

struct match {
    const char *end;
    const struct mqtt_topic__trie *trie;
    mqtt_topic_match_cb cb;
    void *ud;
    size_t calls;
};

static void deliver(struct match *m, const node *n)
{
    for (struct mqtt_topic__sub *s = n->subs; s; s = s->next) {
        m->cb(m->ud, s->subscriber, &s->opts, NULL);
        m->calls++;
    }
    for (struct mqtt_topic__group *g = n->groups; g; g = g->next) {
        struct mqtt_topic__sub *s = g->cursor;
        g->cursor = s->next ? s->next : g->members;
        m->cb(m->ud, s->subscriber, &s->opts, g->name);
        m->calls++;
    }
}

/* Matches the levels from p (NULL: none left) below n. Recurses only where
 * both a literal and a "+" child go on, so depth is bounded by the tree's. */
static void match_below(struct match *m, const node *n, const char *p)
{
    while (p) {
        if (n->hash) deliver(m, n->hash);
        const char *next;
        size_t len = mqtt_topic__level(p, m->end, &next);
        const node *c = mqtt_topic__child(m->trie, n, p, len);
        if (c && n->plus) match_below(m, c, next);
        n = n->plus ? n->plus : c;
        if (!n) return;
        p = next;
    }
    deliver(m, n);
    if (n->hash) /* "a/#" matches "a" */
        deliver(m, n->hash);
}

size_t mqtt_topic_match(struct mqtt_topic_tree *t, const char *topic, size_t len,
                        mqtt_topic_match_cb cb, void *ud)
{
    struct match m = {topic + len, &t->trie, cb, ud, 0};
    const node *root = t->trie.root;
    t->matching++;
    if (len && topic[0] == '$') {
        /* 4.7.2: no filter starting with a wildcard matches a "$" topic */
        const char *next;
        size_t l = mqtt_topic__level(topic, m.end, &next);
        const node *c = mqtt_topic__child(&t->trie, root, topic, l);
        if (c) match_below(&m, c, next);
    } else {
        match_below(&m, root, topic);
    }
    t->matching--;
    return m.calls;
}

/* ---- Lifetime and counts ------------------------------------------------ */

struct mqtt_topic_tree *mqtt_topic_tree_new(void)
{
    struct mqtt_topic_tree *t = xcalloc(1, sizeof *t);
    mqtt_topic__trie_init(&t->trie);
    return t;
}

static void free_node_subs(node *n, void *ud)
{
    (void)ud;
    while (n->subs) {
        struct mqtt_topic__sub *s = n->subs;
        n->subs = s->next;
        free(s);
    }
    while (n->groups) {
        struct mqtt_topic__group *g = n->groups;
        n->groups = g->next;
        while (g->members) {
            struct mqtt_topic__sub *s = g->members;
            g->members = s->next;
            free(s);
        }
        free(g);
    }
}

void mqtt_topic_tree_free(struct mqtt_topic_tree *t)
{
    if (!t) return;
    assert(!t->matching);
    mqtt_topic__trie_free(&t->trie, free_node_subs, NULL);
    for (uint32_t i = 0; i < t->owners.cap; i++) {
        struct owner *o = t->owners.slot[i];
        if (o) {
            mqtt_topic__tab_free(&o->subs);
            free(o);
        }
    }
    mqtt_topic__tab_free(&t->owners);
    free(t);
}

size_t mqtt_topic_count(const struct mqtt_topic_tree *t)
{
    return t->nsubs;
}

size_t mqtt_topic_count_of(const struct mqtt_topic_tree *t, void *subscriber)
{
    const struct owner *o = owner_find(t, subscriber);
    return o ? o->subs.n : 0;
}

size_t mqtt_topic_tree_nodes(const struct mqtt_topic_tree *t)
{
    return t->trie.nodes;
}
