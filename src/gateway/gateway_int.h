/* gateway_int.h: what the gateway's own files share (gateway.c, the
 * OpenSearch-compatible endpoints in search.c), not other modules. */
#ifndef GASKET_GATEWAY_GATEWAY_INT_H
#define GASKET_GATEWAY_GATEWAY_INT_H

#include "core/config.h"
#include "gateway/idem.h"
#include "gateway/metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct apikeys;
struct http_req;
struct store_ack;
struct tz;
struct function;
struct gateway_later;
struct principal;
struct dashboard;

struct route {
    char *path;
    char *index;
    char *mqtt_topic; /* readings published there are taken too; NULL: none */
    struct cfg_route cfg; /* alerts, topic, status, offline_after (strings copied) */
    struct function *fn;  /* the route's Lua function, judging instead of the rules; or NULL */
};

struct gateway {
    struct store *store;
    struct http_server *http;
    struct mqtt_broker *broker;
    struct alarm_engine *alarms;
    struct history *history;
    struct apikeys *keys;
    struct seen *seen;      /* when each principal was last seen (seen.h) */
    struct dashboard *dash; /* the dashboard's users and sessions (dashboard.h) */
    struct route *routes;
    size_t nroutes;
    struct metrics metrics;
    int64_t date_sec; /* second whose local text is in date */
    char date[20];
    size_t max_bulk_body; /* [http] max_bulk_body: the body limit of _bulk */
    size_t max_pending;   /* [server] max_pending: readings waiting for the store */
    struct tz *zone;  /* [server] timezone (UTC if it cannot be read): `date` text without an offset */
    int metrics_public;    /* [http] metrics_public */
    char *live_topic;      /* [http] live_topic: stored readings go to live_topic/<groupid>; or NULL */
    char *allowed_origins; /* [http] allowed_origins, or NULL */
    char *web_root;        /* [http] web_root: the dashboard's files from there, or NULL */
    int web_root_read;     /* web_root is taken from the first configuration only */
    struct gateway_later *later; /* ingest results to deliver on the next loop turn */
    struct gateway_later **later_tail;
    uv_loop_t *loop;        /* from gateway_set_http() */
    uv_idle_t *later_idle;  /* delivers `later`; allocated while there is some */
    /* [http] search_max_*: one request's query budget */
    long search_max_aggs, search_max_buckets;
    size_t search_max_memory;
    int64_t search_max_timeout; /* ms */
};

/* What a request needs of its principal before it is served. */
enum gateway_need {
    GATEWAY_NEED_NONE,    /* open: /healthz, GET /, OPTIONS, /mqtt (Origin checked there),
                           * the dashboard's files (web.h) */
    GATEWAY_NEED_KEY,     /* any known key; the endpoint checks further itself */
    GATEWAY_NEED_READ,    /* read scope on index */
    GATEWAY_NEED_WRITE,   /* write scope on index */
    GATEWAY_NEED_ROUTE,   /* may post to route (x-api-key only) */
    GATEWAY_NEED_METRICS, /* a loopback client, an admin key, or [http] metrics_public */
    GATEWAY_NEED_NOTHING_HERE /* no endpoint at this path: 404 */
};

struct gateway_access {
    enum gateway_need need;
    char index[256];           /* GATEWAY_NEED_READ / _WRITE */
    const struct route *route; /* GATEWAY_NEED_ROUTE */
    int writes;                /* GATEWAY_NEED_KEY on an endpoint that writes (POST /_bulk):
                                  never for a dashboard session */
};

/* What req (method and path; nothing of its body) needs. */
void gateway_access_of(const struct gateway *g, const struct http_req *req,
                       struct gateway_access *a);
/* 1 when principal p (NULL: no known key) may make a request needing a
 * (req for the client's address). */
int gateway_allows(const struct gateway *g, const struct http_req *req,
                   const struct principal *p, const struct gateway_access *a);
/* An http_head_check_fn (ud: the gateway): the credential and scope of a
 * request judged from its head, before its body is read: 404 for no
 * endpoint, else as gateway_authorize() (without taking a token; the
 * handler does, and judges again). */
int gateway_head_check(void *ud, const struct http_req *req, char *msg, size_t msglen);
/* Judges the caller of req against a and returns its principal when it is
 * allowed; otherwise answers req and returns NULL. The caller is the key
 * (key: the request's x-api-key or whatever the endpoint reads keys from;
 * a token of its bucket is taken: 429 with Retry-After when empty), or
 * without a key the live dashboard session of its cookie, whose CSRF
 * token a method other than GET and HEAD must carry (dashboard_csrf_ok:
 * else 403 {"message":"CSRF token missing or wrong"}). A request with no
 * credential at all gets 401 {"message":"Unauthorized"} from an endpoint
 * that reads (GATEWAY_NEED_READ, GATEWAY_NEED_KEY but for `writes`), 403
 * {"message":"Forbidden"} from one that writes (API Gateway's answer); an
 * unknown key or a principal without the scope gets 403. */
const struct principal *gateway_authorize(struct gateway *g, struct http_req *req, const char *key,
                                          const struct gateway_access *a);

/* What became of one document given to gateway_ingest(). */
struct gateway_ingest_result {
    int status;             /* 0 stored; GK_EINVAL refused (reason, field);
                             * GK_EPERM its groupid is not the sender's (reason); 
                             * GK_ECANCELED dropped by the route's function;
                             * GK_ELIMIT the function failed (reason);
                             * GK_EFULL / GK_ESTORE the store failed */
    const char *index;      /* where it went */
    const struct store_ack *ack; /* when stored: _id, _seq_no */
    const char *reason;     /* when refused or failed: one line */
    const char *field;      /* when refused: the field path, or "" */
};

typedef void (*gateway_ingest_cb)(void *ud, const struct gateway_ingest_result *res);

/* The reason given for GK_EEXIST: a key already used for another body. */
#define GATEWAY_IDEM_REUSED                                                                        \
    "this idempotency key was already used for a request with another body: nothing was stored"

/* Takes one document for index from principal who (NULL: gasketd itself),
 * as a POST on its route would be: its groupid checked against who's
 * `groups` (principal_may_group; GK_EPERM), validated,
 * judged by the route's rules or function (rt NULL: an index with no
 * route, validated and stored only), stored. With keep_date, a `date` the
 * document carries ("YYYY-MM-DD HH:MM:SS" in the configured zone, ISO 8601
 * or epoch millis) is kept and becomes its time (a bad one is refused,
 * field "date"); otherwise `date` is the receive time. With an
 * idempotency key (key non-NULL with a key, and who), at most one
 * document is stored per (who, key): a duplicate is answered with the
 * first's ack (status 0, ack->dup) or GK_EEXIST (another body; reason
 * GATEWAY_IDEM_REUSED) and is judged again only when the store's memory
 * of recent keys has forgotten it (store.h). cb runs once, on a later
 * loop turn. */
void gateway_ingest(struct gateway *g, const struct principal *who, const struct route *rt,
                    const char *index, const char *body, size_t len, int keep_date,
                    const struct idem_key *key, gateway_ingest_cb cb, void *ud);
/* Reads the Idempotency-Key header of req into key (no header: key->key
 * NULL). Returns 0, or -1 when it answered req (400 for a bad key). */
int gateway_idem_header(struct http_req *req, struct idem_key *key);

/* When the store has max_pending readings waiting: answers 503 with
 * Retry-After: 1 {"message":"Store busy: ..."} and returns 1 (the caller
 * does nothing more); else 0. For every ingest request, before any work. */
int gateway_reply_busy(struct gateway *g, struct http_req *req);

/* POST on a route by who: key, throttle done; reads its Idempotency-Key,
 * validates, judges, stores, answers. */
void gateway_post(struct gateway *g, struct http_req *req, const struct principal *who,
                  const struct route *rt);
/* {"message":msg} with status. */
void gateway_reply_message(struct http_req *req, int status, const char *headers, const char *msg);
/* The route at path, or NULL. */
const struct route *gateway_find_route(const struct gateway *g, const char *path);

struct principal;
/* Scope checks of a principal (apikey.h) against the configured routes:
 * it may write an index when it is an admin or one of its routes stores
 * there; it may read an index when it is an admin or a dashboard session
 * (read_all), when its `read` list names it, or (without a `read` list)
 * when it may write it. */
int gateway_may_write(const struct gateway *g, const struct principal *p, const char *index);
int gateway_may_read(const struct gateway *g, const struct principal *p, const char *index);

/* The route storing into index, or NULL. */
const struct route *gateway_route_for_index(const struct gateway *g, const char *index);

#endif
