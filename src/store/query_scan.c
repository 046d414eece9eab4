/* query_scan.c: the documents a query matches, page by page in _id order,
 * for GET /{index}/_export (see query_scan() in query.h). The filter is the
 * same SQL condition _search and _count use, so an export holds exactly the
 * documents a search would count. */
#include <string.h>

#include "store/query_int.h"

int query_scan(const struct query *q, sqlite3 *db, int64_t after, size_t max, uint64_t deadline,
               int (*row)(void *ud, int64_t id, const char *src, size_t len), void *ud)
{
    struct qx x = {.q = q, .db = db, .deadline = deadline};
    qx_start(&x);
    sqlite3_progress_handler(db, 1000, qx_deadline_passed, &x);
    int found = qx_index_exists(&x, q->index);
    if (found && !x.failed && !x.timed_out) {
        struct qsql s = {0};
        qsql_add(&s, "SELECT d.id, gk_unzip(d.source) FROM docs d WHERE d.idx = ");
        qsql_text(&s, q->index);
        qsql_add(&s, " AND d.id > ");
        qsql_int(&s, after);
        qsql_add(&s, " AND (");
        if (q->root)
            qsql_cond(&s, q->root);
        else
            qsql_add(&s, "1");
        qsql_add(&s, ") ORDER BY d.id LIMIT ");
        qsql_int(&s, (int64_t)max);
        sqlite3_stmt *st = qx_prepare(&x, &s);
        while (st && qx_step(&x, st) == SQLITE_ROW) {
            const char *src = (const char *)sqlite3_column_text(st, 1);
            size_t len = (size_t)sqlite3_column_bytes(st, 1);
            if (row(ud, sqlite3_column_int64(st, 0), src ? src : "", src ? len : 0) != 0)
                break;
        }
        qx_done(&x, st);
        qsql_free(&s);
    }
    sqlite3_progress_handler(db, 0, NULL, NULL);
    qx_finish(&x);
    if (x.failed)
        return GK_ESTORE;
    if (x.timed_out)
        return GK_ETIMEDOUT;
    return found ? 0 : GK_ENOTFOUND;
}
