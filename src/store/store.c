/* store.c: the durable document store's public API and its writer thread.
 *
 * The loop thread turns each store_append()/store_ping() into one job (one
 * allocation) and queues it. The writer thread takes everything queued, runs
 * it through store_db_run() in transactions of at most max_batch jobs, and
 * moves the finished jobs to the done queue; uv_async wakes the loop, which
 * updates the stats and runs the callbacks in order. Both queues share one
 * mutex; the stats and the in-flight count belong to the loop thread, the
 * database and the counters to the writer thread. A retention pass is a job
 * too: it never shares a transaction with documents, and after each of its
 * batches it goes back to the tail of the queue, so ingest waits for one
 * batch at most (store_retain.c); so does a sweep of old idempotency keys
 * (store_idem.c). The loop thread also keeps the memory of recent
 * idempotency keys: a DOC job with a key is tracked there when queued and
 * completes it before its callback runs; an answer from that memory is an
 * ANSWER job put straight on the done queue.
 *
 * Lifetime: store_close() stops the writer and closes the handles; s is
 * freed by the last of the handle close callbacks and the completions of
 * the reads still in flight (store_maybe_free). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/workpool.h"
#include "store/store_int.h"

const double store_lat_bounds[STORE_LAT_NBUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, HUGE_VAL,
};

/* Creates every missing directory of path (as mkdir -p). */
static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            log_error("store: cannot create %s: %s", p, strerror(errno));
            rc = GK_EIO;
            break;
        }
        *c = saved;
        if (saved == '\0') break;
    }
    free(p);
    return rc;
}

/* ---- loop thread: completions ---- */

static void count_group(struct store *s, const struct store_job *j)
{
    if (j->grp_status != 0) {
        s->stats.failures++;
        return;
    }
    size_t b = 0;
    while (b < STORE_LAT_NBUCKETS - 1 && j->grp_lat > store_lat_bounds[b])
        b++;
    s->stats.commits++;
    s->stats.docs += j->grp_ndocs;
    s->stats.lat_count[b]++;
    s->stats.lat_sum += j->grp_lat;
}

/* Runs the callbacks of every finished job, in order. */
static void store_drain(struct store *s)
{
    uv_mutex_lock(&s->mu);
    struct store_job *j = s->done, *next;
    s->done = NULL;
    s->done_tail = &s->done;
    uv_mutex_unlock(&s->mu);
    for (; j; j = next) {
        next = j->next;
        if (j->grp_first) count_group(s, j);
        int counted = j->kind != STORE_JOB_RETAIN && j->kind != STORE_JOB_SWEEP;
        if (j->kind == STORE_JOB_DOC) s->pending_docs--; /* before cb: it may look */
        if (j->kind == STORE_JOB_DOC && j->idem_key) store_idem_complete(s, j);
        if (j->ack.dup) s->stats.dups++;
        j->cb(j->ud, &j->ack);
        free(j);
        if (counted && --s->inflight == 0) uv_unref((uv_handle_t *)&s->async);
    }
}

static void on_async(uv_async_t *h)
{
    store_drain(h->data);
}

void store_maybe_free(struct store *s)
{
    if (s->nhandles > 0 || s->reads_inflight > 0) return;
    store_pool_destroy(&s->pool);
    uv_cond_destroy(&s->cv);
    uv_mutex_destroy(&s->mu);
    store_retain_free_cfg(s);
    store_idem_free(s);
    free(s->path);
    free(s->hot_path);
    free(s);
}

static void on_close(uv_handle_t *h)
{
    struct store *s = h->data;
    s->nhandles--;
    store_maybe_free(s);
}

/* ---- writer thread ---- */

/* The mover's call when a move ended: the writer may be waiting for it. */
static void writer_wake(void *ud)
{
    struct store *s = ud;
    uv_mutex_lock(&s->mu);
    uv_cond_signal(&s->cv);
    uv_mutex_unlock(&s->mu);
}

/* Waits for jobs (or until the hot tier needs the writer: a move due or
 * ended); returns all of them, or NULL when stopping with none left or when
 * the wait ended for the hot tier (*stop tells which). */
static struct store_job *writer_take(struct store *s, enum store_durability *dur, int *stop)
{
    uv_mutex_lock(&s->mu);
    while (!s->queue && !s->stopping) {
        int64_t now = (int64_t)clock_mono_ms(), wait = store_move_wait_ms(&s->db, now);
        if (wait == 0) break;
        if (wait < 0)
            uv_cond_wait(&s->cv, &s->mu); /* jobs, stopping or the mover wake it */
        else if (uv_cond_timedwait(&s->cv, &s->mu, (uint64_t)wait * 1000000u) == UV_ETIMEDOUT)
            break;
    }
    *stop = s->stopping && !s->queue;
    struct store_job *jobs = s->queue;
    s->queue = NULL;
    s->queue_tail = &s->queue;
    *dur = s->want_dur;
    uv_mutex_unlock(&s->mu);
    return jobs;
}

/* Hands the finished jobs [first, last] to the loop. */
static void writer_finish(struct store *s, struct store_job *first, struct store_job *last)
{
    last->next = NULL;
    uv_mutex_lock(&s->mu);
    *s->done_tail = first;
    s->done_tail = &last->next;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
}

/* Runs one batch of a retention pass or a sweep; requeues it at the tail
 * of the queue while it has more to do. Returns the jobs left. */
static struct store_job *writer_background(struct store *s, struct store_job *j)
{
    struct store_job *rest = j->next;
    uv_mutex_lock(&s->mu);
    int stopping = s->stopping;
    uv_mutex_unlock(&s->mu);
    store_move_wait(&s->db); /* they write gasket.db: not while the mover does */
    int more = !stopping && (j->kind == STORE_JOB_RETAIN ? store_retain_step(&s->db, j->pass)
                                                         : store_idem_sweep_step(&s->db, j->sweep));
    if (more) {
        j->next = NULL;
        uv_mutex_lock(&s->mu);
        *s->queue_tail = j;
        s->queue_tail = &j->next;
        uv_mutex_unlock(&s->mu);
    } else {
        writer_finish(s, j, j);
    }
    return rest;
}

static int is_background(const struct store_job *j)
{
    return j->kind == STORE_JOB_RETAIN || j->kind == STORE_JOB_SWEEP || j->kind == STORE_JOB_FLUSH;
}

/* A flush: everything hot is moved into gasket.db before the answer (the
 * writer waits for the moves meanwhile). */
static struct store_job *writer_flush(struct store *s, struct store_job *j)
{
    struct store_job *rest = j->next;
    j->ack.status = store_move_all(&s->db);
    writer_finish(s, j, j);
    return rest;
}

/* Commits the first max_batch jobs of `first` (up to a retention pass) in
 * one transaction, hands them to the loop and returns the jobs left. */
static struct store_job *writer_group(struct store *s, struct store_job *first)
{
    if (first->kind == STORE_JOB_FLUSH) return writer_flush(s, first);
    if (is_background(first)) return writer_background(s, first);
    struct store_job *last = first, *rest;
    for (size_t n = 1; last->next && !is_background(last->next) && n < s->max_batch; n++)
        last = last->next;
    rest = last->next;
    uint64_t t0 = uv_hrtime();
    int rc = store_db_run(&s->db, &s->seq, first, rest);
    first->grp_lat = (double)(uv_hrtime() - t0) / 1e9;
    first->grp_first = 1;
    first->grp_status = rc;
    for (struct store_job *j = first; j != rest; j = j->next) {
        if (rc != 0) {
            j->ack.status = rc;
            j->ack.dup = 0;
            j->ack.id[0] = '\0';
            j->ack.seq_no = -1;
        }
        first->grp_ndocs += j->kind == STORE_JOB_DOC && j->ack.status == 0 && !j->ack.dup;
    }
    writer_finish(s, first, last);
    return rest;
}

static void writer_main(void *arg)
{
    struct store *s = arg;
    struct store_job *jobs;
    enum store_durability dur;
    int stop = 0;
    while (!stop) {
        jobs = writer_take(s, &dur, &stop);
        if (dur != s->cur_dur && store_db_set_durability(&s->db, dur) == 0) s->cur_dur = dur;
        while (jobs) {
            jobs = writer_group(s, jobs);
            store_move_tick(&s->db, (int64_t)clock_mono_ms());
        }
        store_move_tick(&s->db, (int64_t)clock_mono_ms());
    }
    /* at close, everything hot goes into gasket.db: the journal is left empty */
    store_move_all(&s->db);
}

/* ---- loop thread: API ---- */

/* Starts the handles and the writer thread. On failure the handles
 * already started are closing (s->nhandles > 0) and free s when closed. */
static int store_start(struct store *s)
{
    s->async.data = s;
    s->retain_timer.data = s;
    int rc = uv_async_init(s->loop, &s->async, on_async);
    if (rc != 0) {
        log_error("store: uv_async_init: %s", uv_strerror(rc));
        return GK_EIO;
    }
    uv_unref((uv_handle_t *)&s->async);
    uv_timer_init(s->loop, &s->retain_timer); /* cannot fail */
    uv_unref((uv_handle_t *)&s->retain_timer);
    s->idem_timer.data = s;
    uv_timer_init(s->loop, &s->idem_timer);
    s->nhandles = 3;
    rc = uv_thread_create(&s->thread, writer_main, s);
    if (rc != 0) {
        log_error("store: cannot start the writer thread: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&s->async, on_close);
        uv_close((uv_handle_t *)&s->retain_timer, on_close);
        uv_close((uv_handle_t *)&s->idem_timer, on_close);
        return GK_EIO;
    }
    uv_unref((uv_handle_t *)&s->idem_timer);
    store_idem_schedule(s);
    return 0;
}

static char *db_path(const char *dir)
{
    size_t len = strlen(dir);
    char *path = xmalloc(len + sizeof "/gasket.db");
    memcpy(path, dir, len);
    memcpy(path + len, "/gasket.db", sizeof "/gasket.db");
    return path;
}

int store_open(struct store **out, uv_loop_t *loop, const struct store_options *opt)
{
    *out = NULL;
    int rc = mkdir_p(opt->dir);
    if (rc != 0) return rc;
    struct store *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->queue_tail = &s->queue;
    s->done_tail = &s->done;
    s->want_dur = s->cur_dur = opt->durability;
    s->max_batch = opt->max_batch ? opt->max_batch : 4096;
    s->path = db_path(opt->dir);
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->cv);
    store_pool_init(&s->pool);
    s->readers = opt->pool;
    if (!s->readers)
        s->readers = s->own_readers = workpool_new(loop, 2);
    store_seq_init(&s->seq);
    store_idem_init(s);
    s->idem_window_ms = opt->idem_window_ms > 0 ? opt->idem_window_ms : s->idem_window_ms;
    rc = store_db_open(&s->db, s->path, opt, &s->seq);
    if (rc == 0) rc = store_mover_start(&s->db, s->path, opt->max_pages, writer_wake, s);
    if (rc == 0) {
        s->hot_path = xstrdup(s->db.hot_path);
        store_idem_load(s);
    }
    if (rc == 0 && (rc = store_start(s)) == 0) {
        *out = s;
        return 0;
    }
    store_db_close(&s->db);
    store_seq_free(&s->seq);
    workpool_close(s->own_readers);
    store_maybe_free(s); /* or the close callbacks of the handles do */
    return rc;
}

static void queue_job(struct store *s, struct store_job *j)
{
    j->next = NULL;
    uv_mutex_lock(&s->mu);
    int was_empty = s->queue == NULL;
    *s->queue_tail = j;
    s->queue_tail = &j->next;
    if (was_empty) uv_cond_signal(&s->cv);
    uv_mutex_unlock(&s->mu);
}

static void store_submit(struct store *s, struct store_job *j)
{
    if (s->inflight++ == 0) uv_ref((uv_handle_t *)&s->async);
    queue_job(s, j);
}

void store_enqueue(struct store *s, struct store_job *j)
{
    queue_job(s, j);
}

void store_answer(struct store *s, struct store_job *j)
{
    if (s->inflight++ == 0) uv_ref((uv_handle_t *)&s->async);
    j->next = NULL;
    uv_mutex_lock(&s->mu);
    *s->done_tail = j;
    s->done_tail = &j->next;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
}

static struct store_job *job_new(size_t extra, enum store_job_kind kind, store_cb cb, void *ud)
{
    struct store_job *j = xmalloc(sizeof(*j) + extra);
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->cb = cb;
    j->ud = ud;
    j->ack.seq_no = -1;
    return j;
}

static char *copy_str(char **p, const char *s, size_t len)
{
    char *dst = *p;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *p += len + 1;
    return dst;
}

void store_append(struct store *s, const struct store_doc *doc, store_cb cb, void *ud)
{
    size_t ilen = strlen(doc->index), glen = doc->groupid ? strlen(doc->groupid) : 0;
    size_t klen = doc->idem_key ? doc->idem_len : 0;
    size_t extra = doc->nmeas * sizeof(struct store_job_meas) + ilen + 1 + glen + 1 +
                   doc->source_len + 1 + klen + 1;
    for (size_t i = 0; i < doc->nmeas; i++)
        extra += strlen(doc->meas[i].name) + 1;
    struct store_job *j = job_new(extra, STORE_JOB_DOC, cb, ud);
    char *p = (char *)&j->meas[doc->nmeas];
    j->index = copy_str(&p, doc->index, ilen);
    j->groupid = doc->groupid ? copy_str(&p, doc->groupid, glen) : NULL;
    j->source = copy_str(&p, doc->source ? doc->source : "", doc->source_len);
    j->source_len = doc->source_len;
    j->ts_ms = doc->ts_ms;
    j->nmeas = doc->nmeas;
    for (size_t i = 0; i < doc->nmeas; i++) {
        j->meas[i].name = copy_str(&p, doc->meas[i].name, strlen(doc->meas[i].name));
        j->meas[i].value = doc->meas[i].value;
    }
    if (doc->idem_key) {
        j->idem_key = copy_str(&p, doc->idem_key, klen);
        j->idem_len = klen;
        j->idem_fp = doc->idem_fp;
        store_idem_track(s, j);
    }
    s->pending_docs++;
    store_submit(s, j);
}

size_t store_pending(const struct store *s)
{
    return s->pending_docs;
}

void store_ping(struct store *s, store_cb cb, void *ud)
{
    struct store_job *j = job_new(0, STORE_JOB_PING, cb, ud);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j->ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    store_submit(s, j);
}

void store_flush(struct store *s, store_cb cb, void *ud)
{
    store_submit(s, job_new(0, STORE_JOB_FLUSH, cb, ud));
}

void store_set_durability(struct store *s, enum store_durability d)
{
    uv_mutex_lock(&s->mu);
    s->want_dur = d;
    uv_mutex_unlock(&s->mu);
}

const struct store_stats *store_get_stats(const struct store *s)
{
    return &s->stats;
}

void store_close(struct store *s)
{
    uv_mutex_lock(&s->mu);
    s->stopping = 1;
    uv_cond_signal(&s->cv);
    uv_mutex_unlock(&s->mu);
    uv_thread_join(&s->thread);
    store_drain(s);
    store_db_close(&s->db);
    store_seq_free(&s->seq);
    store_pool_close(&s->pool);
    workpool_close(s->own_readers); /* reads not started get GK_ESTORE later */
    uv_close((uv_handle_t *)&s->async, on_close);
    uv_close((uv_handle_t *)&s->retain_timer, on_close);
    uv_close((uv_handle_t *)&s->idem_timer, on_close);
}
