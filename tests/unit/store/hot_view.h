/* hot_view.h: lets a test's own connection to gasket.db see the hot tier.
 * Header-only, for the store's unit tests. */
#ifndef GASKET_TESTS_HOT_VIEW_H
#define GASKET_TESTS_HOT_VIEW_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store_int.h"

/* Makes db (gasket.db of a closed store, opened read-write) look as a
 * store reader's connection does with an empty hot tier: two in-memory hot
 * schemas and the views over the three. */
static inline int fx_reader_views(sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (int f = 0; f < 2 && rc == SQLITE_OK; f++) {
        char *sql = sqlite3_mprintf("ATTACH ':memory:' AS hot%d", f);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
        char *schema = store_hot_sql(store_hot_schema_sql, f);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
        free(schema);
    }
    if (rc == SQLITE_OK) rc = store_zip_reader(db);
    if (rc == SQLITE_OK) rc = store_mblk_reader(db);
    if (rc == SQLITE_OK) /* what fx_see_hot made without hot files */
        rc = sqlite3_exec(db,
                          "DROP VIEW IF EXISTS temp.measurements; DROP TABLE IF EXISTS temp.mblk",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, store_view_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "fx_reader_views: %s\n", sqlite3_errmsg(db));
    return rc;
}

/* While a store is open on dir, its newest rows are in the hot files:
 * attach them and put the readers' views in front (store_move.c), so that
 * a query sees what the store's own readers see (without them, gasket.db's
 * tables, and a view that shows measurements with their blocks,
 * store_mblk.c).
 * Either way gk_unzip() reads a document of gasket.db back as posted
 * (store_zip.c). */
static inline void fx_see_hot(sqlite3 *db, const char *dir)
{
    char *hot = store_hot_path(dir);
    char *first = sqlite3_mprintf("%s0", hot);
    if (access(first, F_OK) != 0) {
        /* gasket.db alone: its tables, measurements with their blocks */
        if (store_zip_reader(db) != SQLITE_OK || store_mblk_reader(db) != SQLITE_OK ||
            sqlite3_exec(db,
                         "CREATE VIRTUAL TABLE temp.mblk USING gk_meas;"
                         "CREATE TEMP VIEW measurements AS SELECT idx, grp, name, ts, doc, value"
                         " FROM temp.mblk UNION ALL SELECT idx, grp, name, ts, doc, value"
                         " FROM main.measurements",
                         NULL, NULL, NULL) != SQLITE_OK)
            fprintf(stderr, "fx_see_hot: %s\n", sqlite3_errmsg(db));
    } else if (store_zip_reader(db) != SQLITE_OK || store_mblk_reader(db) != SQLITE_OK ||
               store_hot_attach(db, hot) != SQLITE_OK ||
               sqlite3_exec(db, store_view_sql, NULL, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "fx_see_hot: %s\n", sqlite3_errmsg(db));
    sqlite3_free(first);
    free(hot);
}

#endif
