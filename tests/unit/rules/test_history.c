/* Unit tests for rules/history.c: sequences of alarm events recorded into a
 * fresh database and listed back field by field (the JSON parsed with
 * jansson), the listing filters, acknowledgement and its error codes, a
 * reopen that continues the active rows, and the query-string parser. */
#include "core/buf.h"
#include "core/err.h"
#include "core/workpool.h"
#include "gateway/alarms_api.h"
#include "rules/history.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define T0 1795680000000LL /* 2026-11-26T08:00:00.000Z */
#undef MIN
#define MIN 60000LL

/* ---- helpers -------------------------------------------------------------- */

static char db_path[64];

static void remove_db(void)
{
    char p[80];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
}

/* The history is asynchronous: these wrappers queue a call and run the
 * loop until its callback has run. */
static uv_loop_t loop;
static struct workpool *pool;

static int open_sync(struct history **h, const char *path, char *err, size_t errlen)
{
    if (!pool) {
        uv_loop_init(&loop);
        pool = workpool_new(&loop, 2);
    }
    return history_open(h, &loop, pool, path, err, errlen);
}

static void close_sync(struct history *h)
{
    history_close(h);
    uv_run(&loop, UV_RUN_DEFAULT); /* until its handle is closed */
}

struct answer {
    int done, status, gzipped;
    struct buf *out;
};

static void on_list(void *ud, int status, const struct buf *body, int gzipped)
{
    struct answer *a = ud;
    a->done = 1;
    a->status = status;
    a->gzipped = gzipped;
    if (body->len)
        buf_append(a->out, body->data, body->len);
}

static void on_ack(void *ud, int status)
{
    struct answer *a = ud;
    a->done = 1;
    a->status = status;
}

static void wait_for(struct answer *a)
{
    while (!a->done)
        uv_run(&loop, UV_RUN_ONCE);
}

/* Appends the listing of f to out; returns its status. */
static int query_sync(struct history *h, const struct history_filter *f, struct buf *out)
{
    struct answer a = {.out = out};
    history_list(h, f, on_list, &a);
    wait_for(&a);
    return a.status;
}

static int ack_sync(struct history *h, int64_t id, const char *by, int64_t now_ms)
{
    struct answer a = {0};
    history_ack(h, id, NULL, by, now_ms, on_ack, &a);
    wait_for(&a);
    return a.status;
}

/* Opens a history on a new, empty database file. */
static struct history *open_fresh(void)
{
    static int n;
    snprintf(db_path, sizeof db_path, "/tmp/gasket-test-history-%d-%d.db", (int)getpid(), n++);
    remove_db();
    struct history *h = NULL;
    char err[300] = "";
    int rc = open_sync(&h, db_path, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "  open refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK(h != NULL);
    return h;
}

static void close_and_remove(struct history *h)
{
    close_sync(h);
    remove_db();
}

static void rule_ev(struct history *h, int kind, const char *route, const char *group,
                    const char *rule, int sev, double value, double peak, int64_t since,
                    int64_t t)
{
    struct alarm_event ev = {.kind = kind, .route = route, .group = group, .rule = rule,
                             .measurement = rule, .severity = sev, .value = value,
                             .peak = peak, .since_ms = since, .time_ms = t};
    history_record(h, &ev);
}

static void group_ev(struct history *h, int kind, const char *route, const char *group,
                     int64_t t)
{
    struct alarm_event ev = {.kind = kind, .route = route, .group = group, .time_ms = t};
    history_record(h, &ev);
}

/* Lists f (NULL: everything) and returns the parsed JSON, checking that it
 * parses and has the expected shape; NULL when it does not. */
static json_t *list(struct history *h, const struct history_filter *f)
{
    struct history_filter all = {0};
    struct buf out = {0};
    CHECK_EQ_INT(query_sync(h, f ? f : &all, &out), 0);
    json_error_t jerr;
    json_t *root = out.data ? json_loads(out.data, 0, &jerr) : NULL;
    if (!root)
        fprintf(stderr, "  not JSON (%s): %s\n", out.data ? jerr.text : "empty",
                out.data ? out.data : "");
    CHECK(root != NULL);
    CHECK(json_is_array(json_object_get(root, "alarms")));
    CHECK(json_is_integer(json_object_get(root, "total")));
    CHECK_EQ_INT(json_object_size(root), 2);
    buf_free(&out);
    return root;
}

static json_t *row(json_t *root, size_t i)
{
    json_t *r = json_array_get(json_object_get(root, "alarms"), i);
    CHECK(json_is_object(r));
    return r;
}

static size_t nrows(json_t *root)
{
    return json_array_size(json_object_get(root, "alarms"));
}

static long long total(json_t *root)
{
    return json_integer_value(json_object_get(root, "total"));
}

static const char *str(json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int is_null(json_t *r, const char *key)
{
    return json_is_null(json_object_get(r, key));
}

static double num(json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);
    CHECK(json_is_number(v));
    return json_number_value(v);
}

static long long id_of(json_t *r)
{
    return json_integer_value(json_object_get(r, "id"));
}

/* ---- recording ------------------------------------------------------------ */

static void test_raise_change_clear(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_RAISED, "/gasdetector", "2", "no2", ALARM_SEV_WARN, 90, 95, T0 - MIN, T0);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 1);
    CHECK_EQ_INT(total(root), 1);
    json_t *r = row(root, 0);
    CHECK_EQ_INT(json_object_size(r), 14);
    CHECK_EQ_INT(id_of(r), 1);
    CHECK_EQ_STR(str(r, "route"), "/gasdetector");
    CHECK_EQ_STR(str(r, "group"), "2");
    CHECK_EQ_STR(str(r, "rule"), "no2");
    CHECK_EQ_STR(str(r, "measurement"), "no2");
    CHECK_EQ_STR(str(r, "severity"), "warning");
    CHECK_EQ_STR(str(r, "state"), "active");
    CHECK(num(r, "value") == 90);
    CHECK(num(r, "peak") == 95);
    CHECK_EQ_STR(str(r, "raised"), "2026-11-26T08:00:00.000Z");
    CHECK_EQ_STR(str(r, "changed"), "2026-11-26T08:00:00.000Z");
    CHECK(is_null(r, "cleared"));
    CHECK(is_null(r, "acked"));
    CHECK(is_null(r, "acked_by"));
    json_decref(root);

    rule_ev(h, ALARM_EV_CHANGED, "/gasdetector", "2", "no2", ALARM_SEV_ALARM, 130, 130, T0,
            T0 + MIN + 5);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 1);
    r = row(root, 0);
    CHECK_EQ_INT(id_of(r), 1);
    CHECK_EQ_STR(str(r, "severity"), "alarm");
    CHECK_EQ_STR(str(r, "state"), "active");
    CHECK(num(r, "value") == 90); /* the value that raised it */
    CHECK(num(r, "peak") == 130);
    CHECK_EQ_STR(str(r, "raised"), "2026-11-26T08:00:00.000Z");
    CHECK_EQ_STR(str(r, "changed"), "2026-11-26T08:01:00.005Z");
    CHECK(is_null(r, "cleared"));
    json_decref(root);

    rule_ev(h, ALARM_EV_CLEARED, "/gasdetector", "2", "no2", ALARM_SEV_ALARM, 10, 142.5, T0,
            T0 + 2 * MIN + 999);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 1);
    r = row(root, 0);
    CHECK_EQ_INT(id_of(r), 1);
    CHECK_EQ_STR(str(r, "severity"), "alarm");
    CHECK_EQ_STR(str(r, "state"), "cleared");
    CHECK(num(r, "value") == 90);
    CHECK(num(r, "peak") == 142.5);
    CHECK_EQ_STR(str(r, "changed"), "2026-11-26T08:01:00.005Z");
    CHECK_EQ_STR(str(r, "cleared"), "2026-11-26T08:02:00.999Z");
    json_decref(root);

    /* raised again: a new row, the old one untouched */
    rule_ev(h, ALARM_EV_RAISED, "/gasdetector", "2", "no2", ALARM_SEV_WARN, 91, 91, 0,
            T0 + 3 * MIN);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    CHECK_EQ_INT(id_of(row(root, 0)), 2);
    CHECK_EQ_STR(str(row(root, 0), "state"), "active");
    CHECK_EQ_INT(id_of(row(root, 1)), 1);
    CHECK_EQ_STR(str(row(root, 1), "state"), "cleared");
    json_decref(root);
    close_and_remove(h);
}

/* Alarms of different rules, groups and routes are separate rows. */
static void test_keys_are_separate(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_RAISED, "/a", "1", "no2", ALARM_SEV_WARN, 1, 1, 0, T0);
    rule_ev(h, ALARM_EV_RAISED, "/a", "1", "co", ALARM_SEV_WARN, 2, 2, 0, T0 + 1);
    rule_ev(h, ALARM_EV_RAISED, "/a", "2", "no2", ALARM_SEV_WARN, 3, 3, 0, T0 + 2);
    rule_ev(h, ALARM_EV_RAISED, "/b", "1", "no2", ALARM_SEV_WARN, 4, 4, 0, T0 + 3);
    rule_ev(h, ALARM_EV_CLEARED, "/a", "1", "co", ALARM_SEV_WARN, 0, 7, 0, T0 + 10);
    rule_ev(h, ALARM_EV_CHANGED, "/a", "2", "no2", ALARM_SEV_ALARM, 9, 9, 0, T0 + 11);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 4);
    /* newest raised first: /b 1, /a 2, /a 1 co, /a 1 no2 */
    CHECK_EQ_STR(str(row(root, 0), "route"), "/b");
    CHECK_EQ_STR(str(row(root, 0), "state"), "active");
    CHECK_EQ_STR(str(row(root, 1), "severity"), "alarm");
    CHECK(num(row(root, 1), "peak") == 9);
    CHECK_EQ_STR(str(row(root, 2), "rule"), "co");
    CHECK_EQ_STR(str(row(root, 2), "state"), "cleared");
    CHECK(num(row(root, 2), "peak") == 7);
    CHECK_EQ_STR(str(row(root, 3), "state"), "active");
    CHECK_EQ_STR(str(row(root, 3), "severity"), "warning");
    json_decref(root);
    close_and_remove(h);
}

static void test_offline_online(void)
{
    struct history *h = open_fresh();
    group_ev(h, ALARM_EV_ONLINE, "/gasdetector", "7", T0 - 1); /* no row: nothing */
    group_ev(h, ALARM_EV_OFFLINE, "/gasdetector", "7", T0);
    rule_ev(h, ALARM_EV_RAISED, "/gasdetector", "7", "no2", ALARM_SEV_WARN, 90, 90, 0, T0 + 1);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    json_t *r = row(root, 1);
    CHECK_EQ_STR(str(r, "route"), "/gasdetector");
    CHECK_EQ_STR(str(r, "group"), "7");
    CHECK(is_null(r, "rule"));
    CHECK(is_null(r, "measurement"));
    CHECK_EQ_STR(str(r, "severity"), "offline");
    CHECK_EQ_STR(str(r, "state"), "active");
    CHECK(is_null(r, "value"));
    CHECK(is_null(r, "peak"));
    CHECK_EQ_STR(str(r, "raised"), "2026-11-26T08:00:00.000Z");
    CHECK(is_null(r, "cleared"));
    json_decref(root);

    group_ev(h, ALARM_EV_ONLINE, "/gasdetector", "7", T0 + MIN);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    r = row(root, 1);
    CHECK_EQ_STR(str(r, "severity"), "offline");
    CHECK_EQ_STR(str(r, "state"), "cleared");
    CHECK_EQ_STR(str(r, "cleared"), "2026-11-26T08:01:00.000Z");
    CHECK(is_null(r, "peak"));
    CHECK_EQ_STR(str(row(root, 0), "state"), "active"); /* the rule's alarm is its own */
    json_decref(root);

    group_ev(h, ALARM_EV_ONLINE, "/gasdetector", "7", T0 + 2 * MIN); /* again: nothing */
    group_ev(h, ALARM_EV_OFFLINE, "/gasdetector", "7", T0 + 3 * MIN);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 3);
    CHECK_EQ_STR(str(row(root, 0), "severity"), "offline");
    CHECK_EQ_STR(str(row(root, 0), "state"), "active");
    CHECK_EQ_STR(str(row(root, 2), "cleared"), "2026-11-26T08:01:00.000Z");
    json_decref(root);
    close_and_remove(h);
}

/* A raise while a row is active (the engine lost its state) closes the old. */
static void test_raise_while_active(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "no2", ALARM_SEV_WARN, 90, 92, 0, T0);
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "no2", ALARM_SEV_ALARM, 150, 150, 0, T0 + MIN);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    CHECK_EQ_STR(str(row(root, 0), "state"), "active");
    CHECK_EQ_STR(str(row(root, 0), "severity"), "alarm");
    CHECK_EQ_STR(str(row(root, 1), "state"), "cleared");
    CHECK_EQ_STR(str(row(root, 1), "cleared"), "2026-11-26T08:01:00.000Z");
    CHECK(num(row(root, 1), "peak") == 92); /* kept */
    json_decref(root);
    close_and_remove(h);
}

/* CHANGED and CLEARED of an alarm the database never saw raised (a history
 * file newer than the engine's state) still leave a row, raised at since. */
static void test_change_clear_without_row(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_CHANGED, "/r", "1", "no2", ALARM_SEV_ALARM, 150, 155, T0 - MIN, T0);
    rule_ev(h, ALARM_EV_CLEARED, "/r", "2", "no2", ALARM_SEV_WARN, 1, 99, T0 - 2 * MIN, T0);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    json_t *r = row(root, 0);
    CHECK_EQ_STR(str(r, "group"), "1");
    CHECK_EQ_STR(str(r, "state"), "active");
    CHECK_EQ_STR(str(r, "severity"), "alarm");
    CHECK_EQ_STR(str(r, "raised"), "2026-11-26T07:59:00.000Z");
    CHECK_EQ_STR(str(r, "changed"), "2026-11-26T08:00:00.000Z");
    CHECK(num(r, "peak") == 155);
    r = row(root, 1);
    CHECK_EQ_STR(str(r, "group"), "2");
    CHECK_EQ_STR(str(r, "state"), "cleared");
    CHECK_EQ_STR(str(r, "raised"), "2026-11-26T07:58:00.000Z");
    CHECK_EQ_STR(str(r, "cleared"), "2026-11-26T08:00:00.000Z");
    CHECK(num(r, "peak") == 99);
    json_decref(root);
    /* the CHANGED row is the active one now */
    rule_ev(h, ALARM_EV_CLEARED, "/r", "1", "no2", ALARM_SEV_ALARM, 1, 160, 0, T0 + MIN);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 2);
    CHECK_EQ_STR(str(row(root, 0), "state"), "cleared");
    json_decref(root);
    close_and_remove(h);
}

/* Strings needing escapes, and numbers, come back exactly. */
static void test_json_values(void)
{
    struct history *h = open_fresh();
    const char *route = "/q\"uo\\te\n\x01 \xc3\xa9\xe2\x82\xac";
    const char *group = "g \"1\"\t";
    rule_ev(h, ALARM_EV_RAISED, route, group, "no2", ALARM_SEV_WARN, 0.1, -2.5e-7, 0, T0);
    rule_ev(h, ALARM_EV_RAISED, "/r", "2", "co", ALARM_SEV_WARN, 1e300, 123456789012.25, 0,
            T0 + 1);
    rule_ev(h, ALARM_EV_RAISED, "/r", "3", "co", ALARM_SEV_WARN, NAN, INFINITY, 0, T0 + 2);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 3);
    json_t *r = row(root, 2);
    CHECK_EQ_STR(str(r, "route"), route);
    CHECK_EQ_STR(str(r, "group"), group);
    CHECK(num(r, "value") == 0.1);
    CHECK(num(r, "peak") == -2.5e-7);
    r = row(root, 1);
    CHECK(num(r, "value") == 1e300);
    CHECK(num(r, "peak") == 123456789012.25);
    r = row(root, 0); /* not finite: null, and still JSON */
    CHECK(is_null(r, "value"));
    CHECK(is_null(r, "peak"));
    json_decref(root);

    struct buf out = {0};
    struct history_filter f = {.limit = 1};
    CHECK_EQ_INT(query_sync(h, &f, &out), 0);
    CHECK(strstr(out.data, "\"value\":null") != NULL);
    buf_reset(&out);
    strcpy(f.group, "2");
    CHECK_EQ_INT(query_sync(h, &f, &out), 0);
    CHECK(strstr(out.data, "\"value\":1e+300,\"peak\":123456789012.25,") != NULL);
    buf_free(&out);
    close_and_remove(h);
}

/* Times before the epoch and milliseconds round correctly. */
static void test_time_format(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "no2", ALARM_SEV_WARN, 1, 1, 0, -1);
    rule_ev(h, ALARM_EV_CHANGED, "/r", "1", "no2", ALARM_SEV_WARN, 1, 1, 0, 951782400123LL);
    json_t *root = list(h, NULL);
    CHECK_EQ_STR(str(row(root, 0), "raised"), "1969-12-31T23:59:59.999Z");
    CHECK_EQ_STR(str(row(root, 0), "changed"), "2000-02-29T00:00:00.123Z");
    json_decref(root);
    close_and_remove(h);
}

/* ---- listing -------------------------------------------------------------- */

/* Six alarms: groups 1, 2, 1, 2, 1, 2 raised a minute apart from T0; the
 * first three cleared. */
static struct history *six_alarms(void)
{
    struct history *h = open_fresh();
    for (int i = 0; i < 6; i++) {
        const char *g = i % 2 ? "2" : "1";
        const char *rule = i < 2 ? "no2" : i < 4 ? "co" : "o3";
        rule_ev(h, ALARM_EV_RAISED, "/r", g, rule, ALARM_SEV_WARN, i, i, 0, T0 + i * MIN);
        if (i < 3)
            rule_ev(h, ALARM_EV_CLEARED, "/r", g, rule, ALARM_SEV_WARN, 0, i, 0,
                    T0 + i * MIN + 30000);
    }
    return h;
}

/* Lists f and returns the row ids as "6,5,4" and the total in *tot. */
static const char *ids(struct history *h, const struct history_filter *f, long long *tot)
{
    static char s[128];
    json_t *root = list(h, f);
    size_t n = 0;
    s[0] = '\0';
    for (size_t i = 0; i < nrows(root); i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%lld", i ? "," : "", id_of(row(root, i)));
    *tot = total(root);
    json_decref(root);
    return s;
}

static void test_filters(void)
{
    struct history *h = six_alarms();
    struct history_filter f = {0};
    long long tot = 0;
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5,4,3,2,1");
    CHECK_EQ_INT(tot, 6);
    f.active = 1;
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5,4");
    CHECK_EQ_INT(tot, 3);
    strcpy(f.group, "2");
    CHECK_EQ_STR(ids(h, &f, &tot), "6,4");
    CHECK_EQ_INT(tot, 2);
    f.active = 0;
    CHECK_EQ_STR(ids(h, &f, &tot), "6,4,2");
    f.since_ms = T0 + 2 * MIN; /* raised at or after */
    CHECK_EQ_STR(ids(h, &f, &tot), "6,4");
    f.group[0] = '\0';
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5,4,3");
    CHECK_EQ_INT(tot, 4);
    f.active = 1;
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5,4");
    f.active = 0, f.limit = 2;
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5");
    CHECK_EQ_INT(tot, 4); /* counts past the limit */
    f.since_ms = 0, f.limit = 5000;  /* capped, not refused */
    CHECK_EQ_STR(ids(h, &f, &tot), "6,5,4,3,2,1");
    strcpy(f.group, "nosuch");
    CHECK_EQ_STR(ids(h, &f, &tot), "");
    CHECK_EQ_INT(tot, 0);
    f.group[0] = '\0', f.since_ms = T0 + 10 * MIN;
    CHECK_EQ_STR(ids(h, &f, &tot), "");

    /* appends to what out holds */
    struct buf out = {0};
    buf_puts(&out, "x");
    CHECK_EQ_INT(query_sync(h, &f, &out), 0);
    CHECK_EQ_STR(out.data, "x{\"alarms\":[],\"total\":0}");
    buf_free(&out);
    close_and_remove(h);
}

static void test_default_limit(void)
{
    struct history *h = open_fresh();
    for (int i = 0; i < HISTORY_LIMIT_DEFAULT + 5; i++) {
        group_ev(h, ALARM_EV_OFFLINE, "/r", "1", T0 + 2 * i);
        if (i < HISTORY_LIMIT_DEFAULT + 4)
            group_ev(h, ALARM_EV_ONLINE, "/r", "1", T0 + 2 * i + 1);
    }
    struct history_filter f = {0};
    json_t *root = list(h, &f);
    CHECK_EQ_INT(nrows(root), HISTORY_LIMIT_DEFAULT);
    CHECK_EQ_INT(total(root), HISTORY_LIMIT_DEFAULT + 5);
    CHECK_EQ_INT(id_of(row(root, 0)), HISTORY_LIMIT_DEFAULT + 5);
    json_decref(root);
    f.active = 1;
    root = list(h, &f);
    CHECK_EQ_INT(total(root), 1);
    json_decref(root);
    /* asked for gzip: the long listing comes gzipped, the short one as it is */
    f.active = 0;
    struct buf plain = {0}, z = {0};
    struct answer a = {.out = &z};
    CHECK_EQ_INT(query_sync(h, &f, &plain), 0);
    f.gzip = 1;
    history_list(h, &f, on_list, &a);
    wait_for(&a);
    CHECK(a.status == 0 && a.gzipped && plain.len >= 1024 && z.len < plain.len / 3);
    char *back = malloc(plain.len + 1);
    uLongf n = plain.len + 1;
    z_stream zs = {.next_in = (Bytef *)z.data, .avail_in = (uInt)z.len,
                   .next_out = (Bytef *)back, .avail_out = (uInt)n};
    CHECK(inflateInit2(&zs, 15 + 16) == Z_OK && inflate(&zs, Z_FINISH) == Z_STREAM_END);
    CHECK(zs.total_out == plain.len && memcmp(back, plain.data, plain.len) == 0);
    inflateEnd(&zs);
    free(back);
    f.active = 1;
    buf_reset(&z);
    a = (struct answer){.out = &z};
    history_list(h, &f, on_list, &a);
    wait_for(&a);
    CHECK(a.status == 0 && !a.gzipped && z.len > 0 && z.data[0] == '{');
    buf_free(&plain);
    buf_free(&z);
    close_and_remove(h);
}

/* ---- acknowledging -------------------------------------------------------- */

static void test_ack(void)
{
    struct history *h = six_alarms();
    CHECK_EQ_INT(ack_sync(h, 5, "ops", T0 + 10 * MIN), 0);
    CHECK_EQ_INT(ack_sync(h, 5, "other", T0 + 11 * MIN), GK_EEXIST);
    CHECK_EQ_INT(ack_sync(h, 1, NULL, T0 + 12 * MIN), 0); /* cleared: allowed */
    CHECK_EQ_INT(ack_sync(h, 1, NULL, T0 + 12 * MIN), GK_EEXIST);
    CHECK_EQ_INT(ack_sync(h, 7, "ops", T0), GK_ENOTFOUND);
    CHECK_EQ_INT(ack_sync(h, 0, "ops", T0), GK_ENOTFOUND);
    CHECK_EQ_INT(ack_sync(h, -3, "ops", T0), GK_ENOTFOUND);
    json_t *root = list(h, NULL);
    json_t *r = row(root, 1);
    CHECK_EQ_INT(id_of(r), 5);
    CHECK_EQ_STR(str(r, "acked"), "2026-11-26T08:10:00.000Z");
    CHECK_EQ_STR(str(r, "acked_by"), "ops"); /* the first ack stays */
    CHECK_EQ_STR(str(r, "state"), "active");
    r = row(root, 5);
    CHECK_EQ_STR(str(r, "acked"), "2026-11-26T08:12:00.000Z");
    CHECK(is_null(r, "acked_by"));
    CHECK(is_null(row(root, 0), "acked"));
    json_decref(root);

    /* acknowledging does not disturb recording */
    rule_ev(h, ALARM_EV_CLEARED, "/r", "2", "co", ALARM_SEV_WARN, 0, 3, 0, T0 + 20 * MIN);
    root = list(h, NULL);
    r = row(root, 2);
    CHECK_EQ_INT(id_of(r), 4);
    CHECK_EQ_STR(str(r, "state"), "cleared");
    CHECK(is_null(r, "acked"));
    json_decref(root);
    close_and_remove(h);
}

/* ---- persistence ---------------------------------------------------------- */

static void test_reopen_continues(void)
{
    struct history *h = open_fresh();
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "no2", ALARM_SEV_WARN, 90, 90, 0, T0);
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "co", ALARM_SEV_WARN, 30, 30, 0, T0 + 1);
    rule_ev(h, ALARM_EV_CLEARED, "/r", "1", "co", ALARM_SEV_WARN, 0, 31, 0, T0 + 2);
    group_ev(h, ALARM_EV_OFFLINE, "/r", "9", T0 + 3);
    CHECK_EQ_INT(ack_sync(h, 2, "ops", T0 + 4), 0);
    close_sync(h);

    char err[300] = "";
    h = NULL;
    CHECK_EQ_INT(open_sync(&h, db_path, err, sizeof err), 0);
    CHECK(h != NULL);
    if (!h)
        return;
    rule_ev(h, ALARM_EV_CHANGED, "/r", "1", "no2", ALARM_SEV_ALARM, 120, 121, T0, T0 + MIN);
    group_ev(h, ALARM_EV_ONLINE, "/r", "9", T0 + MIN);
    json_t *root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 3); /* no new rows */
    json_t *r = row(root, 2);
    CHECK_EQ_INT(id_of(r), 1);
    CHECK_EQ_STR(str(r, "severity"), "alarm");
    CHECK(num(r, "peak") == 121);
    CHECK_EQ_STR(str(r, "changed"), "2026-11-26T08:01:00.000Z");
    CHECK_EQ_STR(str(row(root, 0), "state"), "cleared");
    CHECK_EQ_STR(str(row(root, 1), "acked_by"), "ops");
    CHECK_EQ_INT(ack_sync(h, 2, "ops", T0 + 5), GK_EEXIST);
    json_decref(root);
    rule_ev(h, ALARM_EV_CLEARED, "/r", "1", "no2", ALARM_SEV_ALARM, 0, 125, T0, T0 + 2 * MIN);
    rule_ev(h, ALARM_EV_RAISED, "/r", "1", "co", ALARM_SEV_WARN, 40, 40, 0, T0 + 3 * MIN);
    root = list(h, NULL);
    CHECK_EQ_INT(nrows(root), 4);
    CHECK_EQ_INT(id_of(row(root, 0)), 4); /* AUTOINCREMENT: ids never reused */
    CHECK_EQ_STR(str(row(root, 3), "state"), "cleared");
    json_decref(root);
    close_and_remove(h);
}

static void test_open_fails(void)
{
    struct history *h = (struct history *)1;
    char err[300] = "";
    CHECK_EQ_INT(open_sync(&h, "/nonexistent-dir/x/history.db", err, sizeof err), GK_ESTORE);
    CHECK(h == NULL);
    CHECK(strstr(err, "/nonexistent-dir/x/history.db") != NULL);
    history_close(NULL);
}

/* A parsed filter feeds the query. */
static void test_parse_then_query(void)
{
    struct history *h = six_alarms();
    struct history_filter f;
    char err[200] = "";
    long long tot = 0;
    CHECK_EQ_INT(alarms_filter_parse("active=true&group=1&since=2026-11-26T08:01:00Z", &f, err,
                                      sizeof err),
                 0);
    CHECK_EQ_STR(ids(h, &f, &tot), "5");
    CHECK_EQ_INT(alarms_filter_parse("limit=1", &f, err, sizeof err), 0);
    CHECK_EQ_STR(ids(h, &f, &tot), "6");
    CHECK_EQ_INT(tot, 6);
    close_and_remove(h);
}

int main(void)
{
    RUN(test_raise_change_clear);
    RUN(test_keys_are_separate);
    RUN(test_offline_online);
    RUN(test_raise_while_active);
    RUN(test_change_clear_without_row);
    RUN(test_json_values);
    RUN(test_time_format);
    RUN(test_filters);
    RUN(test_default_limit);
    RUN(test_ack);
    RUN(test_reopen_continues);
    RUN(test_open_fails);
    RUN(test_parse_then_query);
    workpool_close(pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    TEST_MAIN_END();
}
