/* Unit tests for core/gzip.c: what it writes is a gzip member that zlib's
 * inflate (in gzip mode) gives back byte for byte. */
#include "core/gzip.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Inflates a gzip member into out (outlen bytes at most): its length, or -1. */
static long gunzip(const struct buf *in, char *out, size_t outlen)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK) return -1;
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)outlen;
    int rc = inflate(&z, Z_FINISH);
    long n = rc == Z_STREAM_END && z.avail_in == 0 ? (long)z.total_out : -1;
    inflateEnd(&z);
    return n;
}

static void test_round_trip(void)
{
    size_t n = 300000;
    char *text = malloc(n), *back = malloc(n + 1);
    for (size_t i = 0; i < n; i++) /* JSON-like: repetitive, some variety */
        text[i] = "{\"key\":\"2026-12-07\",\"v\":12.5},"[i % 31] + (char)(i % 977 == 0);
    struct buf z = {0};
    buf_puts(&z, "kept"); /* appended after what out held */
    CHECK_EQ_INT(gzip_buf(text, n, 1, &z), 0);
    CHECK(memcmp(z.data, "kept", 4) == 0);
    CHECK(z.len < n / 5); /* it compresses */
    CHECK((unsigned char)z.data[4] == 0x1f && (unsigned char)z.data[5] == 0x8b);
    struct buf member = {z.data + 4, z.len - 4, 0};
    CHECK_EQ_INT(gunzip(&member, back, n + 1), (long)n);
    CHECK(memcmp(back, text, n) == 0);
    buf_free(&z);
    free(text);
    free(back);
}

static void test_empty_and_levels(void)
{
    char back[8];
    for (int level = 1; level <= 9; level += 8) {
        struct buf z = {0};
        CHECK_EQ_INT(gzip_buf("", 0, level, &z), 0);
        CHECK(z.len >= 18); /* header and trailer */
        CHECK_EQ_INT(gunzip(&z, back, sizeof back), 0);
        buf_free(&z);
    }
    struct buf z = {0};
    CHECK(gzip_buf("x", 1, 42, &z) != 0); /* no such level */
    CHECK_EQ_INT((long)z.len, 0);
    buf_free(&z);
}

static void test_replace(void)
{
    struct buf b = {0};
    buf_puts(&b, "short");
    CHECK_EQ_INT(gzip_replace(&b, 1024), 0); /* under the threshold: as it was */
    CHECK_EQ_STR(b.data, "short");
    for (int i = 0; i < 200; i++)
        buf_puts(&b, "{\"no2\":26.2},");
    size_t n = b.len;
    char *copy = strdup(b.data), back[4096];
    CHECK_EQ_INT(gzip_replace(&b, 1024), 1);
    CHECK(b.len < n / 4);
    CHECK_EQ_INT(gunzip(&b, back, sizeof back), (long)n);
    CHECK(memcmp(back, copy, n) == 0);
    free(copy);
    buf_free(&b);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_replace);
    RUN(test_empty_and_levels);
    TEST_MAIN_END();
}
