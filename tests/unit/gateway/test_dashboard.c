/* Unit tests for the pure parts of the dashboard's login: the failed-login
 * limiter (gateway/dash_limit.c), the session table (gateway/dash_session.c)
 * and the session JSON's config (gateway/dash_config.c). */
#include "core/config.h"
#include "core/err.h"
#include "gateway/dash_limit.h"
#include "gateway/dash_session.h"
#include "gateway/dashboard.h"
#include "mqtt/auth.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- dash_limit ---- */

static void test_limit_per_address(void)
{
    struct dash_limit *l = dash_limit_new(16);
    double wait = 0;
    int64_t t = 1000000;
    for (int i = 0; i < DASH_LIMIT_ADDR_BURST; i++)
        CHECK(dash_limit_take(l, "10.0.0.1", "u", t, &wait));
    CHECK(!dash_limit_take(l, "10.0.0.1", "u", t, &wait));
    CHECK(wait > 9.9 && wait <= 10.0);
    CHECK(!dash_limit_take(l, "10.0.0.1", "other user", t, &wait)); /* the address decides */
    CHECK(dash_limit_take(l, "10.0.0.2", "u", t, &wait));          /* another address */
    CHECK(!dash_limit_take(l, "10.0.0.1", "u", t + 9000, &wait));
    CHECK(dash_limit_take(l, "10.0.0.1", "u", t + 10000, &wait)); /* one per 10 s */
    CHECK(!dash_limit_take(l, "10.0.0.1", "u", t + 10000, &wait));
    /* a success gives its tokens back: successes never lock anyone out */
    struct dash_limit *m = dash_limit_new(16);
    for (int i = 0; i < 3 * DASH_LIMIT_ADDR_BURST; i++) {
        CHECK(dash_limit_take(m, "10.0.0.3", "u", t, &wait));
        dash_limit_refund(m, "10.0.0.3", "u");
    }
    dash_limit_free(m);
    dash_limit_free(l);
}

static void test_limit_per_user(void)
{
    struct dash_limit *l = dash_limit_new(64);
    double wait = 0;
    char addr[32];
    for (int i = 0; i < DASH_LIMIT_USER_BURST; i++) {
        snprintf(addr, sizeof addr, "10.0.1.%d", i);
        CHECK(dash_limit_take(l, addr, "alice", 5000, &wait));
    }
    CHECK(!dash_limit_take(l, "10.0.2.1", "alice", 5000, &wait)); /* from anywhere */
    CHECK(wait > 9.9 && wait <= 10.0);
    /* the refused attempt took nothing from its address */
    for (int i = 0; i < DASH_LIMIT_ADDR_BURST; i++)
        CHECK(dash_limit_take(l, "10.0.2.1", "bob", 5000, &wait));
    dash_limit_free(l);
}

static void test_limit_is_bounded(void)
{
    struct dash_limit *l = dash_limit_new(3);
    double wait = 0;
    char addr[32];
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof addr, "10.1.0.%d", i);
        dash_limit_take(l, addr, addr, 1000 + i, &wait);
        CHECK(dash_limit_count(l, 0) <= 3 && dash_limit_count(l, 1) <= 3);
    }
    /* a name that failed recently stays while refilled ones make room */
    struct dash_limit *m = dash_limit_new(2);
    for (int i = 0; i < DASH_LIMIT_ADDR_BURST; i++)
        CHECK(dash_limit_take(m, "attacker", "u", 195000, &wait));
    CHECK(dash_limit_take(m, "quiet", "v", 1000, &wait)); /* then idle: refilled by 200 s */
    CHECK(dash_limit_take(m, "new", "w", 200000, &wait)); /* evicts "quiet", not "attacker" */
    CHECK(!dash_limit_take(m, "attacker", "x", 200001, &wait));
    dash_limit_free(m);
    dash_limit_free(l);
}

/* ---- dash_session ---- */

static int ended;

static void on_end(void *ud)
{
    ended += *(int *)ud;
}

static int role_of(void *ud, const char *user)
{
    (void)ud;
    return strcmp(user, "gone") == 0 ? GK_ENOTFOUND : MQTT_PASSWD_VIEWER;
}

static void test_sessions(void)
{
    struct dash_sessions *t = dash_sessions_new(100);
    char tok[DASH_TOKEN_HEX + 1], tok2[DASH_TOKEN_HEX + 1];
    struct dash_session *s =
        dash_sessions_create(t, "alice", MQTT_PASSWD_ADMIN, 2000, 1000, 1700000000000, tok);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_EQ_INT(strlen(tok), DASH_TOKEN_HEX);
    CHECK_EQ_INT(strspn(tok, "0123456789abcdef"), DASH_TOKEN_HEX);
    CHECK_EQ_INT(strlen(s->csrf), DASH_TOKEN_HEX);
    CHECK(strcmp(s->csrf, tok) != 0 && strcmp(s->key, tok) != 0); /* only a hash is kept */
    CHECK_EQ_INT(s->expires_ms, 1700000002000);
    CHECK(s->principal.read_all && s->principal.ack_all && !s->principal.admin);
    CHECK_EQ_STR(s->principal.name, "alice");
    CHECK(s->principal.routes && !s->principal.routes[0]); /* no route */
    CHECK(dash_sessions_find(t, tok, 2999) == s);
    char bad[DASH_TOKEN_HEX + 1];
    memcpy(bad, tok, sizeof bad);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    CHECK(dash_sessions_find(t, bad, 1000) == NULL);
    CHECK(dash_sessions_find(t, "abc", 1000) == NULL);
    CHECK(dash_sessions_find(t, NULL, 1000) == NULL);
    bad[0] = 'G';
    CHECK(dash_sessions_find(t, bad, 1000) == NULL);
    struct dash_session *v =
        dash_sessions_create(t, "gone", MQTT_PASSWD_ADMIN, 60000, 1000, 1700000000000, tok2);
    struct dash_watch w;
    int one = 1;
    ended = 0;
    dash_sessions_watch(v, &w, on_end, &one);
    /* expiry: the first one ends when met after its lifetime */
    CHECK(dash_sessions_find(t, tok, 3000) == NULL);
    CHECK_EQ_INT(dash_sessions_count(t), 1);
    /* a user gone from the file: its session ends, its watch is told */
    s = dash_sessions_create(t, "bob", MQTT_PASSWD_ADMIN, 60000, 1000, 0, tok);
    dash_sessions_update(t, role_of, NULL);
    CHECK_EQ_INT(ended, 1);
    CHECK(w.s == NULL);
    CHECK(dash_sessions_find(t, tok2, 1000) == NULL);
    CHECK(dash_sessions_find(t, tok, 1000) == s);
    CHECK(s->role == MQTT_PASSWD_VIEWER && !s->principal.ack_all); /* the new role */
    dash_sessions_unwatch(&w); /* detached already: nothing */
    /* an unwatched watch is not told */
    dash_sessions_watch(s, &w, on_end, &one);
    dash_sessions_unwatch(&w);
    dash_sessions_end(t, s);
    CHECK_EQ_INT(ended, 1);
    CHECK_EQ_INT(dash_sessions_count(t), 0);
    dash_sessions_free(t);
}

static void test_sessions_bounded(void)
{
    struct dash_sessions *t = dash_sessions_new(3);
    char tok[5][DASH_TOKEN_HEX + 1];
    struct dash_watch w;
    int one = 1;
    ended = 0;
    for (int i = 0; i < 5; i++) {
        struct dash_session *s = dash_sessions_create(t, "u", 0, 60000, 1000 + i, 0, tok[i]);
        if (i == 0)
            dash_sessions_watch(s, &w, on_end, &one);
    }
    CHECK_EQ_INT(dash_sessions_count(t), 3);
    CHECK_EQ_INT(ended, 1); /* the oldest went first */
    CHECK(dash_sessions_find(t, tok[0], 2000) == NULL);
    CHECK(dash_sessions_find(t, tok[1], 2000) == NULL);
    for (int i = 2; i < 5; i++)
        CHECK(dash_sessions_find(t, tok[i], 2000) != NULL);
    /* a sweep ends the expired ones, oldest first */
    dash_sessions_sweep(t, 61003);
    CHECK_EQ_INT(dash_sessions_count(t), 1);
    dash_sessions_free(t);
}

/* ---- dash_config ---- */

static void test_config_json(void)
{
    char path[] = "/tmp/gasket-test-dash-XXXXXX", err[600] = "";
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    const char *ini = "[server]\ntimezone = Asia/Seoul\n"
                      "[route /a]\nindex = one\noffline_after = 90s\n"
                      "[route /b]\nindex = two\ntopic = pi/2\noffline_after = 10m\n"
                      "[route /c]\nindex = one\n"
                      "[rule no2]\nfield = no2.value\nwarn = 88\nalarm = 120\nclear = 80\n"
                      "groups = 1, 2\nunit = ppm\n"
                      "[rule o2]\nfield = o2.value\nop = <=\nalarm = 19.5\ntopic = pi/2\n";
    if (write(fd, ini, strlen(ini)) != (ssize_t)strlen(ini))
        CHECK(0);
    close(fd);
    struct config c;
    CHECK_EQ_INT(config_load(&c, path, err, sizeof err), 0);
    unlink(path);
    char *text = dashboard_config_json(&c);
    json_t *j = json_loads(text, 0, NULL);
    json_t *want = json_loads(
        "{\"indexes\":[\"one\",\"two\"],\"live_topic\":\"gasket/live\","
        "\"alert_topics\":[\"pi/1\",\"pi/2\"],\"timezone\":\"Asia/Seoul\","
        "\"rules\":[{\"name\":\"no2\",\"measurement\":\"no2\",\"op\":\">=\",\"warn\":88.0,"
        "\"alarm\":120.0,\"clear\":80.0,\"groups\":[\"1\",\"2\"],\"unit\":\"ppm\"},"
        "{\"name\":\"o2\",\"measurement\":\"o2\",\"op\":\"<=\",\"warn\":null,\"alarm\":19.5,"
        "\"clear\":19.5,\"groups\":null,\"unit\":null}],\"offline_after\":600}",
        0, NULL);
    CHECK(j && want && json_equal(j, want));
    if (!(j && want && json_equal(j, want)))
        fprintf(stderr, "  got %s\n", text);
    json_decref(j);
    json_decref(want);
    free(text);
    config_free(&c);
    /* no timezone: the system's zone, by name */
    CHECK_EQ_INT(config_load(&c, NULL, err, sizeof err), 0);
    text = dashboard_config_json(&c);
    j = json_loads(text, 0, NULL);
    const char *zone = json_string_value(json_object_get(j, "timezone"));
    CHECK(zone && zone[0] && strcmp(zone, "localtime") != 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "offline_after")), 0);
    json_decref(j);
    free(text);
    config_free(&c);
}

int main(void)
{
    RUN(test_limit_per_address);
    RUN(test_limit_per_user);
    RUN(test_limit_is_bounded);
    RUN(test_sessions);
    RUN(test_sessions_bounded);
    RUN(test_config_json);
    TEST_MAIN_END();
}
