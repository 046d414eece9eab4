/* query_index.c: GET /{index} (and HEAD): whether an index exists, and the
 * mapping gasket applies to its documents, in OpenSearch's shape, so that a
 * client checking `indices.exists` or reading the mapping before it writes
 * or charts finds what it expects. */
#include <stdio.h>
#include <string.h>

#include "store/query_int.h"
#include "store/store.h"

/* The mapping of a measurement member: {"value": double, the rest keywords}. */
static json_t *measurement_mapping(void)
{
    return json_pack("{s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "properties", "value", "type",
                     "double", "sensorid", "type", "keyword", "sensortype", "type", "keyword",
                     "createdtime", "type", "keyword");
}

static json_t *base_properties(void)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:s}}", "date", "type", "date", "format",
                     "yyyy-MM-dd HH:mm:ss||strict_date_optional_time||epoch_millis", "groupid",
                     "type", "keyword", "gps", "type", "keyword");
}

static json_t *not_found(const char *index)
{
    char reason[300];
    snprintf(reason, sizeof reason, "no such index [%s]", index);
    return json_pack("{s:{s:[{s:s, s:s, s:s}], s:s, s:s, s:s}, s:i}", "error", "root_cause",
                     "type", "index_not_found_exception", "reason", reason, "index", index, "type",
                     "index_not_found_exception", "reason", reason, "index", index, "status", 404);
}

int query_index_info(sqlite3 *db, const char *index, json_t **reply)
{
    struct qx x = {.db = db};
    if (!qx_index_exists(&x, index)) {
        *reply = x.failed ? NULL : not_found(index);
        return x.failed ? GK_ESTORE : GK_ENOTFOUND;
    }
    json_t *props = base_properties();
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT DISTINCT name FROM rollup_1h WHERE idx = ?1 AND name <> ?2"
                                " ORDER BY name",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, STORE_DOCS_NAME, -1, SQLITE_STATIC); /* the document counts */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_object_set_new(props, (const char *)sqlite3_column_text(st, 0),
                                measurement_mapping());
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_DONE) {
        json_decref(props);
        *reply = NULL;
        return GK_ESTORE;
    }
    *reply = json_pack("{s:{s:{}, s:{s:o}, s:{s:{s:s, s:s, s:s}}}}", index, "aliases", "mappings",
                       "properties", props, "settings", "index", "number_of_shards", "1",
                       "number_of_replicas", "0", "provided_name", index);
    return 0;
}
