/* Unit tests for rules/alarm.c: a table of state-machine cases, each a
 * sequence of readings, ticks and restarts with the exact messages expected
 * after each step, then rule compilation, history events, persistence and
 * reconfiguration. Rules come from INI text through config_load(), as the
 * daemon reads them. */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "rules/alarm.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

/* Loads INI text into c; fails the test (and returns -1) when refused. */
static int load(struct config *c, const char *text)
{
    char path[] = "/tmp/gasket-test-alarm-XXXXXX", err[600] = "";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    int rc = config_load(c, path, err, sizeof err);
    unlink(path);
    if (rc != 0)
        fprintf(stderr, "  config refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    return rc == 0 ? 0 : -1;
}

static struct alarm_engine *engine_for(const struct config *c)
{
    struct alarm_engine *e = alarm_engine_new();
    char err[300] = "";
    int rc = alarm_engine_configure(e, c, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "  configure refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    return e;
}

/* Appends "topic qos payload\n" to the struct buf at ud. */
static void emit_cb(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    CHECK_EQ_INT(strlen(payload), len);
    buf_printf(ud, "%s %d %s\n", topic, qos, payload);
}

/* Judges "[@GROUP] NAME=VALUE ..." (group "2" by default) on route. */
static void judge(struct alarm_engine *e, const struct cfg_route *route, const char *arg,
                  int64_t t, struct buf *out)
{
    struct alarm_value v[16];
    char names[16][32], group[64] = "2";
    size_t n = 0;
    for (const char *p = arg; *p;) {
        int used = 0;
        if (*p == ' ')
            p++;
        else if (*p == '@' && sscanf(p, "@%63s%n", group, &used) == 1)
            p += used;
        else if (n < 16 && sscanf(p, "%31[^= ]=%lf%n", names[n], &v[n].value, &used) == 2) {
            v[n].name = names[n], n++, p += used;
        } else {
            CHECK(!"bad reading in the table");
            return;
        }
    }
    alarm_judge(e, route, group, v, n, t, emit_cb, out);
}

/* Persistence as the daemon will do it: records copied out, engine gone. */
struct saved {
    struct alarm_record rec[64];
    char keys[64][96], routes[64][64];
    size_t n;
};

static void save_cb(void *ud, const struct alarm_record *rec)
{
    struct saved *s = ud;
    CHECK(s->n < 64);
    if (s->n == 64)
        return;
    s->rec[s->n] = *rec;
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s", rec->key);
    snprintf(s->routes[s->n], sizeof s->routes[0], "%s", rec->route ? rec->route : "");
    s->rec[s->n].key = s->keys[s->n];
    s->rec[s->n].route = s->routes[s->n];
    s->n++;
}

/* Exports e, frees it, and returns a new engine restored at now. */
static struct alarm_engine *restart(struct alarm_engine *e, const struct config *c, int64_t now)
{
    static struct saved s;
    s.n = 0;
    alarm_state_foreach(e, save_cb, &s);
    alarm_engine_free(e);
    e = engine_for(c);
    for (size_t i = 0; i < s.n; i++)
        CHECK_EQ_INT(alarm_state_restore(e, &s.rec[i], now), 0);
    return e;
}

/* ---- the table ------------------------------------------------------------ */

struct step {
    char op;         /* 'r': a reading, 't': a tick, 'R': a restart */
    int64_t t;       /* ms */
    const char *arg; /* 'r': "[@GROUP] NAME=VALUE ..." */
    const char *want; /* everything emitted, each "topic qos payload\n" */
};

struct tcase {
    const char *name;
    const char *ini;
    struct step steps[16];
};

#define W(m) "pi/1 1 {\"warning\":\"" m " warning\"}\n"
#define A(m) "pi/1 1 {\"alarm\":\"" m " alarm\"}\n"
#define C(m) "pi/1 1 {\"clear\":\"" m " clear\"}\n"
#define OFF(g) "pi/1 1 {\"offline\":\"" g "\"}\n"
#define ON(g) "pi/1 1 {\"online\":\"" g "\"}\n"
#define EVERY "[route /gasdetector]\nalerts = every_reading\n"
#define NO2 "[rule no2]\nfield = no2.value\n"
#define R(t, arg, want) {'r', t, arg, want}
#define T(t, want) {'t', t, NULL, want}
#define RESTART(t) {'R', t, NULL, ""}
#define GAS(g, lvl) "[rule " g "]\nfield = " g ".value\nwarn = " lvl "\n"
#define GASES                                                                \
    GAS("co", "30") GAS("no2", "88") GAS("c2h5oh", "50") GAS("h2", "500")    \
        GAS("nh3", "25") GAS("ch4", "1000") GAS("c3h8", "2100") GAS("c4h10", "1800")
#define ALL_HIGH "co=31 no2=90 c2h5oh=51 h2=501 nh3=26 ch4=1001 c3h8=2101 c4h10=1801"
#define ALL_LOW "co=29 no2=87 c2h5oh=49 h2=499 nh3=24 ch4=999 c3h8=2099 c4h10=1799"

static const struct tcase cases[] = {
    {"seed parity: every_reading, one warning per reading at or over 88",
     EVERY NO2 "warn = 88\n",
     {R(0, "no2=90", W("no2")), R(1000, "no2=90", W("no2")), R(2000, "no2=80", ""),
      R(3000, "no2=88", W("no2")), R(4000, "co=500", ""), T(90000, ""),
      R(5000, "no2=87.99", "")}},
    {"every_reading: the seed's warning text at the alarm level too",
     EVERY NO2 "warn = 88\nalarm = 100\nclear = 50\n",
     {R(0, "no2=120", W("no2")), R(1000, "no2=120", W("no2")), R(2000, "no2=60", "")}},
    {"every_reading: the 8 gases against their own limits, in rule order",
     EVERY GASES,
     {R(0, ALL_HIGH,
        W("co") W("no2") W("c2h5oh") W("h2") W("nh3") W("ch4") W("c3h8") W("c4h10")),
      R(1000, ALL_LOW, ""), R(2000, "h2=600", W("h2"))}},
    {"on_change: the 8 gases raise once each and clear",
     GASES,
     {R(0, ALL_HIGH,
        W("co") W("no2") W("c2h5oh") W("h2") W("nh3") W("ch4") W("c3h8") W("c4h10")),
      R(1000, ALL_HIGH, ""),
      R(2000, ALL_LOW,
        C("co") C("no2") C("c2h5oh") C("h2") C("nh3") C("ch4") C("c3h8") C("c4h10"))}},
    {"on_change: raise, hold without repeating, clear, raise again",
     NO2 "warn = 88\n",
     {R(0, "no2=90", W("no2")), R(1000, "no2=95", ""), R(2000, "no2=88", ""),
      T(600000, ""), R(601000, "no2=87", C("no2")), R(602000, "no2=86", ""),
      R(603000, "no2=90", W("no2"))}},
    {"hysteresis: warn 88 clear 80",
     NO2 "warn = 88\nclear = 80\n",
     {R(0, "no2=90", W("no2")), R(1000, "no2=85", ""), R(2000, "no2=85", ""),
      R(3000, "no2=80", ""), R(4000, "no2=79", C("no2")), R(5000, "no2=85", ""),
      R(6000, "no2=88", W("no2"))}},
    {"severity: warning, alarm, back to warning, hysteresis band, clear",
     NO2 "warn = 88\nalarm = 100\nclear = 80\n",
     {R(0, "no2=90", W("no2")), R(1000, "no2=105", A("no2")), R(2000, "no2=110", ""),
      R(3000, "no2=95", W("no2")), R(4000, "no2=85", ""), R(5000, "no2=101", A("no2")),
      R(6000, "no2=85", W("no2")), R(7000, "no2=79", C("no2"))}},
    {"severity: straight to alarm, the alarm level alone",
     NO2 "alarm = 100\n",
     {R(0, "no2=99", ""), R(1000, "no2=100", A("no2")), R(2000, "no2=150", ""),
      R(3000, "no2=99.9", C("no2"))}},
    {"for 10 s held by readings: raised at 10 s",
     NO2 "warn = 88\nfor = 10s\n",
     {R(0, "no2=90", ""), R(5000, "no2=91", ""), R(9999, "no2=92", ""),
      R(10000, "no2=93", W("no2")), R(11000, "no2=94", "")}},
    {"for 10 s raised by the tick",
     NO2 "warn = 88\nfor = 10s\n",
     {R(0, "no2=90", ""), T(9999, ""), T(10000, W("no2")), T(11000, ""),
      R(12000, "no2=90", "")}},
    {"for 10 s interrupted: no raise, counts again from the next reading",
     NO2 "warn = 88\nfor = 10s\n",
     {R(0, "no2=90", ""), R(5000, "no2=80", ""), T(10000, ""), R(12000, "no2=90", ""),
      T(21999, ""), T(22000, W("no2"))}},
    {"for: raised at the severity of the last value",
     NO2 "warn = 88\nalarm = 100\nfor = 10s\n",
     {R(0, "no2=90", ""), R(5000, "no2=120", ""), T(10000, A("no2")),
      R(11000, "no2=90", W("no2"))}},
    {"repeat every 30 s while active, none after clear",
     NO2 "warn = 88\nrepeat = 30s\n",
     {R(0, "no2=90", W("no2")), T(29999, ""), T(30000, W("no2")), T(45000, ""),
      T(60000, W("no2")), R(61000, "no2=70", C("no2")), T(120000, ""), T(200000, "")}},
    {"repeat re-publishes the current severity, timer reset by a change",
     NO2 "warn = 88\nalarm = 100\nrepeat = 30s\n",
     {R(0, "no2=105", A("no2")), T(30000, A("no2")), R(40000, "no2=90", W("no2")),
      T(60000, ""), T(70000, W("no2"))}},
    {"offline after 60 s of silence, once, and back",
     "[route /gasdetector]\noffline_after = 60s\n" NO2 "warn = 88\n",
     {R(0, "no2=50", ""), T(59999, ""), T(60000, OFF("2")), T(120000, ""),
      R(130000, "no2=90", ON("2") W("no2")), T(189999, ""), T(190000, OFF("2")),
      R(200000, "no2=90", ON("2"))}},
    {"offline per group",
     "[route /gasdetector]\noffline_after = 60s\n" NO2 "warn = 88\n",
     {R(0, "@2 no2=50", ""), R(30000, "@5 no2=50", ""), T(60000, OFF("2")),
      R(70000, "@2 no2=50", ON("2")), T(90000, OFF("5")), T(129999, ""), T(130000, OFF("2"))}},
    {"offline is off by default", NO2 "warn = 88\n",
     {R(0, "no2=50", ""), T(86400000, "")}},
    {"restart while active: no second raise, then clear works",
     NO2 "warn = 88\nclear = 80\n",
     {R(0, "no2=90", W("no2")), RESTART(1000), R(2000, "no2=90", ""), R(3000, "no2=85", ""),
      R(4000, "no2=79", C("no2")), RESTART(5000), R(6000, "no2=90", W("no2"))}},
    {"restart while active at the alarm severity",
     NO2 "warn = 88\nalarm = 100\n",
     {R(0, "no2=120", A("no2")), RESTART(1000), R(2000, "no2=120", ""),
      R(3000, "no2=90", W("no2"))}},
    {"restart while pending: the for keeps counting",
     NO2 "warn = 88\nfor = 10s\n",
     {R(2000, "no2=90", ""), RESTART(5000), T(11999, ""), T(12000, W("no2"))}},
    {"restart keeps the repeat schedule",
     NO2 "warn = 88\nrepeat = 30s\n",
     {R(5000, "no2=90", W("no2")), RESTART(10000), T(34999, ""), T(35000, W("no2"))}},
    {"restart while offline: not announced again; back online on a reading",
     "[route /gasdetector]\noffline_after = 60s\n" NO2 "warn = 88\n",
     {R(0, "no2=50", ""), T(60000, OFF("2")), RESTART(70000), T(200000, ""),
      R(210000, "no2=50", ON("2"))}},
    {"restart after a long stop: silence counts from the restart",
     "[route /gasdetector]\noffline_after = 60s\n" NO2 "warn = 88\n",
     {R(0, "no2=50", ""), RESTART(100000), T(100001, ""), T(159999, ""),
      T(160000, OFF("2"))}},
    {"groups filter: only groups 2 and 3, each its own alarm",
     NO2 "warn = 88\ngroups = 2, 3\n",
     {R(0, "@5 no2=90", ""), R(1000, "@2 no2=90", W("no2")), R(2000, "@3 no2=95", W("no2")),
      R(3000, "@2 no2=95", ""), R(4000, "@2 no2=50", C("no2")), R(5000, "@5 no2=50", "")}},
    {"<= rule: warn 20, alarm 10, clear 25",
     "[rule o2]\nfield = o2.value\nop = <=\nwarn = 20\nalarm = 10\nclear = 25\n",
     {R(0, "o2=30", ""), R(1000, "o2=20", W("o2")), R(2000, "o2=9", A("o2")),
      R(3000, "o2=15", W("o2")), R(4000, "o2=24", ""), R(5000, "o2=25", ""),
      R(6000, "o2=25.1", C("o2"))}},
    {"<= rule without clear: clears just above the level",
     "[rule o2]\nfield = o2.value\nop = <=\nwarn = 19.5\n",
     {R(0, "o2=19.5", W("o2")), R(1000, "o2=19.6", C("o2"))}},
    {"message override: verbatim for raise and repeat, built-in clear",
     NO2 "warn = 88\nrepeat = 10s\nmessage = {\"emergency\":\"emergency\"}\n",
     {R(0, "no2=90", "pi/1 1 {\"emergency\":\"emergency\"}\n"),
      T(10000, "pi/1 1 {\"emergency\":\"emergency\"}\n"), R(11000, "no2=10", C("no2"))}},
    {"message override in every_reading",
     EVERY NO2 "warn = 88\nmessage = no2 is high\n",
     {R(0, "no2=90", "pi/1 1 no2 is high\n"), R(1000, "no2=90", "pi/1 1 no2 is high\n")}},
    {"topic and qos of the rule, topic of the route",
     "[route /gasdetector]\ntopic = site/alerts\noffline_after = 1s\n" NO2
     "warn = 88\n[rule co]\nfield = co.value\nwarn = 30\ntopic = ops/co\nqos = 2\n",
     {R(0, "no2=90 co=40",
        "site/alerts 1 {\"warning\":\"no2 warning\"}\nops/co 2 {\"warning\":\"co warning\"}\n"),
      T(1000, "site/alerts 1 {\"offline\":\"2\"}\n"),
      R(2000, "co=1", "site/alerts 1 {\"online\":\"2\"}\nops/co 2 {\"clear\":\"co clear\"}\n")}},
    {"several rules on one measurement",
     NO2 "warn = 88\n[rule no2_ops]\nfield = no2.value\nalarm = 150\nclear = 120\n"
         "topic = ops/alerts\nqos = 0\n",
     {R(0, "no2=90", W("no2")),
      R(1000, "no2=160", "ops/alerts 0 {\"alarm\":\"no2 alarm\"}\n"),
      R(2000, "no2=130", ""), R(3000, "no2=100", "ops/alerts 0 {\"clear\":\"no2 clear\"}\n"),
      R(4000, "no2=10", C("no2"))}},
    {"values that are not finite are ignored", NO2 "warn = 88\n",
     {R(0, "no2=nan", ""), R(1000, "no2=inf", ""), R(2000, "no2=90", W("no2")),
      R(3000, "no2=nan", "")}},
    {"a group id is escaped as JSON",
     "[route /gasdetector]\noffline_after = 1s\n" NO2 "warn = 88\n",
     {R(0, "@a\"b no2=1", ""), T(1000, "pi/1 1 {\"offline\":\"a\\\"b\"}\n")}},
};

static void run_case(const struct tcase *c)
{
    struct config cfg;
    if (load(&cfg, c->ini) != 0)
        return;
    struct alarm_engine *e = engine_for(&cfg);
    struct buf out = {0};
    int i = 0;
    for (const struct step *s = c->steps; s->op; s++, i++) {
        buf_reset(&out);
        if (s->op == 'r')
            judge(e, &cfg.routes[0], s->arg, s->t, &out);
        else if (s->op == 't')
            alarm_tick(e, s->t, emit_cb, &out);
        else
            e = restart(e, &cfg, s->t);
        const char *got = out.data ? out.data : "";
        if (strcmp(got, s->want) != 0) {
            fprintf(stderr, "case \"%s\", step %d (%c at %lld):\n  got:  %s\n  want: %s\n",
                    c->name, i, s->op, (long long)s->t, got, s->want);
            test_cur_failed++;
        }
    }
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&cfg);
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* ---- compilation ---------------------------------------------------------- */

static void compile_refused(const char *rule_ini, const char *want)
{
    struct config cfg;
    if (load(&cfg, rule_ini) != 0)
        return;
    struct alarm_rule r;
    char err[300] = "";
    CHECK_EQ_INT(alarm_rule_compile(&r, &cfg.rules[0], err, sizeof err), GK_ECONFIG);
    if (!strstr(err, want)) {
        fprintf(stderr, "  error was: %s\n  wanted:    %s\n", err, want);
        CHECK(strstr(err, want));
    }
    config_free(&cfg);
}

static void test_compile_errors(void)
{
    compile_refused("[rule a]\nfield = no2\nwarn = 1\n",
                    "[rule a] field 'no2' must be <measurement>.value");
    compile_refused("[rule a]\nfield = no2.sensorid\nwarn = 1\n", "must be <measurement>.value");
    compile_refused("[rule a]\nfield = a.b.value\nwarn = 1\n", "must be <measurement>.value");
    compile_refused("[rule a]\nfield = .value\nwarn = 1\n", "must be <measurement>.value");
    compile_refused("[rule a]\nfield = no2.value\n", "[rule a] needs warn or alarm");
    compile_refused("[rule a]\nfield = no2.value\nclear = 3\n", "needs warn or alarm");
    compile_refused("[rule a]\nfield = no2.value\nwarn = 100\nalarm = 90\n",
                    "[rule a] warn must not be above alarm");
    compile_refused("[rule a]\nfield = no2.value\nop = <=\nwarn = 10\nalarm = 20\n",
                    "warn must not be below alarm");
    compile_refused("[rule a]\nfield = no2.value\nwarn = 88\nclear = 90\n",
                    "[rule a] clear must not be above warn");
    compile_refused("[rule a]\nfield = no2.value\nalarm = 88\nclear = 88.5\n",
                    "clear must not be above alarm");
    compile_refused("[rule a]\nfield = no2.value\nop = <=\nwarn = 20\nclear = 10\n",
                    "clear must not be below warn");
}

static void test_compile_defaults(void)
{
    struct config cfg;
    if (load(&cfg, "[rule a]\nfield = no2.value\nwarn = 88\nalarm = 100\n"
                   "[rule b]\nfield = o2.value\nop = <=\nwarn = 20\nalarm = 10\n"
                   "groups = 2 , 3,, 7 \n[rule c]\nfield = co.value\nalarm = 5\nclear = 5\n") != 0)
        return;
    struct alarm_rule r;
    char err[300];
    CHECK_EQ_INT(alarm_rule_compile(&r, &cfg.rules[0], err, sizeof err), 0);
    CHECK_EQ_STR(r.name, "a");
    CHECK_EQ_STR(r.measurement, "no2");
    CHECK(r.clear == 88 && r.qos == 1 && r.op == CFG_OP_GE && r.ngroups == 0);
    CHECK(r.topic == NULL && r.message == NULL && r.for_ms == 0 && r.repeat_ms == 0);
    CHECK_EQ_INT(alarm_rule_level(&r, 87.9), ALARM_SEV_NONE);
    CHECK_EQ_INT(alarm_rule_level(&r, 88), ALARM_SEV_WARN);
    CHECK_EQ_INT(alarm_rule_level(&r, 100), ALARM_SEV_ALARM);
    alarm_rule_free(&r);
    CHECK_EQ_INT(alarm_rule_compile(&r, &cfg.rules[1], err, sizeof err), 0);
    CHECK(r.clear == 20 && r.op == CFG_OP_LE);
    CHECK_EQ_INT(r.ngroups, 3);
    if (r.ngroups == 3) {
        CHECK_EQ_STR(r.groups[0], "2");
        CHECK_EQ_STR(r.groups[1], "3");
        CHECK_EQ_STR(r.groups[2], "7");
    }
    CHECK_EQ_INT(alarm_rule_level(&r, 20.1), ALARM_SEV_NONE);
    CHECK_EQ_INT(alarm_rule_level(&r, 10), ALARM_SEV_ALARM);
    alarm_rule_free(&r);
    CHECK_EQ_INT(alarm_rule_compile(&r, &cfg.rules[2], err, sizeof err), 0);
    CHECK(r.clear == 5 && !r.has_warn && r.has_alarm);
    alarm_rule_free(&r);
    config_free(&cfg);
}

/* A configuration that cannot compile leaves the engine as it was. */
static void test_configure_refused(void)
{
    struct config good, bad;
    if (load(&good, NO2 "warn = 88\n") != 0 ||
        load(&bad, NO2 "warn = 88\n[rule co]\nfield = co\nwarn = 1\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&good);
    struct buf out = {0};
    judge(e, &good.routes[0], "no2=90", 0, &out);
    CHECK_EQ_STR(out.data, W("no2"));
    char err[300] = "";
    CHECK_EQ_INT(alarm_engine_configure(e, &bad, err, sizeof err), GK_ECONFIG);
    CHECK(strstr(err, "[rule co] field 'co'"));
    /* a duplicate name (the loader refuses it; the engine does too) */
    struct cfg_rule co = bad.rules[1];
    bad.rules[1] = bad.rules[0];
    CHECK_EQ_INT(alarm_engine_configure(e, &bad, err, sizeof err), GK_ECONFIG);
    CHECK(strstr(err, "[rule no2] is defined twice"));
    bad.rules[1] = co;
    buf_reset(&out);
    judge(e, &good.routes[0], "no2=80", 1000, &out);
    CHECK_EQ_STR(out.data, C("no2"));
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&good);
    config_free(&bad);
}

/* ---- history events ------------------------------------------------------- */

static void event_cb(void *ud, const struct alarm_event *ev)
{
    static const char *const kinds[] = {"raised", "changed", "cleared", "offline", "online"};
    buf_printf(ud, "%s %s %s %s %s sev=%d value=%g peak=%g since=%lld at=%lld\n",
               kinds[ev->kind], ev->route, ev->group, ev->rule ? ev->rule : "-",
               ev->measurement ? ev->measurement : "-", ev->severity, ev->value, ev->peak,
               (long long)ev->since_ms, (long long)ev->time_ms);
}

static void test_events(void)
{
    struct config cfg;
    if (load(&cfg, "[route /gasdetector]\noffline_after = 60s\n" NO2
                   "warn = 88\nalarm = 100\nclear = 80\nfor = 1s\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&cfg);
    struct buf out = {0}, ev = {0};
    alarm_engine_on_event(e, event_cb, &ev);
    const struct cfg_route *rt = &cfg.routes[0];
    judge(e, rt, "no2=90", 0, &out);      /* pending */
    judge(e, rt, "no2=95", 1000, &out);   /* raised, peak 95 */
    judge(e, rt, "no2=120", 2000, &out);  /* to alarm */
    judge(e, rt, "no2=110", 3000, &out);  /* nothing: peak stays 120 */
    judge(e, rt, "no2=85", 4000, &out);   /* back to warning */
    judge(e, rt, "no2=70", 5000, &out);   /* cleared */
    alarm_tick(e, 65000, emit_cb, &out);  /* offline */
    judge(e, rt, "no2=10", 70000, &out);  /* online */
    CHECK_EQ_STR(ev.data,
                 "raised /gasdetector 2 no2 no2 sev=1 value=95 peak=95 since=1000 at=1000\n"
                 "changed /gasdetector 2 no2 no2 sev=2 value=120 peak=120 since=1000 at=2000\n"
                 "changed /gasdetector 2 no2 no2 sev=1 value=85 peak=120 since=1000 at=4000\n"
                 "cleared /gasdetector 2 no2 no2 sev=1 value=70 peak=120 since=1000 at=5000\n"
                 "offline /gasdetector 2 - - sev=0 value=0 peak=0 since=5000 at=65000\n"
                 "online /gasdetector 2 - - sev=0 value=0 peak=0 since=5000 at=70000\n");
    buf_reset(&ev);
    alarm_engine_on_event(e, NULL, NULL);
    judge(e, rt, "no2=120", 80000, &out);
    alarm_tick(e, 81000, emit_cb, &out);
    CHECK(ev.len == 0);
    buf_free(&out), buf_free(&ev);
    alarm_engine_free(e);
    config_free(&cfg);
}

/* ---- persistence ---------------------------------------------------------- */

static void test_export(void)
{
    struct config cfg;
    if (load(&cfg, "[route /gasdetector]\noffline_after = 60s\n" NO2
                   "warn = 88\nalarm = 100\nclear = 80\nrepeat = 60s\n"
                   "[rule co]\nfield = co.value\nwarn = 30\nfor = 10s\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&cfg);
    struct buf out = {0};
    judge(e, &cfg.routes[0], "no2=90 co=40", 0, &out);
    judge(e, &cfg.routes[0], "no2=120 co=41", 1000, &out);
    judge(e, &cfg.routes[0], "@3 no2=50", 2000, &out); /* OK: no record */
    static struct saved s;
    s.n = 0;
    alarm_state_foreach(e, save_cb, &s);
    CHECK_EQ_INT(s.n, 4);
    int seen = 0;
    for (size_t i = 0; i < s.n; i++) {
        const struct alarm_record *r = &s.rec[i];
        if (r->kind == ALARM_REC_RULE && strcmp(r->key, "2\x1fno2") == 0) {
            CHECK(r->state == ALARM_ACTIVE && r->severity == ALARM_SEV_ALARM);
            CHECK(r->since_ms == 0 && r->last_repeat_ms == 1000);
            CHECK(r->value == 120 && r->peak == 120);
            CHECK_EQ_STR(r->route, "/gasdetector");
            seen |= 1;
        } else if (r->kind == ALARM_REC_RULE && strcmp(r->key, "2\x1f" "co") == 0) {
            CHECK(r->state == ALARM_PENDING && r->since_ms == 0 && r->peak == 41);
            seen |= 2;
        } else if (r->kind == ALARM_REC_GROUP && strcmp(r->key, "/gasdetector\x1f" "2") == 0) {
            CHECK(r->state == ALARM_OK && r->since_ms == 1000);
            seen |= 4;
        } else if (r->kind == ALARM_REC_GROUP && strcmp(r->key, "/gasdetector\x1f" "3") == 0) {
            CHECK(r->state == ALARM_OK && r->since_ms == 2000);
            seen |= 8;
        }
    }
    CHECK_EQ_INT(seen, 15);
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&cfg);
}

static void test_restore_refused(void)
{
    struct config cfg;
    if (load(&cfg, NO2 "warn = 88\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&cfg);
    struct alarm_record ok = {ALARM_REC_RULE, "2\x1fno2", "/gasdetector", ALARM_ACTIVE,
                              ALARM_SEV_WARN, 0, 90, 90, 0};
    struct alarm_record r = ok;
    CHECK_EQ_INT(alarm_state_restore(e, NULL, 0), GK_EINVAL);
    r.key = "2no2";
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.key = "\x1fno2";
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.severity = ALARM_SEV_NONE;
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.state = 9;
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.peak = NAN;
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.kind = 7;
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_EINVAL);
    r = ok, r.key = "2\x1fgone";
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_ENOTFOUND);
    r = ok, r.route = "/elsewhere";
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), GK_ENOTFOUND);
    struct alarm_record g = {ALARM_REC_GROUP, "/elsewhere\x1f" "2", NULL, ALARM_OK, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(alarm_state_restore(e, &g, 0), GK_ENOTFOUND);
    g.key = "/gasdetector";
    CHECK_EQ_INT(alarm_state_restore(e, &g, 0), GK_EINVAL);
    /* a group id holding the separator: the rule name is after the last one */
    r = ok, r.key = "a\x1f" "b\x1fno2";
    CHECK_EQ_INT(alarm_state_restore(e, &r, 0), 0);
    struct buf out = {0};
    judge(e, &cfg.routes[0], "@a\x1f" "b no2=10", 1000, &out);
    CHECK_EQ_STR(out.data, C("no2"));
    CHECK_EQ_INT(alarm_state_restore(e, &ok, 0), 0);
    CHECK_EQ_INT(alarm_state_restore(e, &ok, 0), 0); /* replaces, no duplicate */
    buf_reset(&out);
    judge(e, &cfg.routes[0], "no2=90", 2000, &out);
    CHECK(out.len == 0);
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&cfg);
}

/* ---- reconfiguration ------------------------------------------------------ */

static void test_reconfigure(void)
{
    struct config one, two;
    if (load(&one, NO2 "warn = 88\n[rule co]\nfield = co.value\nwarn = 30\n"
                   "[rule h2]\nfield = h2.value\nwarn = 500\n") != 0 ||
        load(&two, "[route /gasdetector]\noffline_after = 10s\n"
                   "[rule h2]\nfield = nh3.value\nwarn = 20\n" /* same name, other gas */
                   NO2 "warn = 88\nalarm = 100\nclear = 50\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&one);
    struct buf out = {0};
    judge(e, &one.routes[0], "no2=90 co=40 h2=600", 0, &out);
    CHECK_EQ_STR(out.data, W("no2") W("co") W("h2"));
    char err[300];
    CHECK_EQ_INT(alarm_engine_configure(e, &two, err, sizeof err), 0);
    buf_reset(&out);
    /* no2 kept its state (no second raise; the new clear level applies), co
     * is gone, h2 now watches nh3 and starts afresh */
    judge(e, &two.routes[0], "no2=60 co=40 h2=600 nh3=30", 1000, &out);
    CHECK_EQ_STR(out.data, W("nh3"));
    buf_reset(&out);
    judge(e, &two.routes[0], "no2=101", 2000, &out);
    CHECK_EQ_STR(out.data, A("no2"));
    buf_reset(&out);
    alarm_tick(e, 12000, emit_cb, &out); /* the new offline_after applies */
    CHECK_EQ_STR(out.data, OFF("2"));
    /* back to the first: the route's offline_after is 0 again */
    CHECK_EQ_INT(alarm_engine_configure(e, &one, err, sizeof err), 0);
    buf_reset(&out);
    judge(e, &one.routes[0], "no2=40", 13000, &out);
    CHECK_EQ_STR(out.data, ON("2") C("no2"));
    buf_reset(&out);
    alarm_tick(e, 100000, emit_cb, &out);
    CHECK(out.len == 0);
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&one);
    config_free(&two);
}

/* A route the engine was not configured with is taken from the call. */
static void test_unconfigured_route(void)
{
    struct config cfg;
    if (load(&cfg, NO2 "warn = 88\n") != 0)
        return;
    struct alarm_engine *e = engine_for(&cfg);
    struct cfg_route rt = {.path = "/other", .topic = NULL, .offline_after = 5000,
                           .alerts = CFG_ALERTS_ON_CHANGE};
    struct buf out = {0};
    judge(e, &rt, "no2=90", 0, &out);
    alarm_tick(e, 5000, emit_cb, &out);
    CHECK_EQ_STR(out.data, W("no2") OFF("2"));
    buf_free(&out);
    alarm_engine_free(e);
    config_free(&cfg);
}

int main(void)
{
    RUN(test_table);
    RUN(test_compile_errors);
    RUN(test_compile_defaults);
    RUN(test_configure_refused);
    RUN(test_events);
    RUN(test_export);
    RUN(test_restore_refused);
    RUN(test_reconfigure);
    RUN(test_unconfigured_route);
    TEST_MAIN_END();
}
