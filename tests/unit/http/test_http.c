/* test_http.c: unit tests for src/http: a real server on 127.0.0.1:0 in a
 * libuv loop on the main thread, driven by raw sockets (net/test_client.h)
 * from a second thread. Each test runs one client function against a fresh
 * server and checks what came back, the response hook and the counters. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "net/net.h"
#include "net/test_client.h"
#include "test.h"

#include <http_parser.h>

enum mode { M_HDRS, M_ECHO, M_PIPE, M_SLOW, M_ORPHAN, M_ASYNC };

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    struct net_tls *tls;
    int port;
    enum mode mode;
    uv_async_t done;
    uv_timer_t poll;
    pthread_t th;
    void (*client)(struct fx *);
    struct http_req *held[8];
    uint64_t held_at[8];
    int nheld;
    int handled;
    int statuses[64];
    int nstatus;
    int orphan_answered;
    int close_early; /* http_server_close() from inside the handler */
    unsigned inflight_at_end;
    char tmp[64];
};

/* ---- server side (loop thread) ---- */

static void answer(struct http_req *r)
{
    char body[512];
    size_t blen;
    const char *b = http_req_body(r, &blen);
    int n = snprintf(body, sizeof(body), "%s %s?%s %.*s", http_req_method_str(r), http_req_path(r),
                     http_req_query(r), (int)blen, b);
    http_respond(r, 200, "X-Test: yes\r\n", "text/plain", body, (size_t)n);
}

static struct http_req *take_path(struct fx *f, const char *path)
{
    for (int i = 0; i < f->nheld; i++) {
        if (strcmp(http_req_path(f->held[i]), path) == 0) {
            struct http_req *r = f->held[i];
            f->held[i] = f->held[--f->nheld];
            f->held_at[i] = f->held_at[f->nheld];
            return r;
        }
    }
    return NULL;
}

static void handler(void *ud, struct http_req *r)
{
    struct fx *f = ud;
    f->handled++;
    if (f->mode == M_HDRS) {
        char body[256];
        const char *empty = http_req_header(r, "x-empty");
        int n = snprintf(body, sizeof(body), "%s|%s|%s|%s|%d", http_req_header(r, "x-h119"),
                         http_req_header(r, "CONTENT-type"), empty ? "present" : "missing",
                         http_req_header(r, "nope") ? "?" : "none",
                         strncmp(http_req_peer(r), "127.0.0.1:", 10) == 0);
        http_respond(r, 201, NULL, NULL, body, (size_t)n);
        return;
    }
    if (f->mode == M_ECHO) {
        answer(r);
        return;
    }
    if (f->close_early == 1) {
        f->close_early = 2;
        http_server_stop_accepting(f->srv);
        http_server_close(f->srv);
    }
    f->held_at[f->nheld] = uv_now(&f->loop);
    f->held[f->nheld++] = r;
    if (f->mode == M_PIPE && f->nheld == 3) {
        answer(take_path(f, "/2")); /* out of order: 2, 3, then 1 */
        answer(take_path(f, "/3"));
        answer(take_path(f, "/1"));
    }
}

static void on_response(void *ud, const struct http_req *r, int status)
{
    struct fx *f = ud;
    (void)r;
    if (f->nstatus < 64) f->statuses[f->nstatus++] = status;
}

static void poll_cb(uv_timer_t *t)
{
    struct fx *f = t->data;
    uint64_t now = uv_now(&f->loop);
    for (int i = 0; i < f->nheld; i++) {
        int due = (f->mode == M_SLOW && now - f->held_at[i] >= 700) ||
                  (f->mode == M_ASYNC && now - f->held_at[i] >= 20) ||
                  (f->mode == M_ORPHAN && http_server_connections(f->srv) == 0);
        if (!due) continue;
        f->orphan_answered += f->mode == M_ORPHAN;
        struct http_req *r = f->held[i];
        f->held[i] = f->held[--f->nheld];
        f->held_at[i] = f->held_at[f->nheld];
        i--;
        answer(r);
    }
}

static void done_cb(uv_async_t *a)
{
    struct fx *f = a->data;
    while (f->nheld > 0) { /* a failed test must not hang the loop */
        CHECK(!"request left unanswered");
        http_respond(f->held[--f->nheld], 500, NULL, NULL, NULL, 0);
    }
    uv_close((uv_handle_t *)&f->poll, NULL);
    uv_close((uv_handle_t *)a, NULL);
    if (f->close_early != 2) { /* else the server is already freed */
        f->inflight_at_end = http_server_inflight(f->srv);
        http_server_stop_accepting(f->srv);
        http_server_close(f->srv);
    }
}

static void *client_main(void *arg)
{
    struct fx *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void fx_run(struct fx *f, const struct http_limits *lim, void (*client)(struct fx *))
{
    struct http_server_options opt = {.handler = handler, .on_response = on_response, .ud = f};
    if (lim)
        opt.limits = *lim;
    else
        http_limits_default(&opt.limits);
    opt.extra_headers = "Access-Control-Allow-Origin: *\r\n";
    uv_loop_init(&f->loop);
    CHECK_EQ_INT(http_server_new(&f->srv, &f->loop, &opt), 0);
    CHECK_EQ_INT(http_server_listen(f->srv, "127.0.0.1:0", f->tls), 0);
    const char *addr = http_server_addr(f->srv, 0);
    CHECK(addr && http_server_addr(f->srv, 1) == NULL);
    f->port = atoi(strrchr(addr, ':') + 1);
    CHECK(f->port > 0);
    uv_async_init(&f->loop, &f->done, done_cb);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->poll);
    f->poll.data = f;
    uv_timer_start(&f->poll, poll_cb, 10, 10);
    f->client = client;
    pthread_create(&f->th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->th, NULL);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    CHECK_EQ_INT(f->inflight_at_end, 0);
}

static void limits(struct http_limits *lim)
{
    http_limits_default(lim);
}

static int has_status(struct fx *f, int status)
{
    for (int i = 0; i < f->nstatus; i++) {
        if (f->statuses[i] == status) return 1;
    }
    return 0;
}

static int head_has(const struct cl_resp *r, const char *name, const char *value)
{
    char v[256];
    return cl_header(r->head, name, v, sizeof(v)) == 0 && strcasecmp(v, value) == 0;
}

/* ---- keep-alive ---- */

static void client_keepalive(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "GET /a?x=1 ");
    CHECK(strstr(r.head, "HTTP/1.1 200 OK\r\n") == r.head);
    CHECK(head_has(&r, "Content-Type", "text/plain"));
    CHECK(head_has(&r, "X-Test", "yes"));
    CHECK(head_has(&r, "Access-Control-Allow-Origin", "*"));
    CHECK(strstr(r.head, "\r\nDate: ") != NULL);
    CHECK(strstr(r.head, "Connection:") == NULL);
    CHECK_EQ_INT(cl_send(&c, "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "POST /b? xyz");
    CHECK_EQ_INT(cl_send(&c, "HEAD /h HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK(strstr(r.head, "Content-Length: 9\r\n") != NULL); /* "HEAD /h? " */
    CHECK_EQ_INT(c.len, 0); /* and no body: the next response starts right away */
    CHECK_EQ_INT(cl_send(&c, "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void client_http10(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK(head_has(&r, "Connection", "keep-alive"));
    CHECK_EQ_INT(cl_send(&c, "GET /z HTTP/1.0\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "GET /z? ");
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_keepalive(void)
{
    struct fx f = {.mode = M_ECHO};
    fx_run(&f, NULL, client_keepalive);
    CHECK_EQ_INT(f.handled, 4);
    CHECK_EQ_INT(f.nstatus, 4);
}

static void test_http10(void)
{
    struct fx f = {.mode = M_ECHO};
    fx_run(&f, NULL, client_http10);
    CHECK_EQ_INT(f.handled, 2);
}

/* ---- request accessors ---- */

static void client_headers(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[8192] = "GET /h HTTP/1.1\r\ncontent-TYPE: a/b\r\nX-Empty:\r\n";
    for (int i = 0; i < 120; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "X-H%d: v%d\r\n", i, i);
    strcat(req, "\r\n");
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, req), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 201);
    CHECK(strstr(r.head, "HTTP/1.1 201 Created\r\n") == r.head);
    CHECK_EQ_STR(r.body, "v119|a/b|present|none|1");
    cl_close(&c);
}

static void test_headers(void)
{
    struct fx f = {.mode = M_HDRS};
    fx_run(&f, NULL, client_headers);
    CHECK_EQ_INT(f.handled, 1);
}

/* ---- pipelining ---- */

static void client_pipeline(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
                             "GET /3 HTTP/1.1\r\n\r\n"),
                 0);
    for (int i = 1; i <= 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /%d? ", i);
        CHECK_EQ_INT(cl_response(&c, &r), 0);
        CHECK_EQ_STR(r.body, want);
    }
    cl_close(&c);
}

static void test_pipeline_order(void)
{
    struct fx f = {.mode = M_PIPE};
    fx_run(&f, NULL, client_pipeline);
    CHECK_EQ_INT(f.handled, 3);
}

static void client_pipeline_many(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[4096] = "";
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    for (int i = 0; i < 20; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "GET /p%d HTTP/1.1\r\n\r\n", i);
    CHECK_EQ_INT(cl_send(&c, req), 0);
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /p%d? ", i);
        CHECK_EQ_INT(cl_response(&c, &r), 0);
        CHECK_EQ_STR(r.body, want);
    }
    cl_close(&c);
}

/* max_pipeline 2 and answers from a timer: reading pauses and resumes. */
static void test_pipeline_backpressure(void)
{
    struct fx f = {.mode = M_ASYNC};
    struct http_limits lim;
    limits(&lim);
    lim.max_pipeline = 2;
    fx_run(&f, &lim, client_pipeline_many);
    CHECK_EQ_INT(f.handled, 20);
}

/* ---- bodies ---- */

static void client_chunked(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), 0);
    cl_sleep_ms(20);
    CHECK_EQ_INT(cl_send(&c, "lo\r\n6\r\n world\r\n0\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "POST /c? hello world");
    cl_close(&c);
}

static void test_chunked(void)
{
    struct fx f = {.mode = M_ECHO};
    fx_run(&f, NULL, client_chunked);
}

static void client_continue(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char interim[26];
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(
        cl_send(&c, "PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, interim, 25), 0);
    interim[25] = '\0';
    CHECK_EQ_STR(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK_EQ_INT(cl_send(&c, "abcd"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "PUT /e? abcd");
    /* Too large: 413 instead of 100, without sending the body. */
    CHECK_EQ_INT(
        cl_send(&c, "PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 413);
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_continue(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.max_body = 1000;
    fx_run(&f, &lim, client_continue);
    CHECK_EQ_INT(f.handled, 1);
    CHECK(has_status(&f, 413));
}

/* ---- limits and errors ---- */

static void client_431(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char req[4096];
    memset(req, 'a', sizeof(req));
    memcpy(req, "GET / HTTP/1.1\r\nX-Big: ", 23);
    memcpy(req + sizeof(req) - 5, "\r\n\r\n", 5);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, req), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 431);
    CHECK(strstr(r.head, "431 Request Header Fields Too Large") != NULL);
    CHECK(head_has(&r, "Connection", "close"));
    CHECK(head_has(&r, "Content-Type", "application/json"));
    CHECK(strstr(r.body, "\"message\":") != NULL);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_431(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.max_header = 1024;
    fx_run(&f, &lim, client_431);
    CHECK_EQ_INT(f.handled, 0);
    CHECK(has_status(&f, 431));
}

static void client_413_length(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    /* The body is never sent: the answer must come from Content-Length alone. */
    CHECK_EQ_INT(cl_send(&c, "POST /big HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 413);
    CHECK_EQ_STR(r.body, "{\"message\":\"Request body too large\"}");
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_413_content_length(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.max_body = 1000;
    fx_run(&f, &lim, client_413_length);
    CHECK_EQ_INT(f.handled, 0);
    CHECK(has_status(&f, 413));
}

static void client_413_chunked(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char chunk[600];
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(cl_send(&c, "258\r\n"), 0); /* 600 bytes */
        CHECK_EQ_INT(cl_send_n(&c, chunk, sizeof(chunk)), 0);
        CHECK_EQ_INT(cl_send(&c, "\r\n"), 0);
    }
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 413);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_413_chunked(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.max_body = 1000;
    fx_run(&f, &lim, client_413_chunked);
    CHECK_EQ_INT(f.handled, 0);
}

static void client_malformed(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /ok HTTP/1.1\r\n\r\nBR@KEN / HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_STR(r.body, "{\"message\":\"Bad request: invalid HTTP method\"}");
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_malformed(void)
{
    struct fx f = {.mode = M_ECHO};
    fx_run(&f, NULL, client_malformed);
    CHECK_EQ_INT(f.handled, 1);
    CHECK(has_status(&f, 400));
}

static void client_limit(struct fx *f)
{
    struct cl a, b, c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&a, f->port), 0);
    CHECK_EQ_INT(cl_connect(&b, f->port), 0);
    CHECK_EQ_INT(cl_send(&a, "GET /a HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&a, &r), 0); /* both are accepted by now */
    CHECK_EQ_INT(cl_send(&b, "GET /b HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&b, &r), 0);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 503);
    CHECK(strstr(r.head, "HTTP/1.1 503 Service Unavailable\r\n") == r.head);
    CHECK_EQ_STR(r.body, "{\"message\":\"Too many connections\"}");
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
    cl_close(&a);
    cl_close(&b);
}

static void test_connection_limit(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.max_connections = 2;
    fx_run(&f, &lim, client_limit);
    CHECK(has_status(&f, 503));
}

/* ---- timeouts ---- */

static void client_header_timeout(struct fx *f)
{
    struct cl c;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    long start = cl_now_ms(), closed_at = 0;
    CHECK_EQ_INT(cl_send(&c, "GET / HTTP/1.1\r\n"), 0);
    while (cl_now_ms() - start < 5000) { /* keeps making progress: slowloris */
        char b;
        if (cl_send(&c, "X-A: b\r\n") != 0 || recv(c.fd, &b, 1, MSG_DONTWAIT) == 0 ||
            (errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed_at = cl_now_ms();
            break;
        }
        cl_sleep_ms(40);
    }
    CHECK(closed_at > 0);
    CHECK(closed_at - start >= 150);
    CHECK(closed_at - start < 3000);
    cl_close(&c);
}

static void test_header_timeout(void)
{
    struct fx f = {.mode = M_ECHO};
    struct http_limits lim;
    limits(&lim);
    lim.header_timeout_ms = 200;
    fx_run(&f, &lim, client_header_timeout);
    CHECK_EQ_INT(f.handled, 0);
}

static void client_idle(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    /* The handler takes 700 ms, longer than the idle timeout: not idle. */
    CHECK_EQ_INT(cl_send(&c, "GET /slow HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    long start = cl_now_ms();
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    long took = cl_now_ms() - start;
    CHECK(took >= 200);
    CHECK(took < 4000);
    cl_close(&c);
}

static void test_idle_timeout(void)
{
    struct fx f = {.mode = M_SLOW};
    struct http_limits lim;
    limits(&lim);
    lim.idle_timeout_ms = 300;
    fx_run(&f, &lim, client_idle);
    CHECK_EQ_INT(f.handled, 1);
}

/* ---- lifetimes ---- */

static void client_server_close(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /last HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0); /* answered 700 ms after the close began */
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "GET /last? ");
    CHECK(head_has(&r, "Connection", "close"));
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_server_close_waits_for_handler(void)
{
    struct fx f = {.mode = M_SLOW, .close_early = 1};
    fx_run(&f, NULL, client_server_close);
    CHECK_EQ_INT(f.handled, 1);
}

static void client_gone(struct fx *f)
{
    struct cl c;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /gone HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"), 0);
    cl_sleep_ms(100);
    cl_close(&c);
    for (int i = 0; i < 500 && !__atomic_load_n(&f->orphan_answered, __ATOMIC_SEQ_CST); i++)
        cl_sleep_ms(10);
}

static void test_answer_after_disconnect(void)
{
    struct fx f = {.mode = M_ORPHAN};
    fx_run(&f, NULL, client_gone);
    CHECK_EQ_INT(f.handled, 1);
    CHECK_EQ_INT(f.orphan_answered, 1);
    CHECK_EQ_INT(f.nstatus, 0); /* nothing was sent */
}

/* ---- TLS ---- */

static void client_tls(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    char ca[128];
    snprintf(ca, sizeof(ca), "%s/cert.pem", f->tmp);
    CHECK_EQ_INT(cl_connect_tls(&c, f->port, ca, NULL, NULL), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /tls?q=1 HTTP/1.1\r\nContent-Length: 6\r\n\r\nsecret"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "POST /tls?q=1 secret");
    CHECK_EQ_INT(cl_send(&c, "GET /again HTTP/1.1\r\nConnection: close\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "GET /again? ");
    CHECK_EQ_INT(cl_wait_close(&c), 0); /* a clean close_notify */
    cl_close(&c);
}

static void test_tls(void)
{
    struct fx f = {.mode = M_ECHO};
    char cmd[512], cert[128], key[128], err[256];
    snprintf(f.tmp, sizeof(f.tmp), "/tmp/gasket-http-XXXXXX");
    CHECK(mkdtemp(f.tmp) != NULL);
    snprintf(cert, sizeof(cert), "%s/cert.pem", f.tmp);
    snprintf(key, sizeof(key), "%s/key.pem", f.tmp);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null",
             key, cert);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(net_tls_new(&f.tls, cert, key, NULL, err, sizeof(err)), 0);
    fx_run(&f, NULL, client_tls);
    CHECK_EQ_INT(f.handled, 2);
    net_tls_free(f.tls);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.tmp);
    CHECK_EQ_INT(system(cmd), 0);
}

/* ---- pure parts ---- */

static void test_status_text(void)
{
    static const int codes[] = {100, 200, 201, 204, 400, 401, 403, 404, 405, 408,
                                411, 413, 414, 415, 429, 431, 500, 501, 503};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        CHECK(strcmp(http_status_text(codes[i]), "Unknown") != 0);
    CHECK_EQ_STR(http_status_text(429), "Too Many Requests");
    CHECK_EQ_STR(http_status_text(799), "Unknown");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    alarm(300); /* a hung test fails the run instead of blocking it */
    RUN(test_status_text);
    RUN(test_keepalive);
    RUN(test_headers);
    RUN(test_http10);
    RUN(test_pipeline_order);
    RUN(test_pipeline_backpressure);
    RUN(test_chunked);
    RUN(test_continue);
    RUN(test_431);
    RUN(test_413_content_length);
    RUN(test_413_chunked);
    RUN(test_malformed);
    RUN(test_connection_limit);
    RUN(test_header_timeout);
    RUN(test_idle_timeout);
    RUN(test_answer_after_disconnect);
    RUN(test_server_close_waits_for_handler);
    RUN(test_tls);
    TEST_MAIN_END();
}
