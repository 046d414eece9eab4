/* http_parse.c: turns a connection's bytes into requests with http-parser.
 *
 * The parser is paused after each complete request so that the handler is
 * called outside http-parser, and whenever a limit is hit (the answer is
 * then the server's own error, see http__conn_error()). Header names and values
 * are stored as received, NUL-separated, in one buffer per request.
 * http-parser stops at the end of an upgrade request; the bytes after it
 * stay in the connection's input for the new protocol. */
#include "core/mem.h"
#include "http/http_int.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HDR_NO_VALUE      ((size_t)-1)
#define HDR_LINE_OVERHEAD 4  /* ": " and CRLF */
#define REQ_LINE_OVERHEAD 14 /* method, spaces, "HTTP/1.1", CRLF */

/* Requests are kept for reuse, their buffers with them: a keep-alive
 * client's next request then allocates nothing for its head, body and
 * answer. Up to SPARE_MAX per server, buffers up to SPARE_BUF bytes (a
 * large body's buffer is freed). Under ASan nothing is kept, so that a use
 * after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_MAX 0
#else
#define SPARE_MAX 64
#endif
#define SPARE_BUF 16384

#if SPARE_MAX > 0
static void buf_keep(struct buf *b)
{
    if (b->cap > SPARE_BUF) buf_free(b);
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}
#endif

struct http_req *http__req_new(struct http_conn *hc)
{
    struct http_server *s = hc->srv;
    struct http_req *r = s->spare;
    if (r) {
        s->spare = r->next;
        s->nspare--;
        struct http_req kept = *r; /* the buffers, emptied when kept */
        memset(r, 0, sizeof(*r));
        r->url = kept.url;
        r->hbuf = kept.hbuf;
        r->body = kept.body;
        r->rhead = kept.rhead;
        r->rbody = kept.rbody;
        r->hdrs = kept.hdrs;
        r->hcap = kept.hcap;
    } else {
        r = xcalloc(1, sizeof(*r));
    }
    r->srv = hc->srv;
    r->conn = hc;
    r->method = -1;
    r->keep_alive = 1;
    r->tls = net_conn_is_tls(hc->nc) != 0;
    const char *peer = net_conn_peer(hc->nc);
    size_t plen = strnlen(peer, sizeof r->peer - 1);
    memcpy(r->peer, peer, plen);
    r->peer[plen] = '\0';
    if (hc->tail)
        hc->tail->next = r;
    else
        hc->head = r;
    hc->tail = r;
    return r;
}

/* r and everything it holds. */
static void req_destroy(struct http_req *r)
{
    buf_free(&r->url);
    buf_free(&r->hbuf);
    buf_free(&r->body);
    buf_free(&r->rhead);
    buf_free(&r->rbody);
    free(r->hdrs);
    free(r);
}

void http__req_free(struct http_req *r)
{
    if (r->upgrade_cb) { /* the connection went before the upgrade */
        http_upgrade_cb cb = r->upgrade_cb;
        r->upgrade_cb = NULL;
        cb(r->upgrade_ud, NULL, NULL, 0);
    }
#if SPARE_MAX > 0
    struct http_server *s = r->srv;
    if (s->nspare < SPARE_MAX && !s->freeing) {
        buf_keep(&r->url);
        buf_keep(&r->hbuf);
        buf_keep(&r->body);
        buf_keep(&r->rhead);
        buf_keep(&r->rbody);
        r->next = s->spare;
        s->spare = r;
        s->nspare++;
        return;
    }
#endif
    req_destroy(r);
}

void http__req_free_spares(struct http_server *s)
{
    while (s->spare) {
        struct http_req *r = s->spare;
        s->spare = r->next;
        s->nspare--;
        req_destroy(r);
    }
}

void http__req_split_url(struct http_req *r)
{
    if (r->path) return;
    buf_append(&r->url, "", 0); /* allocates the terminator when empty */
    char *hash = strchr(r->url.data, '#');
    if (hash) *hash = '\0';
    char *q = strchr(r->url.data, '?');
    if (q) *q++ = '\0';
    r->path = r->url.data;
    r->query = q ? q : "";
}

/* ---- http-parser callbacks ---- */

static int conn_limit(http_parser *p, int status)
{
    struct http_conn *hc = p->data;
    hc->err_status = status;
    http_parser_pause(p, 1);
    return 0;
}

/* A refusal with its own message (conn_limit's are the status's default). */
static int conn_refuse(http_parser *p, int status, const char *msg)
{
    struct http_conn *hc = p->data;
    snprintf(hc->err_msg, sizeof hc->err_msg, "%s", msg);
    return conn_limit(p, status);
}

static int head_grow(http_parser *p, size_t n)
{
    struct http_conn *hc = p->data;
    hc->cur->head_bytes += n;
    if (hc->cur->head_bytes > hc->srv->lim.max_header) return conn_limit(p, 431);
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *hc = p->data;
    hc->cur = http__req_new(hc);
    hc->cur->head_bytes = REQ_LINE_OVERHEAD;
    hc->reading_head = 1;
    hc->head_start = uv_now(hc->srv->loop);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *hc = p->data;
    buf_append(&hc->cur->url, at, len);
    return head_grow(p, len);
}

/* Terminates the last header's name or value (an absent value is ""). */
static void hdr_close_last(struct http_req *r)
{
    if (r->nhdrs == 0) return;
    buf_putc(&r->hbuf, '\0');
    struct http_hdr *h = &r->hdrs[r->nhdrs - 1];
    if (h->value == HDR_NO_VALUE) h->value = r->hbuf.len - 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_req *r = ((struct http_conn *)p->data)->cur;
    size_t counted = len;
    if (!r->in_field) {
        hdr_close_last(r);
        if (r->nhdrs == r->hcap) {
            r->hcap = r->hcap ? r->hcap * 2 : 16;
            r->hdrs = xrealloc(r->hdrs, r->hcap * sizeof(*r->hdrs));
        }
        r->hdrs[r->nhdrs++] = (struct http_hdr){r->hbuf.len, HDR_NO_VALUE};
        r->in_field = 1;
        counted += HDR_LINE_OVERHEAD;
    }
    buf_append(&r->hbuf, at, len);
    return head_grow(p, counted);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_req *r = ((struct http_conn *)p->data)->cur;
    if (r->in_field) {
        buf_putc(&r->hbuf, '\0');
        r->hdrs[r->nhdrs - 1].value = r->hbuf.len;
        r->in_field = 0;
    }
    buf_append(&r->hbuf, at, len);
    return head_grow(p, len);
}

static int wants_continue(http_parser *p, struct http_req *r)
{
    const char *expect = http_req_header(r, "Expect");
    if (!expect || strcasecmp(expect, "100-continue") != 0) return 0;
    if (p->http_major != 1 || p->http_minor < 1) return 0;
    return (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *hc = p->data;
    struct http_req *r = hc->cur;
    hdr_close_last(r);
    r->in_field = 0;
    http__req_split_url(r);
    r->method = (int)p->method;
    r->major = p->http_major;
    r->minor = p->http_minor;
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    hc->reading_head = 0;
    if (p->http_major == 0)
        return conn_refuse(p, 400, "Bad request: HTTP/0.9 is not supported");
    if (p->http_major != 1) return conn_refuse(p, 505, "HTTP Version Not Supported");
    struct http_server *s = hc->srv;
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if (s->head_check && has_body) {
        char msg[sizeof hc->err_msg] = "";
        int st = s->head_check(s->head_check_ud, r, msg, sizeof msg);
        if (st != 0) return conn_refuse(p, st, msg[0] ? msg : http_status_text(st));
    }
    r->max_body = s->body_limit ? s->body_limit(s->body_limit_ud, r) : 0;
    if (r->max_body == 0) r->max_body = s->lim.max_body;
    if ((p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED) && p->content_length > r->max_body)
        return conn_limit(p, 413);
    r->expect_continue = wants_continue(p, r);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_req *r = ((struct http_conn *)p->data)->cur;
    if (r->body.len + len > r->max_body) return conn_limit(p, 413);
    buf_append(&r->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *hc = p->data;
    struct http_req *r = hc->cur;
    buf_append(&r->body, "", 0); /* NUL-terminated even when empty */
    r->state = REQ_HANDLER;
    hc->cur = NULL;
    hc->ready = r;
    if (!r->keep_alive) hc->input_done = 1; /* nothing after it is read */
    if (p->upgrade) {                       /* what follows is another protocol's, kept */
        r->upgrade = 1;
        hc->upgrading = 1;
    }
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http__conn_parser_init(struct http_conn *hc)
{
    http_parser_init(&hc->parser, HTTP_REQUEST);
    hc->parser.data = hc;
}

/* ---- driving the parser ---- */

static void conn_dispatch(struct http_conn *hc)
{
    struct http_req *r = hc->ready;
    struct http_server *s = hc->srv;
    hc->ready = NULL;
    hc->queued++;
    hc->in_handler++;
    s->inflight++;
    s->handler(s->ud, r);
}

/* Runs the parser once over the buffered input; 0 to go on, -1 to stop. */
static int conn_parse_step(struct http_conn *hc)
{
    size_t avail = hc->in.len - hc->in_off;
    size_t n = http_parser_execute(&hc->parser, &parser_settings, hc->in.data + hc->in_off, avail);
    enum http_errno e = HTTP_PARSER_ERRNO(&hc->parser);
    hc->in_off += n;
    if (hc->err_status) {
        http__conn_error(hc, hc->err_status,
                   hc->err_msg[0]             ? hc->err_msg
                   : hc->err_status == 431 ? "Request headers too large"
                                           : "Request body too large");
        return -1;
    }
    /* "GET /" and a line end: HTTP/0.9, which http-parser takes as a
     * request line waiting for headers; answered now, not at the timeout. */
    if (hc->reading_head && hc->cur && hc->parser.http_major == 0 &&
        hc->parser.http_minor == 9) {
        http__conn_error(hc, 400, "Bad request: HTTP/0.9 is not supported");
        return -1;
    }
    if (e == HPE_PAUSED) {
        http_parser_pause(&hc->parser, 0);
    } else if (e == HPE_HEADER_OVERFLOW) {
        http__conn_error(hc, 431, "Request headers too large");
        return -1;
    } else if (e != HPE_OK || (n < avail && !hc->ready)) {
        struct buf msg = {0};
        buf_printf(&msg, "Bad request: %s", http_errno_description(e));
        http__conn_error(hc, 400, msg.data);
        buf_free(&msg);
        return -1;
    }
    if (hc->ready) conn_dispatch(hc);
    return 0;
}

void http__conn_process(struct http_conn *hc)
{
    while (!hc->input_done && !hc->closing && hc->in_off < hc->in.len && !http__conn_should_pause(hc)) {
        if (conn_parse_step(hc) < 0) break;
    }
    if (hc->input_done && !hc->upgrading) {
        buf_free(&hc->in);
        hc->in_off = 0;
    } else if (hc->in_off > 0) {
        buf_consume(&hc->in, hc->in_off);
        hc->in_off = 0;
    }
    http__conn_flush(hc);
    http__conn_update(hc);
}

/* ---- accessors ---- */

int http_req_method(const struct http_req *r)
{
    return r->method;
}

const char *http_req_method_str(const struct http_req *r)
{
    return r->method < 0 ? "" : http_method_str((enum http_method)r->method);
}

const char *http_req_path(const struct http_req *r)
{
    return r->path ? r->path : "";
}

const char *http_req_query(const struct http_req *r)
{
    return r->query ? r->query : "";
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nhdrs; i++) {
        if (r->hdrs[i].value == HDR_NO_VALUE) continue;
        if (strcasecmp(r->hbuf.data + r->hdrs[i].name, name) == 0)
            return r->hbuf.data + r->hdrs[i].value;
    }
    return NULL;
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
    if (len) *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *http_req_peer(const struct http_req *r)
{
    return r->peer;
}

void http_req_version(const struct http_req *r, unsigned *major, unsigned *minor)
{
    *major = r->major;
    *minor = r->minor;
}

int http_req_is_tls(const struct http_req *r)
{
    return r->tls;
}

int http_req_is_upgrade(const struct http_req *r)
{
    return r->upgrade;
}

uv_loop_t *http_req_loop(const struct http_req *r)
{
    return r->srv->loop;
}
