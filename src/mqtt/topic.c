/* topic.c: validation of MQTT topic names and filters, "$share/" parsing and
 * single filter matching (MQTT 3.1.1 and 5.0 section 4.7, 5.0 4.8.2).
 *
 * Pure functions over (pointer, length) strings. The subscription tree is in
 * topic_tree.c, the retained store in retain.c. */
#include "mqtt/topic.h"
#include "core/err.h"
#include "mqtt/topic_node.h"

#include <string.h>

#define SHARE_PREFIX     "$share/"
#define SHARE_PREFIX_LEN 7

static const struct mqtt_topic_limits default_limits = {MQTT_TOPIC_MAX_LEN_DEFAULT,
                                                        MQTT_TOPIC_MAX_LEVELS_DEFAULT};

static unsigned max_levels(const struct mqtt_topic_limits *lim)
{
    return lim->max_levels < MQTT_TOPIC_LEVELS_CEILING ? lim->max_levels
                                                       : MQTT_TOPIC_LEVELS_CEILING;
}

bool mqtt_topic_valid_name(const char *t, size_t len, const struct mqtt_topic_limits *lim)
{
    if (!lim) lim = &default_limits;
    if (len == 0 || len > lim->max_len) return false;
    unsigned levels = 1, cap = max_levels(lim);
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '+' || c == '#' || c == '\0') return false;
        if (c == '/' && ++levels > cap) return false;
    }
    return true;
}

bool mqtt_topic_valid_filter(const char *f, size_t len, const struct mqtt_topic_limits *lim)
{
    if (!lim) lim = &default_limits;
    if (len == 0 || len > lim->max_len) return false;
    unsigned levels = 1, cap = max_levels(lim);
    for (size_t i = 0; i < len; i++) {
        char c = f[i];
        bool starts = i == 0 || f[i - 1] == '/';
        bool ends = i + 1 == len || f[i + 1] == '/';
        if (c == '\0') return false;
        if (c == '+' && !(starts && ends)) return false;
        if (c == '#' && !(starts && i + 1 == len)) return false;
        if (c == '/' && ++levels > cap) return false;
    }
    return true;
}

/* A share name: non-empty, without '/', '+', '#' (or NUL). */
static bool valid_group(const char *g, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (g[i] == '/' || g[i] == '+' || g[i] == '#' || g[i] == '\0') return false;
    return true;
}

int mqtt_topic_parse_filter(const char *s, size_t len, const struct mqtt_topic_limits *lim,
                            bool shares, struct mqtt_topic_filter *out)
{
    if (!lim) lim = &default_limits;
    *out = (struct mqtt_topic_filter){.filter = s, .len = len};
    if (shares && len >= SHARE_PREFIX_LEN && memcmp(s, SHARE_PREFIX, SHARE_PREFIX_LEN) == 0) {
        if (len > lim->max_len) return GK_EINVAL;
        const char *g = s + SHARE_PREFIX_LEN, *end = s + len;
        const char *slash = memchr(g, '/', (size_t)(end - g));
        if (!slash || !valid_group(g, (size_t)(slash - g))) return GK_EINVAL;
        *out = (struct mqtt_topic_filter){.filter = slash + 1,
                                          .len = (size_t)(end - slash - 1),
                                          .group = g,
                                          .group_len = (size_t)(slash - g)};
    }
    return mqtt_topic_valid_filter(out->filter, out->len, lim) ? 0 : GK_EINVAL;
}

bool mqtt_topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    if (tlen && topic[0] == '$' && flen && (filter[0] == '+' || filter[0] == '#')) return false;
    const char *fe = filter + flen, *te = topic + tlen, *f = filter, *t = topic;
    while (f) {
        const char *fn, *tn;
        size_t fl = mqtt_topic__level(f, fe, &fn);
        if (fl == 1 && f[0] == '#') return true; /* also when t is NULL: "a/#" matches "a" */
        if (!t) return false;
        size_t tl = mqtt_topic__level(t, te, &tn);
        if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0)) return false;
        f = fn;
        t = tn;
    }
    return t == NULL;
}
