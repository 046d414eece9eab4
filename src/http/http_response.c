/* http_response.c: answers, written strictly in request order.
 *
 * http_respond() only stores the answer on its request; http__conn_flush() writes
 * the answers at the head of the connection's queue that are ready, so a
 * later request answered first waits for the ones before it. The response
 * head is formatted when it is written, which is when the server knows
 * whether the connection will close after it. An upgrade's 101 is written
 * the same way, in order, by http__conn_handover().
 *
 * A streamed answer (http_stream_begin) stays at the head of the queue
 * while it is produced: its head is written when it gets there, each piece
 * is framed as a chunk into rbody and written at once when it is at the
 * head; http_stream_end() appends the last chunk and it leaves the queue
 * like any answer. */
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http_int.h"
#include "net/net.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *text;
} status_texts[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {507, "Insufficient Storage"},
};

const char *http_status_text(int status)
{
    for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++) {
        if (status_texts[i].status == status) return status_texts[i].text;
    }
    return "Unknown";
}

/* No Content-Length and no body for these (RFC 9110 8.6, 15.4.5). */
static int status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

static const char *server_date(struct http_server *s)
{
    time_t now = time(NULL);
    if (now != s->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = now;
    }
    return s->date;
}

#define NO_LENGTH ((size_t)-1) /* a streamed body: no Content-Length */

/* Status line and the headers every response carries, up to the blank line. */
static void format_head(struct http_server *s, struct buf *out, int status, size_t len,
                        const char *conn_header)
{
    /* the head of every answer: no printf */
    buf_puts(out, "HTTP/1.1 ");
    buf_put_i64(out, status);
    buf_putc(out, ' ');
    buf_puts(out, http_status_text(status));
    buf_puts(out, "\r\nDate: ");
    buf_puts(out, server_date(s));
    if (status_has_body(status) && len != NO_LENGTH) {
        buf_puts(out, "\r\nContent-Length: ");
        buf_put_i64(out, (int64_t)len);
    }
    if (conn_header) {
        buf_puts(out, "\r\nConnection: ");
        buf_puts(out, conn_header);
    }
    buf_puts(out, "\r\n");
    buf_puts(out, s->extra);
}

static void json_message(struct buf *body, const char *message)
{
    buf_puts(body, "{\"message\":");
    buf_json_str(body, message, strlen(message));
    buf_putc(body, '}');
}

void http_format_error(struct http_server *s, struct buf *out, int status, const char *message)
{
    struct buf body = {0};
    json_message(&body, message);
    format_head(s, out, status, body.len, "close");
    buf_puts(out, "Content-Type: application/json\r\n\r\n");
    buf_append(out, body.data, body.len);
    buf_free(&body);
}

static const char *conn_header(const struct http_req *r, int close)
{
    if (close) return "close";
    return r->major == 1 && r->minor == 0 ? "keep-alive" : NULL;
}

/* The head of a streamed answer, once, when it reaches the queue's head. */
static void stream_head(struct http_conn *hc, struct http_req *r, struct buf *out)
{
    if (r->head_sent) return;
    format_head(hc->srv, out, r->status, NO_LENGTH, conn_header(r, !r->keep_alive));
    if (r->chunked) buf_puts(out, "Transfer-Encoding: chunked\r\n");
    buf_append(out, r->rhead.data, r->rhead.len);
    buf_puts(out, "\r\n");
    r->head_sent = 1;
}

static void write_answer(struct http_conn *hc, struct http_req *r, int close)
{
    struct buf *head = &hc->srv->wbuf; /* kept between answers */
    if (r->streaming) {
        stream_head(hc, r, head);
    } else {
        format_head(hc->srv, head, r->status, r->rbody.len, conn_header(r, close));
        buf_append(head, r->rhead.data, r->rhead.len);
        buf_puts(head, "\r\n");
    }
    /* both go to the connection's output of this loop turn: one write */
    net_conn_write(hc->nc, head->data, head->len);
    if (r->method != HTTP_HEAD && status_has_body(r->status))
        net_conn_write(hc->nc, r->rbody.data, r->rbody.len);
    if (head->cap > 16384)
        buf_free(head); /* a rare long head's room is not kept */
    else
        buf_reset(head);
    hc->last_io = uv_now(hc->srv->loop);
}

/* Writes what a stream at the head has produced so far. */
static void stream_flush(struct http_conn *hc, struct http_req *r)
{
    if (r->head_sent && r->rbody.len == 0) return;
    write_answer(hc, r, 0);
    buf_reset(&r->rbody);
    hc->stream_check = 1;
}

void http__req_notify_closed(struct http_req *list)
{
    for (struct http_req *r = list, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        http_stream_cb cb = r->stream_cb;
        r->stream_cb = NULL;
        cb(r->stream_ud, GK_ECLOSED); /* may end the stream and free r */
    }
}

/* Detaches what is left in the queue once the connection will close:
 * requests in the handler live on until answered, the rest go; streams
 * waiting for their reader are told. */
static void conn_drop_queue(struct http_conn *hc)
{
    struct http_req *r = hc->head, *next, *waiting = NULL;
    for (; r; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->state == REQ_HANDLER) {
            r->conn = NULL;
            if (r->stream_cb) r->next = waiting, waiting = r;
        } else {
            http__req_free(r);
        }
    }
    hc->head = hc->tail = hc->cur = NULL;
    hc->queued = hc->in_handler = 0;
    hc->reading_head = 0;
    http__req_notify_closed(waiting);
}

static void conn_send_continue(struct http_conn *hc, struct http_req *r)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (r->state == REQ_READING && r->expect_continue && !r->continue_sent) {
        net_conn_write(hc->nc, msg, sizeof(msg) - 1);
        r->continue_sent = 1;
    }
}

void http__conn_flush(struct http_conn *hc)
{
    struct http_req *r;
    while ((r = hc->head) && !hc->closing) {
        if (r->streaming && r->state != REQ_ANSWERED) {
            stream_flush(hc, r);
            return;
        }
        if (r->state != REQ_ANSWERED) {
            conn_send_continue(hc, r);
            return;
        }
        hc->head = r->next;
        if (!hc->head) hc->tail = NULL;
        if (r->upgrade_cb) { /* the last request: the connection goes */
            http__conn_handover(hc, r);
            return;
        }
        int close = r->close_after || r->abort_after || !r->keep_alive ||
                    (hc->draining && !hc->head);
        write_answer(hc, r, close);
        if (!r->close_after) hc->queued--;
        if (hc->srv->on_response) hc->srv->on_response(hc->srv->ud, r, r->status);
        http__req_free(r);
        if (close) {
            hc->closing = 1;
            conn_drop_queue(hc);
            net_conn_close(hc->nc);
        }
    }
}

void http__conn_error(struct http_conn *hc, int status, const char *message)
{
    struct http_req *r = hc->cur ? hc->cur : http__req_new(hc);
    hc->cur = NULL;
    hc->reading_head = 0;
    hc->input_done = 1;
    http__req_split_url(r);
    log_debug("http: %s: %d %s", r->peer, status, message);
    struct buf body = {0};
    json_message(&body, message);
    r->status = status;
    buf_free(&r->rhead);
    buf_puts(&r->rhead, "Content-Type: application/json\r\n");
    buf_free(&r->rbody);
    r->rbody = body;
    r->close_after = 1;
    r->state = REQ_ANSWERED;
}

static void req_set_answer(struct http_req *r, int status, const char *headers,
                           const char *content_type, const void *body, size_t len)
{
    r->status = status;
    if (headers) buf_puts(&r->rhead, headers);
    if (content_type) {
        buf_puts(&r->rhead, "Content-Type: ");
        buf_puts(&r->rhead, content_type);
        buf_puts(&r->rhead, "\r\n");
    }
    if (len) buf_append(&r->rbody, body, len);
}

/* The handler is done with r, whose answer is stored: writes what can be. */
static void req_done(struct http_req *r)
{
    struct http_server *s = r->srv;
    struct http_conn *hc = r->conn;
    s->inflight--;
    if (!hc) {
        http__req_free(r); /* the connection is gone */
        http__server_maybe_free(s);
        return;
    }
    hc->in_handler--;
    r->state = REQ_ANSWERED;
    hc->stream_check = 1; /* a stream behind r may now be at the head */
    http__conn_flush(hc);
    http__conn_update(hc);
}

void http_respond(struct http_req *r, int status, const char *headers, const char *content_type,
                  const void *body, size_t len)
{
    if (r->conn) req_set_answer(r, status, headers, content_type, body, len);
    req_done(r);
}

void http_upgrade(struct http_req *r, const char *head, size_t head_len, http_upgrade_cb cb,
                  void *ud)
{
    static const char refused[] = "{\"message\":\"Not an upgrade request\"}";
    if (!r->upgrade) {
        log_warn("http: %s: http_upgrade() on a request that is no upgrade", r->peer);
        http_respond(r, 500, NULL, "application/json", refused, sizeof(refused) - 1);
        cb(ud, NULL, NULL, 0);
        return;
    }
    r->upgrade_cb = cb;
    r->upgrade_ud = ud;
    if (r->conn) {
        r->status = 101;
        buf_append(&r->rbody, head, head_len);
    }
    req_done(r);
}

/* ---- streamed answers ---- */

void http_stream_begin(struct http_req *r, int status, const char *headers,
                       const char *content_type)
{
    struct http_conn *hc = r->conn;
    r->streaming = 1;
    r->status = status;
    if (!hc) return;
    req_set_answer(r, status, headers, content_type, NULL, 0);
    if (r->major == 1 && r->minor >= 1)
        r->chunked = 1;
    else
        r->keep_alive = 0; /* HTTP/1.0: the close delimits the body */
    http__conn_flush(hc);
    http__conn_update(hc);
}

int http_stream_write(struct http_req *r, const void *data, size_t len)
{
    struct http_conn *hc = r->conn;
    if (!hc) return GK_ECLOSED;
    if (len == 0 || r->method == HTTP_HEAD || !status_has_body(r->status)) return 0;
    if (r->chunked) buf_printf(&r->rbody, "%zx\r\n", len);
    buf_append(&r->rbody, data, len);
    if (r->chunked) buf_puts(&r->rbody, "\r\n");
    http__conn_flush(hc);
    http__conn_update(hc);
    return 0;
}

int http_stream_wait(struct http_req *r, http_stream_cb cb, void *ud)
{
    if (!r->conn) return GK_ECLOSED;
    r->stream_cb = cb;
    r->stream_ud = ud;
    r->conn->stream_check = 1;
    http__conn_update(r->conn); /* checked on the next loop turn */
    return 0;
}

static int conn_stream_ready(struct http_conn *hc)
{
    struct http_req *r = hc->head;
    return r && r->streaming && r->stream_cb && r->head_sent && r->rbody.len == 0 &&
           !hc->closing && net_conn_pending(hc->nc) <= HTTP_STREAM_LOW_WATER;
}

int http__conn_stream_blocked(struct http_conn *hc)
{
    struct http_req *r = hc->head;
    return r && r->streaming && r->stream_cb && net_conn_pending(hc->nc) > 0;
}

void http__conn_stream_notify(struct http_conn *hc)
{
    if (!conn_stream_ready(hc)) return;
    struct http_req *r = hc->head;
    http_stream_cb cb = r->stream_cb;
    r->stream_cb = NULL;
    cb(r->stream_ud, 0);
}

static void stream_finish(struct http_req *r, int abort)
{
    r->stream_cb = NULL;
    if (r->conn && abort)
        r->abort_after = 1;
    else if (r->conn && r->chunked && r->method != HTTP_HEAD && status_has_body(r->status))
        buf_puts(&r->rbody, "0\r\n\r\n");
    req_done(r);
}

void http_stream_end(struct http_req *r)
{
    stream_finish(r, 0);
}

void http_stream_abort(struct http_req *r)
{
    stream_finish(r, 1);
}
