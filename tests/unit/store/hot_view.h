/* hot_view.h: lets a test's own connection to gasket.db see the hot tier.
 * Header-only, for the store's unit tests. */
#ifndef GASKET_TESTS_HOT_VIEW_H
#define GASKET_TESTS_HOT_VIEW_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store_int.h"

/* While a store is open on dir, its newest rows are in the hot database:
 * attach it and put the readers' views in front (store_move.c), so that a
 * query sees what the store's own readers see. Nothing when it is closed. */
static inline void fx_see_hot(sqlite3 *db, const char *dir)
{
    char *hot = store_hot_path(dir);
    if (access(hot, F_OK) == 0) {
        char *sql = sqlite3_mprintf("ATTACH %Q AS hot", hot);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, store_view_sql, NULL, NULL, NULL) != SQLITE_OK)
            fprintf(stderr, "fx_see_hot: %s\n", sqlite3_errmsg(db));
        sqlite3_free(sql);
    }
    free(hot);
}

#endif
