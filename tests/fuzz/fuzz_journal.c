/* fuzz_journal.c: libFuzzer target for store/store_journal.c's reader,
 * store_jnl_scan(), which reads back at start the journal files a crash, a
 * power cut or a bad disk may have left in any state.
 *
 * The input is one file's bytes (given exactly: over-reads are caught). The
 * scan must stop within them at a record boundary and either succeed or say
 * that a record whose CRC holds does not decode. Every document it reads
 * must survive a round trip: encoded alone into a new record
 * (store_jnl_add, store_jnl_seal) and scanned again, it reads back as the
 * same bytes once more, and the record is read to its end. The input is
 * scanned twice: as it is, and with every record's magic and CRC made
 * right, so that the fuzzer reaches the decoder behind the CRC (and the
 * decompression of "GKJ2" records).
 * Corpus: tests/fuzz/corpus/journal (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "core/mem.h"
#include "store/store_int.h"

struct again {
    struct store_jnl *out;
    int64_t id;
    size_t docs;
};

/* Encodes doc alone into out's record. */
static void encode(struct store_jnl *out, const struct store_job *doc, int64_t id, int64_t seq,
                   int64_t at)
{
    store_jnl_begin(out);
    store_jnl_add(out, doc, id, seq, at);
    store_jnl_seal(out);
}

static int reencode(void *ud, struct store_job *doc, int64_t id, int64_t seq, int64_t at)
{
    struct again *a = ud;
    if (id != a->id) abort();
    encode(a->out, doc, id, seq, at);
    a->docs++;
    return 0;
}

static int round_trip(void *ud, struct store_job *doc, int64_t id, int64_t seq, int64_t at)
{
    (void)ud;
    if (!doc->index || !doc->source || strlen(doc->source) > doc->source_len) abort();
    struct store_jnl first = {.fd = -1}, second = {.fd = -1};
    encode(&first, doc, id, seq, at);
    struct again a = {.out = &second, .id = id};
    size_t good;
    int rc = store_jnl_scan(&second, (const unsigned char *)first.rec.data, first.rec.len,
                            INT64_MIN, reencode, &a, &good);
    if (rc != 0 || good != first.rec.len || a.docs != 1 || second.last_id < id) abort();
    if (second.rec.len != first.rec.len || memcmp(second.rec.data, first.rec.data, first.rec.len))
        abort();
    store_jnl_close(&first);
    store_jnl_close(&second);
    return 0;
}

static void scan(const uint8_t *p, size_t size)
{
    struct store_jnl j = {.fd = -1};
    size_t good = 0;
    /* after = the smallest id: every document goes through the round trip */
    int rc = store_jnl_scan(&j, p, size, INT64_MIN, round_trip, NULL, &good);
    if ((rc != 0 && rc != GK_EINVAL) || good > size) abort();
    store_jnl_close(&j);
}

/* Sets each record's magic and CRC (header: magic, length, CRC; 12 bytes):
 * "GKJ2" (compressed) when the magic's first byte is odd, else "GKJ1". */
static void make_crcs_right(uint8_t *p, size_t size)
{
    size_t off = 0;
    while (size - off >= 12) {
        uint32_t len, magic = p[off] & 1 ? 0x324a4b47u : 0x314a4b47u;
        memcpy(&len, p + off + 4, 4);
        if (len > size - off - 12) break;
        uint32_t crc = (uint32_t)crc32(0, p + off + 12, len);
        memcpy(p + off, &magic, 4);
        memcpy(p + off + 8, &crc, 4);
        off += 12 + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    scan(copy, size);
    make_crcs_right(copy, size);
    scan(copy, size);
    free(copy);
    return 0;
}
