/* search.h: the OpenSearch-compatible endpoints of the gateway (docs/api.md,
 * "OpenSearch-compatible API"); internal to src/gateway.
 *
 *   search.c         dispatch, API keys, query parameters, GET /, _search,
 *                    _count, GET _doc, _cat/indices
 *   search_write.c   POST _doc and _bulk (documents through gateway_ingest)
 *   export.c         GET /{index}/_export, streamed page by page
 *
 * Queries are parsed on the loop thread (query_parse: cheap, no database)
 * and run on libuv's worker pool through store_read(); replies are
 * serialized on the worker too. Every error is OpenSearch's error object
 * (bulk_error_reply) with the status an OpenSearch client expects, except
 * the key checks (gateway_authorize: 401 {"message":"Unauthorized"} without
 * any credential on a read, else 403 {"message":"Forbidden"}, 429 with
 * Retry-After). Scope: reading an index
 * (_search, _count, _export, GET _doc, GET|HEAD /{index}, GET on a route)
 * needs read scope on it, POST _doc and /{index}/_bulk write scope, each
 * _bulk item write scope on its own index; _cat/indices lists only the
 * indexes the key may read. */
#ifndef GASKET_GATEWAY_SEARCH_H
#define GASKET_GATEWAY_SEARCH_H

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct gateway_access;
struct http_req;
struct principal;
struct route;


/* Answers req when path is one of the endpoints ("/", "/_bulk",
 * "/_cat/indices", "/{index}/_search", ... see docs/api.md) and returns 1;
 * returns 0, leaving req alone, for any other path. */
int search_handle(struct gateway *g, struct http_req *req, const char *path);

/* GET on a configured route: a _search of the route's index, for a key
 * that may read that index. */
void search_route_get(struct gateway *g, struct http_req *req, const struct route *rt);

/* An http_body_limit_fn (ud: the gateway): g->max_bulk_body for the _bulk
 * endpoints, 0 (the server's max_body) for the rest. */
size_t search_body_limit(void *ud, const struct http_req *req);

/* ---- shared by the files above ---- */

/* The request's decoded query parameters (?a=1&b=x%20y). */
#define SEARCH_MAX_PARAMS 32
struct search_params {
    size_t n;
    char *name[SEARCH_MAX_PARAMS];
    char *value[SEARCH_MAX_PARAMS]; /* "" for a name without '=' */
};

/* Decodes query (percent-encoding, '+' as space). known: the accepted
 * names, NULL-terminated. Returns 0; or answers req with 400 (an unknown
 * parameter, as OpenSearch: "request [PATH] contains unrecognized
 * parameter: [x]", or bad encoding) and returns GK_EINVAL, p then holding
 * nothing to free. */
int search_params_parse(struct http_req *req, const char *const *known, struct search_params *p);
/* The value of name, or NULL when absent. */
const char *search_param(const struct search_params *p, const char *name);
void search_params_free(struct search_params *p);

/* gateway_authorize() with the request's API key (x-api-key, or the
 * password of HTTP Basic auth) against what the request needs (a, from
 * search_access()): the principal when allowed; otherwise answers
 * 401/403/429 and returns NULL. */
const struct principal *search_authorize(struct gateway *g, struct http_req *req,
                                         const struct gateway_access *a);
/* The request's API key (x-api-key, or HTTP Basic's password, decoded into
 * buf); "" for an Authorization header that holds none (a credential that
 * matches no key); NULL when the request carries neither header. */
const char *search_request_key(const struct http_req *req, char *buf, size_t len);
/* When path is one of the endpoints search_handle() answers, fills in what
 * the request needs of its principal and returns 1; else returns 0. */
int search_access(const struct gateway *g, const struct http_req *req, const char *path,
                  struct gateway_access *a);

/* The HTTP status of a code of the query API (store/query.h), the one place
 * that maps them: 0 200; GK_EINVAL (a bad request) and GK_ELIMIT (over the
 * request's budget) 400; GK_ENOTFOUND 404; GK_ECLOSED (the store is not
 * available) 503; GK_ETIMEDOUT 504; any other code (GK_ESTORE...) 500. */
int search_status_of(int gk);

/* Answers OpenSearch's error object (see bulk_error_reply). */
void search_error(struct http_req *req, int status, const char *type, const char *reason,
                  const char *field);

/* ?timeout= as a deadline of clock_mono_ms(), capped by [http]
 * search_max_timeout (the deadline when absent). Returns 0, or answers 400
 * and returns GK_EINVAL. */
int search_deadline(const struct gateway *g, struct http_req *req, const struct search_params *p,
                    uint64_t *deadline);
/* A query's environment: the zone, now, and the request's budget ([http]
 * search_max_aggs, search_max_buckets, search_max_memory and
 * search_max_timeout, the cap of the body's "timeout"). */
struct query_env;
void search_env(const struct gateway *g, struct query_env *env);

/* The query DSL of a request: ?source= when given, else the body; NULL
 * (with *len 0) when neither. */
const char *search_dsl(struct http_req *req, const struct search_params *p, size_t *len);

/* search_write.c */
void search_doc_post(struct gateway *g, struct http_req *req, const char *index);
void search_bulk(struct gateway *g, struct http_req *req, const char *index);

/* export.c */
void search_export(struct gateway *g, struct http_req *req, const char *index);

#endif
