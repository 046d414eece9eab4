/* http.h: the HTTP/1.1 server (on http-parser, over net.h connections).
 *
 * Keep-alive, pipelining (answers leave in request order even when the
 * handler answers out of order), chunked request bodies, Expect:
 * 100-continue, and limits with clear answers: request line + headers over
 * max_header -> 431, a body over max_body -> 413 (decided from
 * Content-Length before reading it, or while reading a chunked one), a
 * header or idle timeout closes the connection, a connection over
 * max_connections gets a 503 and is closed, malformed HTTP gets a 400
 * (HTTP/0.9, a request line without a version, included; a major version
 * other than 1 gets 505).
 * Every error the server writes itself is JSON {"message":"..."}.
 *
 * The handler is called once per complete request (body fully read) and
 * must eventually call http_respond() exactly once, now or later (e.g.
 * after a store commit). If the connection dies meanwhile, http_respond()
 * just releases the request. Loop thread only.
 *
 * A request with Connection: upgrade and an Upgrade header is the last one
 * read on its connection. Its handler either answers it normally (the
 * connection then closes after the answer) or calls http_upgrade() instead,
 * which writes the 101 once every earlier answer is written and hands the
 * connection, and the bytes read past the request, to a new owner. */
#ifndef GASKET_HTTP_HTTP_H
#define GASKET_HTTP_HTTP_H

#include <stddef.h>
#include <uv.h>

struct net_conn;
struct net_tls;
struct http_server;
struct http_req;

struct http_limits {
    size_t max_header;          /* request line + headers, bytes (16384) */
    size_t max_body;            /* bytes (1 MiB) */
    unsigned max_connections;   /* open connections (1024) */
    unsigned header_timeout_ms; /* a request's headers must arrive within it (10000) */
    unsigned idle_timeout_ms;   /* no byte in or out for this long closes (60000) */
    unsigned max_pipeline;      /* requests read ahead of their answers before reading pauses (64) */
};

/* Fills in the defaults given in the comments above. */
void http_limits_default(struct http_limits *lim);

typedef void (*http_handler)(void *ud, struct http_req *req);
/* Optional: the body limit of one request, asked once its head is read
 * (method, path, query and headers are available). Returns bytes, or 0 for
 * limits.max_body. Lets a bulk endpoint take larger bodies than the rest. */
typedef size_t (*http_body_limit_fn)(void *ud, const struct http_req *req);
/* Optional: judges a request that announces a body (Content-Length over 0,
 * or chunked) as soon as its head is read (method, path,
 * query, headers, peer and http_req_is_tls() are available; no body byte
 * has been read). Returns 0 to go on, or an HTTP status (403, 404, ...)
 * with a one-line reason in msg: the server then answers {"message":msg}
 * at once (no 100 Continue) and closes the connection without reading the
 * body. A request without a body is not asked about (the handler answers
 * it, keeping the connection). The handler still gets every admitted
 * request and keeps its own full checks. */
typedef int (*http_head_check_fn)(void *ud, const struct http_req *req, char *msg,
                                  size_t msglen);
/* Called for every response sent (handler's or the server's own), for metrics
 * and access logs; req gives path and method. */
typedef void (*http_response_hook)(void *ud, const struct http_req *req, int status);

struct http_server_options {
    struct http_limits limits;
    /* "Name: value\r\n" lines added to every response (e.g. CORS), or NULL. */
    const char *extra_headers;
    http_handler handler;
    http_response_hook on_response; /* optional */
    void *ud;
};

int http_server_new(struct http_server **out, uv_loop_t *loop,
                    const struct http_server_options *opt);
/* Adds a listener (plain when tls is NULL). See net_listen() for addr.
 * Returns 0 or a GK_E* code. */
int http_server_listen(struct http_server *s, const char *addr, struct net_tls *tls);
/* The bound address of the n-th listener, or NULL. */
const char *http_server_addr(struct http_server *s, unsigned n);
/* New limits and extra headers for new requests (SIGHUP); copies both. */
void http_server_configure(struct http_server *s, const struct http_limits *lim,
                           const char *extra_headers);
/* Installs (or with fn NULL removes) the per-request body limit. */
void http_server_set_body_limit(struct http_server *s, http_body_limit_fn fn, void *ud);
/* The loop the server runs on. */
uv_loop_t *http_server_loop(const struct http_server *s);
/* Installs (or with fn NULL removes) the check of each request's head. */
void http_server_set_head_check(struct http_server *s, http_head_check_fn fn, void *ud);
/* Closes the listeners; open connections go on. */
void http_server_stop_accepting(struct http_server *s);
/* 1 once http_server_close() was called (the daemon is stopping: a
 * long answer, such as a streamed export, should end early). */
int http_server_closing(const struct http_server *s);
/* Requests handed to the handler and not yet answered. */
unsigned http_server_inflight(const struct http_server *s);
unsigned http_server_connections(const struct http_server *s);
/* Closes every connection once its queued answers are written, then frees
 * the server when the last one has closed. Call after stop_accepting. */
void http_server_close(struct http_server *s);

/* Request accessors; strings are NUL-terminated and live as long as req. */
int http_req_method(const struct http_req *r); /* http-parser's enum http_method */
const char *http_req_method_str(const struct http_req *r);
const char *http_req_path(const struct http_req *r);  /* raw path, no query */
const char *http_req_query(const struct http_req *r); /* after '?', or "" */
/* First header with that name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
const char *http_req_body(const struct http_req *r, size_t *len);
const char *http_req_peer(const struct http_req *r);
/* The HTTP version of the request line (1.1: major 1, minor 1). */
void http_req_version(const struct http_req *r, unsigned *major, unsigned *minor);
/* 1 when the request came over a TLS listener. */
int http_req_is_tls(const struct http_req *r);
/* 1 when the request asks for a protocol upgrade (see http_upgrade()). */
int http_req_is_upgrade(const struct http_req *r);
/* The loop the server runs on. */
uv_loop_t *http_req_loop(const struct http_req *r);

/* Answers req (once). headers: extra "Name: value\r\n" lines or NULL.
 * Content-Length, Date, Connection and the server's extra headers are added.
 * req must not be used afterwards. */
void http_respond(struct http_req *r, int status, const char *headers, const char *content_type,
                  const void *body, size_t len);
/* Receives an upgraded connection. nc is NULL when the connection closed
 * before the upgrade could happen (nothing else is then passed). Otherwise
 * the HTTP server has forgotten nc (no timer, no close of its own) and the
 * callee owns it: it must replace the placeholder handler, which drops
 * bytes, with net_conn_start() (or close nc) before returning. data/len are
 * the bytes read past the request, which belong to the new protocol; they
 * are valid only during the call. */
typedef void (*http_upgrade_cb)(void *ud, struct net_conn *nc, const char *data, size_t len);

/* Answers an upgrade request (http_req_is_upgrade()) instead of
 * http_respond(): once every earlier answer on the connection is written,
 * writes head (the complete 101 response, copied) and calls cb exactly
 * once, possibly inside this call. Also done while http_server_close()
 * drains, as the request was read before; the new owner decides. A request
 * that is not an upgrade gets a 500 and cb gets NULL. req must not be used
 * afterwards. */
void http_upgrade(struct http_req *r, const char *head, size_t head_len, http_upgrade_cb cb,
                  void *ud);

/* ---- streamed answers ------------------------------------------------------
 * An answer too large to hold (an export of every document) is sent in
 * pieces instead of with http_respond(): HTTP/1.1 with chunked transfer
 * encoding, HTTP/1.0 as a body delimited by closing the connection.
 *
 *   http_stream_begin(r, 200, headers, type);
 *   then repeatedly: http_stream_write(r, piece, n);
 *                    http_stream_wait(r, more, ud);  -> more(ud, 0) later
 *   http_stream_end(r) (or http_stream_abort(r) on a failure midway).
 *
 * Back-pressure: http_stream_wait() calls back only once the request is at
 * the head of its connection's queue (earlier pipelined answers are
 * written) and its bytes have left for the kernel, down to
 * HTTP_STREAM_LOW_WATER still queued; a slow reader therefore holds the
 * producer, never the server's memory. While a stream waits for its reader
 * the idle timeout counts (a reader that takes nothing for idle_timeout is
 * disconnected). Loop thread only. */
#define HTTP_STREAM_LOW_WATER (64u << 10)

/* 0: ready for more; GK_ECLOSED: the connection is gone (end the stream). */
typedef void (*http_stream_cb)(void *ud, int status);

/* Starts the streamed answer of r instead of http_respond(); headers and
 * content_type as there (no Content-Length is sent). */
void http_stream_begin(struct http_req *r, int status, const char *headers,
                       const char *content_type);
/* Queues len bytes (copied) as the next piece; nothing for len 0 or a
 * HEAD request. Returns 0, or GK_ECLOSED when the connection is gone (the
 * stream must still be ended). */
int http_stream_write(struct http_req *r, const void *data, size_t len);
/* Calls cb(ud, 0) once, on a later loop turn (never inside this call), when
 * the stream may take more (see above), or cb(ud, GK_ECLOSED) if the
 * connection closes first. Returns 0, or GK_ECLOSED (cb will not be called)
 * when the connection is already gone. At most one wait at a time. */
int http_stream_wait(struct http_req *r, http_stream_cb cb, void *ud);
/* Ends the answer (the last chunk); r must not be used afterwards. A
 * pending wait is cancelled. */
void http_stream_end(struct http_req *r);
/* Gives up a begun answer (e.g. the database failed midway): what was
 * queued is written, then the connection is closed without the last chunk,
 * so the client sees a truncated body, never a complete-looking one. r must
 * not be used afterwards. */
void http_stream_abort(struct http_req *r);

/* The reason phrase for a status ("Too Many Requests"). */
const char *http_status_text(int status);

#endif
