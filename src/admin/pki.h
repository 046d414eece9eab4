/* pki.h: the small certificate authority behind `gasket init` and `gasket
 * device`: an EC P-256 CA, the server and device certificates it signs,
 * and its certificate revocation list, made with OpenSSL's API.
 *
 * Every file is PEM. Keys and certificates are written with FILE_EXCL
 * (core/file.h): an existing file is never replaced (GK_EEXIST); private
 * keys get mode 0600. Serial numbers are 127 random bits. Certificates
 * start an hour in the past, so a device clock a little behind accepts
 * them. Functions return 0 or a GK_E* code with the reason in err. */
#ifndef GASKET_ADMIN_PKI_H
#define GASKET_ADMIN_PKI_H

#include <stddef.h>
#include <stdint.h>

#define PKI_BACKDATE_S 3600 /* a certificate's notBefore is this long before its issue */

struct pki_ca; /* a CA certificate and its private key */

/* Makes a self-signed CA "CN=cn, O=gasket" valid for `days` and writes its
 * certificate and key. */
int pki_ca_create(const char *cert, const char *key, const char *cn, int days, char *err,
                  size_t errlen);
/* Loads a CA written by pki_ca_create (the key must match). */
int pki_ca_load(struct pki_ca **out, const char *cert, const char *key, char *err, size_t errlen);
void pki_ca_free(struct pki_ca *ca);

struct pki_leaf {
    const char *cn;
    const char *const *names; /* server: its DNS names and IP addresses (subjectAltName) */
    size_t nnames;
    int server; /* 1: TLS server (serverAuth), 0: TLS client (clientAuth) */
    int days;
};

/* Issues a new key and a certificate for leaf signed by ca; writes both. */
int pki_issue(struct pki_ca *ca, const struct pki_leaf *leaf, const char *cert, const char *key,
              char *err, size_t errlen);

struct pki_info {
    char cn[256];
    char serial[80];              /* upper-case hex */
    char host[256];               /* its first subjectAltName (DNS or IP), or "" */
    int64_t not_before, not_after; /* Unix seconds */
};

/* What `gasket device list` shows of a certificate file. */
int pki_cert_info(const char *cert, struct pki_info *out, char *err, size_t errlen);

/* Writes ca's CRL to crl: the serials the existing file lists (it must be
 * ca's) plus add_serial (hex; NULL: none), a CRL number one higher, valid
 * until the CA expires. Written beside and renamed over the old one. */
int pki_crl_update(struct pki_ca *ca, const char *crl, const char *add_serial, char *err,
                   size_t errlen);
/* 1 when the CRL file lists serial (hex), 0 when not, or a GK_E* code. */
int pki_crl_lists(const char *crl, const char *serial, char *err, size_t errlen);

#endif
