/* gateway.c: the HTTP API of gasketd (see gateway.h).
 *
 * A request goes: route lookup -> method -> API key and throttle ->
 * validation (reading.c) -> store_append -> answer from the store's
 * callback. Nothing is stored for a request refused at any step.
 *
 * Who may do what is decided in one place: gateway_access_of() says what a
 * request needs of its principal (from method and path), gateway_allows()
 * judges a principal against it. The HTTP server asks gateway_head_check()
 * as soon as a request's headers are complete, so a request refused there
 * never has its body read; the handlers judge again (taking a token of the
 * key's bucket) when they serve it. */
#include "gateway/gateway.h"
#include "gateway/gateway_int.h"
#include "core/clock.h"
#include "core/datetime.h"
#include "core/log.h"
#include "core/err.h"
#include "core/mem.h"
#include "gateway/alarms_api.h"
#include "gateway/apikey.h"
#include "gateway/dash_session.h"
#include "gateway/dashboard.h"
#include "gateway/metrics.h"
#include "net/net.h"
#include "gateway/mqtt_ws.h"
#include "gateway/reading.h"
#include "gateway/search.h"
#include "gateway/seen.h"
#include "gateway/web.h"
#include "http/http.h"
#include "mqtt/broker.h"
#include "mqtt/topic.h"
#include "rules/alarm.h"
#include "rules/function.h"
#include "store/store.h"

#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON "application/json"

void gateway_reply_message(struct http_req *req, int status, const char *headers, const char *msg)
{
    struct buf b = {0};
    buf_puts(&b, "{\"message\":");
    buf_json_str(&b, msg, strlen(msg));
    buf_putc(&b, '}');
    http_respond(req, status, headers, JSON, b.data, b.len);
    buf_free(&b);
}

static void free_routes(struct gateway *g)
{
    for (size_t i = 0; i < g->nroutes; i++) {
        free(g->routes[i].path), free(g->routes[i].index), free(g->routes[i].cfg.topic),
            free(g->routes[i].mqtt_topic);
        function_free(g->routes[i].fn);
    }
    free(g->routes);
    g->routes = NULL;
    g->nroutes = 0;
}

struct gateway *gateway_new(struct store *store)
{
    struct gateway *g = xcalloc(1, sizeof *g);
    g->store = store;
    g->keys = apikeys_new();
    g->seen = seen_new();
    g->dash = dashboard_new();
    g->date_sec = -1;
    g->later_tail = &g->later;
    return g;
}

/* Lua functions get a budget that keeps the loop responsive: about 1e6 VM
 * instructions is a few milliseconds. */
static const struct function_limits route_fn_limits = {
    .max_memory = FUNCTION_MAX_MEMORY_DEFAULT,
    .max_instructions = 1000000,
};

int gateway_load_functions(const struct config *cfg, struct function ***out, char *err,
                           size_t errlen)
{
    struct function **fns = xcalloc(cfg->nroutes ? cfg->nroutes : 1, sizeof *fns);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct cfg_route *c = &cfg->routes[i];
        char why[512];
        if (!c->function)
            continue;
        if (function_load(&fns[i], c->function, &route_fn_limits, why, sizeof why) != 0) {
            gateway_free_functions(fns, cfg->nroutes);
            *out = NULL;
            return gk_errf(err, errlen, GK_ECONFIG, "[route %s] function: %s", c->path, why);
        }
    }
    *out = fns;
    return 0;
}

void gateway_free_functions(struct function **fns, size_t n)
{
    for (size_t i = 0; fns && i < n; i++)
        function_free(fns[i]);
    free(fns);
}

static void load_zone(struct gateway *g, const char *name)
{
    char err[160];
    if (g->zone)
        return; /* the zone is restart-only */
    if (!name)
        name = "localtime";
    if (tz_load(&g->zone, name, strlen(name), err, sizeof err) != 0) {
        log_warn("time zone %s: %s; dates without an offset are read as UTC", name, err);
        if (tz_load(&g->zone, "UTC", 3, err, sizeof err) != 0)
            abort(); /* UTC needs no file */
    }
}

void gateway_configure(struct gateway *g, const struct config *cfg, struct function **fns)
{
    free_routes(g);
    load_zone(g, cfg->server.timezone);
    g->routes = xcalloc(cfg->nroutes ? cfg->nroutes : 1, sizeof *g->routes);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct cfg_route *c = &cfg->routes[i];
        struct route *r = &g->routes[i];
        r->path = xstrdup(c->path);
        r->index = xstrdup(c->index);
        r->mqtt_topic = c->mqtt_topic ? xstrdup(c->mqtt_topic) : NULL;
        r->cfg = (struct cfg_route){.path = r->path, .index = r->index, .status = c->status,
                                    .alerts = c->alerts, .offline_after = c->offline_after,
                                    .topic = c->topic ? xstrdup(c->topic) : NULL};
        r->fn = fns ? fns[i] : NULL;
        if (r->fn)
            log_info("route %s: judged by function %s", r->path, function_path(r->fn));
    }
    free(fns);
    g->nroutes = cfg->nroutes;
    g->max_bulk_body = cfg->http.max_bulk_body;
    g->metrics_public = cfg->http.metrics_public;
    free(g->live_topic);
    g->live_topic = cfg->http.live_topic ? xstrdup(cfg->http.live_topic) : NULL;
    free(g->allowed_origins);
    g->allowed_origins = cfg->http.allowed_origins ? xstrdup(cfg->http.allowed_origins) : NULL;
    if (!g->web_root_read) /* restart-only */
        g->web_root = cfg->http.web_root ? xstrdup(cfg->http.web_root) : NULL;
    g->web_root_read = 1;
    g->search_max_aggs = cfg->http.search_max_aggs;
    g->search_max_buckets = cfg->http.search_max_buckets;
    g->search_max_memory = cfg->http.search_max_memory;
    g->search_max_timeout = cfg->http.search_max_timeout;
    g->max_pending = (size_t)cfg->server.max_pending;
    apikeys_configure(g->keys, cfg->apikeys, cfg->napikeys);
    dashboard_configure(g->dash, cfg);
}

int gateway_load_dashboard_users(struct gateway *g, const struct config *cfg, char *err,
                                 size_t errlen)
{
    char *path = dashboard_users_path(cfg);
    int rc = dashboard_load_users(g->dash, path, err, errlen);
    free(path);
    return rc;
}

int gateway_dashboard_needs_user(const struct gateway *g)
{
    return dashboard_login_required(g->dash) && dashboard_user_count(g->dash) == 0;
}

void gateway_reload_dashboard_users(struct gateway *g, const struct config *cfg)
{
    char *path = dashboard_users_path(cfg);
    dashboard_reload_users(g->dash, g->loop, path);
    free(path);
}

void gateway_load_seen(struct gateway *g, const char *path)
{
    seen_load(g->seen, path);
}

char *gateway_seen_text(struct gateway *g)
{
    return seen_render(g->seen);
}

void gateway_set_http(struct gateway *g, struct http_server *http)
{
    g->http = http;
    g->loop = http_server_loop(http);
    int all_loopback = 1;
    const char *addr;
    for (unsigned i = 0; (addr = http_server_addr(http, i)); i++)
        all_loopback = all_loopback && net_addr_is_loopback(addr);
    dashboard_set_loopback(g->dash, all_loopback);
    http_server_set_body_limit(http, search_body_limit, g); /* _bulk takes max_bulk_body */
    http_server_set_head_check(http, gateway_head_check, g);
}

void gateway_set_broker(struct gateway *g, struct mqtt_broker *b)
{
    g->broker = b;
}

void gateway_set_alarms(struct gateway *g, struct alarm_engine *e)
{
    g->alarms = e;
}

void gateway_set_history(struct gateway *g, struct history *h)
{
    g->history = h;
}

void gateway_publish(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    struct gateway *g = ud;
    if (g->broker && topic)
        mqtt_broker_publish(g->broker, topic, strlen(topic), payload, len, qos, false);
}

int gateway_may_write(const struct gateway *g, const struct principal *p, const char *index)
{
    if (p->admin)
        return 1;
    for (size_t i = 0; i < g->nroutes; i++)
        if (strcmp(g->routes[i].index, index) == 0 && principal_may_route(p, g->routes[i].path))
            return 1;
    return 0;
}

int gateway_may_read(const struct gateway *g, const struct principal *p, const char *index)
{
    if (p->admin || p->read_all)
        return 1;
    return p->read ? config_list_has(p->read, index) : gateway_may_write(g, p, index);
}

void gateway_access_of(const struct gateway *g, const struct http_req *req,
                       struct gateway_access *a)
{
    const char *path = http_req_path(req);
    memset(a, 0, sizeof *a);
    if (strcmp(path, "/healthz") == 0 || (strcmp(path, "/mqtt") == 0 && g->broker) ||
        web_claims(req, path)) {
        a->need = GATEWAY_NEED_NONE;
    } else if (strcmp(path, "/metrics") == 0) {
        a->need = GATEWAY_NEED_METRICS;
    } else if (g->history && (strcmp(path, "/alarms") == 0 || strncmp(path, "/alarms/", 8) == 0)) {
        a->need = GATEWAY_NEED_KEY; /* its own scope checks follow */
    } else if (!search_access(g, req, path, a)) {
        const struct route *rt = gateway_find_route(g, path);
        int m = http_req_method(req);
        a->need = !rt               ? GATEWAY_NEED_NOTHING_HERE
                  : m == HTTP_POST ? GATEWAY_NEED_ROUTE
                  : m == HTTP_GET  ? GATEWAY_NEED_READ
                                   : GATEWAY_NEED_NONE; /* OPTIONS, or 405 */
        a->route = rt;
        if (rt) {
            size_t n = strnlen(rt->index, sizeof a->index - 1);
            memcpy(a->index, rt->index, n);
            a->index[n] = '\0';
        }
    }
}

int gateway_allows(const struct gateway *g, const struct http_req *req,
                   const struct principal *p, const struct gateway_access *a)
{
    switch (a->need) {
    case GATEWAY_NEED_NONE:
    case GATEWAY_NEED_NOTHING_HERE:
        return 1;
    case GATEWAY_NEED_METRICS:
        return g->metrics_public || net_addr_is_loopback(http_req_peer(req)) || (p && p->admin);
    case GATEWAY_NEED_KEY:
        return p != NULL && !(a->writes && p->read_all);
    case GATEWAY_NEED_READ:
        return p && gateway_may_read(g, p, a->index);
    case GATEWAY_NEED_WRITE:
        return p && gateway_may_write(g, p, a->index);
    case GATEWAY_NEED_ROUTE:
        return p && principal_may_route(p, a->route->path);
    }
    return 0;
}

/* Judges a caller against a: the principal of its key (has_key; keyed
 * NULL for an unknown key), or without a key its live dashboard session.
 * Returns 0 with *who set, or the status of the refusal and its message. */
static int judge(struct gateway *g, const struct http_req *req, int has_key,
                 const struct principal *keyed, const struct gateway_access *a,
                 const struct principal **who, const char **msg)
{
    const struct principal *p = keyed;
    if (!has_key) {
        struct dash_session *s = dashboard_session_of(g->dash, req);
        if (s && !dashboard_csrf_ok(s, req)) {
            *msg = "CSRF token missing or wrong";
            return 403;
        }
        p = s ? &s->principal : NULL;
    }
    if (gateway_allows(g, req, p, a)) {
        *who = p;
        return 0;
    }
    int reads = a->need == GATEWAY_NEED_READ || (a->need == GATEWAY_NEED_KEY && !a->writes);
    if (!has_key && !p && reads) {
        *msg = "Unauthorized"; /* no credential at all */
        return 401;
    }
    *msg = "Forbidden";
    return 403;
}

int gateway_head_check(void *ud, const struct http_req *req, char *msg, size_t msglen)
{
    struct gateway *g = ud;
    struct gateway_access a;
    gateway_access_of(g, req, &a);
    if (a.need == GATEWAY_NEED_NOTHING_HERE) {
        snprintf(msg, msglen, "Not Found");
        return 404;
    }
    if (a.need == GATEWAY_NEED_NONE)
        return 0;
    char decoded[512];
    const char *key = a.need == GATEWAY_NEED_ROUTE ? http_req_header(req, "x-api-key")
                                                   : search_request_key(req, decoded, sizeof decoded);
    const struct principal *who;
    const char *why;
    int status = judge(g, req, key != NULL, apikeys_find(g->keys, key), &a, &who, &why);
    if (status)
        snprintf(msg, msglen, "%s", why);
    return status;
}

static void reply_throttled(struct http_req *req, double wait_s)
{
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", (int)ceil(wait_s < 1 ? 1 : wait_s));
    gateway_reply_message(req, 429, hdr, "Too Many Requests");
}

const struct principal *gateway_authorize(struct gateway *g, struct http_req *req, const char *key,
                                          const struct gateway_access *a)
{
    double wait_s = 0;
    const struct principal *keyed = NULL, *who = NULL;
    if (key && apikeys_check(g->keys, key, NULL, (int64_t)clock_mono_ms(), &wait_s, &keyed) ==
                   APIKEY_THROTTLED) {
        reply_throttled(req, wait_s);
        return NULL;
    }
    const char *why;
    int status = judge(g, req, key != NULL, keyed, a, &who, &why);
    if (status)
        gateway_reply_message(req, status, NULL, why);
    else if (who && who == keyed)
        seen_mark(g->seen, who->name, clock_now_ms());
    return status ? NULL : who;
}

const struct route *gateway_find_route(const struct gateway *g, const char *path)
{
    for (size_t i = 0; i < g->nroutes; i++)
        if (strcmp(g->routes[i].path, path) == 0)
            return &g->routes[i];
    return NULL;
}

/* ---- fixed endpoints ---- */

static void on_ping(void *ud, const struct store_ack *ack)
{
    struct http_req *req = ud;
    if (ack->status == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        http_respond(req, 200, NULL, JSON, ok, sizeof ok - 1);
        return;
    }
    char body[128];
    int n = snprintf(body, sizeof body, "{\"status\":\"unavailable\",\"reason\":\"%s\"}",
                     gk_strerror(ack->status));
    http_respond(req, 503, NULL, JSON, body, (size_t)n);
}

static void serve_metrics(struct gateway *g, struct http_req *req)
{
    char decoded[512];
    const struct gateway_access a = {.need = GATEWAY_NEED_METRICS};
    const char *key = search_request_key(req, decoded, sizeof decoded);
    if (!gateway_allows(g, req, apikeys_find(g->keys, key), &a))
        return gateway_reply_message(req, 403, NULL, "Forbidden");
    struct buf b = {0};
    metrics_render(&g->metrics, store_get_stats(g->store),
                   g->http ? http_server_connections(g->http) : 0,
                   g->broker ? mqtt_broker_get_stats(g->broker) : NULL, &b);
    http_respond(req, 200, NULL, "text/plain; version=0.0.4", b.data, b.len);
    buf_free(&b);
}

static int fixed_endpoint(struct gateway *g, struct http_req *req, const char *path)
{
    int get = http_req_method(req) == HTTP_GET || http_req_method(req) == HTTP_HEAD;
    if (strcmp(path, "/healthz") == 0 && get)
        store_ping(g->store, on_ping, req);
    else if (strcmp(path, "/metrics") == 0 && get)
        serve_metrics(g, req);
    else if (strcmp(path, "/mqtt") == 0 && g->broker)
        mqtt_ws_accept(g, req);
    else
        return 0;
    return 1;
}

/* ---- dispatch ---- */

static void post_route(struct gateway *g, struct http_req *req, const struct route *rt)
{
    double wait_s = 0;
    const struct principal *who = NULL;
    switch (apikeys_check(g->keys, http_req_header(req, "x-api-key"), rt->path,
                          (int64_t)clock_mono_ms(), &wait_s, &who)) {
    case APIKEY_FORBIDDEN:
        return gateway_reply_message(req, 403, NULL, "Forbidden");
    case APIKEY_THROTTLED:
        return reply_throttled(req, wait_s);
    case APIKEY_OK:
        seen_mark(g->seen, who->name, clock_now_ms());
        return gateway_post(g, req, who, rt);
    }
}

void gateway_handle(void *ud, struct http_req *req)
{
    struct gateway *g = ud;
    const char *path = http_req_path(req);
    /* dashboard.c: its login; web.c: its files; search.c: the OpenSearch-compatible API */
    if (fixed_endpoint(g, req, path) || dashboard_handle(g->dash, req, path) ||
        web_handle(g, req, path) || alarms_api_handle(g, req, path) ||
        search_handle(g, req, path))
        return;
    const struct route *rt = gateway_find_route(g, path);
    if (!rt)
        return gateway_reply_message(req, 404, NULL, "Not Found");
    switch (http_req_method(req)) {
    case HTTP_OPTIONS:
        return http_respond(req, 200, NULL, JSON, "{}", 2);
    case HTTP_POST:
        return post_route(g, req, rt);
    case HTTP_GET:
        return search_route_get(g, req, rt);
    default:
        return gateway_reply_message(req, 405, "Allow: OPTIONS, POST, GET\r\n", "Method Not Allowed");
    }
}

void gateway_on_response(void *ud, const struct http_req *req, int status)
{
    struct gateway *g = ud;
    const char *path = http_req_path(req);
    const char *label = "other";
    static const char *const fixed[] = {"/healthz", "/metrics", "/mqtt", "/alarms"};
    for (size_t i = 0; path && i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(path, fixed[i]) == 0)
            label = fixed[i];
    if (path && gateway_find_route(g, path))
        label = path;
    metrics_count(&g->metrics, label, status);
}

void gateway_free(struct gateway *g)
{
    if (!g)
        return;
    free_routes(g);
    free(g->allowed_origins);
    free(g->live_topic);
    free(g->web_root);
    tz_free(g->zone);
    apikeys_free(g->keys);
    seen_free(g->seen);
    dashboard_free(g->dash);
    metrics_free(&g->metrics);
    free(g);
}
