/* fuzz_spool.c: libFuzzer target for device/spool_fmt.c, the reader of
 * gasket-pub's spool file (a file a crash, a power cut or a bad disk may
 * have left in any state).
 *
 * The input is the file. spool_scan() must either refuse it (no header) or
 * describe it consistently: the valid part within the file, the first
 * pending reading inside it, no more pending readings than records fit;
 * every record it counted must read back (spool_rec_read) with a length
 * within the limit. The reader is given exactly the input's bytes.
 * Corpus: tests/fuzz/corpus/spool (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device/spool_fmt.h"

struct mem {
    const uint8_t *p;
    size_t n;
};

static long mem_read(void *ud, uint64_t off, void *buf, size_t len)
{
    struct mem *m = ud;
    if (off >= m->n) return 0;
    size_t k = m->n - off < len ? m->n - off : len;
    memcpy(buf, m->p + off, k);
    return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *scratch;
    if (!scratch) scratch = malloc(SPOOL_REC_LEN + SPOOL_MAX_REC);
    uint8_t *copy = malloc(size ? size : 1); /* exactly the input: over-reads are caught */
    memcpy(copy, data, size);
    struct mem m = {copy, size};
    struct spool_scan sc;
    if (spool_scan(mem_read, &m, scratch, &sc) == 0) {
        if (sc.end < SPOOL_HDR_LEN || sc.end > size || sc.file_len != size) abort();
        if (sc.head > sc.end || (sc.pending == 0) != (sc.head == sc.end)) abort();
        if (sc.pending * SPOOL_REC_LEN > sc.end || sc.pending_bytes > sc.end) abort();
        if (sc.acked > sc.last_seq) abort();
        uint64_t off = SPOOL_HDR_LEN;
        struct spool_rec_info r;
        while (off < sc.end) {
            if (spool_rec_read(mem_read, &m, off, scratch, &r) != 1) abort();
            if (r.len > SPOOL_MAX_REC) abort();
            off += SPOOL_REC_LEN + r.len;
        }
        if (off != sc.end) abort();
    } else if (!memchr(sc.why, '\0', sizeof sc.why) || !sc.why[0]) {
        abort();
    }
    free(copy);
    return 0;
}
