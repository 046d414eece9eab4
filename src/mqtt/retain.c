/* retain.c: the retained-message store of topic.h.
 *
 * Topic names are paths in the level trie of topic_node.c, a message hangs on
 * the node of its name. Matching a filter walks the trie along the filter: a
 * literal level is one hash lookup, "+" visits the children, "#" the whole
 * subtree (iteratively), so the cost follows what the filter can reach rather
 * than the number of retained topics. The topic name handed to callbacks is
 * rebuilt from the node's ancestors into a scratch buffer owned by the store. */
#include "core/buf.h"
#include "core/mem.h"
#include "mqtt/topic.h"
#include "mqtt/topic_node.h"

#include <stdlib.h>
#include <string.h>

typedef struct mqtt_topic__node node;

struct mqtt_retain {
    struct mqtt_topic__trie trie;
    size_t count;
    struct buf topic; /* scratch for callbacks */
};

static const struct mqtt_topic_limits structural = {(size_t)-1, MQTT_TOPIC_LEVELS_CEILING};

struct mqtt_retain *mqtt_retain_new(void)
{
    struct mqtt_retain *s = xcalloc(1, sizeof *s);
    mqtt_topic__trie_init(&s->trie);
    return s;
}

static void free_node_msg(node *n, void *ud)
{
    void (*free_msg)(void *) = *(void (**)(void *))ud;
    if (n->msg && free_msg) free_msg(n->msg);
}

void mqtt_retain_free(struct mqtt_retain *s, void (*free_msg)(void *msg))
{
    if (!s) return;
    mqtt_topic__trie_free(&s->trie, free_node_msg, &free_msg);
    buf_free(&s->topic);
    free(s);
}

void *mqtt_retain_set(struct mqtt_retain *s, const char *topic, size_t len, void *msg)
{
    node *n =
        msg ? mqtt_topic__insert(&s->trie, topic, len) : mqtt_topic__find(&s->trie, topic, len);
    if (!n) return NULL;
    void *old = n->msg;
    n->msg = msg;
    s->count += (msg != NULL) - (old != NULL);
    if (!msg) mqtt_topic__prune(&s->trie, n);
    return old;
}

void *mqtt_retain_get(const struct mqtt_retain *s, const char *topic, size_t len)
{
    const node *n = mqtt_topic__find(&s->trie, topic, len);
    return n ? n->msg : NULL;
}

struct walk {
    struct mqtt_retain *s;
    const char *end;
    mqtt_retain_cb cb;
    void *ud;
    size_t calls;
};

/* Rebuilds the topic name of n (below the root) into the scratch buffer. */
static void node_topic(struct buf *b, const node *n)
{
    size_t total = 0, pos;
    for (const node *x = n; x->parent; x = x->parent)
        total += x->len + 1;
    b->len = 0;
    buf_reserve(b, total);
    pos = --total;
    for (const node *x = n; x->parent; x = x->parent) {
        pos -= x->len;
        memcpy(b->data + pos, x->name, x->len);
        if (pos) b->data[--pos] = '/';
    }
    b->len = total;
    b->data[total] = '\0';
}

static void deliver(struct walk *w, const node *n)
{
    if (!n->msg) return;
    node_topic(&w->s->topic, n);
    w->cb(w->ud, w->s->topic.data, w->s->topic.len, n->msg);
    w->calls++;
}

static void deliver_subtree(struct walk *w, const node *top)
{
    for (const node *x = top; x; x = mqtt_topic__next(x, top))
        deliver(w, x);
}

/* A wildcard level at the root skips "$" topics (4.7.2). */
static bool skipped(const node *parent, const node *c)
{
    return !parent->parent && c->len && c->name[0] == '$';
}

static void match_below(struct walk *w, const node *n, const char *p)
{
    while (p) {
        const char *next;
        size_t len = mqtt_topic__level(p, w->end, &next);
        bool plus = len == 1 && p[0] == '+', hash = len == 1 && p[0] == '#';
        if (!plus && !hash) {
            n = mqtt_topic__child(&w->s->trie, n, p, len);
            if (!n) return;
            p = next;
            continue;
        }
        if (hash) deliver(w, n); /* "a/#" matches "a" */
        for (uint32_t i = 0; i < n->kids.cap; i++) {
            const node *c = n->kids.slot[i];
            if (!c || skipped(n, c)) continue;
            if (hash)
                deliver_subtree(w, c);
            else
                match_below(w, c, next);
        }
        return;
    }
    deliver(w, n);
}

size_t mqtt_retain_match(struct mqtt_retain *s, const char *filter, size_t len, mqtt_retain_cb cb,
                         void *ud)
{
    if (!mqtt_topic_valid_filter(filter, len, &structural)) return 0;
    struct walk w = {s, filter + len, cb, ud, 0};
    match_below(&w, s->trie.root, filter);
    return w.calls;
}

size_t mqtt_retain_foreach(struct mqtt_retain *s, mqtt_retain_cb cb, void *ud)
{
    struct walk w = {s, NULL, cb, ud, 0};
    deliver_subtree(&w, s->trie.root);
    return w.calls;
}

size_t mqtt_retain_count(const struct mqtt_retain *s)
{
    return s->count;
}

size_t mqtt_retain_nodes(const struct mqtt_retain *s)
{
    return s->trie.nodes;
}
