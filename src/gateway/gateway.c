/* gateway.c: the HTTP API of gasketd (see gateway.h).
 *
 * A request goes: route lookup -> method -> API key and throttle ->
 * validation (reading.c) -> store_append -> answer from the store's
 * callback. Nothing is stored for a request refused at any step. */
#include "gateway/gateway.h"
#include "gateway/gateway_int.h"
#include "core/clock.h"
#include "core/datetime.h"
#include "core/log.h"
#include "core/err.h"
#include "core/mem.h"
#include "gateway/apikey.h"
#include "gateway/metrics.h"
#include "gateway/mqtt_ws.h"
#include "gateway/reading.h"
#include "gateway/search.h"
#include "http/http.h"
#include "mqtt/broker.h"
#include "mqtt/topic.h"
#include "rules/alarm.h"
#include "rules/function.h"
#include "rules/history.h"
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
    g->date_sec = -1;
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
    g->max_pending = (size_t)cfg->server.max_pending;
    apikeys_configure(g->keys, cfg->apikeys, cfg->napikeys);
}

void gateway_set_http(struct gateway *g, struct http_server *http)
{
    g->http = http;
    http_server_set_body_limit(http, search_body_limit, g); /* _bulk takes max_bulk_body */
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
    if (p->admin)
        return 1;
    return p->read ? config_list_has(p->read, index) : gateway_may_write(g, p, index);
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
        mqtt_ws_accept(g->broker, req);
    else
        return 0;
    return 1;
}

/* ---- dispatch ---- */

static void reply_throttled(struct http_req *req, double wait_s)
{
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", (int)ceil(wait_s < 1 ? 1 : wait_s));
    gateway_reply_message(req, 429, hdr, "Too Many Requests");
}

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
        return gateway_post(g, req, rt);
    }
}

/* ---- the alarm history ---- */

static void list_alarms(struct gateway *g, struct http_req *req)
{
    struct history_filter f;
    char err[160];
    if (history_filter_parse(http_req_query(req), &f, err, sizeof err) != 0)
        return gateway_reply_message(req, 400, NULL, err);
    struct buf b = {0};
    if (history_query(g->history, &f, &b) != 0)
        gateway_reply_message(req, 503, NULL, "Alarm history unavailable");
    else
        http_respond(req, 200, NULL, JSON, b.data, b.len);
    buf_free(&b);
}

static void ack_alarm(struct gateway *g, struct http_req *req, const char *id_text,
                      const char *by)
{
    char *end;
    long long id = strtoll(id_text, &end, 10);
    if (end == id_text || strcmp(end, "/ack") != 0 || id <= 0)
        return gateway_reply_message(req, 404, NULL, "Not Found");
    int rc = history_ack(g->history, id, by, clock_now_ms());
    if (rc == GK_ENOTFOUND)
        return gateway_reply_message(req, 404, NULL, "No such alarm");
    if (rc == GK_EEXIST)
        return gateway_reply_message(req, 409, NULL, "Already acknowledged");
    if (rc != 0)
        return gateway_reply_message(req, 503, NULL, "Alarm history unavailable");
    char body[96];
    int n = snprintf(body, sizeof body, "{\"id\":%lld,\"acknowledged\":true}", id);
    http_respond(req, 200, NULL, JSON, body, (size_t)n);
}

/* GET /alarms and POST /alarms/{id}/ack; returns 0 when path is neither. */
static int alarms_endpoint(struct gateway *g, struct http_req *req, const char *path)
{
    int list = strcmp(path, "/alarms") == 0, ack = strncmp(path, "/alarms/", 8) == 0;
    if (!g->history || (!list && !ack))
        return 0;
    double wait_s = 0;
    const struct principal *who = NULL;
    int m = http_req_method(req);
    switch (apikeys_check(g->keys, http_req_header(req, "x-api-key"), NULL,
                          (int64_t)clock_mono_ms(), &wait_s, &who)) {
    case APIKEY_FORBIDDEN:
        gateway_reply_message(req, 403, NULL, "Forbidden");
        break;
    case APIKEY_THROTTLED:
        reply_throttled(req, wait_s);
        break;
    case APIKEY_OK:
        if (list && (m == HTTP_GET || m == HTTP_HEAD))
            list_alarms(g, req);
        else if (ack && m == HTTP_POST)
            ack_alarm(g, req, path + 8, who->name);
        else
            gateway_reply_message(req, 405, list ? "Allow: GET\r\n" : "Allow: POST\r\n",
                          "Method Not Allowed");
        break;
    }
    return 1;
}

void gateway_handle(void *ud, struct http_req *req)
{
    struct gateway *g = ud;
    const char *path = http_req_path(req);
    if (fixed_endpoint(g, req, path) || alarms_endpoint(g, req, path) ||
        search_handle(g, req, path)) /* the OpenSearch-compatible API, search.c */
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
    tz_free(g->zone);
    apikeys_free(g->keys);
    metrics_free(&g->metrics);
    free(g);
}
