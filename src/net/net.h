/* net.h: listeners and the connection transport shared by HTTP and MQTT.
 *
 * A net_conn is a TCP connection seen as a plaintext byte stream. Over a
 * TLS listener the bytes go through OpenSSL with memory BIOs (the socket is
 * still driven by libuv; OpenSSL never touches it), so the protocol layers
 * above never know which transport they run on.
 *
 * Lifetimes follow libuv: a connection is freed only after its on_close
 * callback returns; a listener after net_listener_close() has taken effect.
 * Callbacks never run inside the call that caused them, except on_read.
 * Everything here runs on the loop thread. */
#ifndef GASKET_NET_NET_H
#define GASKET_NET_NET_H

#include <stddef.h>
#include <uv.h>

struct net_tls;
struct net_conn;
struct net_listener;

struct net_conn_handler {
    /* Plaintext bytes arrived; `data` is valid only during the call. */
    void (*on_read)(struct net_conn *c, const char *data, size_t len);
    /* Optional: every queued byte has been handed to the kernel. */
    void (*on_drain)(struct net_conn *c);
    /* Last callback: peer closed (err 0), error or close requested. The
     * connection is freed right after it returns. */
    void (*on_close)(struct net_conn *c, int err);
};

/* A new connection is handed over; the callee must call net_conn_start()
 * (or net_conn_close()) before returning. */
typedef void (*net_accept_cb)(struct net_listener *l, struct net_conn *c);

/* Server TLS context from PEM files. With `ca` set, clients must present a
 * certificate signed by it, and TLS sessions are never resumed (each
 * connection's certificate is verified against the trust of the moment).
 * On failure returns GK_ETLS and a reason in errbuf. */
int net_tls_new(struct net_tls **out, const char *cert, const char *key, const char *ca,
                char *errbuf, size_t errlen);
void net_tls_free(struct net_tls *t);

/* What a context verifies client certificates against: the CA file and,
 * when crl is not NULL, the revocation lists in that PEM file (each must be
 * signed by a certificate of the CA file and not past its next update);
 * a certificate they list is refused at the handshake. Reads files: call it
 * on any thread but the loop's. Returns 0, or GK_ETLS with a reason. */
struct net_tls_trust;
int net_tls_trust_load(struct net_tls_trust **out, const char *ca, const char *crl, char *errbuf,
                       size_t errlen);
void net_tls_trust_free(struct net_tls_trust *trust);
/* Verifies t's clients against trust (taken over) from the next handshake
 * on; connections already established are not affected. Loop thread. */
void net_tls_set_trust(struct net_tls *t, struct net_tls_trust *trust);

/* Listens on `addr` ("0.0.0.0:8080", "[::1]:8443", "127.0.0.1:0", ":8080");
 * tls NULL means plain TCP. Returns 0, GK_EADDR for an unparsable address or
 * GK_EIO (reason logged) when bind/listen fails. */
int net_listen(struct net_listener **out, uv_loop_t *loop, const char *addr, struct net_tls *tls,
               net_accept_cb cb, void *ud);
void *net_listener_data(struct net_listener *l);
/* The bound address as "host:port" (the real port when 0 was asked for). */
const char *net_listener_addr(struct net_listener *l);
/* Stops accepting and frees the listener; open connections are untouched. */
void net_listener_close(struct net_listener *l);

/* Installs the handler and starts reading (unless paused). May be called
 * again to hand the connection to a new owner (an HTTP upgrade): every later
 * callback, on_close included, goes to the new handler and ud. */
void net_conn_start(struct net_conn *c, const struct net_conn_handler *h, void *ud);
void *net_conn_data(struct net_conn *c);
void net_conn_set_data(struct net_conn *c, void *ud);
/* Queues bytes (copied). Returns 0, or GK_ECLOSED once closing. */
int net_conn_write(struct net_conn *c, const void *p, size_t n);
/* Bytes queued and not yet handed to the kernel. */
size_t net_conn_pending(struct net_conn *c);
/* Stops and restarts reading (back-pressure). */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
/* Writes what is queued (and a TLS close_notify), then closes. */
void net_conn_close(struct net_conn *c);
/* Closes at once, dropping queued bytes. */
void net_conn_abort(struct net_conn *c);
/* "127.0.0.1:54321" or "[::1]:54321". */
const char *net_conn_peer(struct net_conn *c);
/* 1 when addr (a peer or a bound address: "127.0.0.1:80", "[::1]:80",
 * "[::ffff:127.0.0.1]:80", or a configured "localhost:80") is on loopback. */
int net_addr_is_loopback(const char *addr);
int net_conn_is_tls(struct net_conn *c);
/* The verified client certificate's CN, or NULL. */
const char *net_conn_tls_cn(struct net_conn *c);

#endif
