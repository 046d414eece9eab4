/* Unit tests for gateway/apikey.c: the token bucket and key checks. */
#include "gateway/apikey.h"
#include "test.h"

static void test_bucket_burst_then_refill(void)
{
    struct bucket b = {0};
    double wait = 0;
    int64_t t = 1000000;
    for (int i = 0; i < 5; i++)
        CHECK(bucket_take(&b, 2.0, 5.0, t, &wait));
    CHECK(!bucket_take(&b, 2.0, 5.0, t, &wait));
    CHECK(wait > 0.49 && wait <= 0.5);
    CHECK(!bucket_take(&b, 2.0, 5.0, t + 400, &wait)); /* 0.8 token */
    CHECK(bucket_take(&b, 2.0, 5.0, t + 500, &wait));  /* 1.0 token */
    /* a long pause refills to burst, never beyond */
    int taken = 0;
    while (bucket_take(&b, 2.0, 5.0, t + 60000, &wait))
        taken++;
    CHECK_EQ_INT(taken, 5);
}

static void test_bucket_clock_backwards(void)
{
    struct bucket b = {0};
    double wait = 0;
    CHECK(bucket_take(&b, 1.0, 1.0, 5000, &wait));
    CHECK(!bucket_take(&b, 1.0, 1.0, 4000, &wait)); /* no refill from a step back */
    CHECK(!bucket_take(&b, 1.0, 1.0, 5500, &wait));
    CHECK(bucket_take(&b, 1.0, 1.0, 6000, &wait));
}

static void test_keys(void)
{
    struct cfg_apikey cfg[2] = {
        {.name = "a", .key = "aaaaaaaaaaaaaaaaaaaaaaaa", .rate = 1, .burst = 2, .routes = NULL},
        {.name = "b", .key = "bbbbbbbbbbbbbbbbbbbbbbbb", .rate = 1, .burst = 1,
         .routes = "/only"},
    };
    struct apikeys *k = apikeys_new();
    apikeys_configure(k, cfg, 2);
    double wait;
    const struct principal *who = NULL;
    CHECK_EQ_INT(apikeys_check(k, NULL, "/x", 1000, &wait, &who), APIKEY_FORBIDDEN);
    CHECK_EQ_INT(apikeys_check(k, "nope", "/x", 1000, &wait, &who), APIKEY_FORBIDDEN);
    CHECK_EQ_INT(apikeys_check(k, "aaaaaaaaaaaaaaaaaaaaaaa", "/x", 1000, &wait, &who),
                 APIKEY_FORBIDDEN); /* a prefix of a key is not the key */
    CHECK_EQ_INT(apikeys_check(k, "aaaaaaaaaaaaaaaaaaaaaaaa", "/x", 1000, &wait, &who), APIKEY_OK);
    CHECK_EQ_STR(who->name, "a");
    CHECK_EQ_INT(apikeys_check(k, "aaaaaaaaaaaaaaaaaaaaaaaa", "/x", 1000, &wait, &who), APIKEY_OK);
    CHECK_EQ_INT(apikeys_check(k, "aaaaaaaaaaaaaaaaaaaaaaaa", "/x", 1000, &wait, &who),
                 APIKEY_THROTTLED);
    CHECK_EQ_INT(apikeys_check(k, "bbbbbbbbbbbbbbbbbbbbbbbb", "/x", 1000, &wait, &who),
                 APIKEY_FORBIDDEN);
    CHECK_EQ_INT(apikeys_check(k, "bbbbbbbbbbbbbbbbbbbbbbbb", "/only", 1000, &wait, &who),
                 APIKEY_OK);
    /* reconfiguring keeps the empty bucket of "a" */
    apikeys_configure(k, cfg, 1);
    CHECK_EQ_INT(apikeys_count(k), 1);
    CHECK_EQ_INT(apikeys_check(k, "aaaaaaaaaaaaaaaaaaaaaaaa", "/x", 1000, &wait, &who),
                 APIKEY_THROTTLED);
    CHECK_EQ_INT(apikeys_check(k, "bbbbbbbbbbbbbbbbbbbbbbbb", "/only", 1000, &wait, &who),
                 APIKEY_FORBIDDEN);
    apikeys_free(k);
}

static void test_principal_credentials(void)
{
    struct cfg_apikey cfg[] = {
        {.name = "dev7", .key = "kkkkkkkkkkkkkkkkkkkkkkkk", .rate = 1, .burst = 1,
         .routes = "/gasdetector", .mqtt_user = "pi7"},
        {.name = "cam", .cert_cn = "pi-8.example", .rate = 1, .burst = 1, .read = "other"},
        {.name = "root", .key = "rrrrrrrrrrrrrrrrrrrrrrrr", .rate = 1, .burst = 1, .admin = 1,
         .routes = "/none"},
    };
    struct apikeys *k = apikeys_new();
    apikeys_configure(k, cfg, 3);
    const struct principal *p = apikeys_find(k, "kkkkkkkkkkkkkkkkkkkkkkkk");
    CHECK(p && strcmp(p->name, "dev7") == 0);
    CHECK(apikeys_find(k, "") == NULL);
    CHECK(apikeys_find(k, NULL) == NULL);
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_MQTT_USER, "pi7") == p);
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_MQTT_USER, "dev7") == NULL);
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_KEY, "dev7") == p);
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_KEY, "cam") == NULL); /* has no key */
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_CERT, "pi-8.example") != NULL);
    CHECK(apikeys_for_mqtt(k, APIKEY_CRED_CERT, "pi7") == NULL);
    CHECK(apikeys_mqtt_login(k, "dev7", 4, "kkkkkkkkkkkkkkkkkkkkkkkk", 24));
    CHECK(!apikeys_mqtt_login(k, "dev7", 4, "kkkkkkkkkkkkkkkkkkkkkkkj", 24));
    CHECK(!apikeys_mqtt_login(k, "dev7", 4, "kkkkkkkkkkkkkkkkkkkkkkk", 23));
    CHECK(!apikeys_mqtt_login(k, "root", 4, "kkkkkkkkkkkkkkkkkkkkkkkk", 24));
    CHECK(!apikeys_mqtt_login(k, "cam", 3, "", 0));
    CHECK(principal_may_route(p, "/gasdetector"));
    CHECK(!principal_may_route(p, "/other"));
    const struct principal *root = apikeys_find(k, "rrrrrrrrrrrrrrrrrrrrrrrr");
    CHECK(root && principal_may_route(root, "/other"));
    apikeys_free(k);
}

int main(void)
{
    RUN(test_principal_credentials);
    RUN(test_bucket_burst_then_refill);
    RUN(test_bucket_clock_backwards);
    RUN(test_keys);
    TEST_MAIN_END();
}
