/* alarm.h: threshold alarms, the pure judging core of the rules layer.
 *
 * A [rule NAME] compiles into a struct alarm_rule; an alarm engine holds the
 * compiled rules, the state of every (group, rule) pair and the time each
 * group of each route last sent a reading. alarm_judge() judges one reading,
 * alarm_tick() drives what time alone decides (a `for` that has elapsed, a
 * `repeat` reminder, a group gone silent). Nothing here reads a clock, does
 * I/O or knows MQTT: time comes in as milliseconds (wall clock, so that
 * persisted states stay meaningful across a restart) and every message goes
 * out through an emit callback as (topic, payload, qos).
 *
 * Messages (JSON, compact, as the original Lambda's for warnings):
 *   warning  {"warning":"<measurement> warning"}   seed parity: no2 -> "no2 warning"
 *   alarm    {"alarm":"<measurement> alarm"}       the alarm severity (on_change only)
 *   clear    {"clear":"<measurement> clear"}
 *   offline  {"offline":"<groupid>"}               on the route's topic, QoS 1
 *   online   {"online":"<groupid>"}                the next reading of an offline group
 * A rule's `message` replaces the warning and alarm texts verbatim (not the
 * clear text); its `topic` and `qos` apply to everything it publishes.
 *
 * Modes (a route's `alerts`):
 *   every_reading  one warning per rule per reading at or over a level, as the
 *                  seed; no state, `for` and `repeat` do not apply.
 *   on_change      one alarm per (group, rule): OK -> PENDING (while `for` runs)
 *                  -> ACTIVE -> CLEARED. Published when raised, when its
 *                  severity changes, when cleared, and every `repeat` ms while
 *                  ACTIVE (from alarm_tick).
 *
 * Severity follows the levels: a value at the alarm level is ALARM, at the
 * warn level WARN. Hysteresis applies to clearing only: an ACTIVE alarm stays
 * until the value passes `clear` (strictly below it for >=, above for <=);
 * between `clear` and the lowest level it holds at the lowest configured
 * severity. `for` counts from the first reading at a level; the condition is
 * taken to hold between readings, and a reading below every level while
 * PENDING returns the alarm to OK.
 *
 * Callbacks run inside the call that triggers them and must not call back
 * into the engine. */
#ifndef GASKET_RULES_ALARM_H
#define GASKET_RULES_ALARM_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

enum alarm_state { ALARM_OK, ALARM_PENDING, ALARM_ACTIVE, ALARM_CLEARED };
enum alarm_severity { ALARM_SEV_NONE, ALARM_SEV_WARN, ALARM_SEV_ALARM };

/* One [rule NAME], checked and compiled. */
struct alarm_rule {
    char *name;
    char *measurement; /* "no2" from field "no2.value" */
    int op;            /* enum cfg_op */
    double warn, alarm, clear;
    int has_warn, has_alarm; /* at least one; clear is always set */
    int64_t for_ms, repeat_ms;
    char **groups; /* ngroups == 0: every group */
    size_t ngroups;
    char *topic; /* NULL: the route's */
    int qos;
    char *message; /* NULL: the built-in texts */
};

/* Compiles c into r. Returns 0, or GK_ECONFIG with "[rule NAME] reason" in
 * err (r then holds nothing to free). Refused: a field other than
 * "<measurement>.value", neither warn nor alarm, warn beyond alarm (above it
 * for >=, below for <=), a clear beyond the lowest level (above it for >=;
 * it defaults to that level), a qos outside 0..2. */
int alarm_rule_compile(struct alarm_rule *r, const struct cfg_rule *c, char *err, size_t errlen);
void alarm_rule_free(struct alarm_rule *r);
/* The severity a value reaches under r's levels (no hysteresis). */
int alarm_rule_level(const struct alarm_rule *r, double v);

/* One measurement of a reading. */
struct alarm_value {
    const char *name; /* "no2" */
    double value;
};

/* Receives one message to publish; payload is NUL-terminated, len excludes
 * the NUL. Pointers are valid during the call only. */
typedef void (*alarm_emit_cb)(void *ud, const char *topic, const char *payload, size_t len,
                              int qos);

/* History, for the /alarms API. */
enum alarm_event_kind {
    ALARM_EV_RAISED,
    ALARM_EV_CHANGED, /* severity changed while ACTIVE */
    ALARM_EV_CLEARED,
    ALARM_EV_OFFLINE,
    ALARM_EV_ONLINE,
};

struct alarm_event {
    int kind; /* enum alarm_event_kind */
    const char *route;
    const char *group;
    const char *rule;        /* NULL for OFFLINE and ONLINE */
    const char *measurement; /* NULL for OFFLINE and ONLINE */
    int severity;            /* the new one; CLEARED: the one it had */
    double value;            /* the value judged (0 for OFFLINE, ONLINE) */
    double peak;             /* the most extreme value since PENDING began */
    int64_t since_ms;        /* CHANGED, CLEARED: when raised; OFFLINE: last reading */
    int64_t time_ms;
};

typedef void (*alarm_event_cb)(void *ud, const struct alarm_event *ev);

struct alarm_engine;

/* A new engine without rules; free with alarm_engine_free(). */
struct alarm_engine *alarm_engine_new(void);
void alarm_engine_free(struct alarm_engine *e);

/* Compiles cfg's rules and takes its routes (path, topic, offline_after).
 * States of rules that keep their name and measurement are kept; the others
 * are dropped. Returns 0, or GK_ECONFIG with the reason in err, the engine
 * then unchanged. */
int alarm_engine_configure(struct alarm_engine *e, const struct config *cfg, char *err,
                           size_t errlen);

/* Sets (cb NULL: removes) the history callback. */
void alarm_engine_on_event(struct alarm_engine *e, alarm_event_cb cb, void *ud);

/* Judges one reading of group that arrived on route at now_ms: first
 * {"online"} if the group was offline, then the rules in configuration order,
 * each against the first value named by its measurement. A route the engine
 * was not configured with is added (path, topic, offline_after). Values that
 * are not finite are ignored. */
void alarm_judge(struct alarm_engine *e, const struct cfg_route *route, const char *group,
                 const struct alarm_value *values, size_t n, int64_t now_ms, alarm_emit_cb emit,
                 void *ud);

/* Advances time to now_ms: raises PENDING alarms whose `for` has elapsed,
 * repeats ACTIVE ones whose `repeat` is due, and raises {"offline"} once for
 * a group whose route has offline_after > 0 and whose last reading is
 * offline_after or more old. Call it about once a second. */
void alarm_tick(struct alarm_engine *e, int64_t now_ms, alarm_emit_cb emit, void *ud);

/* Persistence. A RULE record is one (group, rule) alarm that is not OK; a
 * GROUP record is one group of one route with its last reading. */
enum alarm_record_kind { ALARM_REC_RULE, ALARM_REC_GROUP };

struct alarm_record {
    int kind;          /* enum alarm_record_kind */
    const char *key;   /* RULE: "group\x1frule"; GROUP: "route\x1fgroup" */
    const char *route; /* RULE: the route of the alarm's last reading; GROUP: unused */
    int state;         /* enum alarm_state; GROUP: ALARM_ACTIVE offline, ALARM_OK not */
    int severity;      /* RULE: enum alarm_severity */
    int64_t since_ms;  /* RULE: when the state began; GROUP: its last reading */
    double value;      /* RULE: the last value judged */
    double peak;
    int64_t last_repeat_ms; /* RULE: last publication of the ACTIVE alarm */
};

/* Calls cb for every record (order unspecified); pointers are valid during
 * the call only. */
void alarm_state_foreach(const struct alarm_engine *e,
                         void (*cb)(void *ud, const struct alarm_record *rec), void *ud);

/* Restores one record into a configured engine, replacing any state of the
 * same key, without publishing: a restored ACTIVE alarm is not raised again.
 * A restored group's silence counts from no earlier than now_ms, so a
 * daemon that was down does not mark every group offline at start.
 * Returns 0, GK_ENOTFOUND when its rule or route is no longer configured,
 * or GK_EINVAL for a malformed record. */
int alarm_state_restore(struct alarm_engine *e, const struct alarm_record *rec, int64_t now_ms);

#endif
