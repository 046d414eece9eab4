/* gateway.c: the HTTP API of gasketd (see gateway.h).
 *
 * A request goes: route lookup -> method -> API key and throttle ->
 * validation (reading.c) -> store_append -> answer from the store's
 * callback. Nothing is stored for a request refused at any step. */
#include "gateway/gateway.h"
#include "gateway/gateway_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "gateway/apikey.h"
#include "gateway/metrics.h"
#include "gateway/mqtt_ws.h"
#include "gateway/reading.h"
#include "http/http.h"
#include "mqtt/broker.h"
#include "mqtt/topic.h"
#include "rules/alarm.h"
#include "rules/history.h"
#include "store/store.h"

#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON "application/json"

static void reply_message(struct http_req *req, int status, const char *headers, const char *msg)
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
    for (size_t i = 0; i < g->nroutes; i++)
        free(g->routes[i].path), free(g->routes[i].index), free(g->routes[i].cfg.topic),
            free(g->routes[i].mqtt_topic);
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

void gateway_configure(struct gateway *g, const struct config *cfg)
{
    free_routes(g);
    g->routes = xcalloc(cfg->nroutes, sizeof *g->routes);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct cfg_route *c = &cfg->routes[i];
        struct route *r = &g->routes[i];
        r->path = xstrdup(c->path);
        r->index = xstrdup(c->index);
        r->mqtt_topic = c->mqtt_topic ? xstrdup(c->mqtt_topic) : NULL;
        r->cfg = (struct cfg_route){.path = r->path, .index = r->index, .status = c->status,
                                    .alerts = c->alerts, .offline_after = c->offline_after,
                                    .topic = c->topic ? xstrdup(c->topic) : NULL};
    }
    g->nroutes = cfg->nroutes;
    apikeys_configure(g->keys, cfg->apikeys, cfg->napikeys);
}

void gateway_set_http(struct gateway *g, struct http_server *http)
{
    g->http = http;
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

/* {"msg":"success"} or {"msg":"fail","reason":"..."} to a status route's topic. */
static void publish_status(struct gateway *g, const char *topic, const char *reason)
{
    struct buf b = {0};
    if (!reason) {
        buf_puts(&b, "{\"msg\":\"success\"}");
    } else {
        buf_puts(&b, "{\"msg\":\"fail\",\"reason\":");
        buf_json_str(&b, reason, strlen(reason));
        buf_putc(&b, '}');
    }
    gateway_publish(g, topic, b.data, b.len, 1);
    buf_free(&b);
}

static const struct route *find_route(const struct gateway *g, const char *path)
{
    for (size_t i = 0; i < g->nroutes; i++)
        if (strcmp(g->routes[i].path, path) == 0)
            return &g->routes[i];
    return NULL;
}

static const char *local_date(struct gateway *g, int64_t now_ms)
{
    if (now_ms / 1000 != g->date_sec) {
        g->date_sec = now_ms / 1000;
        clock_format_local(now_ms, g->date);
    }
    return g->date;
}

/* ---- POST: ingest ---- */

static void reply_stored(struct pending *p, const struct store_ack *ack)
{
    if (ack->status != 0) {
        reply_message(p->req, 503, "Retry-After: 5\r\n",
                      ack->status == GK_EFULL ? "Store unavailable: disk full"
                                              : "Store unavailable: write failed");
        return;
    }
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"_index\":\"%s\",\"_id\":\"%s\",\"_version\":1,\"result\":\"created\","
                     "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},"
                     "\"_seq_no\":%lld,\"_primary_term\":1}",
                     p->index, ack->id, (long long)ack->seq_no);
    http_respond(p->req, 200, NULL, JSON, body, (size_t)n);
}

static void on_stored(void *ud, const struct store_ack *ack)
{
    struct pending *p = ud;
    if (p->status_topic)
        publish_status(p->g, p->status_topic, ack->status ? gk_strerror(ack->status) : NULL);
    free(p->status_topic);
    if (p->req)
        reply_stored(p, ack);
    else
        mqtt_inbound_done(p->in, ack->status ? 0x80 : 0); /* 0x80: unspecified error */
    free(p);
}

static void reply_invalid(struct gateway *g, struct http_req *req, const struct reading_error *e)
{
    struct buf b = {0};
    buf_puts(&b, "{\"message\":");
    buf_json_str(&b, e->message, strlen(e->message));
    buf_puts(&b, ",\"field\":");
    buf_json_str(&b, e->field, strlen(e->field));
    buf_putc(&b, '}');
    g->metrics.rejected++;
    http_respond(req, 400, NULL, JSON, b.data, b.len);
    buf_free(&b);
}

/* The rules' verdict on an accepted reading, published at once: a gas
 * alert should not wait for the disk. */
static void judge(struct gateway *g, const struct route *rt, const struct reading *r, int64_t now)
{
    if (json_object_get(r->doc, "emergency") && rt->cfg.topic) {
        static const char emergency[] = "{\"emergency\":\"emergency\"}";
        gateway_publish(g, rt->cfg.topic, emergency, sizeof emergency - 1, 1);
    }
    if (!g->alarms)
        return;
    struct alarm_value v[READING_MAX_MEAS];
    for (size_t i = 0; i < r->nmeas; i++)
        v[i] = (struct alarm_value){r->meas[i].name, r->meas[i].value};
    alarm_judge(g->alarms, &rt->cfg, r->groupid, v, r->nmeas, now, gateway_publish, g);
}

static struct pending *pending_new(struct gateway *g, const struct route *rt)
{
    size_t ilen = strlen(rt->index) + 1;
    struct pending *p = xcalloc(1, sizeof *p + ilen);
    p->g = g;
    memcpy(p->index, rt->index, ilen);
    return p;
}

/* Validates, judges and stores one reading of route rt; p (which gets the
 * answer from on_stored) is taken. Returns 0, or GK_EINVAL with e set: then
 * nothing is stored and p is freed. */
static int take_reading(struct gateway *g, const struct route *rt, const char *body, size_t len,
                        struct pending *p, struct reading_error *e)
{
    struct reading r;
    if (reading_parse(&r, body, len, e) != 0) {
        if (rt->cfg.status)
            publish_status(g, rt->cfg.topic, e->message);
        free(p);
        return GK_EINVAL;
    }
    int64_t now = clock_now_ms();
    judge(g, rt, &r, now);
    struct buf doc = {0};
    reading_document(&r, body, len, local_date(g, now), &doc);
    struct store_meas meas[READING_MAX_MEAS];
    for (size_t i = 0; i < r.nmeas; i++)
        meas[i] = (struct store_meas){r.meas[i].name, r.meas[i].value};
    struct store_doc d = {.index = rt->index, .source = doc.data, .source_len = doc.len,
                          .ts_ms = now, .groupid = r.groupid, .nmeas = r.nmeas, .meas = meas};
    p->status_topic = rt->cfg.status && rt->cfg.topic ? xstrdup(rt->cfg.topic) : NULL;
    store_append(g->store, &d, on_stored, p);
    buf_free(&doc);
    reading_free(&r);
    return 0;
}

static void ingest(struct gateway *g, struct http_req *req, const struct route *rt)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    struct reading_error e;
    struct pending *p = pending_new(g, rt);
    p->req = req;
    if (take_reading(g, rt, body, len, p, &e) != 0)
        reply_invalid(g, req, &e);
}

bool gateway_telemetry(void *ud, struct mqtt_inbound *in, const char *topic, size_t topic_len,
                       const void *payload, size_t len, int qos)
{
    struct gateway *g = ud;
    const struct route *rt = NULL;
    (void)qos;
    for (size_t i = 0; i < g->nroutes && !rt; i++) {
        const char *f = g->routes[i].mqtt_topic;
        if (f && mqtt_topic_matches(f, strlen(f), topic, topic_len))
            rt = &g->routes[i];
    }
    if (!rt)
        return false; /* an ordinary message */
    struct reading_error e;
    struct pending *p = pending_new(g, rt);
    p->in = in;
    if (take_reading(g, rt, payload, len, p, &e) != 0) {
        g->metrics.rejected++;
        mqtt_inbound_done(in, 0x99); /* payload format invalid */
    }
    return true;
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
    reply_message(req, 429, hdr, "Too Many Requests");
}

static void post_route(struct gateway *g, struct http_req *req, const struct route *rt)
{
    double wait_s = 0;
    const char *name = NULL;
    switch (apikeys_check(g->keys, http_req_header(req, "x-api-key"), rt->path,
                          (int64_t)clock_mono_ms(), &wait_s, &name)) {
    case APIKEY_FORBIDDEN:
        return reply_message(req, 403, NULL, "Forbidden");
    case APIKEY_THROTTLED:
        return reply_throttled(req, wait_s);
    case APIKEY_OK:
        return ingest(g, req, rt);
    }
}

/* ---- the alarm history ---- */

static void list_alarms(struct gateway *g, struct http_req *req)
{
    struct history_filter f;
    char err[160];
    if (history_filter_parse(http_req_query(req), &f, err, sizeof err) != 0)
        return reply_message(req, 400, NULL, err);
    struct buf b = {0};
    if (history_query(g->history, &f, &b) != 0)
        reply_message(req, 503, NULL, "Alarm history unavailable");
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
        return reply_message(req, 404, NULL, "Not Found");
    int rc = history_ack(g->history, id, by, clock_now_ms());
    if (rc == GK_ENOTFOUND)
        return reply_message(req, 404, NULL, "No such alarm");
    if (rc == GK_EEXIST)
        return reply_message(req, 409, NULL, "Already acknowledged");
    if (rc != 0)
        return reply_message(req, 503, NULL, "Alarm history unavailable");
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
    const char *name = NULL;
    int m = http_req_method(req);
    switch (apikeys_check(g->keys, http_req_header(req, "x-api-key"), NULL,
                          (int64_t)clock_mono_ms(), &wait_s, &name)) {
    case APIKEY_FORBIDDEN:
        reply_message(req, 403, NULL, "Forbidden");
        break;
    case APIKEY_THROTTLED:
        reply_throttled(req, wait_s);
        break;
    case APIKEY_OK:
        if (list && (m == HTTP_GET || m == HTTP_HEAD))
            list_alarms(g, req);
        else if (ack && m == HTTP_POST)
            ack_alarm(g, req, path + 8, name);
        else
            reply_message(req, 405, list ? "Allow: GET\r\n" : "Allow: POST\r\n",
                          "Method Not Allowed");
        break;
    }
    return 1;
}

void gateway_handle(void *ud, struct http_req *req)
{
    struct gateway *g = ud;
    const char *path = http_req_path(req);
    if (fixed_endpoint(g, req, path) || alarms_endpoint(g, req, path))
        return;
    const struct route *rt = find_route(g, path);
    if (!rt)
        return reply_message(req, 404, NULL, "Not Found");
    switch (http_req_method(req)) {
    case HTTP_OPTIONS:
        return http_respond(req, 200, NULL, JSON, "{}", 2);
    case HTTP_POST:
        return post_route(g, req, rt);
    case HTTP_GET:
        return reply_message(req, 501, NULL, "Search on this route is not available yet");
    default:
        return reply_message(req, 405, "Allow: OPTIONS, POST, GET\r\n", "Method Not Allowed");
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
    if (path && find_route(g, path))
        label = path;
    metrics_count(&g->metrics, label, status);
}

void gateway_free(struct gateway *g)
{
    if (!g)
        return;
    free_routes(g);
    apikeys_free(g->keys);
    metrics_free(&g->metrics);
    free(g);
}
