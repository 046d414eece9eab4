/* topic_node.h: internal to the topic machinery (topic_tree.c, retain.c).
 *
 * A trie of topic levels: each node is one level, its literal children are
 * in an open-addressing hash table keyed by the level text, and the wildcard
 * children "+" and "#" are direct pointers. The subscription tree hangs its
 * subscriptions on nodes, the retained store its messages. Also the small
 * pointer hash table both use for their own indexes. Not part of the API. */
#ifndef GASKET_MQTT_TOPIC_NODE_H
#define GASKET_MQTT_TOPIC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An open-addressing (linear probing) set of pointers. Entries are found by a
 * caller-given hash and equality; the table recomputes hashes of its entries
 * with hash_of when it moves them. cap is 0 (no storage) or a power of two. */
struct mqtt_topic__tab {
    void **slot;
    uint32_t cap;
    uint32_t n;
};

typedef uint32_t (*mqtt_topic__hash_fn)(const void *entry);
typedef bool (*mqtt_topic__eq_fn)(const void *entry, const void *key);

void *mqtt_topic__tab_find(const struct mqtt_topic__tab *t, uint32_t h, mqtt_topic__eq_fn eq,
                           const void *key);
/* Inserts entry (not already present) with hash h. */
void mqtt_topic__tab_put(struct mqtt_topic__tab *t, uint32_t h, void *entry,
                         mqtt_topic__hash_fn hash_of);
/* Removes entry (present, with hash h); shrinks the table when sparse. */
void mqtt_topic__tab_del(struct mqtt_topic__tab *t, const void *entry, uint32_t h,
                         mqtt_topic__hash_fn hash_of);
void mqtt_topic__tab_free(struct mqtt_topic__tab *t);

/* Mixes two pointers into a table hash. */
uint32_t mqtt_topic__ptr_hash(const void *a, const void *b);

struct mqtt_topic__sub;
struct mqtt_topic__group;

struct mqtt_topic__node {
    struct mqtt_topic__node *parent;  /* NULL for the root */
    struct mqtt_topic__node *plus;    /* child "+" */
    struct mqtt_topic__node *hash;    /* child "#" */
    struct mqtt_topic__tab kids;      /* literal children */
    struct mqtt_topic__sub *subs;     /* tree: ordinary subscriptions */
    struct mqtt_topic__group *groups; /* tree: shared subscriptions */
    void *msg;                        /* store: the retained message */
    uint32_t h;                       /* hash of name (literal children) */
    uint32_t len;
    char name[]; /* the level, NUL-terminated */
};

struct mqtt_topic__trie {
    struct mqtt_topic__node *root;
    size_t nodes; /* besides the root */
    uint32_t seed;
};

void mqtt_topic__trie_init(struct mqtt_topic__trie *tr);
/* Frees every node, calling fn(node, ud) first on each (if fn is not NULL). */
void mqtt_topic__trie_free(struct mqtt_topic__trie *tr,
                           void (*fn)(struct mqtt_topic__node *n, void *ud), void *ud);

/* The literal child of n named by the level [p, p + len), or NULL. */
struct mqtt_topic__node *mqtt_topic__child(const struct mqtt_topic__trie *tr,
                                           const struct mqtt_topic__node *n, const char *p,
                                           size_t len);
/* The node of a whole filter or name (levels "+" and "#" are the wildcard
 * children): found, or NULL; or found or created. */
struct mqtt_topic__node *mqtt_topic__find(const struct mqtt_topic__trie *tr, const char *s,
                                          size_t len);
struct mqtt_topic__node *mqtt_topic__insert(struct mqtt_topic__trie *tr, const char *s, size_t len);
/* Frees n and then its ancestors while they hold nothing (stops at the root). */
void mqtt_topic__prune(struct mqtt_topic__trie *tr, struct mqtt_topic__node *n);

/* Pre-order traversal of the subtree at top without recursion: the node after
 * n, or NULL when the subtree is done. Start with n = top. */
struct mqtt_topic__node *mqtt_topic__next(const struct mqtt_topic__node *n,
                                          const struct mqtt_topic__node *top);

/* Splits the level starting at p (topic ends at end): returns its length and
 * sets *next to the start of the following level, or NULL if it is the last. */
static inline size_t mqtt_topic__level(const char *p, const char *end, const char **next)
{
    const char *q = p < end ? memchr(p, '/', (size_t)(end - p)) : NULL;
    *next = q ? q + 1 : NULL;
    return (size_t)((q ? q : end) - p);
}

#endif
