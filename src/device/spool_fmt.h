/* spool_fmt.h: the bytes of gasket-pub's spool file, and the scanner that
 * reads them back.
 *
 * The file is a log, appended to and never rewritten in place:
 *   header (SPOOL_HDR_LEN bytes)
 *     "GKSPOOL1", spool id (u64), created (u64, unix ms), 0 (u32),
 *     CRC-32C of the 28 bytes before it (u32)
 *   records, each SPOOL_REC_LEN bytes then `len` bytes of payload:
 *     CRC-32C of everything after it up to the payload's end (u32),
 *     type (u8: 'D' a reading, 'A' an acknowledgement), 0 (3 bytes),
 *     len (u32), seq (u64)
 * Integers are little-endian. A 'D' record holds one reading as it will be
 * sent (its JSON body) under the sequence number `seq` (from 1, strictly
 * increasing); an 'A' record says that every reading up to `seq` is done
 * (acknowledged by the server or dropped) and carries the counter of an
 * empty spool. A reading is pending when its seq is above the last 'A'.
 *
 * Pure: the scanner reads through a callback, so the same code reads a
 * file (spool.c) and a fuzzer's bytes (tests/fuzz/fuzz_spool.c). */
#ifndef GASKET_DEVICE_SPOOL_FMT_H
#define GASKET_DEVICE_SPOOL_FMT_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_MAGIC   "GKSPOOL1"
#define SPOOL_HDR_LEN 32
#define SPOOL_REC_LEN 20
#define SPOOL_MAX_REC (1u << 20) /* payload bytes of one record at most */
#define SPOOL_DATA    'D'
#define SPOOL_ACK     'A'

uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len);

/* The header of a new spool with this id and creation time. */
void spool_hdr_encode(uint8_t out[SPOOL_HDR_LEN], uint64_t id, uint64_t created_ms);
/* The record head of a record of `type` (its CRC covers payload too). */
void spool_rec_encode(uint8_t out[SPOOL_REC_LEN], int type, uint64_t seq, const void *payload,
                      uint32_t len);

/* A record as the scanner sees it. */
struct spool_rec_info {
    int type;
    uint32_t len;
    uint64_t seq;
    uint64_t off; /* of its head in the file */
};

/* Reads len bytes at off into buf: returns the bytes read (fewer at the
 * end of the file) or -1. */
typedef long (*spool_read_fn)(void *ud, uint64_t off, void *buf, size_t len);

/* What a scan found. */
struct spool_scan {
    uint64_t id, created_ms;
    uint64_t end;       /* where the valid records end: what follows is torn or damaged */
    uint64_t file_len;  /* the bytes there were */
    uint64_t last_seq;  /* the highest seq of any record (0: none) */
    uint64_t acked;     /* the highest 'A' seq */
    uint64_t head;      /* offset of the first pending reading (end when none) */
    uint64_t pending;   /* readings with seq > acked */
    uint64_t pending_bytes; /* their records' bytes, heads included */
    char why[96];       /* when end < file_len: what was wrong there */
};

/* Scans a spool file through rd: 0 with *out filled, or -1 when the header
 * is missing or not a spool's (why says so). A damaged or torn record ends
 * the valid part (out->end): the caller truncates there. Records are
 * checked for their CRC, type, length (at most SPOOL_MAX_REC), and order
 * (readings' seq strictly increasing and above the last 'A'; 'A' seqs not
 * decreasing). buf (at least SPOOL_REC_LEN + SPOOL_MAX_REC bytes) is
 * scratch space. */
int spool_scan(spool_read_fn rd, void *ud, uint8_t *buf, struct spool_scan *out);
/* Reads the record head at off and checks its CRC (payload read into buf):
 * 1 with *info filled, 0 at a clean end of file, -1 when damaged. */
int spool_rec_read(spool_read_fn rd, void *ud, uint64_t off, uint8_t *buf,
                   struct spool_rec_info *info);

#endif
