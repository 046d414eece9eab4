/* ws.c: the WebSocket server connections of ws.h, on wslay's event API.
 *
 * ws_accept() checks the handshake with the pure helpers at the end of this
 * file, formats the 101 and passes it to http_upgrade(); the connection
 * arrives in ws_on_upgrade(). From then on net.h delivers bytes to
 * ws_on_read(), which lends them to wslay_event_recv() in place (wslay reads
 * until it has everything or stops reading for good). What wslay writes is
 * gathered in `out` and leaves in one net_conn_write() per flush. A flush
 * asked for from inside wslay_event_recv() (a reply sent from on_message)
 * waits for it to return.
 *
 * One timer per connection serves, in this order: a zero-delay turn for
 * what must not run inside the caller (the bytes that came with the
 * request, or the on_close of a connection that died before the upgrade),
 * the close-handshake deadline after our close frame, and the idle timeout. */
#include "http/ws.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"
#include "net/net.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>
#include <wslay/wslay.h>

#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_PEER_LEN 72
#define WS_OUT_KEEP 65536 /* output buffer kept between flushes, bytes */

struct ws_conn {
    const struct ws_handler *h;
    void *ud;
    struct net_conn *nc; /* NULL before the upgrade and once closed */
    wslay_event_context_ptr ctx;
    uv_timer_t timer;
    struct buf early; /* bytes waiting for the deferred turn */
    const char *rp;   /* input lent to wslay_event_recv() */
    size_t rlen;
    struct buf out; /* frames written during one flush */
    uint64_t last_in, close_at;
    unsigned idle_ms;
    unsigned deferred : 1, dead : 1, in_recv : 1, closing : 1, close_sent : 1, tcp_closing : 1,
        finished : 1, close_later : 1;
    uint16_t close_code; /* close_later: the close ws_close() was asked for while receiving */
    char close_reason[124];
    char peer[WS_PEER_LEN];
};

static void ws_arm(struct ws_conn *ws);

/* wslay's allocation failed: the out-of-memory policy of mem.h. */
static void ws_oom(void)
{
    fprintf(stderr, "gasket: out of memory in wslay\n");
    abort();
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    struct ws_conn *ws = ud;
    (void)flags;
    if (ws->rlen == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->rlen ? len : ws->rlen;
    memcpy(buf, ws->rp, n);
    ws->rp += n;
    ws->rlen -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    struct ws_conn *ws = ud;
    (void)ctx;
    (void)flags;
    buf_append(&ws->out, data, len);
    return (ssize_t)len;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *ud)
{
    struct ws_conn *ws = ud;
    (void)ctx;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME) return;
    if (ws->closing) return; /* we said goodbye */
    ws->h->on_message(ws, arg->msg ? (const void *)arg->msg : "", arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_on_msg,
};

/* ---- writing and closing ---- */

/* Writes what wslay has queued; closes the TCP connection once wslay wants
 * neither to read nor to write (close frames went both ways, or an error). */
static void ws_flush(struct ws_conn *ws)
{
    if (!ws->nc || ws->in_recv || ws->tcp_closing) return;
    int rc = wslay_event_send(ws->ctx);
    if (ws->out.len) net_conn_write(ws->nc, ws->out.data, ws->out.len);
    if (ws->out.cap > WS_OUT_KEEP)
        buf_free(&ws->out);
    else
        buf_reset(&ws->out);
    if (!ws->close_sent && wslay_event_get_close_sent(ws->ctx)) {
        ws->close_sent = 1;
        ws->close_at = uv_now(ws->timer.loop);
    }
    if (rc < 0 || (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))) {
        ws->tcp_closing = 1;
        net_conn_close(ws->nc);
    }
}

static int ws_queue(struct ws_conn *ws, uint8_t opcode, const void *p, size_t n)
{
    if (ws->closing || ws->dead || ws->finished || ws->tcp_closing) return GK_ECLOSED;
    struct wslay_event_msg msg = {.opcode = opcode, .msg = p, .msg_length = n};
    int rc = wslay_event_queue_msg(ws->ctx, &msg);
    if (rc == WSLAY_ERR_NOMEM) ws_oom();
    if (rc != 0) return GK_ECLOSED;
    ws_flush(ws);
    return 0;
}

int ws_send(struct ws_conn *ws, const void *p, size_t n)
{
    return ws_queue(ws, WSLAY_BINARY_FRAME, p, n);
}

int ws_send_text(struct ws_conn *ws, const char *p, size_t n)
{
    return ws_queue(ws, WSLAY_TEXT_FRAME, p, n);
}

static void queue_close(struct ws_conn *ws, uint16_t code, const char *reason)
{
    size_t len = reason ? strlen(reason) : 0;
    /* fails only when the peer's close is already answered */
    wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, len > 123 ? 123 : len);
    ws_flush(ws);
    ws_arm(ws);
}

void ws_close(struct ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->closing || ws->dead || ws->finished) return;
    ws->closing = 1;
    if (ws->in_recv) { /* wslay sends a close before queued messages: those go first */
        ws->close_later = 1;
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason ? reason : "");
        return;
    }
    queue_close(ws, code, reason);
}

/* ---- reading ---- */

static void ws_input(struct ws_conn *ws, const char *p, size_t n)
{
    if (ws->tcp_closing || !wslay_event_get_read_enabled(ws->ctx)) return;
    ws->last_in = uv_now(ws->timer.loop);
    ws->rp = p;
    ws->rlen = n;
    ws->in_recv = 1;
    int rc = wslay_event_recv(ws->ctx);
    ws->in_recv = 0;
    ws->rp = NULL;
    ws->rlen = 0;
    if (rc < 0) log_debug("ws: %s: receive failed (%d)", ws->peer, rc);
    ws_flush(ws); /* answers, pongs, close frames; a failed recv has disabled reading */
    if (ws->close_later) { /* asked for by a handler: after the answers it queued */
        ws->close_later = 0;
        queue_close(ws, ws->close_code, ws->close_reason[0] ? ws->close_reason : NULL);
    }
    ws_arm(ws);
}

static void ws_on_read(struct net_conn *nc, const char *data, size_t len)
{
    struct ws_conn *ws = net_conn_data(nc);
    if (ws->deferred) { /* the early bytes go first */
        buf_append(&ws->early, data, len);
        return;
    }
    ws_input(ws, data, len);
}

static void ws_free(uv_handle_t *h)
{
    struct ws_conn *ws = h->data;
    wslay_event_context_free(ws->ctx);
    buf_free(&ws->early);
    buf_free(&ws->out);
    free(ws);
}

static void ws_finish(struct ws_conn *ws)
{
    ws->finished = 1;
    ws->nc = NULL;
    ws->h->on_close(ws);
    uv_close((uv_handle_t *)&ws->timer, ws_free);
}

static void ws_on_close(struct net_conn *nc, int err)
{
    struct ws_conn *ws = net_conn_data(nc);
    (void)err;
    ws_finish(ws);
}

static const struct net_conn_handler ws_net_handler = {
    .on_read = ws_on_read,
    .on_close = ws_on_close,
};

/* ---- the timer ---- */

static uint64_t ws_deadline(struct ws_conn *ws)
{
    if (ws->deferred) return 0;
    if (!ws->nc || ws->tcp_closing) return UINT64_MAX;
    if (ws->close_sent) return ws->close_at + WS_CLOSE_TIMEOUT_MS;
    if (ws->closing || !ws->idle_ms) return UINT64_MAX;
    return ws->last_in + ws->idle_ms;
}

static void ws_on_timer(uv_timer_t *t)
{
    struct ws_conn *ws = t->data;
    if (ws->deferred) {
        ws->deferred = 0;
        if (ws->dead) {
            ws_finish(ws);
            return;
        }
        struct buf early = ws->early;
        memset(&ws->early, 0, sizeof(ws->early));
        ws_input(ws, early.data, early.len);
        buf_free(&early);
        ws_arm(ws);
        return;
    }
    if (ws_deadline(ws) > uv_now(t->loop)) {
        ws_arm(ws);
    } else if (ws->close_sent) {
        log_debug("ws: %s: no close frame in reply", ws->peer);
        ws->tcp_closing = 1;
        net_conn_close(ws->nc);
    } else {
        log_debug("ws: %s: idle timeout", ws->peer);
        ws_close(ws, 1001, "idle timeout");
    }
}

static void ws_arm(struct ws_conn *ws)
{
    uint64_t due = ws_deadline(ws), now = uv_now(ws->timer.loop);
    if (ws->finished) return;
    if (due == UINT64_MAX)
        uv_timer_stop(&ws->timer);
    else
        uv_timer_start(&ws->timer, ws_on_timer, due > now ? due - now : 0, 0);
}

static void ws_defer(struct ws_conn *ws)
{
    ws->deferred = 1;
    ws_arm(ws);
}

/* ---- the upgrade ---- */

static void ws_on_upgrade(void *ud, struct net_conn *nc, const char *data, size_t len)
{
    struct ws_conn *ws = ud;
    if (!nc) { /* the connection went first: on_close on the next turn */
        ws->dead = 1;
        ws_defer(ws);
        return;
    }
    ws->nc = nc;
    ws->last_in = uv_now(ws->timer.loop);
    net_conn_start(nc, &ws_net_handler, ws);
    if (len > 0) {
        buf_append(&ws->early, data, len);
        ws->deferred = 1;
    }
    ws_flush(ws); /* what was sent or closed before the upgrade */
    ws_arm(ws);
}

static struct ws_conn *ws_new(struct http_req *r, const struct ws_handler *h, void *ud)
{
    struct ws_conn *ws = xcalloc(1, sizeof(*ws));
    ws->h = h;
    ws->ud = ud;
    ws->idle_ms = h->idle_timeout_ms;
    snprintf(ws->peer, sizeof(ws->peer), "%s", http_req_peer(r));
    if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws) != 0) ws_oom();
    wslay_event_config_set_max_recv_msg_length(ws->ctx, h->max_message ? h->max_message
                                                                       : WS_DEFAULT_MAX_MESSAGE);
    uv_timer_init(http_req_loop(r), &ws->timer);
    ws->timer.data = ws;
    return ws;
}

static void ws_refuse(struct http_req *r, int status, const char *why)
{
    struct buf body = {0};
    const char *headers =
        status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : NULL;
    log_debug("ws: %s: %d %s", http_req_peer(r), status, why);
    buf_puts(&body, "{\"message\":");
    buf_json_str(&body, why, strlen(why));
    buf_putc(&body, '}');
    http_respond(r, status, headers, "application/json", body.data, body.len);
    buf_free(&body);
}

static void ws_format_head(struct buf *out, const char *key, const char *subprotocol)
{
    char accept[29];
    ws_accept_value(key, accept);
    buf_printf(out,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
               accept);
    if (subprotocol) buf_printf(out, "Sec-WebSocket-Protocol: %s\r\n", subprotocol);
    buf_puts(out, "\r\n");
}

int ws_accept(struct http_req *r, const char *subprotocol, const struct ws_handler *h, void *ud,
              struct ws_conn **out)
{
    struct ws_handshake hs = {
        .method = http_req_method_str(r),
        .upgrade = http_req_header(r, "Upgrade"),
        .connection = http_req_header(r, "Connection"),
        .version = http_req_header(r, "Sec-WebSocket-Version"),
        .key = http_req_header(r, "Sec-WebSocket-Key"),
        .protocol = http_req_header(r, "Sec-WebSocket-Protocol"),
    };
    int status;
    const char *why;
    *out = NULL;
    http_req_version(r, &hs.major, &hs.minor);
    if (ws_handshake_check(&hs, subprotocol, &status, &why) != 0 || !http_req_is_upgrade(r)) {
        ws_refuse(r, status ? status : 400, status ? why : "Not an upgrade request");
        return GK_EPROTO;
    }
    struct ws_conn *ws = ws_new(r, h, ud);
    struct buf head = {0};
    ws_format_head(&head, hs.key, subprotocol);
    *out = ws;
    http_upgrade(r, head.data, head.len, ws_on_upgrade, ws);
    buf_free(&head);
    return 0;
}

/* ---- accessors ---- */

void ws_set_idle_timeout(struct ws_conn *ws, unsigned ms)
{
    ws->idle_ms = ms;
    ws->last_in = uv_now(ws->timer.loop);
    ws_arm(ws);
}

void *ws_data(struct ws_conn *ws)
{
    return ws->ud;
}

void ws_set_data(struct ws_conn *ws, void *ud)
{
    ws->ud = ud;
}

const char *ws_peer(struct ws_conn *ws)
{
    return ws->peer;
}

void ws_pause(struct ws_conn *ws)
{
    if (ws->nc) net_conn_pause(ws->nc);
}

void ws_resume(struct ws_conn *ws)
{
    if (ws->nc) net_conn_resume(ws->nc);
}

size_t ws_pending(struct ws_conn *ws)
{
    return ws->nc ? net_conn_pending(ws->nc) : 0;
}

/* ---- the handshake (pure) ---- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Narrows [*p, *p + n) to its part without surrounding whitespace. */
static size_t trim(const char **p, size_t n)
{
    while (n > 0 && is_ows(**p)) {
        (*p)++;
        n--;
    }
    while (n > 0 && is_ows((*p)[n - 1]))
        n--;
    return n;
}

int ws_token_list_has(const char *list, const char *token, int nocase)
{
    size_t tlen = strlen(token);
    for (const char *p = list; p;) {
        const char *comma = strchr(p, ',');
        const char *item = p;
        size_t n = trim(&item, comma ? (size_t)(comma - p) : strlen(p));
        if (n == tlen && n > 0 &&
            (nocase ? strncasecmp(item, token, n) : strncmp(item, token, n)) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int b64_value(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

int ws_key_valid(const char *key)
{
    size_t n = trim(&key, strlen(key));
    if (n != 24 || key[22] != '=' || key[23] != '=') return 0;
    for (int i = 0; i < 21; i++) {
        if (b64_value(key[i]) < 0) return 0;
    }
    int last = b64_value(key[21]); /* holds the last 2 bits of byte 16 */
    return last >= 0 && (last & 15) == 0;
}

void ws_accept_value(const char *key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    struct buf in = {0};
    size_t n = trim(&key, strlen(key));
    buf_append(&in, key, n);
    buf_puts(&in, WS_GUID);
    if (EVP_Digest(in.data, in.len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        abort(); /* SHA-1 is always there */
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    buf_free(&in);
}

static int refuse(int *status, const char **why, int code, const char *text)
{
    *status = code;
    *why = text;
    return GK_EPROTO;
}

int ws_handshake_check(const struct ws_handshake *hs, const char *subprotocol, int *status,
                       const char **why)
{
    *status = 0;
    *why = NULL;
    if (!hs->method || strcmp(hs->method, "GET") != 0)
        return refuse(status, why, 400, "A WebSocket handshake is a GET");
    if (hs->major < 1 || (hs->major == 1 && hs->minor < 1))
        return refuse(status, why, 400, "A WebSocket handshake needs HTTP/1.1");
    if (!ws_token_list_has(hs->upgrade, "websocket", 1))
        return refuse(status, why, 426, "Upgrade: websocket required");
    if (!ws_token_list_has(hs->connection, "upgrade", 1))
        return refuse(status, why, 400, "Connection: Upgrade required");
    if (!ws_token_list_has(hs->version, "13", 0))
        return refuse(status, why, 426, "Sec-WebSocket-Version 13 required");
    if (!hs->key) return refuse(status, why, 400, "Sec-WebSocket-Key missing");
    if (!ws_key_valid(hs->key))
        return refuse(status, why, 400, "Sec-WebSocket-Key is not a base64 16-byte nonce");
    if (subprotocol && !ws_token_list_has(hs->protocol, subprotocol, 0))
        return refuse(status, why, 400, "WebSocket subprotocol not offered");
    return 0;
}
