/* test_bulk.c: unit tests for src/gateway/bulk.c, the _bulk NDJSON parser
 * and its reply items. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gateway/bulk.h"
#include "test.h"

static int parse(const char *body, const char *dflt, struct bulk_action **v, size_t *n,
                 struct bulk_error *e)
{
    return bulk_parse(body, strlen(body), dflt, v, n, e);
}

static int source_is(const struct bulk_action *a, const char *want)
{
    return a->source && a->source_len == strlen(want) &&
           memcmp(a->source, want, a->source_len) == 0;
}

static void test_pairs(void)
{
    struct bulk_action *v;
    size_t n;
    struct bulk_error e;
    const char *body = "{\"index\":{\"_index\":\"gasdetect\"}}\n{\"groupid\":\"2\"}\n"
                       "{\"create\":{}}\r\n{\"groupid\":\"3\"}\r\n"
                       "\n"
                       "{\"delete\":{\"_index\":\"x\",\"_id\":\"7\"}}\n"
                       "{\"update\":{\"_id\":12}}\n{\"doc\":{}}";
    CHECK_EQ_INT(parse(body, "dflt", &v, &n, &e), 0);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(v[0].op, BULK_INDEX);
    CHECK_EQ_STR(v[0].index, "gasdetect");
    CHECK_EQ_INT(v[0].line, 1);
    CHECK_EQ_INT(v[0].has_id, 0);
    CHECK(source_is(&v[0], "{\"groupid\":\"2\"}"));
    CHECK_EQ_INT(v[1].op, BULK_CREATE);
    CHECK_EQ_STR(v[1].index, "dflt");
    CHECK_EQ_INT(v[1].line, 3);
    CHECK(source_is(&v[1], "{\"groupid\":\"3\"}")); /* \r\n taken off */
    CHECK_EQ_INT(v[2].op, BULK_DELETE);
    CHECK_EQ_INT(v[2].line, 6);
    CHECK(v[2].source == NULL);
    CHECK_EQ_INT(v[2].has_id, 1);
    CHECK_EQ_STR(v[2].id, "7");
    CHECK_EQ_INT(v[3].op, BULK_UPDATE);
    CHECK_EQ_STR(v[3].id, "12");             /* an integer _id */
    CHECK(source_is(&v[3], "{\"doc\":{}}")); /* no final newline */
    free(v);
}

/* The source line is whatever follows, even blank: the item fails later. */
static void test_blank_source(void)
{
    struct bulk_action *v;
    size_t n;
    struct bulk_error e;
    CHECK_EQ_INT(parse("{\"index\":{}}\n\n{\"index\":{}}\n{}\n", "i", &v, &n, &e), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(v[0].source_len, 0);
    CHECK(source_is(&v[1], "{}"));
    CHECK_EQ_INT(v[1].line, 3);
    free(v);
    /* the ignored metadata */
    CHECK_EQ_INT(
        parse("{\"index\":{\"routing\":\"a\",\"pipeline\":\"p\",\"require_alias\":false}}\n"
              "{}\n",
              "i", &v, &n, &e),
        0);
    free(v);
}

static void expect_error(const char *body, const char *dflt, const char *type, const char *reason)
{
    struct bulk_action *v = (void *)1;
    size_t n = 9;
    struct bulk_error e;
    CHECK_EQ_INT(parse(body, dflt, &v, &n, &e), GK_EINVAL);
    CHECK(v == NULL && n == 0);
    CHECK_EQ_STR(e.type, type);
    if (!strstr(e.reason, reason)) fprintf(stderr, "reason: %s\n  want: %s\n", e.reason, reason);
    CHECK(strstr(e.reason, reason) != NULL);
}

static void test_malformed(void)
{
    const char *ia = "illegal_argument_exception";
    const char *val = "action_request_validation_exception";
    expect_error("", "i", val, "no requests added");
    expect_error("\n\r\n  \n", "i", val, "no requests added");
    expect_error("{\"index\":{}}\n{}\n{\"index\":{}}\n", "i", ia,
                 "line [3], expected a source line");
    expect_error("{\"index\":{}}\n{}\n{\"bogus\":{}}\n{}\n", "i", ia,
                 "line [3], expected field [create], [delete], [index] or [update] but found "
                 "[bogus]");
    expect_error("[1]\n{}\n", "i", ia, "line [1], expected START_OBJECT but found [START_ARRAY]");
    expect_error("\"index\"\n{}\n", "i", ia, "expected START_OBJECT but found [VALUE_STRING]");
    expect_error("{}\n{}\n", "i", ia, "expected FIELD_NAME but found [END_OBJECT]");
    expect_error("{\"index\":{},\"create\":{}}\n{}\n", "i", ia,
                 "expected END_OBJECT but found [FIELD_NAME]");
    expect_error("{\"index\":3}\n{}\n", "i", ia, "expected START_OBJECT but found [VALUE_NUMBER]");
    expect_error("{\"index\":{}\n{}\n", "i", ia, "Malformed action/metadata line [1]: ");
    expect_error("{\"index\":{\"_type\":\"doc\"}}\n{}\n", "i", ia,
                 "line [1] contains an unknown parameter [_type]");
    expect_error("{\"index\":{\"_index\":5}}\n{}\n", "i", ia, "[_index] must be a string");
    expect_error("{\"index\":{\"_id\":[]}}\n{}\n", "i", ia, "[_id] must be a string");
    expect_error("{\"index\":{}}\n{}\n", NULL, val, "index is missing (action/metadata line [1])");
    expect_error("{\"index\":{\"_index\":\"a\",\"_index\":\"b\"}}\n{}\n", "i", ia, "line [1]");
    expect_error("{\"index\":{\"_index\":\"\xff\"}}\n{}\n", "i", ia, "line [1]");
    /* regression (fuzz_bulk): jansson's reason quoted raw bytes of the line,
     * making the error reply invalid JSON */
    struct bulk_action *v;
    size_t n;
    struct bulk_error e;
    CHECK_EQ_INT(parse("{\"i:{ndex\":{\"\\\xde\x87\xddy}\n{}\n", "i", &v, &n, &e), GK_EINVAL);
    for (const char *p = e.reason; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

static void test_index_names(void)
{
    char err[200];
    CHECK_EQ_INT(bulk_index_name_check("gasdetect", 9, err, sizeof err), 0);
    CHECK_EQ_INT(bulk_index_name_check("a-b_9", 5, err, sizeof err), 0);
    CHECK_EQ_INT(bulk_index_name_check("Gas", 3, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "Invalid index name [Gas]") != NULL);
    CHECK_EQ_INT(bulk_index_name_check("_x", 2, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(bulk_index_name_check("-x", 2, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(bulk_index_name_check("", 0, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(bulk_index_name_check("a b", 3, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(bulk_index_name_check("a\n\"", 3, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "[a?\"]") != NULL);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    CHECK_EQ_INT(bulk_index_name_check(longname, 255, err, sizeof err), 0);
    CHECK_EQ_INT(bulk_index_name_check(longname, 256, err, sizeof err), GK_EINVAL);
}

/* Each item is one JSON object of OpenSearch's shape. */
static json_t *item(struct buf *b)
{
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    buf_reset(b);
    return j;
}

static void test_items(void)
{
    struct buf b = {0};
    struct bulk_action a = {.op = BULK_CREATE, .index = "gasdetect"};
    bulk_item_created(&b, &a, "42", 41);
    json_t *j = item(&b), *c = json_object_get(j, "create");
    CHECK_EQ_STR(json_string_value(json_object_get(c, "_id")), "42");
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "_seq_no")), 41);
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "status")), 201);
    CHECK_EQ_STR(json_string_value(json_object_get(c, "result")), "created");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(c, "_shards"), "successful")),
                 1);
    json_decref(j);
    bulk_item_created(&b, &a, "43", INT64_C(9007199254740993));
    j = item(&b);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "create"), "_seq_no")),
                 INT64_C(9007199254740993));
    json_decref(j);

    a.op = BULK_INDEX;
    bulk_item_error(&b, &a, 400, "mapper_parsing_exception", "value \"x\" is not a number",
                    "no2.value");
    j = item(&b);
    c = json_object_get(j, "index");
    CHECK(json_is_null(json_object_get(c, "_id")));
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "status")), 400);
    json_t *e = json_object_get(c, "error");
    CHECK_EQ_STR(json_string_value(json_object_get(e, "type")), "mapper_parsing_exception");
    CHECK_EQ_STR(json_string_value(json_object_get(e, "reason")), "value \"x\" is not a number");
    CHECK_EQ_STR(json_string_value(json_object_get(e, "field")), "no2.value");
    json_decref(j);

    a.has_id = 1;
    strcpy(a.id, "my\"id");
    bulk_item_error(&b, &a, 400, "illegal_argument_exception", "no", "");
    j = item(&b);
    c = json_object_get(j, "index");
    CHECK_EQ_STR(json_string_value(json_object_get(c, "_id")), "my\"id");
    CHECK(json_object_get(json_object_get(c, "error"), "field") == NULL);
    json_decref(j);

    bulk_item_noop(&b, &a);
    j = item(&b);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j, "index"), "result")), "noop");
    json_decref(j);
    buf_free(&b);
}

static void test_error_reply(void)
{
    struct buf b = {0};
    bulk_error_reply(&b, 400, "illegal_argument_exception", "Malformed \"x\" line [3]", NULL);
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    CHECK(j != NULL);
    json_t *err = json_object_get(j, "error");
    CHECK_EQ_STR(json_string_value(json_object_get(err, "type")), "illegal_argument_exception");
    CHECK_EQ_STR(json_string_value(json_object_get(err, "reason")), "Malformed \"x\" line [3]");
    json_t *rc = json_array_get(json_object_get(err, "root_cause"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(rc, "type")), "illegal_argument_exception");
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 400);
    CHECK(json_object_get(err, "field") == NULL);
    json_decref(j);
    buf_reset(&b);
    bulk_error_reply(&b, 400, "mapper_parsing_exception", "bad", "no2.value");
    j = json_loadb(b.data, b.len, 0, NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                 "no2.value");
    json_decref(j);
    buf_free(&b);
}

/* A body of tiny actions is refused past BULK_MAX_ACTIONS, before it
 * allocates for them all (issue 9). */
static void test_action_cap(void)
{
    static const char item[] = "{\"index\":{}}\n{}\n";
    size_t il = sizeof item - 1, len = il * (BULK_MAX_ACTIONS + 1);
    char *body = malloc(len);
    for (size_t i = 0; i <= BULK_MAX_ACTIONS; i++)
        memcpy(body + i * il, item, il);
    struct bulk_action *v;
    size_t n;
    struct bulk_error e;
    CHECK_EQ_INT(bulk_parse(body, len - il, "x", &v, &n, &e), 0);
    CHECK_EQ_INT(n, BULK_MAX_ACTIONS);
    free(v);
    CHECK_EQ_INT(bulk_parse(body, len, "x", &v, &n, &e), GK_EINVAL);
    CHECK_EQ_STR(e.type, "illegal_argument_exception");
    CHECK(strstr(e.reason, "at most 10000") != NULL);
    CHECK(strstr(e.reason, "line [20001]") != NULL);
    CHECK(v == NULL && n == 0);
    free(body);
}

int main(void)
{
    RUN(test_pairs);
    RUN(test_blank_source);
    RUN(test_malformed);
    RUN(test_index_names);
    RUN(test_items);
    RUN(test_error_reply);
    RUN(test_action_cap);
    TEST_MAIN_END();
}
