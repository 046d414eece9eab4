/* topic.h: the broker's topic machinery (MQTT 3.1.1 and 5.0, section 4.7;
 * shared subscriptions, 5.0 section 4.8.2).
 *
 * Three parts:
 *  - validation of PUBLISH topic names and SUBSCRIBE topic filters, and the
 *    parsing of "$share/GROUP/FILTER" (pure functions, no allocation);
 *  - the subscription tree (struct mqtt_topic_tree): filters in a tree of
 *    levels, matched against a topic name without allocating;
 *  - the retained-message store (struct mqtt_retain): messages keyed by topic
 *    name, matched against a filter when a subscription is made.
 *
 * Strings are (pointer, length) pairs, not NUL-terminated; the codec has
 * already checked that they are well-formed UTF-8 without U+0000. Neither the
 * tree nor the store keeps pointers to the caller's strings. Subscribers and
 * retained messages are opaque pointers owned by the caller. Callbacks run
 * synchronously inside the match or iteration call and must not modify the
 * tree or store they were called from (asserted for the tree). */
#ifndef GASKET_MQTT_TOPIC_H
#define GASKET_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_TOPIC_MAX_LEN_DEFAULT    65535
#define MQTT_TOPIC_MAX_LEVELS_DEFAULT 128
/* A hard ceiling on levels, whatever the limits say: it bounds the depth of
 * the tree and store, and so the recursion of matching. */
#define MQTT_TOPIC_LEVELS_CEILING 1024

/* Limits from the configuration. max_len counts bytes of the whole string
 * (for "$share/GROUP/FILTER", the whole of it); max_levels counts levels
 * ("a/b" has 2, "/" has 2, "a" has 1; for a shared subscription, those of
 * FILTER). A NULL limits pointer means the defaults above. */
struct mqtt_topic_limits {
    size_t max_len;
    unsigned max_levels;
};

/* True when t is a valid PUBLISH topic name: non-empty, no '+' or '#', no NUL,
 * within the limits. Names starting with '$' are valid here; whether a client
 * may publish to them is the broker's policy. */
bool mqtt_topic_valid_name(const char *t, size_t len, const struct mqtt_topic_limits *lim);

/* True when f is a valid topic filter: non-empty, no NUL, '+' only as a whole
 * level, '#' only as the whole last level, within the limits. Does not
 * interpret "$share/" (see mqtt_topic_parse_filter). */
bool mqtt_topic_valid_filter(const char *f, size_t len, const struct mqtt_topic_limits *lim);

/* A subscription's filter, and its share group when it is a shared one. The
 * pointers point into the caller's string. */
struct mqtt_topic_filter {
    const char *filter; /* the topic filter proper */
    size_t len;
    const char *group; /* share name, NULL when the subscription is not shared */
    size_t group_len;
};

/* Parses and validates one SUBSCRIBE or UNSUBSCRIBE topic filter into *out.
 * With `shares` (MQTT 5), a string starting with "$share/" is a shared
 * subscription "$share/GROUP/FILTER": GROUP must be non-empty without '/', '+'
 * or '#', and FILTER a valid filter; without it (3.1.1) "$share/..." is an
 * ordinary filter. Returns 0, or GK_EINVAL for an invalid filter (out is then
 * unspecified). */
int mqtt_topic_parse_filter(const char *s, size_t len, const struct mqtt_topic_limits *lim,
                            bool shares, struct mqtt_topic_filter *out);

/* True when the (valid) filter matches the (valid) topic name, with the rule
 * that a filter starting with a wildcard does not match a name starting with
 * '$' (4.7.2). For one-off checks such as access rules; the tree is the fast
 * path for many filters. */
bool mqtt_topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* ---- The subscription tree --------------------------------------------- */

/* Subscription options (SUBSCRIBE payload, 5.0 section 3.8.3.1). The tree
 * stores and hands them back; it interprets none of them. */
struct mqtt_topic_opts {
    uint32_t sub_id;         /* subscription identifier, 0 = none */
    uint8_t qos;             /* 0..2 */
    uint8_t retain_handling; /* 0..2 */
    bool no_local;
    bool retain_as_published;
};

struct mqtt_topic_tree;

/* Called once per matching subscription: `group` is NULL for an ordinary
 * subscription, or the NUL-terminated share name when `subscriber` was chosen
 * as the one member of that shared subscription to receive the message. A
 * subscriber holding several matching subscriptions is called once for each;
 * merging them (5.0 section 3.3.4: one delivery at the maximum QoS, with all
 * subscription identifiers) is the caller's business. `opts` is valid only
 * during the call. */
typedef void (*mqtt_topic_match_cb)(void *ud, void *subscriber, const struct mqtt_topic_opts *opts,
                                    const char *group);

struct mqtt_topic_tree *mqtt_topic_tree_new(void);

/* Frees the tree and all its subscriptions; the subscribers are not touched. */
void mqtt_topic_tree_free(struct mqtt_topic_tree *t);

/* Adds a subscription of `subscriber` to f (a filter and optional share
 * group, as from mqtt_topic_parse_filter), or replaces the options of the one
 * it already holds on exactly that filter and group. A subscription is keyed
 * by (subscriber, filter, group): "a/b", "$share/g/a/b" and "$share/h/a/b" are
 * three. Returns 1 when it replaced an existing one (retain handling 1 sends
 * retained messages only when this is 0), 0 when new, GK_EINVAL when f is not
 * a valid filter or group (limits are the caller's: only the structure and
 * MQTT_TOPIC_LEVELS_CEILING are checked). Nothing is copied from opts beyond
 * the call; the filter text is copied. */
int mqtt_topic_add(struct mqtt_topic_tree *t, void *subscriber, const struct mqtt_topic_filter *f,
                   const struct mqtt_topic_opts *opts);

/* Removes the subscription of `subscriber` to f. Returns 1 when it existed, 0
 * when it did not (5.0 UNSUBACK reason 0x11), GK_EINVAL for an invalid f.
 * Tree nodes left empty are freed. */
int mqtt_topic_remove(struct mqtt_topic_tree *t, void *subscriber,
                      const struct mqtt_topic_filter *f);

/* Removes every subscription of `subscriber` (session end), in time
 * proportional to the number it holds. Returns how many were removed. */
size_t mqtt_topic_remove_all(struct mqtt_topic_tree *t, void *subscriber);

/* Calls cb for each subscription matching the topic name (which should be
 * valid): every matching ordinary subscription, and for each matching shared
 * subscription one member, chosen round-robin. Does not allocate. Returns the
 * number of calls. */
size_t mqtt_topic_match(struct mqtt_topic_tree *t, const char *topic, size_t len,
                        mqtt_topic_match_cb cb, void *ud);

/* Number of subscriptions held in the tree. */
size_t mqtt_topic_count(const struct mqtt_topic_tree *t);

/* Number of subscriptions `subscriber` holds. */
size_t mqtt_topic_count_of(const struct mqtt_topic_tree *t, void *subscriber);

/* Number of tree nodes besides the root (0 when the tree is empty): a
 * diagnostic for tests and memory accounting. */
size_t mqtt_topic_tree_nodes(const struct mqtt_topic_tree *t);

/* ---- The retained-message store ---------------------------------------- */

struct mqtt_retain;

/* Called with a retained topic name (NUL-terminated, valid only during the
 * call) and its message. */
typedef void (*mqtt_retain_cb)(void *ud, const char *topic, size_t len, void *msg);

struct mqtt_retain *mqtt_retain_new(void);

/* Frees the store, passing each message still held to free_msg (if not NULL). */
void mqtt_retain_free(struct mqtt_retain *s, void (*free_msg)(void *msg));

/* Sets the retained message of a (valid) topic name to msg, or clears it when
 * msg is NULL (the caller maps a retained PUBLISH with an empty payload to
 * NULL). The store holds msg until it is replaced, cleared or the store freed;
 * it never frees it. Returns the message previously retained there, now the
 * caller's to free, or NULL. */
void *mqtt_retain_set(struct mqtt_retain *s, const char *topic, size_t len, void *msg);

/* The message retained on exactly this topic name, or NULL. */
void *mqtt_retain_get(const struct mqtt_retain *s, const char *topic, size_t len);

/* Calls cb for every retained message whose topic name matches the filter
 * (same rules as the tree, '$' included), walking only the branches the filter
 * can reach. Returns the number of calls, 0 for an invalid filter. */
size_t mqtt_retain_match(struct mqtt_retain *s, const char *filter, size_t len, mqtt_retain_cb cb,
                         void *ud);

/* Calls cb for every retained message (for persistence); returns how many. */
size_t mqtt_retain_foreach(struct mqtt_retain *s, mqtt_retain_cb cb, void *ud);

/* Number of retained messages. */
size_t mqtt_retain_count(const struct mqtt_retain *s);

/* Number of store nodes besides the root (0 when empty): a diagnostic. */
size_t mqtt_retain_nodes(const struct mqtt_retain *s);

#endif
