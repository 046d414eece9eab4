/* mqtt_ws.c: MQTT over WebSocket (see mqtt_ws.h).
 *
 * Each binary WebSocket message carries a piece of the client's MQTT byte
 * stream (a message may hold part of a packet or several packets); the
 * broker sees the same stream as from TCP, through struct mqtt_link_ops.
 * A browser's upgrade carries an Origin header: only the server's own
 * origin and [http] allowed_origins may open the socket (a page elsewhere
 * on the web must not reach the broker through a visitor's browser). A
 * socket opened with a dashboard session's cookie is that session's: a
 * watch (dash_session.h) closes it when the session ends. */
#include "gateway/mqtt_ws.h"
#include "core/clock.h"
#include "core/mem.h"
#include "gateway/dash_session.h"
#include "gateway/dashboard.h"
#include "gateway/gateway_int.h"
#include "http/http.h"
#include "http/ws.h"
#include "mqtt/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* A socket's MQTT client, and the session it lives by (if any). */
struct ws_client {
    struct ws_conn *ws;
    struct mqtt_client *c;
    struct dash_watch watch;
};

static void on_message(struct ws_conn *ws, const void *data, size_t len)
{
    struct ws_client *w = ws_data(ws);
    if (!w)
        return;
    if (w->watch.s && w->watch.s->expires_mono <= clock_mono_ms()) {
        ws_close(ws, 1008, "Session ended"); /* expired: noticed by the next packet, a PINGREQ
                                                at the latest */
        return;
    }
    mqtt_client_input(w->c, data, len);
}

static void on_close(struct ws_conn *ws)
{
    struct ws_client *w = ws_data(ws);
    if (!w)
        return;
    dash_sessions_unwatch(&w->watch);
    mqtt_client_closed(w->c);
    free(w);
}

static void on_session_end(void *ud)
{
    struct ws_client *w = ud;
    ws_close(w->ws, 1008, "Session ended"); /* 1008: policy violation */
}

/* host[:port] without the scheme's default port, lowercased, into out;
 * 0, or -1 when it does not fit. */
static int host_norm(const char *host, size_t n, int tls, char *out, size_t outlen)
{
    const char *dflt = tls ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (n > dl && strncmp(host + n - dl, dflt, dl) == 0) n -= dl;
    if (n == 0 || n >= outlen) return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    out[n] = '\0';
    return 0;
}

/* The server's own origin: host[:port] equal to the Host header. The
 * scheme is the listener's (http plain, https TLS) or the other one: no
 * other site can be served at this very host and port, a TLS-terminating
 * proxy in front of a plain listener makes https the right one, and
 * paho-mqtt sends https:// on ws:// too. */
int mqtt_ws_same_origin(const char *origin, const char *host, int tls)
{
    size_t ol = strlen(origin), sl;
    int otls;
    char a[300], b[300];
    if (strncasecmp(origin, "https://", 8) == 0)
        otls = 1, sl = 8;
    else if (strncasecmp(origin, "http://", 7) == 0)
        otls = 0, sl = 7;
    else
        return 0;
    if (!host) return 0;
    if (ol > sl && origin[ol - 1] == '/') ol--; /* "http://h/" as some clients send it */
    return host_norm(origin + sl, ol - sl, otls, a, sizeof a) == 0 &&
           host_norm(host, strlen(host), tls, b, sizeof b) == 0 && strcmp(a, b) == 0;
}

int mqtt_ws_origin_ok(const char *origin, const char *host, int tls, const char *allowed_origins)
{
    if (!origin) return 1;
    if (mqtt_ws_same_origin(origin, host, tls)) return 1;
    char item[300];
    for (const char *p = allowed_origins; p && *p;) {
        size_t n = strcspn(p, ",");
        size_t s = 0, e = n;
        while (s < e && (p[s] == ' ' || p[s] == '\t')) s++;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '/')) e--;
        if (e - s < sizeof item) {
            memcpy(item, p + s, e - s);
            item[e - s] = '\0';
            if (item[0] && strcasecmp(item, origin) == 0) return 1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

void mqtt_ws_accept(struct gateway *g, struct http_req *req)
{
    static const struct ws_handler handler = {.on_message = on_message, .on_close = on_close};
    const char *origin = http_req_header(req, "Origin"), *host = http_req_header(req, "Host");
    int tls = http_req_is_tls(req);
    struct ws_conn *ws;
    if (!mqtt_ws_origin_ok(origin, host, tls, g->allowed_origins)) {
        gateway_reply_message(req, 403, NULL,
                              "Forbidden: this Origin may not open /mqtt (see [http] "
                              "allowed_origins)");
        return;
    }
    /* A browser's page of this origin (every browser's User-Agent starts
     * "Mozilla/"; paho and mqtt.js on Node send the Origin but no
     * User-Agent) is the dashboard: it needs its session. Anything else
     * proves itself at CONNECT. Not a barrier (CONNECT still is): an early,
     * clear answer for a page whose session is gone. */
    const char *ua = http_req_header(req, "User-Agent");
    struct dash_session *s = dashboard_session_of(g->dash, req);
    if (!s && origin && mqtt_ws_same_origin(origin, host, tls) && ua &&
        strncmp(ua, "Mozilla/", 8) == 0 && dashboard_login_required(g->dash)) {
        gateway_reply_message(req, 401, NULL, "Login required");
        return;
    }
    if (ws_accept(req, "mqtt", &handler, NULL, &ws) != 0)
        return; /* answered */
    struct mqtt_client *c = s ? mqtt_broker_attach_dashboard(g->broker, &ops, ws, s->user)
                              : mqtt_broker_attach(g->broker, &ops, ws);
    if (!c) {
        ws_close(ws, 1013, "Too many connections");
        return;
    }
    struct ws_client *w = xcalloc(1, sizeof *w);
    w->ws = ws;
    w->c = c;
    if (s)
        dash_sessions_watch(s, &w->watch, on_session_end, w);
    ws_set_data(ws, w);
}
