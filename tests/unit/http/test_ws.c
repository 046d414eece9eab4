/* test_ws.c: unit tests for src/http/ws.c and the upgrade path of the HTTP
 * server: a real server on 127.0.0.1:0 in a libuv loop on the main thread,
 * and a client thread that does the handshake and writes masked frames by
 * hand (net/test_client.h). The server echoes every message back as binary;
 * "close-me" makes it start the close handshake. Every test checks that
 * each accepted connection got exactly one on_close and that the loop ends
 * with nothing left open. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "http/ws.h"
#include "net/net.h"
#include "net/test_client.h"
#include "test.h"

#define RFC_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 1.3 */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BIN = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    struct net_tls *tls;
    int port;
    uv_async_t done;
    uv_timer_t poll;
    pthread_t th;
    void (*client)(struct fx *);
    struct http_req *slow, *late; /* held requests, see poll_cb() */
    uint64_t slow_at;
    int accepted, refused, closed, messages, send_after_close;
    int raw_upgraded, raw_refused, raw_closed; /* http_upgrade() without ws.c */
    int statuses[32], nstatus;
    char tmp[64];
};

/* ---- server side (loop thread) ---- */

static void on_message(struct ws_conn *ws, const void *data, size_t len)
{
    struct fx *f = ws_data(ws);
    f->messages++;
    if (len == 11 && memcmp(data, "reply-close", 11) == 0) { /* an answer, then a close */
        CHECK_EQ_INT(ws_send(ws, "last words", 10), 0);
        ws_close(ws, 1008, "done");
        return;
    }
    if (len == 8 && memcmp(data, "close-me", 8) == 0) {
        ws_close(ws, 1000, "bye");
        f->send_after_close = ws_send(ws, "x", 1);
        return;
    }
    CHECK_EQ_INT(ws_send(ws, data, len), 0);
}

static void on_close(struct ws_conn *ws)
{
    struct fx *f = ws_data(ws);
    __atomic_add_fetch(&f->closed, 1, __ATOMIC_SEQ_CST);
}

static const struct ws_handler echo_h = {on_message, on_close, 2u << 20, 0};
static const struct ws_handler small_h = {on_message, on_close, 1000, 0};
static const struct ws_handler idle_h = {on_message, on_close, 0, 150};

static void accept_ws(struct fx *f, struct http_req *r, const char *proto,
                      const struct ws_handler *h)
{
    struct ws_conn *ws;
    int rc = ws_accept(r, proto, h, f, &ws);
    if (rc == 0) {
        CHECK(ws != NULL);
        CHECK(strncmp(ws_peer(ws), "127.0.0.1:", 10) == 0);
        f->accepted++;
    } else {
        CHECK_EQ_INT(rc, GK_EPROTO);
        CHECK(ws == NULL);
        f->refused++;
    }
}

/* A raw echo protocol, to test http_upgrade() on its own. */
static void raw_on_read(struct net_conn *nc, const char *data, size_t len)
{
    net_conn_write(nc, data, len);
}

static void raw_on_close(struct net_conn *nc, int err)
{
    struct fx *f = net_conn_data(nc);
    (void)err;
    f->raw_closed++;
}

static const struct net_conn_handler raw_handler = {.on_read = raw_on_read,
                                                    .on_close = raw_on_close};

static void raw_upgraded(void *ud, struct net_conn *nc, const char *data, size_t len)
{
    struct fx *f = ud;
    if (!nc) {
        f->raw_refused++;
        return;
    }
    f->raw_upgraded++;
    net_conn_start(nc, &raw_handler, f);
    net_conn_write(nc, "early:", 6);
    net_conn_write(nc, data, len);
}

static void handler(void *ud, struct http_req *r)
{
    struct fx *f = ud;
    const char *path = http_req_path(r);
    if (strcmp(path, "/raw") == 0) {
        static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                                   "Connection: Upgrade\r\n\r\n";
        http_upgrade(r, head, sizeof(head) - 1, raw_upgraded, f);
    } else if (strcmp(path, "/ws") == 0) {
        accept_ws(f, r, NULL, &echo_h);
    } else if (strcmp(path, "/mqtt") == 0) {
        accept_ws(f, r, "mqtt", &echo_h);
    } else if (strcmp(path, "/small") == 0) {
        accept_ws(f, r, NULL, &small_h);
    } else if (strcmp(path, "/idle") == 0) {
        accept_ws(f, r, NULL, &idle_h);
    } else if (strcmp(path, "/slow") == 0) {
        f->slow = r;
        f->slow_at = uv_now(&f->loop);
    } else if (strcmp(path, "/late") == 0) {
        f->late = r;
    } else {
        http_respond(r, 200, NULL, "text/plain", "plain", 5);
    }
}

static void on_response(void *ud, const struct http_req *r, int status)
{
    struct fx *f = ud;
    (void)r;
    if (f->nstatus < 32) f->statuses[f->nstatus++] = status;
}

/* /slow is answered after 50 ms; /late is accepted once its connection is
 * gone (the upgrade then never happens). */
static void poll_cb(uv_timer_t *t)
{
    struct fx *f = t->data;
    if (f->slow && uv_now(&f->loop) - f->slow_at >= 50) {
        http_respond(f->slow, 200, NULL, "text/plain", "slow", 4);
        f->slow = NULL;
    }
    if (f->late && http_server_connections(f->srv) == 0) {
        accept_ws(f, f->late, NULL, &echo_h);
        f->late = NULL;
    }
}

static void done_cb(uv_async_t *a)
{
    struct fx *f = a->data;
    CHECK(!f->slow && !f->late);
    uv_close((uv_handle_t *)&f->poll, NULL);
    uv_close((uv_handle_t *)a, NULL);
    http_server_stop_accepting(f->srv);
    http_server_close(f->srv);
}

static void *client_main(void *arg)
{
    struct fx *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void fx_run(struct fx *f, void (*client)(struct fx *))
{
    struct http_server_options opt = {.handler = handler, .on_response = on_response, .ud = f};
    http_limits_default(&opt.limits);
    uv_loop_init(&f->loop);
    CHECK_EQ_INT(http_server_new(&f->srv, &f->loop, &opt), 0);
    CHECK_EQ_INT(http_server_listen(f->srv, "127.0.0.1:0", f->tls), 0);
    f->port = atoi(strrchr(http_server_addr(f->srv, 0), ':') + 1);
    uv_async_init(&f->loop, &f->done, done_cb);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->poll);
    f->poll.data = f;
    uv_timer_start(&f->poll, poll_cb, 10, 10);
    f->client = client;
    pthread_create(&f->th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* ends when every connection is closed */
    pthread_join(f->th, NULL);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    CHECK_EQ_INT(f->closed, f->accepted);
}

static int has_status(struct fx *f, int status)
{
    for (int i = 0; i < f->nstatus; i++) {
        if (f->statuses[i] == status) return 1;
    }
    return 0;
}

/* ---- client side: frames by hand ---- */

static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* One frame (masked unless told otherwise) in a malloc'ed buffer. */
static char *frame(int fin, int op, const void *p, size_t n, int masked, size_t *out_len)
{
    unsigned char *b = malloc(n + 14), *h = b;
    *h++ = (unsigned char)((fin ? 0x80 : 0) | op);
    unsigned char m = masked ? 0x80 : 0;
    if (n < 126) {
        *h++ = (unsigned char)(m | n);
    } else if (n < 65536) {
        *h++ = m | 126;
        *h++ = (unsigned char)(n >> 8);
        *h++ = (unsigned char)n;
    } else {
        *h++ = m | 127;
        for (int i = 7; i >= 0; i--)
            *h++ = (unsigned char)((uint64_t)n >> (8 * i));
    }
    if (masked) {
        memcpy(h, mask_key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        h[i] = ((const unsigned char *)p)[i] ^ (masked ? mask_key[i % 4] : 0);
    *out_len = (size_t)(h - b) + n;
    return (char *)b;
}

static int send_frame_ex(struct cl *c, int fin, int op, const void *p, size_t n, int masked)
{
    size_t len;
    char *b = frame(fin, op, p, n, masked, &len);
    int rc = cl_send_n(c, b, len);
    free(b);
    return rc;
}

static int send_frame(struct cl *c, int fin, int op, const void *p, size_t n)
{
    return send_frame_ex(c, fin, op, p, n, 1);
}

/* Reads one server frame (never masked, always final here); returns its
 * opcode or -1. *p is malloc'ed (NUL-terminated). */
static int recv_frame(struct cl *c, char **p, size_t *n)
{
    unsigned char h[8];
    *p = NULL;
    *n = 0;
    if (cl_read_exact(c, (char *)h, 2) != 0) return -1;
    if (!(h[0] & 0x80) || (h[1] & 0x80)) return -1;
    int op = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    int ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if (ext) {
        if (cl_read_exact(c, (char *)h, (size_t)ext) != 0) return -1;
        len = 0;
        for (int i = 0; i < ext; i++)
            len = len << 8 | h[i];
    }
    *p = malloc(len + 1);
    if (cl_read_exact(c, *p, len) != 0) return -1;
    (*p)[len] = '\0';
    *n = len;
    return op;
}

/* Expects a close frame with that code; 0 or -1. */
static int expect_close(struct cl *c, int code)
{
    char *p;
    size_t n;
    int op = recv_frame(c, &p, &n);
    int got = n >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 0;
    free(p);
    if (op != OP_CLOSE || got != code) {
        fprintf(stderr, "expected close %d, got opcode %d code %d\n", code, op, got);
        return -1;
    }
    return 0;
}

/* Expects a frame with that opcode and payload; 0 or -1. */
static int expect_frame(struct cl *c, int op, const void *want, size_t len)
{
    char *p;
    size_t n;
    int got = recv_frame(c, &p, &n);
    int ok = got == op && n == len && memcmp(p, want, len) == 0;
    if (!ok) fprintf(stderr, "expected opcode %d (%zu bytes), got %d (%zu)\n", op, len, got, n);
    free(p);
    return ok ? 0 : -1;
}

static void upgrade_request(char *out, size_t len, const char *path, const char *extra)
{
    snprintf(out, len,
             "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra ? extra : "");
}

/* Sends the handshake and reads the answer; returns its status or -1. */
static int upgrade(struct cl *c, const char *path, const char *extra, struct cl_resp *r)
{
    char req[1024];
    upgrade_request(req, sizeof(req), path, extra);
    if (cl_send(c, req) != 0 || cl_response(c, r) != 0) return -1;
    return r->status;
}

/* The client's side of the close handshake, then the server's TCP close. */
static void close_handshake(struct cl *c)
{
    CHECK_EQ_INT(send_frame(c, 1, OP_CLOSE,
                            "\x03\xe8"
                            "done",
                            6),
                 0);
    CHECK_EQ_INT(expect_close(c, 1000), 0);
    CHECK_EQ_INT(cl_wait_close(c), 0);
}

static int head_is(const struct cl_resp *r, const char *name, const char *value)
{
    char v[256];
    return cl_header(r->head, name, v, sizeof(v)) == 0 && strcmp(v, value) == 0;
}

/* ---- handshake ---- */

static void client_handshake(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    CHECK(strstr(r.head, "HTTP/1.1 101 Switching Protocols\r\n") == r.head);
    CHECK(head_is(&r, "Sec-WebSocket-Accept", RFC_ACCEPT));
    CHECK(head_is(&r, "Upgrade", "websocket"));
    CHECK(head_is(&r, "Connection", "Upgrade"));
    CHECK(strstr(r.head, "Sec-WebSocket-Protocol") == NULL);
    CHECK(strstr(r.head, "Content-Length") == NULL);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, "hi", 2), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "hi", 2), 0);
    close_handshake(&c);
    cl_close(&c);
}

static void test_handshake(void)
{
    struct fx f = {0};
    fx_run(&f, client_handshake);
    CHECK_EQ_INT(f.accepted, 1);
    CHECK_EQ_INT(f.messages, 1);
    CHECK(has_status(&f, 101));
    CHECK_EQ_INT(f.nstatus, 1);
}

/* ---- messages ---- */

static void client_sizes(struct fx *f)
{
    static const size_t sizes[] = {0, 125, 126, 65535, 65536, 1u << 20};
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    char *p = malloc(1u << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        p[i] = (char)(i * 7 % 251);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, p, sizes[i]), 0);
        CHECK_EQ_INT(expect_frame(&c, OP_BIN, p, sizes[i]), 0);
    }
    free(p);
    close_handshake(&c);
    cl_close(&c);
}

static void test_echo_sizes(void)
{
    struct fx f = {0};
    fx_run(&f, client_sizes);
    CHECK_EQ_INT(f.messages, 6);
}

static void client_fragments(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    CHECK_EQ_INT(send_frame(&c, 0, OP_BIN, "Hel", 3), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_PING, "p1", 2), 0); /* between fragments */
    CHECK_EQ_INT(send_frame(&c, 0, OP_CONT, "lo, ", 4), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_CONT, "world", 5), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_PONG, "p1", 2), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "Hello, world", 12), 0);
    CHECK_EQ_INT(send_frame(&c, 0, OP_TEXT, "caf\xc3", 4), 0); /* UTF-8 split across frames */
    CHECK_EQ_INT(send_frame(&c, 1, OP_CONT, "\xa9", 1), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "caf\xc3\xa9", 5), 0);
    close_handshake(&c);
    cl_close(&c);
}

static void test_fragmented(void)
{
    struct fx f = {0};
    fx_run(&f, client_fragments);
    CHECK_EQ_INT(f.messages, 2);
}

static void client_ping(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    CHECK_EQ_INT(send_frame(&c, 1, OP_PING, "abc", 3), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_PONG, "abc", 3), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_PING, "", 0), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_PONG, "", 0), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_PONG, "unsolicited", 11), 0); /* ignored */
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, "x", 1), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "x", 1), 0);
    close_handshake(&c);
    cl_close(&c);
}

static void test_ping(void)
{
    struct fx f = {0};
    fx_run(&f, client_ping);
    CHECK_EQ_INT(f.messages, 1);
}

/* ---- closing ---- */

/* Sends msg, which makes the server close: expects the answer queued
 * before the close first (when not NULL), then the close frame `close`
 * (code and reason, n bytes), and completes the handshake. */
static void closed_after(struct fx *f, const char *msg, const char *answer, const char *close,
                         size_t n)
{
    struct cl c;
    struct cl_resp r;
    char *p;
    size_t got;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, msg, strlen(msg)), 0);
    if (answer)
        CHECK_EQ_INT(expect_frame(&c, OP_BIN, answer, strlen(answer)), 0);
    CHECK_EQ_INT(recv_frame(&c, &p, &got), OP_CLOSE);
    CHECK(got == n && memcmp(p, close, n) == 0);
    free(p);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, "dropped", 7), 0); /* after the server's close */
    CHECK_EQ_INT(send_frame(&c, 1, OP_CLOSE, close, 2), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void client_server_close(struct fx *f)
{
    closed_after(f, "close-me", NULL, "\x03\xe8" "bye", 5);
    /* A close asked for while a message is handled goes after the answer
     * the handler queued before it (wslay alone would send the close first
     * and drop the answer: an MQTT CONNACK refusing a CONNECT over
     * WebSocket). */
    closed_after(f, "reply-close", "last words", "\x03\xf0" "done", 6);
}

static void test_server_close(void)
{
    struct fx f = {0};
    fx_run(&f, client_server_close);
    CHECK_EQ_INT(f.messages, 2);
    CHECK_EQ_INT(f.send_after_close, GK_ECLOSED);
}

static void client_unmasked(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/ws", NULL, &r), 101);
    CHECK_EQ_INT(send_frame_ex(&c, 1, OP_BIN, "plain", 5, 0), 0);
    CHECK_EQ_INT(expect_close(&c, 1002), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_unmasked(void)
{
    struct fx f = {0};
    fx_run(&f, client_unmasked);
    CHECK_EQ_INT(f.messages, 0);
}

static void client_too_big(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char big[1001];
    memset(big, 'b', sizeof(big));
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/small", NULL, &r), 101);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, big, 1000), 0); /* the limit itself is fine */
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, big, 1000), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, big, 1001), 0);
    CHECK_EQ_INT(expect_close(&c, 1009), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
    /* the same over fragments */
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/small", NULL, &r), 101);
    CHECK_EQ_INT(send_frame(&c, 0, OP_BIN, big, 600), 0);
    CHECK_EQ_INT(send_frame(&c, 1, OP_CONT, big, 600), 0);
    CHECK_EQ_INT(expect_close(&c, 1009), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_too_big(void)
{
    struct fx f = {0};
    fx_run(&f, client_too_big);
    CHECK_EQ_INT(f.accepted, 2);
    CHECK_EQ_INT(f.messages, 1);
}

static void client_idle(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char *p;
    size_t n;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/idle", NULL, &r), 101);
    long start = cl_now_ms();
    CHECK_EQ_INT(recv_frame(&c, &p, &n), OP_CLOSE);
    CHECK(n > 2 && memcmp(p,
                          "\x03\xe9"
                          "idle timeout",
                          n) == 0);
    free(p);
    CHECK(cl_now_ms() - start >= 140);
    CHECK_EQ_INT(send_frame(&c, 1, OP_CLOSE, "\x03\xe9", 2), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_idle_timeout(void)
{
    struct fx f = {0};
    fx_run(&f, client_idle);
    CHECK_EQ_INT(f.accepted, 1);
}

/* ---- refused handshakes ---- */

static int json_message_is(const struct cl_resp *r, const char *message)
{
    char want[256];
    snprintf(want, sizeof(want), "{\"message\":\"%s\"}", message);
    return strcmp(r->body, want) == 0 && head_is(r, "Content-Type", "application/json");
}

/* A refused upgrade request closes its connection, as any upgrade request
 * answered with something else than a 101. */
static void refused(struct fx *f, const char *req, int status, const char *message)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, req), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, status);
    CHECK(json_message_is(&r, message));
    CHECK(head_is(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void client_refusals(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char v[64];
    refused(f,
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n",
            426, "Sec-WebSocket-Version 13 required");
    refused(f,
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n",
            400, "Sec-WebSocket-Key missing");
    refused(f,
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400, "Sec-WebSocket-Key is not a base64 16-byte nonce");
    refused(f,
            "POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400, "A WebSocket handshake is a GET");
    /* the 426 names the version */
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                             "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n"),
                 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 426);
    CHECK(cl_header(r.head, "Sec-WebSocket-Version", v, sizeof(v)) == 0 && strcmp(v, "13") == 0);
    cl_close(&c);
    /* no Connection: Upgrade: not an upgrade for HTTP, the connection stays */
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " RFC_KEY
                             "\r\nSec-WebSocket-Version: 13\r\n\r\nGET /plain HTTP/1.1\r\n\r\n"),
                 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 400);
    CHECK(json_message_is(&r, "Connection: Upgrade required"));
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "plain");
    cl_close(&c);
}

static void test_refusals(void)
{
    struct fx f = {0};
    fx_run(&f, client_refusals);
    CHECK_EQ_INT(f.accepted, 0);
    CHECK_EQ_INT(f.refused, 6);
}

/* A handler that answers an upgrade request normally: the answer goes out,
 * the connection closes and what followed the request is dropped. */
static void client_not_upgraded(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[1024];
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    upgrade_request(req, sizeof(req), "/plain", NULL);
    strcat(req, "GET /plain HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(cl_send(&c, req), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(head_is(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_not_upgraded(void)
{
    struct fx f = {0};
    fx_run(&f, client_not_upgraded);
    CHECK_EQ_INT(f.nstatus, 1);
}

static void client_subprotocol(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/mqtt", "Sec-WebSocket-Protocol: chat, mqtt\r\n", &r), 101);
    CHECK(head_is(&r, "Sec-WebSocket-Protocol", "mqtt"));
    CHECK(head_is(&r, "Sec-WebSocket-Accept", RFC_ACCEPT));
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, "\x10\x00", 2), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "\x10\x00", 2), 0);
    close_handshake(&c);
    cl_close(&c);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/mqtt", NULL, &r), 400);
    CHECK(json_message_is(&r, "WebSocket subprotocol not offered"));
    cl_close(&c);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(upgrade(&c, "/mqtt", "Sec-WebSocket-Protocol: mqttv3.1\r\n", &r), 400);
    cl_close(&c);
}

static void test_subprotocol(void)
{
    struct fx f = {0};
    fx_run(&f, client_subprotocol);
    CHECK_EQ_INT(f.accepted, 1);
    CHECK_EQ_INT(f.refused, 2);
}

/* ---- what surrounds the upgrade request ---- */

/* Frames in the same packet as the handshake belong to the WebSocket. */
static void client_early(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[4096];
    size_t n1, n2;
    upgrade_request(req, sizeof(req), "/ws", NULL);
    size_t len = strlen(req);
    char *a = frame(1, OP_BIN, "early", 5, 1, &n1), *b = frame(1, OP_PING, "pp", 2, 1, &n2);
    memcpy(req + len, a, n1);
    memcpy(req + len + n1, b, n2);
    free(a);
    free(b);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send_n(&c, req, len + n1 + n2), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 101);
    /* wslay sends control frames first when both are queued at once */
    CHECK_EQ_INT(expect_frame(&c, OP_PONG, "pp", 2), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "early", 5), 0);
    close_handshake(&c);
    cl_close(&c);
}

static void test_early_bytes(void)
{
    struct fx f = {0};
    fx_run(&f, client_early);
    CHECK_EQ_INT(f.messages, 1);
}

/* A request before the upgrade, answered 50 ms later, is answered first. */
static void client_pipelined(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[4096] = "GET /slow HTTP/1.1\r\n\r\n";
    size_t n;
    size_t off = strlen(req);
    upgrade_request(req + off, sizeof(req) - off, "/ws", NULL);
    off += strlen(req + off);
    char *a = frame(1, OP_BIN, "after", 5, 1, &n);
    memcpy(req + off, a, n);
    free(a);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send_n(&c, req, off + n), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "slow");
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 101);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "after", 5), 0);
    close_handshake(&c);
    cl_close(&c);
}

static void test_pipelined(void)
{
    struct fx f = {0};
    fx_run(&f, client_pipelined);
    CHECK_EQ_INT(f.nstatus, 2);
    CHECK_EQ_INT(f.statuses[0], 200);
    CHECK_EQ_INT(f.statuses[1], 101);
}

/* Sends a slow request then the upgrade, and resets the connection: the
 * upgrade fails (with the 101 written into the reset connection, or not at
 * all), and on_close still comes once. */
static void gone_before_upgrade(struct fx *f, const char *path, int closed)
{
    struct cl c;
    char req[2048] = "GET /slow HTTP/1.1\r\n\r\n";
    struct linger lg = {1, 0};
    upgrade_request(req + strlen(req), sizeof(req) - strlen(req), path, NULL);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, req), 0);
    cl_sleep_ms(20);
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    cl_close(&c);
    for (int i = 0; i < 500 && __atomic_load_n(&f->closed, __ATOMIC_SEQ_CST) < closed; i++)
        cl_sleep_ms(10);
}

static void client_gone(struct fx *f)
{
    gone_before_upgrade(f, "/ws", 1);   /* accepted, waiting for /slow */
    gone_before_upgrade(f, "/late", 2); /* accepted after the connection went */
}

/* http_upgrade() on its own: the 101, the early bytes, then the new owner's
 * handler; on a request that is no upgrade it answers 500 and passes NULL. */
static void client_raw(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char got[32] = {0};
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(
        cl_send(&c, "GET /raw HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nabc"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 101);
    CHECK(head_is(&r, "Upgrade", "echo"));
    CHECK_EQ_INT(cl_read_exact(&c, got, 9), 0);
    CHECK_EQ_STR(got, "early:abc");
    CHECK_EQ_INT(cl_send(&c, "GET / HTTP/1.1\r\n\r\n"), 0); /* no HTTP any more */
    memset(got, 0, sizeof(got));
    CHECK_EQ_INT(cl_read_exact(&c, got, 16), 0);
    CHECK_EQ_STR(got, "GET / HTTP/1.1\r\n");
    cl_close(&c);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /raw HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 500);
    cl_close(&c);
}

static void test_raw_upgrade(void)
{
    struct fx f = {0};
    log_set_level(LOG_ERROR); /* the misuse is logged */
    fx_run(&f, client_raw);
    log_set_level(LOG_WARN);
    CHECK_EQ_INT(f.raw_upgraded, 1);
    CHECK_EQ_INT(f.raw_refused, 1);
    CHECK_EQ_INT(f.raw_closed, 1);
    CHECK_EQ_INT(f.nstatus, 2);
}

static void test_gone_before_upgrade(void)
{
    struct fx f = {0};
    fx_run(&f, client_gone);
    CHECK_EQ_INT(f.accepted, 2);
    CHECK_EQ_INT(f.closed, 2);
}

/* ---- TLS ---- */

static void client_tls(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char ca[128], req[4096];
    size_t n;
    snprintf(ca, sizeof(ca), "%s/cert.pem", f->tmp);
    upgrade_request(req, sizeof(req), "/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n");
    size_t len = strlen(req);
    char *a = frame(1, OP_BIN, "early", 5, 1, &n);
    memcpy(req + len, a, n);
    free(a);
    CHECK_EQ_INT(cl_connect_tls(&c, f->port, ca, NULL, NULL), 0);
    CHECK_EQ_INT(cl_send_n(&c, req, len + n), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 101);
    CHECK(head_is(&r, "Sec-WebSocket-Accept", RFC_ACCEPT));
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, "early", 5), 0);
    char *big = malloc(70000);
    memset(big, 'z', 70000);
    CHECK_EQ_INT(send_frame(&c, 1, OP_BIN, big, 70000), 0);
    CHECK_EQ_INT(expect_frame(&c, OP_BIN, big, 70000), 0);
    free(big);
    close_handshake(&c); /* with the TLS close_notify */
    cl_close(&c);
}

static void test_tls(void)
{
    struct fx f = {0};
    char cmd[512], cert[128], key[128], err[256];
    snprintf(f.tmp, sizeof(f.tmp), "/tmp/gasket-ws-XXXXXX");
    CHECK(mkdtemp(f.tmp) != NULL);
    snprintf(cert, sizeof(cert), "%s/cert.pem", f.tmp);
    snprintf(key, sizeof(key), "%s/key.pem", f.tmp);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null",
             key, cert);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(net_tls_new(&f.tls, cert, key, NULL, err, sizeof(err)), 0);
    fx_run(&f, client_tls);
    CHECK_EQ_INT(f.accepted, 1);
    CHECK_EQ_INT(f.messages, 2);
    net_tls_free(f.tls);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.tmp);
    CHECK_EQ_INT(system(cmd), 0);
}

/* ---- pure parts ---- */

static void test_tokens(void)
{
    CHECK(ws_token_list_has("Upgrade", "upgrade", 1));
    CHECK(ws_token_list_has("keep-alive, Upgrade", "upgrade", 1));
    CHECK(ws_token_list_has(" keep-alive ,\tUPGRADE\t", "upgrade", 1));
    CHECK(!ws_token_list_has("keep-alive, Upgrade", "upgrade", 0));
    CHECK(!ws_token_list_has("upgrades", "upgrade", 1));
    CHECK(!ws_token_list_has("", "upgrade", 1));
    CHECK(!ws_token_list_has(",,", "upgrade", 1));
    CHECK(!ws_token_list_has(NULL, "upgrade", 1));
    CHECK(ws_token_list_has("chat, mqtt", "mqtt", 0));
    CHECK(!ws_token_list_has("chat, MQTT", "mqtt", 0));
}

static void test_keys(void)
{
    char out[29];
    CHECK(ws_key_valid(RFC_KEY));
    CHECK(ws_key_valid(" " RFC_KEY " "));
    CHECK(ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA=="));
    CHECK(!ws_key_valid("AAAAAAAAAAAAAAAAAAAAAB==")); /* not canonical */
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==="));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25j*Q=="));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA"));
    CHECK(!ws_key_valid(""));
    ws_accept_value(RFC_KEY, out);
    CHECK_EQ_STR(out, RFC_ACCEPT);
}

static void test_handshake_check(void)
{
    struct ws_handshake hs = {"GET", 1, 1, "websocket", "Upgrade", "13", RFC_KEY, NULL};
    int status;
    const char *why;
    CHECK_EQ_INT(ws_handshake_check(&hs, NULL, &status, &why), 0);
    CHECK_EQ_INT(ws_handshake_check(&hs, "mqtt", &status, &why), GK_EPROTO);
    CHECK_EQ_INT(status, 400);
    hs.protocol = "mqtt";
    CHECK_EQ_INT(ws_handshake_check(&hs, "mqtt", &status, &why), 0);
    hs.major = 2;
    hs.minor = 0;
    CHECK_EQ_INT(ws_handshake_check(&hs, "mqtt", &status, &why), 0);
    hs.major = 1;
    hs.minor = 0;
    CHECK_EQ_INT(ws_handshake_check(&hs, NULL, &status, &why), GK_EPROTO);
    CHECK_EQ_INT(status, 400);
    hs.minor = 1;
    hs.upgrade = "h2c";
    CHECK_EQ_INT(ws_handshake_check(&hs, NULL, &status, &why), GK_EPROTO);
    CHECK_EQ_INT(status, 426);
    hs.upgrade = "WebSocket";
    hs.version = NULL;
    CHECK_EQ_INT(ws_handshake_check(&hs, NULL, &status, &why), GK_EPROTO);
    CHECK_EQ_INT(status, 426);
    hs.version = "13";
    hs.connection = "keep-alive";
    CHECK_EQ_INT(ws_handshake_check(&hs, NULL, &status, &why), GK_EPROTO);
    CHECK_EQ_INT(status, 400);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    alarm(120); /* a hung test fails the run instead of blocking it */
    RUN(test_tokens);
    RUN(test_keys);
    RUN(test_handshake_check);
    RUN(test_handshake);
    RUN(test_echo_sizes);
    RUN(test_fragmented);
    RUN(test_ping);
    RUN(test_server_close);
    RUN(test_unmasked);
    RUN(test_too_big);
    RUN(test_idle_timeout);
    RUN(test_refusals);
    RUN(test_not_upgraded);
    RUN(test_subprotocol);
    RUN(test_early_bytes);
    RUN(test_pipelined);
    RUN(test_gone_before_upgrade);
    RUN(test_raw_upgrade);
    RUN(test_tls);
    TEST_MAIN_END();
}
