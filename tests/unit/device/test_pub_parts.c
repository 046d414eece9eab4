/* test_pub_parts.c: unit tests of gasket-pub's pure parts: backoff, the
 * simulator, the payload (built and from the user's lines), the line
 * reader and the options (command line and file, with its relative file
 * names). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "device/backoff.h"
#include "device/payload.h"
#include "device/pubopt.h"
#include "device/sim.h"
#include "device/source.h"
#include "test.h"

static void test_backoff(void)
{
    struct backoff b;
    backoff_init(&b, 500, 60000, 42);
    uint64_t prev_max = 0;
    for (int i = 0; i < 12; i++) {
        uint64_t step = 500ull << i < 60000 ? 500ull << i : 60000;
        uint64_t d = backoff_next(&b, 0);
        CHECK(d >= step - step / 2 && d <= step);
        prev_max = step;
    }
    CHECK_EQ_INT(prev_max, 60000);
    CHECK(backoff_next(&b, 120000) == 120000); /* Retry-After is a floor */
    backoff_reset(&b);
    CHECK(backoff_next(&b, 0) <= 500);
    /* two devices with other seeds do not retry in step */
    struct backoff x, y;
    backoff_init(&x, 500, 60000, 1);
    backoff_init(&y, 500, 60000, 2);
    int same = 0;
    for (int i = 0; i < 8; i++)
        same += backoff_next(&x, 0) == backoff_next(&y, 0);
    CHECK(same < 8);
}

static void test_sim(void)
{
    struct sim a, b;
    double va[SIM_NGAS], vb[SIM_NGAS];
    sim_init(&a, 7);
    sim_init(&b, 7);
    int spikes = 0;
    for (int i = 0; i < 3000; i++) {
        sim_next(&a, va);
        sim_next(&b, vb);
        CHECK(memcmp(va, vb, sizeof va) == 0); /* the same seed, the same readings */
        for (int k = 0; k < SIM_NGAS; k++)
            CHECK(va[k] >= 0);
        spikes += va[0] >= 35; /* co's warning level in gasket.example.ini */
    }
    CHECK(spikes > 0 && spikes < 300); /* now and then */
    sim_init(&b, 8);
    sim_next(&b, vb);
    sim_init(&a, 7);
    sim_next(&a, va);
    CHECK(memcmp(va, vb, sizeof va) != 0);
    const char *id, *type;
    sim_sensor_of("nh3", &id, &type);
    CHECK_EQ_STR(id, "0009");
    sim_sensor_of("temperature", &id, &type);
    CHECK_EQ_STR(id, "");
}

static void test_payload_build(void)
{
    struct payload_ctx c = {"2", "37.61, 126.99"};
    struct payload_meas m[2] = {{"co", "0005", "8", 26.2}, {"no2", "0006", "8", 0.123}};
    struct buf b = {0};
    payload_build(&b, &c, m, 2, "2021-09-03 18:14:49");
    buf_putc(&b, '\0');
    CHECK_EQ_STR(b.data,
                 "{\"groupid\":\"2\",\"gps\":\"37.61, 126.99\","
                 "\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"26.20\","
                 "\"createdtime\":\"2021-09-03 18:14:49\"},"
                 "\"no2\":{\"sensorid\":\"0006\",\"sensortype\":\"8\",\"value\":\"0.12\","
                 "\"createdtime\":\"2021-09-03 18:14:49\"}}");
    buf_free(&b);
}

static char *from_json(const char *line, const struct payload_ctx *c, char *err)
{
    struct buf b = {0};
    if (payload_from_json(&b, line, strlen(line), c, "2024-01-02 03:04:05", err, 200) != 0)
        return NULL;
    buf_putc(&b, '\0');
    return b.data;
}

static void test_payload_from_json(void)
{
    struct payload_ctx c = {"5", NULL};
    char err[200], *s;
    s = from_json("{\"co\": 26.2, \"no2\": \"0.12\", \"temperature\": {\"value\": 21}}", &c, err);
    CHECK_EQ_STR(s, "{\"groupid\":\"5\","
                    "\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"26.2\","
                    "\"createdtime\":\"2024-01-02 03:04:05\"},"
                    "\"no2\":{\"sensorid\":\"0006\",\"sensortype\":\"8\",\"value\":\"0.12\","
                    "\"createdtime\":\"2024-01-02 03:04:05\"},"
                    "\"temperature\":{\"value\":21,\"createdtime\":\"2024-01-02 03:04:05\"}}");
    free(s);
    /* the line's own groupid, gps and time; other members kept */
    s = from_json("{\"groupid\":9,\"gps\":\"1, 2\",\"createdtime\":\"2020-01-01 00:00:00\","
                  "\"h2\":1,\"emergency\":true}",
                  &c, err);
    CHECK_EQ_STR(s, "{\"groupid\":\"9\",\"gps\":\"1, 2\","
                    "\"h2\":{\"sensorid\":\"0008\",\"sensortype\":\"8\",\"value\":\"1\","
                    "\"createdtime\":\"2020-01-01 00:00:00\"},\"emergency\":true}");
    free(s);
    static const char *const bad[] = {"{\"co\": 1", "[1,2]", "{\"co\":1,\"co\":2}",
                                      "{\"note\":\"hi\"}", "{\"groupid\":[1],\"co\":1}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = from_json(bad[i], &c, err);
        CHECK(s == NULL);
        free(s);
    }
    struct payload_ctx none = {NULL, NULL};
    CHECK(from_json("{\"co\":1}", &none, err) == NULL);
    CHECK(strstr(err, "groupid") != NULL);
}

struct lines {
    size_t n, too_long;
    char got[8][32];
    size_t nums[8];
};

static void on_line(void *ud, size_t lineno, const char *line, size_t len, int too_long)
{
    struct lines *l = ud;
    if (too_long) {
        l->too_long = lineno;
        return;
    }
    if (l->n < 8) {
        snprintf(l->got[l->n], sizeof l->got[0], "%.*s", (int)len, line);
        l->nums[l->n] = lineno;
    }
    l->n++;
}

static void test_linebuf(void)
{
    struct linebuf lb = {0};
    struct lines l = {0};
    linebuf_feed(&lb, "a\nb", 3, 0, on_line, &l);
    linebuf_feed(&lb, "c\r\n\nd", 5, 0, on_line, &l);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_STR(l.got[1], "bc");
    CHECK_EQ_STR(l.got[2], "");
    linebuf_feed(&lb, "", 0, 1, on_line, &l); /* the end: the last line without "\n" */
    CHECK_EQ_INT(l.n, 4);
    CHECK_EQ_STR(l.got[3], "d");
    CHECK_EQ_INT(l.nums[3], 4);
    /* a line over the limit is reported once with its number, then skipped */
    char *big = malloc(PAYLOAD_MAX_LINE + 10);
    memset(big, 'x', PAYLOAD_MAX_LINE + 10);
    linebuf_feed(&lb, big, PAYLOAD_MAX_LINE + 10, 0, on_line, &l);
    linebuf_feed(&lb, "x\nnext\n", 7, 0, on_line, &l);
    CHECK_EQ_INT(l.too_long, 5);
    CHECK_EQ_INT(l.n, 5);
    CHECK_EQ_STR(l.got[4], "next");
    CHECK_EQ_INT(l.nums[4], 6);
    free(big);
    linebuf_free(&lb);
}

static void test_options(void)
{
    char dir[] = "/tmp/gasket-pubopt-XXXXXX", file[64], ca[64], err[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/pub.conf", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    close(open(ca, O_WRONLY | O_CREAT, 0600)); /* the bundle's CA, next to the file */
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char conf[512];
    int clen = snprintf(conf, sizeof conf,
                        "# made by gasket device add\nurl = https://gw.example:8443/gasdetector\n"
                        "key = k-123\n  group = 7 \ngps = 37.61, 126.99\ninterval = 5\n"
                        "spool-max = 1MiB\nsim = true\ncacert = ca.pem\ncafile = %s\n",
                        file);
    CHECK_EQ_INT(write(fd, conf, (size_t)clen), clen);
    close(fd);
    struct pubopt o;
    char *argv[] = {"gasket-pub", "--config", file, "--interval=0.5", "--name", "pi-7", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 6, argv, err, sizeof err), 0);
    CHECK_EQ_INT(o.source, PUB_SRC_SIM);
    CHECK_EQ_STR(o.url, "https://gw.example:8443/gasdetector");
    CHECK_EQ_STR(o.group, "7");
    CHECK_EQ_STR(o.gps, "37.61, 126.99");
    CHECK(o.interval == 0.5); /* the command line wins */
    CHECK_EQ_INT(o.spool_max, 1 << 20);
    CHECK_EQ_STR(o.topic, "gas/7");
    CHECK_EQ_STR(o.name, "pi-7");
    CHECK_EQ_STR(o.cacert, ca); /* relative to the file's folder */
    CHECK_EQ_STR(o.cafile, file);
    pubopt_free(&o);
    char *to_mqtt[] = {"gasket-pub", "--config", file, "--mqtt", "gw:8883", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 5, to_mqtt, err, sizeof err), 0); /* the file's url is gone */
    CHECK(o.url == NULL);
    CHECK_EQ_STR(o.mqtt, "gw:8883");
    pubopt_free(&o);
    char *both[] = {"gasket-pub", "--sim", "--url", "http://x/", "--mqtt", "gw:1883", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 6, both, err, sizeof err), -1);
    pubopt_free(&o);
    char *two[] = {"gasket-pub", "--sim", "--stdin", "--url", "http://x/", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 5, two, err, sizeof err), -1);
    CHECK(strstr(err, "one source") != NULL);
    pubopt_free(&o);
    char *none[] = {"gasket-pub", "--sim", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 2, none, err, sizeof err), -1);
    pubopt_free(&o);
    char *badname[] = {"gasket-pub", "--sim", "--url", "http://x/", "--name", "a:b", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 6, badname, err, sizeof err), -1);
    pubopt_free(&o);
    fd = open(file, O_WRONLY | O_TRUNC);
    const char badconf[] = "url = http://x/\nsimm = true\n";
    CHECK_EQ_INT(write(fd, badconf, sizeof badconf - 1), (long)sizeof badconf - 1);
    close(fd);
    char *withbad[] = {"gasket-pub", "--config", file, NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 3, withbad, err, sizeof err), -1);
    CHECK(strstr(err, ":2: simm: unknown option") != NULL);
    pubopt_free(&o);
    char *nofile[] = {"gasket-pub", "--config", "/nonexistent/pub.conf", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 3, nofile, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/pub.conf") != NULL);
    pubopt_free(&o);
    char *noca[] = {"gasket-pub", "--sim", "--url", "https://x/", "--cacert", "/nonexistent", NULL};
    CHECK_EQ_INT(pubopt_parse(&o, 6, noca, err, sizeof err), -1); /* checked at start */
    CHECK(strstr(err, "--cacert: /nonexistent: No such file") != NULL);
    pubopt_free(&o);
    unlink(file);
    unlink(ca);
    rmdir(dir);
}

int main(void)
{
    RUN(test_backoff);
    RUN(test_sim);
    RUN(test_payload_build);
    RUN(test_payload_from_json);
    RUN(test_linebuf);
    RUN(test_options);
    TEST_MAIN_END();
}
