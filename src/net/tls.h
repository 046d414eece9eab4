/* tls.h: the OpenSSL side of net.h, private to src/net.
 *
 * A tls_sess wraps one SSL object over two memory BIOs: ciphertext from the
 * socket goes in with net__tls_sess_input(), ciphertext for the socket comes out
 * with net__tls_sess_output_read(). OpenSSL never sees the file descriptor, so
 * libuv keeps driving all I/O. */
#ifndef GASKET_NET_TLS_H
#define GASKET_NET_TLS_H

#include "core/buf.h"

#include <openssl/ssl.h>
#include <stddef.h>

struct net_tls;

struct tls_sess {
    SSL *ssl;
    BIO *rbio;       /* ciphertext in (from the socket) */
    BIO *wbio;       /* ciphertext out (to the socket) */
    struct buf held; /* plaintext written before the handshake finished */
    char *cn;        /* verified client certificate CN, or NULL */
    int established;
};

/* Prepares a server-side session; returns 0 or GK_ETLS. */
int net__tls_sess_init(struct tls_sess *t, struct net_tls *ctx);
void net__tls_sess_free(struct tls_sess *t);
/* Queues ciphertext read from the socket. */
void net__tls_sess_input(struct tls_sess *t, const char *p, size_t n);
/* Advances the handshake and, once done, reads plaintext into out.
 * Returns bytes read (> 0), 0 when more input is needed, GK_ECLOSED on the
 * peer's close_notify or GK_ETLS on a protocol or verification failure. */
int net__tls_sess_read(struct tls_sess *t, char *out, size_t cap);
/* Encrypts plaintext (held until the handshake is done). 0 or GK_ETLS. */
int net__tls_sess_write(struct tls_sess *t, const void *p, size_t n);
/* Queues a close_notify alert (only after a completed handshake). */
void net__tls_sess_shutdown(struct tls_sess *t);
/* Ciphertext waiting for the socket, in bytes. */
size_t net__tls_sess_output_len(struct tls_sess *t);
/* Moves n (<= net__tls_sess_output_len()) bytes of that ciphertext into dst. */
void net__tls_sess_output_read(struct tls_sess *t, char *dst, size_t n);

#endif
