/* pki.c: keys, certificates and the CRL of gasket's CA (see pki.h). */
#include "admin/pki.h"
#include "core/err.h"
#include "core/file.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pki_ca {
    X509 *cert;
    EVP_PKEY *key;
};

/* err: what failed, with OpenSSL's reason; returns rc. */
static int ssl_fail(char *err, size_t errlen, int rc, const char *what)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return gk_errf(err, errlen, rc, "%s: %s", what, reason);
}

/* ---- files ---- */

typedef int (*pem_writer)(BIO *out, void *obj);

static int pem_key(BIO *out, void *k)
{
    return PEM_write_bio_PrivateKey(out, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(BIO *out, void *x)
{
    return PEM_write_bio_X509(out, x);
}

static int pem_crl(BIO *out, void *c)
{
    return PEM_write_bio_X509_CRL(out, c);
}

/* Writes obj as PEM to path with mode and file_write's flags. */
static int write_pem(const char *path, pem_writer w, void *obj, int mode, int flags, char *err,
                     size_t errlen)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem || w(mem, obj) != 1) {
        BIO_free(mem);
        return ssl_fail(err, errlen, GK_EIO, path);
    }
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    int rc = file_write(path, data, (size_t)len, (mode_t)mode, flags, err, errlen);
    BIO_free(mem);
    return rc;
}

static X509 *read_cert(const char *path, char *err, size_t errlen)
{
    BIO *in = BIO_new_file(path, "r");
    X509 *x = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    if (!x)
        ssl_fail(err, errlen, GK_EIO, path);
    return x;
}

/* The CRL in path; NULL with *missing set when there is no file. */
static X509_CRL *read_crl(const char *path, int *missing, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    *missing = !f;
    if (!f)
        return NULL;
    X509_CRL *c = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    if (!c)
        ssl_fail(err, errlen, GK_EIO, path);
    return c;
}

/* ---- certificates ---- */

static int set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* "DNS:a,IP:127.0.0.1,..." for the names (each a host name or address). */
static char *alt_names(const char *const *names, size_t n)
{
    struct buf b = {0};
    unsigned char addr[16];
    for (size_t i = 0; i < n; i++) {
        int ip = inet_pton(AF_INET, names[i], addr) == 1 || inet_pton(AF_INET6, names[i], addr) == 1;
        buf_printf(&b, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", names[i]);
    }
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

/* A certificate for key, "CN=cn" (and O=gasket for the CA), signed by
 * issuer (NULL: itself) with signer, carrying exts[] (nid, value) pairs. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, int ca, int days, X509 *issuer,
                       EVP_PKEY *signer, const int *nids, const char *const *values, size_t n)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int ok = x && name && X509_set_version(x, 2) && set_serial(x) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_S) &&
             X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) && X509_set_pubkey(x, key) &&
             (!ca || X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"gasket", -1, -1, 0)) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0) &&
             X509_set_subject_name(x, name) &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    for (size_t i = 0; ok && i < n; i++)
        ok = add_ext(x, issuer ? issuer : x, nids[i], values[i]);
    ok = ok && X509_sign(x, signer, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Writes the key (0600) then the certificate (0644), neither replacing. */
static int write_pair(X509 *x, EVP_PKEY *key, const char *cert, const char *keyfile, char *err,
                      size_t errlen)
{
    int rc = write_pem(keyfile, pem_key, key, 0600, FILE_EXCL, err, errlen);
    if (rc == 0 && (rc = write_pem(cert, pem_cert, x, 0644, FILE_EXCL, err, errlen)) != 0)
        unlink(keyfile);
    return rc;
}

int pki_ca_create(const char *cert, const char *key, const char *cn, int days, char *err,
                  size_t errlen)
{
    static const int nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
                               NID_authority_key_identifier};
    static const char *const values[] = {"critical,CA:TRUE,pathlen:0",
                                         "critical,keyCertSign,cRLSign", "hash", "keyid:always"};
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = k ? make_cert(k, cn, 1, days, NULL, k, nids, values, 4) : NULL;
    int rc = x ? write_pair(x, k, cert, key, err, errlen)
               : ssl_fail(err, errlen, GK_EIO, "making the CA certificate");
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int pki_ca_load(struct pki_ca **out, const char *cert, const char *key, char *err, size_t errlen)
{
    *out = NULL;
    X509 *x = read_cert(cert, err, errlen);
    if (!x)
        return GK_EIO;
    BIO *in = BIO_new_file(key, "r");
    EVP_PKEY *k = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    if (!k || X509_check_private_key(x, k) != 1) {
        X509_free(x);
        EVP_PKEY_free(k);
        return ssl_fail(err, errlen, GK_EIO, key);
    }
    *out = xcalloc(1, sizeof **out);
    (*out)->cert = x;
    (*out)->key = k;
    return 0;
}

void pki_ca_free(struct pki_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    free(ca);
}

int pki_issue(struct pki_ca *ca, const struct pki_leaf *leaf, const char *cert, const char *key,
              char *err, size_t errlen)
{
    int nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                  NID_subject_key_identifier, NID_authority_key_identifier, NID_subject_alt_name};
    char *alt = leaf->server ? alt_names(leaf->names, leaf->nnames) : NULL;
    const char *values[] = {"critical,CA:FALSE", "critical,digitalSignature",
                            leaf->server ? "serverAuth" : "clientAuth", "hash", "keyid", alt};
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = k ? make_cert(k, leaf->cn, 0, leaf->days, ca->cert, ca->key, nids, values,
                            alt ? 6 : 5)
                : NULL;
    int rc = x ? write_pair(x, k, cert, key, err, errlen)
               : ssl_fail(err, errlen, GK_EIO, "making the certificate");
    X509_free(x);
    EVP_PKEY_free(k);
    free(alt);
    return rc;
}

static int64_t unix_time(const ASN1_TIME *t)
{
    struct tm tm;
    return ASN1_TIME_to_tm(t, &tm) == 1 ? (int64_t)timegm(&tm) : 0;
}

/* serial as upper-case hex into out. */
static void serial_hex(const ASN1_INTEGER *serial, char *out, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, len, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* The first DNS name or IP address of x's subjectAltName into out. */
static void first_alt_name(X509 *x, char *out, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && !out[0]; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const unsigned char *a = g->type == GEN_IPADD ? ASN1_STRING_get0_data(g->d.ip) : NULL;
        int n = a ? ASN1_STRING_length(g->d.ip) : 0;
        if (g->type == GEN_DNS)
            snprintf(out, len, "%s", (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        else if (a && (n == 4 || n == 16))
            inet_ntop(n == 4 ? AF_INET : AF_INET6, a, out, (socklen_t)len);
    }
    GENERAL_NAMES_free(names);
}

int pki_cert_info(const char *cert, struct pki_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    X509 *x = read_cert(cert, err, errlen);
    if (!x)
        return GK_EIO;
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out->cn, sizeof out->cn);
    serial_hex(X509_get0_serialNumber(x), out->serial, sizeof out->serial);
    first_alt_name(x, out->host, sizeof out->host);
    out->not_before = unix_time(X509_get0_notBefore(x));
    out->not_after = unix_time(X509_get0_notAfter(x));
    X509_free(x);
    return 0;
}

/* ---- the CRL ---- */

static int revoke_into(X509_CRL *crl, const char *serial_hex_text, const ASN1_TIME *when)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    X509_REVOKED *r = X509_REVOKED_new();
    int ok = r && BN_hex2bn(&bn, serial_hex_text) > 0 &&
             (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
             X509_REVOKED_set_serialNumber(r, serial) == 1 &&
             X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)when) == 1 &&
             X509_CRL_add0_revoked(crl, r) == 1;
    if (!ok)
        X509_REVOKED_free(r);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

/* Copies the entries and the CRL number (+1 into *number) of old. */
static int carry_over(X509_CRL *crl, X509_CRL *old, long *number)
{
    STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(old);
    for (int i = 0; i < sk_X509_REVOKED_num(rs); i++) {
        X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(rs, i));
        if (!r || X509_CRL_add0_revoked(crl, r) != 1) {
            X509_REVOKED_free(r);
            return 0;
        }
    }
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL);
    *number = n ? ASN1_INTEGER_get(n) + 1 : 1;
    ASN1_INTEGER_free(n);
    return 1;
}

/* The new CRL: old's entries (NULL: none), add (NULL: none), signed. */
static X509_CRL *make_crl(struct pki_ca *ca, X509_CRL *old, const char *add)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    long number = 1;
    int ok = crl && now && num && X509_CRL_set_version(crl, 1) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) &&
             X509_CRL_set1_lastUpdate(crl, now) &&
             X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca->cert)) &&
             (!old || carry_over(crl, old, &number)) && (!add || revoke_into(crl, add, now)) &&
             ASN1_INTEGER_set(num, number) && X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) &&
             X509_CRL_sort(crl) && X509_CRL_sign(crl, ca->key, EVP_sha256()) > 0;
    ASN1_TIME_free(now);
    ASN1_INTEGER_free(num);
    if (!ok) {
        X509_CRL_free(crl);
        return NULL;
    }
    return crl;
}

int pki_crl_update(struct pki_ca *ca, const char *crl, const char *add_serial, char *err,
                   size_t errlen)
{
    int missing;
    X509_CRL *old = read_crl(crl, &missing, err, errlen);
    if (!old && !missing)
        return GK_EIO;
    if (old && X509_CRL_verify(old, X509_get0_pubkey(ca->cert)) != 1) {
        X509_CRL_free(old);
        ERR_clear_error();
        return gk_errf(err, errlen, GK_EINVAL, "%s is not signed by this CA", crl);
    }
    X509_CRL *next = make_crl(ca, old, add_serial);
    int rc = next ? write_pem(crl, pem_crl, next, 0644, 0, err, errlen)
                  : ssl_fail(err, errlen, GK_EIO, "making the CRL");
    X509_CRL_free(next);
    X509_CRL_free(old);
    return rc;
}

int pki_crl_lists(const char *crl, const char *serial, char *err, size_t errlen)
{
    int missing;
    X509_CRL *c = read_crl(crl, &missing, err, errlen);
    if (!c)
        return missing ? 0 : GK_EIO;
    STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(c);
    int found = 0;
    char hex[80];
    for (int i = 0; i < sk_X509_REVOKED_num(rs) && !found; i++) {
        serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i)), hex, sizeof hex);
        found = strcmp(hex, serial) == 0;
    }
    X509_CRL_free(c);
    return found;
}
