/* test_spool.c: unit tests of gasket-pub's spool (src/device/spool*.c):
 * order and numbering across reopen, acknowledgement, the torn tail a
 * crash leaves, compaction keeping the counter, the bound dropping the
 * oldest tenth, the lock, and a file that is not a spool. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "device/spool.h"
#include "device/spool_fmt.h"
#include "test.h"

static char dir[64], path[96];

static void fresh(void)
{
    snprintf(dir, sizeof dir, "/tmp/gasket-spool-XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/spool", dir);
}

static void cleanup(void)
{
    char p[128];
    const char *ext[] = {"", ".lock", ".tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
    rmdir(dir);
}

static struct spool *open_spool(uint64_t max)
{
    struct spool *s = NULL;
    char *note = NULL, err[256];
    int rc = spool_open(&s, path, max, &note, err, sizeof err);
    if (rc != 0) fprintf(stderr, "spool_open: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK(note == NULL);
    free(note);
    return s;
}

static uint64_t put(struct spool *s, int i)
{
    char body[64], err[128];
    uint64_t seq = 0;
    struct spool_drop d;
    int n = snprintf(body, sizeof body, "{\"i\":%d}", i);
    CHECK_EQ_INT(spool_append(s, body, (size_t)n, 1, &seq, &d, err, sizeof err), 0);
    CHECK_EQ_INT(d.count, 0);
    return seq;
}

/* The i of the reading body. */
static int body_i(const struct spool_item *it)
{
    return atoi(it->data + 5);
}

static void test_order_and_reopen(void)
{
    fresh();
    struct spool *s = open_spool(1 << 20);
    uint64_t id = spool_id(s);
    CHECK(id != 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(put(s, i), i + 1);
    struct spool_item it[4];
    size_t n;
    CHECK_EQ_INT(spool_peek(s, 0, 4, 1 << 20, it, &n), 0);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(it[0].seq, 1);
    CHECK_EQ_STR(it[0].data, "{\"i\":0}");
    spool_items_free(it, n);
    CHECK_EQ_INT(spool_peek(s, 8, 4, 1 << 20, it, &n), 0); /* after seq 8 */
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(it[0].seq, 9);
    spool_items_free(it, n);
    CHECK_EQ_INT(spool_ack(s, 3, NULL, 0), 0);
    CHECK_EQ_INT(spool_pending(s), 7);
    spool_close(s); /* as after kill -9: nothing is done at close */
    s = open_spool(1 << 20);
    CHECK_EQ_INT(spool_id(s), id);
    CHECK_EQ_INT(spool_pending(s), 7);
    CHECK_EQ_INT(spool_acked(s), 3);
    CHECK_EQ_INT(spool_peek(s, 0, 1, 1 << 20, it, &n), 0);
    CHECK_EQ_INT(it[0].seq, 4);
    CHECK_EQ_INT(body_i(&it[0]), 3);
    spool_items_free(it, n);
    CHECK_EQ_INT(put(s, 10), 11); /* numbers go on */
    CHECK_EQ_INT(spool_ack(s, 11, NULL, 0), 0);
    CHECK_EQ_INT(spool_pending(s), 0);
    spool_close(s);
    s = open_spool(1 << 20);
    CHECK_EQ_INT(put(s, 11), 12);
    spool_close(s);
    cleanup();
}

/* A crash in the middle of an append leaves a torn record: cut off at
 * open, with a note; the readings before it are kept. */
static void test_torn_tail(void)
{
    fresh();
    struct spool *s = open_spool(1 << 20);
    for (int i = 0; i < 3; i++)
        put(s, i);
    spool_close(s);
    struct stat st;
    stat(path, &st);
    int fd = open(path, O_WRONLY | O_APPEND);
    uint8_t head[SPOOL_REC_LEN];
    spool_rec_encode(head, SPOOL_DATA, 4, "{\"i\":3}", 7);
    CHECK_EQ_INT(write(fd, head, sizeof head), sizeof head);
    CHECK_EQ_INT(write(fd, "{\"i\"", 4), 4); /* the payload half written */
    close(fd);
    char *note = NULL, err[256];
    CHECK_EQ_INT(spool_open(&s, path, 1 << 20, &note, err, sizeof err), 0);
    CHECK(note && strstr(note, "dropped"));
    free(note);
    CHECK_EQ_INT(spool_pending(s), 3);
    CHECK_EQ_INT(put(s, 3), 4); /* 4 again: it never reached the disk whole */
    spool_close(s);
    stat(path, &st);
    CHECK_EQ_INT(st.st_size, SPOOL_HDR_LEN + 4 * (SPOOL_REC_LEN + 7));
    /* a flipped byte in the middle: the records from there on are cut */
    fd = open(path, O_RDWR);
    CHECK_EQ_INT(pwrite(fd, "X", 1, SPOOL_HDR_LEN + 2 * (SPOOL_REC_LEN + 7) + SPOOL_REC_LEN + 2), 1);
    close(fd);
    CHECK_EQ_INT(spool_open(&s, path, 1 << 20, &note, err, sizeof err), 0);
    CHECK(note != NULL);
    free(note);
    CHECK_EQ_INT(spool_pending(s), 2);
    spool_close(s);
    cleanup();
}

/* Nothing pending and the file past SPOOL_COMPACT_EMPTY: compacted to a
 * header and the counter. */
static void test_compaction_keeps_counter(void)
{
    fresh();
    struct spool *s = open_spool(8 << 20);
    char big[4000];
    memset(big, 'x', sizeof big);
    uint64_t seq = 0;
    struct spool_drop d;
    int i = 0;
    for (; spool_file_bytes(s) < SPOOL_COMPACT_EMPTY; i++)
        CHECK_EQ_INT(spool_append(s, big, sizeof big, 0, &seq, &d, NULL, 0), 0);
    CHECK_EQ_INT(spool_ack(s, seq, NULL, 0), 0);
    CHECK_EQ_INT(spool_file_bytes(s), SPOOL_HDR_LEN + SPOOL_REC_LEN);
    spool_close(s);
    s = open_spool(8 << 20);
    CHECK_EQ_INT(put(s, 0), (uint64_t)i + 1);
    spool_close(s);
    cleanup();
}

/* A full spool drops its oldest tenth (at least) and says which. */
static void test_full_drops_oldest(void)
{
    fresh();
    struct spool *s = open_spool(64 << 10);
    char body[1000];
    memset(body, 'y', sizeof body);
    uint64_t seq = 0, dropped = 0, first = 0;
    struct spool_drop d;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ_INT(spool_append(s, body, sizeof body, 0, &seq, &d, NULL, 0), 0);
        if (d.count && !first) first = d.first_seq;
        if (d.count) CHECK_EQ_INT(d.first_seq, dropped + 1);
        dropped += d.count;
        CHECK(spool_file_bytes(s) <= 64 << 10);
    }
    CHECK_EQ_INT(first, 1);
    CHECK(dropped > 0);
    CHECK_EQ_INT(spool_pending(s) + dropped, 200);
    struct spool_item it[1];
    size_t n;
    CHECK_EQ_INT(spool_peek(s, 0, 1, 1 << 20, it, &n), 0);
    CHECK_EQ_INT(it[0].seq, dropped + 1); /* the oldest left */
    spool_items_free(it, n);
    spool_close(s);
    s = open_spool(64 << 10);
    CHECK_EQ_INT(spool_pending(s) + dropped, 200);
    CHECK_EQ_INT(put(s, 1), 201);
    char huge[70000];
    memset(huge, 'z', sizeof huge);
    CHECK_EQ_INT(spool_append(s, huge, sizeof huge, 0, &seq, &d, NULL, 0), GK_ETOOBIG);
    spool_close(s);
    cleanup();
}

static void test_lock_and_foreign_file(void)
{
    fresh();
    struct spool *a = open_spool(1 << 20), *b = NULL;
    char *note = NULL, err[256];
    CHECK_EQ_INT(spool_open(&b, path, 1 << 20, &note, err, sizeof err), GK_EEXIST);
    CHECK(strstr(err, "in use") != NULL);
    spool_close(a);
    FILE *f = fopen(path, "w");
    fputs("not a spool at all, but someone's notes\n", f);
    fclose(f);
    CHECK_EQ_INT(spool_open(&b, path, 1 << 20, &note, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "not a gasket-pub spool") != NULL);
    f = fopen(path, "r");
    char line[64] = "";
    CHECK(fgets(line, sizeof line, f) && strstr(line, "notes")); /* left as it was */
    fclose(f);
    cleanup();
}

/* Draining: many readings peeked and acknowledged in batches, the file
 * compacted on the way, nothing lost nor repeated. */
static void test_drain_in_batches(void)
{
    fresh();
    struct spool *s = open_spool(16 << 20);
    char body[700];
    memset(body, 'r', sizeof body);
    uint64_t seq;
    struct spool_drop d;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(body, sizeof body, "{\"i\":%d}", i);
        body[n] = ' ';
        CHECK_EQ_INT(spool_append(s, body, sizeof body, 0, &seq, &d, NULL, 0), 0);
    }
    static struct spool_item it[500];
    int next = 0;
    size_t n;
    while (spool_pending(s) > 0) {
        CHECK_EQ_INT(spool_peek(s, 0, 500, 4 << 20, it, &n), 0);
        for (size_t k = 0; k < n; k++)
            CHECK_EQ_INT(body_i(&it[k]), next++);
        CHECK_EQ_INT(spool_ack(s, it[n - 1].seq, NULL, 0), 0);
        spool_items_free(it, n);
    }
    CHECK_EQ_INT(next, 5000);
    CHECK(spool_file_bytes(s) < 1 << 20);
    spool_close(s);
    cleanup();
}

int main(void)
{
    RUN(test_order_and_reopen);
    RUN(test_torn_tail);
    RUN(test_compaction_keeps_counter);
    RUN(test_full_drops_oldest);
    RUN(test_lock_and_foreign_file);
    RUN(test_drain_in_batches);
    TEST_MAIN_END();
}
