/* store_zip.c: documents kept compressed in gasket.db.
 *
 * Why: a seed reading is ~840 bytes of JSON, most of it the same keys,
 * sensor ids and timestamps in every document; kept as posted, `docs` was
 * half of gasket.db. The mover (store_move.c) compresses each document's
 * source with zstd and a dictionary trained on its index's own documents
 * (~115 bytes each for seed readings), and readers decompress it where
 * they read it, gk_unzip(source) in their SQL (query*.c): every query and
 * every `_source` sees the bytes as posted. Not in the views: a column
 * computed there is computed for every row SQLite reads through them
 * (UNION ALL views are not flattened under an ORDER BY), sorted or not:
 * the latest document of 100 groups decompressed 1.25M documents.
 *
 * docs.source in gasket.db is TEXT, the document as posted (an index
 * without a dictionary yet, a document compression does not shrink), or a
 * BLOB holding one zstd frame (content size, no checksum) made with the
 * dictionary whose zstd dictID is dicts.id. A dictionary is never changed;
 * the hot files and the journal keep documents as posted.
 *
 * Training (the mover's thread, before its transaction): an index of the
 * generation without a dictionary gets one once ZIP_MIN_DOCS of its
 * documents are at hand (the generation's, then gasket.db's own): from up
 * to ZIP_SAMPLES of them, ZIP_DICT_BYTES, zstd's fastCover trainer. Its row
 * is written in the move's transaction with `upto`, the last id moved
 * before it: the index's documents up to there are compressed ZIP_SLICE
 * ids per move (`done`), so a store upgraded from schema 5 shrinks as it
 * goes, without a long stop or a huge WAL.
 *
 * The mover's side (struct store_zip) is used by the mover's thread only;
 * gk_unzip keeps a cache per connection. */
#define ZDICT_STATIC_LINKING_ONLY
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"
#include "store/store_int.h"

#define ZIP_MIN_DOCS   256
#define ZIP_SAMPLES    2048
#define ZIP_DICT_BYTES 16384
#define ZIP_LEVEL      3
#define ZIP_SLICE      50000
#define ZIP_FIRST_ID   32768 /* zstd reserves the dictIDs below */

struct zdict {
    int64_t id;
    ZSTD_CDict *cd; /* NULL: training failed, documents stay as posted */
    void *raw;      /* the dictionary until it is stored */
    size_t len;
    int64_t upto;
};

struct store_zip {
    struct map dicts; /* index -> struct zdict */
    ZSTD_CCtx *cctx;
    int64_t next_id;
    int loaded; /* gasket.db's dictionaries are in dicts (only this mover adds any) */
};

struct store_zip *store_zip_new(void)
{
    struct store_zip *z = xcalloc(1, sizeof *z);
    z->cctx = ZSTD_createCCtx();
    if (!z->cctx) xoom(0);
    z->next_id = ZIP_FIRST_ID;
    return z;
}

static void free_dict(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    struct zdict *zd = value;
    ZSTD_freeCDict(zd->cd);
    free(zd->raw);
    free(zd);
}

void store_zip_free(struct store_zip *z)
{
    if (!z) return;
    map_foreach(&z->dicts, free_dict, NULL);
    map_free(&z->dicts);
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

static struct zdict *add_dict(struct store_zip *z, const char *idx, int64_t id, const void *dict,
                              size_t len)
{
    struct zdict *zd = xcalloc(1, sizeof *zd);
    zd->id = id;
    if (dict) {
        zd->cd = ZSTD_createCDict(dict, len, ZIP_LEVEL);
        if (!zd->cd) log_error("store: the dictionary of index %s cannot be loaded", idx);
    }
    map_put(&z->dicts, idx, strlen(idx), zd);
    if (id >= z->next_id) z->next_id = id + 1;
    return zd;
}

/* Loads gasket.db's dictionaries, once: this mover is the only one that
 * adds any afterwards (the newest of an index wins). */
static int load_dicts(struct store_zip *z, sqlite3 *db)
{
    if (z->loaded) return SQLITE_OK;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT idx, id, dict FROM main.dicts ORDER BY id", -1, &st,
                                NULL);
    if (rc != SQLITE_OK) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *idx = (const char *)sqlite3_column_text(st, 0);
        struct zdict *older = map_del(&z->dicts, idx, strlen(idx));
        if (older) free_dict(NULL, NULL, older);
        add_dict(z, idx, sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2));
    }
    sqlite3_finalize(st);
    z->loaded = rc == SQLITE_DONE;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

struct samples {
    struct buf all;
    size_t *sizes;
    unsigned n;
};

static int gather(struct samples *s, sqlite3 *db, const char *sql, const char *idx, int64_t lo,
                  int64_t hi)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    sqlite3_bind_int(st, 4, (int)(ZIP_SAMPLES - s->n));
    while (s->n < ZIP_SAMPLES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        buf_append(&s->all, sqlite3_column_text(st, 0), len);
        s->sizes[s->n++] = len;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Trains the dictionary of idx from documents of hot file `hot` (lo < id
 * <= hi) and gasket.db, when there are enough. */
static int train(struct store_zip *z, sqlite3 *db, const char *idx, int hot, int64_t lo,
                 int64_t hi)
{
    struct samples s = {.sizes = xcalloc(ZIP_SAMPLES, sizeof(size_t))};
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT source FROM hot%d.docs WHERE idx = ?1 AND id > ?2 AND id <= ?3"
             " ORDER BY id DESC LIMIT ?4",
             hot);
    int rc = gather(&s, db, sql, idx, lo, hi);
    if (rc == SQLITE_OK && s.n < ZIP_SAMPLES)
        rc = gather(&s, db,
                    "SELECT source FROM main.docs WHERE idx = ?1 AND typeof(source) = 'text'"
                    " ORDER BY ts DESC LIMIT ?4",
                    idx, 0, 0);
    if (rc == SQLITE_OK && s.n >= ZIP_MIN_DOCS) {
        void *dict = xmalloc(ZIP_DICT_BYTES);
        ZDICT_fastCover_params_t p = {.d = 8, .steps = 4, .zParams.compressionLevel = ZIP_LEVEL,
                                      .zParams.dictID = (unsigned)z->next_id};
        size_t len =
            ZDICT_optimizeTrainFromBuffer_fastCover(dict, ZIP_DICT_BYTES, s.all.data, s.sizes, s.n, &p);
        if (ZDICT_isError(len)) {
            log_warn("store: index %s: no dictionary from %u documents (%s); its documents are kept "
                     "as posted",
                     idx, s.n, ZDICT_getErrorName(len));
            free(dict);
            dict = NULL;
            len = 0;
        }
        struct zdict *zd = add_dict(z, idx, z->next_id, dict, len);
        zd->raw = dict;
        zd->len = len;
        zd->upto = lo;
        if (dict) log_info("store: index %s: a %zu-byte dictionary from %u documents", idx, len, s.n);
    }
    buf_free(&s.all);
    free(s.sizes);
    return rc;
}

int store_zip_prepare(struct store_zip *z, sqlite3 *db, int hot, int64_t lo, int64_t hi)
{
    int rc = load_dicts(z, db);
    if (rc != SQLITE_OK) return rc;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT DISTINCT idx FROM hot%d.docs WHERE id > ?1 AND id <= ?2",
             hot);
    sqlite3_stmt *st;
    if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK) return rc;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    struct buf want = {0}; /* the indices without a dictionary, NUL-separated */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *idx = (const char *)sqlite3_column_text(st, 0);
        if (!map_get(&z->dicts, idx, strlen(idx))) buf_append(&want, idx, strlen(idx) + 1);
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    for (size_t off = 0; rc == SQLITE_OK && off < want.len; off += strlen(want.data + off) + 1)
        rc = train(z, db, want.data + off, hot, lo, hi);
    buf_free(&want);
    return rc;
}

struct save {
    sqlite3 *db;
    int rc;
};

static void save_one(void *ud, const char *idx, void *value)
{
    struct save *s = ud;
    struct zdict *zd = value;
    if (s->rc != SQLITE_OK || !zd->raw) return;
    sqlite3_stmt *st;
    s->rc = sqlite3_prepare_v2(s->db,
                               "INSERT INTO main.dicts(id, idx, dict, upto, done)"
                               " VALUES(?1, ?2, ?3, ?4, 0)",
                               -1, &st, NULL);
    if (s->rc != SQLITE_OK) return;
    sqlite3_bind_int64(st, 1, zd->id);
    sqlite3_bind_text(st, 2, idx, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, zd->raw, (int)zd->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, zd->upto);
    s->rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
    sqlite3_finalize(st);
}

/* After a committed move: the dictionaries it stored are in gasket.db. */
static void saved_one(void *ud, const char *idx, void *value)
{
    (void)ud, (void)idx;
    struct zdict *zd = value;
    free(zd->raw);
    zd->raw = NULL;
}

int store_zip_save(struct store_zip *z, sqlite3 *db)
{
    struct save s = {.db = db, .rc = SQLITE_OK};
    map_foreach(&z->dicts, save_one, &s);
    if (s.rc != SQLITE_OK) return s.rc;
    /* the next slice of documents moved before their index's dictionary */
    char sql[1024];
    snprintf(sql, sizeof sql,
                        "CREATE TEMP TABLE IF NOT EXISTS zip_slice(id INTEGER PRIMARY KEY, to_id INTEGER);"
                        "DELETE FROM temp.zip_slice;"
                        "INSERT INTO temp.zip_slice SELECT id, min(done + %d, upto)"
                        " FROM main.dicts WHERE done < upto;"
                        "UPDATE main.docs SET source = gk_zip(idx, source) WHERE id IN"
                        " (SELECT d.id FROM temp.zip_slice s JOIN main.dicts k ON k.id = s.id"
                        " JOIN main.docs d ON d.id > k.done AND d.id <= s.to_id"
                        " WHERE d.idx = k.idx AND typeof(d.source) = 'text');"
                        "UPDATE main.dicts SET done = (SELECT to_id FROM temp.zip_slice s"
                        " WHERE s.id = dicts.id) WHERE id IN (SELECT id FROM temp.zip_slice);",
                        ZIP_SLICE);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

void store_zip_saved(struct store_zip *z)
{
    map_foreach(&z->dicts, saved_one, NULL);
}

/* gk_zip(idx, source): source compressed with idx's dictionary, or source
 * itself (no dictionary; not smaller; not text). */
static void zip_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct store_zip *z = sqlite3_user_data(ctx);
    const char *idx = (const char *)sqlite3_value_text(argv[0]);
    struct zdict *zd = idx ? map_get(&z->dicts, idx, strlen(idx)) : NULL;
    if (!zd || !zd->cd || sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    const char *src = (const char *)sqlite3_value_text(argv[1]);
    size_t len = (size_t)sqlite3_value_bytes(argv[1]);
    size_t cap = ZSTD_compressBound(len);
    void *out = sqlite3_malloc64(cap);
    if (!out) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    size_t n = ZSTD_compress_usingCDict(z->cctx, out, cap, src, len, zd->cd);
    if (ZSTD_isError(n) || n >= len) {
        sqlite3_free(out);
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    sqlite3_result_blob64(ctx, out, n, sqlite3_free);
}

int store_zip_writer(sqlite3 *db, struct store_zip *z)
{
    return sqlite3_create_function_v2(db, "gk_zip", 2, SQLITE_UTF8, z, zip_fn, NULL, NULL, NULL);
}

/* ---- readers ---- */

struct ddict {
    unsigned id;
    ZSTD_DDict *dd;
};

struct unzip {
    ZSTD_DCtx *dctx;
    struct ddict *d;
    size_t n;
};

static ZSTD_DDict *ddict_of(struct unzip *u, sqlite3 *db, unsigned id)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->d[i].id == id) return u->d[i].dd;
    sqlite3_stmt *st;
    ZSTD_DDict *dd = NULL;
    if (sqlite3_prepare_v2(db, "SELECT dict FROM main.dicts WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        dd = ZSTD_createDDict(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    if (!dd) return NULL;
    u->d = xrealloc(u->d, (u->n + 1) * sizeof *u->d);
    u->d[u->n++] = (struct ddict){id, dd};
    return dd;
}

/* gk_unzip(source): the document as posted. */
static void unzip_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    struct unzip *u = sqlite3_user_data(ctx);
    const void *in = sqlite3_value_blob(argv[0]);
    size_t len = (size_t)sqlite3_value_bytes(argv[0]);
    unsigned long long size = ZSTD_getFrameContentSize(in, len);
    unsigned id = ZSTD_getDictID_fromFrame(in, len);
    ZSTD_DDict *dd = id ? ddict_of(u, sqlite3_context_db_handle(ctx), id) : NULL;
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > (1u << 30) ||
        (id && !dd)) {
        sqlite3_result_error(ctx, "gasket: a stored document cannot be read back", -1);
        return;
    }
    char *out = sqlite3_malloc64(size + 1);
    if (!out) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    size_t n = dd ? ZSTD_decompress_usingDDict(u->dctx, out, size, in, len, dd)
                  : ZSTD_decompressDCtx(u->dctx, out, size, in, len);
    if (ZSTD_isError(n) || n != size) {
        sqlite3_free(out);
        sqlite3_result_error(ctx, "gasket: a stored document cannot be read back", -1);
        return;
    }
    out[n] = '\0';
    sqlite3_result_text64(ctx, out, n, sqlite3_free, SQLITE_UTF8);
}

static void unzip_free(void *p)
{
    struct unzip *u = p;
    for (size_t i = 0; i < u->n; i++)
        ZSTD_freeDDict(u->d[i].dd);
    free(u->d);
    ZSTD_freeDCtx(u->dctx);
    free(u);
}

int store_zip_reader(sqlite3 *db)
{
    struct unzip *u = xcalloc(1, sizeof *u);
    u->dctx = ZSTD_createDCtx();
    if (!u->dctx) xoom(0);
    return sqlite3_create_function_v2(db, "gk_unzip", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, u,
                                      unzip_fn, NULL, NULL, unzip_free);
}
