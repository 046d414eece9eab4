/* store_int.h: internals shared by the store's files, not by other modules.
 *
 * The store has these layers, one per file:
 *   store.c        public API, job queue, writer thread, completions on the loop
 *   store_db.c     the SQLite write connection: schema, statements, one
 *                  transaction over a group of jobs (documents, measurements
 *                  and groups together)
 *   store_roll.c   the set of known (index, group) pairs
 *   store_hmeas.c  a hot document's measurements, one blob in its row, and
 *                  the readers' table of them
 *   store_seq.c    the in-memory per-index _seq_no counters, with the
 *                  commit/rollback bookkeeping that keeps them in step with
 *                  the `indices` table
 *   store_read.c   the pool of read-only connections behind store_read()
 *   store_retain.c retention: the timer and configuration (loop thread) and
 *                  the batched deletions (writer thread)
 *   store_idem.c   idempotency keys: the memory of recent keys (loop thread),
 *                  the lookup and insert inside a transaction and the sweep
 *                  of old keys (writer thread)
 *   store_journal.c the journal files: a group's record appended and synced
 *                  before its commit, read back at open
 *   store_move.c   the hot database: its schema, the replay of the journal
 *                  into it at open, the move of a generation into gasket.db
 *                  (with its rollups) and the views readers see both through
 * store_db.c, store_roll.c, store_seq.c and the deletions of store_retain.c
 * run on the writer thread only. */
#ifndef GASKET_STORE_STORE_INT_H
#define GASKET_STORE_STORE_INT_H

#include <sqlite3.h>

#include "core/buf.h"
#include "core/map.h"
#include "core/sqldb.h"
#include <stdint.h>

#include "store/store.h"

/* The nice value of the worker threads running queries (store_read.c). */
#define STORE_READ_NICE 10

#define STORE_MINUTE_MS        60000
#define STORE_HOUR_MS          3600000
#define STORE_READERS          4     /* read-only connections at most (libuv's pool size) */
#define STORE_RETAIN_FIRST_MS  200   /* first retention pass after a change */
#define STORE_RETAIN_PERIOD_MS 10000 /* then one pass every period */
#define STORE_RETAIN_BATCH     1000  /* documents deleted per transaction */
#define STORE_RETAIN_ROWS      8192  /* rollup rows per transaction, about */

/* DOC and PING jobs share transactions; RETAIN and SWEEP are background
 * passes (one small transaction at a time, requeued at the tail); ANSWER
 * never reaches the writer: an answer from the memory of idempotency keys,
 * delivered through the done queue like the others. */
enum store_job_kind {
    STORE_JOB_DOC,
    STORE_JOB_PING,
    STORE_JOB_RETAIN,
    STORE_JOB_SWEEP,
    STORE_JOB_ANSWER,
    STORE_JOB_FLUSH /* moves every hot document into gasket.db, then answers */
};

struct store_job_meas {
    const char *name;
    double value;
};

struct store_retain_pass;
struct store_idem_sweep;

/* One queued document, ping or retention pass. A single allocation holds
 * the job, its measurements and every string it points to. */
struct store_job {
    struct store_job *next;
    store_cb cb;
    void *ud;
    struct store_ack ack;
    enum store_job_kind kind;
    /* Set on the first job of each transaction, read by the loop thread to
     * update the stats before that transaction's callbacks run. */
    int grp_first;
    int grp_status;
    uint32_t grp_ndocs;
    double grp_lat;                 /* seconds from BEGIN to COMMIT done */
    struct store_retain_pass *pass; /* STORE_JOB_RETAIN */
    struct store_idem_sweep *sweep; /* STORE_JOB_SWEEP */
    struct store_job *wait_next;    /* STORE_JOB_ANSWER waiting for a key in flight */
    const char *idem_key;           /* or NULL */
    size_t idem_len;
    uint64_t idem_fp;
    const char *index;
    const char *groupid; /* or NULL */
    const char *source;
    size_t source_len;
    int64_t ts_ms;
    size_t nmeas;
    struct store_job_meas meas[];
};

/* ---- store_seq.c: per-index counters (open addressing on the index name) */
struct store_seq_entry {
    char *name;
    uint32_t hash;
    int64_t next;      /* next _seq_no to hand out */
    int64_t committed; /* next as of the last commit */
    struct store_seq_entry *dirty_next;
    int dirty;
};

struct store_seq {
    struct store_seq_entry **slots;
    size_t cap, len;
    struct store_seq_entry *dirty; /* touched by the open transaction */
    struct store_seq_entry *last;  /* last looked up (documents come in runs) */
};

void store_seq_init(struct store_seq *t);
void store_seq_free(struct store_seq *t);
/* Sets the committed counter of index `name` (used when loading). */
void store_seq_load(struct store_seq *t, const char *name, int64_t next);
/* Hands out the next _seq_no of index `name` (0 for a new index) and marks
 * the counter dirty for the open transaction. */
int64_t store_seq_take(struct store_seq *t, const char *name);
/* Makes sure the next _seq_no of `name` is above seq_no (replaying). */
void store_seq_bump(struct store_seq *t, const char *name, int64_t seq_no);
/* Dirty counters, to persist before COMMIT. */
struct store_seq_entry *store_seq_dirty(const struct store_seq *t);
/* After COMMIT: the dirty counters become the committed ones. */
void store_seq_commit(struct store_seq *t);
/* After ROLLBACK: the dirty counters go back to their committed values. */
void store_seq_rollback(struct store_seq *t);

/* ---- store_roll.c: the known groups ---- */

/* ts floored to a multiple of w (also for negative ts). */
int64_t store_roll_floor(int64_t ts, int64_t w);

/* The (index, group) pairs present in the `groups` table, plus those
 * inserted by the open transaction (pending until commit or rollback). */
struct store_group;
struct store_groups {
    struct store_group **slots; /* open addressing */
    size_t cap, len;
    struct store_group *pending; /* added since the last commit */
};

void store_groups_init(struct store_groups *g);
void store_groups_free(struct store_groups *g);
/* Adds (idx, grp); returns 1 when it was not known (the caller inserts it
 * into the table), 0 otherwise. */
int store_groups_add(struct store_groups *g, const char *idx, const char *grp);
void store_groups_commit(struct store_groups *g);
/* Forgets the pairs added since the last commit. */
void store_groups_rollback(struct store_groups *g);

/* ---- store_journal.c ---- */
struct store_jnl {
    char *dir;     /* data_dir/journal */
    int fd;        /* the file appended to, or -1 */
    size_t size;   /* its length after the last complete record */
    int sync;      /* fdatasync each record (durability full) */
    int64_t *segs; /* first ids of the files, ascending */
    size_t nsegs, capsegs;
    int64_t last_id; /* the highest id read back at open */
    struct buf rec;  /* the record being built */
    uint32_t count;
    void *zc; /* ZSTD_CCtx for records, made on first use */
};

typedef int (*store_jnl_fn)(void *ud, struct store_job *doc, int64_t id, int64_t seq, int64_t at);
/* Opens data_dir/journal (created if missing) and calls fn for every
 * document with id > after in the records found, in order (doc is freed
 * after the call). Returns 0, GK_EIO or GK_ESTORE (a damaged record
 * before the end of a file, or fn's failure). */
int store_jnl_open(struct store_jnl *j, const char *data_dir, int sync, int64_t after,
                   store_jnl_fn fn, void *ud);
void store_jnl_set_sync(struct store_jnl *j, int sync);
/* Starts the record of a group; adds one document to it. */
void store_jnl_begin(struct store_jnl *j);
void store_jnl_add(struct store_jnl *j, const struct store_job *d, int64_t id, int64_t seq,
                   int64_t at);
/* Fills in the record's header (magic, length, CRC, count) and compresses
 * it when that makes it smaller: store_jnl_commit does it; exposed for the
 * fuzz target, which makes records in memory (store_jnl_close frees). */
void store_jnl_seal(struct store_jnl *j);
/* Reads the records of one file's bytes: fn for every document with id >
 * after, j->last_id raised to the largest id. *good: the length of the whole
 * records read (a record cut short or failing its CRC ends the scan, as a
 * torn tail). Returns 0, GK_EINVAL (a record whose CRC holds does not
 * decode) or fn's failure. */
int store_jnl_scan(struct store_jnl *j, const unsigned char *data, size_t size, int64_t after,
                   store_jnl_fn fn, void *ud, size_t *good);
/* Appends the record (when it holds a document) and syncs it. first_id is
 * its first document's id. Returns 0, GK_EFULL or GK_ESTORE (nothing of
 * the record is left in the file). */
int store_jnl_commit(struct store_jnl *j, int64_t first_id);
/* Takes back the record just committed (its transaction failed after). */
void store_jnl_undo(struct store_jnl *j);
/* Deletes the files holding only documents with id <= moved. */
void store_jnl_moved(struct store_jnl *j, int64_t moved, int64_t next_id);
void store_jnl_close(struct store_jnl *j);

/* ---- store_db.c: the write connection and its prepared statements ---- */
#define STORE_RET_NSTMT     12
#define STORE_MOVE_DOCS     16384  /* a move once the hot database holds this many documents */
#define STORE_MOVE_MS       600000 /* or once its oldest is this old */
#define STORE_MOVE_RETRY_MS 1000   /* a failed move is tried again after this */

/* The statements that write one of the two hot files (hot0, hot1). */
struct store_hot_stmts {
    sqlite3_stmt *ins_doc, *put_index, *put_health, *put_group;
    sqlite3_stmt *idem_put, *idem_sweep; /* store_idem.c's */
    sqlite3_stmt *truncate[5];           /* empty every table (store_move.c) */
};

/* The mover (store_move.c): a thread with its own connection that copies a
 * sealed generation from its hot file into gasket.db, while the writer
 * goes on writing the next generation into the other file. */
struct store_mover {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    sqlite3 *db;
    void (*wake)(void *ud); /* called when a move ends (the writer may wait) */
    void *wake_ud;
    int running; /* the thread was started */
    /* under mu */
    int state;                /* STORE_MOVER_IDLE, _BUSY (a job handed over), _DONE, _STOP */
    int64_t lo, hi, gen;      /* the job: generation gen, documents lo < id <= hi */
    int sync;                 /* PRAGMA synchronous of gasket.db for it: 2 FULL, 1 NORMAL */
    int rc;                   /* its result: 0, GK_EFULL or GK_ESTORE */
    uint64_t ms;              /* how long it took */
    char why[256];            /* what failed */
    struct store_zip *zip;    /* the mover's compressor (store_zip.c) */
    struct store_mblk *mblk;  /* and its measurement blocks (store_mblk.c) */
    struct store_groll *roll; /* and the rollups of a generation (store_groll.c) */
};
enum { STORE_MOVER_IDLE, STORE_MOVER_BUSY, STORE_MOVER_DONE, STORE_MOVER_STOP };

struct store_db {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *idem_get, *idem_sweep; /* store_idem.c's */
    struct store_hot_stmts hs[2];        /* per hot file */
    struct store_hot_stmts *w;           /* the file generation gen is written into */
    sqlite3_stmt *ret[STORE_RET_NSTMT];  /* store_retain.c's, prepared on first use */
    struct store_mblk *ret_mblk;         /* and its measurement blocks */
    struct buf menc;                     /* a document's measurements (store_hmeas.c) */
    struct store_groups groups;
    int last_err; /* of the last transaction, to log a run of failures once */
    /* The hot tier (store_move.c): documents are committed to the journal
     * and to hot file gen & 1, and moved into gasket.db a generation at a
     * time by the mover. Ids <= moved_id (generations <= moved_gen) are
     * in gasket.db, with their rollups. */
    char *hot_path; /* the hot files' common name: <hot_path>0 and <hot_path>1 */
    struct store_jnl jnl;
    struct store_mover mv;
    int durability;  /* enum store_durability: the moves' too */
    int64_t next_id; /* the next docs.id */
    int64_t moved_id, moved_gen, gen;
    int sealed;           /* generation gen - 1 is sealed and not moved yet */
    size_t move_docs;     /* a move at this many documents in the hot tier */
    int64_t move_ms;      /* or once its oldest is this old */
    size_t gen_docs;      /* documents of generation gen */
    int64_t gen_first_ms; /* clock_mono_ms of its first document */
    int64_t retry_ms;     /* a failed move is not tried again before this */
    int move_err;         /* of the last move (0: it worked) */
    int pinged;           /* a health row waits in the hot database */
};

/* Opens path, sets the pragmas, checks or creates the schema (v3), prepares
 * the statements and loads the counters into seq and the known groups.
 * Returns 0, GK_EIO (cannot open the file) or GK_ESTORE (reason logged:
 * among others a database of an older layout); on failure d is closed. */
int store_db_open(struct store_db *d, const char *path, const struct store_options *opt,
                  struct store_seq *seq);
void store_db_close(struct store_db *d);
/* Sets PRAGMA synchronous (between transactions). Returns 0 or GK_ESTORE. */
int store_db_set_durability(struct store_db *d, enum store_durability dur);
/* Runs the jobs [first, end) (documents and pings) in one transaction,
 * filling their acks. Returns 0 when it committed; otherwise rolls
 * everything back (seq, groups and rollups included) and returns GK_EFULL
 * or GK_ESTORE. */
int store_db_run(struct store_db *d, struct store_seq *seq, struct store_job *first,
                 struct store_job *end);
/* Maps an SQLite result to GK_EFULL (disk or quota full) or GK_ESTORE. */
int store_db_err(sqlite3 *db, int rc);
/* Inside the open transaction: inserts j under id and seq_no into the hot
 * database (document, group, key; measurements and rollups accumulated,
 * written by store_db_finish: j must live until then). */
int store_db_put(struct store_db *d, struct store_seq *seq, struct store_job *j, int64_t id,
                 int64_t seq_no, int64_t at);
/* Writes the accumulated measurements, rollups and counters (when rc is
 * SQLITE_OK) and clears the accumulators; returns rc or the first failure. */
int store_db_finish(struct store_db *d, struct store_seq *seq, int rc);

/* ---- store_move.c ---- */
/* The hot files' common name: on a tmpfs (/dev/shm) when there is one,
 * else in data_dir. Freed by the caller. */
char *store_hot_path(const char *data_dir);
/* The tables of a hot file, "hot." standing for its schema name. */
extern const char store_hot_schema_sql[];
/* sql with every "hot." made "hot<n>." (freed by the caller). */
char *store_hot_sql(const char *sql, int n);
/* ATTACHes <path>0 and <path>1 as hot0 and hot1. */
int store_hot_attach(sqlite3 *db, const char *path);
/* Creates both hot files afresh, attached, with their tables. */
int store_hot_create(struct store_db *d);
/* Reads the journal back into the hot tier (at open). */
int store_hot_replay(struct store_db *d, struct store_seq *seq, const char *data_dir, int sync);
/* Starts the mover: its connection to path (with both hot files) and its
 * thread; wake(ud) runs on it after each move. Returns 0 or GK_ESTORE. */
int store_mover_start(struct store_db *d, const char *path, unsigned max_pages,
                      void (*wake)(void *), void *ud);
/* Stops the thread and closes its connection (a move under way ends first). */
void store_mover_stop(struct store_db *d);
/* The writer's turn (between groups): collects a move that ended, and hands
 * the mover the current generation when a move is due and the mover is
 * free. Never waits. */
void store_move_tick(struct store_db *d, int64_t now_ms);
/* Waits until every document committed so far is in gasket.db (a flush,
 * retention, close). Returns 0, GK_EFULL or GK_ESTORE. */
int store_move_all(struct store_db *d);
/* Waits for a move under way to end (before the writer writes gasket.db). */
void store_move_wait(struct store_db *d);
/* Milliseconds until the writer should call store_move_tick (-1: nothing
 * to wait for but a move under way, whose end wakes it). */
int64_t store_move_wait_ms(struct store_db *d, int64_t now_ms);
/* Every document with an id up to this mark is in gasket.db (SQL: the
 * hot rows a reader counts are the ones above it). */
#define STORE_MOVED_MARK "(SELECT v FROM main.meta WHERE k = 'moved')"
/* The SQL readers run on their connection after store_hot_attach,
 * store_zip_reader and store_mblk_reader:
 * temporary views named as gasket.db's tables that show gasket.db and both
 * hot files (docs, measurements, rollup_1m, rollup_1h, groups, indices;
 * the hot tier's rollups through temp.hroll_1m and _1h, store_hroll.c). */
extern const char store_view_sql[];
/* Deletes both hot files (at close). */
void store_hot_remove(const char *path);

/* ---- store_zip.c ---- */

struct store_zip;
struct store_zip *store_zip_new(void);
void store_zip_free(struct store_zip *z);
/* Registers gk_zip(idx, source) on the mover's connection. */
int store_zip_writer(sqlite3 *db, struct store_zip *z);
/* Before a move of hot file `hot`'s documents lo < id <= hi: loads the
 * dictionaries of gasket.db, and trains one for each index of the
 * generation that has none and enough documents. */
int store_zip_prepare(struct store_zip *z, sqlite3 *db, int hot, int64_t lo, int64_t hi);
/* In the move's transaction: stores the new dictionaries, and compresses
 * the next slice of documents moved before their index had one. */
int store_zip_save(struct store_zip *z, sqlite3 *db);
/* After the move committed. */
void store_zip_saved(struct store_zip *z);
/* Registers gk_unzip(source) (the document as posted; text as it is) on a
 * connection that reads gasket.db: every read of docs.source goes through
 * it. */
int store_zip_reader(sqlite3 *db);

/* ---- store_mblk.c ---- */

struct mpoint;
struct store_mblk;
/* The blocks' writer on a connection to gasket.db (its statements are
 * prepared on first use); used inside that connection's transactions. */
struct store_mblk *store_mblk_new(sqlite3 *db);
void store_mblk_free(struct store_mblk *w);
/* Adds p[0..n) (n >= 1, sorted by (ts, doc), docs not in the series yet)
 * to the series (idx, grp, name). */
int store_mblk_add(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                   const struct mpoint *p, size_t n);
/* Deletes the series' points with ts < bound, adding their count to
 * *deleted. */
int store_mblk_trim(struct store_mblk *w, const char *idx, const char *grp, const char *name,
                    int64_t bound, uint64_t *deleted);
/* In a move's transaction: the measurements of hot file `hot`'s documents
 * lo < doc <= hi into blocks, each series' points also added up in roll
 * (store_groll_series), then the next slice of legacy rows. */
struct store_groll;
int store_mblk_move(struct store_mblk *w, int hot, int64_t lo, int64_t hi,
                    struct store_groll *roll);
/* SQLite's message of what made the last store_mblk_move fail. */
const char *store_mblk_err(const struct store_mblk *w);
/* Registers the modules gk_meas, gk_hmeas (store_hmeas.c) and gk_hroll
 * (store_hroll.c) on a reader's connection (before store_view_sql, which
 * makes temp.mblk, temp.hmeas, temp.hroll_1m and temp.hroll_1h with
 * them). */
int store_mblk_reader(sqlite3 *db);
/* The blocks of one series (?1 idx, ?2 grp, ?3 name) from the one holding
 * a range's start: SEEK gives the key (t0, d0) of the last block starting
 * at or before (?4, ?5); SERIES the blocks from key (?4, ?5) whose first
 * point is at or before ?6, in order (data: column 5). gk_meas and the
 * query plans that decode blocks themselves (query_rollup.c) share them. */
#define STORE_MBLK_SEEK_SQL                                                                        \
    "SELECT t0, d0 FROM main.mblocks WHERE idx = ?1 AND grp = ?2 AND name = ?3"                    \
    " AND (t0, d0) <= (?4, ?5) ORDER BY t0 DESC, d0 DESC LIMIT 1"
#define STORE_MBLK_SERIES_SQL                                                                      \
    "SELECT idx, grp, name, t0, t1, data FROM main.mblocks WHERE idx = ?1 AND grp = ?2"            \
    " AND name = ?3 AND (t0, d0) >= (?4, ?5) AND t0 <= ?6 ORDER BY t0, d0"
/* Narrows [*lo, *hi] by a constraint op (SQLITE_INDEX_CONSTRAINT_GE, GT,
 * LE, LT or EQ) on an integer column, value v. A value that is not an
 * integer narrows it to a superset (SQLite checks the column again). */
void store_ts_bound(sqlite3_value *v, int op, int64_t *lo, int64_t *hi);
/* The virtual tables' idle statements, n slots per kind: one taken (NULL
 * when none is idle); one given back, reset (finalized when every slot is
 * full). */
sqlite3_stmt *store_idle_take(sqlite3_stmt **slot, int n);
void store_idle_give(sqlite3_stmt **slot, int n, sqlite3_stmt *st);

/* ---- store_groll.c: a moved generation's rollups (mover's thread) ---- */

struct mpoint;
struct store_groll *store_groll_new(sqlite3 *db);
void store_groll_free(struct store_groll *g);
/* The minute buckets of one series' points, sorted by time. */
void store_groll_series(struct store_groll *g, const char *idx, const char *grp, const char *name,
                        const struct mpoint *p, size_t n);
/* The minute buckets of hot file `hot`'s documents lo < id <= hi. */
int store_groll_docs(struct store_groll *g, int hot, int64_t lo, int64_t hi);
/* Into gasket.db: which indexes keep their minutes, the minutes kept and
 * the hours; then forgets the generation (also on failure). */
int store_groll_flush(struct store_groll *g);
/* Forgets the generation (a move that failed before the flush). */
void store_groll_clear(struct store_groll *g);

/* ---- store_hmeas.c: the hot tier's measurements, a blob per document ---- */

/* Reading a blob m (store_hmeas.c): it.p, it.end its bytes. */
struct store_hmeas_it {
    const unsigned char *p, *end;
};
struct store_hmeas_val {
    const char *name; /* nlen bytes, in the blob */
    int nlen;
    int has; /* 0: no value (NULL) */
    double value;
};
/* Appends the encoding of m[0..n) to b (nothing for n = 0). */
void store_hmeas_encode(struct buf *b, const struct store_job_meas *m, size_t n);
/* The next measurement: 1, 0 after the last, -1 when the blob is damaged. */
int store_hmeas_next(struct store_hmeas_it *it, struct store_hmeas_val *out);
/* Registers the module gk_hmeas (temp.hmeas, in store_move.c's
 * measurements view). */
int store_hmeas_reader(sqlite3 *db);

/* ---- store_hroll.c ---- */

/* Registers the module gk_hroll: the hot tier's rollups of one width,
 * computed from its rows as read (temp.hroll_1m and _1h, in store_move.c's
 * rollup views). */
int store_hroll_reader(sqlite3 *db);

/* ---- store_idem.c ---- */

/* One key the loop thread remembers: in flight (jobs > 0) and/or
 * committed (done: id and seq_no are the first document's). */
struct store_idem_ent {
    struct store_idem_ent *fifo_next; /* committed entries, oldest first */
    struct store_job *waiters;        /* ANSWER jobs waiting for the key in flight */
    uint64_t fp;
    int64_t done_ms; /* when it committed (clock_mono_ms) */
    int64_t seq_no;
    uint32_t jobs; /* DOC jobs with this key not completed yet */
    int done, in_fifo;
    char id[24];
    size_t len;
    char key[];
};

struct store_idem_mem {
    struct map map; /* key -> struct store_idem_ent */
    struct store_idem_ent *fifo_head, **fifo_tail;
    size_t nfifo;
};

/* Writer thread, inside the open transaction: looks j's key up. Returns
 * SQLITE_ROW when it is there (j->ack filled: dup, or status GK_EEXIST),
 * SQLITE_DONE when it is not, or an error. */
int store_idem_check(struct store_db *d, struct store_job *j);
/* Writer thread: records j's key for document id (docs.id) at now_ms. */
int store_idem_put(struct store_db *d, const struct store_job *j, int64_t id, int64_t seq_no,
                   int64_t now_ms);
/* Writer thread: one transaction of a sweep pass; 1 while it has more to do. */
int store_idem_sweep_step(struct store_db *d, struct store_idem_sweep *p);
/* Loop thread. */
void store_idem_init(struct store *s);
void store_idem_free(struct store *s);
/* At open, before the writer starts: reads the newest keys back into memory. */
void store_idem_load(struct store *s);
/* A DOC job with a key is queued / has completed (its ack is final). */
void store_idem_track(struct store *s, const struct store_job *j);
void store_idem_complete(struct store *s, const struct store_job *j);
/* (Re)starts the sweep timer: a pass every half window, between 1 s and
 * a minute apart. */
void store_idem_schedule(struct store *s);

/* ---- store_read.c: the read-only connections ---- */
struct store_pool {
    uv_mutex_t mu;
    uv_cond_t cv;
    sqlite3 *idle[STORE_READERS];
    int nidle, nopen;
    int closing;
};

void store_pool_init(struct store_pool *p);
/* Closes the idle connections; busy ones are closed when their read ends.
 * Reads that have not started yet fail with GK_ESTORE. */
void store_pool_close(struct store_pool *p);
void store_pool_destroy(struct store_pool *p);

/* ---- store_retain.c ---- */
struct store_retain_cfg {
    char *index;
    int64_t max_age_ms;
    int64_t rollup_cut; /* rollups older than this were deleted already */
};

/* Writer thread: runs one transaction of the pass. Returns 1 while the
 * pass has more to do, 0 when it finished or failed. */
int store_retain_step(struct store_db *d, struct store_retain_pass *p);
/* Loop thread: the timer's callback and the pass's completion. */
void store_retain_tick(uv_timer_t *t);
void store_retain_free_cfg(struct store *s);

/* ---- store.c: the store itself ---- */
struct store {
    uv_loop_t *loop;
    uv_async_t async; /* completions of the writer */
    uv_timer_t retain_timer;
    uv_timer_t idem_timer; /* the sweeps of old idempotency keys */
    int nhandles;          /* open handles; s is freed at 0 with no read left */
    char *path;            /* of gasket.db */
    char *hot_path;        /* of the hot database (readers attach it) */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* under mu */
    struct store_job *queue, **queue_tail;
    struct store_job *done, **done_tail;
    int stopping;
    enum store_durability want_dur;
    /* writer thread only */
    struct store_db db;
    struct store_seq seq;
    enum store_durability cur_dur;
    size_t max_batch;
    /* loop thread only */
    size_t inflight;       /* appends and pings whose callback is pending */
    size_t pending_docs;   /* appends whose callback is pending (store_pending) */
    size_t reads_inflight; /* store_read() calls whose done is pending */
    struct store_stats stats;
    struct store_retain_cfg *retain;
    size_t nretain;
    int retain_running; /* a pass is queued or running */
    struct store_idem_mem idem;
    int64_t idem_window_ms;
    int idem_running;             /* a sweep is queued or running */
    struct workpool *readers;     /* the pool store_read() uses */
    struct workpool *own_readers; /* readers when the store started it, else NULL */
    /* shared with the workers, under pool.mu */
    struct store_pool pool;
};

/* Loop thread: queues a job for the writer without keeping the loop alive
 * for it (retention passes, sweeps). */
void store_enqueue(struct store *s, struct store_job *j);
/* Loop thread: hands an ANSWER job to the done queue (its callback runs on
 * a later turn, keeping the loop alive until then). */
void store_answer(struct store *s, struct store_job *j);
/* Loop thread: frees s once its handles are closed and no read is left. */
void store_maybe_free(struct store *s);

#endif
