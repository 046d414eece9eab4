/* Unit tests for mqtt/topic.c, topic_tree.c and retain.c: validation, "$share"
 * parsing, the subscription tree and the retained store, with a randomized
 * cross-check of both against a brute-force matcher written here. */
#include "core/err.h"
#include "mqtt/topic.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- Brute force: split both strings into levels and compare ------------ */

#define BF_MAX 64

static int bf_split(const char *s, const char *lv[], size_t ln[])
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *q = strchr(p, '/');
        lv[n] = p;
        ln[n++] = q ? (size_t)(q - p) : strlen(p);
        if (!q || n == BF_MAX) return n;
        p = q + 1;
    }
}

static bool bf_level_is(const char *l, size_t n, char c)
{
    return n == 1 && l[0] == c;
}

static bool bf_match(const char *filter, const char *topic)
{
    const char *fl[BF_MAX], *tl[BF_MAX];
    size_t fn[BF_MAX], tn[BF_MAX];
    int nf = bf_split(filter, fl, fn), nt = bf_split(topic, tl, tn);
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
    for (int i = 0; i < nf; i++) {
        if (bf_level_is(fl[i], fn[i], '#')) return i <= nt; /* '#' also matches the parent level */
        if (i >= nt) return false;
        if (!bf_level_is(fl[i], fn[i], '+') && (fn[i] != tn[i] || memcmp(fl[i], tl[i], fn[i])))
            return false;
    }
    return nf == nt;
}

/* ---- Helpers ------------------------------------------------------------ */

static struct mqtt_topic_filter plain(const char *f)
{
    return (struct mqtt_topic_filter){.filter = f, .len = strlen(f)};
}

static struct mqtt_topic_filter shared(const char *g, const char *f)
{
    return (struct mqtt_topic_filter){
        .filter = f, .len = strlen(f), .group = g, .group_len = strlen(g)};
}

/* Options whose subscription identifier tells the tests which one matched. */
#define OPTS(id) (&(struct mqtt_topic_opts){.sub_id = (uint32_t)(id), .qos = (uint8_t)((id) % 3)})

#define MAXCALLS 4096

struct calls {
    size_t n;
    void *who[MAXCALLS];
    uint32_t id[MAXCALLS];
    uint8_t qos[MAXCALLS];
    const char *group[MAXCALLS];
};

static void record(void *ud, void *subscriber, const struct mqtt_topic_opts *o, const char *group)
{
    struct calls *c = ud;
    if (c->n < MAXCALLS) {
        c->who[c->n] = subscriber;
        c->id[c->n] = o->sub_id;
        c->qos[c->n] = o->qos;
        c->group[c->n] = group;
    }
    c->n++;
}

static size_t match(struct mqtt_topic_tree *t, const char *topic, struct calls *c)
{
    memset(c, 0, sizeof *c);
    return mqtt_topic_match(t, topic, strlen(topic), record, c);
}

static void *S(uintptr_t i)
{
    return (void *)(i * 16 + 16);
}

struct rcalls {
    size_t n;
    char topics[64][64];
    void *msg[64];
};

static void rrecord(void *ud, const char *topic, size_t len, void *msg)
{
    struct rcalls *c = ud;
    if (c->n < 64) {
        snprintf(c->topics[c->n], sizeof c->topics[0], "%.*s", (int)len, topic);
        CHECK(strlen(topic) == len);
        c->msg[c->n] = msg;
    }
    c->n++;
}

static bool rseen(const struct rcalls *c, const char *topic)
{
    for (size_t i = 0; i < c->n && i < 64; i++)
        if (strcmp(c->topics[i], topic) == 0) return true;
    return false;
}

static size_t rmatch(struct mqtt_retain *r, const char *filter, struct rcalls *c)
{
    memset(c, 0, sizeof *c);
    return mqtt_retain_match(r, filter, strlen(filter), rrecord, c);
}

/* ---- Matching table ----------------------------------------------------- */

struct match_case {
    const char *filter, *topic;
    bool match;
};

static const struct match_case match_cases[] = {
    /* 4.7.1.2: multi-level wildcard */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"#", "/finance", true},
    /* 4.7.1.3: single-level wildcard */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+", "sport", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/tennis/x/y", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport//player1", true},
    {"+/monitor/Clients", "x/monitor/Clients", true},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+/#", "a", true},
    {"+/+/#", "a", false},
    /* 4.7.2: topics beginning with $ */
    {"#", "$SYS/monitor/Clients", false},
    {"#", "$SYS", false},
    {"+", "$SYS", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/monitor/+", "$SYS/monitor", false},
    {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
    {"a/$b/#", "a/$b/c", true},
    {"a/+", "a/$b", true}, /* only the first level is special */
    {"a/#", "a/$b", true},
    /* leading and trailing slashes, empty levels */
    {"/", "/", true},
    {"/", "//", false},
    {"/a", "a", false},
    {"a", "/a", false},
    {"a/", "a", false},
    {"a", "a/", false},
    {"a/+", "a/", true},
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/+/b", "a//b", true},
    {"+/+", "/", true},
    {"+", "/", false},
    {"/#", "/", true},
    {"/#", "a", false},
    {"//#", "/", true},
    /* exact, case and prefixes */
    {"sport/tennis", "sport/tennis", true},
    {"sport/tennis", "Sport/tennis", false},
    {"sport/tennis", "sport/tenni", false},
    {"sport/tenni", "sport/tennis", false},
    {"sport", "sport/tennis", false},
    {"a b/ c", "a b/ c", true},
    {"ü/+", "ü/ß", true},
};

static void test_match_table(void)
{
    for (size_t i = 0; i < sizeof match_cases / sizeof *match_cases; i++) {
        const struct match_case *c = &match_cases[i];
        size_t fl = strlen(c->filter), tl = strlen(c->topic);
        CHECK(mqtt_topic_valid_filter(c->filter, fl, NULL));
        CHECK(mqtt_topic_valid_name(c->topic, tl, NULL));
        bool one = mqtt_topic_matches(c->filter, fl, c->topic, tl);
        bool bf = bf_match(c->filter, c->topic);
        struct mqtt_topic_tree *t = mqtt_topic_tree_new();
        struct mqtt_topic_filter f = plain(c->filter);
        struct calls calls;
        mqtt_topic_add(t, S(1), &f, &(struct mqtt_topic_opts){.qos = 1});
        size_t n = match(t, c->topic, &calls);
        struct mqtt_retain *r = mqtt_retain_new();
        mqtt_retain_set(r, c->topic, tl, (void *)c);
        struct rcalls rc = {0};
        size_t rn = mqtt_retain_match(r, c->filter, fl, rrecord, &rc);
        if (one != c->match || bf != c->match || n != (size_t)c->match || rn != (size_t)c->match)
            fprintf(stderr,
                    "case %zu: filter \"%s\" topic \"%s\": expected %d, got %d/%d/%zu/%zu\n", i,
                    c->filter, c->topic, c->match, one, bf, n, rn);
        CHECK(one == c->match && bf == c->match);
        CHECK_EQ_INT(n, c->match);
        CHECK_EQ_INT(rn, c->match);
        mqtt_retain_free(r, NULL);
        mqtt_topic_tree_free(t);
    }
}

/* ---- Validation tables -------------------------------------------------- */

struct valid_case {
    const char *s;
    bool valid;
};

static const struct valid_case name_cases[] = {
    {"a", true},
    {"/", true},
    {"//", true},
    {"a/b/c", true},
    {"/a/", true},
    {"$SYS/x", true},
    {"a b", true},
    {"ü", true},
    {"$share/g/a", true},
    {"", false},
    {"+", false},
    {"#", false},
    {"a/+", false},
    {"a/#", false},
    {"a+", false},
    {"a#b", false},
    {"sport/tennis#", false},
};

static const struct valid_case filter_cases[] = {
    {"a", true},
    {"/", true},
    {"#", true},
    {"+", true},
    {"+/+", true},
    {"/+", true},
    {"+/", true},
    {"//", true},
    {"sport/tennis/#", true},
    {"sport/+/player1", true},
    {"+/tennis/#", true},
    {"sport/#", true},
    {"$SYS/#", true},
    {"a//+//#", true},
    {"", false},
    {"sport/tennis#", false},
    {"sport/tennis/#/ranking", false},
    {"#/", false},
    {"#/a", false},
    {"##", false},
    {"sport+", false},
    {"sport/+tennis", false},
    {"sport/ten+nis", false},
    {"++", false},
    {"+#", false},
    {"a/#b", false},
    {"a/b#", false},
};

static void test_valid_tables(void)
{
    for (size_t i = 0; i < sizeof name_cases / sizeof *name_cases; i++) {
        const char *s = name_cases[i].s;
        if (mqtt_topic_valid_name(s, strlen(s), NULL) != name_cases[i].valid)
            fprintf(stderr, "name \"%s\"\n", s);
        CHECK(mqtt_topic_valid_name(s, strlen(s), NULL) == name_cases[i].valid);
    }
    for (size_t i = 0; i < sizeof filter_cases / sizeof *filter_cases; i++) {
        const char *s = filter_cases[i].s;
        if (mqtt_topic_valid_filter(s, strlen(s), NULL) != filter_cases[i].valid)
            fprintf(stderr, "filter \"%s\"\n", s);
        CHECK(mqtt_topic_valid_filter(s, strlen(s), NULL) == filter_cases[i].valid);
    }
    /* an embedded NUL is refused (the codec should already have) */
    CHECK(!mqtt_topic_valid_name("a\0b", 3, NULL));
    CHECK(!mqtt_topic_valid_filter("a\0b", 3, NULL));
}

static void test_valid_limits(void)
{
    struct mqtt_topic_limits lim = {.max_len = 5, .max_levels = 3};
    CHECK(mqtt_topic_valid_name("a/b/c", 5, &lim));
    CHECK(!mqtt_topic_valid_name("a/b/cd", 6, &lim)); /* too long */
    CHECK(!mqtt_topic_valid_name("a/b/c/", 6, &lim));
    lim.max_len = 100;
    CHECK(!mqtt_topic_valid_name("a/b/c/d", 7, &lim)); /* 4 levels */
    CHECK(!mqtt_topic_valid_filter("a/b/c/#", 7, &lim));
    CHECK(mqtt_topic_valid_filter("a/b/#", 5, &lim));
    CHECK(!mqtt_topic_valid_filter("///", 3, &lim));
    CHECK(mqtt_topic_valid_filter("//", 2, &lim));
    /* defaults: 65535 bytes, 128 levels */
    static char big[70000];
    memset(big, 'a', sizeof big);
    CHECK(mqtt_topic_valid_name(big, 65535, NULL));
    CHECK(!mqtt_topic_valid_name(big, 65536, NULL));
    for (int i = 1; i < 400; i += 2)
        big[i] = '/';
    CHECK(mqtt_topic_valid_name(big, 255, NULL));  /* 128 levels */
    CHECK(!mqtt_topic_valid_name(big, 257, NULL)); /* 129 */
    CHECK(mqtt_topic_valid_filter(big, 255, NULL));
    CHECK(!mqtt_topic_valid_filter(big, 257, NULL));
    /* the ceiling applies whatever the limits say */
    lim = (struct mqtt_topic_limits){.max_len = 100000, .max_levels = 100000};
    memset(big, '/', sizeof big);
    CHECK(mqtt_topic_valid_name(big, MQTT_TOPIC_LEVELS_CEILING - 1, &lim));
    CHECK(!mqtt_topic_valid_name(big, MQTT_TOPIC_LEVELS_CEILING, &lim));
}

/* ---- $share parsing ----------------------------------------------------- */

struct share_case {
    const char *s;
    bool shares;
    int rc;
    const char *group, *filter;
};

static const struct share_case share_cases[] = {
    {"$share/consumer1/sport/tennis/+", true, 0, "consumer1", "sport/tennis/+"},
    {"$share/g/#", true, 0, "g", "#"},
    {"$share/g//", true, 0, "g", "/"},
    {"$share/g/$SYS/#", true, 0, "g", "$SYS/#"},
    {"$share/g/$share/h/x", true, 0, "g", "$share/h/x"},
    {"$share/g/", true, GK_EINVAL, NULL, NULL}, /* empty filter */
    {"$share/g", true, GK_EINVAL, NULL, NULL},  /* no filter */
    {"$share//a", true, GK_EINVAL, NULL, NULL}, /* empty group */
    {"$share/", true, GK_EINVAL, NULL, NULL},
    {"$share/g+/a", true, GK_EINVAL, NULL, NULL},
    {"$share/+/a", true, GK_EINVAL, NULL, NULL},
    {"$share/#/a", true, GK_EINVAL, NULL, NULL},
    {"$share/g/a#", true, GK_EINVAL, NULL, NULL},
    {"$share/g/a/#/b", true, GK_EINVAL, NULL, NULL},
    {"$share", true, 0, NULL, "$share"}, /* not a shared subscription */
    {"$sharegroup/a", true, 0, NULL, "$sharegroup/a"},
    {"$SHARE/g/a", true, 0, NULL, "$SHARE/g/a"},
    {"a/$share/g/b", true, 0, NULL, "a/$share/g/b"},
    {"$share/g/a", false, 0, NULL, "$share/g/a"}, /* MQTT 3.1.1 */
    {"$share/g", false, 0, NULL, "$share/g"},
    {"sport/+", true, 0, NULL, "sport/+"},
    {"sport+", true, GK_EINVAL, NULL, NULL},
    {"", true, GK_EINVAL, NULL, NULL},
};

static void test_parse_filter(void)
{
    for (size_t i = 0; i < sizeof share_cases / sizeof *share_cases; i++) {
        const struct share_case *c = &share_cases[i];
        struct mqtt_topic_filter f;
        int rc = mqtt_topic_parse_filter(c->s, strlen(c->s), NULL, c->shares, &f);
        if (rc != c->rc) fprintf(stderr, "share case \"%s\"\n", c->s);
        CHECK_EQ_INT(rc, c->rc);
        if (rc != 0 || c->rc != 0) continue;
        CHECK(f.len == strlen(c->filter) && memcmp(f.filter, c->filter, f.len) == 0);
        if (c->group)
            CHECK(f.group && f.group_len == strlen(c->group) &&
                  memcmp(f.group, c->group, f.group_len) == 0);
        else
            CHECK(f.group == NULL);
    }
    /* max_len covers the whole string, max_levels the filter part */
    struct mqtt_topic_filter f;
    struct mqtt_topic_limits lim = {.max_len = 12, .max_levels = 2};
    CHECK_EQ_INT(mqtt_topic_parse_filter("$share/g/a/b", 12, &lim, true, &f), 0);
    CHECK_EQ_INT(mqtt_topic_parse_filter("$share/g/a/bc", 13, &lim, true, &f), GK_EINVAL);
    lim.max_len = 100;
    CHECK_EQ_INT(mqtt_topic_parse_filter("$share/g/a/b/c", 14, &lim, true, &f), GK_EINVAL);
}

/* ---- The tree ----------------------------------------------------------- */

static void test_tree_add_replace_remove(void)
{
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    struct mqtt_topic_filter f = plain("a/+/c");
    struct calls c;
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &f, OPTS(1)), 0);
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &f, OPTS(2)), 1); /* replaced */
    CHECK_EQ_INT(mqtt_topic_count(t), 1);
    CHECK_EQ_INT(match(t, "a/b/c", &c), 1);
    CHECK(c.who[0] == S(1) && c.id[0] == 2 && c.qos[0] == 2 && c.group[0] == NULL);
    CHECK_EQ_INT(match(t, "a/b", &c), 0);
    /* the same subscriber on another filter, and shared on the same one */
    struct mqtt_topic_filter g = plain("a/#"), sh = shared("grp", "a/+/c");
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &g, OPTS(3)), 0);
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &sh, OPTS(4)), 0);
    CHECK_EQ_INT(mqtt_topic_count(t), 3);
    CHECK_EQ_INT(mqtt_topic_count_of(t, S(1)), 3);
    CHECK_EQ_INT(match(t, "a/b/c", &c), 3); /* one call per subscription */
    CHECK_EQ_INT(mqtt_topic_remove(t, S(1), &f), 1);
    CHECK_EQ_INT(mqtt_topic_remove(t, S(1), &f), 0);
    CHECK_EQ_INT(mqtt_topic_remove(t, S(2), &g), 0); /* never subscribed */
    CHECK_EQ_INT(
        mqtt_topic_remove(t, S(1),
                          &(struct mqtt_topic_filter){
                              .filter = "a/+/c", .len = 5, .group = "other", .group_len = 5}),
        0);
    CHECK_EQ_INT(match(t, "a/b/c", &c), 2);
    CHECK_EQ_INT(mqtt_topic_remove(t, S(1), &sh), 1);
    CHECK_EQ_INT(mqtt_topic_remove(t, S(1), &g), 1);
    CHECK_EQ_INT(mqtt_topic_count(t), 0);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    /* invalid filters and groups are refused */
    struct mqtt_topic_filter bad = plain("a/#/b");
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &bad, OPTS(1)), GK_EINVAL);
    CHECK_EQ_INT(mqtt_topic_remove(t, S(1), &bad), GK_EINVAL);
    struct mqtt_topic_filter badg = shared("g/h", "a");
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &badg, OPTS(1)), GK_EINVAL);
    badg = shared("", "a");
    CHECK_EQ_INT(mqtt_topic_add(t, S(1), &badg, OPTS(1)), GK_EINVAL);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    mqtt_topic_tree_free(t);
}

static void test_tree_many_subscribers(void)
{
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    struct mqtt_topic_filter f = plain("fan/out/+");
    struct calls c;
    char buf[32];
    for (uintptr_t i = 0; i < 1000; i++) {
        CHECK_EQ_INT(mqtt_topic_add(t, S(i), &f, OPTS((uint32_t)i + 1)), 0);
        snprintf(buf, sizeof buf, "dev/%u/cmd", (unsigned)i);
        struct mqtt_topic_filter own = plain(buf);
        CHECK_EQ_INT(mqtt_topic_add(t, S(i), &own, OPTS(100000 + (uint32_t)i)), 0);
    }
    CHECK_EQ_INT(mqtt_topic_count(t), 2000);
    CHECK_EQ_INT(match(t, "fan/out/x", &c), 1000);
    unsigned seen[1000] = {0};
    for (size_t i = 0; i < c.n; i++)
        seen[c.id[i] - 1]++;
    bool all_once = true;
    for (int i = 0; i < 1000; i++)
        all_once &= seen[i] == 1;
    CHECK(all_once);
    CHECK_EQ_INT(match(t, "dev/517/cmd", &c), 1);
    CHECK(c.who[0] == S(517) && c.id[0] == 100517);
    CHECK_EQ_INT(match(t, "dev/1000/cmd", &c), 0);
    for (uintptr_t i = 0; i < 1000; i += 2)
        CHECK_EQ_INT(mqtt_topic_remove(t, S(i), &f), 1);
    CHECK_EQ_INT(match(t, "fan/out/x", &c), 500);
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(mqtt_topic_remove_all(t, S(i)), i % 2 ? 2 : 1);
    CHECK_EQ_INT(mqtt_topic_count(t), 0);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    mqtt_topic_tree_free(t);
}

static void test_shared_round_robin(void)
{
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    struct mqtt_topic_filter g1 = shared("g", "s/+"), g2 = shared("h", "s/+"),
                             g3 = shared("g", "s/#"), p = plain("s/+");
    struct calls c;
    for (uintptr_t i = 0; i < 5; i++)
        mqtt_topic_add(t, S(i), &g1, OPTS((uint32_t)i));
    mqtt_topic_add(t, S(10), &g2, OPTS(10));
    mqtt_topic_add(t, S(11), &p, OPTS(11));
    /* 10 messages: group g on s/+ gives each member exactly two */
    unsigned turns[5] = {0};
    for (int m = 0; m < 10; m++) {
        CHECK_EQ_INT(match(t, "s/x", &c), 3); /* one of g, the one of h, the plain one */
        int in_g = 0;
        for (size_t i = 0; i < c.n; i++) {
            if (c.group[i] && strcmp(c.group[i], "g") == 0) {
                in_g++;
                turns[c.id[i]]++;
            } else if (c.group[i]) {
                CHECK_EQ_STR(c.group[i], "h");
                CHECK(c.who[i] == S(10));
            } else {
                CHECK(c.who[i] == S(11));
            }
        }
        CHECK_EQ_INT(in_g, 1);
    }
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(turns[i], 2);
    /* the same share name on another filter is another shared subscription */
    mqtt_topic_add(t, S(20), &g3, OPTS(20));
    CHECK_EQ_INT(match(t, "s/x", &c), 4);
    CHECK_EQ_INT(match(t, "s", &c), 1); /* "s/#" matches "s" */
    CHECK(c.who[0] == S(20));
    /* members leaving, including the one whose turn is next */
    memset(turns, 0, sizeof turns);
    for (int m = 0; m < 6; m++) {
        match(t, "s/y", &c);
        for (size_t i = 0; i < c.n; i++)
            if (c.group[i] && !strcmp(c.group[i], "g") && c.who[i] != S(20)) turns[c.id[i]]++;
        if (m == 1) {
            CHECK_EQ_INT(mqtt_topic_remove(t, S(2), &g1), 1);
            CHECK_EQ_INT(mqtt_topic_remove_all(t, S(3)), 1);
        }
    }
    CHECK_EQ_INT(turns[0] + turns[1] + turns[4], 6 - turns[2] - turns[3]);
    CHECK(turns[0] >= 1 && turns[1] >= 1 && turns[4] >= 1);
    for (uintptr_t i = 0; i < 5; i++)
        mqtt_topic_remove(t, S(i), &g1);
    CHECK_EQ_INT(match(t, "s/x", &c), 3);
    mqtt_topic_remove_all(t, S(10));
    mqtt_topic_remove_all(t, S(11));
    mqtt_topic_remove_all(t, S(20));
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    mqtt_topic_tree_free(t);
}

static void test_dollar_topics_in_tree(void)
{
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    const char *filters[] = {"#", "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "+/#"};
    struct calls c;
    for (uintptr_t i = 0; i < 5; i++) {
        struct mqtt_topic_filter f = plain(filters[i]);
        mqtt_topic_add(t, S(i), &f, OPTS((uint32_t)i));
    }
    struct mqtt_topic_filter sh = shared("g", "#");
    mqtt_topic_add(t, S(9), &sh, OPTS(9));
    CHECK_EQ_INT(match(t, "$SYS/monitor/Clients", &c), 2);
    CHECK((c.id[0] == 2 && c.id[1] == 3) || (c.id[0] == 3 && c.id[1] == 2));
    CHECK_EQ_INT(match(t, "x/monitor/Clients", &c), 4);
    mqtt_topic_tree_free(t); /* frees with subscriptions still held */
}

static void test_remove_all_and_pruning(void)
{
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    const char *fs[] = {"a/b/c", "a/b/c/d", "a/+/c", "a/#", "#", "+", "/", "//", "a//b", "$SYS/#"};
    for (uintptr_t s = 1; s <= 3; s++)
        for (size_t i = 0; i < 10; i++) {
            struct mqtt_topic_filter f = plain(fs[i]);
            mqtt_topic_add(t, S(s), &f, OPTS((uint32_t)i));
        }
    struct mqtt_topic_filter g = shared("grp", "a/b/c");
    mqtt_topic_add(t, S(2), &g, OPTS(99));
    size_t nodes = mqtt_topic_tree_nodes(t);
    CHECK(nodes > 10);
    CHECK_EQ_INT(mqtt_topic_remove_all(t, S(1)), 10);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), nodes); /* still held by 2 and 3 */
    CHECK_EQ_INT(mqtt_topic_remove_all(t, S(1)), 0);
    CHECK_EQ_INT(mqtt_topic_remove_all(t, S(2)), 11);
    CHECK_EQ_INT(mqtt_topic_count_of(t, S(2)), 0);
    CHECK_EQ_INT(mqtt_topic_count_of(t, S(3)), 10);
    struct calls c;
    CHECK_EQ_INT(match(t, "a/b/c", &c), 4); /* a/b/c, a/+/c, a/#, # */
    for (size_t i = 0; i < 10; i++) {
        struct mqtt_topic_filter f = plain(fs[i]);
        CHECK_EQ_INT(mqtt_topic_remove(t, S(3), &f), 1);
    }
    CHECK_EQ_INT(mqtt_topic_count(t), 0);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    /* a deep filter comes and goes */
    struct mqtt_topic_filter deep = plain("1/2/3/4/5/6/7/8/9/+/#");
    mqtt_topic_add(t, S(1), &deep, OPTS(1));
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 11);
    CHECK_EQ_INT(match(t, "1/2/3/4/5/6/7/8/9/x", &c), 1);
    mqtt_topic_remove(t, S(1), &deep);
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    mqtt_topic_tree_free(t);
}

/* ---- Retained store ----------------------------------------------------- */

static void set(struct mqtt_retain *r, const char *topic, void *msg)
{
    mqtt_retain_set(r, topic, strlen(topic), msg);
}

static void test_retain_set_replace_clear(void)
{
    struct mqtt_retain *r = mqtt_retain_new();
    int m1, m2;
    CHECK(mqtt_retain_set(r, "a/b", 3, &m1) == NULL);
    CHECK(mqtt_retain_get(r, "a/b", 3) == &m1);
    CHECK(mqtt_retain_get(r, "a", 1) == NULL);
    CHECK(mqtt_retain_set(r, "a/b", 3, &m2) == &m1); /* replaced, old handed back */
    CHECK_EQ_INT(mqtt_retain_count(r), 1);
    CHECK(mqtt_retain_set(r, "a", 1, NULL) == NULL); /* clearing nothing */
    CHECK(mqtt_retain_set(r, "x/y/z", 5, NULL) == NULL);
    CHECK_EQ_INT(mqtt_retain_nodes(r), 2);
    CHECK(mqtt_retain_set(r, "a", 1, &m1) == NULL);
    CHECK_EQ_INT(mqtt_retain_count(r), 2);
    CHECK(mqtt_retain_set(r, "a/b", 3, NULL) == &m2);
    CHECK_EQ_INT(mqtt_retain_count(r), 1);
    CHECK_EQ_INT(mqtt_retain_nodes(r), 1); /* "a/b" pruned, "a" kept */
    CHECK(mqtt_retain_set(r, "a", 1, NULL) == &m1);
    CHECK_EQ_INT(mqtt_retain_count(r), 0);
    CHECK_EQ_INT(mqtt_retain_nodes(r), 0);
    mqtt_retain_free(r, NULL);
}

static void test_retain_match(void)
{
    struct mqtt_retain *r = mqtt_retain_new();
    const char *topics[] = {
        "sport", "sport/tennis", "sport/tennis/player1", "sport/golf", "/finance",
        "/",     "a//b",         "$SYS/monitor/Clients", "$SYS",       "x/$y",
        "sport/"};
    for (size_t i = 0; i < 11; i++)
        set(r, topics[i], (void *)topics[i]);
    CHECK_EQ_INT(mqtt_retain_count(r), 11);
    struct rcalls c;
    CHECK_EQ_INT(rmatch(r, "#", &c), 9); /* all but the two $SYS ones */
    CHECK(!rseen(&c, "$SYS") && rseen(&c, "/") && rseen(&c, "a//b") && rseen(&c, "x/$y"));
    CHECK_EQ_INT(rmatch(r, "sport/#", &c), 5);
    CHECK(rseen(&c, "sport") && rseen(&c, "sport/") && rseen(&c, "sport/tennis/player1"));
    CHECK_EQ_INT(rmatch(r, "sport/+", &c), 3);
    CHECK(rseen(&c, "sport/tennis") && rseen(&c, "sport/golf") && rseen(&c, "sport/"));
    CHECK_EQ_INT(rmatch(r, "+", &c), 1);
    CHECK(rseen(&c, "sport"));
    CHECK_EQ_INT(rmatch(r, "+/+", &c), 6); /* /finance / sport/tennis sport/golf sport/ x/$y */
    CHECK_EQ_INT(rmatch(r, "/+", &c), 2);
    CHECK_EQ_INT(rmatch(r, "$SYS/#", &c), 2);
    CHECK_EQ_INT(rmatch(r, "$SYS/monitor/+", &c), 1);
    CHECK_EQ_INT(rmatch(r, "+/monitor/Clients", &c), 0);
    CHECK_EQ_INT(rmatch(r, "a/+/b", &c), 1);
    CHECK_EQ_INT(rmatch(r, "x/+", &c), 1);
    CHECK_EQ_INT(rmatch(r, "sport/tennis", &c), 1);
    CHECK(c.msg[0] == topics[1]);
    CHECK_EQ_STR(c.topics[0], "sport/tennis");
    CHECK_EQ_INT(rmatch(r, "nothing/#", &c), 0);
    CHECK_EQ_INT(rmatch(r, "a/#/b", &c), 0); /* invalid filter */
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(mqtt_retain_foreach(r, rrecord, &c), 11);
    for (size_t i = 0; i < 11; i++)
        CHECK(rseen(&c, topics[i]));
    for (size_t i = 0; i < 11; i++)
        CHECK(mqtt_retain_set(r, topics[i], strlen(topics[i]), NULL) == topics[i]);
    CHECK_EQ_INT(mqtt_retain_nodes(r), 0);
    mqtt_retain_free(r, NULL);
}

static void test_retain_free_messages(void)
{
    struct mqtt_retain *r = mqtt_retain_new();
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "t/%d/%d", i % 7, i);
        char *msg = malloc(8);
        mqtt_retain_set(r, name, strlen(name), msg);
    }
    CHECK_EQ_INT(mqtt_retain_count(r), 100);
    mqtt_retain_free(r, free); /* ASan's leak check verifies each was freed */
}

/* ---- Randomized cross-checks -------------------------------------------- */

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static void random_string(char *out, bool filter)
{
    static const char *const lv[] = {"a", "b", "", "$s", "ab"};
    int levels = (int)rnd(4) + 1;
    out[0] = '\0';
    for (int i = 0; i < levels; i++) {
        if (i) strcat(out, "/");
        if (filter && i == levels - 1 && rnd(4) == 0)
            strcat(out, "#");
        else if (filter && rnd(4) == 0)
            strcat(out, "+");
        else
            strcat(out, lv[rnd(5)]);
    }
    if (!out[0]) /* never the empty (invalid) string */
        strcpy(out, "/");
}

#define NSUBS 300

struct bf_sub {
    bool live;
    uintptr_t who;
    int group; /* -1, 0 or 1 */
    char filter[40];
};

static int bf_find(struct bf_sub *subs, uintptr_t who, int group, const char *filter)
{
    for (int i = 0; i < NSUBS; i++)
        if (subs[i].live && subs[i].who == who && subs[i].group == group &&
            strcmp(subs[i].filter, filter) == 0)
            return i;
    return -1;
}

static const char *const group_names[] = {"g0", "g1"};

static struct mqtt_topic_filter bf_filter(const struct bf_sub *s)
{
    return s->group < 0 ? plain(s->filter) : shared(group_names[s->group], s->filter);
}

/* Compares one match against the brute force: every matching plain
 * subscription once, one member per matching (group, filter). */
static size_t random_calls; /* to check the cross-check is not vacuous */

static bool check_match(struct mqtt_topic_tree *t, struct bf_sub *subs, const char *topic)
{
    struct calls c;
    random_calls += match(t, topic, &c);
    unsigned got[NSUBS] = {0};
    for (size_t i = 0; i < c.n; i++) {
        uint32_t id = c.id[i];
        if (id >= NSUBS || !subs[id].live || c.who[i] != S(subs[id].who)) return false;
        if ((c.group[i] == NULL) != (subs[id].group < 0)) return false;
        got[id]++;
    }
    for (int i = 0; i < NSUBS; i++) {
        if (!subs[i].live) continue;
        bool m = bf_match(subs[i].filter, topic);
        if (subs[i].group < 0 && got[i] != (unsigned)m) return false;
        if (subs[i].group < 0 || !m) continue;
        unsigned in_group = 0; /* calls for this (group, filter) */
        for (int j = 0; j < NSUBS; j++)
            if (subs[j].live && subs[j].group == subs[i].group &&
                strcmp(subs[j].filter, subs[i].filter) == 0)
                in_group += got[j];
        if (in_group != 1) return false;
    }
    return true;
}

static void random_op(struct mqtt_topic_tree *t, struct bf_sub *subs, int *failures)
{
    char f[40];
    uintptr_t who = rnd(12);
    int group = (int)rnd(4) - 2;
    group = group < 0 ? -1 : group;
    random_string(f, true);
    int i = bf_find(subs, who, group, f);
    struct bf_sub probe = {true, who, group, ""};
    strcpy(probe.filter, f);
    struct mqtt_topic_filter tf = bf_filter(&probe);
    uint32_t r = rnd(10);
    if (r < 6) {
        int slot = i;
        for (int k = 0; slot < 0 && k < NSUBS; k++)
            if (!subs[k].live) slot = k;
        if (slot < 0) return;
        if (mqtt_topic_add(t, S(who), &tf, OPTS((uint32_t)slot)) != (i >= 0)) (*failures)++;
        subs[slot] = probe;
    } else if (r < 9) {
        if (mqtt_topic_remove(t, S(who), &tf) != (i >= 0)) (*failures)++;
        if (i >= 0) subs[i].live = false;
    } else {
        size_t n = 0;
        for (int k = 0; k < NSUBS; k++)
            if (subs[k].live && subs[k].who == who) {
                subs[k].live = false;
                n++;
            }
        if (mqtt_topic_remove_all(t, S(who)) != n) (*failures)++;
    }
}

static void test_random_tree(void)
{
    static struct bf_sub subs[NSUBS];
    memset(subs, 0, sizeof subs);
    struct mqtt_topic_tree *t = mqtt_topic_tree_new();
    int failures = 0, checks = 0;
    char topic[40];
    for (int round = 0; round < 4000; round++) {
        random_op(t, subs, &failures);
        for (int k = 0; k < 3; k++) {
            random_string(topic, false);
            checks++;
            if (!check_match(t, subs, topic)) {
                if (failures < 5) fprintf(stderr, "random tree: mismatch on \"%s\"\n", topic);
                failures++;
            }
        }
    }
    size_t live = 0;
    for (int k = 0; k < NSUBS; k++)
        live += subs[k].live;
    CHECK_EQ_INT(mqtt_topic_count(t), live);
    for (uintptr_t w = 0; w < 12; w++)
        mqtt_topic_remove_all(t, S(w));
    CHECK_EQ_INT(mqtt_topic_tree_nodes(t), 0);
    CHECK_EQ_INT(failures, 0);
    CHECK(checks == 12000);
    CHECK(random_calls > 20000);
    mqtt_topic_tree_free(t);
}

static void test_random_retain(void)
{
    struct mqtt_retain *r = mqtt_retain_new();
    static char held[64][40]; /* the brute force: retained topic names */
    bool live[64] = {0};
    int failures = 0;
    char s[40];
    for (int round = 0; round < 5000; round++) {
        int k = (int)rnd(64);
        if (live[k]) /* the slot gets a new name: forget the old one */
            mqtt_retain_set(r, held[k], strlen(held[k]), NULL);
        live[k] = false;
        random_string(held[k], false);
        for (int j = 0; j < 64; j++) /* one slot per name */
            if (j != k && live[j] && strcmp(held[j], held[k]) == 0) live[j] = false;
        live[k] = rnd(3) != 0;
        mqtt_retain_set(r, held[k], strlen(held[k]), live[k] ? held[k] : NULL);
        random_string(s, true);
        struct rcalls c;
        rmatch(r, s, &c);
        size_t want = 0;
        for (int j = 0; j < 64; j++)
            if (live[j] && bf_match(s, held[j])) {
                want++;
                failures += !rseen(&c, held[j]);
            }
        failures += c.n != want;
    }
    size_t n = 0;
    for (int j = 0; j < 64; j++)
        n += live[j];
    CHECK_EQ_INT(mqtt_retain_count(r), n);
    CHECK_EQ_INT(failures, 0);
    for (int j = 0; j < 64; j++)
        mqtt_retain_set(r, held[j], strlen(held[j]), NULL);
    CHECK_EQ_INT(mqtt_retain_nodes(r), 0);
    mqtt_retain_free(r, NULL);
}

int main(void)
{
    RUN(test_match_table);
    RUN(test_valid_tables);
    RUN(test_valid_limits);
    RUN(test_parse_filter);
    RUN(test_tree_add_replace_remove);
    RUN(test_tree_many_subscribers);
    RUN(test_shared_round_robin);
    RUN(test_dollar_topics_in_tree);
    RUN(test_remove_all_and_pruning);
    RUN(test_retain_set_replace_clear);
    RUN(test_retain_match);
    RUN(test_retain_free_messages);
    RUN(test_random_tree);
    RUN(test_random_retain);
    TEST_MAIN_END();
}
