/* store_journal.c: the store's journal, where an acknowledged document is
 * durable before it reaches gasket.db.
 *
 * The writer commits a group of documents by appending one record to the
 * journal and syncing it (fdatasync at durability full; at normal the write
 * alone, which survives a crash of the process), then commits the same
 * rows into the hot database (store_move.c), which lives in memory. Rows
 * reach gasket.db later, a generation at a time (the move, store_move.c);
 * once gasket.db has committed a generation durably the journal files that
 * held only moved documents are deleted. At open, the records of documents
 * not moved yet are read back (replay) into the hot database.
 *
 * Layout: data_dir/journal/<first id, 20 digits>.log, each a run of records
 *   u32 magic "GKJ1", u32 payload length, u32 CRC-32 of the payload,
 *   payload: u32 count, then per document
 *     i64 id, i64 seq, i64 ts, str index, str groupid (len ~0: none),
 *     str source, u32 n, n x (str name, f64 value),
 *     str idempotency key (len ~0: none), u64 fingerprint, i64 at
 *   (str: u32 length + bytes; little-endian as the machine writes it: a
 *   journal is read back by the machine that wrote it);
 * or, when that is smaller (it nearly always is: a group of seed readings
 * takes a tenth of its bytes), the same payload compressed:
 *   u32 magic "GKJ2", u32 length, u32 CRC-32 of what follows,
 *   u32 the payload's length, one zstd frame of the payload.
 * A record cut short at the end of the newest file ends the replay, and the
 * file is truncated to the records before it (a crash in the middle of an
 * append leaves exactly that; the documents of such a record were never
 * acknowledged). A bad record anywhere else (whole records after it, or an
 * older file) is damage: at durability full the start is refused and the
 * file left as it is (replay_file). Writer thread only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_int.h"

#define JNL_MAGIC  0x314a4b47u /* "GKJ1" */
#define JNL_ZMAGIC 0x324a4b47u /* "GKJ2" */
#define JNL_ZLEVEL 1
#define JNL_ZMIN   128          /* payloads shorter than this stay as they are */
#define JNL_ZMAX   (256u << 20) /* a payload longer than this does not decode */
#define JNL_HEAD  12
#define JNL_NONE  0xffffffffu
#define JNL_SEGMENT_BYTES (8u << 20) /* a new file once one is this long */

/* ---- encoding ---- */

static void put_raw(struct buf *b, const void *p, size_t n)
{
    buf_append(b, p, n);
}

static void put_u32(struct buf *b, uint32_t v)
{
    put_raw(b, &v, sizeof v);
}

static void put_i64(struct buf *b, int64_t v)
{
    put_raw(b, &v, sizeof v);
}

static void put_str(struct buf *b, const char *s, size_t len)
{
    if (!s) {
        put_u32(b, JNL_NONE);
        return;
    }
    put_u32(b, (uint32_t)len);
    put_raw(b, s, len);
}

void store_jnl_begin(struct store_jnl *j)
{
    buf_reset(&j->rec);
    j->count = 0;
    char head[JNL_HEAD + 4] = {0};
    put_raw(&j->rec, head, sizeof head); /* header and count, filled at the end */
}

void store_jnl_add(struct store_jnl *j, const struct store_job *d, int64_t id, int64_t seq,
                   int64_t at)
{
    struct buf *b = &j->rec;
    put_i64(b, id);
    put_i64(b, seq);
    put_i64(b, d->ts_ms);
    put_str(b, d->index, strlen(d->index));
    put_str(b, d->groupid, d->groupid ? strlen(d->groupid) : 0);
    put_str(b, d->source, d->source_len);
    put_u32(b, (uint32_t)d->nmeas);
    for (size_t i = 0; i < d->nmeas; i++) {
        put_str(b, d->meas[i].name, strlen(d->meas[i].name));
        put_raw(b, &d->meas[i].value, sizeof(double));
    }
    put_str(b, d->idem_key, d->idem_len);
    put_raw(b, &d->idem_fp, sizeof d->idem_fp);
    put_i64(b, at);
    j->count++;
}

/* ---- files ---- */

static char *seg_path(const struct store_jnl *j, int64_t first)
{
    size_t n = strlen(j->dir) + 32;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%020" PRId64 ".log", j->dir, first);
    return p;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int err_of(int e)
{
    return e == ENOSPC || e == EDQUOT ? GK_EFULL : GK_ESTORE;
}

/* Notes the file of documents from first on. */
static void segs_add(struct store_jnl *j, int64_t first)
{
    if (j->nsegs == j->capsegs) {
        j->capsegs = j->capsegs ? 2 * j->capsegs : 8;
        j->segs = xrealloc(j->segs, j->capsegs * sizeof *j->segs);
    }
    j->segs[j->nsegs++] = first;
}

/* Cuts the file being appended to back to its last complete record (or
 * gives it up when that fails: the next commit starts a new file). */
static void rewind_to_size(struct store_jnl *j)
{
    if (ftruncate(j->fd, (off_t)j->size) != 0 || lseek(j->fd, (off_t)j->size, SEEK_SET) < 0) {
        close(j->fd);
        j->fd = -1;
    }
}

/* Opens a new file for documents from first on. */
static int seg_start(struct store_jnl *j, int64_t first)
{
    char *p = seg_path(j, first);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        log_error("store: journal %s: %s", p, strerror(e));
        free(p);
        return err_of(e);
    }
    free(p);
    if (j->fd >= 0) close(j->fd);
    j->fd = fd;
    j->size = 0;
    segs_add(j, first);
    /* the directory entry must survive a power cut too */
    if (j->sync) {
        int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

static void put_head(char *r, uint32_t magic, uint32_t len)
{
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)r + JNL_HEAD, len);
    memcpy(r, &magic, 4);
    memcpy(r + 4, &len, 4);
    memcpy(r + 8, &crc, 4);
}

/* Compresses the payload of the record in rec into a GKJ2 record there,
 * when that is smaller. */
static void compress_rec(struct store_jnl *j, uint32_t len)
{
    if (len < JNL_ZMIN) return;
    if (!j->zc && !(j->zc = ZSTD_createCCtx())) return; /* kept as it is */
    size_t cap = JNL_HEAD + 4 + ZSTD_compressBound(len);
    char *z = xmalloc(cap);
    size_t n = ZSTD_compressCCtx(j->zc, z + JNL_HEAD + 4, cap - JNL_HEAD - 4,
                                 j->rec.data + JNL_HEAD, len, JNL_ZLEVEL);
    if (!ZSTD_isError(n) && n + 4 < len) {
        memcpy(z + JNL_HEAD, &len, 4);
        put_head(z, JNL_ZMAGIC, (uint32_t)n + 4);
        buf_reset(&j->rec);
        buf_append(&j->rec, z, JNL_HEAD + 4 + n);
    }
    free(z);
}

void store_jnl_seal(struct store_jnl *j)
{
    char *r = j->rec.data;
    uint32_t len = (uint32_t)(j->rec.len - JNL_HEAD), count = j->count;
    memcpy(r + JNL_HEAD, &count, 4);
    put_head(r, JNL_MAGIC, len);
    compress_rec(j, len);
}

int store_jnl_commit(struct store_jnl *j, int64_t first_id)
{
    if (j->count == 0) return 0;
    if (j->fd < 0 || j->size >= JNL_SEGMENT_BYTES) {
        int rc = seg_start(j, first_id);
        if (rc != 0) return rc;
    }
    store_jnl_seal(j);
    char *r = j->rec.data;
    int e = 0;
    if (write_all(j->fd, r, j->rec.len) != 0 || (j->sync && fdatasync(j->fd) != 0)) e = errno;
    if (e == 0) {
        j->size += j->rec.len;
        return 0;
    }
    log_error("store: writing the journal: %s", strerror(e));
    rewind_to_size(j); /* no torn record behind: later records would be unreachable */
    return err_of(e);
}

void store_jnl_undo(struct store_jnl *j)
{
    if (j->fd >= 0 && j->count > 0) rewind_to_size(j);
}

/* ---- reading back ---- */

struct rd {
    const unsigned char *p, *end;
    int bad;
};

static void get(struct rd *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

static const char *get_str(struct rd *r, size_t *len)
{
    uint32_t n;
    get(r, &n, 4);
    *len = 0;
    if (r->bad || n == JNL_NONE) return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = n;
    return s;
}

/* Decodes one document into a job (one allocation, strings NUL-ended). */
static struct store_job *decode_doc(struct rd *r, int64_t *id, int64_t *seq, int64_t *at)
{
    int64_t ts;
    get(r, id, 8);
    get(r, seq, 8);
    get(r, &ts, 8);
    size_t il, gl, sl, kl;
    const char *idx = get_str(r, &il), *grp = get_str(r, &gl), *src = get_str(r, &sl);
    uint32_t nmeas;
    get(r, &nmeas, 4);
    if (r->bad || !idx || !src || nmeas > (size_t)(r->end - r->p) / 12) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *meas_at = r->p;
    size_t names = 0;
    for (uint32_t i = 0; i < nmeas; i++) {
        size_t nl;
        double v;
        if (!get_str(r, &nl)) r->bad = 1;
        get(r, &v, 8);
        names += nl + 1;
    }
    const char *key = get_str(r, &kl);
    uint64_t fp;
    get(r, &fp, 8);
    get(r, at, 8);
    if (r->bad) return NULL;
    size_t extra = nmeas * sizeof(struct store_job_meas) + il + 1 + gl + 1 + sl + 1 + kl + 1 + names;
    struct store_job *j = xcalloc(1, sizeof *j + extra);
    char *p = (char *)&j->meas[nmeas];
#define COPY(dst, s, n)                                                                            \
    do {                                                                                           \
        memcpy(p, s, n);                                                                           \
        p[n] = '\0';                                                                               \
        dst = p;                                                                                   \
        p += (n) + 1;                                                                              \
    } while (0)
    j->kind = STORE_JOB_DOC;
    COPY(j->index, idx, il);
    if (grp) COPY(j->groupid, grp, gl);
    COPY(j->source, src, sl);
    j->source_len = sl;
    j->ts_ms = ts;
    j->nmeas = nmeas;
    struct rd m = {.p = meas_at, .end = r->end};
    for (uint32_t i = 0; i < nmeas; i++) {
        size_t nl;
        const char *name = get_str(&m, &nl);
        COPY(j->meas[i].name, name, nl);
        get(&m, &j->meas[i].value, 8);
    }
    if (key) {
        COPY(j->idem_key, key, kl);
        j->idem_len = kl;
        j->idem_fp = fp;
    }
#undef COPY
    return j;
}

/* The payload of the GKJ2 record r holds (r set to read it), or NULL
 * when it does not decompress to the length it gives. */
static unsigned char *unzip_payload(struct rd *r)
{
    uint32_t raw_len;
    get(r, &raw_len, 4);
    if (r->bad || raw_len > JNL_ZMAX || raw_len < 4) return NULL;
    unsigned char *raw = xmalloc(raw_len);
    size_t n = ZSTD_decompress(raw, raw_len, r->p, (size_t)(r->end - r->p));
    if (ZSTD_isError(n) || n != raw_len) {
        free(raw);
        return NULL;
    }
    r->p = raw;
    r->end = raw + raw_len;
    return raw;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int store_jnl_scan(struct store_jnl *j, const unsigned char *data, size_t size, int64_t after,
                   store_jnl_fn fn, void *ud, size_t *good)
{
    int rc = 0;
    *good = 0;
    while (size - *good >= JNL_HEAD) {
        const unsigned char *h = data + *good;
        uint32_t magic, len, crc;
        memcpy(&magic, h, 4);
        memcpy(&len, h + 4, 4);
        memcpy(&crc, h + 8, 4);
        if ((magic != JNL_MAGIC && magic != JNL_ZMAGIC) || len > size - *good - JNL_HEAD ||
            (uint32_t)crc32(0, h + JNL_HEAD, len) != crc)
            break;
        struct rd r = {.p = h + JNL_HEAD, .end = h + JNL_HEAD + len};
        unsigned char *raw = NULL;
        if (magic == JNL_ZMAGIC && !(raw = unzip_payload(&r))) return GK_EINVAL;
        uint32_t count;
        get(&r, &count, 4);
        for (uint32_t i = 0; i < count && rc == 0 && !r.bad; i++) {
            int64_t id, seq, at;
            struct store_job *d = decode_doc(&r, &id, &seq, &at);
            if (!d) break;
            if (id > after) rc = fn(ud, d, id, seq, at);
            if (id > j->last_id) j->last_id = id;
            free(d);
        }
        int bad = r.bad || r.p != r.end;
        free(raw);
        if (rc != 0) return rc;
        if (bad) return GK_EINVAL;
        *good += JNL_HEAD + len;
    }
    return 0;
}

/* 1 when a whole record (magic, length within the data, CRC) starts at
 * some byte of data[from, size). */
static int record_after(const unsigned char *data, size_t size, size_t from)
{
    for (size_t at = from; at + JNL_HEAD <= size; at++) {
        uint32_t magic, len, crc;
        memcpy(&magic, data + at, 4);
        if (magic != JNL_MAGIC && magic != JNL_ZMAGIC) continue;
        memcpy(&len, data + at + 4, 4);
        memcpy(&crc, data + at + 8, 4);
        if (len <= size - at - JNL_HEAD && (uint32_t)crc32(0, data + at + JNL_HEAD, len) == crc)
            return 1;
    }
    return 0;
}

/* Reads one file (last: the newest); returns 0 or GK_ESTORE. A torn tail
 * is cut off: what an append cut short by a crash leaves. At durability
 * full each record was synced before the next was written, so a bad record
 * with whole records after it, or in a file older than the newest, is
 * damage, not a torn append: it is left as it is and the start refused
 * (cutting it would delete acknowledged readings). At normal the page
 * cache may have written later pages before earlier ones: cut, as said. */
static int replay_file(struct store_jnl *j, int64_t first, int64_t after, store_jnl_fn fn,
                       void *ud, int last)
{
    char *p = seg_path(j, first);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        log_error("store: journal %s: %s", p, strerror(errno));
        if (fd >= 0) close(fd);
        free(p);
        return GK_ESTORE;
    }
    size_t size = (size_t)st.st_size, good = 0;
    unsigned char *data = xmalloc(size ? size : 1);
    ssize_t got = pread(fd, data, size, 0);
    int rc = got == (ssize_t)size ? store_jnl_scan(j, data, size, after, fn, ud, &good)
                                   : GK_ESTORE;
    if (rc == GK_EINVAL) {
        log_error("store: journal %s: the record at byte %zu does not decode", p, good);
        rc = GK_ESTORE;
    }
    if (rc == 0 && good < size && j->sync && (!last || record_after(data, size, good + 1))) {
        log_error("store: journal %s is damaged at byte %zu (%s): acknowledged readings may be "
                  "in it, so it is left as it is. Keep a copy of it, then move it out of the "
                  "journal folder to start without its readings",
                  p, good, last ? "whole records follow" : "a newer journal file exists");
        rc = GK_ESTORE;
    } else if (rc == 0 && good < size) {
        log_warn("store: journal %s: %zu bytes of an unfinished record at its end cut off", p,
                 size - good);
        if (ftruncate(fd, (off_t)good) != 0) rc = GK_ESTORE;
    }
    free(data);
    close(fd);
    free(p);
    return rc;
}

int store_jnl_open(struct store_jnl *j, const char *data_dir, int sync, int64_t after,
                   store_jnl_fn fn, void *ud)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->sync = sync;
    size_t n = strlen(data_dir) + sizeof "/journal";
    j->dir = xmalloc(n);
    snprintf(j->dir, n, "%s/journal", data_dir);
    if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
        log_error("store: cannot create %s: %s", j->dir, strerror(errno));
        return GK_EIO;
    }
    DIR *dir = opendir(j->dir);
    if (!dir) {
        log_error("store: cannot read %s: %s", j->dir, strerror(errno));
        return GK_EIO;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char *end;
        long long first = strtoll(e->d_name, &end, 10);
        if (end == e->d_name || strcmp(end, ".log") != 0) continue;
        segs_add(j, first);
    }
    closedir(dir);
    if (j->nsegs) qsort(j->segs, j->nsegs, sizeof *j->segs, cmp_i64); /* segs may be NULL */
    for (size_t i = 0; i < j->nsegs; i++) {
        int rc = replay_file(j, j->segs[i], after, fn, ud, i + 1 == j->nsegs);
        if (rc != 0) return rc;
    }
    return 0;
}

void store_jnl_set_sync(struct store_jnl *j, int sync)
{
    j->sync = sync;
}

void store_jnl_moved(struct store_jnl *j, int64_t moved, int64_t next_id)
{
    /* file i holds ids [segs[i], segs[i+1]); the open one [segs[last], next_id) */
    size_t keep = 0;
    for (size_t i = 0; i < j->nsegs; i++) {
        int64_t end = i + 1 < j->nsegs ? j->segs[i + 1] : next_id;
        if (end - 1 <= moved) {
            if (i + 1 == j->nsegs && j->fd >= 0) {
                close(j->fd); /* the next commit opens a new file */
                j->fd = -1;
            }
            char *p = seg_path(j, j->segs[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                log_warn("store: cannot delete %s: %s", p, strerror(errno));
            free(p);
        } else {
            j->segs[keep++] = j->segs[i];
        }
    }
    j->nsegs = keep;
}

void store_jnl_close(struct store_jnl *j)
{
    if (j->fd >= 0) close(j->fd);
    ZSTD_freeCCtx(j->zc);
    free(j->segs);
    free(j->dir);
    buf_free(&j->rec);
    memset(j, 0, sizeof *j);
    j->fd = -1;
}
