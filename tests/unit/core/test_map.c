/* Unit tests for core/map.c, checked against a brute-force list. */
#include "core/map.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static void test_basic(void)
{
    struct map m = {0};
    int a = 1, b = 2;
    CHECK(map_get(&m, "x", 1) == NULL);
    CHECK(map_put(&m, "x", 1, &a) == NULL);
    CHECK(map_get(&m, "x", 1) == &a);
    CHECK(map_put(&m, "x", 1, &b) == &a);
    CHECK_EQ_INT(m.count, 1);
    CHECK(map_get(&m, "xy", 1) == &b); /* length-delimited keys */
    CHECK(map_del(&m, "x", 1) == &b);
    CHECK(map_del(&m, "x", 1) == NULL);
    CHECK_EQ_INT(m.count, 0);
    map_free(&m);
}

/* Random puts and deletes over a small key space, against a plain array. */
static void test_random_against_array(void)
{
    enum { KEYS = 300 };
    void *truth[KEYS] = {0};
    struct map m = {0};
    char key[16];
    srand(7);
    for (int step = 0; step < 200000; step++) {
        int k = rand() % KEYS;
        int n = snprintf(key, sizeof key, "k%d", k);
        void *v = (void *)(size_t)(step + 1);
        if (rand() % 3) {
            CHECK(map_put(&m, key, (size_t)n, v) == truth[k]);
            truth[k] = v;
        } else {
            CHECK(map_del(&m, key, (size_t)n) == truth[k]);
            truth[k] = NULL;
        }
        if (step % 1000 == 0) {
            size_t count = 0;
            for (int i = 0; i < KEYS; i++) {
                n = snprintf(key, sizeof key, "k%d", i);
                CHECK(map_get(&m, key, (size_t)n) == truth[i]);
                count += truth[i] != NULL;
            }
            CHECK_EQ_INT(m.count, count);
        }
    }
    map_free(&m);
}

/* The exported FNV-1a matches the published test vectors. */
static void test_fnv(void)
{
    CHECK(map_fnv32(MAP_FNV32_OFFSET, "", 0) == 0x811c9dc5u);
    CHECK(map_fnv32(MAP_FNV32_OFFSET, "a", 1) == 0xe40c292cu);
    CHECK(map_fnv32(MAP_FNV32_OFFSET, "foobar", 6) == 0xbf9cf968u);
    CHECK(map_fnv32(map_fnv32(MAP_FNV32_OFFSET, "foo", 3), "bar", 3) == 0xbf9cf968u);
    CHECK(map_fnv64(MAP_FNV64_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    CHECK(map_fnv64(MAP_FNV64_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(map_fnv64(MAP_FNV64_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
}

int main(void)
{
    RUN(test_fnv);
    RUN(test_basic);
    RUN(test_random_against_array);
    TEST_MAIN_END();
}
