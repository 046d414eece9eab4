/* test_reading.c: unit tests for gateway/reading.c, the device payload
 * validator: a table of valid and invalid bodies, the one pass against the
 * tree path on them and on edge cases, then the stored document. */
#include <math.h>
#include <stdlib.h>

#include "core/datetime.h"
#include "core/err.h"
#include "core/mem.h"
#include "gateway/reading.h"
#include "gateway/reading_scan.h"
#include "gateway/reading_text.h"
#include "test.h"

#define SEED                                                                                       \
    "{\"groupid\":\"2\",\"gps\":\"37.61002501514269, 126.99636868892937\","                        \
    "\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"26.20\","                      \
    "\"createdtime\":\"2021-09-03 18:14:49\"},"                                                    \
    "\"no2\":{\"sensorid\":\"0006\",\"sensortype\":\"8\",\"value\":\"90.1\","                      \
    "\"createdtime\":\"2021-09-03 18:14:49\"},"                                                    \
    "\"c2h5oh\":{\"sensorid\":\"0007\",\"sensortype\":\"8\",\"value\":\"1.5\","                    \
    "\"createdtime\":\"2021-09-03 18:14:49\"},"                                                    \
    "\"h2\":{\"sensorid\":\"0008\",\"sensortype\":\"8\",\"value\":\"3\","                          \
    "\"createdtime\":\"2021-09-03 18:14:49\"}}"

/* A body with one measurement no2 whose members are M. */
#define NO2(M) "{\"groupid\":\"2\",\"no2\":{" M "}}"
/* A body with no2.createdtime set to T. */
#define TIME(T) NO2("\"value\":1,\"createdtime\":\"" T "\"")

struct invalid_case {
    const char *name;
    const char *body;
    size_t len; /* 0: strlen(body) */
    const char *field;
};

static const struct invalid_case invalid[] = {
    {"empty body", "", 0, ""},
    {"whitespace only", " \r\n\t ", 0, ""},
    {"not JSON", "groupid=2", 0, ""},
    {"truncated", "{\"groupid\":\"2\"", 0, ""},
    {"trailing garbage", "{\"groupid\":\"2\"} x", 0, ""},
    {"top-level array", "[{\"groupid\":\"2\"}]", 0, ""},
    {"top-level string", "\"groupid\"", 0, ""},
    {"missing groupid", "{\"no2\":{\"value\":1}}", 0, "groupid"},
    {"groupid object", "{\"groupid\":{\"value\":1}}", 0, "groupid"},
    {"groupid empty", "{\"groupid\":\"\"}", 0, "groupid"},
    {"groupid null", "{\"groupid\":null}", 0, "groupid"},
    {"groupid bool", "{\"groupid\":true}", 0, "groupid"},
    {"value abc", NO2("\"value\":\"abc\""), 0, "no2.value"},
    {"value NaN", NO2("\"value\":\"NaN\""), 0, "no2.value"},
    {"value nan", NO2("\"value\":\"nan\""), 0, "no2.value"},
    {"value 1e999 string", NO2("\"value\":\"1e999\""), 0, "no2.value"},
    {"value -1e999 string", NO2("\"value\":\"-1e999\""), 0, "no2.value"},
    {"value 1e999 number", NO2("\"value\":1e999"), 0, "no2.value"},
    {"value -1e999 number", NO2("\"value\":-1e999,\"sensorid\":1"), 0, "no2.value"},
    {"value huge integer", NO2("\"value\":123456789012345678901234567890"), 0, "no2.value"},
    {"value inf", NO2("\"value\":\"inf\""), 0, "no2.value"},
    {"value Infinity", NO2("\"value\":\"Infinity\""), 0, "no2.value"},
    {"value hex", NO2("\"value\":\"0x10\""), 0, "no2.value"},
    {"value empty", NO2("\"value\":\"\""), 0, "no2.value"},
    {"value blank", NO2("\"value\":\"  \""), 0, "no2.value"},
    {"value trailing text", NO2("\"value\":\"12 ppm\""), 0, "no2.value"},
    {"value two numbers", NO2("\"value\":\"1 2\""), 0, "no2.value"},
    {"value null", NO2("\"value\":null"), 0, "no2.value"},
    {"value bool", NO2("\"value\":true"), 0, "no2.value"},
    {"value object", NO2("\"value\":{\"a\":1}"), 0, "no2.value"},
    {"sensorid bool", NO2("\"value\":1,\"sensorid\":false"), 0, "no2.sensorid"},
    {"sensortype array", NO2("\"value\":1,\"sensortype\":[8]"), 0, "no2.sensortype"},
    {"nested object in meas", NO2("\"value\":1,\"x\":{\"y\":1}"), 0, "no2.x"},
    {"nested array in meas", NO2("\"value\":1,\"x\":[]"), 0, "no2.x"},
    {"object without value", "{\"groupid\":\"2\",\"co\":{\"sensorid\":\"1\"}}", 0, "co"},
    {"empty object member", "{\"groupid\":\"2\",\"co\":{}}", 0, "co"},
    {"array member", "{\"groupid\":\"2\",\"list\":[1,2]}", 0, "list"},
    {"gps lat out of range", "{\"groupid\":\"2\",\"gps\":\"90.5, 10\"}", 0, "gps"},
    {"gps lon out of range", "{\"groupid\":\"2\",\"gps\":\"10, -180.01\"}", 0, "gps"},
    {"gps one number", "{\"groupid\":\"2\",\"gps\":\"37.6\"}", 0, "gps"},
    {"gps no comma", "{\"groupid\":\"2\",\"gps\":\"37.6 126.9\"}", 0, "gps"},
    {"gps three numbers", "{\"groupid\":\"2\",\"gps\":\"1,2,3\"}", 0, "gps"},
    {"gps text", "{\"groupid\":\"2\",\"gps\":\"north, east\"}", 0, "gps"},
    {"gps nan", "{\"groupid\":\"2\",\"gps\":\"nan, 1\"}", 0, "gps"},
    {"gps number", "{\"groupid\":\"2\",\"gps\":37.6}", 0, "gps"},
    {"gps empty", "{\"groupid\":\"2\",\"gps\":\"\"}", 0, "gps"},
    {"duplicate top key", "{\"groupid\":\"2\",\"groupid\":\"3\"}", 0, "groupid"},
    {"duplicate meas key", NO2("\"value\":1,\"value\":2"), 0, "no2.value"},
    {"invalid UTF-8", "{\"groupid\":\"2\",\"note\":\"\xff\xfe\"}", 0, ""},
    {"overlong UTF-8", "{\"groupid\":\"2\",\"note\":\"\xc0\xaf\"}", 0, ""},
    {"escaped NUL", "{\"groupid\":\"2\",\"note\":\"a\\u0000b\"}", 0, "note"},
    {"raw NUL", "{\"groupid\":\"2\",\"note\":\"a\0b\"}", 28, ""},
    {"createdtime Feb 30", TIME("2021-02-30 10:00:00"), 0, "no2.createdtime"},
    {"createdtime Feb 29 2021", TIME("2021-02-29 10:00:00"), 0, "no2.createdtime"},
    {"createdtime hour 24", TIME("2021-09-03 24:00:00"), 0, "no2.createdtime"},
    {"createdtime month 13", TIME("2021-13-03 10:00:00"), 0, "no2.createdtime"},
    {"createdtime short", TIME("2021-9-3 18:14:49"), 0, "no2.createdtime"},
    {"createdtime year only", TIME("2021"), 0, "no2.createdtime"},
    {"createdtime year dash", TIME("2021-"), 0, "no2.createdtime"},
    {"createdtime cut in time", TIME("2021-09-03T18:1"), 0, "no2.createdtime"},
    {"createdtime cut in zone", TIME("2021-09-03T18:14:49+09"), 0, "no2.createdtime"},
    {"createdtime date only", TIME("2021-09-03"), 0, "no2.createdtime"},
    {"createdtime trailing", TIME("2021-09-03 18:14:49 KST"), 0, "no2.createdtime"},
    {"createdtime zone on space form", TIME("2021-09-03 18:14:49Z"), 0, "no2.createdtime"},
    {"createdtime bad zone", TIME("2021-09-03T18:14:49+9"), 0, "no2.createdtime"},
    {"createdtime empty fraction", TIME("2021-09-03T18:14:49.Z"), 0, "no2.createdtime"},
    {"createdtime number", NO2("\"value\":1,\"createdtime\":20210903"), 0, "no2.createdtime"},
    {"top-level 1e999", "{\"groupid\":\"2\",\"x\":1e999}", 0, "x"},
};

/* The member names and values of a valid body's measurements, in order. */
struct valid_case {
    const char *name;
    const char *body;
    const char *groupid;
    int has_gps;
    double lat, lon;
    size_t nmeas;
    const char *meas[4];
    double values[4];
};

static const struct valid_case valid[] = {
    {"seed",
     SEED,
     "2",
     1,
     37.61002501514269,
     126.99636868892937,
     4,
     {"co", "no2", "c2h5oh", "h2"},
     {26.20, 90.1, 1.5, 3}},
    {"numeric groupid", "{\"groupid\":2}", "2", 0, 0, 0, 0, {0}, {0}},
    {"real groupid", "{\"groupid\":2.5}", "2.5", 0, 0, 0, 0, {0}, {0}},
    {"negative groupid", "{\"groupid\":-7}", "-7", 0, 0, 0, 0, {0}, {0}},
    {"whitespace around body",
     " \n\t{\"groupid\" : \"g\" , \"co\" : { \"value\" : 1 } }\r\n ",
     "g",
     0,
     0,
     0,
     1,
     {"co"},
     {1}},
    {"numeric values",
     "{\"groupid\":\"1\",\"a\":{\"value\":-0.5},\"b\":{\"value\":1e3},\"c\":{\"value\":7}}",
     "1",
     0,
     0,
     0,
     3,
     {"a", "b", "c"},
     {-0.5, 1000, 7}},
    {"string values trimmed",
     "{\"groupid\":\"1\",\"a\":{\"value\":\" 26.20 \"},\"b\":{\"value\":\"-1E2\"},"
     "\"c\":{\"value\":\".5\"}}",
     "1",
     0,
     0,
     0,
     3,
     {"a", "b", "c"},
     {26.2, -100, 0.5}},
    {"gps tight", "{\"groupid\":\"1\",\"gps\":\"-90,180\"}", "1", 1, -90, 180, 0, {0}, {0}},
    {"gps spaced", "{\"groupid\":\"1\",\"gps\":\" 1.5 ,  -2 \"}", "1", 1, 1.5, -2, 0, {0}, {0}},
    {"scalars kept",
     "{\"groupid\":\"1\",\"emergency\":true,\"note\":\"x\",\"n\":null,\"k\":3.5,\"date\":\"d\"}",
     "1",
     0,
     0,
     0,
     0,
     {0},
     {0}},
    {"emergency string",
     "{\"groupid\":\"1\",\"emergency\":\"emergency\"}",
     "1",
     0,
     0,
     0,
     0,
     {0},
     {0}},
    {"createdtime ISO Z", TIME("2021-09-03T18:14:49Z"), "2", 0, 0, 0, 1, {"no2"}, {1}},
    {"createdtime ISO fraction offset",
     TIME("2021-09-03T18:14:49.123+09:00"),
     "2",
     0,
     0,
     0,
     1,
     {"no2"},
     {1}},
    {"createdtime ISO plain", TIME("2021-09-03T18:14:49"), "2", 0, 0, 0, 1, {"no2"}, {1}},
    {"createdtime leap day", TIME("2024-02-29 00:00:00"), "2", 0, 0, 0, 1, {"no2"}, {1}},
    {"meas extra scalars",
     NO2("\"value\":1,\"unit\":\"ppm\",\"ok\":true,\"sensorid\":6"),
     "2",
     0,
     0,
     0,
     1,
     {"no2"},
     {1}},
    {"UTF-8 text",
     "{\"groupid\":\"\xea\xb7\xb8\xeb\xa3\xb9\",\"note\":\"\\u00e9\"}",
     "\xea\xb7\xb8\xeb\xa3\xb9",
     0,
     0,
     0,
     0,
     {0},
     {0}},
};

static void test_invalid_table(void)
{
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        const struct invalid_case *c = &invalid[i];
        struct reading r;
        struct reading_error err;
        size_t len = c->len ? c->len : strlen(c->body);
        int rc = reading_parse(&r, c->body, len, &err);
        if (rc != GK_EINVAL || strcmp(err.field, c->field) != 0)
            fprintf(stderr, "case \"%s\": rc %d field \"%s\" message \"%s\"\n", c->name, rc,
                    err.field, err.message);
        CHECK_EQ_INT(rc, GK_EINVAL);
        CHECK_EQ_STR(err.field, c->field);
        CHECK(err.message[0] != '\0');
        CHECK(r.doc == NULL);
    }
}

static void check_valid(const struct valid_case *c)
{
    struct reading r;
    struct reading_error err;
    int rc = reading_parse(&r, c->body, strlen(c->body), &err);
    if (rc != 0) {
        fprintf(stderr, "case \"%s\": rc %d field \"%s\" message \"%s\"\n", c->name, rc, err.field,
                err.message);
        CHECK_EQ_INT(rc, 0);
        return;
    }
    CHECK_EQ_STR(r.groupid, c->groupid);
    CHECK_EQ_INT(r.has_gps, c->has_gps);
    if (c->has_gps) CHECK(r.lat == c->lat && r.lon == c->lon);
    CHECK_EQ_INT(r.nmeas, c->nmeas);
    for (size_t j = 0; j < c->nmeas && j < r.nmeas; j++) {
        CHECK_EQ_STR(r.meas[j].name, c->meas[j]);
        CHECK(fabs(r.meas[j].value - c->values[j]) < 1e-9);
    }
    reading_free(&r);
    CHECK(r.doc == NULL);
}

static void test_valid_table(void)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        check_valid(&valid[i]);
}

static void test_invalid_messages(void)
{
    struct reading r;
    struct reading_error err;
    const char *body = NO2("\"value\":\"abc\"");
    CHECK_EQ_INT(reading_parse(&r, body, strlen(body), &err), GK_EINVAL);
    CHECK_EQ_STR(err.message, "value is not a finite number");
    body = "{\"groupid\":\"2\",\"co\":{\"sensorid\":\"1\"}}";
    CHECK_EQ_INT(reading_parse(&r, body, strlen(body), &err), GK_EINVAL);
    CHECK_EQ_STR(err.message, "not a measurement: object without value");
    /* a NULL err is allowed */
    CHECK_EQ_INT(reading_parse(&r, "x", 1, NULL), GK_EINVAL);
}

/* Builds a body whose no2.x member opens `levels` nested arrays: the total
 * nesting depth is levels + 2. */
static char *nested_body(int levels)
{
    struct buf b = {0};
    buf_puts(&b, "{\"groupid\":\"2\",\"no2\":{\"value\":1,\"x\":");
    for (int i = 0; i < levels; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < levels; i++)
        buf_putc(&b, ']');
    buf_puts(&b, "}}");
    return buf_steal(&b);
}

static void test_depth(void)
{
    struct reading r;
    struct reading_error err;
    char *ok = nested_body(READING_MAX_DEPTH - 2), *deep = nested_body(READING_MAX_DEPTH - 1);
    /* depth 8 passes the pre-scan, then fails the payload rules on no2.x */
    CHECK_EQ_INT(reading_parse(&r, ok, strlen(ok), &err), GK_EINVAL);
    CHECK_EQ_STR(err.field, "no2.x");
    CHECK(strstr(err.message, "nesting") == NULL);
    /* depth 9 fails the pre-scan */
    CHECK_EQ_INT(reading_parse(&r, deep, strlen(deep), &err), GK_EINVAL);
    CHECK_EQ_STR(err.field, "no2.x.0.0.0.0.0.0");
    CHECK(strstr(err.message, "nesting") != NULL);
    /* an object nested 8 deep inside a string member does not count */
    const char *in_string = "{\"groupid\":\"[[[[[[[[[[{{{{{{{{{\\\"\"}";
    CHECK_EQ_INT(reading_parse(&r, in_string, strlen(in_string), &err), 0);
    CHECK_EQ_STR(r.groupid, "[[[[[[[[[[{{{{{{{{{\"");
    reading_free(&r);
    free(ok);
    free(deep);
}

static void test_depth_huge(void)
{
    size_t n = 1 << 20;
    char *body = xmalloc(n);
    memset(body, '[', n);
    body[0] = '{';
    struct reading r;
    struct reading_error err;
    CHECK_EQ_INT(reading_parse(&r, body, n, &err), GK_EINVAL);
    CHECK(strstr(err.message, "nesting") != NULL);
    free(body);
}

/* A body with n measurements m0..m(n-1). */
static char *many_body(int n)
{
    struct buf b = {0};
    buf_puts(&b, "{\"groupid\":\"2\"");
    for (int i = 0; i < n; i++)
        buf_printf(&b, ",\"m%d\":{\"value\":%d}", i, i);
    buf_putc(&b, '}');
    return buf_steal(&b);
}

static void test_max_measurements(void)
{
    struct reading r;
    struct reading_error err;
    char *ok = many_body(READING_MAX_MEAS), *over = many_body(READING_MAX_MEAS + 1);
    CHECK_EQ_INT(reading_parse(&r, ok, strlen(ok), &err), 0);
    CHECK_EQ_INT(r.nmeas, READING_MAX_MEAS);
    CHECK_EQ_STR(r.meas[63].name, "m63");
    CHECK(r.meas[63].value == 63);
    reading_free(&r);
    CHECK_EQ_INT(reading_parse(&r, over, strlen(over), &err), GK_EINVAL);
    CHECK_EQ_STR(err.field, "m64"); /* the first measurement over the limit */
    free(ok);
    free(over);
}

/* The one pass and the tree path agree on body[0..len): when the pass takes
 * it, the tree path accepts it with the same reading. Returns 1 when the pass
 * took it. */
static int paths_agree(const char *name, const char *body, size_t len)
{
    struct reading a, b;
    int fast = reading_scan(&a, body, len) == 0;
    int tree = reading_parse_tree(&b, body, len, NULL) == 0;
    if (fast && (!tree || !reading_same(&a, &b)))
        fprintf(stderr, "case \"%s\": the one pass took it, the tree path %s\n", name,
                tree ? "read it otherwise" : "refused it");
    CHECK(!fast || (tree && reading_same(&a, &b)));
    if (tree) reading_free(&b);
    return fast;
}

static void test_paths_table(void)
{
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        const struct invalid_case *c = &invalid[i];
        CHECK_EQ_INT(paths_agree(c->name, c->body, c->len ? c->len : strlen(c->body)), 0);
    }
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        paths_agree(valid[i].name, valid[i].body, strlen(valid[i].body));
    CHECK_EQ_INT(paths_agree("seed", SEED, strlen(SEED)), 1);
}

/* Edge cases: `fast` is whether the one pass takes it (-1: either way). */
static const struct {
    const char *name, *body;
    size_t len;
    int fast;
} edges[] = {
    {"duplicate groupid", "{\"groupid\":\"2\",\"groupid\":\"3\"}", 0, 0},
    {"duplicate scalar", "{\"groupid\":\"2\",\"a\":1,\"b\":2,\"a\":3}", 0, 0},
    {"duplicate in measurement", NO2("\"value\":1,\"value\":2"), 0, 0},
    {"same key in two objects", "{\"groupid\":\"2\",\"a\":{\"value\":1},\"value\":2}", 0, 1},
    {"escaped duplicate", "{\"groupid\":\"2\",\"a\":1,\"\\u0061\":2}", 0, 0},
    {"escaped key", "{\"groupid\":\"2\",\"a\\nb\":1}", 0, 0},
    {"escaped groupid", "{\"groupid\":\"a\\\"b\"}", 0, 0},
    {"escaped NUL", "{\"groupid\":\"a\\u0000b\"}", 0, 0},
    {"raw NUL in string", "{\"groupid\":\"a\0b\"}", 17, 0},
    {"raw NUL after body", "{\"groupid\":\"a\"}\0", 16, 0},
    {"control character", "{\"groupid\":\"a\tb\"}", 0, 0},
    {"DEL in string", "{\"groupid\":\"a\x7f" "b\"}", 0, 1},
    {"invalid UTF-8 byte", "{\"groupid\":\"\xff\"}", 0, 0},
    {"overlong UTF-8", "{\"groupid\":\"\xc0\xaf\"}", 0, 0},
    {"UTF-8 surrogate", "{\"groupid\":\"\xed\xa0\x80\"}", 0, 0},
    {"truncated UTF-8", "{\"groupid\":\"\xe2\x82\"}", 0, 0},
    {"UTF-8 above U+10FFFF", "{\"groupid\":\"\xf4\x90\x80\x80\"}", 0, 0},
    {"4-byte UTF-8 key", "{\"groupid\":\"2\",\"\xf0\x9f\x94\xa5\":{\"value\":1}}", 0, 1},
    {"UTF-8 outside strings", "{\"groupid\":\"2\"\xc2\xa0}", 0, 0},
    {"deep nesting", "{\"groupid\":\"2\",\"a\":{\"value\":1,\"b\":{\"c\":[[[[[[[[1]]]]]]]]}}}", 0, 0},
    {"array member", "{\"groupid\":\"2\",\"a\":[1]}", 0, 0},
    {"array in measurement", NO2("\"value\":1,\"x\":[]"), 0, 0},
    {"largest integer", "{\"groupid\":9223372036854775807}", 0, 1},
    {"smallest integer", "{\"groupid\":-9223372036854775808}", 0, 1},
    {"integer overflow", "{\"groupid\":9223372036854775808}", 0, 0},
    {"negative overflow", "{\"groupid\":\"2\",\"k\":-9223372036854775809}", 0, 0},
    {"real overflow", "{\"groupid\":\"2\",\"k\":1e309}", 0, 0},
    {"real underflow", "{\"groupid\":\"2\",\"a\":{\"value\":1e-400}}", 0, 1},
    {"long real", "{\"groupid\":\"2\",\"a\":{\"value\":0.12345678901234567890123456789012345678901234567890}}", 0, 0},
    {"negative zeros", "{\"groupid\":-0,\"a\":{\"value\":-0},\"b\":{\"value\":-0.0},\"c\":{\"value\":\"-0\"}}", 0, 1},
    {"real groupids", "{\"groupid\":1e2}", 0, 1},
    {"real groupid -0.0", "{\"groupid\":-0.0}", 0, 1},
    {"leading zero", "{\"groupid\":01}", 0, 0},
    {"bare minus", "{\"groupid\":-}", 0, 0},
    {"plus sign", "{\"groupid\":+1}", 0, 0},
    {"dot first", "{\"groupid\":.5}", 0, 0},
    {"dot last", "{\"groupid\":1.}", 0, 0},
    {"bare exponent", "{\"groupid\":1e}", 0, 0},
    {"signed exponent", "{\"groupid\":\"2\",\"a\":{\"value\":1E+2},\"b\":{\"value\":5e-1}}", 0, 1},
    {"number then letters", "{\"groupid\":12ab}", 0, 0},
    {"literals", "{\"groupid\":\"2\",\"t\":true,\"f\":false,\"n\":null}", 0, 1},
    {"cut literal", "{\"groupid\":\"2\",\"t\":tru}", 0, 0},
    {"long literal", "{\"groupid\":\"2\",\"t\":truex}", 0, 0},
    {"literal value", NO2("\"value\":true"), 0, 0},
    {"literal sensorid", NO2("\"value\":1,\"sensorid\":null"), 0, 0},
    {"numeric sensortype", NO2("\"value\":1,\"sensortype\":8"), 0, 1},
    {"two objects", "{\"groupid\":\"2\"}{}", 0, 0},
    {"missing comma", "{\"groupid\":\"2\" \"a\":1}", 0, 0},
    {"trailing comma", "{\"groupid\":\"2\",}", 0, 0},
    {"empty measurement", "{\"groupid\":\"2\",\"a\":{}}", 0, 0},
    {"empty key", "{\"groupid\":\"2\",\"\":{\"value\":1},\"x\":{\"\":2,\"value\":3}}", 0, 1},
    {"date string", "{\"groupid\":\"2\",\"date\":\"2021-09-03 18:14:49\"}", 0, 1},
    {"date number", "{\"groupid\":\"2\",\"date\":1630692889000}", 0, 1},
    {"date measurement", "{\"groupid\":\"2\",\"date\":{\"value\":1}}", 0, 1},
    {"emergency null", "{\"emergency\":null,\"groupid\":\"2\"}", 0, 1},
    {"groupid 127 bytes", "{\"groupid\":\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456\"}", 0, 1},
    {"groupid 128 bytes", "{\"groupid\":\"01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567\"}", 0, 0},
    {"gps out of range", "{\"groupid\":\"2\",\"gps\":\"91, 0\"}", 0, 0},
    {"gps object", "{\"groupid\":\"2\",\"gps\":{\"value\":1}}", 0, 0},
    {"createdtime bad day", TIME("2021-02-29 00:00:00"), 0, 0},
    {"value with spaces", NO2("\"value\":\"  7.5  \""), 0, 1},
    {"value long string", NO2("\"value\":\"                                                                                                                                  7.5\""), 0, 0},
    {"whitespace kinds", "\r\n\t {\r\n\t \"groupid\"\r\n\t :\r\n\t \"2\"\r\n\t }\r\n\t ", 0, 1},
    {"form feed", "\f{\"groupid\":\"2\"}", 0, 0},
};

static void test_paths_edges(void)
{
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        size_t len = edges[i].len ? edges[i].len : strlen(edges[i].body);
        int fast = paths_agree(edges[i].name, edges[i].body, len);
        if (edges[i].fast >= 0 && fast != edges[i].fast)
            fprintf(stderr, "case \"%s\": the one pass %s it\n", edges[i].name,
                    fast ? "took" : "declined");
        CHECK(edges[i].fast < 0 || fast == edges[i].fast);
    }
}

/* Bodies past what the one pass keeps count of take the tree path. */
static void test_paths_limits(void)
{
    struct buf b = {0};
    buf_puts(&b, "{\"groupid\":\"2\"");
    for (int i = 0; i < 200; i++)
        buf_printf(&b, ",\"k%d\":%d", i, i);
    buf_putc(&b, '}');
    CHECK_EQ_INT(paths_agree("200 scalars", b.data, b.len), 0);
    buf_reset(&b);
    buf_puts(&b, "{\"groupid\":\"2\"");
    for (int i = 0; i < 40; i++)
        buf_printf(&b, ",\"a_measurement_with_a_rather_long_name_%d\":{\"value\":%d}", i, i);
    buf_putc(&b, '}');
    CHECK_EQ_INT(paths_agree("long names", b.data, b.len), 0);
    struct reading r;
    CHECK_EQ_INT(reading_parse(&r, b.data, b.len, NULL), 0); /* the tree path takes it */
    CHECK_EQ_INT(r.nmeas, 40);
    reading_free(&r);
    buf_free(&b);
    char *ok = many_body(READING_MAX_MEAS), *over = many_body(READING_MAX_MEAS + 1);
    CHECK_EQ_INT(paths_agree("64 measurements", ok, strlen(ok)), 1);
    CHECK_EQ_INT(paths_agree("65 measurements", over, strlen(over)), 0);
    free(ok);
    free(over);
}

/* Parses body, writes its document with `date` into a string, and checks the
 * document is valid JSON holding that date. */
static char *document(const char *body, const char *date)
{
    struct reading r;
    struct reading_error err;
    struct buf out = {0};
    if (reading_parse(&r, body, strlen(body), &err) != 0) {
        CHECK(!"body parses");
        return NULL;
    }
    reading_document(&r, body, strlen(body), date, &out);
    reading_free(&r);
    json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(doc != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(doc, "date")), date);
    json_decref(doc);
    return buf_steal(&out);
}

static void test_document_splice(void)
{
    char *d = document("{\"groupid\":\"2\",\"co\":{\"value\":\"26.20\"}}", "2021-09-03 18:14:50");
    CHECK_EQ_STR(
        d, "{\"groupid\":\"2\",\"co\":{\"value\":\"26.20\"},\"date\":\"2021-09-03 18:14:50\"}");
    free(d);
    /* the body is kept byte for byte, trailing whitespace trimmed */
    d = document(" { \"groupid\" : 2.50 , \"k\":1E2 } \n", "D");
    CHECK_EQ_STR(d, " { \"groupid\" : 2.50 , \"k\":1E2 ,\"date\":\"D\"}");
    free(d);
    /* the date is escaped as a JSON string */
    d = document("{\"groupid\":\"2\"}", "a\"b\\c");
    CHECK_EQ_STR(d, "{\"groupid\":\"2\",\"date\":\"a\\\"b\\\\c\"}");
    free(d);
    d = document(SEED, "2021-09-03 18:14:50");
    CHECK(d && strncmp(d, SEED, strlen(SEED) - 1) == 0);
    free(d);
}

static void test_document_replace(void)
{
    char *d = document("{\"groupid\":\"2\",\"date\":\"old\",\"co\":{\"value\":1}}", "new");
    CHECK_EQ_STR(d, "{\"groupid\":\"2\",\"date\":\"new\",\"co\":{\"value\":1}}");
    free(d);
    d = document("{\"date\":null, \"groupid\":7}", "new");
    CHECK_EQ_STR(d, "{\"date\":\"new\",\"groupid\":7}");
    free(d);
}

/* A createdtime's date is accepted exactly when it is a date of datetime's
 * civil calendar: y-m-d maps to a day number and back to itself. */
static void test_time_dates(void)
{
    static const int years[] = {1, 4, 99, 100, 400, 1900, 2000, 2100, 9996, 9999};
    int bad = 0, n = 0;
    for (int i = 0; i < 610 + 10; i++) {
        int y = i < 610 ? 1890 + i : years[i - 610];
        for (int m = 0; m <= 13; m++)
            for (int d = 0; d <= 32; d++) {
                char t[40];
                snprintf(t, sizeof t, "%04d-%02d-%02d 12:00:00", y, m, d);
                int64_t yy = 0;
                unsigned mm = 0, dd = 0;
                if (m >= 1 && m <= 12 && d >= 1)
                    dt_civil_from_days(dt_days_from_civil(y, (unsigned)m, (unsigned)d), &yy, &mm,
                                       &dd);
                int real = yy == y && mm == (unsigned)m && dd == (unsigned)d;
                bad += (reading_time_text(t) == 0) != real;
                n += real;
            }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(n, 226452); /* the days of those years: 366 in leap years */
}

int main(void)
{
    RUN(test_invalid_table);
    RUN(test_valid_table);
    RUN(test_invalid_messages);
    RUN(test_depth);
    RUN(test_depth_huge);
    RUN(test_max_measurements);
    RUN(test_paths_table);
    RUN(test_paths_edges);
    RUN(test_paths_limits);
    RUN(test_document_splice);
    RUN(test_document_replace);
    RUN(test_time_dates);
    TEST_MAIN_END();
}
