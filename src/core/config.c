/* config.c: the INI configuration of gasketd (see config.h).
 *
 * One table, `keys`, declares every key of every section with its type,
 * default text and bounds; defaults are parsed by the same code as the file,
 * so the table is also the documentation's source of truth. libinih does
 * the lexing; a line-counting reader wrapped around fgets gives every key
 * and section its line number (and sees sections that have no keys). */
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum kind { K_STR, K_BOOL, K_LONG, K_SIZE, K_MS, K_DOUBLE, K_ENUM };

enum sect { S_SERVER, S_HTTP, S_MQTT, S_APIKEY, S_ROUTE, S_RULE, S_INDEX, S_COUNT };

struct sect_info {
    const char *name;
    int named; /* [route PATH]: repeated, with a name */
};

static const struct sect_info sects[S_COUNT] = {
    [S_SERVER] = {"server", 0}, [S_HTTP] = {"http", 0},   [S_MQTT] = {"mqtt", 0},
    [S_APIKEY] = {"apikey", 1}, [S_ROUTE] = {"route", 1}, [S_RULE] = {"rule", 1},
    [S_INDEX] = {"index", 1},
};

static const char *const durability_names[] = {"full", "normal", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const alerts_names[] = {"on_change", "every_reading", NULL};
static const char *const op_names[] = {">=", "<=", NULL};
static const char *const login_names[] = {"auto", "on", "off", NULL};

struct key {
    enum sect sect;
    const char *name;
    enum kind kind;
    size_t off;    /* into the section's struct */
    const char *def; /* default, parsed like a value from the file; NULL: unset */
    int built;     /* 0: accepted, but its feature is not built yet */
    double min, max;
    const char *const *choices; /* K_ENUM */
};

#define SV(f) offsetof(struct cfg_server, f)
#define HT(f) offsetof(struct cfg_http, f)
#define MQ(f) offsetof(struct cfg_mqtt, f)
#define AK(f) offsetof(struct cfg_apikey, f)
#define RT(f) offsetof(struct cfg_route, f)
#define RU(f) offsetof(struct cfg_rule, f)
#define IX(f) offsetof(struct cfg_index, f)
#define BIG 1e15

static const struct key keys[] = {
    {S_SERVER, "data_dir", K_STR, SV(data_dir), "./data", 1, 0, 0, NULL},
    {S_SERVER, "timezone", K_STR, SV(timezone), NULL, 1, 0, 0, NULL},
    {S_SERVER, "log_level", K_ENUM, SV(log_level), "info", 1, 0, 0, level_names},
    {S_SERVER, "durability", K_ENUM, SV(durability), "full", 1, 0, 0, durability_names},
    {S_SERVER, "max_pending", K_LONG, SV(max_pending), "10000", 1, 1, 10000000, NULL},
    {S_SERVER, "idempotency_window", K_MS, SV(idempotency_window), "24h", 1, 1000, 31536000000.0,
     NULL},
    {S_SERVER, "flush_docs", K_LONG, SV(flush_docs), "16384", 1, 1, 1000000, NULL},
    {S_SERVER, "flush_interval", K_MS, SV(flush_interval), "10m", 1, 1000, 86400000, NULL},
    {S_SERVER, "apikeys_file", K_STR, SV(apikeys_file), NULL, 1, 0, 0, NULL},
    {S_HTTP, "listen", K_STR, HT(listen), "0.0.0.0:8080", 1, 0, 0, NULL},
    {S_HTTP, "tls_listen", K_STR, HT(tls_listen), NULL, 1, 0, 0, NULL},
    {S_HTTP, "tls_cert", K_STR, HT(tls_cert), NULL, 1, 0, 0, NULL},
    {S_HTTP, "tls_key", K_STR, HT(tls_key), NULL, 1, 0, 0, NULL},
    {S_HTTP, "max_body", K_SIZE, HT(max_body), "1MiB", 1, 1, 1 << 30, NULL},
    {S_HTTP, "max_bulk_body", K_SIZE, HT(max_bulk_body), "16MiB", 1, 1, 1 << 30, NULL},
    {S_HTTP, "max_connections", K_LONG, HT(max_connections), "1024", 1, 1, 1000000, NULL},
    {S_HTTP, "header_timeout", K_MS, HT(header_timeout), "10s", 1, 1, 3600000, NULL},
    {S_HTTP, "idle_timeout", K_MS, HT(idle_timeout), "60s", 1, 1, 86400000, NULL},
    {S_HTTP, "dashboard_users", K_STR, HT(dashboard_users), NULL, 1, 0, 0, NULL},
    {S_HTTP, "dashboard_login", K_ENUM, HT(dashboard_login), "auto", 1, 0, 0, login_names},
    {S_HTTP, "dashboard_session", K_MS, HT(dashboard_session), "12h", 1, 1000, 2592000000.0, NULL},
    {S_HTTP, "live_topic", K_STR, HT(live_topic), "gasket/live", 1, 0, 0, NULL},
    {S_HTTP, "allowed_origins", K_STR, HT(allowed_origins), NULL, 1, 0, 0, NULL},
    {S_HTTP, "web_root", K_STR, HT(web_root), NULL, 1, 0, 0, NULL},
    {S_HTTP, "metrics_public", K_BOOL, HT(metrics_public), "false", 1, 0, 0, NULL},
    {S_HTTP, "search_threads", K_LONG, HT(search_threads), "2", 1, 1, 64, NULL},
    {S_HTTP, "search_max_timeout", K_MS, HT(search_max_timeout), "60s", 1, 1, 86400000, NULL},
    {S_HTTP, "search_max_buckets", K_LONG, HT(search_max_buckets), "65535", 1, 1, 100000000, NULL},
    {S_HTTP, "search_max_aggs", K_LONG, HT(search_max_aggs), "100", 1, 1, 100000, NULL},
    {S_HTTP, "search_max_memory", K_SIZE, HT(search_max_memory), "256MiB", 1, 1 << 20, 1 << 30, NULL},
    {S_MQTT, "listen", K_STR, MQ(listen), "0.0.0.0:1883", 1, 0, 0, NULL},
    {S_MQTT, "tls_listen", K_STR, MQ(tls_listen), NULL, 1, 0, 0, NULL},
    {S_MQTT, "tls_cert", K_STR, MQ(tls_cert), NULL, 1, 0, 0, NULL},
    {S_MQTT, "tls_key", K_STR, MQ(tls_key), NULL, 1, 0, 0, NULL},
    {S_MQTT, "tls_ca", K_STR, MQ(tls_ca), NULL, 1, 0, 0, NULL},
    {S_MQTT, "tls_crl", K_STR, MQ(tls_crl), NULL, 1, 0, 0, NULL},
    {S_MQTT, "allow_anonymous", K_BOOL, MQ(allow_anonymous), "false", 1, 0, 0, NULL},
    {S_MQTT, "password_file", K_STR, MQ(password_file), NULL, 1, 0, 0, NULL},
    {S_MQTT, "acl_file", K_STR, MQ(acl_file), NULL, 1, 0, 0, NULL},
    {S_MQTT, "max_packet_size", K_SIZE, MQ(max_packet_size), "256KiB", 1, 16, 268435455, NULL},
    {S_MQTT, "max_inflight", K_LONG, MQ(max_inflight), "20", 1, 1, 65535, NULL},
    {S_MQTT, "max_queued", K_LONG, MQ(max_queued), "1000", 1, 0, 10000000, NULL},
    {S_MQTT, "max_connections", K_LONG, MQ(max_connections), "10000", 1, 1, 1000000, NULL},
    {S_MQTT, "persist_interval", K_MS, MQ(persist_interval), "60s", 1, 0, 86400000, NULL},
    {S_MQTT, "max_topic_length", K_LONG, MQ(max_topic_length), "65535", 1, 1, 65535, NULL},
    {S_MQTT, "max_topic_levels", K_LONG, MQ(max_topic_levels), "128", 1, 1, 1024, NULL},
    {S_MQTT, "max_session_expiry", K_MS, MQ(max_session_expiry), "7d", 1, 0, 1e13, NULL},
    {S_MQTT, "max_subscriptions", K_LONG, MQ(max_subscriptions), "100", 1, 1, 1000000, NULL},
    {S_MQTT, "max_retained_per_identity", K_LONG, MQ(max_retained_per_identity), "1000", 1, 0, 100000000, NULL},
    {S_MQTT, "max_retained_bytes", K_SIZE, MQ(max_retained_bytes), "64MiB", 1, 0, 1 << 30, NULL},
    {S_APIKEY, "key", K_STR, AK(key), NULL, 1, 0, 0, NULL},
    {S_APIKEY, "rate", K_DOUBLE, AK(rate), "100", 1, 0.001, BIG, NULL},
    {S_APIKEY, "burst", K_DOUBLE, AK(burst), "200", 1, 1, BIG, NULL},
    {S_APIKEY, "routes", K_STR, AK(routes), NULL, 1, 0, 0, NULL},
    {S_APIKEY, "read", K_STR, AK(read), NULL, 1, 0, 0, NULL},
    {S_APIKEY, "admin", K_BOOL, AK(admin), "false", 1, 0, 0, NULL},
    {S_APIKEY, "mqtt_user", K_STR, AK(mqtt_user), NULL, 1, 0, 0, NULL},
    {S_APIKEY, "cert_cn", K_STR, AK(cert_cn), NULL, 1, 0, 0, NULL},
    {S_APIKEY, "groups", K_STR, AK(groups), NULL, 1, 0, 0, NULL},
    {S_ROUTE, "index", K_STR, RT(index), "gasdetect", 1, 0, 0, NULL},
    {S_ROUTE, "topic", K_STR, RT(topic), "pi/1", 1, 0, 0, NULL},
    {S_ROUTE, "function", K_STR, RT(function), NULL, 1, 0, 0, NULL},
    {S_ROUTE, "status", K_BOOL, RT(status), "false", 1, 0, 0, NULL},
    {S_ROUTE, "alerts", K_ENUM, RT(alerts), "on_change", 1, 0, 0, alerts_names},
    {S_ROUTE, "mqtt_topic", K_STR, RT(mqtt_topic), "gas/+", 1, 0, 0, NULL},
    {S_ROUTE, "offline_after", K_MS, RT(offline_after), "0", 1, 0, 1e12, NULL},
    {S_RULE, "field", K_STR, RU(field), NULL, 1, 0, 0, NULL},
    {S_RULE, "op", K_ENUM, RU(op), ">=", 1, 0, 0, op_names},
    {S_RULE, "warn", K_DOUBLE, RU(warn), NULL, 1, -BIG, BIG, NULL},
    {S_RULE, "alarm", K_DOUBLE, RU(alarm), NULL, 1, -BIG, BIG, NULL},
    {S_RULE, "clear", K_DOUBLE, RU(clear), NULL, 1, -BIG, BIG, NULL},
    {S_RULE, "for", K_MS, RU(for_ms), "0", 1, 0, 1e12, NULL},
    {S_RULE, "groups", K_STR, RU(groups), NULL, 1, 0, 0, NULL},
    {S_RULE, "topic", K_STR, RU(topic), NULL, 1, 0, 0, NULL},
    {S_RULE, "qos", K_LONG, RU(qos), "1", 1, 0, 2, NULL},
    {S_RULE, "message", K_STR, RU(message), NULL, 1, 0, 0, NULL},
    {S_RULE, "repeat", K_MS, RU(repeat), "0", 1, 0, 1e12, NULL},
    {S_RULE, "unit", K_STR, RU(unit), NULL, 1, 0, 0, NULL},
    {S_INDEX, "retention", K_MS, IX(retention), "0", 1, 0, 1e14, NULL},
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The state of one load: where we are in the file and the first error. */
struct loader {
    struct config *c;
    FILE *f;
    const char *file;
    int line;
    enum sect cur;   /* S_COUNT: before any section */
    size_t cur_idx;  /* index into the named section's array */
    unsigned char seen[NKEYS]; /* keys set in the current section (by index in keys) */
    int only_apikeys; /* reading [server] apikeys_file: [apikey] sections only */
    char err[512];
};

static void vfail(struct loader *L, const char *file, int line, const char *fmt, va_list ap)
{
    if (L->err[0])
        return;
    int n = snprintf(L->err, sizeof L->err, "%s:%d: ", file, line);
    vsnprintf(L->err + n, sizeof L->err - (size_t)n, fmt, ap);
}

static void fail(struct loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct loader *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(L, L->file, line, fmt, ap);
    va_end(ap);
}

/* A reason about an [apikey] section, in the file it came from. */
static void fail_key(struct loader *L, const struct cfg_apikey *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_key(struct loader *L, const struct cfg_apikey *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(L, a->file ? a->file : L->file, a->line, fmt, ap);
    va_end(ap);
}

/* ---- value parsers ---- */

static const char *skip_ws(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* Parses a finite number followed by an optional unit; the unit (trimmed)
 * goes to unit[]. */
static int number_unit(const char *s, double *v, char *unit, size_t ulen)
{
    char *end;
    errno = 0;
    s = skip_ws(s);
    if (!*s)
        return GK_EINVAL;
    *v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(*v))
        return GK_EINVAL;
    end = (char *)skip_ws(end);
    size_t n = strlen(end);
    while (n && isspace((unsigned char)end[n - 1]))
        n--;
    if (n >= ulen)
        return GK_EINVAL;
    memcpy(unit, end, n);
    unit[n] = '\0';
    return 0;
}

struct unit {
    const char *name;
    double mult;
};

static int scaled(const char *s, const struct unit *units, double *out)
{
    char unit[8];
    double v;
    if (number_unit(s, &v, unit, sizeof unit) != 0 || v < 0)
        return GK_EINVAL;
    for (const struct unit *u = units; u->name; u++) {
        if (strcasecmp(unit, u->name) == 0) {
            *out = v * u->mult;
            return 0;
        }
    }
    return GK_EINVAL;
}

int config_parse_size(const char *s, size_t *out)
{
    static const struct unit units[] = {
        {"", 1},       {"b", 1},       {"k", 1024},      {"kb", 1024},    {"kib", 1024},
        {"m", 1 << 20}, {"mb", 1 << 20}, {"mib", 1 << 20}, {"g", 1 << 30}, {"gb", 1 << 30},
        {"gib", 1 << 30}, {NULL, 0}};
    double v;
    if (scaled(s, units, &v) != 0 || v > 1e18 || v != floor(v))
        return GK_EINVAL;
    *out = (size_t)v;
    return 0;
}

int config_parse_duration(const char *s, int64_t *out_ms)
{
    static const struct unit units[] = {{"", 1000},      {"ms", 1},         {"s", 1000},
                                        {"m", 60000},    {"h", 3600000},    {"d", 86400000},
                                        {"w", 604800000}, {NULL, 0}};
    double v;
    if (scaled(s, units, &v) != 0 || v > 1e15)
        return GK_EINVAL;
    *out_ms = (int64_t)llround(v);
    return 0;
}

int config_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return GK_EINVAL;
}

/* ---- sections ---- */

static void *sect_base(struct config *c, enum sect s, size_t idx)
{
    switch (s) {
    case S_SERVER:
        return &c->server;
    case S_HTTP:
        return &c->http;
    case S_MQTT:
        return &c->mqtt;
    case S_APIKEY:
        return &c->apikeys[idx];
    case S_ROUTE:
        return &c->routes[idx];
    case S_RULE:
        return &c->rules[idx];
    case S_INDEX:
        return &c->indexes[idx];
    default:
        return NULL;
    }
}

static int set_value(const struct key *k, void *base, const char *val, char *why, size_t wlen);

static void apply_defaults(struct config *c, enum sect s, size_t idx)
{
    char why[128];
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].sect != s || !keys[i].def)
            continue;
        int rc = set_value(&keys[i], sect_base(c, s, idx), keys[i].def, why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "config: bad default for %s: %s\n", keys[i].name, why);
            abort();
        }
    }
}

/* Appends one zeroed element of `size` bytes to *arr and returns it. */
static void *grow(void *arrp, size_t *n, size_t size)
{
    void **arr = arrp;
    *arr = xrealloc(*arr, (*n + 1) * size);
    void *p = (char *)*arr + *n * size;
    memset(p, 0, size);
    (*n)++;
    return p;
}

/* Appends an instance of a named section, with its defaults; returns its index. */
static size_t add_named(struct config *c, enum sect s, const char *name, int line)
{
    size_t idx;
    if (s == S_APIKEY) {
        struct cfg_apikey *a = grow(&c->apikeys, &c->napikeys, sizeof *a);
        a->name = xstrdup(name), a->line = line, idx = c->napikeys - 1;
    } else if (s == S_ROUTE) {
        struct cfg_route *r = grow(&c->routes, &c->nroutes, sizeof *r);
        r->path = xstrdup(name), r->line = line, idx = c->nroutes - 1;
    } else if (s == S_RULE) {
        struct cfg_rule *r = grow(&c->rules, &c->nrules, sizeof *r);
        r->name = xstrdup(name), r->line = line, idx = c->nrules - 1;
    } else {
        struct cfg_index *x = grow(&c->indexes, &c->nindexes, sizeof *x);
        x->name = xstrdup(name), x->line = line, idx = c->nindexes - 1;
    }
    apply_defaults(c, s, idx);
    return idx;
}

static const char *named_name(struct config *c, enum sect s, size_t i)
{
    switch (s) {
    case S_APIKEY:
        return c->apikeys[i].name;
    case S_ROUTE:
        return c->routes[i].path;
    case S_RULE:
        return c->rules[i].name;
    case S_INDEX:
        return c->indexes[i].name;
    default:
        return NULL;
    }
}

static size_t named_count(const struct config *c, enum sect s)
{
    switch (s) {
    case S_APIKEY:
        return c->napikeys;
    case S_ROUTE:
        return c->nroutes;
    case S_RULE:
        return c->nrules;
    case S_INDEX:
        return c->nindexes;
    default:
        return 0;
    }
}

/* ---- keys ---- */

static int set_enum(const struct key *k, int *dst, const char *val, char *why, size_t wlen)
{
    for (int i = 0; k->choices[i]; i++) {
        if (strcmp(val, k->choices[i]) == 0) {
            *dst = i;
            return 0;
        }
    }
    size_t n = (size_t)snprintf(why, wlen, "expected one of:");
    for (int i = 0; k->choices[i] && n < wlen; i++)
        n += (size_t)snprintf(why + n, wlen - n, " %s", k->choices[i]);
    return GK_EINVAL;
}

static int set_number(const struct key *k, void *dst, const char *val, char *why, size_t wlen)
{
    double v;
    size_t sz;
    int64_t ms;
    char *end, unit[2];
    switch (k->kind) {
    case K_SIZE:
        if (config_parse_size(val, &sz) != 0)
            return snprintf(why, wlen, "expected a size such as 1048576, 512KiB or 1MiB"),
                   GK_EINVAL;
        v = (double)sz;
        break;
    case K_MS:
        if (config_parse_duration(val, &ms) != 0)
            return snprintf(why, wlen, "expected a duration such as 30s, 500ms, 5m, 1h or 30d"),
                   GK_EINVAL;
        v = (double)ms;
        break;
    case K_LONG:
        errno = 0;
        v = (double)strtol(val, &end, 10);
        if (errno || end == val || *skip_ws(end))
            return snprintf(why, wlen, "expected an integer"), GK_EINVAL;
        break;
    default:
        if (number_unit(val, &v, unit, sizeof unit) != 0 || unit[0])
            return snprintf(why, wlen, "expected a number"), GK_EINVAL;
        break;
    }
    if (v < k->min || v > k->max)
        return snprintf(why, wlen, "out of range [%g, %g]", k->min, k->max), GK_EINVAL;
    if (k->kind == K_SIZE)
        *(size_t *)dst = (size_t)v;
    else if (k->kind == K_DOUBLE)
        *(double *)dst = v;
    else if (k->kind == K_MS) /* int64_t: 30d of ms does not fit a 32-bit long */
        *(int64_t *)dst = (int64_t)v;
    else
        *(long *)dst = (long)v;
    return 0;
}

static int set_value(const struct key *k, void *base, const char *val, char *why, size_t wlen)
{
    void *dst = (char *)base + k->off;
    switch (k->kind) {
    case K_STR:
        free(*(char **)dst);
        *(char **)dst = *val ? xstrdup(val) : NULL;
        return 0;
    case K_BOOL:
        if (config_parse_bool(val, (int *)dst) != 0)
            return snprintf(why, wlen, "expected true or false"), GK_EINVAL;
        return 0;
    case K_ENUM:
        return set_enum(k, (int *)dst, val, why, wlen);
    default:
        return set_number(k, dst, val, why, wlen);
    }
}

static void note_pending(struct config *c, const struct key *k)
{
    char name[64];
    snprintf(name, sizeof name, "[%s] %s", sects[k->sect].name, k->name);
    for (size_t i = 0; i < c->npending; i++)
        if (strcmp(c->pending[i], name) == 0)
            return;
    c->pending = xrealloc(c->pending, (c->npending + 1) * sizeof *c->pending);
    c->pending[c->npending++] = xstrdup(name);
}

/* inih handler: one key = value line of the current section. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct loader *L = user;
    (void)section;
    if (L->cur == S_COUNT)
        return fail(L, L->line, "key '%s' outside of any section", name), 0;
    const struct key *k = NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].sect == L->cur && strcmp(keys[i].name, name) == 0) {
            k = &keys[i];
            if (L->seen[i])
                return fail(L, L->line, "duplicate key '%s'", name), 0;
            L->seen[i] = 1;
        }
    }
    if (!k)
        return fail(L, L->line, "unknown key '%s' in [%s]", name, sects[L->cur].name), 0;
    char why[160] = "";
    if (!k->built)
        note_pending(L->c, k);
    if (!*value && k->kind != K_STR)
        return 1; /* "key =": unset, the default stays */
    if (set_value(k, sect_base(L->c, L->cur, L->cur_idx), value, why, sizeof why) != 0)
        return fail(L, L->line, "bad value for %s '%s': %s", name, value, why), 0;
    if (L->cur == S_RULE) {
        struct cfg_rule *r = &L->c->rules[L->cur_idx];
        r->has_warn |= k->off == RU(warn);
        r->has_alarm |= k->off == RU(alarm);
        r->has_clear |= k->off == RU(clear);
    }
    return 1;
}

/* A "[section name]" line: starts a section (called by the reader, so that
 * sections without keys exist too). */
static void begin_section(struct loader *L, const char *text)
{
    char word[32], name[256] = "";
    text = skip_ws(text);
    size_t n = strcspn(text, " \t");
    if (n == 0 || n >= sizeof word)
        return fail(L, L->line, "bad section header");
    memcpy(word, text, n);
    word[n] = '\0';
    snprintf(name, sizeof name, "%s", skip_ws(text + n));
    for (size_t e = strlen(name); e && isspace((unsigned char)name[e - 1]); e--)
        name[e - 1] = '\0';
    enum sect s = S_COUNT;
    for (int i = 0; i < S_COUNT; i++)
        if (strcmp(sects[i].name, word) == 0)
            s = (enum sect)i;
    if (s == S_COUNT)
        return fail(L, L->line, "unknown section [%s]", word);
    if (L->only_apikeys && s != S_APIKEY)
        return fail(L, L->line, "[%s] does not belong in an apikeys_file (only [apikey NAME] "
                    "sections)", word);
    if (sects[s].named && !name[0])
        return fail(L, L->line, "section [%s] needs a name: [%s NAME]", word, word);
    if (!sects[s].named && name[0])
        return fail(L, L->line, "section [%s] takes no name", word);
    L->cur = s;
    memset(L->seen, 0, sizeof L->seen);
    if (!sects[s].named)
        return;
    for (size_t i = 0; i < named_count(L->c, s); i++)
        if (strcmp(named_name(L->c, s, i), name) == 0)
            return fail(L, L->line, "duplicate section [%s %s]", word, name);
    L->cur_idx = add_named(L->c, s, name, L->line);
    if (s == S_APIKEY)
        L->c->apikeys[L->cur_idx].file = L->file;
}

/* inih reader: fgets that counts lines and spots section headers. */
static char *read_line(char *str, int num, void *stream)
{
    struct loader *L = stream;
    if (!fgets(str, num, L->f))
        return NULL;
    size_t n = strlen(str);
    if (n && str[n - 1] != '\n' && !feof(L->f)) {
        fail(L, L->line + 1, "line longer than %d characters", num - 2);
        return str;
    }
    L->line++;
    const char *p = skip_ws(str);
    if (*p == '[') {
        char hdr[256];
        size_t e = strcspn(p + 1, "]");
        if (p[1 + e] != ']' || e >= sizeof hdr)
            fail(L, L->line, "bad section header (missing ']')");
        else {
            memcpy(hdr, p + 1, e);
            hdr[e] = '\0';
            begin_section(L, hdr);
        }
    }
    return str;
}

/* ---- checks across keys, after the whole file is read ---- */

static int valid_index_name(const char *s)
{
    if (!*s || *s == '_' || *s == '-')
        return 0;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* Copies the next comma-separated item of p, trimmed, into out; returns
 * where the following item starts, or NULL at the end of the list. */
static const char *list_item(const char *p, char *out, size_t outlen)
{
    if (!p || !*p)
        return NULL;
    p = skip_ws(p);
    size_t m = strcspn(p, ",");
    size_t t = m;
    while (t && isspace((unsigned char)p[t - 1]))
        t--;
    snprintf(out, outlen, "%.*s", (int)t, p);
    return p + m + (p[m] == ',');
}

int config_list_has(const char *list, const char *path)
{
    char item[256];
    for (const char *p = list; (p = list_item(p, item, sizeof item));)
        if (strcmp(item, path) == 0)
            return 1;
    return 0;
}

static void check_apikeys(struct loader *L)
{
    struct config *c = L->c;
    for (size_t i = 0; i < c->napikeys; i++) {
        struct cfg_apikey *a = &c->apikeys[i];
        if (!a->key && !a->mqtt_user && !a->cert_cn)
            return fail_key(L, a, "[apikey %s] has no key, mqtt_user or cert_cn", a->name);
        if (a->key && strlen(a->key) < 20)
            return fail_key(L, a, "[apikey %s] key is shorter than 20 characters", a->name);
        for (size_t j = 0; j < i; j++) {
            const struct cfg_apikey *b = &c->apikeys[j];
            if (a->key && b->key && strcmp(b->key, a->key) == 0)
                return fail_key(L, a, "[apikey %s] has the same key as [apikey %s]", a->name,
                            b->name);
            if (a->mqtt_user && b->mqtt_user && strcmp(b->mqtt_user, a->mqtt_user) == 0)
                return fail_key(L, a, "[apikey %s] has the same mqtt_user as [apikey %s]",
                            a->name, b->name);
            if (a->cert_cn && b->cert_cn && strcmp(b->cert_cn, a->cert_cn) == 0)
                return fail_key(L, a, "[apikey %s] has the same cert_cn as [apikey %s]",
                            a->name, b->name);
        }
        char item[256];
        for (const char *p = a->routes; (p = list_item(p, item, sizeof item));)
            if (item[0] && !config_route(c, item))
                return fail_key(L, a, "[apikey %s] names unknown route '%s'", a->name, item);
        for (const char *p = a->read; (p = list_item(p, item, sizeof item));)
            if (item[0] && !valid_index_name(item))
                return fail_key(L, a, "[apikey %s] read: '%s' is not an index name", a->name,
                            item);
        for (const char *p = a->groups; (p = list_item(p, item, sizeof item));)
            if (!config_valid_group(item))
                return fail_key(L, a, "[apikey %s] groups: '%s' is not a group id (1 to 64 "
                                "letters, digits, '.', '_' or '-')", a->name, item);
    }
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void check_all(struct loader *L)
{
    struct config *c = L->c;
    for (size_t i = 0; i < c->nroutes; i++) {
        struct cfg_route *r = &c->routes[i];
        if (r->path[0] != '/')
            return fail(L, r->line, "route path '%s' must start with '/'", r->path);
        if (strcmp(r->path, "/_dashboard") == 0 || strncmp(r->path, "/_dashboard/", 12) == 0)
            return fail(L, r->line, "route path '%s' is the dashboard's (/_dashboard)", r->path);
        if (!r->index || !valid_index_name(r->index))
            return fail(L, r->line, "[route %s] index must be lowercase letters, digits, _ or -",
                        r->path);
    }
    check_apikeys(L);
    for (size_t i = 0; i < c->nrules; i++) {
        const struct cfg_rule *r = &c->rules[i];
        if (!r->field)
            return fail(L, r->line, "[rule %s] has no field", r->name);
        if (r->unit && (strlen(r->unit) > 16 || has_control(r->unit)))
            return fail(L, r->line, "[rule %s] unit must be at most 16 bytes of text", r->name);
    }
    if (c->http.tls_listen && (!c->http.tls_cert || !c->http.tls_key))
        return fail(L, 0, "[http] tls_listen needs tls_cert and tls_key");
    if (c->mqtt.tls_listen && (!c->mqtt.tls_cert || !c->mqtt.tls_key))
        return fail(L, 0, "[mqtt] tls_listen needs tls_cert and tls_key");
    if (c->mqtt.tls_crl && !c->mqtt.tls_ca)
        return fail(L, 0, "[mqtt] tls_crl needs tls_ca");
    if (c->server.timezone) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", c->server.timezone);
        if (strstr(c->server.timezone, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            return fail(L, 0, "[server] unknown timezone '%s'", c->server.timezone);
    }
}

const struct cfg_route *config_route(const struct config *c, const char *path)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (strcmp(c->routes[i].path, path) == 0)
            return &c->routes[i];
    return NULL;
}

int config_valid_group(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

int config_route_allowed(const char *list, const char *path)
{
    return !list || config_list_has(list, path);
}

const char *config_key_name(size_t i, char *buf, size_t len)
{
    if (i >= NKEYS)
        return NULL;
    snprintf(buf, len, "[%s] %s", sects[keys[i].sect].name, keys[i].name);
    return buf;
}

void config_add_apikey(struct config *c, const char *name, const char *key)
{
    size_t i = add_named(c, S_APIKEY, name, 0);
    c->apikeys[i].key = xstrdup(key);
}

/* ---- load and free ---- */

/* Reads one file into L->c (L->file names it). */
static void parse_file(struct loader *L)
{
    L->f = fopen(L->file, "r");
    if (!L->f) {
        snprintf(L->err, sizeof L->err, "%s: cannot open: %s", L->file, strerror(errno));
        return;
    }
    int rc = ini_parse_stream(read_line, L, on_key, L);
    fclose(L->f);
    if (rc > 0)
        fail(L, rc, "syntax error: expected 'key = value' or '[section]'");
    else if (rc < 0)
        fail(L, 0, "cannot read the file");
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
    struct loader L = {.c = c, .file = "(defaults)", .cur = S_COUNT};
    memset(c, 0, sizeof *c);
    apply_defaults(c, S_SERVER, 0);
    apply_defaults(c, S_HTTP, 0);
    apply_defaults(c, S_MQTT, 0);
    if (path) {
        c->path = xstrdup(path);
        L.file = c->path;
        parse_file(&L);
    }
    if (!L.err[0] && c->server.apikeys_file) { /* [apikey] sections only, after the file's */
        L.file = c->server.apikeys_file;
        L.line = 0;
        L.cur = S_COUNT;
        L.only_apikeys = 1;
        parse_file(&L);
        L.file = c->path ? c->path : "(defaults)";
    }
    if (!L.err[0] && c->nroutes == 0)
        add_named(c, S_ROUTE, "/gasdetector", 0);
    if (!L.err[0])
        check_all(&L);
    if (L.err[0]) {
        snprintf(err, errlen, "%s", L.err);
        config_free(c);
        return GK_ECONFIG;
    }
    return 0;
}

static void free_strings(enum sect s, void *base)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == s && keys[i].kind == K_STR)
            free(*(char **)((char *)base + keys[i].off));
}

void config_free(struct config *c)
{
    free_strings(S_SERVER, &c->server);
    free_strings(S_HTTP, &c->http);
    free_strings(S_MQTT, &c->mqtt);
    for (size_t i = 0; i < c->napikeys; i++)
        free_strings(S_APIKEY, &c->apikeys[i]), free(c->apikeys[i].name);
    for (size_t i = 0; i < c->nroutes; i++)
        free_strings(S_ROUTE, &c->routes[i]), free(c->routes[i].path);
    for (size_t i = 0; i < c->nrules; i++)
        free_strings(S_RULE, &c->rules[i]), free(c->rules[i].name);
    for (size_t i = 0; i < c->nindexes; i++)
        free_strings(S_INDEX, &c->indexes[i]), free(c->indexes[i].name);
    for (size_t i = 0; i < c->npending; i++)
        free(c->pending[i]);
    free(c->apikeys), free(c->routes), free(c->rules), free(c->indexes), free(c->pending);
    free(c->path);
    memset(c, 0, sizeof *c);
}
