/* search_write.c: POST /{index}/_doc and the _bulk API (see search.h).
 *
 * Every document goes through gateway_ingest() with keep_date (a `date` it
 * carries is its time), on the route storing its index when there is one
 * (so its rules judge it), else validated and stored only; with its
 * idempotency key (the Idempotency-Key header of POST /{index}/_doc, a
 * _bulk action's idempotency_key) when it has one. A _bulk request
 * is checked as a whole first (bulk_parse: a malformed line refuses it and
 * nothing is stored), then all its items are handed over at once, so they
 * share the store's group commits; it is answered once the last item's
 * commit (or refusal) is known, with the items in input order. */
#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "gateway/apikey.h"
#include "gateway/bulk.h"
#include "gateway/gateway_int.h"
#include "gateway/search.h"
#include "http/http.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON "application/json"

static const char *const write_known[] = {
    "refresh",       "pretty",   "error_trace", "human",
    "timeout",       "pipeline", "routing",     "wait_for_active_shards",
    "require_alias", NULL};

/* The item error of an ingest result, or NULL when it was stored/dropped. */
static const char *ingest_error_type(int status, int *http_status)
{
    switch (status) {
    case 0:
    case GK_ECANCELED:
        *http_status = status ? 200 : 201;
        return NULL;
    case GK_EINVAL:
        *http_status = 400;
        return "mapper_parsing_exception";
    case GK_EPERM:
        *http_status = 403;
        return "security_exception";
    case GK_ELIMIT:
        *http_status = 500;
        return "script_exception";
    case GK_EEXIST:
        *http_status = 422;
        return "idempotency_key_reused_exception";
    default:
        *http_status = 503;
        return "unavailable_shards_exception";
    }
}

/* ---- POST /{index}/_doc ---- */

struct doc_post {
    struct http_req *req;
    char index[];
};

static void on_doc_stored(void *ud, const struct gateway_ingest_result *res)
{
    struct doc_post *d = ud;
    int status;
    const char *type = ingest_error_type(res->status, &status);
    struct buf b = {0};
    char hdr[BULK_MAX_INDEX + 64] = "";
    if (type) {
        const char *reason = res->reason ? res->reason : "the store failed";
        bulk_error_reply(&b, status, type, reason, res->field);
        if (status == 503) snprintf(hdr, sizeof hdr, "Retry-After: 5\r\n");
    } else if (res->status == 0) { /* the index name and the _id need no escaping */
        buf_printf(&b,
                   "{\"_index\":\"%s\",\"_id\":\"%s\",\"_version\":1,\"result\":\"created\","
                   "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},"
                   "\"_seq_no\":%lld,\"_primary_term\":1}",
                   d->index, res->ack->id, (long long)res->ack->seq_no);
        snprintf(hdr, sizeof hdr, "Location: /%s/_doc/%s\r\n", d->index, res->ack->id);
    } else {
        buf_printf(&b,
                   "{\"_index\":\"%s\",\"_id\":null,\"result\":\"noop\","
                   "\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0}}",
                   d->index);
    }
    http_respond(d->req, status, hdr[0] ? hdr : NULL, JSON, b.data, b.len);
    buf_free(&b);
    free(d);
}

void search_doc_post(struct gateway *g, struct http_req *req, const char *index)
{
    struct search_params p;
    if (gateway_reply_busy(g, req)) return;
    if (search_params_parse(req, write_known, &p) != 0) return;
    search_params_free(&p);
    struct idem_key key;
    if (gateway_idem_header(req, &key) != 0) return;
    char decoded[512]; /* the key search.c authorized this request with */
    const struct principal *who =
        apikeys_find(g->keys, search_request_key(req, decoded, sizeof decoded));
    size_t len, ilen = strlen(index) + 1;
    const char *body = http_req_body(req, &len);
    struct doc_post *d = xmalloc(sizeof *d + ilen);
    d->req = req;
    memcpy(d->index, index, ilen);
    gateway_ingest(g, who, gateway_route_for_index(g, index), index, body, len, 1, &key,
                   on_doc_stored, d);
}

/* ---- _bulk ---- */

struct bulk_req {
    struct http_req *req;
    struct bulk_action *items;
    size_t n;
    char **replies; /* one item of the reply per action */
    size_t left;    /* items not answered yet, + 1 while they are handed over */
    int errors;
    uint64_t start;
    char *key; /* the request's API key, for the items' indexes */
};

struct bulk_slot {
    struct bulk_req *b;
    size_t i;
};

static void bulk_finish(struct bulk_req *b)
{
    struct buf out = {0};
    buf_printf(&out, "{\"took\":%llu,\"errors\":%s,\"items\":[",
               (unsigned long long)(clock_mono_ms() - b->start), b->errors ? "true" : "false");
    for (size_t i = 0; i < b->n; i++) {
        if (i) buf_putc(&out, ',');
        buf_puts(&out, b->replies[i]);
        free(b->replies[i]);
    }
    buf_puts(&out, "]}");
    http_respond(b->req, 200, NULL, JSON, out.data, out.len);
    buf_free(&out);
    free(b->replies);
    free(b->items);
    free(b->key);
    free(b);
}

static void bulk_settle(struct bulk_req *b, size_t i, struct buf *item)
{
    b->replies[i] = buf_steal(item);
    if (--b->left == 0) bulk_finish(b);
}

static void bulk_refuse(struct bulk_req *b, size_t i, int status, const char *type,
                        const char *reason)
{
    struct buf item = {0};
    bulk_item_error(&item, &b->items[i], status, type, reason, NULL);
    b->errors = 1;
    bulk_settle(b, i, &item);
}

static void on_item_stored(void *ud, const struct gateway_ingest_result *res)
{
    struct bulk_slot *s = ud;
    struct bulk_req *b = s->b;
    const struct bulk_action *a = &b->items[s->i];
    struct buf item = {0};
    int status;
    const char *type = ingest_error_type(res->status, &status);
    if (type) {
        bulk_item_error(&item, a, status, type, res->reason ? res->reason : "the store failed",
                        res->field);
        b->errors = 1;
    } else if (res->status == 0) {
        bulk_item_created(&item, a, res->ack->id, res->ack->seq_no);
    } else {
        bulk_item_noop(&item, a);
    }
    size_t i = s->i;
    free(s);
    bulk_settle(b, i, &item);
}

/* Hands item i over, or answers it at once when gasket refuses it. */
static void bulk_item(struct gateway *g, struct bulk_req *b, size_t i)
{
    const struct bulk_action *a = &b->items[i];
    char err[320];
    if (a->op == BULK_DELETE || a->op == BULK_UPDATE) {
        snprintf(err, sizeof err,
                 "the [%s] action is not supported: gasket's documents are append-only",
                 bulk_op_name(a->op));
        return bulk_refuse(b, i, 400, "illegal_argument_exception", err);
    }
    if (a->has_id)
        return bulk_refuse(b, i, 400, "illegal_argument_exception",
                           "client-chosen ids are not supported: leave out [_id] and gasket "
                           "assigns one");
    if (bulk_index_name_check(a->index, strlen(a->index), err, sizeof err) != 0)
        return bulk_refuse(b, i, 400, "invalid_index_name_exception", err);
    const struct principal *p = apikeys_find(g->keys, b->key);
    if (!p || !gateway_may_write(g, p, a->index)) {
        snprintf(err, sizeof err, "this API key may not write to index [%s]", a->index);
        return bulk_refuse(b, i, 403, "security_exception", err);
    }
    if (a->source_len > BULK_MAX_SOURCE) {
        snprintf(err, sizeof err, "the document on line [%zu] is larger than %u bytes",
                 a->line + 1, BULK_MAX_SOURCE);
        return bulk_refuse(b, i, 400, "illegal_argument_exception", err);
    }
    const struct route *rt = gateway_route_for_index(g, a->index);
    struct bulk_slot *s = xmalloc(sizeof *s);
    *s = (struct bulk_slot){b, i};
    struct idem_key key = {a->idem_len ? a->idem_key : NULL, a->idem_len};
    gateway_ingest(g, p, rt, a->index, a->source, a->source_len, 1, &key, on_item_stored, s);
}

void search_bulk(struct gateway *g, struct http_req *req, const char *index)
{
    struct search_params p;
    if (gateway_reply_busy(g, req)) return; /* the whole request: no item is taken */
    if (search_params_parse(req, write_known, &p) != 0) return;
    search_params_free(&p);
    size_t len;
    const char *body = http_req_body(req, &len);
    struct bulk_error err;
    struct bulk_req *b = xcalloc(1, sizeof *b);
    b->req = req;
    b->start = clock_mono_ms();
    char decoded[512];
    const char *key = search_request_key(req, decoded, sizeof decoded);
    b->key = key ? xstrdup(key) : NULL;
    if (bulk_parse(body, len, index, &b->items, &b->n, &err) != 0) {
        free(b->key);
        free(b);
        return search_error(req, 400, err.type, err.reason, NULL);
    }
    b->replies = xcalloc(b->n, sizeof *b->replies);
    b->left = b->n + 1; /* answered only after the loop, even if every item is refused */
    for (size_t i = 0; i < b->n; i++)
        bulk_item(g, b, i);
    if (--b->left == 0) bulk_finish(b);
}
