/* http_int.h: the structures shared by the files of the HTTP server, private
 * to src/http.
 *
 *   http.c           server, listeners, connection lifetime, timers and
 *                    back-pressure
 *   http_parse.c     requests: http-parser callbacks, limits, accessors
 *   http_response.c  answers: formatting, ordering (pipelining), errors
 *
 * A connection keeps its requests in a FIFO in arrival order: the one being
 * parsed is the tail, complete ones wait for the handler or, answered, for
 * the ones before them. Only the head is ever written.
 *
 * An upgrade request is the last one parsed: the connection is then
 * `upgrading`, reading pauses and whatever still arrives is kept in `in` for
 * the new protocol. Answered with http_upgrade(), it carries a callback that
 * http__conn_flush() hands the connection to when the request reaches the head
 * (http__conn_handover()); released any other way, http__req_free() calls it with NULL. */
#ifndef GASKET_HTTP_HTTP_INT_H
#define GASKET_HTTP_HTTP_INT_H

#include "core/buf.h"
#include "http/http.h"

#include <http_parser.h>
#include <stdint.h>
#include <time.h>

#define HTTP_MAX_OUTPUT (1u << 20) /* queued output above which reading pauses */
#define HTTP_PEER_LEN   72

struct net_conn;
struct net_listener;

enum req_state { REQ_READING, REQ_HANDLER, REQ_ANSWERED };

struct http_hdr {
    size_t name, value; /* offsets into http_req.hbuf */
};

struct http_req {
    struct http_server *srv;
    struct http_conn *conn; /* NULL once the connection is gone */
    struct http_req *next;
    enum req_state state;
    int method; /* enum http_method, or -1 when the request line was not read */
    unsigned short major, minor;
    unsigned keep_alive : 1, in_field : 1, expect_continue : 1, continue_sent : 1, close_after : 1,
        upgrade : 1, tls : 1;
    /* A streamed answer (http_stream_begin): rbody holds framed bytes not yet
     * written; the head goes out once the request is at the queue's head. */
    unsigned streaming : 1, chunked : 1, head_sent : 1, abort_after : 1;
    http_stream_cb stream_cb; /* a pending http_stream_wait() */
    void *stream_ud;
    size_t max_body; /* this request's body limit */
    struct buf url; /* request target; split in place into path and query */
    const char *path, *query;
    struct buf hbuf; /* "name\0value\0" ... as received */
    struct http_hdr *hdrs;
    size_t nhdrs, hcap;
    size_t head_bytes; /* request line + headers so far */
    struct buf body;
    char peer[HTTP_PEER_LEN];
    int status;                 /* the answer ... */
    struct buf rhead;           /* ... its handler headers and Content-Type line ... */
    struct buf rbody;           /* ... and its body (for a 101: the whole head) */
    http_upgrade_cb upgrade_cb; /* set by http_upgrade() until called */
    void *upgrade_ud;
};

struct http_conn {
    struct http_server *srv;
    struct net_conn *nc;
    struct http_conn *prev, *next; /* server's list */
    struct http_conn *kick_next;   /* server's list of input to parse later */
    http_parser parser;
    struct buf in; /* bytes read, not yet parsed, from in_off */
    size_t in_off;
    struct http_req *head, *tail; /* FIFO of requests; cur is the tail */
    struct http_req *cur;         /* being parsed */
    struct http_req *ready;       /* just completed, to hand to the handler */
    int err_status;               /* a limit hit inside a parser callback ... */
    char err_msg[160];            /* ... and its message ("": the status's default) */
    unsigned queued;              /* complete requests not yet written */
    unsigned in_handler;          /* of which waiting for http_respond() */
    uv_timer_t timer;
    uint64_t timer_due; /* when the timer fires, while it is active */
    uint64_t last_io, head_start;
    unsigned reading_head : 1, input_done : 1, closing : 1, gone : 1, paused : 1, draining : 1,
        kicked : 1, upgrading : 1;
    /* A streamed answer's wait may have become answerable: checked from the
     * idle handle on the next loop turn, once this turn's output has been
     * written (net.c writes corked output after the poll phase). */
    unsigned stream_check : 1;
};

struct http_server {
    uv_loop_t *loop;
    struct http_limits lim;
    char *extra; /* extra response headers, "" when none */
    http_handler handler;
    http_response_hook on_response;
    http_body_limit_fn body_limit; /* optional */
    void *body_limit_ud;
    http_head_check_fn head_check; /* optional */
    void *head_check_ud;
    void *ud;
    struct net_listener **ls;
    unsigned nls;
    struct http_conn *conns;
    unsigned nconns, inflight;
    uv_idle_t kick; /* parses input held back by back-pressure, outside callers */
    struct http_conn *kick_list;
    int closing, freeing;
    time_t date_at;
    char date[40];
    struct http_req *spare; /* freed requests kept with their buffers */
    struct buf wbuf;        /* where an answer is put together to be written */
    unsigned nspare;
};

/* http_parse.c */
struct http_req *http__req_new(struct http_conn *hc);
/* Frees r (or keeps it, buffers emptied, for the server's next request);
 * an upgrade callback not called yet gets a NULL connection. */
void http__req_free(struct http_req *r);
/* Frees the requests kept by http__req_free. */
void http__req_free_spares(struct http_server *s);
void http__req_split_url(struct http_req *r);
void http__conn_parser_init(struct http_conn *hc);
/* Parses buffered input while back-pressure allows, handing each complete
 * request to the handler. */
void http__conn_process(struct http_conn *hc);

/* http_response.c */
/* Writes the answers at the head of the queue that are ready, in order. */
void http__conn_flush(struct http_conn *hc);
/* Answers the request being read (or a new one) with a JSON error, stops
 * reading requests and closes after it. */
void http__conn_error(struct http_conn *hc, int status, const char *message);
/* Formats the server's own JSON error into out (Connection: close). */
void http_format_error(struct http_server *s, struct buf *out, int status, const char *message);
/* 1 when the head of hc's queue is a stream waiting for its reader. */
int http__conn_stream_blocked(struct http_conn *hc);
/* Answers a pending http_stream_wait() of the queue's head, if ready. */
void http__conn_stream_notify(struct http_conn *hc);
/* Calls the pending waits of a list of detached requests (linked by next)
 * with GK_ECLOSED; the connection is gone. */
void http__req_notify_closed(struct http_req *list);

/* http.c */
/* Re-evaluates back-pressure, the timer and a draining close. */
void http__conn_update(struct http_conn *hc);
int http__conn_should_pause(struct http_conn *hc);
/* Writes r's 101 head and hands the connection to r's upgrade callback; the
 * server forgets the connection (hc is freed on a later loop turn). */
void http__conn_handover(struct http_conn *hc, struct http_req *r);
/* Frees the server once closed with no connection and no request left. */
void http__server_maybe_free(struct http_server *s);

#endif
