/* Unit tests for core/config.c: defaults, every value type, and the errors
 * a user sees with file and line. */
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/gasket-test-config-XXXXXX";

/* Writes text to the temp file and loads it; returns the load's code. */
static int load(struct config *c, const char *text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return config_load(c, path, err, errlen);
}

/* Checks that text is refused with an error containing want (and its line). */
static void refused(const char *text, const char *want)
{
    struct config c;
    char err[600];
    CHECK_EQ_INT(load(&c, text, err, sizeof err), GK_ECONFIG);
    if (!strstr(err, want)) {
        fprintf(stderr, "  error was: %s\n  wanted:    %s\n", err, want);
        CHECK(strstr(err, want));
    }
}

static void test_defaults(void)
{
    struct config c;
    char err[600];
    CHECK_EQ_INT(config_load(&c, NULL, err, sizeof err), 0);
    CHECK_EQ_STR(c.server.data_dir, "./data");
    CHECK(c.server.timezone == NULL);
    CHECK_EQ_INT(c.server.log_level, LOG_INFO);
    CHECK_EQ_INT(c.server.durability, CFG_DURABILITY_FULL);
    CHECK_EQ_STR(c.http.listen, "0.0.0.0:8080");
    CHECK_EQ_INT(c.http.max_body, 1 << 20);
    CHECK_EQ_INT(c.http.header_timeout, 10000);
    CHECK_EQ_STR(c.mqtt.listen, "0.0.0.0:1883");
    CHECK_EQ_INT(c.mqtt.max_packet_size, 256 * 1024);
    CHECK_EQ_INT(c.nroutes, 1);
    CHECK_EQ_STR(c.routes[0].path, "/gasdetector");
    CHECK_EQ_STR(c.routes[0].index, "gasdetect");
    CHECK_EQ_STR(c.routes[0].topic, "pi/1");
    CHECK_EQ_INT(c.napikeys, 0);
    CHECK_EQ_INT(c.npending, 0);
    config_free(&c);
}

static void test_full_file(void)
{
    struct config c;
    char err[600];
    int rc = load(&c,
                  "; comment\n"
                  "[server]\n"
                  "data_dir = /tmp/x\n"
                  "timezone = Asia/Seoul\n"
                  "durability = normal\n"
                  "log_level = debug\n"
                  "[http]\n"
                  "max_body = 64KiB\n"
                  "idle_timeout = 2m\n"
                  "dashboard_users = users.txt\n"
                  "[route /gasdetector]\n"
                  "index = gasdetect\n"
                  "[route /other]\n"
                  "[apikey pi]\n"
                  "key = 0123456789abcdef0123\n"
                  "rate = 2.5\n"
                  "burst = 5\n"
                  "routes = /gasdetector, /other\n"
                  "[rule no2]\n"
                  "field = no2.value\n"
                  "warn = 88\n"
                  "[index gasdetect]\n"
                  "retention = 30d\n",
                  err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_EQ_STR(c.server.timezone, "Asia/Seoul");
    CHECK_EQ_INT(c.server.durability, CFG_DURABILITY_NORMAL);
    CHECK_EQ_INT(c.server.log_level, LOG_DEBUG);
    CHECK_EQ_INT(c.http.max_body, 65536);
    CHECK_EQ_INT(c.http.idle_timeout, 120000);
    CHECK_EQ_INT(c.nroutes, 2);
    CHECK_EQ_STR(c.routes[1].path, "/other");
    CHECK_EQ_STR(c.routes[1].index, "gasdetect");
    CHECK_EQ_INT(c.napikeys, 1);
    CHECK(c.apikeys[0].rate == 2.5 && c.apikeys[0].burst == 5);
    CHECK(config_route_allowed(c.apikeys[0].routes, "/other"));
    CHECK(!config_route_allowed(c.apikeys[0].routes, "/nope"));
    CHECK(config_route_allowed(NULL, "/nope"));
    CHECK(c.nrules == 1 && c.rules[0].has_warn && !c.rules[0].has_alarm);
    CHECK_EQ_INT(c.indexes[0].retention, 30LL * 86400000);
    CHECK_EQ_STR(c.http.dashboard_users, "users.txt");
    CHECK_EQ_INT(c.http.dashboard_login, CFG_LOGIN_AUTO);
    CHECK_EQ_INT(c.http.dashboard_session, 12 * 3600 * 1000L);
    CHECK(c.rules[0].unit == NULL);
    /* every key is built: none is reported as pending */
    CHECK_EQ_INT(c.npending, 0);
    config_free(&c);
}

static void test_errors(void)
{
    refused("[server]\nbogus = 1\n", ":2: unknown key 'bogus' in [server]");
    refused("[nope]\n", ":1: unknown section [nope]");
    refused("x = 1\n", ":1: key 'x' outside of any section");
    refused("[http]\nmax_body = lots\n", ":2: bad value for max_body 'lots'");
    refused("[http]\nmax_body = 0\n", ":2: bad value for max_body '0': out of range");
    refused("[server]\ndurability = maybe\n", "expected one of: full normal");
    refused("[server]\nlog_level = info\nlog_level = debug\n", ":3: duplicate key 'log_level'");
    refused("[route /a]\n[route /a]\n", ":2: duplicate section [route /a]");
    refused("[route]\n", ":1: section [route] needs a name");
    refused("[route a]\n", ":1: route path 'a' must start with '/'");
    refused("[route /_dashboard/x]\n", ":1: route path '/_dashboard/x' is the dashboard's");
    refused("[route /a]\nindex = Bad\n", ":1: [route /a] index must be lowercase");
    refused("[apikey k]\nrate = 1\n", ":1: [apikey k] has no key");
    refused("[http]\ndashboard_login = maybe\n", "expected one of: auto on off");
    refused("[http]\ndashboard_session = 10ms\n", "bad value for dashboard_session '10ms'");
    refused("[rule r]\nfield = no2.value\nwarn = 1\nunit = parts per million!\n",
            ":1: [rule r] unit must be at most 16 bytes of text");
    refused("[apikey k]\nkey = short\n", ":1: [apikey k] key is shorter than 20");
    refused("[apikey k]\nkey = 0123456789abcdef0123\nroutes = /x\n",
            ":1: [apikey k] names unknown route '/x'");
    refused("[apikey a]\nkey = 0123456789abcdef0123\n[apikey b]\nkey = 0123456789abcdef0123\n",
            ":3: [apikey b] has the same key as [apikey a]");
    refused("[server]\ntimezone = Mars/Olympus\n", "unknown timezone 'Mars/Olympus'");
    refused("[http]\ntls_listen = :8443\n", "tls_listen needs tls_cert and tls_key");
    refused("[server]\nnot a key line\n", ":2: syntax error");
    refused("[rule r]\nwarn = 3\n", ":1: [rule r] has no field");
    refused("[mqtt]\nmax_inflight = 1.5\n", "expected an integer");
    char longline[400];
    snprintf(longline, sizeof longline, "[server]\ndata_dir = /%0300d\n", 0);
    refused(longline, ":2: line longer than");
}

static void test_missing_file(void)
{
    struct config c;
    char err[600];
    CHECK_EQ_INT(config_load(&c, "/nonexistent/gasket.ini", err, sizeof err), GK_ECONFIG);
    CHECK(strstr(err, "/nonexistent/gasket.ini: cannot open"));
}

static void test_value_parsers(void)
{
    size_t sz;
    int64_t ms;
    int b;
    CHECK(config_parse_size("1MiB", &sz) == 0 && sz == 1048576);
    CHECK(config_parse_size("512 k", &sz) == 0 && sz == 524288);
    CHECK(config_parse_size("1.5", &sz) != 0);
    CHECK(config_parse_size("-1", &sz) != 0);
    CHECK(config_parse_duration("250ms", &ms) == 0 && ms == 250);
    CHECK(config_parse_duration("5", &ms) == 0 && ms == 5000);
    CHECK(config_parse_duration("1.5h", &ms) == 0 && ms == 5400000);
    CHECK(config_parse_duration("3 fortnights", &ms) != 0);
    /* past a 32-bit long: 50 days of milliseconds (a retention), kept whole */
    CHECK(config_parse_duration("50d", &ms) == 0 && ms == 4320000000LL);
    CHECK(config_parse_bool("Yes", &b) == 0 && b == 1);
    CHECK(config_parse_bool("off", &b) == 0 && b == 0);
    CHECK(config_parse_bool("maybe", &b) != 0);
}

static void test_add_apikey(void)
{
    struct config c;
    char err[600];
    CHECK_EQ_INT(config_load(&c, NULL, err, sizeof err), 0);
    config_add_apikey(&c, "default", "0123456789abcdef0123456789");
    CHECK_EQ_INT(c.napikeys, 1);
    CHECK_EQ_STR(c.apikeys[0].key, "0123456789abcdef0123456789");
    CHECK(c.apikeys[0].rate == 100 && c.apikeys[0].burst == 200);
    config_free(&c);
}

/* [server] apikeys_file: its [apikey] sections join the file's; anything
 * else there, a duplicate name across the files or a bad group is refused
 * with the apikeys_file's name and line. */
static void test_apikeys_file(void)
{
    static const char dev[] = "/tmp/gasket-test-config-devices.ini";
    char text[512], err[600];
    struct config c;
    FILE *f = fopen(dev, "w");
    fputs("; devices\n[apikey pi-7]\nkey = 0123456789abcdef0123\ncert_cn = pi-7\n"
          "groups = 7, 7b\nroutes = /gasdetector\n", f);
    fclose(f);
    snprintf(text, sizeof text, "[server]\napikeys_file = %s\n[apikey admin]\n"
             "key = admin-0123456789abcdef\nadmin = true\n", dev);
    CHECK_EQ_INT(load(&c, text, err, sizeof err), 0);
    CHECK_EQ_INT(c.napikeys, 2);
    if (c.napikeys == 2) {
        CHECK_EQ_STR(c.apikeys[1].name, "pi-7");
        CHECK_EQ_STR(c.apikeys[1].groups, "7, 7b");
        CHECK_EQ_STR(c.apikeys[1].file, dev);
        CHECK(c.apikeys[0].groups == NULL);
    }
    config_free(&c);
    f = fopen(dev, "a");
    fputs("[apikey admin]\nkey = other-0123456789abcdef\n", f);
    fclose(f);
    refused(text, "gasket-test-config-devices.ini:7: duplicate section [apikey admin]");
    f = fopen(dev, "w");
    fputs("[apikey pi-8]\nkey = 0123456789abcdef0124\n[http]\n", f);
    fclose(f);
    refused(text, "devices.ini:3: [http] does not belong in an apikeys_file");
    f = fopen(dev, "w");
    fputs("\n[apikey pi-8]\nkey = 0123456789abcdef0124\ngroups = a/b\n", f);
    fclose(f);
    refused(text, "devices.ini:2: [apikey pi-8] groups: 'a/b' is not a group id");
    remove(dev);
    refused(text, "devices.ini: cannot open");
}

static char *slurp(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return NULL;
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Every key of the table is documented in docs/config.md (under its
 * section's heading) and in gasket.example.ini, and the example loads. */
static void test_every_key_documented(void)
{
    char name[64], sect[32], needle[80];
    for (size_t i = 0; config_key_name(i, name, sizeof name); i++) {
        char *key = strchr(name, ' ') + 1;
        snprintf(sect, sizeof sect, "%.*s", (int)(key - name - 3), name + 1);
        const char *doc = slurp("docs/config.md");
        CHECK(doc != NULL);
        if (!doc)
            return;
        snprintf(needle, sizeof needle, "## [%s", sect);
        const char *at = strstr(doc, needle);
        const char *end = at ? strstr(at + 1, "\n## ") : NULL;
        snprintf(needle, sizeof needle, "`%s`", key);
        const char *hit = at ? strstr(at, needle) : NULL;
        if (!hit || (end && hit > end))
            fprintf(stderr, "  docs/config.md lacks %s\n", name);
        CHECK(hit && (!end || hit < end));
        const char *ex = slurp("gasket.example.ini");
        CHECK(ex != NULL);
        if (!ex)
            return;
        snprintf(needle, sizeof needle, "[%s", sect);
        at = strstr(ex, needle);
        char a[80], b[80];
        snprintf(a, sizeof a, "\n%s =", key);
        snprintf(b, sizeof b, "\n;%s =", key);
        if (!at || (!strstr(at, a) && !strstr(at, b)))
            fprintf(stderr, "  gasket.example.ini lacks %s\n", name);
        CHECK(at && (strstr(at, a) || strstr(at, b)));
    }
    struct config c;
    char err[600] = "";
    CHECK_EQ_INT(config_load(&c, "gasket.example.ini", err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    config_free(&c);
}

int main(void)
{
    int fd = mkstemp(path);
    close(fd);
    RUN(test_defaults);
    RUN(test_full_file);
    RUN(test_errors);
    RUN(test_missing_file);
    RUN(test_value_parsers);
    RUN(test_add_apikey);
    RUN(test_apikeys_file);
    RUN(test_every_key_documented);
    unlink(path);
    TEST_MAIN_END();
}
