/* gateway.h: the HTTP API of gasketd: routes, API keys, throttling,
 * validation and the hand-off of readings to the store.
 *
 * gateway_handle() is the http_server's handler. For a configured route:
 * OPTIONS answers the CORS preflight; POST checks x-api-key (403
 * {"message":"Forbidden"}), the key's bucket (429 with Retry-After),
 * validates the body (400 naming the field), has the reading judged by the
 * rules (alerts and {"emergency":"emergency"} published at once), appends
 * the document to the route's index and answers 200 with OpenSearch's
 * index reply once the store has committed it (503 when the store fails).
 * With the route's `status`, {"msg":"success"} / {"msg":"fail",...} follow,
 * as the original Lambda sent them. GET /healthz is answered without a
 * key, GET /metrics for loopback clients and admin keys (or everyone with
 * [http] metrics_public); GET /mqtt upgrades to MQTT over WebSocket (an
 * Origin header must be the server's own or allowed); GET /alarms and
 * POST /alarms/{id}/ack (alarms_api.c) need a valid key and show a key the
 * alarms of its routes only. A request with a body is judged from its
 * headers first (gateway_head_check, gateway_int.h). */
#ifndef GASKET_GATEWAY_GATEWAY_H
#define GASKET_GATEWAY_GATEWAY_H

#include "core/buf.h"
#include "core/config.h"
#include "mqtt/broker.h"

#include <stdbool.h>
#include <stddef.h>

struct gateway;
struct http_req;
struct http_server;
struct mqtt_broker;
struct alarm_engine;
struct mqtt_inbound;
struct history;
struct store;
struct function;

/* CORS headers of the original API, sent with every reply. */
#define GATEWAY_CORS_HEADERS                                                 \
    "Access-Control-Allow-Origin: *\r\n"                                     \
    "Access-Control-Allow-Headers: Content-Type\r\n"                         \
    "Access-Control-Allow-Methods: OPTIONS,POST,GET\r\n"

struct gateway *gateway_new(struct store *store);
/* Loads the Lua functions of cfg's routes: *out gets one slot per route
 * (NULL where a route has none). Returns 0, or GK_ECONFIG with the reason
 * in err ("[route /gasdetector] function: functions/x.lua:3: ...") and
 * nothing loaded. */
int gateway_load_functions(const struct config *cfg, struct function ***out, char *err,
                           size_t errlen);
void gateway_free_functions(struct function **fns, size_t n);
/* Routes and keys from cfg (at start and on SIGHUP), with the functions
 * gateway_load_functions() loaded for cfg (taken; NULL: none); throttle
 * state of keys that keep their name is kept. The configured time zone is
 * read at the first call only (it needs a restart). */
void gateway_configure(struct gateway *g, const struct config *cfg, struct function **fns);
/* The dashboard's users file of cfg (dashboard.h): read now, at start
 * (0, or GK_ECONFIG / GK_EIO with the reason in err); or again on SIGHUP,
 * on libuv's thread pool after gateway_set_http() (the sessions of users
 * no longer in it end; a bad file is logged and the users stay). */
int gateway_load_dashboard_users(struct gateway *g, const struct config *cfg, char *err,
                                 size_t errlen);
void gateway_reload_dashboard_users(struct gateway *g, const struct config *cfg);
/* 1 when the dashboard asks for a login and its users file has no user yet
 * (gasketd's first start on a public address). */
int gateway_dashboard_needs_user(const struct gateway *g);
/* Last-seen times of principals (seen.h): loaded from path at start; the
 * text to save when they changed (malloc'ed), else NULL. */
void gateway_load_seen(struct gateway *g, const char *path);
char *gateway_seen_text(struct gateway *g);

/* The server whose connections /metrics reports and whose requests'
 * heads the gateway judges (http_server_set_head_check); its loop is the
 * one ingest results are delivered on. Call before anything is ingested. */
void gateway_set_http(struct gateway *g, struct http_server *http);
/* The broker behind /mqtt (MQTT over WebSocket) and in /metrics, and where
 * alerts and status messages are published. */
void gateway_set_broker(struct gateway *g, struct mqtt_broker *b);
/* The alarm engine (rules/alarm.h) that judges every accepted reading; its
 * messages go to the broker. NULL: no rules. */
void gateway_set_alarms(struct gateway *g, struct alarm_engine *e);
/* Readings devices publish over MQTT to a route's `mqtt_topic` (gas/+):
 * validated, judged and stored as a POST is; QoS 1/2 acknowledged after the
 * commit. THE rule: a reading is taken only from a client whose principal
 * (apikeys_for_mqtt: a key login, a password_file user named by some
 * `mqtt_user`, a certificate CN named by some `cert_cn`) may use the first
 * route whose mqtt_topic matches (principal_may_route); anyone else is
 * refused (MQTT_HOOK_REFUSED), whatever the ACL file says. Other topics
 * pass. An mqtt_publish_hook; ud is the gateway. */
enum mqtt_hook_verdict gateway_telemetry(void *ud, struct mqtt_inbound *in,
                                         const struct mqtt_identity *id, const char *topic,
                                         size_t topic_len, const void *payload, size_t len,
                                         int qos);
/* An MQTT login with a principal's name and key (apikeys_mqtt_login): an
 * mqtt_login_hook; ud is the gateway. */
bool gateway_mqtt_login(void *ud, const char *user, size_t ulen, const char *pass, size_t plen);
/* The alarm history behind GET /alarms and POST /alarms/{id}/ack. */
void gateway_set_history(struct gateway *g, struct history *h);
/* Publishes through the broker (an alarm_emit_cb; ud is the gateway). */
void gateway_publish(void *ud, const char *topic, const char *payload, size_t len, int qos);
/* http_handler and http_response_hook for http_server_new(); ud is the gateway. */
void gateway_handle(void *ud, struct http_req *req);
void gateway_on_response(void *ud, const struct http_req *req, int status);
void gateway_free(struct gateway *g);

#endif
