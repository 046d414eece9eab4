/* store_append.c: the store writer's throughput, without any network.
 *
 * Appends N documents (default 200000) of 8 measurements each, from 10
 * groups, 100 ms apart (so every minute holds ~600 documents, every group
 * ~60), to a store in a fresh directory, with durability normal, and prints
 * documents per second from the first store_append() to the last callback.
 * Documents are queued in waves of 5000 (one loop run per wave), as a busy
 * gateway would queue them, so group commit sees realistic batches.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Isrc bench/store_append.c src/store/store*.c src/core/*.c \
 *      $(pkg-config --cflags --libs libuv sqlite3 jansson inih) -lpthread -lm \
 *      -o /tmp/store_append && /tmp/store_append [N] [dir]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/store.h"

static long acks, fails;

static void on_ack(void *ud, const struct store_ack *ack)
{
    (void)ud;
    acks++;
    fails += ack->status != 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void queue_doc(struct store *s, long i)
{
    static const char *const names[8] = {"co",  "no2", "c2h5oh",      "h2",
                                         "nh3", "ch4", "temperature", "humidity"};
    char src[512], grp[8];
    struct store_meas m[8];
    snprintf(grp, sizeof grp, "%ld", i % 10);
    int n = snprintf(src, sizeof src,
                     "{\"groupid\":\"%s\",\"gps\":\"37.61002501514269, 126.99636868892937\","
                     "\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"%ld.20\"},"
                     "\"date\":\"2021-09-03 18:14:49\"}",
                     grp, i % 97);
    for (int k = 0; k < 8; k++)
        m[k] = (struct store_meas){names[k], (double)((i * 7 + k) % 1000) / 10.0};
    struct store_doc d = {.index = "gasdetect",
                          .source = src,
                          .source_len = (size_t)n,
                          .ts_ms = 1700000000000 + i * 100,
                          .groupid = grp,
                          .nmeas = 8,
                          .meas = m};
    store_append(s, &d, on_ack, NULL);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char tmpl[] = "/tmp/gasket-bench-XXXXXX";
    const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
    uv_loop_t loop;
    struct store *s;
    uv_loop_init(&loop);
    struct store_options opt = {.dir = dir, .durability = STORE_DURABILITY_NORMAL};
    if (store_open(&s, &loop, &opt) != 0) return 1;
    double t0 = now_s();
    for (long i = 0; i < n;) {
        for (long w = 0; w < 5000 && i < n; w++, i++)
            queue_doc(s, i);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    double dt = now_s() - t0;
    const struct store_stats *st = store_get_stats(s);
    printf("%ld docs x 8 measurements in %.2f s: %.0f docs/s (%llu commits, %ld failed)\n", acks,
           dt, acks / dt, (unsigned long long)st->commits, fails);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    printf("data in %s\n", dir);
    return fails != 0;
}
