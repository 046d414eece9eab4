/* mqtt_ws.c: MQTT over WebSocket (see mqtt_ws.h).
 *
 * Each binary WebSocket message carries a piece of the client's MQTT byte
 * stream (a message may hold part of a packet or several packets); the
 * broker sees the same stream as from TCP, through struct mqtt_link_ops. */
#include "gateway/mqtt_ws.h"
#include "http/ws.h"
#include "mqtt/broker.h"

static int link_write(void *link, const void *p, size_t n)
{
    return ws_send(link, p, n);
}

static void link_close(void *link)
{
    ws_close(link, 1000, NULL);
}

static size_t link_pending(void *link)
{
    return ws_pending(link);
}

static const char *link_peer(void *link)
{
    return ws_peer(link);
}

static void link_pause(void *link)
{
    ws_pause(link);
}

static void link_resume(void *link)
{
    ws_resume(link);
}

static const struct mqtt_link_ops ops = {link_write, link_close, link_pending, link_peer,
                                         NULL,       link_pause, link_resume};

static void on_message(struct ws_conn *ws, const void *data, size_t len)
{
    struct mqtt_client *c = ws_data(ws);
    if (c)
        mqtt_client_input(c, data, len);
}

static void on_close(struct ws_conn *ws)
{
    struct mqtt_client *c = ws_data(ws);
    if (c)
        mqtt_client_closed(c);
}

void mqtt_ws_accept(struct mqtt_broker *b, struct http_req *req)
{
    static const struct ws_handler handler = {.on_message = on_message, .on_close = on_close};
    struct ws_conn *ws;
    if (ws_accept(req, "mqtt", &handler, NULL, &ws) != 0)
        return; /* answered */
    struct mqtt_client *c = mqtt_broker_attach(b, &ops, ws);
    if (!c) {
        ws_close(ws, 1013, "Too many connections");
        return;
    }
    ws_set_data(ws, c);
}
