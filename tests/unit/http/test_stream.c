/* test_stream.c: unit tests for the streamed answers of src/http
 * (http_stream_*) and the per-request body limit: a real server on
 * 127.0.0.1:0 in a libuv loop on the main thread, raw-socket clients
 * (net/test_client.h) on a second thread.
 *
 * The handler streams GET /s?n=N&size=S as N pieces of S bytes (piece i
 * filled with 'a' + i % 26), producing the next piece only from the
 * http_stream_wait() callback, and counts what it produced so a client can
 * check that a reader that does not read holds the producer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "http/http.h"
#include "net/test_client.h"
#include "test.h"

#include <http_parser.h>

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    int port;
    uv_async_t done;
    uv_timer_t poll;
    pthread_t th;
    void (*client)(struct fx *);
    struct http_req *held; /* GET /hold, answered by the poll timer */
    uint64_t held_at;
    int produced;    /* pieces written (read by the client thread: atomics) */
    int waits_early; /* wait callbacks that came while /hold was unanswered */
    int closed_seen; /* wait callbacks told GK_ECLOSED */
    int ended;
    unsigned inflight_at_end;
};

struct stream {
    struct fx *f;
    struct http_req *req;
    int n, size, i, abort_at;
};

/* ---- server side (loop thread) ---- */

static int query_int(const char *q, const char *name, int dflt)
{
    const char *p = strstr(q, name);
    return p && p[strlen(name)] == '=' ? atoi(p + strlen(name) + 1) : dflt;
}

static void stream_more(void *ud, int status);

static void stream_step(struct stream *s)
{
    struct fx *f = s->f;
    if (s->i == s->abort_at) {
        http_stream_abort(s->req);
        free(s);
        __atomic_add_fetch(&f->ended, 1, __ATOMIC_SEQ_CST);
        return;
    }
    if (s->i == s->n) {
        http_stream_end(s->req);
        free(s);
        __atomic_add_fetch(&f->ended, 1, __ATOMIC_SEQ_CST);
        return;
    }
    char *piece = xmalloc((size_t)s->size);
    memset(piece, 'a' + s->i % 26, (size_t)s->size);
    int rc = http_stream_write(s->req, piece, (size_t)s->size);
    free(piece);
    s->i++;
    __atomic_add_fetch(&f->produced, 1, __ATOMIC_SEQ_CST);
    if (rc == 0) rc = http_stream_wait(s->req, stream_more, s);
    if (rc != 0) stream_more(s, rc);
}

static void stream_more(void *ud, int status)
{
    struct stream *s = ud;
    if (s->f->held) s->f->waits_early++;
    if (status != 0) {
        s->f->closed_seen++;
        http_stream_end(s->req);
        free(s);
        return;
    }
    stream_step(s);
}

static void handler(void *ud, struct http_req *r)
{
    struct fx *f = ud;
    const char *path = http_req_path(r);
    if (strcmp(path, "/hold") == 0) {
        f->held = r;
        f->held_at = uv_now(&f->loop);
        return;
    }
    if (strcmp(path, "/s") == 0) {
        struct stream *s = xcalloc(1, sizeof *s);
        const char *q = http_req_query(r);
        *s = (struct stream){.f = f,
                             .req = r,
                             .n = query_int(q, "n", 3),
                             .size = query_int(q, "size", 5),
                             .abort_at = query_int(q, "abort", -1)};
        http_stream_begin(r, 200, "X-Stream: yes\r\n", "text/plain");
        stream_step(s);
        return;
    }
    char body[64];
    size_t len;
    http_req_body(r, &len);
    int n = snprintf(body, sizeof body, "%zu", len);
    http_respond(r, 200, NULL, "text/plain", body, (size_t)n);
}

static size_t body_limit(void *ud, const struct http_req *r)
{
    (void)ud;
    return strcmp(http_req_path(r), "/big") == 0 ? 4u << 20 : 0;
}

static void poll_cb(uv_timer_t *t)
{
    struct fx *f = t->data;
    if (f->held && uv_now(&f->loop) - f->held_at >= 150) {
        struct http_req *r = f->held;
        f->held = NULL;
        http_respond(r, 200, NULL, "text/plain", "held", 4);
    }
}

static void done_cb(uv_async_t *a)
{
    struct fx *f = a->data;
    uv_close((uv_handle_t *)&f->poll, NULL);
    uv_close((uv_handle_t *)a, NULL);
    f->inflight_at_end = http_server_inflight(f->srv);
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

static void fx_run(struct fx *f, unsigned idle_ms, void (*client)(struct fx *))
{
    struct http_server_options opt = {.handler = handler, .ud = f};
    http_limits_default(&opt.limits);
    opt.limits.max_body = 1024;
    if (idle_ms) opt.limits.idle_timeout_ms = idle_ms;
    uv_loop_init(&f->loop);
    CHECK_EQ_INT(http_server_new(&f->srv, &f->loop, &opt), 0);
    http_server_set_body_limit(f->srv, body_limit, f);
    CHECK_EQ_INT(http_server_listen(f->srv, "127.0.0.1:0", NULL), 0);
    f->port = atoi(strrchr(http_server_addr(f->srv, 0), ':') + 1);
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

/* ---- client side ---- */

/* Reads one chunked body, checking piece contents as produced above (the
 * pieces may be split or merged by the transport, so the check is on the
 * byte stream). Returns the body length, or -1 when the connection ended
 * before the last chunk or the framing was wrong. */
static long read_chunked(struct cl *c, int size, long *bad)
{
    long total = 0;
    for (;;) {
        char *eol;
        while (!(eol = c->len ? strstr(c->buf, "\r\n") : NULL))
            if (cl_more(c) <= 0) return -1;
        long n = strtol(c->buf, NULL, 16);
        cl_consume(c, (size_t)(eol - c->buf) + 2);
        while (c->len < (size_t)n + 2)
            if (cl_more(c) <= 0) return -1;
        for (long i = 0; i < n; i++)
            if (c->buf[i] != 'a' + (int)((total + i) / size) % 26) (*bad)++;
        if (memcmp(c->buf + n, "\r\n", 2) != 0) return -1;
        cl_consume(c, (size_t)n + 2);
        if (n == 0) return total;
        total += n;
    }
}

static void client_basic(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    long bad = 0;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=3&size=5 HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.head, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(r.head, "Content-Length") == NULL);
    CHECK(strstr(r.head, "X-Stream: yes\r\n") != NULL);
    CHECK_EQ_INT(read_chunked(&c, 5, &bad), 15);
    CHECK_EQ_INT(bad, 0);
    /* the connection is kept: an empty stream, then an ordinary answer */
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=0 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK_EQ_INT(read_chunked(&c, 5, &bad), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "0");
    /* HEAD: the head only */
    CHECK_EQ_INT(cl_send(&c, "HEAD /s?n=2 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK(strstr(r.head, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "0");
    cl_close(&c);
}

static void test_basic(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_basic);
    CHECK_EQ_INT(f.ended, 3);
}

static void client_http10(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=4&size=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK(strstr(r.head, "Transfer-Encoding") == NULL);
    CHECK(strstr(r.head, "Connection: close\r\n") != NULL);
    while (cl_more(&c) > 0) {
    }
    CHECK_EQ_STR(c.buf, "aaabbbcccddd"); /* delimited by the close */
    cl_close(&c);
}

static void test_http10(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_http10);
    CHECK_EQ_INT(f.ended, 1);
}

/* A reader that does not read holds the producer: with 48 MiB to send, the
 * server may only get ahead by what the socket buffers hold. */
static void client_backpressure(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    long bad = 0;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    int small = 64 << 10;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=768&size=65536 HTTP/1.1\r\n\r\n"), 0);
    cl_sleep_ms(600);
    int ahead = __atomic_load_n(&f->produced, __ATOMIC_SEQ_CST);
    CHECK(ahead > 0);
    CHECK(ahead < 256); /* 16 MiB: far below the 48 MiB of the answer */
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK_EQ_INT(read_chunked(&c, 65536, &bad), 768L * 65536);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(__atomic_load_n(&f->produced, __ATOMIC_SEQ_CST), 768);
    cl_close(&c);
}

static void test_backpressure(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_backpressure);
    CHECK_EQ_INT(f.ended, 1);
}

/* A stream behind an unanswered pipelined request waits for it. */
static void client_pipelined(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    long bad = 0;
    (void)f;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /hold HTTP/1.1\r\n\r\nGET /s?n=3&size=2 HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_STR(r.body, "held");
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK_EQ_INT(read_chunked(&c, 2, &bad), 6);
    CHECK_EQ_INT(bad, 0);
    cl_close(&c);
}

static void test_pipelined(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_pipelined);
    CHECK_EQ_INT(f.waits_early, 0);
    CHECK_EQ_INT(f.ended, 1);
}

/* A client that goes away midway: the waiting producer is told. */
static void client_gone(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=100000&size=65536 HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    cl_sleep_ms(100);
    cl_close(&c);
    for (int i = 0; i < 200 && !__atomic_load_n(&f->closed_seen, __ATOMIC_SEQ_CST); i++)
        cl_sleep_ms(10);
}

static void test_client_gone(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_gone);
    CHECK_EQ_INT(f.closed_seen, 1);
    CHECK(f.produced < 100000);
}

/* A reader that stops reading is disconnected after idle_timeout. */
static void client_stalled(struct fx *f)
{
    struct cl c;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    int small = 64 << 10;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=100000&size=65536 HTTP/1.1\r\n\r\n"), 0);
    for (int i = 0; i < 300 && !__atomic_load_n(&f->closed_seen, __ATOMIC_SEQ_CST); i++)
        cl_sleep_ms(10);
    cl_close(&c);
}

static void test_stalled_reader(void)
{
    struct fx f = {0};
    fx_run(&f, 300, client_stalled);
    CHECK_EQ_INT(f.closed_seen, 1);
}

/* An aborted stream ends without the last chunk and closes. */
static void client_abort(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    long bad = 0;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "GET /s?n=5&size=4&abort=2 HTTP/1.1\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response_ex(&c, &r, 1), 0);
    CHECK_EQ_INT(read_chunked(&c, 4, &bad), -1);
    CHECK_EQ_INT(bad, 0);
    cl_close(&c);
}

static void test_abort(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_abort);
    CHECK_EQ_INT(f.ended, 1);
    CHECK_EQ_INT(f.produced, 2);
}

/* The body limit hook: /big takes 4 MiB, the rest max_body (1 KiB). */
static void client_body_limit(struct fx *f)
{
    struct cl c;
    struct cl_resp r;
    size_t n = 2u << 20;
    char *big = xmalloc(n);
    memset(big, 'x', n);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /big HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_send_n(&c, big, n), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "2097152");
    CHECK_EQ_INT(cl_send(&c, "POST /small HTTP/1.1\r\nContent-Length: 2000\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 413);
    cl_close(&c);
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "400\r\n"),
                 0);
    CHECK_EQ_INT(cl_send_n(&c, big, 1024), 0);
    CHECK_EQ_INT(cl_send(&c, "\r\n1\r\nx\r\n0\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_response(&c, &r), 0);
    CHECK_EQ_INT(r.status, 413);
    cl_close(&c);
    free(big);
}

static void test_body_limit(void)
{
    struct fx f = {0};
    fx_run(&f, 0, client_body_limit);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_basic);
    RUN(test_http10);
    RUN(test_backpressure);
    RUN(test_pipelined);
    RUN(test_client_gone);
    RUN(test_stalled_reader);
    RUN(test_abort);
    RUN(test_body_limit);
    TEST_MAIN_END();
}
