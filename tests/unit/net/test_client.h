/* test_client.h: a blocking TCP/TLS client for the net and http unit tests.
 *
 * The tests run the server in a libuv loop on the main thread and this
 * client on a second thread. Every receive has a generous timeout
 * (CL_TIMEOUT_MS) so that a broken server fails a test instead of hanging
 * it; tests that measure a server timeout use short server settings, never
 * short client ones. */
#ifndef GASKET_TEST_CLIENT_H
#define GASKET_TEST_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CL_TIMEOUT_MS 10000
#define CL_BUF        (40 << 20)

struct cl {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf; /* bytes received and not consumed */
    size_t len;
};

struct cl_resp {
    int status;
    char head[8192];
    char body[65536];
    size_t body_len;
};

static inline long cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void cl_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline int cl_connect(struct cl *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {CL_TIMEOUT_MS / 1000, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->buf = malloc(CL_BUF);
    return connect(c->fd, (struct sockaddr *)&a, sizeof(a));
}

/* TLS on top of cl_connect(); cert/key may be NULL (no client certificate). */
static inline int cl_connect_tls(struct cl *c, int port, const char *ca, const char *cert,
                                 const char *key)
{
    if (cl_connect(c, port) != 0) return -1;
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (ca) SSL_CTX_load_verify_locations(c->ctx, ca, NULL);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (cert && SSL_CTX_use_certificate_file(c->ctx, cert, SSL_FILETYPE_PEM) != 1) return -1;
    if (key && SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) return -1;
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static inline void cl_close(struct cl *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static inline int cl_send_n(struct cl *c, const void *p, size_t n)
{
    if (c->ssl) return SSL_write(c->ssl, p, (int)n) == (int)n ? 0 : -1;
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int cl_send(struct cl *c, const char *s)
{
    return cl_send_n(c, s, strlen(s));
}

/* Receives more bytes: > 0 bytes, 0 on EOF, -1 on error or timeout. */
static inline int cl_more(struct cl *c)
{
    if (c->len + 1 >= CL_BUF) return -1;
    size_t room = CL_BUF - 1 - c->len;
    ssize_t n;
    if (c->ssl) {
        n = SSL_read(c->ssl, c->buf + c->len, (int)room);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, (int)n);
            ERR_clear_error();
            return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
    } else {
        n = recv(c->fd, c->buf + c->len, room, 0);
        if (n < 0) return errno == ECONNRESET ? 0 : -1;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return (int)n;
}

static inline void cl_consume(struct cl *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads exactly n bytes; 0 or -1. */
static inline int cl_read_exact(struct cl *c, char *out, size_t n)
{
    while (c->len < n) {
        if (cl_more(c) <= 0) return -1;
    }
    memcpy(out, c->buf, n);
    cl_consume(c, n);
    return 0;
}

/* Value of header `name` in a response head, copied into out; 0 or -1. */
static inline int cl_header(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            if (len >= outlen) len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

/* Reads one response (head and, unless no_body as for HEAD, the
 * Content-Length body); 0 or -1. */
static inline int cl_response_ex(struct cl *c, struct cl_resp *r, int no_body)
{
    char *end;
    memset(r, 0, sizeof(*r));
    while (!(end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL)) {
        if (cl_more(c) <= 0) return -1;
    }
    size_t hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof(r->head)) return -1;
    memcpy(r->head, c->buf, hl);
    cl_consume(c, hl);
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    char cl[32];
    size_t len = 0;
    if (!no_body && cl_header(r->head, "Content-Length", cl, sizeof(cl)) == 0)
        len = strtoul(cl, NULL, 10);
    if (len >= sizeof(r->body) || cl_read_exact(c, r->body, len) != 0) return -1;
    r->body_len = len;
    return 0;
}

static inline int cl_response(struct cl *c, struct cl_resp *r)
{
    return cl_response_ex(c, r, 0);
}

/* Waits for the server to close; returns 0 when it did, -1 on timeout or
 * when more data arrived (unconsumed data is an error too). */
static inline int cl_wait_close(struct cl *c)
{
    for (;;) {
        size_t before = c->len;
        int n = cl_more(c);
        if (n == 0) return before == 0 ? 0 : -1;
        if (n < 0) return -1;
    }
}

#endif
