/* bulk.h: the body of OpenSearch's _bulk API (NDJSON) and its reply items.
 *
 * Pure: bytes in, actions out; no I/O, nothing stored. The body is pairs of
 * lines, an action line and (except for delete) a source line:
 *   {"index":{"_index":"gasdetect"}}\n{"groupid":"2",...}\n
 *   {"create":{}}\n{...}\n
 * An action may carry gasket's `idempotency_key` (idem.h) among its
 * metadata: a bad one refuses the request as a whole, as a malformed line.
 * Whether an action is refused (an _id, delete, update, a bad index name)
 * is for the caller to decide per item; only a malformed request as a whole
 * (a line that is no action, an action with no source line, no index at
 * all, more than BULK_MAX_ACTIONS actions) fails bulk_parse(), as
 * OpenSearch answers it: 400 with illegal_argument_exception or
 * action_request_validation_exception naming the line. Blank lines between pairs are skipped, a final newline is
 * optional and "\r\n" line ends are accepted. */
#ifndef GASKET_GATEWAY_BULK_H
#define GASKET_GATEWAY_BULK_H

#include "core/buf.h"
#include "gateway/idem.h"

#include <stddef.h>
#include <stdint.h>

#define BULK_MAX_INDEX 255         /* bytes of an index name */
#define BULK_MAX_ID    512         /* bytes of an _id, as OpenSearch */
#define BULK_MAX_LINE  (64u << 10) /* bytes of an action line */
/* Actions in one request: the memory a request holds is about 1 KiB per
 * action (the action, its reply item, its document in the store's queue),
 * so 10 MiB at most, however small the documents in a 16 MiB body. */
#define BULK_MAX_ACTIONS 10000
#define BULK_MAX_SOURCE  (1u << 20) /* bytes of one document line; a longer one is refused alone */

enum bulk_op { BULK_INDEX, BULK_CREATE, BULK_UPDATE, BULK_DELETE };

struct bulk_action {
    enum bulk_op op;
    size_t line;                    /* 1-based line of the action line */
    char index[BULK_MAX_INDEX + 1]; /* _index, else the URL's index */
    int has_id;                     /* an _id was given (string or integer) */
    char id[BULK_MAX_ID + 1];       /* ... as text */
    /* gasket's `idempotency_key` (idem.h), checked; "" when not given */
    char idem_key[IDEM_KEY_MAX + 1];
    size_t idem_len;
    const char *source;             /* the source line inside the body, */
    size_t source_len;              /* without its line end; NULL for delete */
};

struct bulk_error {
    char type[48];    /* illegal_argument_exception, action_request_validation_exception */
    char reason[320]; /* one line naming the line number */
};

/* Parses body[0..len) for the URL's index default_index (NULL: /_bulk).
 * Returns 0 with *out (malloc'd, the caller frees it; n >= 1) and *n, or
 * GK_EINVAL with err set and nothing allocated. The actions point into
 * body, which must outlive them. */
int bulk_parse(const char *body, size_t len, const char *default_index, struct bulk_action **out,
               size_t *n, struct bulk_error *err);

/* "index", "create", "update", "delete". */
const char *bulk_op_name(enum bulk_op op);

/* Checks an index name as gasket stores it: 1-255 bytes of lowercase
 * letters, digits, '_' and '-', not starting with '_' or '-'. Returns 0, or
 * GK_EINVAL with OpenSearch's reason ("Invalid index name [X], ...") in err. */
int bulk_index_name_check(const char *name, size_t len, char *err, size_t errlen);

/* ---- reply items, appended to out (the caller joins them with ',') ---- */

/* {"index":{"_index","_id","_version":1,"result":"created","_shards",
 * "_seq_no","_primary_term":1,"status":201}} (the key is a's op). */
void bulk_item_created(struct buf *out, const struct bulk_action *a, const char *id,
                       int64_t seq_no);
/* {"index":{"_index","_id":null,"result":"noop",...,"status":200}}: the
 * route's function dropped the document. */
void bulk_item_noop(struct buf *out, const struct bulk_action *a);
/* {"index":{"_index","_id","status":S,"error":{"type","reason"[,"field"]}}};
 * _id is a's _id or null; field NULL or "" is left out. */
void bulk_item_error(struct buf *out, const struct bulk_action *a, int status, const char *type,
                     const char *reason, const char *field);

/* OpenSearch's error object, for a request refused as a whole:
 * {"error":{"root_cause":[{"type","reason"}],"type","reason"[,"field"]},
 *  "status":S}; field (gasket's addition: the offending member's path) is
 * left out when NULL or "". */
void bulk_error_reply(struct buf *out, int status, const char *type, const char *reason,
                      const char *field);

#endif
