/* store_read.c: queries on read-only connections, on the query pool.
 *
 * store_read() queues a job on the store's workpool (the daemon's query
 * pool of [http] search_threads threads, or the store's own). On the worker
 * thread the job takes an
 * idle read-only connection from the pool, or opens one when fewer than
 * STORE_READERS are open (lazily: an idle daemon holds none), or waits for
 * one to come back; runs fn on it; and returns it. The done callback runs
 * on the loop thread. The pool is shared by the workers under its own
 * mutex; it holds no handle, so idle connections never keep the loop
 * alive (a read in flight does, as any workpool job).
 *
 * Closing: store_close() closes the idle connections and marks the pool
 * closing; a read already running finishes on its connection, which is
 * then closed by its worker; a read that had not started yet gets
 * GK_ESTORE without running fn. The store is freed only after the last
 * done callback (store_maybe_free).
 *
 * Priority: a worker running a read lowers its own thread's priority once,
 * to SCHED_IDLE (else nice STORE_READ_NICE), so that on a busy machine the
 * loop thread, the writer and the mover, which acknowledge and keep
 * readings, get the CPU first and a dashboard's queries take what is left:
 * with nice 10 a query loop still took ~10% of a core from them and ingest
 * kept 0.68 of its rate alone (bench/search.sh, 100,000 documents); with
 * SCHED_IDLE 0.84, the queries being slower while ingest runs flat out. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sqldb.h"
#include "core/workpool.h"
#include "store/query.h"
#include "store/store_int.h"

struct read_req {
    struct store *s;
    store_read_fn fn;
    store_read_done done;
    void *arg;
    int status;
};

void store_pool_init(struct store_pool *p)
{
    memset(p, 0, sizeof(*p));
    uv_mutex_init(&p->mu);
    uv_cond_init(&p->cv);
}

/* Closes a reader, with the statements its queries kept. */
static void reader_close(sqlite3 *db)
{
    query_conn_forget(db);
    sqlite3_close(db);
}

void store_pool_close(struct store_pool *p)
{
    sqlite3 *idle[STORE_READERS];
    uv_mutex_lock(&p->mu);
    int n = p->nidle;
    memcpy(idle, p->idle, sizeof idle);
    p->nidle = 0;
    p->nopen -= n;
    p->closing = 1;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
    for (int i = 0; i < n; i++)
        reader_close(idle[i]);
}

void store_pool_destroy(struct store_pool *p)
{
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
}

/* Attaches the hot files and puts the views over the three files in front
 * of gasket.db's tables (store_move.c). */
static int reader_see_hot(sqlite3 *db, const char *hot_path)
{
    int rc = store_hot_attach(db, hot_path);
    if (rc == SQLITE_OK) rc = store_zip_reader(db);
    if (rc == SQLITE_OK) rc = store_mblk_reader(db);
    return rc == SQLITE_OK ? sqldb_exec(db, store_view_sql, NULL, 0) : rc;
}

/* Opens one read-only connection; NULL (logged) on failure. */
static sqlite3 *reader_open(const char *path, const char *hot_path)
{
    sqlite3 *db = NULL;
    char why[600];
    /* Pages read through a shared mapping instead of copies into each
     * connection's cache: a long-range aggregation runs ~1.7x faster.
     * 256 MiB of address space per reader leaves room on 32-bit Pis. */
    if (sqldb_open(&db, path, SQLDB_READONLY, 5000,
                   "PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456", why, sizeof why) != 0)
        log_error("store: cannot open a reader on %s", why);
    if (db && reader_see_hot(db, hot_path) != SQLITE_OK) {
        log_error("store: a reader cannot see the hot tier %s: %s", hot_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        db = NULL;
    }
    if (db) query_conn_keep(db);
    return db;
}

/* Worker thread: an idle connection, a new one, or NULL when closing or
 * when opening failed. */
static sqlite3 *pool_take(struct store_pool *p, const char *path, const char *hot_path)
{
    uv_mutex_lock(&p->mu);
    while (!p->closing && p->nidle == 0 && p->nopen >= STORE_READERS)
        uv_cond_wait(&p->cv, &p->mu);
    sqlite3 *db = NULL;
    int open_new = 0;
    if (!p->closing && p->nidle > 0)
        db = p->idle[--p->nidle];
    else if (!p->closing)
        open_new = ++p->nopen;
    uv_mutex_unlock(&p->mu);
    if (!open_new || (db = reader_open(path, hot_path)) != NULL) return db;
    uv_mutex_lock(&p->mu);
    p->nopen--;
    uv_cond_signal(&p->cv);
    uv_mutex_unlock(&p->mu);
    return NULL;
}

/* Worker thread: back to the pool, or closed when the pool is closing. */
static void pool_give(struct store_pool *p, sqlite3 *db)
{
    uv_mutex_lock(&p->mu);
    int closing = p->closing;
    if (closing)
        p->nopen--;
    else
        p->idle[p->nidle++] = db;
    uv_cond_signal(&p->cv);
    uv_mutex_unlock(&p->mu);
    if (closing) reader_close(db);
}

/* Resets the statements the queries keep and finalizes any that fn left
 * running, so that the next read starts clean (an open statement would
 * pin an old snapshot of the database). */
static void reader_reset(sqlite3 *db)
{
    int n = query_conn_idle(db);
    if (n) log_error("store: a read left %d statement(s) running", n);
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* Lowers the calling worker thread's priority, once per thread (Linux
 * gives each thread its own policy and nice value). */
static void yield_to_ingest(void)
{
    static _Thread_local int lowered;
    if (lowered)
        return;
    lowered = 1;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    struct sched_param sp = {0};
    if (sched_setscheduler(tid, SCHED_IDLE, &sp) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)tid, STORE_READ_NICE) != 0)
        log_debug("store: cannot lower the priority of a query worker");
}

static void read_work(void *arg)
{
    struct read_req *r = arg;
    yield_to_ingest();
    sqlite3 *db = pool_take(&r->s->pool, r->s->path, r->s->hot_path);
    if (!db) {
        r->status = GK_ESTORE;
        return;
    }
    r->fn(db, r->arg);
    reader_reset(db);
    pool_give(&r->s->pool, db);
}

static void read_done(void *arg, int status)
{
    struct read_req *r = arg;
    struct store *s = r->s;
    r->done(r->arg, status != 0 ? GK_ESTORE : r->status); /* canceled: not run */
    free(r);
    s->reads_inflight--;
    store_maybe_free(s);
}

void store_read(struct store *s, store_read_fn fn, store_read_done done, void *arg)
{
    struct read_req *r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->fn = fn;
    r->done = done;
    r->arg = arg;
    s->reads_inflight++;
    workpool_submit(s->readers, read_work, read_done, r);
}
