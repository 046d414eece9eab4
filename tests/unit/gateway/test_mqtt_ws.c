/* test_mqtt_ws.c: the Origin check of WebSocket /mqtt (mqtt_ws_origin_ok). */
#include "gateway/mqtt_ws.h"
#include "test.h"

static void test_no_origin(void)
{
    CHECK(mqtt_ws_origin_ok(NULL, "h:8080", 0, NULL));
    CHECK(mqtt_ws_origin_ok(NULL, NULL, 1, NULL));
}

static void test_own_origin(void)
{
    CHECK(mqtt_ws_origin_ok("http://h:8080", "h:8080", 0, NULL));
    CHECK(mqtt_ws_origin_ok("HTTP://H:8080/", "h:8080", 0, NULL));
    CHECK(mqtt_ws_origin_ok("https://h:8443", "h:8443", 1, NULL));
    /* the other scheme on the same host and port (a TLS proxy, paho) */
    CHECK(mqtt_ws_origin_ok("https://h:8080", "h:8080", 0, NULL));
    /* default ports may be left out */
    CHECK(mqtt_ws_origin_ok("http://h", "h:80", 0, NULL));
    CHECK(mqtt_ws_origin_ok("https://h:443", "h", 1, NULL));
    CHECK(mqtt_ws_origin_ok("http://[::1]:8080", "[::1]:8080", 0, NULL));
}

static void test_other_origins(void)
{
    CHECK(!mqtt_ws_origin_ok("http://evil.example", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("http://h:8081", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("http://h:8080.evil", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("http://h", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("null", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("ftp://h:8080", "h:8080", 0, NULL));
    CHECK(!mqtt_ws_origin_ok("http://h:8080", NULL, 0, NULL)); /* no Host */
    CHECK(!mqtt_ws_origin_ok("", "h:8080", 0, NULL));
}

static void test_allowed_list(void)
{
    const char *list = "https://dash.example:8443, http://lab.example/ ,";
    CHECK(mqtt_ws_origin_ok("https://dash.example:8443", "h:8080", 0, list));
    CHECK(mqtt_ws_origin_ok("HTTPS://DASH.example:8443", "h:8080", 0, list));
    CHECK(mqtt_ws_origin_ok("http://lab.example", "h:8080", 0, list));
    CHECK(!mqtt_ws_origin_ok("https://dash.example", "h:8080", 0, list));
    CHECK(!mqtt_ws_origin_ok("https://dash.example:8443.evil", "h:8080", 0, list));
    CHECK(!mqtt_ws_origin_ok("", "h:8080", 0, list));
}

int main(void)
{
    RUN(test_no_origin);
    RUN(test_own_origin);
    RUN(test_other_origins);
    RUN(test_allowed_list);
    TEST_MAIN_END();
}
