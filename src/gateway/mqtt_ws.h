/* mqtt_ws.h: MQTT over WebSocket at /mqtt on the HTTP listeners (plain and
 * TLS), subprotocol "mqtt", so that a browser can be a broker client. */
#ifndef GASKET_GATEWAY_MQTT_WS_H
#define GASKET_GATEWAY_MQTT_WS_H

struct gateway;
struct http_req;

/* Upgrades req to a WebSocket carrying one MQTT client of g's broker, or
 * answers it: 403 when it has an Origin header that is neither the
 * server's own origin (http:// or https:// and host[:port] equal to the
 * Host header, default ports aside) nor one of [http] allowed_origins;
 * 401 {"message":"Login required"} when its Origin is the server's own,
 * the dashboard requires a login and it has no live session cookie;
 * 400/426 when the handshake is not a valid one for subprotocol mqtt.
 * With a live dashboard session (whatever the Origin), the MQTT client is
 * the session's user (mqtt_broker_attach_dashboard: it reads gasketd's
 * topics and publishes nothing) and the socket closes when the session
 * ends. Otherwise (no Origin: not a browser; another allowed origin) the
 * client authenticates with MQTT's CONNECT. */
void mqtt_ws_accept(struct gateway *g, struct http_req *req);
/* 1 when origin may open /mqtt (see above); host is the Host header or
 * NULL, tls whether the request came over TLS. Pure, for tests. */
int mqtt_ws_origin_ok(const char *origin, const char *host, int tls, const char *allowed_origins);
/* 1 when origin is the server's own (see above). Pure. */
int mqtt_ws_same_origin(const char *origin, const char *host, int tls);

#endif
