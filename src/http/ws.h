/* ws.h: WebSocket (RFC 6455) server connections over the HTTP server.
 *
 * A handler that receives an upgrade request calls ws_accept(): the
 * handshake is checked (a bad one is answered 400 or 426 with a JSON
 * {"message":...} and the request is released), otherwise the 101 is queued
 * with http_upgrade() and a ws_conn is returned at once. Frames are parsed
 * and written by wslay: messages arrive whole (fragments reassembled, up to
 * a size limit, close 1009 above it), pings are answered, client frames that
 * are not masked close with 1002, invalid UTF-8 in text with 1007, and the
 * close handshake is completed (the TCP connection closes once close frames
 * went both ways, or WS_CLOSE_TIMEOUT_MS after ours).
 *
 * Lifetimes follow net.h: on_close is the last callback, always called once
 * (also when the connection died before the upgrade), and the ws_conn is
 * freed when it returns. No callback runs inside ws_accept(); bytes that
 * came with the request are handled on a later loop turn. ws_send() and
 * ws_close() may be called from any callback. Loop thread only. Once
 * upgraded, a connection is no longer the HTTP server's: http_server_close()
 * leaves it open, its owner closes it (ws_close()).
 *
 * The pure handshake helpers below are exported for the tests and the fuzz
 * target (tests/fuzz/fuzz_ws_handshake.c). */
#ifndef GASKET_HTTP_WS_H
#define GASKET_HTTP_WS_H

#include <stddef.h>
#include <stdint.h>

struct http_req;
struct ws_conn;

#define WS_DEFAULT_MAX_MESSAGE (1u << 20)
#define WS_CLOSE_TIMEOUT_MS    5000

struct ws_handler {
    /* A complete text or binary message; data is valid during the call. */
    void (*on_message)(struct ws_conn *ws, const void *data, size_t len);
    /* Last callback; ws is freed when it returns. */
    void (*on_close)(struct ws_conn *ws);
    size_t max_message;       /* bytes; 0 means WS_DEFAULT_MAX_MESSAGE */
    unsigned idle_timeout_ms; /* nothing received for this long closes with 1001; 0: never */
};

/* Answers the upgrade request r. With subprotocol non-NULL the client must
 * offer it in Sec-WebSocket-Protocol, and it is echoed. On success returns 0
 * with *out set (h must outlive the connection); otherwise r has been
 * answered 400/426, *out is NULL and GK_EPROTO is returned. Either way r
 * must not be used afterwards. */
int ws_accept(struct http_req *r, const char *subprotocol, const struct ws_handler *h, void *ud,
              struct ws_conn **out);
/* Queues one binary (ws_send) or text (ws_send_text, p must be UTF-8)
 * message, copied. Returns 0, or GK_ECLOSED once a close frame was queued or
 * the connection is gone. */
int ws_send(struct ws_conn *ws, const void *p, size_t n);
int ws_send_text(struct ws_conn *ws, const char *p, size_t n);
/* Starts the close handshake with code (1000-1003, 1007-1011, 3000-4999; 0
 * sends no code) and reason (NULL, or UTF-8, cut at 123 bytes). Messages
 * still arriving are dropped. Does nothing when already closing. */
void ws_close(struct ws_conn *ws, uint16_t code, const char *reason);
/* Replaces the handler's idle timeout (0: none), counted from now. */
void ws_set_idle_timeout(struct ws_conn *ws, unsigned ms);
void *ws_data(struct ws_conn *ws);
void ws_set_data(struct ws_conn *ws, void *ud);
/* The client's address, as http_req_peer(). */
const char *ws_peer(struct ws_conn *ws);
/* Bytes written and not yet handed to the kernel (for back-pressure). */
size_t ws_pending(struct ws_conn *ws);
/* Stops and restarts reading the connection (back-pressure from the
 * receiver: frames already read are still delivered). */
void ws_pause(struct ws_conn *ws);
void ws_resume(struct ws_conn *ws);

/* ---- pure handshake helpers ---- */

/* The request fields the handshake depends on; NULL when absent. */
struct ws_handshake {
    const char *method; /* "GET" */
    unsigned major, minor;
    const char *upgrade, *connection, *version, *key, *protocol;
};

/* Checks a client handshake (RFC 6455 4.2.1). Returns 0, or GK_EPROTO with
 * *status (400, or 426 for a missing websocket upgrade or a version other
 * than 13) and *why (a static text) set. */
int ws_handshake_check(const struct ws_handshake *hs, const char *subprotocol, int *status,
                       const char **why);
/* 1 when the comma-separated header value list holds token (whitespace
 * around items ignored; ASCII case-insensitive when nocase), else 0. */
int ws_token_list_has(const char *list, const char *token, int nocase);
/* 1 when key is a base64 16-byte nonce (24 characters, canonical). */
int ws_key_valid(const char *key);
/* Sec-WebSocket-Accept for a (valid) key: base64(SHA-1(key GUID)). */
void ws_accept_value(const char *key, char out[29]);

#endif
