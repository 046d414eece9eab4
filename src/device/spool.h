/* spool.h: gasket-pub's store and forward queue, a file that survives
 * kill -9 and power loss (format: spool_fmt.h).
 *
 * A reading is appended (and fsynced, unless the caller batches several and
 * calls spool_sync() once) before gasket-pub tries to send it, and leaves
 * the queue only with spool_ack(), once the server acknowledged it (or it
 * was dropped for good). Acknowledgements are appended without an fsync:
 * after a crash a reading may be sent again, which the server's
 * idempotency key makes harmless; a reading is never lost.
 *
 * The file is bounded by max_bytes. When a reading would not fit, the dead
 * part (everything acknowledged) is compacted away first; when the pending
 * readings alone fill it, the oldest tenth of them is dropped (spool_drop
 * says which). Compaction writes FILE.tmp (header, the acknowledgement
 * counter, the pending readings), fsyncs it and renames it over FILE: a
 * crash leaves either file whole. It also runs when nothing is pending and
 * the file has grown past SPOOL_COMPACT_EMPTY, so an online device's spool
 * stays small.
 *
 * One process at a time: FILE.lock is held with flock() while it is open.
 * Every reading has a sequence number (from 1, never reused in one spool)
 * and the spool a random 64-bit id chosen when the file is created, which
 * gasket-pub puts in the reading's idempotency key: a spool deleted and
 * made again never repeats a key of the old one. */
#ifndef GASKET_DEVICE_SPOOL_H
#define GASKET_DEVICE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_COMPACT_EMPTY (256u << 10)
#define SPOOL_MIN_BYTES     (64u << 10) /* the smallest max_bytes */

struct spool;

/* A pending reading, copied out of the file. */
struct spool_item {
    uint64_t seq;
    char *data; /* its bytes, NUL-terminated (malloc'd) */
    size_t len;
};

/* What an append had to drop to make room. */
struct spool_drop {
    uint64_t count;            /* readings dropped (0: none) */
    uint64_t first_seq, last_seq;
};

/* Opens (creating it, 0600, when missing) the spool at path, bounded by
 * max_bytes (>= SPOOL_MIN_BYTES). A torn or damaged tail (a crash during an
 * append) is cut off and reported in *note (NULL: none; else a line
 * to log, malloc'd). Returns 0, or GK_EIO / GK_EINVAL (not a spool) /
 * GK_EEXIST (another process has it open) with the reason in err. */
int spool_open(struct spool **out, const char *path, uint64_t max_bytes, char **note, char *err,
               size_t errlen);
void spool_close(struct spool *s);
/* Appends a reading: *seq gets its number, *drop what was dropped for it.
 * With sync, fsynced before returning. Returns 0, GK_ETOOBIG (larger than
 * the spool or SPOOL_MAX_REC) or GK_EIO (the file is as before; err says
 * why). */
int spool_append(struct spool *s, const void *data, size_t len, int sync, uint64_t *seq,
                 struct spool_drop *drop, char *err, size_t errlen);
/* fsyncs what was appended. Returns 0 or GK_EIO. */
int spool_sync(struct spool *s);
/* The pending readings after seq `after` (0: from the first), in order: at
 * most max_n, and no more than max_bytes of data (at least one). Returns 0
 * with *n items (the caller frees them with spool_items_free) or GK_EIO. */
int spool_peek(struct spool *s, uint64_t after, size_t max_n, size_t max_bytes,
               struct spool_item *items, size_t *n);
void spool_items_free(struct spool_item *items, size_t n);
/* Every reading up to seq `upto` is done: they leave the queue. Returns 0
 * or GK_EIO (err says why; they will be sent again). */
int spool_ack(struct spool *s, uint64_t upto, char *err, size_t errlen);

uint64_t spool_id(const struct spool *s);
uint64_t spool_acked(const struct spool *s);         /* every seq up to it is done */
uint64_t spool_pending(const struct spool *s);       /* readings */
uint64_t spool_pending_bytes(const struct spool *s); /* their bytes in the file */
uint64_t spool_file_bytes(const struct spool *s);

#endif
