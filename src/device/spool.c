/* spool.c: gasket-pub's spool file (spool.h): open and recover, append,
 * peek, acknowledge, compact. All I/O is pread/pwrite on one descriptor;
 * the offsets of the queue (head: the first pending reading, tail: the
 * end of the file) live in struct spool. */
#include "device/spool.h"
#include "core/err.h"
#include "core/mem.h"
#include "device/spool_fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct spool {
    int fd, lockfd;
    char *path;
    uint64_t id, created_ms;
    uint64_t head, tail;      /* offsets: first pending reading (tail: none), end */
    uint64_t acked, last_seq; /* seqs: done up to, highest given */
    uint64_t pending, pending_bytes;
    uint64_t max_bytes;
    uint8_t *buf; /* SPOOL_REC_LEN + SPOOL_MAX_REC bytes of scratch */
};

static long read_fd(void *ud, uint64_t off, void *buf, size_t len)
{
    struct spool *s = ud;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(s->fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        got += (size_t)n;
    }
    return (long)got;
}

static int write_all(int fd, uint64_t off, const void *p, size_t len)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p = (const char *)p + n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* ---- open ---- */

static int lock_file(struct spool *s, char *err, size_t errlen)
{
    size_t n = strlen(s->path) + sizeof ".lock";
    char *lp = xmalloc(n);
    snprintf(lp, n, "%s.lock", s->path);
    s->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = 0;
    if (s->lockfd < 0)
        rc = gk_errf(err, errlen, GK_EIO, "cannot open %s: %s", lp, strerror(errno));
    else if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0)
        rc = gk_errf(err, errlen, errno == EWOULDBLOCK ? GK_EEXIST : GK_EIO,
                     "%s is in use by another gasket-pub (%s is locked)", s->path, lp);
    free(lp);
    return rc;
}

/* Writes the header of an empty spool with a new random id. */
static int create_header(struct spool *s, char *err, size_t errlen)
{
    uint8_t hdr[SPOOL_HDR_LEN];
    if (getrandom(&s->id, sizeof s->id, 0) != sizeof s->id) s->id = now_ms() ^ (uint64_t)getpid();
    s->created_ms = now_ms();
    spool_hdr_encode(hdr, s->id, s->created_ms);
    if (write_all(s->fd, 0, hdr, sizeof hdr) != 0 || fdatasync(s->fd) != 0 ||
        sync_dir(s->path) != 0)
        return gk_errf(err, errlen, GK_EIO, "cannot write %s: %s", s->path, strerror(errno));
    s->head = s->tail = SPOOL_HDR_LEN;
    return 0;
}

/* Reads an existing spool back, cutting a torn tail off. */
static int recover(struct spool *s, char **note, char *err, size_t errlen)
{
    struct spool_scan sc;
    if (spool_scan(read_fd, s, s->buf, &sc) != 0)
        return gk_errf(err, errlen, GK_EINVAL, "%s: %s; move it away or name another --spool",
                       s->path, sc.why);
    s->id = sc.id;
    s->created_ms = sc.created_ms;
    s->head = sc.head;
    s->tail = sc.end;
    s->acked = sc.acked;
    s->last_seq = sc.last_seq;
    s->pending = sc.pending;
    s->pending_bytes = sc.pending_bytes;
    if (sc.end < sc.file_len) {
        if (ftruncate(s->fd, (off_t)sc.end) != 0 || fdatasync(s->fd) != 0)
            return gk_errf(err, errlen, GK_EIO, "cannot cut %s at byte %llu: %s", s->path,
                           (unsigned long long)sc.end, strerror(errno));
        char line[256];
        snprintf(line, sizeof line,
                 "spool %s: %llu bytes after byte %llu dropped (%s: a crash during a write?)",
                 s->path, (unsigned long long)(sc.file_len - sc.end), (unsigned long long)sc.end,
                 sc.why);
        *note = xstrdup(line);
    }
    return 0;
}

int spool_open(struct spool **out, const char *path, uint64_t max_bytes, char **note, char *err,
               size_t errlen)
{
    *out = NULL;
    *note = NULL;
    struct spool *s = xcalloc(1, sizeof *s);
    s->fd = -1;
    s->path = xstrdup(path);
    s->max_bytes = max_bytes < SPOOL_MIN_BYTES ? SPOOL_MIN_BYTES : max_bytes;
    s->buf = xmalloc(SPOOL_REC_LEN + SPOOL_MAX_REC);
    int rc = lock_file(s, err, errlen);
    if (rc == 0) {
        size_t n = strlen(path) + sizeof ".tmp";
        char *tmp = xmalloc(n);
        snprintf(tmp, n, "%s.tmp", path);
        unlink(tmp); /* a compaction that did not finish */
        free(tmp);
        s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->fd < 0) rc = gk_errf(err, errlen, GK_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (rc == 0 && fstat(s->fd, &st) != 0)
        rc = gk_errf(err, errlen, GK_EIO, "cannot stat %s: %s", path, strerror(errno));
    if (rc == 0)
        rc = st.st_size == 0 ? create_header(s, err, errlen) : recover(s, note, err, errlen);
    if (rc != 0) {
        spool_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void spool_close(struct spool *s)
{
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    if (s->lockfd >= 0) close(s->lockfd); /* releases the lock */
    free(s->buf);
    free(s->path);
    free(s);
}

/* ---- compaction ---- */

/* Copies the pending readings (and the counter) into FILE.tmp and renames
 * it over FILE. On failure FILE is as it was. */
static int compact(struct spool *s, char *err, size_t errlen)
{
    size_t n = strlen(s->path) + sizeof ".tmp";
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", s->path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    uint8_t head[SPOOL_HDR_LEN + SPOOL_REC_LEN];
    spool_hdr_encode(head, s->id, s->created_ms);
    uint64_t counter = s->pending ? s->acked : s->last_seq;
    spool_rec_encode(head + SPOOL_HDR_LEN, SPOOL_ACK, counter, NULL, 0);
    uint64_t out = sizeof head, off = s->head;
    int ok = fd >= 0 && write_all(fd, 0, head, sizeof head) == 0;
    struct spool_rec_info r;
    while (ok && off < s->tail) {
        if (spool_rec_read(read_fd, s, off, s->buf, &r) != 1) {
            ok = 0;
            errno = EIO;
            break;
        }
        if (r.type == SPOOL_DATA && r.seq > s->acked) {
            ok = write_all(fd, out, s->buf, SPOOL_REC_LEN + r.len) == 0;
            out += SPOOL_REC_LEN + r.len;
        }
        off += SPOOL_REC_LEN + r.len;
    }
    ok = ok && fdatasync(fd) == 0 && rename(tmp, s->path) == 0;
    int rc = 0;
    if (!ok) {
        rc = gk_errf(err, errlen, GK_EIO, "cannot compact %s into %s: %s", s->path, tmp,
                     strerror(errno));
        if (fd >= 0) close(fd);
        unlink(tmp);
    } else {
        sync_dir(s->path); /* the rename; FILE is whole either way */
        close(s->fd);
        s->fd = fd;
        s->head = sizeof head;
        s->tail = out;
        if (!s->pending) s->head = s->tail;
    }
    free(tmp);
    return rc;
}

/* ---- append ---- */

/* Cuts a failed write off the end (a torn record would end the log for the
 * scanner, and everything after it with it); when even that fails, the
 * spool refuses every later write: reopening it cuts the tail. */
static void undo_write(struct spool *s)
{
    if (ftruncate(s->fd, (off_t)s->tail) != 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* Drops the oldest pending readings until they take at most `keep` bytes. */
static void drop_oldest(struct spool *s, uint64_t keep, struct spool_drop *drop)
{
    struct spool_rec_info r;
    uint64_t off = s->head;
    while (s->pending && s->pending_bytes > keep && off < s->tail &&
           spool_rec_read(read_fd, s, off, s->buf, &r) == 1) {
        off += SPOOL_REC_LEN + r.len;
        if (r.type != SPOOL_DATA || r.seq <= s->acked) continue;
        if (!drop->count) drop->first_seq = r.seq;
        drop->count++;
        drop->last_seq = r.seq;
        s->acked = r.seq;
        s->pending--;
        s->pending_bytes -= SPOOL_REC_LEN + r.len;
    }
    s->head = s->pending ? off : s->tail;
}

/* Makes room for a record of `need` bytes. */
static int make_room(struct spool *s, uint64_t need, struct spool_drop *drop, char *err,
                     size_t errlen)
{
    uint64_t fixed = SPOOL_HDR_LEN + SPOOL_REC_LEN; /* header and counter after compaction */
    if (fixed + need > s->max_bytes)
        return gk_errf(err, errlen, GK_ETOOBIG,
                       "a reading of %llu bytes does not fit in a spool of %llu bytes",
                       (unsigned long long)need, (unsigned long long)s->max_bytes);
    if (s->tail + need <= s->max_bytes) return 0;
    if (fixed + s->pending_bytes + need > s->max_bytes) {
        uint64_t keep = s->max_bytes - s->max_bytes / 10; /* drop a tenth at once */
        keep = keep > fixed + need ? keep - fixed - need : 0;
        drop_oldest(s, keep, drop);
    }
    return compact(s, err, errlen);
}

int spool_append(struct spool *s, const void *data, size_t len, int sync, uint64_t *seq,
                 struct spool_drop *drop, char *err, size_t errlen)
{
    memset(drop, 0, sizeof *drop);
    if (len > SPOOL_MAX_REC)
        return gk_errf(err, errlen, GK_ETOOBIG, "a reading of %zu bytes is over the %u allowed",
                       len, SPOOL_MAX_REC);
    int rc = make_room(s, SPOOL_REC_LEN + len, drop, err, errlen);
    if (rc != 0) return rc;
    uint8_t head[SPOOL_REC_LEN];
    uint64_t n = s->last_seq + 1;
    spool_rec_encode(head, SPOOL_DATA, n, data, (uint32_t)len);
    if (s->fd < 0)
        return gk_errf(err, errlen, GK_EIO, "%s was left damaged by a failed write", s->path);
    if (write_all(s->fd, s->tail, head, sizeof head) != 0 ||
        write_all(s->fd, s->tail + sizeof head, data, len) != 0 ||
        (sync && fdatasync(s->fd) != 0)) {
        rc = gk_errf(err, errlen, GK_EIO, "cannot write %s: %s", s->path, strerror(errno));
        undo_write(s);
        return rc;
    }
    if (!s->pending) s->head = s->tail;
    s->tail += sizeof head + len;
    s->last_seq = n;
    s->pending++;
    s->pending_bytes += sizeof head + len;
    *seq = n;
    return 0;
}

int spool_sync(struct spool *s)
{
    return fdatasync(s->fd) == 0 ? 0 : GK_EIO;
}

/* ---- reading and acknowledging ---- */

int spool_peek(struct spool *s, uint64_t after, size_t max_n, size_t max_bytes,
               struct spool_item *items, size_t *n)
{
    struct spool_rec_info r;
    size_t bytes = 0;
    *n = 0;
    for (uint64_t off = s->head; off < s->tail && *n < max_n; off += SPOOL_REC_LEN + r.len) {
        if (spool_rec_read(read_fd, s, off, s->buf, &r) != 1) {
            spool_items_free(items, *n);
            *n = 0;
            return GK_EIO;
        }
        if (r.type != SPOOL_DATA || r.seq <= s->acked || r.seq <= after) continue;
        if (*n > 0 && bytes + r.len > max_bytes) break;
        items[*n].seq = r.seq;
        items[*n].len = r.len;
        items[*n].data = xmalloc(r.len + 1);
        memcpy(items[*n].data, s->buf + SPOOL_REC_LEN, r.len);
        items[*n].data[r.len] = '\0';
        bytes += r.len;
        ++*n;
    }
    return 0;
}

void spool_items_free(struct spool_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].data);
        items[i].data = NULL;
    }
}

/* Moves head past the readings up to s->acked. */
static int advance_head(struct spool *s)
{
    struct spool_rec_info r;
    uint64_t off = s->head;
    while (off < s->tail) {
        if (spool_rec_read(read_fd, s, off, s->buf, &r) != 1) return GK_EIO;
        if (r.type == SPOOL_DATA && r.seq > s->acked) break;
        if (r.type == SPOOL_DATA) {
            s->pending--;
            s->pending_bytes -= SPOOL_REC_LEN + r.len;
        }
        off += SPOOL_REC_LEN + r.len;
    }
    s->head = off;
    return 0;
}

int spool_ack(struct spool *s, uint64_t upto, char *err, size_t errlen)
{
    if (upto <= s->acked) return 0;
    if (upto > s->last_seq) upto = s->last_seq;
    uint8_t rec[SPOOL_REC_LEN];
    spool_rec_encode(rec, SPOOL_ACK, upto, NULL, 0);
    if (s->fd < 0)
        return gk_errf(err, errlen, GK_EIO, "%s was left damaged by a failed write", s->path);
    if (write_all(s->fd, s->tail, rec, sizeof rec) != 0) {
        int rc = gk_errf(err, errlen, GK_EIO, "cannot write %s: %s", s->path, strerror(errno));
        undo_write(s);
        return rc;
    }
    s->tail += sizeof rec;
    s->acked = upto;
    if (advance_head(s) != 0)
        return gk_errf(err, errlen, GK_EIO, "cannot read %s back", s->path);
    if (!s->pending) s->head = s->tail;
    uint64_t dead = s->head - SPOOL_HDR_LEN;
    if ((!s->pending && s->tail > SPOOL_COMPACT_EMPTY) ||
        (dead > (1u << 20) && dead > s->pending_bytes))
        return compact(s, err, errlen);
    return 0;
}

uint64_t spool_id(const struct spool *s)
{
    return s->id;
}

uint64_t spool_acked(const struct spool *s)
{
    return s->acked;
}

uint64_t spool_pending(const struct spool *s)
{
    return s->pending;
}

uint64_t spool_pending_bytes(const struct spool *s)
{
    return s->pending_bytes;
}

uint64_t spool_file_bytes(const struct spool *s)
{
    return s->tail;
}
