/* store_int.h: internals shared by the store's files, not by other modules.
 *
 * The store has three layers, one per file:
 *   store.c      public API, job queue, writer thread, completions on the loop
 *   store_db.c   the SQLite write connection: schema, statements, one
 *                transaction over a group of jobs
 *   store_seq.c  the in-memory per-index _seq_no counters, with the
 *                commit/rollback bookkeeping that keeps them in step with
 *                the `indices` table
 * store_db.c and store_seq.c are used by the writer thread only. */
#ifndef GASKET_STORE_STORE_INT_H
#define GASKET_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "store/store.h"

enum store_job_kind { STORE_JOB_DOC, STORE_JOB_PING };

struct store_job_meas {
    const char *name;
    double value;
};

/* One queued document or ping. A single allocation holds the job, its
 * measurements and every string it points to. */
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
    double grp_lat; /* seconds from BEGIN to COMMIT done */
    const char *index;
    const char *groupid; /* or NULL */
    const char *source;
    size_t source_len;
    int64_t ts_ms;
    size_t nmeas;
    struct store_job_meas meas[];
};

/* store_seq.c: per-index counters (open addressing on the index name). */
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
/* Dirty counters, to persist before COMMIT. */
struct store_seq_entry *store_seq_dirty(const struct store_seq *t);
/* After COMMIT: the dirty counters become the committed ones. */
void store_seq_commit(struct store_seq *t);
/* After ROLLBACK: the dirty counters go back to their committed values. */
void store_seq_rollback(struct store_seq *t);

/* store_db.c: the write connection and its prepared statements. */
struct store_db {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *ins_doc, *ins_meas, *put_index, *put_health;
    int last_err; /* of the last transaction, to log a run of failures once */
};

/* Opens path, sets the pragmas, creates missing tables, prepares the
 * statements and loads the counters into seq. Returns 0, GK_EIO (cannot
 * open the file) or GK_ESTORE; on failure d is closed. */
int store_db_open(struct store_db *d, const char *path, const struct store_options *opt,
                  struct store_seq *seq);
void store_db_close(struct store_db *d);
/* Sets PRAGMA synchronous (between transactions). Returns 0 or GK_ESTORE. */
int store_db_set_durability(struct store_db *d, enum store_durability dur);
/* Runs the jobs [first, end) in one transaction, filling their acks.
 * Returns 0 when it committed; otherwise rolls everything back (seq
 * included) and returns GK_EFULL or GK_ESTORE. */
int store_db_run(struct store_db *d, struct store_seq *seq, struct store_job *first,
                 struct store_job *end);

#endif
