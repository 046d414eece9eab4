/* alarm.c: threshold alarms (see alarm.h for the behaviour and the texts).
 *
 * This file implements rule compilation, the per-(group, rule) state machine
 * and the per-(route, group) silence watch. States live in two hash maps:
 * `entries` keyed "group\x1frule" (only alarms that are not OK have one) and
 * `seen` keyed "route\x1fgroup". Routes are kept in a small array that only
 * grows, so entries and seen records refer to them by index. */
#include "rules/alarm.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/map.h"
#include "core/mem.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TOPIC "pi/1" /* a route without a topic: the seed's */
#define GROUP_QOS 1          /* offline and online messages */
#define SEP '\x1f'
#define WHAT_CLEAR 3 /* with ALARM_SEV_WARN and ALARM_SEV_ALARM: what to publish */

struct route {
    char *path;
    char *topic; /* NULL: DEFAULT_TOPIC */
    int64_t offline_after;
};

/* One (group, rule) alarm that is not OK. */
struct entry {
    char *key; /* "group\x1frule" */
    char *group;
    size_t rule;  /* index into rules */
    size_t route; /* of its last reading */
    int state, severity;
    int64_t since_ms, last_repeat_ms;
    double value, peak;
};

/* One group of one route. */
struct seen {
    char *key;         /* "route\x1fgroup" */
    const char *group; /* into key */
    size_t route;
    int offline;
    int64_t last_ms, grace_ms;
};

struct alarm_engine {
    struct alarm_rule *rules;
    size_t nrules;
    struct route *routes;
    size_t nroutes;
    struct map entries, seen;
    alarm_event_cb on_event;
    void *event_ud;
    struct buf key, text, msg; /* scratch */
};

/* What one judge or tick call needs to publish. */
struct out {
    struct alarm_engine *e;
    alarm_emit_cb emit;
    void *ud;
    int64_t now;
};

/* ---- rules ---------------------------------------------------------------- */

static int rule_fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rule_fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "[rule %s] ", name ? name : "");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < errlen)
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return GK_ECONFIG;
}

/* 1 when v is at or beyond level in op's direction. */
static int reaches(int op, double v, double level)
{
    return op == CFG_OP_LE ? v <= level : v >= level;
}

/* 1 when a is strictly beyond b in op's direction. */
static int beyond(int op, double a, double b)
{
    return op == CFG_OP_LE ? a < b : a > b;
}

/* 1 when v has passed r's clear level: strictly below it for >=, above for <=. */
static int passes_clear(const struct alarm_rule *r, double v)
{
    return beyond(r->op, r->clear, v);
}

int alarm_rule_level(const struct alarm_rule *r, double v)
{
    if (r->has_alarm && reaches(r->op, v, r->alarm))
        return ALARM_SEV_ALARM;
    if (r->has_warn && reaches(r->op, v, r->warn))
        return ALARM_SEV_WARN;
    return ALARM_SEV_NONE;
}

/* The measurement of "<measurement>.value", or NULL. */
static char *field_measurement(const char *field)
{
    static const char suffix[] = ".value";
    size_t n = field ? strlen(field) : 0, s = sizeof suffix - 1;
    if (n <= s || strcmp(field + n - s, suffix) != 0 || memchr(field, '.', n - s))
        return NULL;
    return xstrndup(field, n - s);
}

/* Splits a comma-separated list into trimmed, non-empty items. */
static void split_groups(struct alarm_rule *r, const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t m = strcspn(p, ",");
        const char *a = p, *z = p + m;
        while (a < z && isspace((unsigned char)*a))
            a++;
        while (z > a && isspace((unsigned char)z[-1]))
            z--;
        if (z > a) {
            r->groups = xrealloc(r->groups, (r->ngroups + 1) * sizeof *r->groups);
            r->groups[r->ngroups++] = xstrndup(a, (size_t)(z - a));
        }
        p += m + (p[m] == ',');
    }
}

/* Checks the levels of c and sets *clear. Returns 0 or GK_ECONFIG. */
static int check_levels(const struct cfg_rule *c, double *clear, char *err, size_t errlen)
{
    const char *up = c->op == CFG_OP_LE ? "below" : "above";
    if (!c->has_warn && !c->has_alarm)
        return rule_fail(err, errlen, c->name, "needs warn or alarm");
    if (c->has_warn && c->has_alarm && beyond(c->op, c->warn, c->alarm))
        return rule_fail(err, errlen, c->name, "warn must not be %s alarm", up);
    double lowest = c->has_warn ? c->warn : c->alarm;
    if (c->has_clear && beyond(c->op, c->clear, lowest))
        return rule_fail(err, errlen, c->name, "clear must not be %s %s", up,
                         c->has_warn ? "warn" : "alarm");
    *clear = c->has_clear ? c->clear : lowest;
    return 0;
}

int alarm_rule_compile(struct alarm_rule *r, const struct cfg_rule *c, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (!c->name || !c->name[0] || strchr(c->name, SEP))
        return rule_fail(err, errlen, c->name, "needs a name without control characters");
    if (c->op != CFG_OP_GE && c->op != CFG_OP_LE)
        return rule_fail(err, errlen, c->name, "op must be >= or <=");
    if (c->qos < 0 || c->qos > 2)
        return rule_fail(err, errlen, c->name, "qos must be 0, 1 or 2");
    if (c->for_ms < 0 || c->repeat < 0)
        return rule_fail(err, errlen, c->name, "for and repeat must not be negative");
    double clear = 0;
    if (check_levels(c, &clear, err, errlen) != 0)
        return GK_ECONFIG;
    char *m = field_measurement(c->field);
    if (!m)
        return rule_fail(err, errlen, c->name,
                         "field '%s' must be <measurement>.value (e.g. no2.value)",
                         c->field ? c->field : "");
    r->name = xstrdup(c->name), r->measurement = m, r->op = c->op;
    r->warn = c->warn, r->alarm = c->alarm, r->clear = clear;
    r->has_warn = !!c->has_warn, r->has_alarm = !!c->has_alarm;
    r->for_ms = c->for_ms, r->repeat_ms = c->repeat, r->qos = (int)c->qos;
    r->topic = c->topic ? xstrdup(c->topic) : NULL;
    r->message = c->message ? xstrdup(c->message) : NULL;
    split_groups(r, c->groups);
    return 0;
}

void alarm_rule_free(struct alarm_rule *r)
{
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i]);
    free(r->groups), free(r->name), free(r->measurement), free(r->topic), free(r->message);
    memset(r, 0, sizeof *r);
}

static int group_allowed(const struct alarm_rule *r, const char *group)
{
    if (r->ngroups == 0)
        return 1;
    for (size_t i = 0; i < r->ngroups; i++)
        if (strcmp(r->groups[i], group) == 0)
            return 1;
    return 0;
}

static size_t rule_find(const struct alarm_rule *rules, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(rules[i].name) == len && memcmp(rules[i].name, name, len) == 0)
            return i;
    return (size_t)-1;
}

/* ---- routes --------------------------------------------------------------- */

static size_t route_find(const struct alarm_engine *e, const char *path, size_t len)
{
    for (size_t i = 0; i < e->nroutes; i++)
        if (strlen(e->routes[i].path) == len && memcmp(e->routes[i].path, path, len) == 0)
            return i;
    return (size_t)-1;
}

/* Finds or adds the route at path and sets its topic and offline_after. */
static size_t route_set(struct alarm_engine *e, const char *path, const char *topic,
                        int64_t offline_after)
{
    size_t i = route_find(e, path, strlen(path));
    if (i == (size_t)-1) {
        e->routes = xrealloc(e->routes, (e->nroutes + 1) * sizeof *e->routes);
        i = e->nroutes++;
        e->routes[i] = (struct route){xstrdup(path), NULL, 0};
    }
    struct route *r = &e->routes[i];
    if (!topic || !r->topic || strcmp(topic, r->topic) != 0) {
        free(r->topic);
        r->topic = topic ? xstrdup(topic) : NULL;
    }
    r->offline_after = offline_after;
    return i;
}

static const char *route_topic(const struct alarm_engine *e, size_t route)
{
    return e->routes[route].topic ? e->routes[route].topic : DEFAULT_TOPIC;
}

/* ---- publishing ----------------------------------------------------------- */

/* Emits {"<word>":"<subject>[ <word>]"} on topic. */
static void publish_text(struct out *o, const char *topic, int qos, const char *word,
                         const char *subject, int with_word)
{
    struct alarm_engine *e = o->e;
    buf_reset(&e->text);
    buf_puts(&e->text, subject);
    if (with_word)
        buf_printf(&e->text, " %s", word);
    buf_reset(&e->msg);
    buf_printf(&e->msg, "{\"%s\":", word);
    buf_json_str(&e->msg, e->text.data, e->text.len);
    buf_putc(&e->msg, '}');
    o->emit(o->ud, topic, e->msg.data, e->msg.len, qos);
}

/* Publishes what (ALARM_SEV_WARN, ALARM_SEV_ALARM or WHAT_CLEAR) for rule r
 * on route. */
static void publish_rule(struct out *o, const struct alarm_rule *r, size_t route, int what)
{
    static const char *const words[] = {"", "warning", "alarm", "clear"};
    const char *topic = r->topic ? r->topic : route_topic(o->e, route);
    if (r->message && what != WHAT_CLEAR)
        o->emit(o->ud, topic, r->message, strlen(r->message), r->qos);
    else
        publish_text(o, topic, r->qos, words[what], r->measurement, 1);
}

static void rule_event(struct out *o, int kind, const struct entry *en, int64_t since)
{
    struct alarm_engine *e = o->e;
    if (!e->on_event)
        return;
    const struct alarm_rule *r = &e->rules[en->rule];
    struct alarm_event ev = {.kind = kind, .route = e->routes[en->route].path,
                             .group = en->group, .rule = r->name,
                             .measurement = r->measurement, .severity = en->severity,
                             .value = en->value, .peak = en->peak, .since_ms = since,
                             .time_ms = o->now};
    e->on_event(e->event_ud, &ev);
}

static void group_event(struct out *o, int kind, const struct seen *s)
{
    struct alarm_engine *e = o->e;
    if (!e->on_event)
        return;
    struct alarm_event ev = {.kind = kind, .route = e->routes[s->route].path,
                             .group = s->group, .since_ms = s->last_ms, .time_ms = o->now};
    e->on_event(e->event_ud, &ev);
}

/* ---- the state machine ---------------------------------------------------- */

static void key_make(struct buf *b, const char *a, const char *z)
{
    buf_reset(b);
    buf_puts(b, a);
    buf_putc(b, SEP);
    buf_puts(b, z);
}

/* A new entry for group and rule, keyed by what e->key holds. */
static struct entry *entry_new(struct alarm_engine *e, size_t rule, const char *group)
{
    struct entry *en = xcalloc(1, sizeof *en);
    en->key = xstrndup(e->key.data, e->key.len);
    en->group = xstrdup(group);
    en->rule = rule;
    map_put(&e->entries, en->key, e->key.len, en);
    return en;
}

static void entry_free(struct entry *en)
{
    free(en->key), free(en->group), free(en);
}

static void entry_drop(struct alarm_engine *e, struct entry *en)
{
    map_del(&e->entries, en->key, strlen(en->key));
    entry_free(en);
}

static double more_extreme(int op, double a, double b)
{
    return beyond(op, b, a) ? b : a;
}

static void raise_alarm(struct out *o, struct entry *en, int severity)
{
    en->state = ALARM_ACTIVE, en->severity = severity;
    en->since_ms = en->last_repeat_ms = o->now;
    publish_rule(o, &o->e->rules[en->rule], en->route, severity);
    rule_event(o, ALARM_EV_RAISED, en, en->since_ms);
}

/* An ACTIVE alarm meets value v, at level lv. */
static void judge_active(struct out *o, struct entry *en, int lv)
{
    const struct alarm_rule *r = &o->e->rules[en->rule];
    if (passes_clear(r, en->value)) {
        rule_event(o, ALARM_EV_CLEARED, en, en->since_ms);
        en->state = ALARM_CLEARED, en->since_ms = o->now;
        publish_rule(o, r, en->route, WHAT_CLEAR);
        return;
    }
    int sev = lv != ALARM_SEV_NONE ? lv : r->has_warn ? ALARM_SEV_WARN : ALARM_SEV_ALARM;
    if (sev == en->severity)
        return;
    en->severity = sev, en->last_repeat_ms = o->now;
    publish_rule(o, r, en->route, sev);
    rule_event(o, ALARM_EV_CHANGED, en, en->since_ms);
}

/* Judges value v of rule i for group, in on_change mode. */
static void judge_on_change(struct out *o, size_t i, size_t route, const char *group, double v)
{
    struct alarm_engine *e = o->e;
    const struct alarm_rule *r = &e->rules[i];
    key_make(&e->key, group, r->name);
    struct entry *en = map_get(&e->entries, e->key.data, e->key.len);
    int lv = alarm_rule_level(r, v);
    if (!en || en->state == ALARM_OK || en->state == ALARM_CLEARED) {
        if (lv == ALARM_SEV_NONE)
            return;
        if (!en)
            en = entry_new(e, i, group);
        en->state = ALARM_PENDING, en->since_ms = o->now, en->peak = v;
    }
    en->route = route, en->value = v, en->peak = more_extreme(r->op, en->peak, v);
    if (en->state == ALARM_ACTIVE)
        judge_active(o, en, lv);
    else if (lv == ALARM_SEV_NONE)
        entry_drop(e, en); /* PENDING interrupted: back to OK */
    else if (o->now - en->since_ms >= r->for_ms)
        raise_alarm(o, en, lv);
}

/* Notes a reading of group on route; announces the group back if it was
 * offline. */
static void judge_seen(struct out *o, size_t route, const char *group)
{
    struct alarm_engine *e = o->e;
    key_make(&e->key, e->routes[route].path, group);
    struct seen *s = map_get(&e->seen, e->key.data, e->key.len);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->key = xstrndup(e->key.data, e->key.len);
        s->group = s->key + strlen(e->routes[route].path) + 1;
        s->route = route;
        map_put(&e->seen, s->key, e->key.len, s);
    } else if (s->offline) {
        s->offline = 0;
        publish_text(o, route_topic(e, route), GROUP_QOS, "online", group, 0);
        group_event(o, ALARM_EV_ONLINE, s);
    }
    s->last_ms = o->now;
}

static const struct alarm_value *value_find(const struct alarm_value *values, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (values[i].name && strcmp(values[i].name, name) == 0)
            return &values[i];
    return NULL;
}

void alarm_judge(struct alarm_engine *e, const struct cfg_route *route, const char *group,
                 const struct alarm_value *values, size_t n, int64_t now_ms, alarm_emit_cb emit,
                 void *ud)
{
    struct out o = {e, emit, ud, now_ms};
    size_t ri = route_set(e, route->path, route->topic, route->offline_after);
    judge_seen(&o, ri, group);
    for (size_t i = 0; i < e->nrules; i++) {
        const struct alarm_rule *r = &e->rules[i];
        const struct alarm_value *v = value_find(values, n, r->measurement);
        if (!v || !isfinite(v->value) || !group_allowed(r, group))
            continue;
        if (route->alerts != CFG_ALERTS_EVERY_READING)
            judge_on_change(&o, i, ri, group, v->value);
        else if (alarm_rule_level(r, v->value) != ALARM_SEV_NONE)
            publish_rule(&o, r, ri, ALARM_SEV_WARN); /* the seed's text at any level */
    }
}

/* ---- time ----------------------------------------------------------------- */

static void tick_entry(void *ud, const char *key, void *value)
{
    struct out *o = ud;
    struct entry *en = value;
    const struct alarm_rule *r = &o->e->rules[en->rule];
    (void)key;
    if (en->state == ALARM_PENDING && o->now - en->since_ms >= r->for_ms) {
        int lv = alarm_rule_level(r, en->value);
        if (lv != ALARM_SEV_NONE)
            raise_alarm(o, en, lv);
    } else if (en->state == ALARM_ACTIVE && r->repeat_ms > 0 &&
               o->now - en->last_repeat_ms >= r->repeat_ms) {
        en->last_repeat_ms = o->now;
        publish_rule(o, r, en->route, en->severity);
    }
}

static void tick_seen(void *ud, const char *key, void *value)
{
    struct out *o = ud;
    struct seen *s = value;
    const struct route *rt = &o->e->routes[s->route];
    int64_t from = s->last_ms > s->grace_ms ? s->last_ms : s->grace_ms;
    (void)key;
    if (s->offline || rt->offline_after <= 0 || o->now - from < rt->offline_after)
        return;
    s->offline = 1;
    publish_text(o, route_topic(o->e, s->route), GROUP_QOS, "offline", s->group, 0);
    group_event(o, ALARM_EV_OFFLINE, s);
}

void alarm_tick(struct alarm_engine *e, int64_t now_ms, alarm_emit_cb emit, void *ud)
{
    struct out o = {e, emit, ud, now_ms};
    map_foreach(&e->entries, tick_entry, &o);
    map_foreach(&e->seen, tick_seen, &o);
}

/* ---- the engine ----------------------------------------------------------- */

struct alarm_engine *alarm_engine_new(void)
{
    return xcalloc(1, sizeof(struct alarm_engine));
}

static void free_entry_cb(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    entry_free(value);
}

static void free_seen_cb(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    free(((struct seen *)value)->key), free(value);
}

static void rules_free(struct alarm_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        alarm_rule_free(&rules[i]);
    free(rules);
}

void alarm_engine_free(struct alarm_engine *e)
{
    if (!e)
        return;
    map_foreach(&e->entries, free_entry_cb, NULL);
    map_foreach(&e->seen, free_seen_cb, NULL);
    map_free(&e->entries), map_free(&e->seen);
    rules_free(e->rules, e->nrules);
    for (size_t i = 0; i < e->nroutes; i++)
        free(e->routes[i].path), free(e->routes[i].topic);
    free(e->routes);
    buf_free(&e->key), buf_free(&e->text), buf_free(&e->msg);
    free(e);
}

void alarm_engine_on_event(struct alarm_engine *e, alarm_event_cb cb, void *ud)
{
    e->on_event = cb, e->event_ud = cb ? ud : NULL;
}

/* Maps the entries onto new rules; collects those whose rule is gone. */
struct remap {
    const struct alarm_rule *old, *rules;
    size_t nrules;
    struct entry **drop;
    size_t ndrop;
};

static void remap_cb(void *ud, const char *key, void *value)
{
    struct remap *m = ud;
    struct entry *en = value;
    const struct alarm_rule *was = &m->old[en->rule];
    size_t i = rule_find(m->rules, m->nrules, was->name, strlen(was->name));
    (void)key;
    if (i != (size_t)-1 && strcmp(m->rules[i].measurement, was->measurement) == 0) {
        en->rule = i;
        return;
    }
    m->drop = xrealloc(m->drop, (m->ndrop + 1) * sizeof *m->drop);
    m->drop[m->ndrop++] = en;
}

static int compile_all(struct alarm_rule *rules, const struct config *cfg, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < cfg->nrules; i++) {
        int rc = alarm_rule_compile(&rules[i], &cfg->rules[i], err, errlen);
        if (rc == 0 && rule_find(rules, i, rules[i].name, strlen(rules[i].name)) != (size_t)-1)
            alarm_rule_free(&rules[i]),
                rc = rule_fail(err, errlen, cfg->rules[i].name, "is defined twice");
        if (rc != 0)
            return rules_free(rules, i), rc;
    }
    return 0;
}

int alarm_engine_configure(struct alarm_engine *e, const struct config *cfg, char *err,
                           size_t errlen)
{
    struct alarm_rule *rules = xcalloc(cfg->nrules ? cfg->nrules : 1, sizeof *rules);
    int rc = compile_all(rules, cfg, err, errlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < e->nroutes; i++)
        e->routes[i].offline_after = 0; /* a route no longer configured */
    for (size_t i = 0; i < cfg->nroutes; i++)
        route_set(e, cfg->routes[i].path, cfg->routes[i].topic, cfg->routes[i].offline_after);
    struct remap m = {e->rules, rules, cfg->nrules, NULL, 0};
    map_foreach(&e->entries, remap_cb, &m);
    for (size_t i = 0; i < m.ndrop; i++)
        entry_drop(e, m.drop[i]);
    free(m.drop);
    rules_free(e->rules, e->nrules);
    e->rules = rules, e->nrules = cfg->nrules;
    return 0;
}

/* ---- persistence ---------------------------------------------------------- */

struct export {
    const struct alarm_engine *e;
    void (*cb)(void *ud, const struct alarm_record *rec);
    void *ud;
};

static void export_entry(void *ud, const char *key, void *value)
{
    struct export *x = ud;
    const struct entry *en = value;
    struct alarm_record rec = {.kind = ALARM_REC_RULE, .key = key,
                               .route = x->e->routes[en->route].path, .state = en->state,
                               .severity = en->severity, .since_ms = en->since_ms,
                               .value = en->value, .peak = en->peak,
                               .last_repeat_ms = en->last_repeat_ms};
    x->cb(x->ud, &rec);
}

static void export_seen(void *ud, const char *key, void *value)
{
    struct export *x = ud;
    const struct seen *s = value;
    struct alarm_record rec = {.kind = ALARM_REC_GROUP, .key = key,
                               .route = x->e->routes[s->route].path,
                               .state = s->offline ? ALARM_ACTIVE : ALARM_OK,
                               .since_ms = s->last_ms};
    x->cb(x->ud, &rec);
}

void alarm_state_foreach(const struct alarm_engine *e,
                         void (*cb)(void *ud, const struct alarm_record *rec), void *ud)
{
    struct export x = {e, cb, ud};
    map_foreach(&e->entries, export_entry, &x);
    map_foreach(&e->seen, export_seen, &x);
}

static int restore_rule(struct alarm_engine *e, const struct alarm_record *rec)
{
    const char *sep = strrchr(rec->key, SEP);
    if (!sep || sep == rec->key || !rec->route || !isfinite(rec->value) || !isfinite(rec->peak))
        return GK_EINVAL;
    if (rec->state != ALARM_PENDING && rec->state != ALARM_ACTIVE && rec->state != ALARM_CLEARED)
        return rec->state == ALARM_OK ? 0 : GK_EINVAL;
    if (rec->severity < ALARM_SEV_NONE || rec->severity > ALARM_SEV_ALARM ||
        (rec->state == ALARM_ACTIVE && rec->severity == ALARM_SEV_NONE))
        return GK_EINVAL;
    size_t rule = rule_find(e->rules, e->nrules, sep + 1, strlen(sep + 1));
    size_t route = route_find(e, rec->route, strlen(rec->route));
    if (rule == (size_t)-1 || route == (size_t)-1)
        return GK_ENOTFOUND;
    struct entry *en = map_get(&e->entries, rec->key, strlen(rec->key));
    if (!en) {
        char *group = xstrndup(rec->key, (size_t)(sep - rec->key));
        key_make(&e->key, group, e->rules[rule].name);
        en = entry_new(e, rule, group);
        free(group);
    }
    en->route = route, en->state = rec->state, en->severity = rec->severity;
    en->since_ms = rec->since_ms, en->last_repeat_ms = rec->last_repeat_ms;
    en->value = rec->value, en->peak = rec->peak;
    return 0;
}

static int restore_group(struct alarm_engine *e, const struct alarm_record *rec, int64_t now)
{
    const char *sep = strchr(rec->key, SEP);
    if (!sep || !sep[1] || (rec->state != ALARM_OK && rec->state != ALARM_ACTIVE))
        return GK_EINVAL;
    size_t route = route_find(e, rec->key, (size_t)(sep - rec->key));
    if (route == (size_t)-1)
        return GK_ENOTFOUND;
    size_t len = strlen(rec->key);
    struct seen *s = map_get(&e->seen, rec->key, len);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->key = xstrndup(rec->key, len);
        s->group = s->key + (sep - rec->key) + 1;
        s->route = route;
        map_put(&e->seen, s->key, len, s);
    }
    s->offline = rec->state == ALARM_ACTIVE;
    s->last_ms = rec->since_ms, s->grace_ms = now;
    return 0;
}

int alarm_state_restore(struct alarm_engine *e, const struct alarm_record *rec, int64_t now_ms)
{
    if (!rec || !rec->key)
        return GK_EINVAL;
    if (rec->kind == ALARM_REC_RULE)
        return restore_rule(e, rec);
    if (rec->kind == ALARM_REC_GROUP)
        return restore_group(e, rec, now_ms);
    return GK_EINVAL;
}
