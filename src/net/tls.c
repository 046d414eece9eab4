/* tls.c: server TLS contexts (net_tls_new) and per-connection sessions over
 * memory BIOs (tls.h). net.c moves the ciphertext between the BIOs and the
 * libuv socket; this file only talks to OpenSSL. */
#include "net/tls.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/net.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_tls {
    SSL_CTX *ctx;
    int verify_clients;
};

static int tls_fail(SSL_CTX *ctx, const char *what, const char *file, char *errbuf, size_t errlen)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    if (errbuf && errlen) snprintf(errbuf, errlen, "%s %s: %s", what, file ? file : "", reason);
    SSL_CTX_free(ctx);
    return GK_ETLS;
}

static int tls_setup_ca(SSL_CTX *ctx, const char *ca)
{
    static const unsigned char sid[] = "gasket";
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) return -1;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    /* A resumed session skips the certificate check: a revoked device could
     * come back on one. Devices connect rarely; every handshake is full. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    return 0;
}

int net_tls_new(struct net_tls **out, const char *cert, const char *key, const char *ca,
                char *errbuf, size_t errlen)
{
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return tls_fail(ctx, "creating context", NULL, errbuf, errlen);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return tls_fail(ctx, "loading certificate", cert, errbuf, errlen);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return tls_fail(ctx, "loading key", key, errbuf, errlen);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail(ctx, "key does not match certificate", key, errbuf, errlen);
    if (ca && *ca && tls_setup_ca(ctx, ca) != 0)
        return tls_fail(ctx, "loading CA", ca, errbuf, errlen);
    struct net_tls *t = xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    t->verify_clients = ca && *ca;
    *out = t;
    return 0;
}

struct net_tls_trust {
    X509_STORE *store;
};

/* 0 when crl is signed by a certificate of store and still current. */
static int crl_check(X509_STORE *store, X509_CRL *crl, char *why, size_t len)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    int signed_ok = 0;
    for (int i = 0; i < sk_X509_OBJECT_num(objs) && !signed_ok; i++) {
        X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        signed_ok = ca && X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
                    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
    }
    ERR_clear_error();
    if (!signed_ok) return snprintf(why, len, "a CRL not signed by the CA"), -1;
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next && X509_cmp_current_time(next) <= 0)
        return snprintf(why, len, "a CRL past its next update"), -1;
    return 0;
}

/* Adds every CRL of the PEM file to store (at least one). */
static int load_crls(X509_STORE *store, const char *file, char *why, size_t len)
{
    BIO *in = BIO_new_file(file, "r");
    if (!in) return snprintf(why, len, "cannot read it"), -1;
    int n = 0, rc = 0;
    X509_CRL *crl;
    while (rc == 0 && (crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL))) {
        rc = crl_check(store, crl, why, len);
        if (rc == 0 && X509_STORE_add_crl(store, crl) != 1) {
            snprintf(why, len, "cannot add a CRL");
            rc = -1;
        }
        X509_CRL_free(crl);
        n++;
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    BIO_free(in);
    if (rc == 0 && n == 0) return snprintf(why, len, "no CRL in it (PEM X509 CRL)"), -1;
    return rc;
}

int net_tls_trust_load(struct net_tls_trust **out, const char *ca, const char *crl, char *errbuf,
                       size_t errlen)
{
    char why[128];
    *out = NULL;
    X509_STORE *store = X509_STORE_new();
    if (!store || X509_STORE_load_file(store, ca) != 1) {
        X509_STORE_free(store);
        return tls_fail(NULL, "loading CA", ca, errbuf, errlen);
    }
    if (crl && load_crls(store, crl, why, sizeof why) != 0) {
        X509_STORE_free(store);
        snprintf(errbuf, errlen, "loading CRL %s: %s", crl, why);
        return GK_ETLS;
    }
    if (crl) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    *out = xcalloc(1, sizeof **out);
    (*out)->store = store;
    return 0;
}

void net_tls_trust_free(struct net_tls_trust *trust)
{
    if (!trust) return;
    X509_STORE_free(trust->store);
    free(trust);
}

void net_tls_set_trust(struct net_tls *t, struct net_tls_trust *trust)
{
    SSL_CTX_set_cert_store(t->ctx, trust->store); /* frees the one it replaces */
    free(trust);
}

void net_tls_free(struct net_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx); /* reference counted: live sessions keep it */
    free(t);
}

int net__tls_sess_init(struct tls_sess *t, struct net_tls *ctx)
{
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(ctx->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        t->ssl = NULL;
        ERR_clear_error();
        return GK_ETLS;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    SSL_set_accept_state(t->ssl);
    return 0;
}

void net__tls_sess_free(struct tls_sess *t)
{
    SSL_free(t->ssl);
    t->ssl = NULL;
    buf_free(&t->held);
    free(t->cn);
    t->cn = NULL;
}

void net__tls_sess_input(struct tls_sess *t, const char *p, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0) abort(); /* a memory BIO only fails when out of memory */
        p += w;
        n -= (size_t)w;
    }
}

/* Classifies a failed SSL_* call: 0 to wait for input, else a GK_E* code. */
static int tls_error(struct tls_sess *t, int rc)
{
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return GK_ECLOSED;
    unsigned long code = ERR_peek_error();
    if (code) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof(reason));
        log_debug("tls: %s", reason);
    }
    ERR_clear_error();
    return GK_ETLS;
}

static void tls_take_cn(struct tls_sess *t)
{
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (!peer) return;
    if (SSL_get_verify_result(t->ssl) == X509_V_OK) {
        char cn[256];
        X509_NAME *subj = X509_get_subject_name(peer);
        if (subj && X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn)) > 0)
            t->cn = xstrdup(cn);
    }
    X509_free(peer);
}

/* Runs the handshake; 1 when established, 0 when waiting, < 0 on failure. */
static int tls_handshake(struct tls_sess *t)
{
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1) {
        int err = tls_error(t, rc);
        return err == GK_ECLOSED ? GK_ETLS : err;
    }
    t->established = 1;
    tls_take_cn(t);
    if (t->held.len) {
        int err = net__tls_sess_write(t, t->held.data, t->held.len);
        buf_free(&t->held);
        if (err) return err;
    }
    return 1;
}

int net__tls_sess_read(struct tls_sess *t, char *out, size_t cap)
{
    if (!t->established) {
        int rc = tls_handshake(t);
        if (rc <= 0) return rc;
    }
    int n = SSL_read(t->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) return n;
    return tls_error(t, n);
}

int net__tls_sess_write(struct tls_sess *t, const void *p, size_t n)
{
    if (!t->established) {
        buf_append(&t->held, p, n);
        return 0;
    }
    const char *s = p;
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int w = SSL_write(t->ssl, s, chunk);
        if (w <= 0) {
            tls_error(t, w);
            return GK_ETLS;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

void net__tls_sess_shutdown(struct tls_sess *t)
{
    if (t->established && SSL_shutdown(t->ssl) < 0) ERR_clear_error();
}

size_t net__tls_sess_output_len(struct tls_sess *t)
{
    return BIO_ctrl_pending(t->wbio);
}

void net__tls_sess_output_read(struct tls_sess *t, char *dst, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int r = BIO_read(t->wbio, dst, chunk);
        if (r <= 0) abort(); /* cannot happen: n was reported pending */
        dst += r;
        n -= (size_t)r;
    }
}
