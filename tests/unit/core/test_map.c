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

int main(void)
{
    RUN(test_basic);
    RUN(test_random_against_array);
    TEST_MAIN_END();
}
