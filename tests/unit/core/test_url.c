/* Unit tests for core/url.c: percent-decoding as GET /alarms and the
 * OpenSearch-compatible API read query strings and path segments. */
#include "core/url.h"
#include "test.h"

#include <stdlib.h>

static void test_decode(void)
{
    char out[16];
    CHECK_EQ_INT(url_decode("a+b%20c%2Fd", 11, out, sizeof out), 7);
    CHECK_EQ_STR(out, "a b c/d");
    CHECK_EQ_INT(url_decode("%c3%A9", 6, out, sizeof out), 2);
    CHECK_EQ_STR(out, "\xc3\xa9");
    CHECK_EQ_INT(url_decode("", 0, out, sizeof out), 0);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(url_decode("%zz", 3, out, sizeof out), -1);
    CHECK_EQ_INT(url_decode("%4", 2, out, sizeof out), -1);
    CHECK_EQ_INT(url_decode("a%00b", 5, out, sizeof out), -1);
    CHECK_EQ_INT(url_decode("abc", 2, out, sizeof out), 2); /* n bounds the input */
    CHECK_EQ_STR(out, "ab");
    CHECK_EQ_INT(url_decode("abcd", 4, out, 4), -2); /* NUL does not fit */
    CHECK_EQ_INT(url_decode("abc", 3, out, 4), 3);
}

static void test_decode_dup(void)
{
    char *s = url_decode_dup("gas%2Fdetect+1", 14);
    CHECK_EQ_STR(s, "gas/detect 1");
    free(s);
    CHECK(url_decode_dup("%G0", 3) == NULL);
    CHECK(url_decode_dup("x%00", 4) == NULL);
}

static void test_decode_segment(void)
{
    char out[16];
    CHECK_EQ_INT(url_decode_segment("a+b%20c%2Fd", 11, out, sizeof out), 7);
    CHECK_EQ_STR(out, "a+b c/d"); /* '+' is itself in a path */
    CHECK_EQ_INT(url_decode_segment("%00", 3, out, sizeof out), -1);
    CHECK_EQ_INT(url_decode_segment("%4", 2, out, sizeof out), -1);
    CHECK_EQ_INT(url_decode_segment("0123456789abcdef", 16, out, sizeof out), -2);
}

int main(void)
{
    RUN(test_decode);
    RUN(test_decode_segment);
    RUN(test_decode_dup);
    TEST_MAIN_END();
}
