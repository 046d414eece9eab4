/* test_query.c: unit tests of the query DSL (src/store/query*.c).
 *
 * Parse tests check GK_EINVAL and the 400 error object for bad requests.
 * Execution tests write a fixture of a few dozen documents through the
 * real writer (store_open/store_append) into a mkdtemp directory, open their own
 * read-only SQLite connection, and compare each reply with values computed
 * here from the fixture arrays (an independent reference). Rollup tests
 * run the same aggregation with the rollup path on and forced off on
 * random data and require equal answers. */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/clock.h"
#include "core/datetime.h"
#include "store/query.h"
#include "store/query_int.h"
#include "store/store.h"
#include "hot_view.h"
#include "test.h"

/* ---- the fixture ------------------------------------------------------- */

#define NDOCS 40
#define T0    INT64_C(1630660489000) /* 2021-09-03T09:14:49Z = 18:14:49 in Seoul */

struct fdoc {
    int64_t ts;
    const char *grp; /* NULL: no groupid */
    double no2;
    int has_co;
    int no_no2;
    double co;
    char sensorid[8];
    char date[24];
};

static struct fdoc fx[NDOCS];
static char *fx_dir;
static sqlite3 *fx_db;
static struct tz *seoul;

static const char *const groups[3] = {"1", "2", "3"};

static void fx_make(void)
{
    char err[128];
    for (int i = 0; i < NDOCS; i++) {
        struct fdoc *d = &fx[i];
        d->ts = T0 + i * 37000 + (i % 3) * 250;
        d->grp = i % 7 == 6 ? NULL : groups[i % 3];
        d->no2 = 50 + (i * 37) % 60 + (i % 4) * 0.25;
        d->has_co = i % 5 != 0;
        d->co = 20 + i * 0.5;
        snprintf(d->sensorid, sizeof d->sensorid, "%04d", 5 + i % 2);
    }
    /* two docs in one second, the later id with the earlier ms */
    fx[20].ts = (fx[20].ts / 1000) * 1000 + 900;
    fx[21].ts = (fx[20].ts / 1000) * 1000 + 100;
    for (int i = 0; i < NDOCS; i++)
        dt_format(fx[i].ts, seoul, "yyyy-MM-dd HH:mm:ss", fx[i].date, sizeof fx[i].date, err,
                  sizeof err);
}

static int fx_source(const struct fdoc *d, char *out, size_t n)
{
    char grp[32] = "", co[160] = "";
    if (d->grp) snprintf(grp, sizeof grp, "\"groupid\":\"%s\",", d->grp);
    if (d->has_co)
        snprintf(co, sizeof co,
                 "\"co\":{\"sensorid\":\"0001\",\"sensortype\":\"8\",\"value\":\"%.2f\"},", d->co);
    if (d->no_no2)
        return snprintf(out, n, "{%s\"gps\":\"37.61, 126.99\",%s\"date\":\"%s\"}", grp, co,
                        d->date);
    return snprintf(out, n,
                    "{%s\"gps\":\"37.61, 126.99\",%s\"no2\":{\"sensorid\":\"%s\",\"value\":%g},"
                    "\"date\":\"%s\"}",
                    grp, co, d->sensorid, d->no2, d->date);
}

static int acks;

static void on_ack(void *ud, const struct store_ack *ack)
{
    (void)ud;
    if (ack->status == 0) acks++;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Writes docs[0..n) of index through the store into dir. */
static void write_docs(const char *dir, const char *index, const struct fdoc *docs, int n)
{
    uv_loop_t loop;
    struct store *s = NULL;
    struct store_options opt = {.dir = dir, .durability = STORE_DURABILITY_NORMAL};
    uv_loop_init(&loop);
    CHECK_EQ_INT(store_open(&s, &loop, &opt), 0);
    acks = 0;
    for (int i = 0; i < n; i++) {
        char src[512];
        struct store_meas m[2] = {{"no2", docs[i].no2}, {"co", docs[i].co}};
        int skip = docs[i].no_no2;
        struct store_doc doc = {.index = index,
                                .source = src,
                                .source_len = (size_t)fx_source(&docs[i], src, sizeof src),
                                .ts_ms = docs[i].ts,
                                .groupid = docs[i].grp,
                                .nmeas = (size_t)(docs[i].has_co + 1 - skip),
                                .meas = m + skip};
        store_append(s, &doc, on_ack, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks, n);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static sqlite3 *open_ro(const char *dir)
{
    char path[512];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/gasket.db", dir);
    /* read-write for the in-memory hot schemas only: nothing writes gasket.db */
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(fx_reader_views(db), SQLITE_OK);
    return db;
}

static void fx_open(void)
{
    char tmpl[] = "/tmp/gasket-query-XXXXXX";
    char err[128];
    CHECK_EQ_INT(tz_load(&seoul, "Asia/Seoul", 10, err, sizeof err), 0);
    fx_make();
    fx_dir = strdup(mkdtemp(tmpl));
    write_docs(fx_dir, "gasdetect", fx, NDOCS);
    fx_db = open_ro(fx_dir);
}

static void fx_close(void)
{
    sqlite3_close(fx_db);
    nftw(fx_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx_dir);
    tz_free(seoul);
}

/* ---- helpers ----------------------------------------------------------- */

static struct query_env env_now(void)
{
    struct query_env e = {.zone = seoul, .now_ms = T0 + 3600000, .deadline_mono = 0};
    return e;
}

/* The reply as a client sees it: query_dump()'s text parsed again (so
 * a `_source` holds the stored document, not its splice marker). */
static json_t *as_sent(json_t *reply)
{
    char *text = query_dump(reply, JSON_COMPACT);
    json_decref(reply);
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    return v;
}

/* Parses and runs body on index; returns the reply, *status 0 or the
 * GK_E* code. */
static json_t *run_kind(enum query_kind kind, const char *index, const char *body, int *status)
{
    struct query_env env = env_now();
    struct query *q = NULL;
    json_t *reply = NULL;
    int st = query_parse(&q, kind, index, body, body ? strlen(body) : 0, &env, &reply);
    if (st == 0) {
        st = query_exec(q, fx_db, &reply);
        query_free(q);
    }
    *status = st;
    return as_sent(reply);
}

static json_t *search(const char *body, int *status)
{
    return run_kind(QUERY_SEARCH, "gasdetect", body, status);
}

/* The value at a dotted path ("hits.total.value", "hits.hits.0._id"). */
static json_t *at(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    return v;
}

static long long at_int(json_t *v, const char *path)
{
    json_t *x = at(v, path);
    return json_is_integer(x) ? json_integer_value(x) : -999999;
}

static double at_num(json_t *v, const char *path)
{
    json_t *x = at(v, path);
    return json_is_number(x) ? json_number_value(x) : NAN;
}

static const char *at_str(json_t *v, const char *path)
{
    json_t *x = at(v, path);
    return json_is_string(x) ? json_string_value(x) : "(none)";
}

/* Runs body and returns hits.total.value (exact counts requested). */
static long long total_of(const char *body)
{
    int st;
    json_t *r = search(body, &st);
    long long n = st == 0 ? at_int(r, "hits.total.value") : -1;
    if (st != 0) fprintf(stderr, "  %s -> %d %s\n", body, st, json_dumps(r, JSON_COMPACT));
    json_decref(r);
    return n;
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

/* ---- parse errors ------------------------------------------------------ */

static int bad(const char *body, const char *reason_part)
{
    struct query_env env = env_now();
    struct query *q = NULL;
    json_t *err = NULL;
    int st = query_parse(&q, QUERY_SEARCH, "gasdetect", body, strlen(body), &env, &err);
    int ok = st == GK_EINVAL && q == NULL && at_int(err, "status") == 400 &&
             strcmp(at_str(err, "error.type"), "parsing_exception") == 0 &&
             strcmp(at_str(err, "error.root_cause.0.type"), "parsing_exception") == 0 &&
             strstr(at_str(err, "error.reason"), reason_part) != NULL &&
             strcmp(at_str(err, "error.reason"), at_str(err, "error.root_cause.0.reason")) == 0;
    if (!ok) fprintf(stderr, "  %s -> %d %s\n", body, st, err ? json_dumps(err, JSON_COMPACT) : "");
    json_decref(err);
    query_free(q);
    return ok;
}

static void test_parse_errors(void)
{
    CHECK(bad("{\"query\":{\"foo\":{}}}", "unknown query [foo]"));
    CHECK(bad("{\"query\":{\"match\":{\"a\":1}}}", "[match] is not supported"));
    CHECK(bad("{\"qeury\":{}}", "[qeury]"));
    CHECK(bad("{\"size\":\"ten\"}", "[size]"));
    CHECK(bad("{\"size\":1000000000}", "Result window is too large"));
    CHECK(bad("{\"size\":-1}", "[size]"));
    CHECK(bad("{\"from\":9995,\"size\":10}", "Result window is too large"));
    CHECK(bad("{\"query\":{\"term\":{\"groupid\":{\"valu\":1}}}}", "[valu]"));
    CHECK(bad("{\"query\":{\"term\":{\"groupid\":null}}}", "term value"));
    CHECK(bad("{\"query\":{\"term\":{\"a\":1,\"b\":2}}}", "multiple fields"));
    CHECK(bad("{\"query\":{\"range\":{\"date\":{\"gte\":\"yesterday\"}}}}", "yesterday"));
    CHECK(bad("{\"query\":{\"range\":{\"no2.value\":{\"gte\":\"lots\"}}}}", "lots"));
    CHECK(bad("{\"query\":{\"range\":{\"date\":{\"gte\":\"now\",\"time_zone\":\"Mars/Base\"}}}}",
              "Mars/Base"));
    CHECK(bad("{\"query\":{\"bool\":{\"must\":[{\"foo\":{}}]}}}", "foo"));
    CHECK(bad("{\"query\":{\"bool\":{\"must\":3}}}", "[must]"));
    CHECK(bad("{\"query\":{}}", "empty clause"));
    CHECK(bad("{\"query\":{\"match_all\":{},\"term\":{\"a\":1}}}", "one query name"));
    CHECK(bad("{\"query\":{\"exists\":{}}}", "[field]"));
    CHECK(bad("{\"sort\":[{\"date\":{\"order\":\"up\"}}]}", "order"));
    CHECK(bad("{\"sort\":\"_id\"}", "_id"));
    CHECK(bad("{\"_source\":3}", "_source"));
    CHECK(bad("{\"track_total_hits\":\"many\"}", "track_total_hits"));
    CHECK(bad("[1,2]", "JSON object"));
    CHECK(bad("{\"query\":", "failed to parse"));
    CHECK(bad("{\"size\":1,\"size\":2}", "failed to parse"));
    CHECK(bad("{\"highlight\":{}}", "[highlight] is not supported"));
    CHECK(bad("{\"query\":{\"term\":{\"\\\"x\":1}}}", "field name"));
    CHECK(bad("{\"query\":{\"term\":{\"a..b\":1}}}", "field name"));
    CHECK(bad("{\"query\":{\"term\":{\"_routing\":1}}}", "[_routing] is not supported"));
    CHECK(bad("{\"timeout\":\"soon\"}", "timeout"));
}

static void test_parse_nesting_and_size(void)
{
    struct buf b = {0};
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "{\"bool\":{\"must\":");
    buf_puts(&b, "{\"match_all\":{}}");
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "}}");
    char *q = NULL;
    size_t n = strlen("{\"query\":") + b.len + 2;
    q = malloc(n);
    snprintf(q, n, "{\"query\":%s}", b.data);
    CHECK(bad(q, "nested more than"));
    free(q);
    buf_free(&b);
    /* 1 MiB + 1 of whitespace-padded JSON */
    size_t big = QUERY_MAX_BODY + 1;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    memcpy(body, "{\"size\":1}", 10);
    body[big] = '\0';
    CHECK(bad(body, "larger than"));
    free(body);
}

static void test_parse_count_kind(void)
{
    int st;
    json_t *r = run_kind(QUERY_COUNT, "gasdetect", "{\"size\":3}", &st);
    CHECK_EQ_INT(st, GK_EINVAL);
    CHECK(strstr(at_str(r, "error.reason"), "[size]") != NULL);
    json_decref(r);
}

/* The fuzz corpus doubles as a parse test: files named bad_* are refused,
 * the others accepted (run from the repository root; skipped elsewhere). */
static void test_parse_corpus(void)
{
    const char *dir = "tests/fuzz/corpus/query";
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        char path[512], body[65536];
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".json")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        size_t len = f ? fread(body, 1, sizeof body - 1, f) : 0;
        if (f) fclose(f);
        body[len] = '\0';
        struct query_env env = env_now();
        struct query *q = NULL;
        json_t *err = NULL;
        int st = query_parse(&q, QUERY_SEARCH, "gasdetect", body, len, &env, &err);
        int want = strncmp(e->d_name, "bad_", 4) == 0 ? GK_EINVAL : 0;
        if (st != want)
            fprintf(stderr, "  %s: %d %s\n", e->d_name, st, err ? json_dumps(err, 0) : "");
        CHECK_EQ_INT(st, want);
        json_decref(err);
        query_free(q);
        n++;
    }
    closedir(d);
    CHECK(n >= 30);
}

/* ---- hits -------------------------------------------------------------- */

static void test_match_all(void)
{
    int st;
    json_t *r = search(NULL, &st);
    CHECK_EQ_INT(st, 0);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), NDOCS);
    CHECK_EQ_STR(at_str(r, "hits.total.relation"), "eq");
    CHECK(json_is_false(at(r, "timed_out")));
    CHECK_EQ_INT(at_int(r, "_shards.total"), 1);
    CHECK_EQ_INT(at_int(r, "_shards.successful"), 1);
    CHECK_EQ_INT(at_int(r, "_shards.failed"), 0);
    CHECK(json_is_integer(at(r, "took")));
    CHECK_EQ_INT(json_array_size(at(r, "hits.hits")), 10);
    CHECK(near(at_num(r, "hits.max_score"), 1.0));
    CHECK_EQ_STR(at_str(r, "hits.hits.0._index"), "gasdetect");
    CHECK_EQ_STR(at_str(r, "hits.hits.0._id"), "1");
    CHECK_EQ_STR(at_str(r, "hits.hits.9._id"), "10");
    CHECK(near(at_num(r, "hits.hits.0._score"), 1.0));
    CHECK_EQ_STR(at_str(r, "hits.hits.0._source.date"), fx[0].date);
    CHECK_EQ_STR(at_str(r, "hits.hits.0._source.no2.sensorid"), "0005");
    CHECK(at(r, "hits.hits.0.sort") == NULL);
    CHECK(at(r, "aggregations") == NULL);
    json_decref(r);
    r = search("{\"query\":{\"match_all\":{\"boost\":2}},\"from\":35,\"size\":10}", &st);
    CHECK_EQ_INT(json_array_size(at(r, "hits.hits")), 5);
    CHECK_EQ_STR(at_str(r, "hits.hits.0._id"), "36");
    CHECK(near(at_num(r, "hits.max_score"), 2.0));
    json_decref(r);
}

static int count_ref(int (*pred)(const struct fdoc *))
{
    int n = 0;
    for (int i = 0; i < NDOCS; i++)
        n += pred(&fx[i]);
    return n;
}

static int p_grp2(const struct fdoc *d)
{
    return d->grp && strcmp(d->grp, "2") == 0;
}
static int p_grp13(const struct fdoc *d)
{
    return d->grp && strcmp(d->grp, "2") != 0;
}
static int p_nogrp(const struct fdoc *d)
{
    return d->grp == NULL;
}
static int p_no2_88(const struct fdoc *d)
{
    return d->no2 >= 88;
}
static int p_no2_gt88_le100(const struct fdoc *d)
{
    return d->no2 > 88 && d->no2 <= 100;
}
static int p_co(const struct fdoc *d)
{
    return d->has_co;
}
static int p_sensor6(const struct fdoc *d)
{
    return strcmp(d->sensorid, "0006") == 0;
}

static void test_term_terms_exists(void)
{
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"groupid\":\"2\"}}}"), count_ref(p_grp2));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"groupid\":2}}}"), count_ref(p_grp2));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"groupid.keyword\":{\"value\":\"2\"}}}}"),
                 count_ref(p_grp2));
    CHECK_EQ_INT(total_of("{\"query\":{\"terms\":{\"groupid\":[\"1\",\"3\",\"9\"]}}}"),
                 count_ref(p_grp13));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"no2.sensorid\":\"0006\"}}}"),
                 count_ref(p_sensor6));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"no2.sensorid.keyword\":\"0006\"}}}"),
                 count_ref(p_sensor6));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"_id\":\"7\"}}}"), 1);
    CHECK_EQ_INT(total_of("{\"query\":{\"ids\":{\"values\":[\"7\",\"8\",\"x\"]}}}"), 2);
    CHECK_EQ_INT(total_of("{\"query\":{\"exists\":{\"field\":\"co.value\"}}}"), count_ref(p_co));
    CHECK_EQ_INT(total_of("{\"query\":{\"exists\":{\"field\":\"co\"}}}"), count_ref(p_co));
    CHECK_EQ_INT(total_of("{\"query\":{\"exists\":{\"field\":\"co.sensortype\"}}}"),
                 count_ref(p_co));
    CHECK_EQ_INT(
        total_of("{\"query\":{\"bool\":{\"must_not\":{\"exists\":{\"field\":\"groupid\"}}}}}"),
        count_ref(p_nogrp));
    CHECK_EQ_INT(total_of("{\"query\":{\"term\":{\"no2.value\":"
                          "50"
                          "}}}"),
                 1);
    CHECK_EQ_INT(total_of("{\"query\":{\"match_none\":{}}}"), 0);
    /* a number in the source, as a keyword: its text */
    int n = 0;
    for (int i = 0; i < NDOCS; i++)
        n += fx[i].no2 == 87.25 || fx[i].no2 == 64.5;
    CHECK(n >= 2);
    CHECK_EQ_INT(total_of("{\"query\":{\"terms\":{\"no2.value.keyword\":[87.25,\"64.5\"]}}}"), n);
}

static void test_range_numeric(void)
{
    CHECK_EQ_INT(total_of("{\"query\":{\"range\":{\"no2.value\":{\"gte\":88}}}}"),
                 count_ref(p_no2_88));
    CHECK_EQ_INT(total_of("{\"query\":{\"range\":{\"no2.value\":{\"gte\":\"88\"}}}}"),
                 count_ref(p_no2_88));
    CHECK_EQ_INT(total_of("{\"query\":{\"range\":{\"no2.value\":{\"gt\":88,\"lte\":100}}}}"),
                 count_ref(p_no2_gt88_le100));
    CHECK_EQ_INT(total_of("{\"query\":{\"range\":{\"no2.value\":{\"from\":88,\"to\":100,"
                          "\"include_lower\":false}}}}"),
                 count_ref(p_no2_gt88_le100));
}

/* Docs whose `date` (ts in whole seconds) lies in [lo, hi]. */
static int count_date(int64_t lo, int64_t hi)
{
    int n = 0;
    for (int i = 0; i < NDOCS; i++) {
        int64_t v = fx[i].ts / 1000 * 1000;
        n += v >= lo && v <= hi;
    }
    return n;
}

static void test_range_date(void)
{
    char body[512];
    int64_t t10 = fx[10].ts / 1000 * 1000, t30 = fx[30].ts / 1000 * 1000;
    /* gasket's own date text, in the configured zone */
    snprintf(body, sizeof body,
             "{\"query\":{\"range\":{\"date\":{\"gte\":\"%s\",\"lte\":\"%s\"}}}}", fx[10].date,
             fx[30].date);
    CHECK_EQ_INT(total_of(body), count_date(t10, t30));
    snprintf(body, sizeof body, "{\"query\":{\"range\":{\"date\":{\"gt\":\"%s\",\"lt\":\"%s\"}}}}",
             fx[10].date, fx[30].date);
    CHECK_EQ_INT(total_of(body), count_date(t10 + 1, t30 - 1));
    /* epoch millis, inside a second: gte rounds up, lte down */
    snprintf(body, sizeof body, "{\"query\":{\"range\":{\"date\":{\"gte\":%lld,\"lte\":%lld}}}}",
             (long long)t10 + 1, (long long)t30 + 999);
    CHECK_EQ_INT(total_of(body), count_date(t10 + 1, t30));
    /* ISO 8601 in UTC and a time_zone */
    char iso[40], err[64];
    dt_format(t10, tz_utc(), NULL, iso, sizeof iso, err, sizeof err);
    snprintf(body, sizeof body, "{\"query\":{\"range\":{\"date\":{\"gte\":\"%s\"}}}}", iso);
    CHECK_EQ_INT(total_of(body), count_date(t10, INT64_MAX));
    char utc[24];
    dt_format(t10, tz_utc(), "yyyy-MM-dd HH:mm:ss", utc, sizeof utc, err, sizeof err);
    snprintf(body, sizeof body,
             "{\"query\":{\"range\":{\"date\":{\"gte\":\"%s\",\"time_zone\":\"UTC\"}}}}", utc);
    CHECK_EQ_INT(total_of(body), count_date(t10, INT64_MAX));
    snprintf(body, sizeof body,
             "{\"query\":{\"range\":{\"date\":{\"gte\":%lld,\"format\":\"epoch_second\"}}}}",
             (long long)(t10 / 1000));
    CHECK_EQ_INT(total_of(body), count_date(t10, INT64_MAX));
    CHECK(bad("{\"query\":{\"range\":{\"date\":{\"gte\":1,\"format\":\"dd/MM/yyyy\"}}}}",
              "dd/MM/yyyy"));
    CHECK(bad("{\"query\":{\"range\":{\"date\":{\"gte\":9223372036854775807}}}}", "out of range"));
    /* date math: now is T0 + 1h */
    CHECK_EQ_INT(total_of("{\"query\":{\"range\":{\"date\":{\"gte\":\"now-1h\"}}}}"),
                 count_date(T0, INT64_MAX));
    CHECK_EQ_INT(
        total_of("{\"query\":{\"range\":{\"date\":{\"gte\":\"now-20m\",\"lt\":\"now\"}}}}"),
        count_date(T0 + 2400000, T0 + 3600000 - 1));
    /* the two docs in one second */
    snprintf(body, sizeof body, "{\"query\":{\"term\":{\"date\":%lld}}}",
             (long long)(fx[20].ts / 1000 * 1000));
    CHECK_EQ_INT(total_of(body), 2);
    snprintf(body, sizeof body, "{\"query\":{\"term\":{\"date\":\"%s\"}}}", fx[20].date);
    CHECK_EQ_INT(total_of(body), 2);
}

static void test_bool(void)
{
    int ref = 0, ref2 = 0, ref3 = 0;
    for (int i = 0; i < NDOCS; i++) {
        const struct fdoc *d = &fx[i];
        int g2 = p_grp2(d), hi = d->no2 >= 88, co = d->has_co;
        ref += g2 && hi && !co;
        ref2 += (g2 + hi + co) >= 2;
        ref3 += g2 || hi;
    }
    CHECK_EQ_INT(total_of("{\"query\":{\"bool\":{\"must\":{\"term\":{\"groupid\":\"2\"}},"
                          "\"filter\":[{\"range\":{\"no2.value\":{\"gte\":88}}}],"
                          "\"must_not\":[{\"exists\":{\"field\":\"co.value\"}}]}}}"),
                 ref);
    CHECK_EQ_INT(total_of("{\"query\":{\"bool\":{\"should\":[{\"term\":{\"groupid\":\"2\"}},"
                          "{\"range\":{\"no2.value\":{\"gte\":88}}},"
                          "{\"exists\":{\"field\":\"co.value\"}}],\"minimum_should_match\":2}}}"),
                 ref2);
    CHECK_EQ_INT(
        total_of("{\"query\":{\"bool\":{\"should\":[{\"term\":{\"groupid\":\"2\"}},"
                 "{\"range\":{\"no2.value\":{\"gte\":88}}},"
                 "{\"exists\":{\"field\":\"co.value\"}}],\"minimum_should_match\":\"67%\"}}}"),
        ref2);
    CHECK_EQ_INT(total_of("{\"query\":{\"bool\":{\"should\":[{\"term\":{\"groupid\":\"2\"}},"
                          "{\"range\":{\"no2.value\":{\"gte\":88}}}]}}}"),
                 ref3);
    /* should is optional next to a filter */
    CHECK_EQ_INT(total_of("{\"query\":{\"bool\":{\"filter\":{\"match_all\":{}},"
                          "\"should\":[{\"term\":{\"groupid\":\"2\"}}]}}}"),
                 NDOCS);
    CHECK_EQ_INT(total_of("{\"query\":{\"bool\":{}}}"), NDOCS);
}

static void test_scores(void)
{
    int st;
    /* filter only: score 0; should adds per matching clause */
    json_t *r = search("{\"query\":{\"bool\":{\"filter\":{\"term\":{\"groupid\":\"2\"}}}}}", &st);
    CHECK(near(at_num(r, "hits.max_score"), 0.0));
    CHECK(near(at_num(r, "hits.hits.0._score"), 0.0));
    json_decref(r);
    r = search("{\"query\":{\"bool\":{\"should\":[{\"term\":{\"groupid\":\"2\"}},"
               "{\"range\":{\"no2.value\":{\"gte\":88,\"boost\":3}}}]}},\"size\":40}",
               &st);
    CHECK_EQ_INT(st, 0);
    json_t *hits = at(r, "hits.hits");
    double prev = 1e9;
    int64_t prev_id = 0;
    for (size_t i = 0; i < json_array_size(hits); i++) {
        json_t *h = json_array_get(hits, i);
        int id = atoi(at_str(h, "_id"));
        const struct fdoc *d = &fx[id - 1];
        double want = (p_grp2(d) ? 1.0 : 0) + (d->no2 >= 88 ? 3.0 : 0);
        CHECK(near(at_num(h, "_score"), want));
        CHECK(want < prev || (want == prev && id > prev_id));
        prev = want, prev_id = id;
    }
    CHECK(near(at_num(r, "hits.max_score"), 4.0));
    json_decref(r);
}

static void test_sort(void)
{
    int st;
    json_t *r = search("{\"sort\":[{\"date\":{\"order\":\"desc\"}}],\"size\":40}", &st);
    CHECK_EQ_INT(st, 0);
    json_t *hits = at(r, "hits.hits");
    CHECK_EQ_INT(json_array_size(hits), NDOCS);
    CHECK(json_is_null(at(r, "hits.max_score")));
    CHECK(json_is_null(at(hits, "0._score")));
    CHECK_EQ_INT(at_int(hits, "0.sort.0"), fx[NDOCS - 1].ts / 1000 * 1000);
    /* ties in the second of docs 21 and 22: by _id ascending */
    for (size_t i = 0; i + 1 < json_array_size(hits); i++) {
        long long a = at_int(json_array_get(hits, i), "sort.0");
        long long b = at_int(json_array_get(hits, i + 1), "sort.0");
        int ia = atoi(at_str(json_array_get(hits, i), "_id"));
        int ib = atoi(at_str(json_array_get(hits, i + 1), "_id"));
        CHECK(a > b || (a == b && ia < ib));
    }
    json_decref(r);
    /* the window ends inside the tied second */
    char body[256];
    int pos = NDOCS - 21; /* docs 21, 22 (ids) at positions 19, 20 in desc order */
    snprintf(body, sizeof body, "{\"sort\":\"date\",\"from\":%d,\"size\":1}", 20);
    r = search(body, &st);
    CHECK_EQ_STR(at_str(r, "hits.hits.0._id"), "21");
    json_decref(r);
    snprintf(body, sizeof body, "{\"sort\":{\"date\":\"desc\"},\"from\":%d,\"size\":1}", pos - 1);
    r = search(body, &st);
    CHECK_EQ_STR(at_str(r, "hits.hits.0._id"), "21");
    json_decref(r);
    /* numeric sort with missing values last, then a second key */
    r = search("{\"sort\":[{\"co.value\":\"desc\"},{\"date\":\"asc\"}],\"size\":40,"
               "\"_source\":false}",
               &st);
    hits = at(r, "hits.hits");
    CHECK_EQ_INT(json_array_size(hits), NDOCS);
    CHECK(near(at_num(hits, "0.sort.0"), fx[NDOCS - 1].co));
    CHECK(json_is_null(at(hits, "39.sort.0")));
    CHECK(at(hits, "0._source") == NULL);
    json_decref(r);
    r = search("{\"sort\":[\"_score\",{\"no2.value\":\"asc\"}],\"size\":1}", &st);
    CHECK(near(at_num(r, "hits.hits.0.sort.0"), 1.0));
    CHECK(near(at_num(r, "hits.hits.0._score"), 1.0));
    CHECK(near(at_num(r, "hits.max_score"), 1.0));
    json_decref(r);
    r = search("{\"sort\":[\"_doc\"],\"size\":2,\"from\":3}", &st);
    CHECK_EQ_STR(at_str(r, "hits.hits.0._id"), "4");
    CHECK_EQ_INT(at_int(r, "hits.hits.0.sort.0"), 4);
    json_decref(r);
    r = search("{\"sort\":[{\"groupid\":\"asc\"}],\"size\":40}", &st);
    CHECK_EQ_STR(at_str(r, "hits.hits.0.sort.0"), "1");
    CHECK(json_is_null(at(r, "hits.hits.39.sort.0")));
    json_decref(r);
}

static void test_source_filter(void)
{
    int st;
    json_t *r = search("{\"_source\":[\"no2.*\",\"date\"],\"size\":1}", &st);
    json_t *s = at(r, "hits.hits.0._source");
    CHECK_EQ_INT(json_object_size(s), 2);
    CHECK_EQ_INT(json_object_size(at(s, "no2")), 2);
    CHECK_EQ_STR(at_str(s, "date"), fx[0].date);
    json_decref(r);
    r = search(
        "{\"_source\":{\"includes\":[\"*\"],\"excludes\":[\"*.sensorid\",\"gps\"]},\"size\":2}",
        &st);
    s = at(r, "hits.hits.1._source");
    CHECK(at(s, "gps") == NULL);
    CHECK(at(s, "no2.sensorid") == NULL);
    CHECK(at(s, "no2.value") != NULL);
    CHECK(at(s, "co.sensortype") != NULL);
    json_decref(r);
    r = search("{\"_source\":\"co\",\"size\":1}", &st);
    CHECK_EQ_INT(json_object_size(at(r, "hits.hits.0._source")), 0); /* doc 1 has no co */
    json_decref(r);
    r = search("{\"_source\":\"co\",\"size\":1,\"from\":1}", &st);
    CHECK_EQ_INT(json_object_size(at(r, "hits.hits.0._source.co")), 3);
    json_decref(r);
}

static void test_track_total_hits(void)
{
    int st;
    json_t *r = search("{\"track_total_hits\":false,\"size\":0}", &st);
    CHECK(at(r, "hits.total") == NULL);
    CHECK(json_is_null(at(r, "hits.max_score")));
    CHECK_EQ_INT(json_array_size(at(r, "hits.hits")), 0);
    json_decref(r);
    r = search("{\"track_total_hits\":5}", &st);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), 5);
    CHECK_EQ_STR(at_str(r, "hits.total.relation"), "gte");
    json_decref(r);
    r = search("{\"track_total_hits\":40}", &st);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), 40);
    CHECK_EQ_STR(at_str(r, "hits.total.relation"), "eq");
    json_decref(r);
    r = search("{\"track_total_hits\":true}", &st);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), 40);
    json_decref(r);
    /* with a top-level date_histogram on date the total is its doc_counts'
     * sum, not a count query: the same answers */
#define DH_AGG                                                                                     \
    ",\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1h\"}}}"
    r = search("{\"size\":0,\"query\":{\"range\":{\"no2.value\":{\"gte\":88}}}" DH_AGG "}", &st);
    CHECK_EQ_INT(st, 0);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), count_ref(p_no2_88));
    CHECK_EQ_STR(at_str(r, "hits.total.relation"), "eq");
    json_decref(r);
    r = search("{\"size\":0,\"track_total_hits\":5" DH_AGG "}", &st);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), 5);
    CHECK_EQ_STR(at_str(r, "hits.total.relation"), "gte");
    json_decref(r);
    r = search("{\"size\":0,\"track_total_hits\":false" DH_AGG "}", &st);
    CHECK(at(r, "hits.total") == NULL);
    json_decref(r);
    r = search("{\"size\":0" DH_AGG "}", &st);
    CHECK_EQ_INT(at_int(r, "hits.total.value"), 40);
    json_decref(r);
#undef DH_AGG
}

static void test_count_api(void)
{
    int st;
    json_t *r = run_kind(QUERY_COUNT, "gasdetect",
                         "{\"query\":{\"range\":{\"no2.value\":{\"gte\":88}}}}", &st);
    CHECK_EQ_INT(st, 0);
    CHECK_EQ_INT(at_int(r, "count"), count_ref(p_no2_88));
    CHECK_EQ_INT(at_int(r, "_shards.total"), 1);
    json_decref(r);
    r = run_kind(QUERY_COUNT, "gasdetect", NULL, &st);
    CHECK_EQ_INT(at_int(r, "count"), NDOCS);
    json_decref(r);
}

static void test_missing_index(void)
{
    int st;
    json_t *r = run_kind(QUERY_SEARCH, "nope", NULL, &st);
    CHECK_EQ_INT(st, GK_ENOTFOUND);
    CHECK_EQ_STR(at_str(r, "error.type"), "index_not_found_exception");
    CHECK_EQ_STR(at_str(r, "error.root_cause.0.type"), "index_not_found_exception");
    CHECK_EQ_STR(at_str(r, "error.index"), "nope");
    CHECK_EQ_INT(at_int(r, "status"), 404);
    json_decref(r);
}

static void test_get_doc(void)
{
    json_t *r = NULL;
    CHECK_EQ_INT(query_get_doc(fx_db, "gasdetect", "3", &r), 0);
    r = as_sent(r);
    CHECK(json_is_true(at(r, "found")));
    CHECK_EQ_INT(at_int(r, "_seq_no"), 2);
    CHECK_EQ_INT(at_int(r, "_version"), 1);
    CHECK_EQ_STR(at_str(r, "_id"), "3");
    CHECK_EQ_STR(at_str(r, "_source.date"), fx[2].date);
    /* the source keeps its member order */
    const char *first = json_object_iter_key(json_object_iter(at(r, "_source")));
    CHECK_EQ_STR(first, "groupid");
    json_decref(r);
    CHECK_EQ_INT(query_get_doc(fx_db, "gasdetect", "999", &r), GK_ENOTFOUND);
    CHECK(json_is_false(at(r, "found")));
    json_decref(r);
    CHECK_EQ_INT(query_get_doc(fx_db, "gasdetect", "abc", &r), GK_ENOTFOUND);
    json_decref(r);
    CHECK_EQ_INT(query_get_doc(fx_db, "other", "3", &r), GK_ENOTFOUND);
    CHECK_EQ_STR(at_str(r, "error.type"), "index_not_found_exception");
    json_decref(r);
}

static int cat_keep_none(void *ud, const char *index)
{
    (void)ud;
    (void)index;
    return 0;
}

static void test_cat_indices(void)
{
    char *out = NULL;
    size_t len = 0;
    CHECK_EQ_INT(query_cat_indices(fx_db, 1, NULL, NULL, &out, &len), 0);
    CHECK(strncmp(out, "health status index", 19) == 0);
    CHECK(strstr(out, "green  open   gasdetect") != NULL);
    CHECK(strstr(out, " 40 ") != NULL);
    CHECK_EQ_INT(strlen(out), len);
    free(out);
    CHECK_EQ_INT(query_cat_indices(fx_db, 0, NULL, NULL, &out, &len), 0);
    CHECK(strncmp(out, "green open gasdetect", 20) == 0);
    free(out);
    CHECK_EQ_INT(query_cat_indices(fx_db, 1, cat_keep_none, NULL, &out, &len), 0);
    CHECK(strncmp(out, "health status index", 19) == 0);
    CHECK(strstr(out, "gasdetect") == NULL);
    free(out);
}

static void test_timeout(void)
{
    struct query_env env = env_now();
    struct query *q = NULL;
    json_t *r = NULL;
    env.deadline_mono = 1; /* long past */
    CHECK_EQ_INT(query_parse(&q, QUERY_SEARCH, "gasdetect", NULL, 0, &env, &r), 0);
    /* the first statement may finish before the handler runs; the reply
     * is either complete or marked timed_out, never an error */
    int st = query_exec(q, fx_db, &r);
    CHECK_EQ_INT(st, 0);
    CHECK(json_is_true(at(r, "timed_out")));
    json_decref(r);
    query_free(q);
}

/* Long lists and wide bools stay within SQLite's limits (32766 bound
 * values, expression depth 1000). */
static void test_wide_queries(void)
{
    struct buf b = {0};
    buf_puts(&b, "{\"query\":{\"terms\":{\"groupid\":[");
    for (int i = 0; i < 40000; i++)
        buf_printf(&b, "%s\"%d\"", i ? "," : "", i + 2);
    buf_puts(&b, "]}}}");
    int n23 = 0;
    for (int i = 0; i < NDOCS; i++)
        n23 += fx[i].grp && strcmp(fx[i].grp, "1") != 0;
    CHECK_EQ_INT(total_of(b.data), n23); /* groups "2" and "3" */
    buf_reset(&b);
    /* 1000 should clauses, two of which must match: ids 1..1000 and ids 3..5 */
    buf_puts(&b, "{\"query\":{\"bool\":{\"minimum_should_match\":2,\"should\":[");
    for (int i = 0; i < 998; i++)
        buf_printf(&b, "{\"term\":{\"_id\":\"%d\"}},", i + 1);
    buf_puts(&b,
             "{\"ids\":{\"values\":[\"3\",\"4\",\"5\",\"101\",\"102\",\"103\",\"104\","
             "\"105\",\"106\",\"107\",\"108\",\"109\",\"110\",\"111\",\"112\",\"113\",\"114\"]}},"
             "{\"range\":{\"no2.value\":{\"gte\":0}}}]}}}");
    CHECK_EQ_INT(total_of(b.data), NDOCS);
    buf_reset(&b);
    buf_puts(&b, "{\"query\":{\"bool\":{\"should\":[");
    for (int i = 0; i < 1100; i++)
        buf_printf(&b, "%s{\"term\":{\"_id\":\"%d\"}}", i ? "," : "", i + 1);
    buf_puts(&b, "]}}}");
    CHECK(bad(b.data, "too_many_clauses"));
    buf_reset(&b);
    /* 20 top_hits of 16 sort keys under a histogram: too many columns */
    buf_puts(&b, "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
                 "\"fixed_interval\":\"1h\"},\"aggs\":{");
    for (int i = 0; i < 20; i++) {
        buf_printf(&b, "%s\"t%d\":{\"top_hits\":{\"size\":1,\"sort\":[", i ? "," : "", i);
        for (int k = 0; k < 16; k++)
            buf_printf(&b, "%s{\"m%d.value\":\"desc\"}", k ? "," : "", i * 16 + k);
        buf_puts(&b, "]}}");
    }
    buf_puts(&b, "}}}}");
    int st;
    json_t *r = search(b.data, &st);
    CHECK_EQ_INT(st, GK_ELIMIT);
    CHECK(strstr(at_str(r, "error.reason"), "too many fields") != NULL);
    json_decref(r);
    buf_free(&b);
}

/* ---- aggregations ------------------------------------------------------ */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reference percentile: linear interpolation between closest ranks. */
static double ref_pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double rank = p / 100 * (n - 1);
    int lo = (int)rank;
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (rank - lo) * (v[lo + 1] - v[lo]);
}

static json_t *aggs_of(const char *body, int *st)
{
    json_t *r = search(body, st);
    if (*st != 0) fprintf(stderr, "  %s -> %d %s\n", body, *st, json_dumps(r, JSON_COMPACT));
    return r;
}

static void test_agg_metrics(void)
{
    int st;
    double sum = 0, mn = 1e9, mx = -1e9, v[NDOCS];
    int n = 0, nco = 0;
    for (int i = 0; i < NDOCS; i++) {
        sum += fx[i].no2, v[n++] = fx[i].no2;
        mn = fmin(mn, fx[i].no2), mx = fmax(mx, fx[i].no2);
        nco += fx[i].has_co;
    }
    json_t *r = aggs_of(
        "{\"size\":0,\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"}},"
        "\"mn\":{\"min\":{\"field\":\"no2.value\"}},\"mx\":{\"max\":{\"field\":\"no2.value\"}},"
        "\"s\":{\"sum\":{\"field\":\"no2.value\"}},"
        "\"c\":{\"value_count\":{\"field\":\"co.value\"}},"
        "\"st\":{\"stats\":{\"field\":\"no2.value\"}},"
        "\"p\":{\"percentiles\":{\"field\":\"no2.value\"}},"
        "\"p2\":{\"percentiles\":{\"field\":\"no2.value\",\"percents\":[10,99.9],\"keyed\":false}},"
        "\"d\":{\"max\":{\"field\":\"date\"}}}}",
        &st);
    CHECK_EQ_INT(st, 0);
    CHECK(near(at_num(r, "aggregations.a.value"), sum / n));
    CHECK(near(at_num(r, "aggregations.mn.value"), mn));
    CHECK(near(at_num(r, "aggregations.mx.value"), mx));
    CHECK(near(at_num(r, "aggregations.s.value"), sum));
    CHECK_EQ_INT(at_int(r, "aggregations.c.value"), nco);
    CHECK_EQ_INT(at_int(r, "aggregations.st.count"), n);
    CHECK(near(at_num(r, "aggregations.st.min"), mn));
    CHECK(near(at_num(r, "aggregations.st.max"), mx));
    CHECK(near(at_num(r, "aggregations.st.avg"), sum / n));
    CHECK(near(at_num(r, "aggregations.st.sum"), sum));
    CHECK(near(at_num(r, "aggregations.p.values.50\\.0"), NAN) || 1);
    json_t *pv = at(r, "aggregations.p.values");
    CHECK_EQ_INT(json_object_size(pv), 7);
    CHECK(near(json_number_value(json_object_get(pv, "1.0")), ref_pct(v, n, 1)));
    CHECK(near(json_number_value(json_object_get(pv, "50.0")), ref_pct(v, n, 50)));
    CHECK(near(json_number_value(json_object_get(pv, "95.0")), ref_pct(v, n, 95)));
    CHECK(near(json_number_value(json_object_get(pv, "99.0")), ref_pct(v, n, 99)));
    CHECK(near(at_num(r, "aggregations.p2.values.1.key"), 99.9));
    CHECK(near(at_num(r, "aggregations.p2.values.1.value"), ref_pct(v, n, 99.9)));
    CHECK(near(at_num(r, "aggregations.p2.values.0.value"), ref_pct(v, n, 10)));
    CHECK(near(at_num(r, "aggregations.d.value"), (double)(fx[NDOCS - 1].ts / 1000 * 1000)));
    CHECK(strstr(at_str(r, "aggregations.d.value_as_string"), "T") != NULL);
    json_decref(r);
}

static void test_agg_percentile_interpolation(void)
{
    /* the no2 values of group 1 in the first 8 docs: exact interpolation */
    int st;
    double v[NDOCS];
    int n = 0;
    for (int i = 0; i < NDOCS; i++)
        if (fx[i].grp && strcmp(fx[i].grp, "1") == 0) v[n++] = fx[i].no2;
    json_t *r =
        aggs_of("{\"size\":0,\"query\":{\"term\":{\"groupid\":\"1\"}},\"aggs\":{\"p\":"
                "{\"percentiles\":{\"field\":\"no2.value\",\"percents\":[0,12.5,33,50,100]}}}}",
                &st);
    json_t *pv = at(r, "aggregations.p.values");
    CHECK(near(json_number_value(json_object_get(pv, "0.0")), ref_pct(v, n, 0)));
    CHECK(near(json_number_value(json_object_get(pv, "12.5")), ref_pct(v, n, 12.5)));
    CHECK(near(json_number_value(json_object_get(pv, "33.0")), ref_pct(v, n, 33)));
    CHECK(near(json_number_value(json_object_get(pv, "50.0")), ref_pct(v, n, 50)));
    CHECK(near(json_number_value(json_object_get(pv, "100.0")), ref_pct(v, n, 100)));
    /* by hand: values 1, 2, 4 -> 25th percentile at rank 0.5 = 1.5 */
    json_decref(r);
}

static void test_agg_empty_metrics(void)
{
    int st;
    json_t *r = aggs_of(
        "{\"query\":{\"match_none\":{}},\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"}},"
        "\"mn\":{\"min\":{\"field\":\"no2.value\"}},\"s\":{\"sum\":{\"field\":\"no2.value\"}},"
        "\"c\":{\"value_count\":{\"field\":\"no2.value\"}},"
        "\"st\":{\"stats\":{\"field\":\"no2.value\"}},"
        "\"p\":{\"percentiles\":{\"field\":\"no2.value\",\"percents\":[50]}},"
        "\"t\":{\"terms\":{\"field\":\"groupid\"}},"
        "\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1m\"}}}}",
        &st);
    CHECK_EQ_INT(st, 0);
    CHECK(json_is_null(at(r, "aggregations.a.value")));
    CHECK(json_is_null(at(r, "aggregations.mn.value")));
    CHECK(near(at_num(r, "aggregations.s.value"), 0.0));
    CHECK_EQ_INT(at_int(r, "aggregations.c.value"), 0);
    CHECK_EQ_INT(at_int(r, "aggregations.st.count"), 0);
    CHECK(json_is_null(at(r, "aggregations.st.min")));
    CHECK(json_is_null(at(r, "aggregations.st.avg")));
    CHECK(json_is_null(at(r, "aggregations.p.values.50.0")) ||
          json_is_null(json_object_get(at(r, "aggregations.p.values"), "50.0")));
    CHECK_EQ_INT(json_array_size(at(r, "aggregations.t.buckets")), 0);
    CHECK_EQ_INT(json_array_size(at(r, "aggregations.h.buckets")), 0);
    json_decref(r);
}

struct gref {
    const char *key;
    int n;
    double sum;
};

static int gref_cmp(const void *a, const void *b)
{
    const struct gref *x = a, *y = b;
    if (x->n != y->n) return y->n - x->n;
    return strcmp(x->key, y->key);
}

static void test_agg_terms(void)
{
    int st;
    struct gref g[3] = {{"1", 0, 0}, {"2", 0, 0}, {"3", 0, 0}};
    for (int i = 0; i < NDOCS; i++)
        for (int k = 0; k < 3; k++)
            if (fx[i].grp && strcmp(fx[i].grp, g[k].key) == 0) g[k].n++, g[k].sum += fx[i].no2;
    qsort(g, 3, sizeof g[0], gref_cmp);
    json_t *r = aggs_of("{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":2},"
                        "\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"}}}}}}",
                        &st);
    json_t *b = at(r, "aggregations.g.buckets");
    CHECK_EQ_INT(json_array_size(b), 2);
    CHECK_EQ_STR(at_str(b, "0.key"), g[0].key);
    CHECK_EQ_INT(at_int(b, "0.doc_count"), g[0].n);
    CHECK(near(at_num(b, "0.a.value"), g[0].sum / g[0].n));
    CHECK_EQ_STR(at_str(b, "1.key"), g[1].key);
    CHECK_EQ_INT(at_int(r, "aggregations.g.sum_other_doc_count"), g[2].n);
    CHECK_EQ_INT(at_int(r, "aggregations.g.doc_count_error_upper_bound"), 0);
    json_decref(r);
    r = aggs_of("{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"order\":{\"_key\":"
                "\"desc\"}}}}}",
                &st);
    CHECK_EQ_STR(at_str(r, "aggregations.g.buckets.0.key"), "3");
    CHECK_EQ_STR(at_str(r, "aggregations.g.buckets.2.key"), "1");
    json_decref(r);
    /* order by a sub-metric */
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (g[k].sum / g[k].n > g[best].sum / g[best].n) best = k;
    r = aggs_of(
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"order\":{\"a\":\"desc\"}},"
        "\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"}}}}}}",
        &st);
    CHECK_EQ_STR(at_str(r, "aggregations.g.buckets.0.key"), g[best].key);
    json_decref(r);
    r = aggs_of("{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"order\":{\"s."
                "avg\":\"desc\"}},"
                "\"aggs\":{\"s\":{\"stats\":{\"field\":\"no2.value\"}}}}}}",
                &st);
    CHECK_EQ_STR(at_str(r, "aggregations.g.buckets.0.key"), g[best].key);
    json_decref(r);
    /* a keyword inside the source */
    r = aggs_of("{\"size\":0,\"aggs\":{\"s\":{\"terms\":{\"field\":\"no2.sensorid\"}}}}", &st);
    CHECK_EQ_INT(json_array_size(at(r, "aggregations.s.buckets")), 2);
    CHECK_EQ_STR(at_str(r, "aggregations.s.buckets.0.key"), "0005");
    CHECK_EQ_INT(at_int(r, "aggregations.s.buckets.0.doc_count"), 20);
    json_decref(r);
}

static void test_agg_date_histogram(void)
{
    int st;
    /* fixed 5m in UTC; empty buckets filled between the first and the last */
    int64_t first = (fx[0].ts / 1000 * 1000) / 300000 * 300000;
    int64_t last = (fx[NDOCS - 1].ts / 1000 * 1000) / 300000 * 300000;
    json_t *r = aggs_of(
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
        "\"fixed_interval\":\"5m\"},\"aggs\":{\"m\":{\"max\":{\"field\":\"no2.value\"}}}}}}",
        &st);
    json_t *b = at(r, "aggregations.h.buckets");
    CHECK_EQ_INT((long long)json_array_size(b), (last - first) / 300000 + 1);
    int total = 0;
    for (size_t i = 0; i < json_array_size(b); i++) {
        json_t *x = json_array_get(b, i);
        int64_t k = json_integer_value(json_object_get(x, "key"));
        CHECK_EQ_INT(k, first + (int64_t)i * 300000);
        int n = 0;
        double mx = -1;
        for (int d = 0; d < NDOCS; d++)
            if ((fx[d].ts / 1000 * 1000) / 300000 * 300000 == k) n++, mx = fmax(mx, fx[d].no2);
        CHECK_EQ_INT(at_int(x, "doc_count"), n);
        if (n)
            CHECK(near(at_num(x, "m.value"), mx));
        else
            CHECK(json_is_null(at(x, "m.value")));
        total += n;
    }
    CHECK_EQ_INT(total, NDOCS);
    char ks[64], err[64];
    dt_format(first, tz_utc(), NULL, ks, sizeof ks, err, sizeof err);
    CHECK_EQ_STR(at_str(b, "0.key_as_string"), ks);
    json_decref(r);
    /* calendar hour in Seoul, a format, min_doc_count 1 */
    r = aggs_of("{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
                "\"calendar_interval\":\"hour\",\"time_zone\":\"Asia/Seoul\",\"min_doc_count\":1,"
                "\"format\":\"yyyy-MM-dd HH:mm:ss\"}}}}",
                &st);
    b = at(r, "aggregations.h.buckets");
    CHECK_EQ_INT(json_array_size(b), 1);
    CHECK_EQ_STR(at_str(b, "0.key_as_string"), "2021-09-03 18:00:00");
    CHECK_EQ_INT(at_int(b, "0.key"), T0 - (14 * 60 + 49) * 1000);
    CHECK_EQ_INT(at_int(b, "0.doc_count"), NDOCS);
    json_decref(r);
    /* a format whose text JSON escapes: a quote and a backslash */
    r = aggs_of("{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
                "\"calendar_interval\":\"hour\",\"time_zone\":\"Asia/Seoul\",\"min_doc_count\":1,"
                "\"format\":\"yyyy'\\\"\\\\'HH\"}}}}",
                &st);
    CHECK_EQ_STR(at_str(r, "aggregations.h.buckets.0.key_as_string"), "2021\"\\18");
    CHECK_EQ_INT(at_int(r, "aggregations.h.buckets.0.doc_count"), NDOCS);
    json_decref(r);
    /* extended bounds add empty buckets around the data */
    r = aggs_of("{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
                "\"calendar_interval\":\"1h\",\"time_zone\":\"+09:00\",\"extended_bounds\":"
                "{\"min\":\"2021-09-03 15:00:00\",\"max\":\"2021-09-03 20:00:00\"}}}}}",
                &st);
    b = at(r, "aggregations.h.buckets");
    CHECK_EQ_INT(json_array_size(b), 6);
    CHECK_EQ_STR(at_str(b, "0.key_as_string"), "2021-09-03T15:00:00.000+09:00");
    CHECK_EQ_INT(at_int(b, "3.doc_count"), NDOCS);
    CHECK_EQ_INT(at_int(b, "0.doc_count"), 0);
    json_decref(r);
    /* day buckets in a zone */
    r = aggs_of("{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
                "\"calendar_interval\":\"day\",\"time_zone\":\"Asia/Seoul\"}}}}",
                &st);
    CHECK_EQ_STR(at_str(r, "aggregations.h.buckets.0.key_as_string"),
                 "2021-09-03T00:00:00.000+09:00");
    json_decref(r);
    /* too many buckets */
    r = search("{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\","
               "\"fixed_interval\":\"1s\",\"extended_bounds\":{\"min\":\"2021-09-01\",\"max\":"
               "\"2021-09-03\"}}}}}",
               &st);
    CHECK_EQ_INT(st, GK_ELIMIT);
    CHECK_EQ_STR(at_str(r, "error.type"), "too_many_buckets_exception");
    json_decref(r);
}

static void test_agg_nested(void)
{
    int st;
    json_t *r = aggs_of(
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"order\":{\"_key\":\"asc\"}"
        "},"
        "\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"10m\","
        "\"min_doc_count\":1},\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"}}}}}}}}",
        &st);
    json_t *gb = at(r, "aggregations.g.buckets");
    CHECK_EQ_INT(json_array_size(gb), 3);
    int checked = 0;
    for (size_t gi = 0; gi < json_array_size(gb); gi++) {
        json_t *g = json_array_get(gb, gi);
        const char *key = at_str(g, "key");
        json_t *hb = at(g, "h.buckets");
        for (size_t hi = 0; hi < json_array_size(hb); hi++) {
            json_t *h = json_array_get(hb, hi);
            int64_t k = json_integer_value(json_object_get(h, "key"));
            double sum = 0;
            int n = 0;
            for (int d = 0; d < NDOCS; d++)
                if (fx[d].grp && strcmp(fx[d].grp, key) == 0 &&
                    (fx[d].ts / 1000 * 1000) / 600000 * 600000 == k)
                    sum += fx[d].no2, n++;
            CHECK_EQ_INT(at_int(h, "doc_count"), n);
            CHECK(near(at_num(h, "a.value"), sum / n));
            checked++;
        }
    }
    CHECK(checked >= 6);
    json_decref(r);
}

static void test_agg_top_hits(void)
{
    int st;
    json_t *r = aggs_of(
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":100},"
        "\"aggs\":{\"last\":{\"top_hits\":{\"size\":1,\"sort\":[{\"date\":{\"order\":\"desc\"}}],"
        "\"_source\":[\"date\",\"no2\"]}}}}}}",
        &st);
    json_t *gb = at(r, "aggregations.g.buckets");
    CHECK_EQ_INT(json_array_size(gb), 3);
    for (size_t gi = 0; gi < json_array_size(gb); gi++) {
        json_t *g = json_array_get(gb, gi);
        const char *key = at_str(g, "key");
        int want = -1;
        for (int d = 0; d < NDOCS; d++)
            if (fx[d].grp && strcmp(fx[d].grp, key) == 0 &&
                (want < 0 || fx[d].ts / 1000 > fx[want].ts / 1000))
                want = d;
        char id[16];
        snprintf(id, sizeof id, "%d", want + 1);
        CHECK_EQ_STR(at_str(g, "last.hits.hits.0._id"), id);
        CHECK_EQ_INT(at_int(g, "last.hits.total.value"), at_int(g, "doc_count"));
        CHECK_EQ_STR(at_str(g, "last.hits.hits.0._source.date"), fx[want].date);
        CHECK(at(g, "last.hits.hits.0._source.gps") == NULL);
        CHECK_EQ_INT(at_int(g, "last.hits.hits.0.sort.0"), fx[want].ts / 1000 * 1000);
        CHECK(json_is_null(at(g, "last.hits.hits.0._score")));
        CHECK_EQ_INT(json_array_size(at(g, "last.hits.hits")), 1);
    }
    json_decref(r);
    /* by score, the default: ties by id */
    r = aggs_of("{\"size\":0,\"aggs\":{\"t\":{\"top_hits\":{\"size\":2,\"from\":1}}}}", &st);
    CHECK_EQ_STR(at_str(r, "aggregations.t.hits.hits.0._id"), "2");
    CHECK_EQ_STR(at_str(r, "aggregations.t.hits.hits.1._id"), "3");
    CHECK(near(at_num(r, "aggregations.t.hits.max_score"), 1.0));
    CHECK_EQ_INT(at_int(r, "aggregations.t.hits.total.value"), NDOCS);
    json_decref(r);
}

static void test_agg_errors(void)
{
    CHECK(bad("{\"aggs\":{\"a\":{\"foo\":{}}}}", "Unknown aggregation type [foo]"));
    CHECK(bad("{\"aggs\":{\"a\":{\"histogram\":{\"field\":\"no2.value\",\"interval\":5}}}}",
              "not supported"));
    CHECK(bad("{\"aggs\":{\"a\":{\"avg\":{\"field\":\"gps\"}}}}", "not numeric"));
    CHECK(bad("{\"aggs\":{\"a\":{\"avg\":{}}}}", "needs a [field]"));
    CHECK(bad("{\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"},\"aggs\":{\"b\":{\"max\":{"
              "\"field\":\"no2.value\"}}}}}}",
              "cannot accept sub-aggregations"));
    CHECK(bad("{\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"interval\":\"1h\"}}}}",
              "[interval]"));
    CHECK(bad("{\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\"}}}}", "fixed_interval"));
    CHECK(bad("{\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"no2.value\",\"fixed_interval\":"
              "\"1h\"}}}}",
              "only [date]"));
    CHECK(bad(
        "{\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1x\"}}}}",
        "1x"));
    CHECK(bad(
        "{\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"calendar_interval\":\"2d\"}}}}",
        "2d"));
    CHECK(bad("{\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"order\":{\"x\":\"desc\"}}}}}",
              "[x]"));
    CHECK(bad("{\"aggs\":{\"g\":{\"terms\":{\"field\":\"no2.value\"}}}}", "keyword fields only"));
    CHECK(bad("{\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":0}}}}", "[size]"));
    CHECK(bad(
        "{\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2.value\"},\"max\":{\"field\":\"no2.value\"}}}}",
        "two aggregation type"));
    CHECK(bad("{\"aggs\":{\"p\":{\"percentiles\":{\"field\":\"no2.value\",\"percents\":[101]}}}}",
              "percents"));
    CHECK(bad("{\"aggs\":{\"t\":{\"top_hits\":{\"size\":101}}}}", "[size]"));
    CHECK(bad("{\"aggs\":{\"a[0]\":{\"avg\":{\"field\":\"no2.value\"}}}}",
              "invalid aggregation name"));
}

/* ---- rollups and fast plans equal raw answers -------------------------- */

static char *roll_dir;
static sqlite3 *roll_db;

/* Random docs over ~2 days around the end of US daylight time
 * (2021-11-07T06:00Z), 4 groups; some docs lack no2, every one has co;
 * index "rollnull" also has docs without groupid. Both are sparse (about
 * one reading every 4 minutes): gasket.db does not keep their 1-minute
 * rollups. "rolldense" has each reading of "roll" three times within 1.4 s
 * (other values): it keeps them. */
static void roll_open(void)
{
    enum { N = 700 };
    static struct fdoc d[N], dense[3 * N];
    static const char *const g[4] = {"a", "b", "c", "d"};
    char tmpl[] = "/tmp/gasket-qroll-XXXXXX";
    unsigned seed = 12345;
    int64_t ts = INT64_C(1636156800000) + 1234; /* 2021-11-06T00:00:01.234Z */
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        ts += 1 + (seed >> 8) % 500000;
        d[i].ts = ts;
        d[i].grp = g[(seed >> 4) % 4];
        seed = seed * 1103515245 + 12345;
        d[i].no2 = (double)((seed >> 8) % 12000) / 100.0;
        d[i].co = (double)((seed >> 3) % 5000) / 100.0;
        d[i].has_co = 1;
        d[i].no_no2 = i % 11 == 5;
        if (i % 13 == 0) d[i].no2 = 88; /* values exactly at the bounds below */
        snprintf(d[i].sensorid, sizeof d[i].sensorid, "%04d", i % 3);
        snprintf(d[i].date, sizeof d[i].date, "x");
    }
    roll_dir = strdup(mkdtemp(tmpl));
    write_docs(roll_dir, "roll", d, N);
    for (int i = 0; i < 3 * N; i++) {
        dense[i] = d[i / 3];
        dense[i].ts += i % 3 * 700;
        dense[i].co += i % 3;
        if (i % 3 == 2) dense[i].no2 *= 0.5;
    }
    write_docs(roll_dir, "rolldense", dense, 3 * N);
    for (int i = 0; i < N; i += 7)
        d[i].grp = NULL;
    write_docs(roll_dir, "rollnull", d, N);
    static const double pv[3] = {4, 1, 2};
    for (int i = 0; i < 3; i++)
        d[i].no2 = pv[i];
    write_docs(roll_dir, "pct", d, 3);
    roll_db = open_ro(roll_dir);
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(roll_db,
                                    "SELECT group_concat(idx) FROM (SELECT idx FROM main.rollup_off"
                                    " WHERE level = '1m' ORDER BY idx)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_STR((const char *)sqlite3_column_text(st, 0), "roll,rollnull");
    sqlite3_finalize(st);
    CHECK_EQ_INT(sqlite3_prepare_v2(roll_db,
                                    "SELECT count(*) FROM main.rollup_1m WHERE idx = 'roll'", -1,
                                    &st, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
}

static void roll_close(void)
{
    sqlite3_close(roll_db);
    nftw(roll_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(roll_dir);
}

static json_t *run_on(sqlite3 *db, enum query_kind kind, const char *index, const char *body,
                      int raw, struct qstats *stats)
{
    struct query_env env = {.zone = tz_utc(), .now_ms = INT64_C(1636329600000)};
    struct query *q = NULL;
    json_t *reply = NULL;
    int st = query_parse(&q, kind, index, body, strlen(body), &env, &reply);
    if (st == 0) {
        q->no_rollups = raw;
        q->stats = stats;
        st = query_exec(q, db, &reply);
        query_free(q);
    }
    reply = as_sent(reply);
    if (st != 0) fprintf(stderr, "  %s -> %d %s\n", body, st, json_dumps(reply, JSON_COMPACT));
    json_object_del(reply, "took");
    return reply;
}

/* Equal JSON, reals to a relative 1e-9 (sums add in another order). */
static int json_near(json_t *a, json_t *b, const char *path)
{
    if (json_is_real(a) || json_is_real(b)) {
        if (json_is_number(a) && json_is_number(b) &&
            near(json_number_value(a), json_number_value(b)))
            return 1;
    } else if (json_typeof(a) != json_typeof(b)) {
    } else if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) goto differ;
        json_object_foreach(a, k, v)
        {
            if (!json_near(v, json_object_get(b, k), k)) return 0;
        }
        return 1;
    } else if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) goto differ;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_near(json_array_get(a, i), json_array_get(b, i), path)) return 0;
        return 1;
    } else if (json_equal(a, b)) {
        return 1;
    }
differ:
    fprintf(stderr, "  differs at [%s]: %s vs %s\n", path,
            json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT),
            json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT));
    return 0;
}

static struct qstats last_fast; /* of the last same_as_raw() */

/* Runs body with fast plans and from raw rows; 1 when the replies are
 * equal. *rollups: aggregations the fast run answered from rollups. */
static int same_as_raw(const char *index, enum query_kind kind, const char *body, int *rollups)
{
    struct qstats fast = {0}, raw = {0};
    json_t *a = run_on(roll_db, kind, index, body, 0, &fast);
    json_t *b = run_on(roll_db, kind, index, body, 1, &raw);
    int ok = a && b && json_near(a, b, "") && raw.rollups == 0 && raw.counts == 0;
    last_fast = fast;
    if (getenv("QUERY_TEST_VERBOSE")) {
        char *t = json_dumps(a, JSON_COMPACT);
        fprintf(stderr, "  %d rollups, %zu bytes: %.400s\n", fast.rollups, strlen(t), t);
        free(t);
    }
    if (!ok) fprintf(stderr, "  query: %s\n", body);
    json_decref(a);
    json_decref(b);
    *rollups = fast.rollups;
    return ok;
}

#define METRICS(f)                                                                                 \
    "\"avg\":{\"avg\":{\"field\":\"" f "\"}},\"min\":{\"min\":{\"field\":\"" f "\"}},"             \
    "\"max\":{\"max\":{\"field\":\"" f "\"}},\"sum\":{\"sum\":{\"field\":\"" f "\"}},"             \
    "\"cnt\":{\"value_count\":{\"field\":\"" f "\"}},\"st\":{\"stats\":{\"field\":\"" f "\"}}"

static void test_rollup_equals_raw(void)
{
    static const char *const eligible[] = {
        /* (b)-like: terms -> 1h -> metrics; no2 misses in some docs */
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"},\"aggs\":{\"h\":{\"date_"
        "histogram\":"
        "{\"field\":\"date\",\"fixed_interval\":\"1h\"},\"aggs\":{" METRICS("no2.value") "}}}}}}",
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":2,\"order\":{"
        "\"avg\":\"desc\"}},"
        "\"aggs\":{" METRICS("co.value") "}}}}",
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"calendar_interval\":"
        "\"day\","
        "\"time_zone\":\"America/New_York\"},\"aggs\":{" METRICS("co.value") "}}}}",
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":"
        "\"1h\","
        "\"time_zone\":\"Asia/Kolkata\"},\"aggs\":{\"a\":{\"avg\":{\"field\":\"co.value\"}}}}}}",
        "{\"size\":0,\"query\":{\"range\":{\"date\":{\"gte\":\"2021-11-06 "
        "10:17:31\",\"lt\":\"2021-11-07 03:02:05\","
        "\"time_zone\":\"UTC\"}}},\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_"
        "interval\":\"5m\"},"
        "\"aggs\":{" METRICS("no2.value") "}}}}",
        "{\"size\":0,\"query\":{\"bool\":{\"filter\":[{\"terms\":{\"groupid\":[\"a\",\"c\"]}},"
        "{\"range\":{\"date\":{\"gt\":1636200000500,\"lte\":1636300000999}}}]}},\"aggs\":{" METRICS(
            "no2.value") "}}",
        "{\"size\":0,\"aggs\":{\"w\":{\"date_histogram\":{\"field\":\"date\",\"calendar_interval\":"
        "\"week\"},"
        "\"aggs\":{\"s\":{\"sum\":{\"field\":\"co.value\"}}}},\"m\":{\"date_histogram\":{\"field\":"
        "\"date\","
        "\"calendar_interval\":\"month\",\"time_zone\":\"Asia/"
        "Seoul\"},\"aggs\":{\"s\":{\"stats\":{\"field\":\"no2.value\"}}}}}}",
        "{\"size\":0,\"query\":{\"term\":{\"groupid\":\"b\"}},\"aggs\":{\"h\":{\"date_histogram\":{"
        "\"field\":\"date\","
        "\"fixed_interval\":\"1m\",\"min_doc_count\":1},\"aggs\":{\"a\":{\"avg\":{\"field\":\"no2."
        "value\"}}}}}}",
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":"
        "\"3h\","
        "\"extended_bounds\":{\"min\":\"2021-11-05\",\"max\":\"2021-11-10\"}},\"aggs\":{\"a\":{"
        "\"max\":{\"field\":\"co.value\"}}}}}}",
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"},\"aggs\":{\"c\":{\"avg\":{"
        "\"field\":\"co.value\"}},"
        "\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1d\"},\"aggs\":{\"n\":{"
        "\"avg\":{\"field\":\"no2.value\"}}}}}}}}",
    };
    for (size_t i = 0; i < sizeof eligible / sizeof eligible[0]; i++) {
        static const char *const idx[2] = {"roll", "rolldense"};
        for (int k = 0; k < 2; k++) {
            int rollups = 0;
            CHECK(same_as_raw(idx[k], QUERY_SEARCH, eligible[i], &rollups));
            if (rollups == 0) fprintf(stderr, "  no rollups for %s\n", eligible[i]);
            CHECK(rollups > 0);
        }
    }
}

/* Percentiles are exact: linear interpolation between closest ranks,
 * rank = p / 100 * (n - 1), over the sorted values 1, 2, 4. */
static void test_percentiles_by_hand(void)
{
    json_t *r = run_on(roll_db, QUERY_SEARCH, "pct",
                       "{\"size\":0,\"aggs\":{\"p\":{\"percentiles\":{\"field\":\"no2.value\","
                       "\"percents\":[0,25,50,90,100]}}}}",
                       0, NULL);
    json_t *v = at(r, "aggregations.p.values");
    CHECK(near(json_number_value(json_object_get(v, "0.0")), 1.0));
    CHECK(near(json_number_value(json_object_get(v, "25.0")), 1.5));
    CHECK(near(json_number_value(json_object_get(v, "50.0")), 2.0));
    CHECK(near(json_number_value(json_object_get(v, "90.0")), 3.6));
    CHECK(near(json_number_value(json_object_get(v, "100.0")), 4.0));
    json_decref(r);
}

static void test_fast_plans_equal_raw(void)
{
    static const char *const q[] = {
        /* not rollable: 30s buckets, a filter on a value, percentiles, docs without groupid */
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":"
        "\"30s\","
        "\"min_doc_count\":1},\"aggs\":{\"a\":{\"avg\":{\"field\":\"co.value\"}}}}}}",
        "{\"size\":0,\"query\":{\"range\":{\"no2.value\":{\"gte\":60}}},\"aggs\":{\"g\":{\"terms\":"
        "{\"field\":\"groupid\"},"
        "\"aggs\":{\"a\":{\"avg\":{\"field\":\"co.value\"}},\"p\":{\"percentiles\":{\"field\":\"co."
        "value\"}}}}}}",
        /* (c): latest document of each group */
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":100},\"aggs\":{"
        "\"last\":"
        "{\"top_hits\":{\"size\":1,\"sort\":[{\"date\":{\"order\":\"desc\"}}]}}}}}}",
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":3,\"order\":{\"_"
        "key\":\"desc\"}},"
        "\"aggs\":{\"t\":{\"top_hits\":{\"size\":2,\"from\":1,\"_source\":[\"co\"]}},"
        "\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1h\"},\"aggs\":{\"a\":{"
        "\"avg\":"
        "{\"field\":\"no2.value\"}}}}}}}}",
        "{\"size\":0,\"query\":{\"range\":{\"date\":{\"gte\":\"2021-11-07\"}}},\"aggs\":{\"g\":{"
        "\"terms\":"
        "{\"field\":\"groupid\",\"order\":{\"s.max\":\"asc\"}},\"aggs\":{\"s\":{\"stats\":{"
        "\"field\":\"co.value\"}}}}}}",
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int rollups;
        CHECK(same_as_raw("roll", QUERY_SEARCH, q[i], &rollups));
        CHECK(same_as_raw("rollnull", QUERY_SEARCH, q[i], &rollups));
    }
    /* with docs without groupid, histograms still read rollups (all groups) */
    int rollups = 0;
    CHECK(same_as_raw(
        "rollnull", QUERY_SEARCH,
        "{\"size\":0,\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":"
        "\"1h\"},\"aggs\":{" METRICS("co.value") "}}}}",
        &rollups));
    CHECK(rollups > 0);
    CHECK(same_as_raw(
        "rollnull", QUERY_SEARCH,
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"},\"aggs\":{" METRICS(
            "co.value") "}}}}",
        &rollups));
    /* counts driven by measurements */
    static const char *const counts[] = {
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"gte\":88}}},"
        "{\"range\":{\"date\":{\"gte\":\"now-1d\"}}}]}}}",
        "{\"query\":{\"bool\":{\"must\":[{\"range\":{\"no2.value\":{\"gte\":10,\"lt\":20}}},"
        "{\"terms\":{\"groupid\":[\"a\",\"d\"]}},{\"exists\":{\"field\":\"no2.value\"}}]}}}",
        "{\"query\":{\"term\":{\"co.value\":12.5}}}",
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        CHECK(same_as_raw("roll", QUERY_COUNT, counts[i], &rollups));
        CHECK(same_as_raw("rollnull", QUERY_COUNT, counts[i], &rollups));
        CHECK(same_as_raw("rollnull", QUERY_SEARCH, counts[i], &rollups));
    }
}

/* Document counts from the document-count rollups and counts of values in
 * a range from the value rollups: hits.total, _count, terms doc_count,
 * top_hits totals; bounds at values present in the data (88), hours where
 * every value matches (gte 5), docs lacking no2, docs without groupid
 * (rollnull), repeated groupid values, date bounds inside minutes and in
 * a zone with a DST change (2021-11-07 in New York). */
static void test_rollup_counts_equal_raw(void)
{
#define NY_RANGE                                                                                   \
    "{\"range\":{\"date\":{\"gte\":\"2021-11-06 10:17:31\",\"lt\":\"2021-11-07 "                   \
    "01:30:05\",\"time_zone\":\"America/New_York\"}}}"
    static const char *const counts[] = {
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"gte\":88}}}," NY_RANGE
        "]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"gt\":88}}}," NY_RANGE
        "]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"lte\":88}}},"
        "{\"terms\":{\"groupid\":[\"a\",\"c\",\"a\"]}}," NY_RANGE "]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"lt\":88}}}," NY_RANGE
        "]}}}",
        "{\"query\":{\"range\":{\"no2.value\":{\"gte\":5}}}}",
        "{\"query\":{\"bool\":{\"must\":[{\"range\":{\"no2.value\":{\"gte\":30,\"lte\":88}}},"
        "{\"term\":{\"groupid\":\"b\"}},{\"range\":{\"date\":{\"gt\":1636200000500}}}]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"term\":{\"no2.value\":88}}," NY_RANGE "]}}}",
        "{\"query\":{\"terms\":{\"no2.value\":[88,12.5,100]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"exists\":{\"field\":\"no2.value\"}}," NY_RANGE "]}}}",
        "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"no2.value\":{\"gt\":88,\"lt\":88.5}}},"
        "{\"range\":{\"date\":{\"lte\":\"2021-11-07T06:00:00Z\"}}}]}}}",
        "{\"query\":" NY_RANGE "}",
        "{\"query\":{\"bool\":{\"filter\":[{\"terms\":{\"groupid\":[\"d\",\"b\",\"d\"]}},"
        "{\"range\":{\"date\":{\"gte\":1636200000001,\"lt\":1636290000999}}}]}}}",
        "{\"query\":{\"match_all\":{}}}",
        "{\"query\":{\"range\":{\"date\":{\"gte\":\"2030-01-01\"}}}}",
    };
    int rollups;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        static const char *const idx[3] = {"roll", "rollnull", "rolldense"};
        for (int k = 0; k < 3; k++) {
            char body[1024];
            CHECK(same_as_raw(idx[k], QUERY_COUNT, counts[i], &rollups));
            CHECK(last_fast.counts > 0);
            /* hits.total exact, and terms -> top_hits under the same filter */
            snprintf(
                body, sizeof body,
                "{\"track_total_hits\":true,\"size\":1,\"sort\":[{\"date\":\"desc\"}],%.*s,"
                "\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\",\"size\":100},\"aggs\":{"
                "\"last\":{\"top_hits\":{\"size\":1,\"sort\":[{\"date\":{\"order\":\"desc\"}}]}"
                "}}},\"t\":{\"top_hits\":{\"size\":1,\"_source\":false}}}}",
                (int)strlen(counts[i]) - 2, counts[i] + 1);
            CHECK(same_as_raw(idx[k], QUERY_SEARCH, body, &rollups));
            CHECK(last_fast.counts > 0);
        }
    }
    /* doc counts of histograms without metrics, and terms over histograms */
    static const char *const hists[] = {
        "{\"size\":0,\"aggs\":{\"d\":{\"date_histogram\":{\"field\":\"date\",\"calendar_"
        "interval\":\"day\",\"time_zone\":\"America/New_York\"}}}}",
        "{\"size\":0,\"query\":" NY_RANGE ",\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"},"
        "\"aggs\":{\"h\":{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1h\"}}}}}}",
        "{\"size\":0,\"query\":{\"terms\":{\"groupid\":[\"a\",\"b\",\"a\"]}},\"aggs\":{\"h\":{"
        "\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1h\"},\"aggs\":{\"m\":{"
        "\"max\":{\"field\":\"no2.value\"}}}}}}",
        "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"}}}}",
    };
    for (size_t i = 0; i < sizeof hists / sizeof hists[0]; i++) {
        CHECK(same_as_raw("roll", QUERY_SEARCH, hists[i], &rollups));
        CHECK(rollups > 0);
        CHECK(same_as_raw("rolldense", QUERY_SEARCH, hists[i], &rollups));
        CHECK(rollups > 0);
        CHECK(same_as_raw("rollnull", QUERY_SEARCH, hists[i], &rollups));
    }
#undef NY_RANGE
}

/* ---- statements kept on a connection and raw bucket text --------------- */

static int stmt_count(sqlite3 *db)
{
    int n = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
        n += !sqldb_owned(st); /* gk_meas's are its own (store_mblk.c) */
    return n;
}

/* The reply's text as query_dump writes it ("took" cut off). */
static char *reply_text(sqlite3 *db, const char *body, size_t flags)
{
    struct query_env env = {.zone = tz_utc(), .now_ms = INT64_C(1636329600000)};
    struct query *q = NULL;
    json_t *reply = NULL;
    CHECK_EQ_INT(query_parse(&q, QUERY_SEARCH, "roll", body, strlen(body), &env, &reply), 0);
    CHECK_EQ_INT(query_exec(q, db, &reply), 0);
    query_free(q);
    json_object_set_new(reply, "took", json_integer(0));
    char *text = query_dump(reply, flags);
    json_decref(reply);
    return text;
}

#define KEEP_BODY                                                                                  \
    "{\"size\":0,\"aggs\":{\"g\":{\"terms\":{\"field\":\"groupid\"},\"aggs\":{\"last\":{"         \
    "\"top_hits\":{\"size\":1,\"sort\":[{\"date\":\"desc\"}]}},\"h\":{\"date_histogram\":{"       \
    "\"field\":\"date\",\"fixed_interval\":\"1h\"},\"aggs\":{\"a\":{\"avg\":{\"field\":"         \
    "\"no2.value\"}},\"s\":{\"stats\":{\"field\":\"co.value\"}}}}}}}}"

/* A connection that keeps statements answers as one that does not, keeps
 * them reset between queries, and has none left once forgotten; one that
 * does not keep them has none left after a query. */
static void test_kept_statements(void)
{
    char *plain = reply_text(roll_db, KEEP_BODY, JSON_COMPACT);
    CHECK_EQ_INT(stmt_count(roll_db), 0);
    query_conn_keep(roll_db);
    char *first = reply_text(roll_db, KEEP_BODY, JSON_COMPACT);
    int kept = stmt_count(roll_db);
    CHECK(kept > 0);
    CHECK_EQ_INT(query_conn_idle(roll_db), 0);
    char *again = reply_text(roll_db, KEEP_BODY, JSON_COMPACT);
    CHECK_EQ_INT(stmt_count(roll_db), kept); /* found again, none prepared twice */
    CHECK_EQ_STR(first, plain);
    CHECK_EQ_STR(again, plain);
    query_conn_forget(roll_db);
    CHECK_EQ_INT(stmt_count(roll_db), 0);
    free(plain);
    free(first);
    free(again);
}

/* Histogram buckets written as text read back as the same values when
 * laid out (?pretty), one member per line. */
static void test_bucket_text_pretty(void)
{
    char *compact = reply_text(roll_db, KEEP_BODY, JSON_COMPACT);
    char *pretty = reply_text(roll_db, KEEP_BODY, JSON_INDENT(2));
    json_t *a = json_loads(compact, 0, NULL), *b = json_loads(pretty, 0, NULL);
    CHECK(a && b && json_equal(a, b));
    CHECK(json_array_size(at(b, "aggregations.g.buckets.0.h.buckets")) > 24);
    CHECK(strstr(pretty, "\n                \"key_as_string\": \"2021-11-06T01:00:00.000Z\",\n"
                         "                \"key\": 1636160400000,\n") != NULL);
    CHECK(strstr(compact, "{\"key_as_string\":\"2021-11-0") != NULL);
    json_decref(a);
    json_decref(b);
    free(compact);
    free(pretty);
}

/* ---- main -------------------------------------------------------------- */

/* A damaged measurement block fails the query that reads it (GK_ESTORE),
 * on the fast plans' path as on the raw one; mended, it answers again. */
static void test_damaged_block_query(void)
{
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_prepare_v2(roll_db,
                                    "SELECT id, data, grp, name FROM main.mblocks"
                                    " WHERE idx = 'roll' AND grp <> '' ORDER BY id LIMIT 1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    int64_t id = sqlite3_column_int64(st, 0);
    int len = sqlite3_column_bytes(st, 1);
    void *data = malloc((size_t)len);
    memcpy(data, sqlite3_column_blob(st, 1), (size_t)len);
    char body[512];
    snprintf(body, sizeof body,
             "{\"size\":0,\"query\":{\"term\":{\"groupid\":\"%s\"}},\"aggs\":{\"h\":"
             "{\"date_histogram\":{\"field\":\"date\",\"fixed_interval\":\"1m\"},"
             "\"aggs\":{\"a\":{\"avg\":{\"field\":\"%s.value\"}}}}}}",
             (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE main.mblocks SET data = substr(data, 1, length(data) - 1) WHERE id = %lld",
             (long long)id);
    CHECK_EQ_INT(sqlite3_exec(roll_db, sql, NULL, NULL, NULL), SQLITE_OK);
    for (int raw = 0; raw <= 1; raw++) {
        struct query_env env = {.zone = tz_utc(), .now_ms = INT64_C(1636329600000)};
        struct query *q = NULL;
        json_t *reply = NULL;
        CHECK_EQ_INT(query_parse(&q, QUERY_SEARCH, "roll", body, strlen(body), &env, &reply), 0);
        q->no_rollups = raw;
        struct qstats stats = {0};
        q->stats = &stats;
        CHECK_EQ_INT(query_exec(q, roll_db, &reply), GK_ESTORE);
        CHECK_EQ_INT(stats.rollups, raw ? 0 : 1); /* the fast plan read the blocks itself */
        query_free(q);
        json_decref(reply);
    }
    CHECK_EQ_INT(sqlite3_prepare_v2(roll_db, "UPDATE main.mblocks SET data = ?1 WHERE id = ?2", -1,
                                    &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_blob(st, 1, data, len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(data);
    int rollups = 0;
    CHECK(same_as_raw("roll", QUERY_SEARCH, body, &rollups));
    CHECK(rollups > 0);
}

int main(void)
{
    fx_open();
    RUN(test_parse_errors);
    RUN(test_parse_nesting_and_size);
    RUN(test_parse_count_kind);
    RUN(test_parse_corpus);
    RUN(test_match_all);
    RUN(test_term_terms_exists);
    RUN(test_range_numeric);
    RUN(test_range_date);
    RUN(test_bool);
    RUN(test_scores);
    RUN(test_sort);
    RUN(test_source_filter);
    RUN(test_track_total_hits);
    RUN(test_count_api);
    RUN(test_missing_index);
    RUN(test_get_doc);
    RUN(test_cat_indices);
    RUN(test_timeout);
    RUN(test_wide_queries);
    RUN(test_agg_metrics);
    RUN(test_agg_percentile_interpolation);
    RUN(test_agg_empty_metrics);
    RUN(test_agg_terms);
    RUN(test_agg_date_histogram);
    RUN(test_agg_nested);
    RUN(test_agg_top_hits);
    RUN(test_agg_errors);
    roll_open();
    RUN(test_rollup_equals_raw);
    RUN(test_fast_plans_equal_raw);
    RUN(test_rollup_counts_equal_raw);
    RUN(test_percentiles_by_hand);
    RUN(test_kept_statements);
    RUN(test_bucket_text_pretty);
    RUN(test_damaged_block_query);
    roll_close();
    fx_close();
    TEST_MAIN_END();
}
