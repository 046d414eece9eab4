/* store_retain.c: retention, the deletion of documents past an index's age.
 *
 * Loop thread: store_set_retention() keeps a table of (index, max age) and
 * runs an unreferenced timer (a first pass soon after a change, then one
 * every STORE_RETAIN_PERIOD_MS). Each tick, unless a pass is still running,
 * fixes the cutoffs (now - max age) and queues one STORE_JOB_RETAIN job;
 * its completion logs one line with what the pass deleted.
 *
 * Writer thread: store_retain_step() runs one small transaction of the pass
 * and returns; store.c then puts the pass back at the tail of the queue, so
 * ingest jobs queued meanwhile commit before the next batch. Per index:
 *   docs phase: the next STORE_RETAIN_BATCH oldest documents (ts < B, B
 *     the ts of the first document left out, capped at the cutoff) and
 *     their measurements, deleted per (group, name) range ts < B (the
 *     rows an older schema wrote, and the blocks: store_mblk_trim); the
 *     (group, name) pairs come from the groups table and a skip-scan of
 *     the measurements' keys, once per pass.
 *   rollups phase: rows whose bucket ends at or before the cutoff (t + w <=
 *     cutoff), per (group, name) pair of rollup_1h, about STORE_RETAIN_ROWS
 *     rows per transaction; skipped while the cutoff stays in the minute
 *     already cleaned.
 * The groups table is kept: it lists every group an index ever had. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_int.h"

enum { R_TS, R_DOCS, R_MEAS, R_1M, R_1H, R_GROUPS, R_MNAME0, R_MNAME, R_HNAME0, R_HNAME, R_N };

static const char *const ret_sql[R_N] = {
    "SELECT ts FROM docs WHERE idx = ?1 AND ts < ?2 ORDER BY ts LIMIT 1 OFFSET ?3",
    "DELETE FROM docs WHERE idx = ?1 AND ts < ?2",
    "DELETE FROM measurements WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND ts < ?4",
    "DELETE FROM rollup_1m WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t <= ?4",
    "DELETE FROM rollup_1h WHERE idx = ?1 AND grp = ?2 AND name = ?3 AND t <= ?4",
    "SELECT grp FROM groups WHERE idx = ?1",
    /* the names of the legacy rows and of the blocks (store_mblk.c) */
    "SELECT min(n) FROM (SELECT min(name) AS n FROM measurements WHERE idx = ?1 AND grp = ?2"
    " UNION ALL SELECT min(name) FROM mblocks WHERE idx = ?1 AND grp = ?2)",
    "SELECT min(n) FROM (SELECT min(name) AS n FROM measurements WHERE idx = ?1 AND grp = ?2"
    " AND name > ?3 UNION ALL SELECT min(name) FROM mblocks WHERE idx = ?1 AND grp = ?2"
    " AND name > ?3)",
    "SELECT name FROM rollup_1h WHERE idx = ?1 AND grp = ?2 ORDER BY name LIMIT 1",
    "SELECT name FROM rollup_1h WHERE idx = ?1 AND grp = ?2 AND name > ?3 ORDER BY name LIMIT 1",
};
_Static_assert(R_N <= STORE_RET_NSTMT, "room for every retention statement");

struct retain_index {
    char *index;
    int64_t cutoff;     /* documents with ts < cutoff go */
    int64_t rollup_cut; /* in: the minute cleaned last time; out: this one */
    int rollups_done;
};

struct retain_pair {
    char *grp, *name;
};

enum retain_phase { PH_DOCS, PH_ROLLUPS };

struct store_retain_pass {
    struct store *s;
    struct retain_index *ix;
    size_t nix, cur;
    enum retain_phase phase;
    struct retain_pair *pairs; /* of the current phase, NULL: not listed yet */
    size_t npairs, pos;
    uint64_t docs, meas, rollups, txns;
    int status;
    int hot_checked; /* the hot tier was looked at (moved when it held expired documents) */
};

/* ---- writer thread ---- */

static int ret_prepare(struct store_db *d)
{
    for (int i = 0; i < R_N; i++) {
        if (d->ret[i]) continue;
        if (sqlite3_prepare_v3(d->db, ret_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->ret[i],
                               NULL) != SQLITE_OK) {
            log_error("store: preparing \"%s\": %s", ret_sql[i], sqlite3_errmsg(d->db));
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

static void pairs_free(struct store_retain_pass *p)
{
    for (size_t i = 0; i < p->npairs; i++) {
        free(p->pairs[i].grp);
        free(p->pairs[i].name);
    }
    free(p->pairs);
    p->pairs = NULL;
    p->npairs = p->pos = 0;
}

/* The ts of the document at `offset` in ts order below the cutoff: SQLITE_ROW
 * with *ts set, SQLITE_DONE when there is none, or an error. */
static int doc_ts_at(struct store_db *d, const struct retain_index *ix, int offset, int64_t *ts)
{
    sqlite3_stmt *st = d->ret[R_TS];
    sqlite3_bind_text(st, 1, ix->index, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ix->cutoff);
    sqlite3_bind_int(st, 3, offset);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *ts = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

/* Appends the names of (index, grp) in a table to the pairs, by seeking
 * from one name to the next along the primary key. */
static int list_names(struct store_retain_pass *p, const char *grp, sqlite3_stmt *first,
                      sqlite3_stmt *next, size_t *cap)
{
    const char *index = p->ix[p->cur].index;
    char *last = NULL;
    int rc;
    for (sqlite3_stmt *st = first;; st = next) {
        sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, grp, -1, SQLITE_STATIC);
        if (last) sqlite3_bind_text(st, 3, last, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL) rc = SQLITE_DONE;
        if (rc == SQLITE_ROW) {
            if (p->npairs == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                p->pairs = xrealloc(p->pairs, *cap * sizeof(*p->pairs));
            }
            last = xstrdup((const char *)sqlite3_column_text(st, 0));
            p->pairs[p->npairs++] = (struct retain_pair){xstrdup(grp), last};
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) break;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Lists the (group, name) pairs of the current index: of the measurements
 * (docs phase) or of rollup_1h (rollups phase). */
static int list_pairs(struct store_db *d, struct store_retain_pass *p)
{
    int docs = p->phase == PH_DOCS;
    sqlite3_stmt *st = d->ret[R_GROUPS];
    size_t cap = 0;
    int rc;
    p->pairs = xmalloc(1); /* listed, even if empty */
    sqlite3_bind_text(st, 1, p->ix[p->cur].index, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *grp = xstrdup((const char *)sqlite3_column_text(st, 0));
        rc = list_names(p, grp, d->ret[docs ? R_MNAME0 : R_HNAME0],
                        d->ret[docs ? R_MNAME : R_HNAME], &cap);
        free(grp);
        if (rc != SQLITE_OK) break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? SQLITE_OK : rc;
}

/* Runs a DELETE over one pair and adds the rows it deleted to *n. */
static int delete_pair(struct store_db *d, sqlite3_stmt *st, const char *index,
                       const struct retain_pair *pr, int64_t bound, uint64_t *n)
{
    sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pr->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pr->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, bound);
    int rc = sqldb_run(st);
    if (rc == SQLITE_OK) *n += (uint64_t)sqlite3_changes(d->db);
    return rc;
}

/* In a transaction: deletes the documents with ts < bound and their
 * measurements. Counts go to c[0] (docs) and c[1] (measurements). */
static int delete_docs(struct store_db *d, struct store_retain_pass *p, int64_t bound,
                       uint64_t c[3])
{
    const char *index = p->ix[p->cur].index;
    int rc = p->pairs ? SQLITE_OK : list_pairs(d, p);
    if (rc != SQLITE_OK) return rc;
    sqlite3_stmt *st = d->ret[R_DOCS];
    sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bound);
    rc = sqldb_run(st);
    if (rc == SQLITE_OK) c[0] += (uint64_t)sqlite3_changes(d->db);
    if (!d->ret_mblk) d->ret_mblk = store_mblk_new(d->db);
    for (size_t i = 0; rc == SQLITE_OK && i < p->npairs; i++) {
        const struct retain_pair *pr = &p->pairs[i];
        rc = delete_pair(d, d->ret[R_MEAS], index, pr, bound, &c[1]);
        if (rc == SQLITE_OK)
            rc = store_mblk_trim(d->ret_mblk, index, pr->grp, pr->name, bound, &c[1]);
    }
    return rc;
}

/* In a transaction: deletes expired rollup rows pair after pair, until
 * about STORE_RETAIN_ROWS rows went. Counts go to c[2]. */
static int delete_rollups(struct store_db *d, struct store_retain_pass *p, uint64_t c[3])
{
    const struct retain_index *ix = &p->ix[p->cur];
    int rc = p->pairs ? SQLITE_OK : list_pairs(d, p);
    for (; rc == SQLITE_OK && p->pos < p->npairs && c[2] < STORE_RETAIN_ROWS; p->pos++) {
        const struct retain_pair *pr = &p->pairs[p->pos];
        rc = delete_pair(d, d->ret[R_1M], ix->index, pr, ix->cutoff - STORE_MINUTE_MS, &c[2]);
        if (rc == SQLITE_OK)
            rc = delete_pair(d, d->ret[R_1H], ix->index, pr, ix->cutoff - STORE_HOUR_MS, &c[2]);
    }
    return rc;
}

static void next_phase(struct store_retain_pass *p)
{
    pairs_free(p);
    if (p->phase == PH_DOCS) {
        p->phase = PH_ROLLUPS;
        return;
    }
    p->phase = PH_DOCS;
    p->cur++;
}

/* One transaction of work. Returns SQLITE_OK, or an error after which the
 * transaction was rolled back. *ran tells whether anything was written. */
static int step_txn(struct store_db *d, struct store_retain_pass *p, int *ran)
{
    struct retain_index *ix = &p->ix[p->cur];
    int64_t oldest = 0, next = 0, bound = ix->cutoff;
    uint64_t c[3] = {0, 0, 0};
    int rc, phase_done;
    *ran = 0;
    if (p->phase == PH_DOCS) {
        rc = doc_ts_at(d, ix, 0, &oldest);
        if (rc == SQLITE_DONE) next_phase(p);
        if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_OK : rc;
        rc = doc_ts_at(d, ix, STORE_RETAIN_BATCH, &next);
        if (rc == SQLITE_ROW)
            bound = next > oldest ? next : next + 1;
        else if (rc != SQLITE_DONE)
            return rc;
    } else if (store_roll_floor(ix->cutoff, STORE_MINUTE_MS) == ix->rollup_cut) {
        next_phase(p);
        return SQLITE_OK;
    }
    *ran = 1;
    rc = sqldb_run(d->begin);
    if (rc == SQLITE_OK)
        rc = p->phase == PH_DOCS ? delete_docs(d, p, bound, c) : delete_rollups(d, p, c);
    if (rc == SQLITE_OK) rc = sqldb_run(d->commit);
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(d->db)) sqldb_run(d->rollback);
        return rc;
    }
    p->docs += c[0];
    p->meas += c[1];
    p->rollups += c[2];
    p->txns++;
    phase_done = p->phase == PH_DOCS ? bound >= ix->cutoff : p->pos >= p->npairs;
    if (phase_done && p->phase == PH_ROLLUPS) {
        ix->rollup_cut = store_roll_floor(ix->cutoff, STORE_MINUTE_MS);
        ix->rollups_done = 1;
    }
    if (phase_done) next_phase(p);
    return SQLITE_OK;
}

/* 1 when the hot tier holds a document the pass deletes: it is moved
 * into gasket.db first (a back-filled document may be old on arrival). */
static int hot_expired(struct store_db *d, const struct store_retain_pass *p)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqldb_prepare(d->db,
                      "SELECT 1 FROM hot0.docs WHERE idx = ?1 AND ts < ?2 AND id > ?3"
                      " UNION ALL SELECT 1 FROM hot1.docs WHERE idx = ?1 AND ts < ?2 AND id > ?3",
                      &st) != SQLITE_OK)
        return 1;
    for (size_t i = 0; i < p->nix && !found; i++) {
        sqlite3_bind_text(st, 1, p->ix[i].index, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, p->ix[i].cutoff);
        sqlite3_bind_int64(st, 3, d->moved_id);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return found;
}

int store_retain_step(struct store_db *d, struct store_retain_pass *p)
{
    if (ret_prepare(d) != SQLITE_OK) {
        p->status = GK_ESTORE;
        return 0;
    }
    if (!p->hot_checked) {
        p->hot_checked = 1;
        if (hot_expired(d, p) && store_move_all(d) != 0) {
            p->status = GK_ESTORE;
            return 0;
        }
    }
    int ran = 0;
    while (!ran && p->cur < p->nix) {
        int rc = step_txn(d, p, &ran);
        if (rc != SQLITE_OK) {
            log_error("store: retention of index %s: %s (%s)", p->ix[p->cur].index,
                      sqlite3_errstr(rc), sqlite3_errmsg(d->db));
            p->status = store_db_err(d->db, rc);
            return 0;
        }
    }
    return p->cur < p->nix;
}

/* ---- loop thread ---- */

static void pass_free(struct store_retain_pass *p)
{
    pairs_free(p);
    for (size_t i = 0; i < p->nix; i++)
        free(p->ix[i].index);
    free(p->ix);
    free(p);
}

static struct store_retain_cfg *cfg_find(struct store *s, const char *index)
{
    for (size_t i = 0; i < s->nretain; i++)
        if (strcmp(s->retain[i].index, index) == 0) return &s->retain[i];
    return NULL;
}

/* The pass's completion: records what it did and logs it once. */
static void pass_done(void *ud, const struct store_ack *ack)
{
    struct store_retain_pass *p = ud;
    struct store *s = p->s;
    (void)ack;
    for (size_t i = 0; i < p->nix; i++) {
        struct store_retain_cfg *c = cfg_find(s, p->ix[i].index);
        if (c && p->ix[i].rollups_done) c->rollup_cut = p->ix[i].rollup_cut;
    }
    s->stats.retention_passes++;
    s->stats.retention_docs += p->docs;
    enum log_level lvl = p->docs || p->rollups ? LOG_INFO : LOG_DEBUG;
    if (p->status != 0) lvl = LOG_WARN;
    log_msg(lvl,
            "store: retention %s: deleted %" PRIu64 " documents, %" PRIu64 " measurements, %" PRIu64
            " rollup rows in %" PRIu64 " transactions",
            p->status         ? "stopped"
            : p->cur < p->nix ? "interrupted"
                              : "pass",
            p->docs, p->meas, p->rollups, p->txns);
    s->retain_running = 0;
    pass_free(p);
}

void store_retain_tick(uv_timer_t *t)
{
    struct store *s = t->data;
    if (s->retain_running || s->nretain == 0) return;
    struct store_retain_pass *p = xcalloc(1, sizeof(*p));
    int64_t now = clock_now_ms();
    p->s = s;
    p->ix = xcalloc(s->nretain, sizeof(*p->ix));
    for (size_t i = 0; i < s->nretain; i++) {
        const struct store_retain_cfg *c = &s->retain[i];
        p->ix[p->nix++] =
            (struct retain_index){xstrdup(c->index), now - c->max_age_ms, c->rollup_cut, 0};
    }
    struct store_job *j = xcalloc(1, sizeof(*j));
    j->kind = STORE_JOB_RETAIN;
    j->cb = pass_done;
    j->ud = p;
    j->pass = p;
    s->retain_running = 1;
    store_enqueue(s, j);
}

void store_retain_free_cfg(struct store *s)
{
    for (size_t i = 0; i < s->nretain; i++)
        free(s->retain[i].index);
    free(s->retain);
    s->retain = NULL;
    s->nretain = 0;
}

void store_set_retention(struct store *s, const char *index, int64_t max_age_ms)
{
    struct store_retain_cfg *c = cfg_find(s, index);
    if (max_age_ms > 0 && c) {
        c->max_age_ms = max_age_ms;
    } else if (max_age_ms > 0) {
        s->retain = xrealloc(s->retain, (s->nretain + 1) * sizeof(*s->retain));
        s->retain[s->nretain++] = (struct store_retain_cfg){xstrdup(index), max_age_ms, INT64_MIN};
    } else if (c) {
        free(c->index);
        *c = s->retain[--s->nretain];
    }
    if (s->nretain > 0)
        uv_timer_start(&s->retain_timer, store_retain_tick, STORE_RETAIN_FIRST_MS,
                       STORE_RETAIN_PERIOD_MS);
    else
        uv_timer_stop(&s->retain_timer);
}
