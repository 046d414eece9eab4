/* store.h: the durable document store (SQLite, WAL, one writer thread).
 *
 * Threads and connections: the store's writer thread owns the one write
 * connection to gasket.db (opened by store_open() before the thread starts,
 * closed by store_close() after it stops); queries run on the threads of
 * the query pool (store_options.pool, [http] search_threads), each on one of
 * at most STORE_READERS read-only connections that the pool's threads share
 * under a mutex, one thread at a time per connection. The loop thread
 * touches no connection.
 *
 * Documents are appended through one writer thread that owns the SQLite
 * write connection and commits in groups: every document queued while the
 * previous transaction was committing goes into the next one. A caller's
 * callback runs on the loop thread (through uv_async) only after the
 * transaction holding its document has committed, or with an error when it
 * failed and was rolled back (nothing of that group is half-written:
 * documents, measurements, groups and rollups go together).
 *
 * Layout in `dir`: gasket.db (+ -wal, -shm), PRAGMA user_version = 7, and
 * the journal (store_journal.c); the newest documents also in the hot
 * files (store_move.c). A file of schema 3 to 6 is upgraded in place at
 * open after a backup copy (store_db.c); a file of the first layout
 * (user_version 0 with a `docs` table) is refused at open ("... was
 * written by an older gasket (schema 1); move it away"), and so is one of
 * the unreleased version 2 (no document-count rollups). The tables as
 * readers see them (through the views of store_move.c):
 *   docs(id INTEGER PRIMARY KEY AUTOINCREMENT, idx TEXT, seq INTEGER,
 *        ts INTEGER  -- receive time, ms since the epoch (UTC)
 *        groupid TEXT  -- NULL when the document has none
 *        source)  -- the document's JSON, in gasket.db maybe compressed
 *                    (store_zip.c: read it through gk_unzip)
 *     indexes docs_idx_ts(idx, ts), docs_idx_grp_ts(idx, groupid, ts)
 *   measurements(idx, grp, name, ts, doc, value REAL): one row per
 *        (idx, grp, name, ts, doc); doc = docs.id, ts = docs.ts. In
 *        gasket.db kept in per-series blocks (mblocks, store_mblk.c) read
 *        through the virtual table temp.mblk, and the rows of
 *        main.measurements an older schema wrote until they are converted;
 *        in the hot files, a blob per document in its row (store_hmeas.c)
 *        read through temp.hmeas
 *   rollup_1m(idx, grp, name, t, n, mn, mx, sm) WITHOUT ROWID,
 *        primary key (idx, grp, name, t): per minute bucket t (ts floored
 *        to a multiple of 60000, also below 0) the count, min, max and sum
 *        of the bucket's values; rollup_1h the same per hour (3600000).
 *        The rows named STORE_DOCS_NAME count documents: n = the documents
 *        of (idx, grp) in the bucket, with or without measurements; mn, mx
 *        and sm are NULL. gasket.db's rows are written by the moves; the
 *        hot tier's are added up from its documents as they are read
 *        (store_hroll.c). A bucket may have several rows (gasket.db's and
 *        each hot file's): readers add them up
 *   groups(idx, grp) WITHOUT ROWID: every group an index ever had (kept
 *        by retention)
 *   indices(name TEXT PRIMARY KEY, next_seq INTEGER), health(id, at)
 *   idem(doc INTEGER PRIMARY KEY, key BLOB UNIQUE, seq, fp, at): the
 *        idempotency key of each document stored with one (docs.id, the
 *        caller's key bytes, _seq_no, the request's 64-bit fingerprint as
 *        a signed integer, the commit time in ms), written in the
 *        document's transaction; rows older than the window are swept
 *        (store_idem.c)
 * grp is the document's groupid, or "" for a document without one (in
 * measurements, rollups and groups; docs.groupid stays NULL).
 * Rollups are written in the move of their documents, and added up from
 * the hot tier's documents when read, so they always equal the aggregates of
 * the committed measurements, except: sm is a
 * floating sum, accumulated in a different order than a SUM() over the
 * measurements would, so it may differ from it in the last bits; a value
 * that is NaN is stored as NULL and counted in no rollup; retention deletes
 * only buckets that end at or before its cutoff, so the bucket straddling
 * the cutoff still counts the documents deleted from it, and it deletes
 * them after the pass's last document batch, so while a pass runs the
 * expired buckets still count documents already deleted.
 * A document's `_id` is its docs.id in decimal; `_seq_no` counts from 0
 * per index. */
#ifndef GASKET_STORE_STORE_H
#define GASKET_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct workpool;

enum store_durability {
    STORE_DURABILITY_FULL,   /* fsync at each group commit: survives a power cut */
    STORE_DURABILITY_NORMAL, /* survives a crash of the process, not of the machine */
};

struct store_options {
    const char *dir; /* created if missing */
    enum store_durability durability;
    size_t max_batch; /* documents per transaction at most (0: 4096) */
    /* Quota on the database file, in pages of 4 KiB (0: unlimited), applied
     * as PRAGMA max_page_count on the write connection. A transaction that
     * would grow the file past it fails with GK_EFULL, exactly like a full
     * disk. A quota below the current size caps the file at its current size. */
    unsigned max_pages;
    /* How long an idempotency key is kept at least, in ms (0: 24 hours). */
    int64_t idem_window_ms;
    /* The threads queries run on (store_read); NULL: the store starts a
     * pool of its own of 2 threads, closed by store_close(). A pool given
     * here is the caller's, closed after store_close(). */
    struct workpool *pool;
    /* The hot database's file (NULL: store_hot_path's choice, a tmpfs). */
    const char *hot_path;
    /* The hot tier is moved into gasket.db once it holds move_docs documents
     * (0: STORE_MOVE_DOCS) or its oldest is move_ms old (0: STORE_MOVE_MS). */
    size_t move_docs;
    int64_t move_ms;
};

/* The rollup name of document counts: the byte 0xFF, which is not UTF-8,
 * so no JSON member name (jansson rejects invalid UTF-8) can be it; "" can
 * (`{"":{"value":1}}` is a valid measurement). */
#define STORE_DOCS_NAME "\xff"

/* A measurement: name is UTF-8 (never STORE_DOCS_NAME); a document holds at
 * most one value per name (the gateway's parsers refuse a JSON object with
 * a member name twice). */
struct store_meas {
    const char *name;
    double value;
};

/* A document to append; store_append() copies everything it needs. */
struct store_doc {
    const char *index;
    const char *source; /* the document's JSON text */
    size_t source_len;
    int64_t ts_ms; /* receive time, ms since the epoch */
    const char *groupid;
    size_t nmeas;
    const struct store_meas *meas;
    /* Idempotency (store_idem_find): with idem_key (idem_len bytes, opaque:
     * gasketd puts the principal and the client's key there), the document
     * is stored only when no document was stored with that key before
     * (checked inside its transaction); idem_fp is the request's
     * fingerprint, compared when the key is found. NULL: no key. */
    const char *idem_key;
    size_t idem_len;
    uint64_t idem_fp;
};

struct store_ack {
    int status;     /* 0, GK_EEXIST (its idempotency key was stored with another
                     * fingerprint: nothing stored), GK_EFULL (disk full) or
                     * GK_ESTORE (other failure) */
    int dup;        /* status 0: its idempotency key was stored before; id and
                     * seq_no are that first document's, nothing was stored now */
    char id[24];    /* the document's _id when status is 0 */
    int64_t seq_no; /* its _seq_no in the index */
};

typedef void (*store_cb)(void *ud, const struct store_ack *ack);

#define STORE_LAT_NBUCKETS 12
/* Upper bounds, in seconds, of the commit-latency histogram buckets (the
 * last one is +Inf). */
extern const double store_lat_bounds[STORE_LAT_NBUCKETS];

struct store_stats {
    uint64_t commits;                       /* transactions committed */
    uint64_t docs;                          /* documents committed */
    uint64_t failures;                      /* transactions rolled back */
    uint64_t lat_count[STORE_LAT_NBUCKETS]; /* non-cumulative counts */
    double lat_sum;                         /* seconds */
    uint64_t retention_passes;              /* retention passes finished */
    uint64_t retention_docs;                /* documents deleted by them */
    uint64_t dups; /* appends answered as duplicates of an idempotency key */
};

/* Opens (creating if needed) the store and starts its writer thread.
 * Returns 0, GK_EIO or GK_ESTORE (reason logged). */
int store_open(struct store **out, uv_loop_t *loop, const struct store_options *opt);
/* Queues doc (doc->index must not be NULL; groupid may be); cb(ud, ack)
 * runs later on the loop thread, never inside this call, once the
 * transaction holding the document committed or failed. Callbacks run in
 * the order of the calls. While callbacks are pending the store keeps the
 * loop alive; when none are, it does not. */
void store_append(struct store *s, const struct store_doc *doc, store_cb cb, void *ud);
/* Documents handed to store_append() whose callback has not run yet (queued
 * for the writer or in its transaction): how far the writer is behind.
 * Loop thread; it drops before each callback runs. */
size_t store_pending(const struct store *s);
/* Checks that the store can commit a write transaction now; cb as above
 * (status 0 when writable). Used by GET /healthz. */
void store_ping(struct store *s, store_cb cb, void *ud);
/* Moves every document of the hot tier into gasket.db (durably) before
 * cb runs (status 0, or GK_EFULL / GK_ESTORE when the move failed: the
 * documents stay safe in the journal). The `_flush` endpoint. */
void store_flush(struct store *s, store_cb cb, void *ud);
/* Applies a new durability mode to the next transactions. */
void store_set_durability(struct store *s, enum store_durability d);

/* ---- idempotency keys (store_idem.c) ---------------------------------------
 * A document appended with an idempotency key is stored at most once per
 * key: the writer looks the key up in the idem table inside the document's
 * transaction and, when it is there, stores nothing and answers with the
 * first document's _id and _seq_no (ack.dup), or GK_EEXIST when the
 * fingerprints differ. Keys are kept at least idem_window_ms, then swept
 * in the background (a pass a minute, in small transactions).
 *
 * In front of that, on the loop thread, the store remembers the keys of
 * the documents in flight and of those committed in the last
 * STORE_IDEM_MEM_MS (at most STORE_IDEM_MEM_MAX; the newest are read back
 * at open), so that a duplicate can be answered without running anything
 * before the store again (the caller's rules): store_idem_find(). */
#define STORE_IDEM_MEM_MS  (10 * 60 * 1000)
#define STORE_IDEM_MEM_MAX 65536

/* When key[0..len) is known in memory (a document with it is in flight or
 * was committed recently): returns 1 and cb(ud, ack) runs later on the loop
 * thread, never inside this call, with the first document's answer (status
 * 0 and dup, once it committed), its failure (when its transaction failed),
 * or GK_EEXIST when fp differs from its fingerprint. Otherwise returns 0 and
 * does nothing: the caller appends the document with the key (a duplicate
 * that memory has forgotten is still caught by the writer). Loop thread. */
int store_idem_find(struct store *s, const char *key, size_t len, uint64_t fp, store_cb cb,
                    void *ud);
/* Sets the window of the next sweeps (SIGHUP); 0: 24 hours. Loop thread. */
void store_set_idem_window(struct store *s, int64_t window_ms);
/* Counters, updated on the loop thread. */
const struct store_stats *store_get_stats(const struct store *s);
/* Commits everything queued, runs the remaining callbacks, stops the
 * writer (abandoning a retention pass between two batches) and closes the
 * database. Blocks; loop thread; not from inside a store callback. Reads
 * may be in flight: one already running finishes (its done runs later, with
 * status 0), one not started yet gets done(arg, GK_ESTORE) without fn.
 * No store_* call may follow. s is freed once its handles are closed and
 * the last read's done has run, so the loop must run once more (as for any
 * libuv handle) before uv_loop_close(). */
void store_close(struct store *s);

/* ---- reading (queries) ---------------------------------------------------
 * Queries run on the query pool (store_options.pool), each on a read-only connection taken
 * from the store's pool (WAL: they read a snapshot while the writer
 * writes; one statement sees one snapshot, several statements see one only
 * inside an explicit BEGIN ... COMMIT). fn(db, arg) runs on a worker
 * thread; done(arg, status) then runs on the loop thread (status 0, or
 * GK_ESTORE when no connection could be opened or the store was closing, in
 * which case fn did not run). Loop thread; never calls done inside this
 * call. At most 4 connections are opened, lazily, and reused (a 5th
 * concurrent read waits for one); they are closed by store_close(). fn must
 * finalize every statement it prepares and end any transaction it begins
 * (leftovers are finalized and rolled back, with an error logged); it must
 * not keep db. A read in flight keeps the loop alive; idle connections
 * do not. */
struct sqlite3;
typedef void (*store_read_fn)(struct sqlite3 *db, void *arg);
typedef void (*store_read_done)(void *arg, int status);
void store_read(struct store *s, store_read_fn fn, store_read_done done, void *arg);

/* Deletes, in the background and in small batches, the documents of index
 * older than max_age_ms (ts < now - max_age_ms; 0: keep everything), with
 * their measurements and the rollup buckets that end at or before that
 * cutoff. A first pass runs soon after the call, then one every 10 s; each
 * batch (1000 documents) is its own transaction between two ingest groups,
 * so appends are never held up for more than one batch. One log line per
 * pass says what it deleted. Loop thread; may be called again (SIGHUP); the
 * timer does not keep the loop alive. */
void store_set_retention(struct store *s, const char *index, int64_t max_age_ms);

#endif
