/* mqtt_ws.h: MQTT over WebSocket at /mqtt on the HTTP listeners (plain and
 * TLS), subprotocol "mqtt", so that a browser can be a broker client. */
#ifndef GASKET_GATEWAY_MQTT_WS_H
#define GASKET_GATEWAY_MQTT_WS_H

struct http_req;
struct mqtt_broker;

/* Upgrades req to a WebSocket carrying one MQTT client of b, or answers
 * it: 403 when it has an Origin header that is neither the server's own
 * origin (http:// or https:// and host[:port] equal to the Host header,
 * default ports aside) nor one of allowed_origins (comma-separated, or
 * NULL); 400/426 when the handshake is not a valid one for subprotocol
 * mqtt. A request without Origin (not a browser) is not judged here: the
 * client authenticates with MQTT's CONNECT. */
void mqtt_ws_accept(struct mqtt_broker *b, struct http_req *req, const char *allowed_origins);
/* 1 when origin may open /mqtt (see above); host is the Host header or
 * NULL, tls whether the request came over TLS. Pure, for tests. */
int mqtt_ws_origin_ok(const char *origin, const char *host, int tls, const char *allowed_origins);

#endif
