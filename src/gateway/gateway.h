/* gateway.h: the HTTP API of gasketd: routes, API keys, throttling,
 * validation and the hand-off of readings to the store.
 *
 * gateway_handle() is the http_server's handler. For a configured route:
 * OPTIONS answers the CORS preflight; POST checks x-api-key (403
 * {"message":"Forbidden"}), the key's bucket (429 with Retry-After),
 * validates the body (400 naming the field), appends the document to the
 * route's index and answers 200 with OpenSearch's index reply once the
 * store has committed it (503 when the store fails). GET /healthz and
 * GET /metrics are answered without a key; GET /mqtt upgrades to MQTT over
 * WebSocket. */
#ifndef GASKET_GATEWAY_GATEWAY_H
#define GASKET_GATEWAY_GATEWAY_H

#include "core/buf.h"
#include "core/config.h"

struct gateway;
struct http_req;
struct http_server;
struct mqtt_broker;
struct store;

/* CORS headers of the original API, sent with every reply. */
#define GATEWAY_CORS_HEADERS                                                 \
    "Access-Control-Allow-Origin: *\r\n"                                     \
    "Access-Control-Allow-Headers: Content-Type\r\n"                         \
    "Access-Control-Allow-Methods: OPTIONS,POST,GET\r\n"

struct gateway *gateway_new(struct store *store);
/* Routes and keys from cfg (at start and on SIGHUP); throttle state of keys
 * that keep their name is kept. */
void gateway_configure(struct gateway *g, const struct config *cfg);
/* The server whose connections /metrics reports. */
void gateway_set_http(struct gateway *g, struct http_server *http);
/* The broker behind /mqtt (MQTT over WebSocket) and in /metrics. */
void gateway_set_broker(struct gateway *g, struct mqtt_broker *b);
/* http_handler and http_response_hook for http_server_new(); ud is the gateway. */
void gateway_handle(void *ud, struct http_req *req);
void gateway_on_response(void *ud, const struct http_req *req, int status);
void gateway_free(struct gateway *g);

#endif
