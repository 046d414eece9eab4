/* mqtt_ws.h: MQTT over WebSocket at /mqtt on the HTTP listeners (plain and
 * TLS), subprotocol "mqtt", so that a browser can be a broker client. */
#ifndef GASKET_GATEWAY_MQTT_WS_H
#define GASKET_GATEWAY_MQTT_WS_H

struct http_req;
struct mqtt_broker;

/* Upgrades req to a WebSocket carrying one MQTT client of b, or answers
 * it (400/426) when the handshake is not a valid one for subprotocol mqtt. */
void mqtt_ws_accept(struct mqtt_broker *b, struct http_req *req);

#endif
