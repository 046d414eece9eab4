/* hot_view.h: lets a test's own connection to gasket.db see the hot tier.
 * Header-only, for the store's unit tests. */
#ifndef GASKET_TESTS_HOT_VIEW_H
#define GASKET_TESTS_HOT_VIEW_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store_int.h"

/* While a store is open on dir, its newest rows are in the hot files:
 * attach them and put the readers' views in front (store_move.c), so that
 * a query sees what the store's own readers see. Nothing when it is
 * closed. */
static inline void fx_see_hot(sqlite3 *db, const char *dir)
{
    char *hot = store_hot_path(dir);
    char *first = sqlite3_mprintf("%s0", hot);
    if (access(first, F_OK) == 0 &&
        (store_hot_attach(db, hot) != SQLITE_OK ||
         sqlite3_exec(db, store_view_sql, NULL, NULL, NULL) != SQLITE_OK))
        fprintf(stderr, "fx_see_hot: %s\n", sqlite3_errmsg(db));
    sqlite3_free(first);
    free(hot);
}

#endif
