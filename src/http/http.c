/* http.c: the HTTP server of http.h: listeners, connection lifetimes,
 * timeouts, back-pressure and the graceful shutdown.
 *
 * Each connection has one timer armed for the nearest of its deadlines:
 * the header deadline (from a request's first byte until its headers are
 * complete) and the idle deadline (no byte in or out, not counted while a
 * request waits for the handler). Input held back by back-pressure is parsed
 * again from an idle handle, never inside http_respond(). An upgraded
 * connection leaves the server through http__conn_handover(): it is unlinked like
 * a closed one, but its net_conn lives on with a new owner. A streamed
 * answer's wait (http_stream_wait) is answered from the same idle handle,
 * and the idle deadline counts while a stream waits for a slow reader. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

static void conn_on_read(struct net_conn *nc, const char *data, size_t len);
static void conn_on_drain(struct net_conn *nc);
static void conn_on_close(struct net_conn *nc, int err);

static const struct net_conn_handler conn_handler = {
    .on_read = conn_on_read,
    .on_drain = conn_on_drain,
    .on_close = conn_on_close,
};

void http_limits_default(struct http_limits *lim)
{
    lim->max_header = 16384;
    lim->max_body = 1u << 20;
    lim->max_connections = 1024;
    lim->header_timeout_ms = 10000;
    lim->idle_timeout_ms = 60000;
    lim->max_pipeline = 64;
}

/* ---- deferred parsing ---- */

static void server_on_kick(uv_idle_t *h)
{
    struct http_server *s = h->data;
    struct http_conn *list = s->kick_list, *next;
    s->kick_list = NULL;
    for (struct http_conn *hc = list; hc; hc = next) {
        next = hc->kick_next;
        hc->kick_next = NULL;
        hc->kicked = 0;
        if (hc->stream_check) {
            hc->stream_check = 0;
            http__conn_stream_notify(hc);
        }
        http__conn_process(hc);
    }
    if (!s->kick_list) uv_idle_stop(&s->kick);
}

static void conn_kick(struct http_conn *hc)
{
    struct http_server *s = hc->srv;
    if (hc->kicked) return;
    hc->kicked = 1;
    hc->kick_next = s->kick_list;
    s->kick_list = hc;
    uv_idle_start(&s->kick, server_on_kick);
}

static void conn_unkick(struct http_conn *hc)
{
    struct http_conn **pp = &hc->srv->kick_list;
    if (!hc->kicked) return;
    for (; *pp; pp = &(*pp)->kick_next) {
        if (*pp == hc) {
            *pp = hc->kick_next;
            break;
        }
    }
    hc->kicked = 0;
}

/* ---- timers and back-pressure ---- */

static uint64_t conn_deadline(struct http_conn *hc)
{
    const struct http_limits *lim = &hc->srv->lim;
    uint64_t due = UINT64_MAX;
    if (hc->reading_head && !hc->closing && lim->header_timeout_ms)
        due = hc->head_start + lim->header_timeout_ms;
    int idle = hc->in_handler == 0 || http__conn_stream_blocked(hc);
    if (idle && lim->idle_timeout_ms && hc->last_io + lim->idle_timeout_ms < due)
        due = hc->last_io + lim->idle_timeout_ms;
    return due;
}

static void conn_on_timer(uv_timer_t *t)
{
    struct http_conn *hc = t->data;
    uint64_t now = uv_now(hc->srv->loop);
    const struct http_limits *lim = &hc->srv->lim;
    if (conn_deadline(hc) > now) {
        http__conn_update(hc);
        return;
    }
    int header = hc->reading_head && !hc->closing && lim->header_timeout_ms &&
                 hc->head_start + lim->header_timeout_ms <= now;
    log_debug("http: %s: %s timeout", net_conn_peer(hc->nc), header ? "header" : "idle");
    uv_timer_stop(&hc->timer);
    if (header || hc->closing || net_conn_pending(hc->nc) > 0) {
        net_conn_abort(hc->nc);
    } else {
        net_conn_close(hc->nc);
    }
    hc->closing = 1;
    hc->input_done = 1;
}

/* Arms the timer for the connection's deadline. A timer already due no
 * later is left alone: conn_on_timer looks at the deadline again when it
 * fires. A busy keep-alive connection, whose idle deadline moves with every
 * request, then touches the loop's timer heap once per idle timeout, not
 * once per request. */
static void conn_arm_timer(struct http_conn *hc)
{
    uint64_t due = conn_deadline(hc), now = uv_now(hc->srv->loop);
    if (due == UINT64_MAX || (uv_is_active((uv_handle_t *)&hc->timer) && hc->timer_due <= due))
        return;
    hc->timer_due = due;
    uv_timer_start(&hc->timer, conn_on_timer, due > now ? due - now : 0, 0);
}

int http__conn_should_pause(struct http_conn *hc)
{
    return hc->upgrading || hc->queued >= hc->srv->lim.max_pipeline ||
           net_conn_pending(hc->nc) > HTTP_MAX_OUTPUT;
}

void http__conn_update(struct http_conn *hc)
{
    if (hc->gone) return;
    if (hc->draining && !hc->head && !hc->closing) {
        hc->closing = 1;
        net_conn_close(hc->nc);
    }
    int pause = !hc->closing && http__conn_should_pause(hc);
    if (pause && !hc->paused) {
        net_conn_pause(hc->nc);
        hc->paused = 1;
    } else if (!pause && hc->paused) {
        net_conn_resume(hc->nc);
        hc->paused = 0;
    }
    if (!pause && !hc->closing && !hc->input_done && hc->in_off < hc->in.len) conn_kick(hc);
    if (hc->stream_check && !hc->closing) conn_kick(hc);
    conn_arm_timer(hc);
}

/* ---- connection callbacks ---- */

static void conn_on_read(struct net_conn *nc, const char *data, size_t len)
{
    struct http_conn *hc = net_conn_data(nc);
    hc->last_io = uv_now(hc->srv->loop);
    if (hc->upgrading && !hc->closing) { /* the new protocol's, if it comes */
        buf_append(&hc->in, data, len);
        conn_arm_timer(hc);
        return;
    }
    if (hc->input_done || hc->closing) {
        conn_arm_timer(hc);
        return;
    }
    buf_append(&hc->in, data, len);
    if (hc->kicked)
        conn_arm_timer(hc); /* parsed on the next turn, in order */
    else
        http__conn_process(hc);
}

static void conn_on_drain(struct net_conn *nc)
{
    struct http_conn *hc = net_conn_data(nc);
    hc->last_io = uv_now(hc->srv->loop);
    hc->stream_check = 1;
    http__conn_update(hc);
}

static void conn_free(uv_handle_t *h)
{
    struct http_conn *hc = h->data;
    buf_free(&hc->in);
    free(hc);
}

/* Takes hc out of the server; it is freed once its timer has closed. */
static void conn_unlink(struct http_conn *hc)
{
    struct http_server *s = hc->srv;
    hc->gone = 1;
    hc->closing = 1;
    conn_unkick(hc);
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        s->conns = hc->next;
    if (hc->next) hc->next->prev = hc->prev;
    s->nconns--;
    uv_close((uv_handle_t *)&hc->timer, conn_free);
}

static void conn_on_close(struct net_conn *nc, int err)
{
    struct http_conn *hc = net_conn_data(nc);
    struct http_server *s = hc->srv;
    struct http_req *waiting = NULL;
    (void)err;
    hc->gone = 1;
    hc->closing = 1;
    for (struct http_req *r = hc->head, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->state == REQ_HANDLER) {
            r->conn = NULL; /* answered later into the void */
            if (r->stream_cb) r->next = waiting, waiting = r;
        } else {
            http__req_free(r);
        }
    }
    hc->head = hc->tail = hc->cur = NULL;
    conn_unlink(hc);
    http__req_notify_closed(waiting);
    http__server_maybe_free(s);
}

/* ---- accepting ---- */

static void reject_on_read(struct net_conn *nc, const char *data, size_t len)
{
    (void)nc;
    (void)data;
    (void)len;
}

/* Also the placeholder of an upgraded connection until its new owner starts it. */
static const struct net_conn_handler reject_handler = {.on_read = reject_on_read};

void http__conn_handover(struct http_conn *hc, struct http_req *r)
{
    struct http_server *s = hc->srv;
    struct net_conn *nc = hc->nc;
    struct buf rest = hc->in; /* bytes past the request, from in_off */
    size_t off = hc->in_off;
    http_upgrade_cb cb = r->upgrade_cb;
    void *ud = r->upgrade_ud;
    int paused = hc->paused;
    if (net_conn_write(nc, r->rbody.data, r->rbody.len) != 0) {
        hc->closing = 1; /* no upgrade; conn_on_close() follows */
        http__req_free(r);
        return;
    }
    hc->last_io = uv_now(s->loop);
    if (s->on_response) s->on_response(s->ud, r, 101);
    r->upgrade_cb = NULL;
    http__req_free(r);
    memset(&hc->in, 0, sizeof(hc->in));
    hc->in_off = 0;
    conn_unlink(hc);
    net_conn_start(nc, &reject_handler, NULL);
    if (paused) net_conn_resume(nc);
    cb(ud, nc, rest.data ? rest.data + off : "", rest.len - off);
    buf_free(&rest);
    http__server_maybe_free(s);
}

static void server_reject(struct http_server *s, struct net_conn *nc)
{
    struct buf out = {0};
    struct http_req stub;
    memset(&stub, 0, sizeof(stub));
    stub.srv = s;
    stub.method = -1;
    snprintf(stub.peer, sizeof(stub.peer), "%s", net_conn_peer(nc));
    net_conn_start(nc, &reject_handler, NULL);
    http_format_error(s, &out, 503, "Too many connections");
    net_conn_write(nc, out.data, out.len);
    net_conn_close(nc);
    buf_free(&out);
    if (s->on_response) s->on_response(s->ud, &stub, 503);
}

static void server_on_accept(struct net_listener *l, struct net_conn *nc)
{
    struct http_server *s = net_listener_data(l);
    if (s->closing || s->nconns >= s->lim.max_connections) {
        server_reject(s, nc);
        return;
    }
    struct http_conn *hc = xcalloc(1, sizeof(*hc));
    hc->srv = s;
    hc->nc = nc;
    http__conn_parser_init(hc);
    uv_timer_init(s->loop, &hc->timer);
    hc->timer.data = hc;
    hc->last_io = uv_now(s->loop);
    hc->next = s->conns;
    if (s->conns) s->conns->prev = hc;
    s->conns = hc;
    s->nconns++;
    net_conn_start(nc, &conn_handler, hc);
    conn_arm_timer(hc);
}

/* ---- the server ---- */

int http_server_new(struct http_server **out, uv_loop_t *loop,
                    const struct http_server_options *opt)
{
    *out = NULL;
    if (!loop || !opt || !opt->handler) return GK_EINVAL;
    struct http_server *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->handler = opt->handler;
    s->on_response = opt->on_response;
    s->ud = opt->ud;
    s->extra = xstrdup("");
    http_server_configure(s, &opt->limits, opt->extra_headers);
    uv_idle_init(loop, &s->kick);
    s->kick.data = s;
    *out = s;
    return 0;
}

int http_server_listen(struct http_server *s, const char *addr, struct net_tls *tls)
{
    struct net_listener *l;
    int rc = net_listen(&l, s->loop, addr, tls, server_on_accept, s);
    if (rc < 0) return rc;
    s->ls = xrealloc(s->ls, (s->nls + 1) * sizeof(*s->ls));
    s->ls[s->nls++] = l;
    log_info("http: listening on %s%s", net_listener_addr(l), tls ? " (TLS)" : "");
    return 0;
}

const char *http_server_addr(struct http_server *s, unsigned n)
{
    return n < s->nls ? net_listener_addr(s->ls[n]) : NULL;
}

void http_server_configure(struct http_server *s, const struct http_limits *lim,
                           const char *extra_headers)
{
    s->lim = *lim;
    if (s->lim.max_pipeline == 0) s->lim.max_pipeline = 1;
    free(s->extra);
    s->extra = xstrdup(extra_headers ? extra_headers : "");
}

void http_server_set_body_limit(struct http_server *s, http_body_limit_fn fn, void *ud)
{
    s->body_limit = fn;
    s->body_limit_ud = ud;
}

uv_loop_t *http_server_loop(const struct http_server *s)
{
    return s->loop;
}

void http_server_set_head_check(struct http_server *s, http_head_check_fn fn, void *ud)
{
    s->head_check = fn;
    s->head_check_ud = ud;
}

void http_server_stop_accepting(struct http_server *s)
{
    for (unsigned i = 0; i < s->nls; i++)
        net_listener_close(s->ls[i]);
    free(s->ls);
    s->ls = NULL;
    s->nls = 0;
}

int http_server_closing(const struct http_server *s)
{
    return s->closing;
}

unsigned http_server_inflight(const struct http_server *s)
{
    return s->inflight;
}

unsigned http_server_connections(const struct http_server *s)
{
    return s->nconns;
}

/* Stops reading requests; what is complete is still answered. */
static void conn_drain(struct http_conn *hc)
{
    hc->draining = 1;
    hc->input_done = 1;
    hc->reading_head = 0;
    if (hc->cur) { /* the tail: a request not complete yet is dropped */
        struct http_req *prev = NULL;
        for (struct http_req *r = hc->head; r != hc->cur; r = r->next)
            prev = r;
        if (prev)
            prev->next = NULL;
        else
            hc->head = NULL;
        hc->tail = prev;
        http__req_free(hc->cur);
        hc->cur = NULL;
    }
    http__conn_update(hc);
}

static void server_free(uv_handle_t *h)
{
    struct http_server *s = h->data;
    http__req_free_spares(s);
    buf_free(&s->wbuf);
    free(s->extra);
    free(s);
}

void http__server_maybe_free(struct http_server *s)
{
    if (!s->closing || s->freeing || s->nconns > 0 || s->inflight > 0) return;
    s->freeing = 1;
    uv_close((uv_handle_t *)&s->kick, server_free);
}

void http_server_close(struct http_server *s)
{
    http_server_stop_accepting(s);
    s->closing = 1;
    for (struct http_conn *hc = s->conns; hc; hc = hc->next)
        conn_drain(hc);
    http__server_maybe_free(s);
}
