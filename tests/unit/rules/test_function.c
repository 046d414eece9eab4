/* Unit tests for rules/function.c: the example functions/gasdetect.lua
 * against the built-in rules of gasket.example.ini (every_reading) on a table
 * of payloads, then results (drop, change, round trip), gasket.publish,
 * limits (instructions, memory) with a working call after each, the sandbox
 * and load errors. Scripts are written to temporary files. */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "gateway/reading.h"
#include "rules/alarm.h"
#include "rules/function.h"
#include "test.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static char script_path[64];

/* Writes text to a new temporary .lua file; returns its path (static). */
static const char *script(const char *text)
{
    snprintf(script_path, sizeof script_path, "/tmp/gasket-test-fn-XXXXXX.lua");
    int fd = mkstemps(script_path, 4);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return script_path;
}

/* Loads text as a function (the test fails when refused). */
static struct function *load_text(const char *text, const struct function_limits *lim)
{
    struct function *f = NULL;
    char err[300] = "";
    int rc = function_load(&f, script(text), lim, err, sizeof err);
    unlink(script_path);
    if (rc != 0) fprintf(stderr, "  load refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    return f;
}

/* Loads text expecting rc and an error containing want. */
static void load_fails(const char *text, int want_rc, const char *want)
{
    struct function *f = NULL;
    char err[300] = "";
    const char *path = script(text);
    CHECK_EQ_INT(function_load(&f, path, NULL, err, sizeof err), want_rc);
    CHECK(f == NULL);
    if (!strstr(err, want)) fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, want);
    CHECK(strstr(err, want) != NULL);
    unlink(path);
}

/* Appends "topic qos payload\n" to the struct buf at ud. */
static void publish_cb(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    CHECK_EQ_INT(payload[len], 0);
    buf_printf(ud, "%s %d ", topic, qos);
    buf_append(ud, payload, len);
    buf_putc(ud, '\n');
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_ALLOW_NUL, &je);
    if (!v) fprintf(stderr, "  bad JSON in test: %s\n", je.text);
    CHECK(v != NULL);
    return v;
}

/* Calls f on the JSON text event; returns rc, with publishes in *out, the
 * result dumped compact in order in *res ("" when dropped or failed) and
 * the reason in err. */
static int call(struct function *f, const char *event, struct buf *out, struct buf *res, char *err,
                size_t errlen)
{
    json_t *ev = parse(event), *result = (json_t *)1;
    buf_reset(out);
    buf_reset(res);
    buf_puts(res, "");
    err[0] = 0;
    int rc = function_call(f, ev, &result, publish_cb, out, err, errlen);
    if (rc != 0) CHECK(result == NULL);
    if (result) {
        char *s = json_dumps(result, JSON_COMPACT | JSON_ENSURE_ASCII);
        buf_puts(res, s);
        free(s);
        json_decref(result);
    }
    json_decref(ev);
    return rc;
}

/* Calls f on event expecting a failure whose reason contains want. */
static void call_fails(struct function *f, const char *event, const char *want)
{
    struct buf out = {0}, res = {0};
    char err[300];
    CHECK_EQ_INT(call(f, event, &out, &res, err, sizeof err), GK_EINVAL);
    if (!strstr(err, want)) fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, want);
    CHECK(strstr(err, want) != NULL);
    CHECK(strchr(err, '\n') == NULL);
    buf_free(&out);
    buf_free(&res);
}

/* Calls f on event expecting success and the result want ("" when dropped). */
static void call_gives(struct function *f, const char *event, const char *want)
{
    struct buf out = {0}, res = {0};
    char err[300];
    int rc = call(f, event, &out, &res, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  call failed: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(res.data, want);
    buf_free(&out);
    buf_free(&res);
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the example against the built-in rules ------------------------------- */

#define EV(M)        "{\"groupid\":\"2\",\"gps\":\"37.61, 126.99\"" M "}"
#define GAS(name, v) ",\"" name "\":{\"sensorid\":\"0006\",\"sensortype\":\"8\",\"value\":" v "}"
#define W(gas)       "pi/1 1 {\"warning\":\"" gas " warning\"}\n"

struct parity_case {
    const char *body;
    const char *want; /* every publish, "topic qos payload\n" */
};

static const struct parity_case parity[] = {
    {EV(GAS("no2", "\"90\"")), W("no2")},
    {EV(GAS("no2", "\"80\"")), ""},
    {EV(GAS("no2", "\"88\"")), W("no2")},
    {EV(GAS("no2", "\"87.99\"")), ""},
    {EV(GAS("no2", "90.5")), W("no2")},
    {EV(GAS("no2", "90")), W("no2")},
    {EV(GAS("no2", "\"90.5\"")), W("no2")},
    {EV(GAS("co", "\"26.20\"") GAS("no2", "\"0.12\"") GAS("c2h5oh", "\"3.5\"")
            GAS("h2", "\"7.75\"")),
     ""},
    {EV(GAS("h2", "4000") GAS("co", "\"35\"") GAS("no2", "\"100\"")), W("no2") W("co") W("h2")},
    {EV(GAS("c4h10", "801") GAS("c3h8", "\"1000.0\"") GAS("ch4", "4999.9") GAS("nh3", "25")
            GAS("c2h5oh", "\"3300\"")),
     W("c2h5oh") W("nh3") W("c3h8") W("c4h10")},
    {EV(GAS("co", "250") GAS("ch4", "\"20000\"") GAS("o3", "\"999\"")), W("co") W("ch4")},
    {EV(",\"no2\":\"90\""), ""}, /* not a measurement */
    {"{\"groupid\":7" GAS("no2", "1e3") "}", W("no2")},
};

static void test_gasdetect_matches_builtin_rules(void)
{
    struct config c;
    char err[600] = "";
    int rc = config_load(&c, "gasket.example.ini", err, sizeof err);
    if (rc != 0) fprintf(stderr, "  config refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) return;
    struct alarm_engine *e = alarm_engine_new();
    CHECK_EQ_INT(alarm_engine_configure(e, &c, err, sizeof err), 0);
    struct cfg_route route = *config_route(&c, "/gasdetector");
    route.alerts = CFG_ALERTS_EVERY_READING;
    struct function *f = NULL;
    CHECK_EQ_INT(function_load(&f, "functions/gasdetect.lua", NULL, err, sizeof err), 0);
    CHECK_EQ_STR(function_path(f), "functions/gasdetect.lua");
    struct buf got = {0}, builtin = {0};
    for (size_t i = 0; f && i < sizeof parity / sizeof parity[0]; i++) {
        struct reading r;
        struct reading_error re;
        CHECK_EQ_INT(reading_parse(&r, parity[i].body, strlen(parity[i].body), &re), 0);
        struct alarm_value v[READING_MAX_MEAS];
        for (size_t k = 0; k < r.nmeas; k++)
            v[k] = (struct alarm_value){r.meas[k].name, r.meas[k].value};
        buf_reset(&builtin);
        buf_puts(&builtin, "");
        alarm_judge(e, &route, r.groupid, v, r.nmeas, 1000 * (int64_t)i, publish_cb, &builtin);
        buf_reset(&got);
        buf_puts(&got, "");
        json_t *result = NULL;
        CHECK_EQ_INT(function_call(f, reading_doc(&r), &result, publish_cb, &got, err, sizeof err), 0);
        if (strcmp(got.data, parity[i].want) != 0 || strcmp(builtin.data, parity[i].want) != 0)
            fprintf(stderr, "  case %zu: %s\n", i, parity[i].body);
        CHECK_EQ_STR(got.data, parity[i].want);
        CHECK_EQ_STR(builtin.data, parity[i].want);
        CHECK(result && json_equal(result, reading_doc(&r)));
        char *a = json_dumps(result, JSON_COMPACT), *b = json_dumps(reading_doc(&r), JSON_COMPACT);
        CHECK_EQ_STR(a, b); /* unchanged, members in their order */
        free(a), free(b);
        json_decref(result);
        reading_free(&r);
    }
    buf_free(&got);
    buf_free(&builtin);
    function_free(f);
    alarm_engine_free(e);
    config_free(&c);
}

/* ---- results -------------------------------------------------------------- */

static void test_nil_drops(void)
{
    struct function *f = load_text("return function(e) if e.keep then return e end end", NULL);
    call_gives(f, "{\"groupid\":\"2\"}", "");
    call_gives(f, "{\"groupid\":\"2\",\"keep\":1}", "{\"groupid\":\"2\",\"keep\":1}");
    function_free(f);
}

static void test_change_keeps_order(void)
{
    struct function *f = load_text("return function(e)\n"
                                   "  e.z = 1; e.a = 'x'; e.checked = true\n"
                                   "  e.no2.value = tonumber(e.no2.value) * 2\n"
                                   "  e.drop = nil\n"
                                   "  return e\n"
                                   "end\n",
                                   NULL);
    call_gives(
        f, "{\"groupid\":\"2\",\"no2\":{\"value\":\"45.5\",\"sensorid\":\"6\"},\"drop\":0,\"b\":1}",
        "{\"groupid\":\"2\",\"no2\":{\"value\":91.0,\"sensorid\":\"6\"},\"b\":1,"
        "\"a\":\"x\",\"checked\":true,\"z\":1}");
    function_free(f);
}

static void test_round_trip(void)
{
    static const char *const events[] = {
        "{\"groupid\":2,\"n\":null,\"t\":true,\"f\":false,\"i\":-7,\"r\":0.5,\"big\":"
        "9007199254740993}",
        "{\"a\":[],\"o\":{},\"l\":[1,[2,[3,null]],{\"k\":[]}],\"s\":\"\\u00E9\\u6C34\\u0000x\"}",
        "{\"deep\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":[1]}}}}}}}",
    };
    struct function *f = load_text("return function(e) return e end", NULL);
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        call_gives(f, events[i], events[i]);
    function_free(f);
    f = load_text("return function(e)\n"
                  "  if e.mixed then return {m = {1, 2, k = 3}} end\n"
                  "  assert(e.n == gasket.null and tostring(e.n) == 'null')\n"
                  "  assert(math.type(e.i) == 'integer' and math.type(e.r) == 'float')\n"
                  "  assert(#e.l == 3 and e.l[2][1] == 2)\n"
                  "  return {list = {1, 2, 'x'}, empty = {}, arr = gasket.array({}),\n"
                  "          nul = gasket.null, n = 1.5}\n"
                  "end\n",
                  NULL);
    call_gives(f, "{\"n\":null,\"i\":1,\"r\":1.0,\"l\":[1,[2],3]}",
               "{\"n\":1.5,\"arr\":[],\"empty\":{},\"list\":[1,2,\"x\"],\"nul\":null}");
    call_fails(f, "{\"mixed\":1}", "an object key is a number, not a string");
    function_free(f);
}

static void test_bad_results(void)
{
    struct function *f = load_text("return function(e)\n"
                                   "  if e.k == 1 then return 42 end\n"
                                   "  if e.k == 2 then return {1, 2} end\n"
                                   "  if e.k == 3 then e.self = e return e end\n"
                                   "  if e.k == 4 then e.x = 0/0 return e end\n"
                                   "  if e.k == 5 then e.f = print return e end\n"
                                   "  if e.k == 6 then e.s = '\\xff' return e end\n"
                                   "  if e.k == 7 then e[true] = 1 return e end\n"
                                   "  return e\n"
                                   "end\n",
                                   NULL);
    call_fails(f, "{\"k\":1}", "returned a number, not a table or nil");
    call_fails(f, "{\"k\":2}", "returned an array");
    call_fails(f, "{\"k\":3}", "nested deeper than");
    call_fails(f, "{\"k\":4}", "not finite (member 'x')");
    call_fails(f, "{\"k\":5}", "cannot encode a function as JSON (member 'f')");
    call_fails(f, "{\"k\":6}", "not valid UTF-8 (member 's')");
    call_fails(f, "{\"k\":7}", "key is a boolean");
    call_gives(f, "{\"k\":0}", "{\"k\":0}");
    function_free(f);
}

/* ---- gasket.publish, log, now --------------------------------------------- */

static void test_publish(void)
{
    struct function *f = load_text(
        "return function(e)\n"
        "  if e.k == 'ok' then\n"
        "    gasket.publish('a/b', 'raw \\0 bytes')\n"
        "    gasket.publish('a/b', {z = 1, a = {2, 3.5}, m = {y = true, x = gasket.null}}, 0)\n"
        "    gasket.publish('$x/y', {}, 2)\n"
        "    gasket.publish('a', gasket.array({}))\n"
        "  elseif e.k == 'topic' then gasket.publish('a/+', 'x')\n"
        "  elseif e.k == 'qos' then gasket.publish('a', 'x', 3)\n"
        "  elseif e.k == 'payload' then gasket.publish('a', 5)\n"
        "  elseif e.k == 'bad' then gasket.publish('a', {f = print})\n"
        "  end\n"
        "  return e\n"
        "end\n",
        NULL);
    struct buf out = {0}, res = {0};
    char err[300];
    CHECK_EQ_INT(call(f, "{\"k\":\"ok\"}", &out, &res, err, sizeof err), 0);
    CHECK_EQ_INT(out.len,
                 strlen("a/b 1 raw ") + 1 + strlen(" bytes\n") +
                     strlen("a/b 0 {\"a\":[2,3.5],\"m\":{\"x\":null,\"y\":true},\"z\":1}\n") +
                     strlen("$x/y 2 {}\n") + strlen("a 1 []\n"));
    CHECK(memcmp(out.data, "a/b 1 raw \0 bytes\n", 18) == 0);
    CHECK_EQ_STR(out.data + 18, "a/b 0 {\"a\":[2,3.5],\"m\":{\"x\":null,\"y\":true},\"z\":1}\n"
                                "$x/y 2 {}\na 1 []\n");
    call_fails(f, "{\"k\":\"topic\"}", "not a valid topic name");
    call_fails(f, "{\"k\":\"qos\"}", "qos must be 0, 1 or 2");
    call_fails(f, "{\"k\":\"payload\"}", "string or table expected");
    call_fails(f, "{\"k\":\"bad\"}", "cannot encode a function");
    /* without a callback, publishes are discarded */
    json_t *ev = parse("{\"k\":\"ok\"}"), *result = NULL;
    CHECK_EQ_INT(function_call(f, ev, &result, NULL, NULL, err, sizeof err), 0);
    CHECK(json_equal(ev, result));
    json_decref(ev);
    json_decref(result);
    buf_free(&out);
    buf_free(&res);
    function_free(f);
    load_fails("gasket.publish('a', 'x') return print", GK_EINVAL, "only available while handling");
}

static void test_log_now_time(void)
{
    struct function *f =
        load_text("local t0 = gasket.now()\n"
                  "return function(e)\n"
                  "  gasket.log('debug', 'not shown', 1, nil, true)\n"
                  "  if e.bad then gasket.log('loud', 'x') end\n"
                  "  print('print goes to the log')\n"
                  "  e.now_ok = math.type(gasket.now()) == 'integer' and gasket.now() >= t0\n"
                  "  e.time_ok = math.abs(os.time() - gasket.now() // 1000) <= 2\n"
                  "  e.epoch = os.date('!%Y-%m-%d %H:%M:%S', 0)\n"
                  "  e.t = os.time({year = 2021, month = 9, day = 3, hour = 12}) > 0\n"
                  "  e.clock = type(os.clock()) == 'number'\n"
                  "  return e\n"
                  "end\n",
                  NULL);
    call_gives(f, "{}",
               "{\"clock\":true,\"epoch\":\"1970-01-01 00:00:00\",\"now_ok\":true,"
               "\"t\":true,\"time_ok\":true}");
    call_fails(f, "{\"bad\":1}", "invalid option 'loud'");
    function_free(f);
}

/* ---- limits --------------------------------------------------------------- */

static void test_instruction_limit(void)
{
    struct function_limits lim = {0, 1000000};
    struct function *f = load_text(
        "local n = 0\n"
        "return function(e)\n"
        "  n = n + 1\n"
        "  if e.loop == 1 then while true do end end\n"
        "  if e.loop == 2 then while true do pcall(function() while true do end end) end end\n"
        "  if e.loop == 3 then\n"
        "    while true do coroutine.resume(coroutine.create(function() while true do end end)) "
        "end\n"
        "  end\n"
        "  if e.loop == 4 then pcall(function() while true do end end) end\n"
        "  if e.loop == 5 then table.move({}, 1, math.maxinteger - 1, 2) end\n"
        "  if e.loop == 6 then local s = string.rep('', 1e18) e.s = s end\n"
        "  if e.loop == 7 then local t = {} for i = 1, 50000 do t[i % 100 + 1] = i end end\n"
        "  e.n = n\n"
        "  return e\n"
        "end\n",
        &lim);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    call_fails(f, "{\"loop\":1}", "instruction limit reached");
    call_gives(f, "{\"loop\":0}", "{\"loop\":0,\"n\":2}");
    call_fails(f, "{\"loop\":2}", "instruction limit reached");
    call_fails(f, "{\"loop\":3}", "instruction limit reached");
    call_fails(f, "{\"loop\":4}", "instruction limit reached"); /* caught, still failed */
    call_fails(f, "{\"loop\":5}", "instruction limit reached");
    call_gives(f, "{\"loop\":6}", "{\"loop\":6,\"n\":7,\"s\":\"\"}");
    call_gives(f, "{\"loop\":7}", "{\"loop\":7,\"n\":8}"); /* ~400k instructions: under 1M */
    CHECK(elapsed(&t0) < 10);
    function_free(f);
    /* the default limit, and the chunk itself is limited */
    f = load_text("return function(e) local i = 0 while true do i = i + 1 end end", NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    call_fails(f, "{}", "instruction limit reached (10000000 instructions)");
    CHECK(elapsed(&t0) < 10);
    function_free(f);
    load_fails("while true do end", GK_EINVAL, "instruction limit reached");
    /* finalizers run with hooks off: refused */
    f = load_text(
        "return function(e)\n"
        "  if e.k == 1 then setmetatable({}, {__gc = function() while true do end end}) end\n"
        "  if e.k == 2 then\n"
        "    local mt = {}\n"
        "    for i = 1, 100 do setmetatable({}, mt) end\n"
        "    mt.__gc = function() while true do end end\n"
        "    collectgarbage()\n"
        "  end\n"
        "  return e\n"
        "end\n",
        &lim);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    call_fails(f, "{\"k\":1}", "__gc metamethods are not available");
    call_gives(f, "{\"k\":2}", "{\"k\":2}"); /* __gc set late: never called */
    function_free(f);
    CHECK(elapsed(&t0) < 10);
}

static void test_memory_limit(void)
{
    struct function *f =
        load_text("local keep = {}\n"
                  "return function(e)\n"
                  "  if e.m == 1 then e.s = string.rep('x', 1e9) end\n"
                  "  if e.m == 2 then local t = {} while true do t[#t + 1] = {i = #t} end end\n"
                  "  if e.m == 3 then local s = 'x' while true do s = s .. s end end\n"
                  "  if e.m == 4 then\n"
                  "    local ok, err = pcall(string.rep, 'x', 1e9)\n"
                  "    e.caught = err\n"
                  "  end\n"
                  "  if e.m == 5 then while true do keep[#keep + 1] = string.rep('y', 1000) .. "
                  "#keep end end\n"
                  "  if e.m == 6 then keep = {} end\n"
                  "  if e.m == 7 then local t = {} for i = 1, 1000 do t[i] = string.rep('z', 1000) "
                  ".. i end end\n"
                  "  if e.m == 8 then local t = {} for i = 1, 1000 do t[i] = string.rep('w', 2000) "
                  ".. i end end\n"
                  "  return e\n"
                  "end\n",
                  NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    call_fails(f, "{\"m\":1}", "memory limit reached (8388608 bytes)");
    call_gives(f, "{\"m\":0}", "{\"m\":0}");
    call_fails(f, "{\"m\":2}", "memory limit reached");
    call_gives(f, "{\"m\":0}", "{\"m\":0}");
    call_fails(f, "{\"m\":3}", "memory limit reached");
    call_gives(f, "{\"m\":4}", "{\"m\":4,\"caught\":\"not enough memory\"}");
    call_fails(f, "{\"m\":5}", "memory limit reached"); /* and keeps it: the state is full */
    call_fails(f, "{\"m\":7}", "memory limit reached");
    call_gives(f, "{\"m\":6}", "{\"m\":6}"); /* lets it go */
    call_gives(f, "{\"m\":7}", "{\"m\":7}");
    /* garbage of earlier calls is not in the way of a string buffer that
     * outgrows its first block (2,000 bytes; 512 on 32-bit machines) */
    call_fails(f, "{\"m\":5}", "memory limit reached");
    call_gives(f, "{\"m\":6}", "{\"m\":6}");
    call_gives(f, "{\"m\":8}", "{\"m\":8}");
    CHECK(elapsed(&t0) < 10);
    function_free(f);
    /* a small ceiling: the sandbox itself does not fit */
    struct function_limits tiny = {4096, 0};
    struct function *g = NULL;
    char err[300] = "";
    CHECK_EQ_INT(function_load(&g, "functions/gasdetect.lua", &tiny, err, sizeof err), GK_ENOMEM);
    CHECK(g == NULL);
    CHECK(strstr(err, "memory") != NULL);
}

/* ---- sandbox -------------------------------------------------------------- */

static void test_sandbox(void)
{
    struct function *f =
        load_text("return function(e)\n"
                  "  local k = e.k\n"
                  "  if k == 'execute' then os.execute('touch /tmp/gasket-pwned') end\n"
                  "  if k == 'getenv' then return {v = os.getenv('HOME')} end\n"
                  "  if k == 'io' then io.open('/etc/passwd') end\n"
                  "  if k == 'require' then require('os') end\n"
                  "  if k == 'debug' then debug.getinfo(1) end\n"
                  "  if k == 'package' then return package.loaded end\n"
                  "  if k == 'dofile' then dofile('/etc/passwd') end\n"
                  "  if k == 'loadfile' then loadfile('/etc/passwd') end\n"
                  "  if k == 'binary' then load('\\27Lua\\x54\\0\\x19\\x93\\r\\n\\x1a\\n') end\n"
                  "  if k == 'mode' then load('return 1', 'x', 'b') end\n"
                  "  if k == 'reader' then\n"
                  "    local done = false\n"
                  "    local fn, err = load(function() if done then return nil end done = true\n"
                  "                                    return '\\27Lua' end)\n"
                  "    error(err)\n"
                  "  end\n"
                  "  if k == 'dump' then string.dump(print) end\n"
                  "  if k == 'gc' then collectgarbage('stop') end\n"
                  "  if k == 'text' then\n"
                  "    local fn = assert(load('return 40 + ...'))\n"
                  "    e.v = fn(2)\n"
                  "    e.c = collectgarbage('count') > 0 and collectgarbage() == 0\n"
                  "    e.g = load('return x', 'c', 't', {x = 'env'})()\n"
                  "    e.up = ('ab'):rep(2, '-') .. string.format('%d', 5)\n"
                  "    e.nil_global = undefined_name == nil\n"
                  "    return e\n"
                  "  end\n"
                  "end\n",
                  NULL);
    call_fails(f, "{\"k\":\"execute\"}", "os.execute is not available in gasket functions");
    CHECK(access("/tmp/gasket-pwned", F_OK) != 0);
    call_fails(f, "{\"k\":\"getenv\"}", "os.getenv is not available");
    call_fails(f, "{\"k\":\"io\"}", "io is not available");
    call_fails(f, "{\"k\":\"require\"}", "require is not available");
    call_fails(f, "{\"k\":\"debug\"}", "debug is not available");
    call_fails(f, "{\"k\":\"package\"}", "package is not available");
    call_fails(f, "{\"k\":\"dofile\"}", "dofile is not available");
    call_fails(f, "{\"k\":\"loadfile\"}", "loadfile is not available");
    call_fails(f, "{\"k\":\"binary\"}", "binary chunks are not available");
    call_fails(f, "{\"k\":\"mode\"}", "binary chunks are not available");
    call_fails(f, "{\"k\":\"reader\"}", "attempt to load a binary chunk");
    call_fails(f, "{\"k\":\"dump\"}", "field 'dump'");
    call_fails(f, "{\"k\":\"gc\"}", "invalid option 'stop'");
    call_gives(f, "{\"k\":\"text\"}",
               "{\"k\":\"text\",\"c\":true,\"g\":\"env\",\"nil_global\":true,"
               "\"up\":\"ab-ab5\",\"v\":42}");
    function_free(f);
}

/* The metatables the sandbox shares (gasket.array's, gasket.null's, os's
 * and the globals') can be neither read nor replaced, and the strings' is
 * read through a read-only view: adding
 * __gc to gasket.array's would make every array given to a later call run
 * a finalizer outside the function's budget. */
static void test_shared_metatables_protected(void)
{
    struct function *f =
        load_text("fired = 0\n"
                  "return function(e)\n"
                  "  local k = e.k\n"
                  "  if k == 'attack' then\n"
                  "    local mt = getmetatable(gasket.array({}))\n"
                  "    if mt then mt.__gc = function() fired = fired + 1 end end\n"
                  "    return {mt = type(mt)}\n"
                  "  end\n"
                  "  if k == 'count' then collectgarbage() collectgarbage() return {fired = fired} end\n"
                  "  if k == 'replace' then setmetatable(gasket.array({}), {}) end\n"
                  "  if k == 'string' then\n"
                  "    getmetatable('').__index = {}\n"
                  "    return {len = ('abc'):len(), same = getmetatable('') == getmetatable('x')}\n"
                  "  end\n"
                  "  if k == 'global' then setmetatable(_G, {}) end\n"
                  "  if k == 'os' then setmetatable(os, {}) end\n"
                  "  if k == 'all' then\n"
                  "    return {a = getmetatable(gasket.array({})), n = getmetatable(gasket.null),\n"
                  "            s = getmetatable('').__index == string, g = getmetatable(_G), o = getmetatable(os),\n"
                  "            len = ('abc'):len()}\n"
                  "  end\n"
                  "end\n",
                  NULL);
    call_gives(f, "{\"k\":\"attack\"}", "{\"mt\":\"boolean\"}");
    call_gives(f, "{\"k\":\"count\",\"list\":[1,2,3],\"more\":[[4],[5]]}",
               "{\"fired\":0}");
    call_fails(f, "{\"k\":\"replace\"}", "cannot change a protected metatable");
    call_fails(f, "{\"k\":\"string\"}", "the strings' metatable is read-only");
    call_fails(f, "{\"k\":\"global\"}", "cannot change a protected metatable");
    call_fails(f, "{\"k\":\"os\"}", "cannot change a protected metatable");
    call_gives(f, "{\"k\":\"all\"}",
               "{\"a\":false,\"g\":false,\"len\":3,\"n\":false,\"o\":false,\"s\":true}");
    function_free(f);
}

static void test_runtime_error_has_line(void)
{
    struct function *f = load_text("return function(e)\n"
                                   "  local m = e.missing\n"
                                   "  return m.value\n"
                                   "end\n",
                                   NULL);
    char want[128];
    snprintf(want, sizeof want, "%s:3: attempt to index a nil value (local 'm')", script_path);
    call_fails(f, "{}", want);
    function_free(f);
    f = load_text("local function r(n) return 1 + r(n + 1) end\n"
                  "local function c() pcall(c) error('deep') end\n"
                  "return function(e) if e.c then c() end return r(1) end\n",
                  NULL);
    call_fails(f, "{}", ""); /* a stack overflow or the memory limit */
    call_fails(f, "{\"c\":1}", "");
    function_free(f);
    f = load_text("return function(e) error({}) end", NULL);
    call_fails(f, "{}", "error object is a table value");
    function_free(f);
    f = load_text("return function(e) error('plain', 0) end", NULL);
    snprintf(want, sizeof want, "%s: plain", script_path);
    call_fails(f, "{}", want);
    function_free(f);
}

/* ---- load ----------------------------------------------------------------- */

static void test_load_errors(void)
{
    char want[128];
    const char *path = script("return function(e)\n  if e then\nend\n");
    struct function *f = NULL;
    char err[300] = "";
    CHECK_EQ_INT(function_load(&f, path, NULL, err, sizeof err), GK_EINVAL);
    snprintf(want, sizeof want, "%s:4:", path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "'end' expected") != NULL);
    unlink(path);
    load_fails("x = = 1", GK_EINVAL, ":1: unexpected symbol");
    load_fails("\x1bLua\x54\x00binary", GK_EINVAL, "attempt to load a binary chunk");
    load_fails("function handler(e) return e end", GK_EINVAL,
               "the chunk must return the handler function, not nil");
    load_fails("return 1", GK_EINVAL, "not number");
    load_fails("error('at load')", GK_EINVAL, ":1: at load");
    load_fails("local s = string.rep('x', 1e9)", GK_EINVAL, "memory limit reached");
    CHECK_EQ_INT(function_load(&f, "/nonexistent/fn.lua", NULL, err, sizeof err), GK_EIO);
    CHECK(f == NULL);
    CHECK_EQ_STR(err, "cannot open /nonexistent/fn.lua: No such file or directory");
    function_free(NULL);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_gasdetect_matches_builtin_rules);
    RUN(test_nil_drops);
    RUN(test_change_keeps_order);
    RUN(test_round_trip);
    RUN(test_bad_results);
    RUN(test_publish);
    RUN(test_log_now_time);
    RUN(test_instruction_limit);
    RUN(test_memory_limit);
    RUN(test_sandbox);
    RUN(test_shared_metatables_protected);
    RUN(test_runtime_error_has_line);
    RUN(test_load_errors);
    TEST_MAIN_END();
}
