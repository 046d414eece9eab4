/* spool_fmt.c: the spool file's bytes and their scanner (spool_fmt.h). */
#include "device/spool_fmt.h"

#include <stdio.h>
#include <string.h>

static uint32_t crc_table[256];

/* CRC-32C (Castagnoli), reflected, table built on first use (idempotent:
 * two threads building it at once write the same values). */
uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!crc_table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            crc_table[i] = c;
        }
    }
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void spool_hdr_encode(uint8_t out[SPOOL_HDR_LEN], uint64_t id, uint64_t created_ms)
{
    memcpy(out, SPOOL_MAGIC, 8);
    put64(out + 8, id);
    put64(out + 16, created_ms);
    put32(out + 24, 0);
    put32(out + 28, spool_crc32c(0, out, 28));
}

void spool_rec_encode(uint8_t out[SPOOL_REC_LEN], int type, uint64_t seq, const void *payload,
                      uint32_t len)
{
    out[4] = (uint8_t)type;
    out[5] = out[6] = out[7] = 0;
    put32(out + 8, len);
    put64(out + 12, seq);
    uint32_t crc = spool_crc32c(0, out + 4, SPOOL_REC_LEN - 4);
    put32(out, spool_crc32c(crc, payload, len));
}

/* Combines two CRC-32C runs the slow, obvious way: the CRC of head (after
 * its own CRC field) continued over the payload. */
static uint32_t rec_crc(const uint8_t *head, const uint8_t *payload, uint32_t len)
{
    return spool_crc32c(spool_crc32c(0, head + 4, SPOOL_REC_LEN - 4), payload, len);
}

int spool_rec_read(spool_read_fn rd, void *ud, uint64_t off, uint8_t *buf,
                   struct spool_rec_info *info)
{
    long n = rd(ud, off, buf, SPOOL_REC_LEN);
    if (n == 0) return 0;
    if (n != SPOOL_REC_LEN) return -1;
    info->type = buf[4];
    info->len = get32(buf + 8);
    info->seq = get64(buf + 12);
    info->off = off;
    if ((info->type != SPOOL_DATA && info->type != SPOOL_ACK) || buf[5] || buf[6] || buf[7] ||
        info->len > SPOOL_MAX_REC || (info->type == SPOOL_ACK && info->len != 0))
        return -1;
    if (info->len && rd(ud, off + SPOOL_REC_LEN, buf + SPOOL_REC_LEN, info->len) != (long)info->len)
        return -1;
    return rec_crc(buf, buf + SPOOL_REC_LEN, info->len) == get32(buf) ? 1 : -1;
}

static int scan_header(spool_read_fn rd, void *ud, uint8_t *buf, struct spool_scan *out)
{
    long n = rd(ud, 0, buf, SPOOL_HDR_LEN);
    if (n != SPOOL_HDR_LEN || memcmp(buf, SPOOL_MAGIC, 8) != 0) {
        snprintf(out->why, sizeof out->why, "not a gasket-pub spool (no %s header)", SPOOL_MAGIC);
        return -1;
    }
    if (get32(buf + 28) != spool_crc32c(0, buf, 28)) {
        snprintf(out->why, sizeof out->why, "its header is damaged (CRC)");
        return -1;
    }
    out->id = get64(buf + 8);
    out->created_ms = get64(buf + 16);
    return 0;
}

/* Pass 1: the valid records, the counters. */
static void scan_records(spool_read_fn rd, void *ud, uint8_t *buf, struct spool_scan *out)
{
    uint64_t off = SPOOL_HDR_LEN;
    struct spool_rec_info r;
    int rc;
    while ((rc = spool_rec_read(rd, ud, off, buf, &r)) == 1) {
        if (r.type == SPOOL_DATA && (r.seq == 0 || r.seq <= out->last_seq)) {
            rc = -2;
            break;
        }
        if (r.type == SPOOL_ACK && r.seq < out->acked) {
            rc = -2;
            break;
        }
        if (r.seq > out->last_seq) out->last_seq = r.seq;
        if (r.type == SPOOL_ACK) out->acked = r.seq;
        off += SPOOL_REC_LEN + r.len;
    }
    out->end = off;
    if (rc == -1)
        snprintf(out->why, sizeof out->why, "a torn or damaged record at byte %llu",
                 (unsigned long long)off);
    else if (rc == -2)
        snprintf(out->why, sizeof out->why, "a record out of order at byte %llu",
                 (unsigned long long)off);
}

/* Pass 2: where the pending readings start, how many, how big. */
static void scan_pending(spool_read_fn rd, void *ud, uint8_t *buf, struct spool_scan *out)
{
    out->head = out->end;
    for (uint64_t off = SPOOL_HDR_LEN; off < out->end;) {
        uint32_t len;
        uint64_t seq;
        if (rd(ud, off, buf, SPOOL_REC_LEN) != SPOOL_REC_LEN) break; /* read in pass 1 */
        len = get32(buf + 8);
        seq = get64(buf + 12);
        if (buf[4] == SPOOL_DATA && seq > out->acked) {
            if (out->pending == 0) out->head = off;
            out->pending++;
            out->pending_bytes += SPOOL_REC_LEN + len;
        }
        off += SPOOL_REC_LEN + len;
    }
}

int spool_scan(spool_read_fn rd, void *ud, uint8_t *buf, struct spool_scan *out)
{
    memset(out, 0, sizeof *out);
    if (scan_header(rd, ud, buf, out) != 0) return -1;
    scan_records(rd, ud, buf, out);
    scan_pending(rd, ud, buf, out);
    /* the file's length: probe past the valid end */
    out->file_len = out->end;
    uint8_t probe[4096];
    long n;
    while ((n = rd(ud, out->file_len, probe, sizeof probe)) > 0)
        out->file_len += (uint64_t)n;
    return 0;
}
