/* store_idem.c: idempotency keys (store.h, "idempotency keys").
 *
 * Writer thread: inside a document's transaction, store_idem_check() looks
 * its key up in the idem table (one probe of the key's unique index) and
 * store_idem_put() records it with the new document, so that a key and its
 * document commit or roll back together: two documents with one key, in one
 * transaction or in two, with a kill -9 between them or not, are never both
 * stored. The table's rowid is the document's docs.id, so its order is the
 * commit order: a sweep pass deletes expired rows among the SWEEP_BATCH
 * oldest per transaction and stops at a batch with nothing expired.
 *
 * Loop thread: a map of the keys in flight (their DOC jobs queued or in the
 * writer's transaction) and of those committed in the last
 * STORE_IDEM_MEM_MS (a FIFO in commit order, at most STORE_IDEM_MEM_MAX
 * entries), filled again at open from the newest rows. A duplicate found
 * there is answered through the done queue without the writer; one whose
 * key is in flight waits for the first document's ack (a waiter is an
 * ANSWER job on its entry). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_int.h"

#define SWEEP_BATCH     2000  /* rows examined (and at most deleted) per transaction */
#define SWEEP_MIN_MS    1000  /* passes run every half window, but */
#define SWEEP_MAX_MS    60000 /* at most every second and at least every minute */
#define DAY_MS          (24LL * 3600 * 1000)

struct store_idem_sweep {
    struct store *s;
    int64_t cutoff; /* rows with at < cutoff go */
    uint64_t deleted, txns;
    int status;
};

/* ---- writer thread ---- */

int store_idem_check(struct store_db *d, struct store_job *j)
{
    sqlite3_stmt *st = d->idem_get;
    sqlite3_bind_blob(st, 1, j->idem_key, (int)j->idem_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 2) != j->idem_fp) {
        j->ack.status = GK_EEXIST;
    } else if (rc == SQLITE_ROW) {
        j->ack.dup = 1;
        snprintf(j->ack.id, sizeof j->ack.id, "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
        j->ack.seq_no = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc;
}

int store_idem_put(struct store_db *d, const struct store_job *j, int64_t id, int64_t seq_no,
                   int64_t now_ms)
{
    sqlite3_stmt *st = d->w->idem_put;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_blob(st, 2, j->idem_key, (int)j->idem_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, seq_no);
    sqlite3_bind_int64(st, 4, (int64_t)j->idem_fp);
    sqlite3_bind_int64(st, 5, now_ms);
    return sqldb_run(st);
}

int store_idem_sweep_step(struct store_db *d, struct store_idem_sweep *p)
{
    int rc = sqldb_run(d->begin), n = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(d->idem_sweep, 1, p->cutoff);
        sqlite3_bind_int(d->idem_sweep, 2, SWEEP_BATCH);
        rc = sqldb_run(d->idem_sweep);
        n = sqlite3_changes(d->db);
        for (int f = 0; f < 2 && rc == SQLITE_OK; f++) { /* a key moved was counted in main */
            sqlite3_stmt *st = d->hs[f].idem_sweep;
            sqlite3_bind_int64(st, 1, p->cutoff);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                n += sqlite3_column_int64(st, 0) > d->moved_id;
            sqlite3_reset(st);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    }
    if (rc == SQLITE_OK) rc = sqldb_run(d->commit);
    if (rc != SQLITE_OK) {
        log_error("store: sweeping idempotency keys: %s (%s)", sqlite3_errstr(rc),
                  sqlite3_errmsg(d->db));
        if (!sqlite3_get_autocommit(d->db)) sqldb_run(d->rollback);
        p->status = store_db_err(d->db, rc);
        return 0;
    }
    p->deleted += (uint64_t)n;
    p->txns++;
    return n > 0;
}

/* ---- loop thread: the memory of recent keys ---- */

void store_idem_init(struct store *s)
{
    s->idem.fifo_tail = &s->idem.fifo_head;
    s->idem_window_ms = DAY_MS;
}

static void ent_free_cb(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    struct store_idem_ent *e = value;
    for (struct store_job *w = e->waiters, *next; w; w = next) { /* closing: nobody to answer */
        next = w->wait_next;
        free(w);
    }
    free(e);
}

void store_idem_free(struct store *s)
{
    map_foreach(&s->idem.map, ent_free_cb, NULL);
    map_free(&s->idem.map);
    s->idem.fifo_head = NULL;
    s->idem.fifo_tail = &s->idem.fifo_head;
    s->idem.nfifo = 0;
}

static struct store_idem_ent *ent_get(struct store *s, const char *key, size_t len, uint64_t fp)
{
    struct store_idem_ent *e = map_get(&s->idem.map, key, len);
    if (e) return e;
    e = xcalloc(1, sizeof *e + len);
    e->fp = fp;
    e->len = len;
    memcpy(e->key, key, len);
    map_put(&s->idem.map, e->key, len, e);
    return e;
}

/* Forgets committed entries past the age or the count (one in flight again
 * stays in the map until its job completes). */
static void evict(struct store *s, int64_t now)
{
    struct store_idem_mem *m = &s->idem;
    while (m->fifo_head &&
           (m->nfifo > STORE_IDEM_MEM_MAX || now - m->fifo_head->done_ms > STORE_IDEM_MEM_MS)) {
        struct store_idem_ent *e = m->fifo_head;
        m->fifo_head = e->fifo_next;
        if (!m->fifo_head) m->fifo_tail = &m->fifo_head;
        m->nfifo--;
        e->in_fifo = 0;
        e->done = 0;
        if (e->jobs == 0) {
            map_del(&m->map, e->key, e->len);
            free(e);
        }
    }
}

static void mark_done(struct store *s, struct store_idem_ent *e, const char *id, int64_t seq_no,
                      int64_t done_ms)
{
    e->done = 1;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->seq_no = seq_no;
    e->done_ms = done_ms;
    if (e->in_fifo) return;
    e->in_fifo = 1;
    e->fifo_next = NULL;
    *s->idem.fifo_tail = e;
    s->idem.fifo_tail = &e->fifo_next;
    s->idem.nfifo++;
}

/* The answer to a duplicate of e (with fingerprint fp). */
static void answer_of(const struct store_idem_ent *e, uint64_t fp, struct store_ack *ack)
{
    memset(ack, 0, sizeof *ack);
    ack->seq_no = -1;
    if (fp != e->fp) {
        ack->status = GK_EEXIST;
        return;
    }
    ack->dup = 1;
    memcpy(ack->id, e->id, sizeof ack->id);
    ack->seq_no = e->seq_no;
}

int store_idem_find(struct store *s, const char *key, size_t len, uint64_t fp, store_cb cb,
                    void *ud)
{
    struct store_idem_ent *e = map_get(&s->idem.map, key, len);
    if (!e) return 0;
    struct store_job *j = xcalloc(1, sizeof *j);
    j->kind = STORE_JOB_ANSWER;
    j->cb = cb;
    j->ud = ud;
    j->idem_fp = fp;
    if (e->done || fp != e->fp) {
        answer_of(e, fp, &j->ack);
        store_answer(s, j);
        return 1;
    }
    struct store_job **tail = &e->waiters; /* answered in arrival order */
    while (*tail)
        tail = &(*tail)->wait_next;
    *tail = j;
    return 1;
}

void store_idem_track(struct store *s, const struct store_job *j)
{
    struct store_idem_ent *e = ent_get(s, j->idem_key, j->idem_len, j->idem_fp);
    e->jobs++;
}

void store_idem_complete(struct store *s, const struct store_job *j)
{
    struct store_idem_ent *e = map_get(&s->idem.map, j->idem_key, j->idem_len);
    if (!e) return;
    int64_t now = (int64_t)clock_mono_ms();
    struct store_job *w = e->waiters;
    e->waiters = NULL;
    e->jobs--;
    if (j->ack.status == 0 && j->idem_fp == e->fp) mark_done(s, e, j->ack.id, j->ack.seq_no, now);
    if (!e->done && e->jobs == 0) {
        map_del(&s->idem.map, e->key, e->len);
        free(e);
    }
    for (struct store_job *next; w; w = next) {
        next = w->wait_next;
        if (j->ack.status == 0) { /* the first's answer, seen as a duplicate */
            w->ack = j->ack;
            w->ack.dup = 1;
        } else {
            w->ack = (struct store_ack){.status = j->ack.status, .seq_no = -1};
        }
        w->cb(w->ud, &w->ack);
        free(w);
    }
    evict(s, now);
}

/* Reads the keys committed in the last STORE_IDEM_MEM_MS (the newest
 * STORE_IDEM_MEM_MAX at most) back into memory, oldest first. */
void store_idem_load(struct store *s)
{
    sqlite3_stmt *st;
    if (sqldb_prepare(s->db.db,
                      "WITH k AS (SELECT key, doc, seq, fp, at FROM main.idem UNION ALL"
                      " SELECT key, doc, seq, fp, at FROM hot0.idem UNION ALL"
                      " SELECT key, doc, seq, fp, at FROM hot1.idem)"
                      " SELECT key, doc, seq, fp, at FROM k WHERE doc >= coalesce(("
                      "SELECT doc FROM k ORDER BY doc DESC LIMIT 1 OFFSET ?1), 0) ORDER BY doc",
                      &st) != SQLITE_OK) {
        log_warn("store: reading recent idempotency keys: %s", sqlite3_errmsg(s->db.db));
        return;
    }
    sqlite3_bind_int(st, 1, STORE_IDEM_MEM_MAX - 1);
    int64_t real = clock_now_ms(), mono = (int64_t)clock_mono_ms();
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t age = real - sqlite3_column_int64(st, 4);
        if (age > STORE_IDEM_MEM_MS) continue;
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, (int64_t)sqlite3_column_int64(st, 1));
        struct store_idem_ent *e =
            ent_get(s, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                    (uint64_t)sqlite3_column_int64(st, 3));
        mark_done(s, e, id, sqlite3_column_int64(st, 2), mono - (age > 0 ? age : 0));
        n++;
    }
    sqlite3_finalize(st);
    if (n) log_debug("store: %zu recent idempotency keys in memory", n);
}

/* ---- loop thread: the sweep ---- */

static void sweep_finish(void *ud, const struct store_ack *ack)
{
    struct store_idem_sweep *p = ud;
    (void)ack;
    p->s->idem_running = 0;
    enum log_level lvl = p->status ? LOG_WARN : p->deleted ? LOG_INFO : LOG_DEBUG;
    log_msg(lvl, "store: idempotency keys: %s %" PRIu64 " older than the window in %" PRIu64
                 " transactions",
            p->status ? "sweep stopped after deleting" : "swept", p->deleted, p->txns);
    free(p);
}

static void sweep_tick(uv_timer_t *t)
{
    struct store *s = t->data;
    if (s->idem_running) return;
    struct store_idem_sweep *p = xcalloc(1, sizeof *p);
    p->s = s;
    p->cutoff = clock_now_ms() - s->idem_window_ms;
    struct store_job *j = xcalloc(1, sizeof *j);
    j->kind = STORE_JOB_SWEEP;
    j->cb = sweep_finish;
    j->ud = p;
    j->sweep = p;
    s->idem_running = 1;
    store_enqueue(s, j);
}

void store_idem_schedule(struct store *s)
{
    int64_t period = s->idem_window_ms / 2;
    period = period < SWEEP_MIN_MS ? SWEEP_MIN_MS : period > SWEEP_MAX_MS ? SWEEP_MAX_MS : period;
    uv_timer_start(&s->idem_timer, sweep_tick, (uint64_t)period, (uint64_t)period);
}

void store_set_idem_window(struct store *s, int64_t window_ms)
{
    s->idem_window_ms = window_ms > 0 ? window_ms : DAY_MS;
    store_idem_schedule(s);
}
