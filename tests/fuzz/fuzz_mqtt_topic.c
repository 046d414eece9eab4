/* fuzz_mqtt_topic.c: libFuzzer target for mqtt/topic.c, topic_tree.c and
 * retain.c.
 *
 * The input is a sequence of operations (subscribe, unsubscribe, drop a
 * subscriber, publish, retain, retained match, raw validation), each taking
 * its arguments from the following bytes; filters and names are built from a
 * small alphabet of levels, valid and invalid, so that they collide often.
 * Every result is checked against a brute-force model kept here (a list of
 * subscriptions and retained topics, a level-by-level matcher and validator);
 * a difference aborts. At the end everything is removed, the tree and store
 * must be back to no nodes, and all is freed (leaks fail under the fuzzer).
 * Corpus: tests/fuzz/corpus/mqtt_topic (replayed by `make fuzz-replay`). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/topic.h"

#define MAX_SUBS     128
#define MAX_RETAINED 64
#define MAX_STR      96
#define NWHO         8

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

/* ---- The model ---------------------------------------------------------- */

static int split(const char *s, size_t len, const char *lv[], size_t ln[], int max)
{
    int n = 0;
    const char *end = s + len;
    for (const char *p = s;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (n == max) return -1;
        lv[n] = p;
        ln[n++] = (size_t)((q ? q : end) - p);
        if (!q) return n;
        p = q + 1;
    }
}

static bool is(const char *l, size_t n, char c)
{
    return n == 1 && l[0] == c;
}

static bool model_valid(const char *s, size_t len, bool filter)
{
    const char *lv[1100];
    size_t ln[1100];
    if (len == 0 || len > 65535 || memchr(s, '\0', len)) return false;
    int n = split(s, len, lv, ln, 1100);
    if (n < 0 || n > 128) return false;
    for (int i = 0; i < n; i++) {
        bool plus = memchr(lv[i], '+', ln[i]) != NULL, hash = memchr(lv[i], '#', ln[i]) != NULL;
        if ((plus || hash) && !filter) return false;
        if ((plus && !is(lv[i], ln[i], '+')) || (hash && !is(lv[i], ln[i], '#'))) return false;
        if (hash && i != n - 1) return false;
    }
    return true;
}

static bool model_match(const char *f, const char *t)
{
    const char *fl[200], *tl[200];
    size_t fn[200], tn[200];
    int nf = split(f, strlen(f), fl, fn, 200), nt = split(t, strlen(t), tl, tn, 200);
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#')) return false;
    for (int i = 0; i < nf; i++) {
        if (is(fl[i], fn[i], '#')) return i <= nt;
        if (i >= nt) return false;
        if (!is(fl[i], fn[i], '+') && (fn[i] != tn[i] || memcmp(fl[i], tl[i], fn[i]) != 0))
            return false;
    }
    return nf == nt;
}

struct msub {
    bool live;
    uint8_t who;
    int8_t group; /* -1: not shared */
    char filter[MAX_STR];
};

struct mret {
    bool live;
    char topic[MAX_STR];
    void *msg;
};

struct state {
    struct mqtt_topic_tree *tree;
    struct mqtt_retain *store;
    struct msub subs[MAX_SUBS];
    struct mret ret[MAX_RETAINED];
};

static const char *const group_names[] = {"g", "h"};

static void *who_ptr(uint8_t who)
{
    static char subscribers[NWHO];
    return &subscribers[who % NWHO];
}

/* A string of 1 to 6 levels from a small alphabet (wildcards in names and
 * misplaced ones make some strings invalid on purpose). */
static void gen(struct input *in, char *out, bool filter)
{
    static const char *const names[] = {"a", "b", "", "$s", "ab", "a", "", "b"};
    static const char *const wild[] = {"+", "#", "a+", "#b", "+", "#", "$SYS", "x"};
    int levels = take(in) % 6 + 1;
    out[0] = '\0';
    for (int i = 0; i < levels; i++) {
        uint8_t b = take(in);
        if (i) strcat(out, "/");
        strcat(out, (b & 0x80) && (filter || (b & 0x40)) ? wild[b & 7] : names[b & 7]);
    }
}

/* ---- Operations --------------------------------------------------------- */

static int find_sub(struct state *st, uint8_t who, int group, const char *f)
{
    for (int i = 0; i < MAX_SUBS; i++)
        if (st->subs[i].live && st->subs[i].who == who && st->subs[i].group == group &&
            strcmp(st->subs[i].filter, f) == 0)
            return i;
    return -1;
}

static void op_sub(struct state *st, struct input *in, bool add)
{
    uint8_t who = take(in) % NWHO;
    int group = take(in) % 3 - 1;
    struct msub m = {true, who, (int8_t)group, ""};
    gen(in, m.filter, true);
    struct mqtt_topic_filter f = {m.filter, strlen(m.filter), group < 0 ? NULL : group_names[group],
                                  1};
    bool valid = model_valid(f.filter, f.len, true);
    int i = find_sub(st, who, group, m.filter), slot = i;
    for (int k = 0; slot < 0 && k < MAX_SUBS; k++)
        if (!st->subs[k].live) slot = k;
    if (add && slot < 0) return;
    int want = !valid ? -1 : i >= 0, rc;
    if (add) {
        struct mqtt_topic_opts o = {.sub_id = (uint32_t)slot, .qos = who % 3};
        rc = mqtt_topic_add(st->tree, who_ptr(who), &f, &o);
        if (valid) st->subs[slot] = m;
    } else {
        rc = mqtt_topic_remove(st->tree, who_ptr(who), &f);
        if (i >= 0) st->subs[i].live = false;
    }
    if ((want < 0 && rc >= 0) || (want >= 0 && rc != want)) abort();
}

static void op_drop(struct state *st, struct input *in)
{
    uint8_t who = take(in) % NWHO;
    size_t n = 0;
    for (int i = 0; i < MAX_SUBS; i++)
        if (st->subs[i].live && st->subs[i].who == who) {
            st->subs[i].live = false;
            n++;
        }
    if (mqtt_topic_count_of(st->tree, who_ptr(who)) != n) abort();
    if (mqtt_topic_remove_all(st->tree, who_ptr(who)) != n) abort();
}

struct seen {
    struct state *st;
    unsigned got[MAX_SUBS];
};

static void on_match(void *ud, void *subscriber, const struct mqtt_topic_opts *o, const char *group)
{
    struct seen *s = ud;
    const struct msub *m = o->sub_id < MAX_SUBS ? &s->st->subs[o->sub_id] : NULL;
    if (!m || !m->live || who_ptr(m->who) != subscriber) abort();
    if ((group == NULL) != (m->group < 0) || (group && strcmp(group, group_names[m->group])))
        abort();
    s->got[o->sub_id]++;
}

/* Plain subscriptions: called iff matching; each matching (group, filter):
 * exactly one call among its members. */
static void check_seen(struct state *st, const struct seen *s, const char *topic)
{
    for (int i = 0; i < MAX_SUBS; i++) {
        const struct msub *m = &st->subs[i];
        if (!m->live) continue;
        bool match = model_match(m->filter, topic);
        if (m->group < 0 && s->got[i] != (unsigned)match) abort();
        if (m->group < 0) continue;
        unsigned calls = 0;
        for (int j = 0; j < MAX_SUBS; j++)
            if (st->subs[j].live && st->subs[j].group == m->group &&
                strcmp(st->subs[j].filter, m->filter) == 0)
                calls += s->got[j];
        if (calls != (unsigned)match) abort();
    }
}

static void op_publish(struct state *st, struct input *in)
{
    char topic[MAX_STR];
    gen(in, topic, false);
    if (!model_valid(topic, strlen(topic), false)) return;
    struct seen s = {st, {0}};
    size_t n = mqtt_topic_match(st->tree, topic, strlen(topic), on_match, &s);
    size_t total = 0;
    for (int i = 0; i < MAX_SUBS; i++)
        total += s.got[i];
    if (n != total) abort();
    check_seen(st, &s, topic);
}

static void op_retain(struct state *st, struct input *in)
{
    char topic[MAX_STR];
    gen(in, topic, false);
    bool clear = take(in) % 4 == 0;
    if (!model_valid(topic, strlen(topic), false)) return;
    struct mret *slot = NULL, *same = NULL;
    for (int i = 0; i < MAX_RETAINED; i++) {
        if (st->ret[i].live && strcmp(st->ret[i].topic, topic) == 0) same = &st->ret[i];
        if (!st->ret[i].live && !slot) slot = &st->ret[i];
    }
    if (!same && (!slot || clear)) {
        if (mqtt_retain_set(st->store, topic, strlen(topic), NULL) != NULL) abort();
        return;
    }
    void *msg = clear ? NULL : malloc(1);
    void *old = mqtt_retain_set(st->store, topic, strlen(topic), msg);
    if (old != (same ? same->msg : NULL)) abort();
    free(old);
    struct mret *e = same ? same : slot;
    e->live = !clear;
    e->msg = msg;
    strcpy(e->topic, topic);
}

struct rseen {
    struct state *st;
    unsigned got[MAX_RETAINED];
    size_t calls;
};

static void on_retained(void *ud, const char *topic, size_t len, void *msg)
{
    struct rseen *s = ud;
    int i = 0;
    while (i < MAX_RETAINED && !(s->st->ret[i].live && s->st->ret[i].msg == msg))
        i++;
    if (i == MAX_RETAINED || strlen(topic) != len || strcmp(topic, s->st->ret[i].topic) != 0)
        abort();
    s->got[i]++;
    s->calls++;
}

static void op_retained_match(struct state *st, struct input *in)
{
    char filter[MAX_STR];
    gen(in, filter, true);
    bool valid = model_valid(filter, strlen(filter), true);
    struct rseen s = {st, {0}, 0};
    size_t n = mqtt_retain_match(st->store, filter, strlen(filter), on_retained, &s);
    if (n != s.calls) abort();
    for (int i = 0; i < MAX_RETAINED; i++) {
        bool want = valid && st->ret[i].live && model_match(filter, st->ret[i].topic);
        if (s.got[i] != (unsigned)want) abort();
    }
}

/* Raw bytes from the input as a name and a filter, against the model. */
static void op_raw(struct input *in)
{
    size_t len = take(in) % 48;
    if (len > in->n) len = in->n;
    const char *s = (const char *)in->p;
    in->p += len;
    in->n -= len;
    bool name = mqtt_topic_valid_name(s, len, NULL), filter = mqtt_topic_valid_filter(s, len, NULL);
    if (name != model_valid(s, len, false) || filter != model_valid(s, len, true)) abort();
    struct mqtt_topic_filter f;
    int rc = mqtt_topic_parse_filter(s, len, NULL, true, &f);
    if (rc == 0 && (!model_valid(f.filter, f.len, true) || (f.group && !f.group_len))) abort();
    if (rc == 0 && !f.group && !filter) abort();
}

/* ---- Driver ------------------------------------------------------------- */

static void count_retained(void *ud, const char *topic, size_t len, void *msg)
{
    (void)topic;
    (void)len;
    (void)msg;
    ++*(size_t *)ud;
}

/* Empties the tree (which must then have no nodes), checks the store's count
 * and, for odd-sized inputs, empties it too; the rest goes to free(). */
static void finish(struct state *st, bool clear_store)
{
    for (uint8_t w = 0; w < NWHO; w++)
        mqtt_topic_remove_all(st->tree, who_ptr(w));
    if (mqtt_topic_count(st->tree) != 0 || mqtt_topic_tree_nodes(st->tree) != 0) abort();
    size_t live = 0, seen = 0;
    for (int i = 0; i < MAX_RETAINED; i++)
        live += st->ret[i].live;
    if (mqtt_retain_foreach(st->store, count_retained, &seen) != live || seen != live ||
        mqtt_retain_count(st->store) != live)
        abort();
    for (int i = 0; clear_store && i < MAX_RETAINED; i++)
        if (st->ret[i].live)
            free(mqtt_retain_set(st->store, st->ret[i].topic, strlen(st->ret[i].topic), NULL));
    if (clear_store && (mqtt_retain_count(st->store) || mqtt_retain_nodes(st->store))) abort();
    mqtt_topic_tree_free(st->tree);
    mqtt_retain_free(st->store, free);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct state st;
    memset(&st, 0, sizeof st);
    st.tree = mqtt_topic_tree_new();
    st.store = mqtt_retain_new();
    struct input in = {data, size};
    while (in.n) {
        switch (take(&in) % 9) {
        case 0:
        case 1:
            op_sub(&st, &in, true);
            break;
        case 2:
            op_sub(&st, &in, false);
            break;
        case 3:
            op_drop(&st, &in);
            break;
        case 4:
        case 5:
            op_publish(&st, &in);
            break;
        case 6:
            op_retain(&st, &in);
            break;
        case 7:
            op_retained_match(&st, &in);
            break;
        default:
            op_raw(&in);
            break;
        }
    }
    finish(&st, size % 2);
    return 0;
}
