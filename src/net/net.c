/* net.c: listeners and connections of net.h on libuv TCP.
 *
 * A connection owns two libuv handles (the socket and a linger timer) and is
 * freed when both have closed, right after on_close. Plaintext goes straight
 * to the socket; over TLS every byte passes through the tls_sess of tls.h.
 * A graceful close writes what is queued, shuts the write side down, then
 * keeps reading (and discarding) until the peer closes or NET_LINGER_MS
 * passes, so that unread request bytes never turn the close into a reset
 * that would destroy the last answer on its way to the client.
 *
 * Reads land in one 64 KiB buffer shared by a listener and its connections
 * (on_read consumes the bytes before the loop reads again). Writes are
 * corked: what a connection is given during one loop turn is gathered and
 * written with one system call in the turn's check phase (a broker fanning
 * out, or answers to pipelined requests, would otherwise cost a write each);
 * only what the kernel does not take at once is copied and queued to libuv.
 * While output waits for the check phase, an idle handle keeps the poll
 * phase from blocking, so corking never adds latency. */
#include "net/net.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_BACKLOG   4096 /* the kernel caps it at net.core.somaxconn */
#define NET_LINGER_MS 2000
#define NET_READ_SIZE 65536
#define NET_ADDR_LEN  72

/* What a listener and its connections share; freed with the last of them. */
struct net_rbuf {
    unsigned refs;
    int open_handles;
    uv_check_t flush;        /* writes corked output, once per loop turn */
    uv_idle_t nowait;        /* active while output is corked: poll must not block */
    struct net_conn *corked; /* connections with corked output */
    char data[NET_READ_SIZE];
};

struct net_listener {
    uv_tcp_t tcp;
    struct net_rbuf *rbuf;
    struct net_tls *tls;
    net_accept_cb cb;
    void *ud;
    char addr[NET_ADDR_LEN];
};

struct net_conn {
    uv_tcp_t tcp;
    uv_timer_t linger;
    uv_shutdown_t shut;
    const struct net_conn_handler *h;
    void *ud;
    struct tls_sess tls;
    struct net_rbuf *rbuf;
    struct buf cork;            /* output of this loop turn, not yet written */
    struct net_conn *cork_next; /* in rbuf->corked */
    size_t pending; /* bytes inside uv_write requests not yet completed */
    int open_handles;
    int close_err;
    unsigned is_tls : 1, started : 1, paused : 1, reading : 1, closing : 1, closed : 1, eof : 1,
        shut_done : 1;
    char peer[NET_ADDR_LEN];
};

struct net_wreq {
    uv_write_t req;
    struct net_conn *c;
    size_t len;
    char data[];
};

static void conn_begin_close(struct net_conn *c, int err);

static struct net_rbuf *rbuf_ref(struct net_rbuf *b)
{
    b->refs++;
    return b;
}

static void rbuf_handle_closed(uv_handle_t *h)
{
    struct net_rbuf *b = h->data;
    if (--b->open_handles == 0) free(b);
}

static void rbuf_unref(struct net_rbuf *b)
{
    if (!b || --b->refs > 0) return;
    b->open_handles = 2;
    uv_close((uv_handle_t *)&b->flush, rbuf_handle_closed);
    uv_close((uv_handle_t *)&b->nowait, rbuf_handle_closed);
}

static void uncork_all(uv_check_t *h);

static struct net_rbuf *rbuf_new(uv_loop_t *loop)
{
    struct net_rbuf *b = xcalloc(1, sizeof(*b));
    uv_check_init(loop, &b->flush);
    uv_idle_init(loop, &b->nowait);
    b->flush.data = b->nowait.data = b;
    uv_check_start(&b->flush, uncork_all);
    uv_unref((uv_handle_t *)&b->flush);
    uv_unref((uv_handle_t *)&b->nowait);
    return b;
}

/* Takes c off its listener's corked list (it is closing or freed). */
static void cork_unlink(struct net_conn *c)
{
    for (struct net_conn **pp = &c->rbuf->corked; *pp; pp = &(*pp)->cork_next) {
        if (*pp == c) {
            *pp = c->cork_next;
            break;
        }
    }
    c->cork_next = NULL;
}

/* ---- addresses ---- */

static int parse_port(const char *s, int *port)
{
    if (!*s || strlen(s) > 5) return GK_EADDR;
    int v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return GK_EADDR;
        v = v * 10 + (*s - '0');
    }
    if (v > 65535) return GK_EADDR;
    *port = v;
    return 0;
}

/* "a.b.c.d:port", "[v6]:port" or ":port" (all IPv4 interfaces). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss)
{
    char host[NET_ADDR_LEN];
    const char *colon;
    int port, v6 = addr[0] == '[';
    if (v6) {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr) > sizeof(host)) return GK_EADDR;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host)) return GK_EADDR;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        if (!host[0]) strcpy(host, "0.0.0.0");
    }
    if (parse_port(colon + 1, &port) != 0) return GK_EADDR;
    int rc = v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss)
                : uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
    return rc == 0 ? 0 : GK_EADDR;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[64] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, ntohs(a->sin_port));
    }
}

/* ---- closing ---- */

static void conn_handle_closed(uv_handle_t *h)
{
    struct net_conn *c = h->data;
    if (--c->open_handles > 0) return;
    if (c->started && c->h->on_close) c->h->on_close(c, c->close_err);
    if (c->is_tls) net__tls_sess_free(&c->tls);
    buf_free(&c->cork);
    rbuf_unref(c->rbuf);
    free(c);
}

/* Closes both handles now; queued writes are cancelled. */
static void conn_close_now(struct net_conn *c, int err)
{
    if (c->closed) return;
    c->closed = 1;
    c->closing = 1;
    if (c->cork.len) { /* dropped, as every queued byte */
        cork_unlink(c);
        buf_reset(&c->cork);
    }
    if (!c->close_err) c->close_err = err;
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    c->open_handles = 2;
    uv_close((uv_handle_t *)&c->linger, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void conn_linger_done(uv_timer_t *t)
{
    conn_close_now(t->data, 0);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct net_conn *c = h->data;
    (void)hint;
    b->base = c->rbuf->data;
    b->len = NET_READ_SIZE;
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void conn_read_start(struct net_conn *c)
{
    if (c->reading || c->closed) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read) == 0) c->reading = 1;
}

static void conn_shutdown_done(uv_shutdown_t *req, int status)
{
    struct net_conn *c = req->data;
    if (c->closed) return;
    c->shut_done = 1;
    if (status < 0 || c->eof) {
        conn_close_now(c, 0);
        return;
    }
    conn_read_start(c); /* discard until the peer closes, for a while */
    uv_timer_start(&c->linger, conn_linger_done, NET_LINGER_MS, 0);
}

/* ---- writing ---- */

static void conn_write_done(uv_write_t *req, int status)
{
    struct net_wreq *w = (struct net_wreq *)req;
    struct net_conn *c = w->c;
    c->pending -= w->len;
    free(w);
    if (c->closed) return;
    if (status < 0) {
        log_debug("net: write to %s: %s", c->peer, uv_strerror(status));
        conn_close_now(c, GK_EIO);
        return;
    }
    if (c->pending == 0 && !c->closing && c->h && c->h->on_drain) c->h->on_drain(c);
}

/* Writes out c's corked bytes: straight to the socket when nothing is
 * queued before them, the rest through a libuv write request. */
static void uncork(struct net_conn *c)
{
    const char *p = c->cork.data;
    size_t n = c->cork.len;
    if (n == 0 || c->closed) {
        buf_reset(&c->cork);
        return;
    }
    if (c->pending == 0) {
        uv_buf_t now = uv_buf_init((char *)p, (unsigned)n);
        int done = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
        if (done > 0) p += done, n -= (size_t)done;
    }
    if (n > 0) {
        struct net_wreq *w = xmalloc(sizeof(*w) + n);
        w->c = c;
        w->len = n;
        memcpy(w->data, p, n);
        uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_done) < 0) {
            free(w);
            buf_reset(&c->cork);
            conn_close_now(c, GK_EIO);
            return;
        }
        c->pending += n;
    }
    buf_reset(&c->cork);
}

static void uncork_all(uv_check_t *h)
{
    struct net_rbuf *b = h->data;
    while (b->corked) {
        struct net_conn *c = b->corked;
        b->corked = c->cork_next;
        c->cork_next = NULL;
        uncork(c);
    }
    uv_idle_stop(&b->nowait);
}

static void nothing(uv_idle_t *h)
{
    (void)h;
}

/* Adds bytes to c's output of this loop turn; with p NULL they come from
 * the TLS output. */
static void conn_queue_raw(struct net_conn *c, const void *p, size_t n)
{
    if (c->cork.len == 0) {
        c->cork_next = c->rbuf->corked;
        c->rbuf->corked = c;
        uv_idle_start(&c->rbuf->nowait, nothing);
    }
    if (p) {
        buf_append(&c->cork, p, n);
    } else {
        buf_reserve(&c->cork, n);
        net__tls_sess_output_read(&c->tls, c->cork.data + c->cork.len, n);
        c->cork.len += n;
    }
}

static void conn_flush_tls(struct net_conn *c)
{
    size_t n = net__tls_sess_output_len(&c->tls);
    if (n > 0 && !c->closed) conn_queue_raw(c, NULL, n);
}

/* Writes what is queued, shuts the write side, lingers, then closes. */
static void conn_begin_close(struct net_conn *c, int err)
{
    if (c->closing) return;
    c->closing = 1;
    c->close_err = err;
    if (c->is_tls) {
        net__tls_sess_shutdown(&c->tls);
        conn_flush_tls(c);
        if (c->closed) return;
    }
    if (c->cork.len) { /* what is corked goes before the shutdown */
        cork_unlink(c);
        uncork(c);
        if (c->closed) return;
    }
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shutdown_done) < 0)
        conn_close_now(c, err);
}

/* ---- reading ---- */

static void conn_deliver_tls(struct net_conn *c, const char *p, size_t n)
{
    char plain[16384];
    net__tls_sess_input(&c->tls, p, n);
    for (;;) {
        int r = net__tls_sess_read(&c->tls, plain, sizeof(plain));
        if (r > 0) {
            c->h->on_read(c, plain, (size_t)r);
            if (c->closing) break;
            continue;
        }
        conn_flush_tls(c); /* handshake records or an alert */
        if (r == GK_ECLOSED)
            conn_begin_close(c, 0);
        else if (r < 0)
            conn_begin_close(c, GK_ETLS);
        return;
    }
    conn_flush_tls(c);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct net_conn *c = s->data;
    if (nread > 0 && !c->closing) {
        if (c->is_tls)
            conn_deliver_tls(c, b->base, (size_t)nread);
        else
            c->h->on_read(c, b->base, (size_t)nread);
    } else if (nread < 0) {
        c->eof = 1;
        uv_read_stop(s);
        c->reading = 0;
        if (nread != UV_EOF)
            conn_close_now(c, GK_EIO);
        else if (!c->closing)
            conn_begin_close(c, 0); /* conn_shutdown_done() sees eof and closes */
        else if (c->shut_done)
            conn_close_now(c, 0); /* lingering is over */
    }
}

/* ---- listeners ---- */

static int conn_setup(struct net_conn *c, struct net_listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, c->peer, sizeof(c->peer));
    else
        strcpy(c->peer, "?");
    if (!l->tls) return 0;
    c->is_tls = 1;
    return net__tls_sess_init(&c->tls, l->tls);
}

static void listener_on_connection(uv_stream_t *server, int status)
{
    struct net_listener *l = server->data;
    if (status < 0) {
        log_warn("net: accept on %s: %s", l->addr, uv_strerror(status));
        return;
    }
    struct net_conn *c = xcalloc(1, sizeof(*c));
    c->rbuf = rbuf_ref(l->rbuf);
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->linger);
    c->tcp.data = c;
    c->linger.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || conn_setup(c, l) != 0) {
        c->is_tls = 0; /* nothing to free: net__tls_sess_init cleans up after itself */
        conn_close_now(c, GK_EIO);
        return;
    }
    l->cb(l, c);
}

static void listener_free(uv_handle_t *h)
{
    struct net_listener *l = h->data;
    rbuf_unref(l->rbuf);
    free(l);
}

static int listener_bind(struct net_listener *l, const char *addr,
                         const struct sockaddr_storage *ss)
{
    int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&l->tcp, NET_BACKLOG, listener_on_connection);
    if (rc < 0) {
        log_error("net: cannot listen on %s: %s", addr, uv_strerror(rc));
        return GK_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len) == 0)
        format_addr(&bound, l->addr, sizeof(l->addr));
    else
        snprintf(l->addr, sizeof(l->addr), "%s", addr);
    return 0;
}

int net_listen(struct net_listener **out, uv_loop_t *loop, const char *addr, struct net_tls *tls,
               net_accept_cb cb, void *ud)
{
    struct sockaddr_storage ss;
    *out = NULL;
    memset(&ss, 0, sizeof(ss));
    if (!addr || parse_addr(addr, &ss) != 0) return GK_EADDR;
    struct net_listener *l = xcalloc(1, sizeof(*l));
    l->rbuf = rbuf_ref(rbuf_new(loop));
    l->tls = tls;
    l->cb = cb;
    l->ud = ud;
    uv_tcp_init(loop, &l->tcp);
    l->tcp.data = l;
    int rc = listener_bind(l, addr, &ss);
    if (rc < 0) {
        uv_close((uv_handle_t *)&l->tcp, listener_free);
        return rc;
    }
    *out = l;
    return 0;
}

void *net_listener_data(struct net_listener *l)
{
    return l->ud;
}

const char *net_listener_addr(struct net_listener *l)
{
    return l->addr;
}

void net_listener_close(struct net_listener *l)
{
    uv_close((uv_handle_t *)&l->tcp, listener_free);
}

/* ---- connections ---- */

void net_conn_start(struct net_conn *c, const struct net_conn_handler *h, void *ud)
{
    c->h = h;
    c->ud = ud;
    c->started = 1;
    if (!c->paused && !c->closing) conn_read_start(c);
}

void *net_conn_data(struct net_conn *c)
{
    return c->ud;
}

void net_conn_set_data(struct net_conn *c, void *ud)
{
    c->ud = ud;
}

int net_conn_write(struct net_conn *c, const void *p, size_t n)
{
    if (c->closing) return GK_ECLOSED;
    if (n == 0) return 0;
    if (!c->is_tls) {
        conn_queue_raw(c, p, n);
        return 0;
    }
    if (net__tls_sess_write(&c->tls, p, n) != 0) {
        conn_close_now(c, GK_ETLS);
        return GK_ETLS;
    }
    conn_flush_tls(c);
    return 0;
}

size_t net_conn_pending(struct net_conn *c)
{
    return c->pending + c->cork.len + (c->is_tls ? c->tls.held.len : 0);
}

void net_conn_pause(struct net_conn *c)
{
    c->paused = 1;
    if (c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

void net_conn_resume(struct net_conn *c)
{
    c->paused = 0;
    if (c->started && !c->closing && !c->eof) conn_read_start(c);
}

void net_conn_close(struct net_conn *c)
{
    conn_begin_close(c, 0);
}

void net_conn_abort(struct net_conn *c)
{
    conn_close_now(c, 0);
}

const char *net_conn_peer(struct net_conn *c)
{
    return c->peer;
}

int net_conn_is_tls(struct net_conn *c)
{
    return c->is_tls;
}

const char *net_conn_tls_cn(struct net_conn *c)
{
    return c->is_tls ? c->tls.cn : NULL;
}

int net_addr_is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
           strncmp(addr, "::1", 3) == 0 || strncmp(addr, "[::ffff:127.", 12) == 0 ||
           strncmp(addr, "localhost", 9) == 0;
}
