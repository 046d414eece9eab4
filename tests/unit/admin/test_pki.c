/* Unit tests for admin/pki.c: a CA made twice keeps its first files; a
 * server and a client certificate verify against it with OpenSSL's own
 * verifier; after pki_crl_update the client is revoked for that verifier
 * and for net_tls_trust_load, and a CRL of another CA is refused. */
#include "admin/pki.h"
#include "core/err.h"
#include "net/net.h"
#include "test.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/gasket-test-pki-XXXXXX";
static char path_buf[8][512];

static const char *at(int i, const char *name)
{
    snprintf(path_buf[i], sizeof path_buf[i], "%s/%s", dir, name);
    return path_buf[i];
}

static X509 *load(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

/* OpenSSL's verdict on cert against ca (and crl when not NULL). */
static int verify(const char *ca, const char *cert, const char *crl)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_load_file(st, ca);
    if (crl) {
        FILE *f = fopen(crl, "r");
        X509_CRL *c = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        fclose(f);
        X509_STORE_add_crl(st, c);
        X509_CRL_free(c);
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    }
    X509 *x = load(cert);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, st, x, NULL);
    int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_free(x);
    X509_STORE_free(st);
    return rc;
}

static void test_ca_kept(void)
{
    char err[512];
    CHECK_EQ_INT(pki_ca_create(at(0, "ca.pem"), at(1, "ca.key"), "test CA", 3650, err, sizeof err),
                 0);
    X509 *first = load(at(0, "ca.pem"));
    CHECK_EQ_INT(pki_ca_create(at(0, "ca.pem"), at(1, "ca.key"), "other", 1, err, sizeof err),
                 GK_EEXIST);
    X509 *again = load(at(0, "ca.pem"));
    CHECK(first && again && X509_cmp(first, again) == 0);
    X509_free(first);
    X509_free(again);
    CHECK_EQ_INT(access(at(1, "ca.key"), R_OK), 0);
}

static void test_issue_and_revoke(void)
{
    char err[512];
    struct pki_ca *ca;
    CHECK_EQ_INT(pki_ca_load(&ca, at(0, "ca.pem"), at(1, "ca.key"), err, sizeof err), 0);
    if (!ca)
        return;
    const char *names[] = {"gasket.example", "127.0.0.1", "::1"};
    struct pki_leaf server = {"gasket.example", names, 3, 1, 30};
    struct pki_leaf client = {"pi-7", NULL, 0, 0, 30};
    CHECK_EQ_INT(pki_issue(ca, &server, at(2, "server.pem"), at(3, "server.key"), err, sizeof err), 0);
    CHECK_EQ_INT(pki_issue(ca, &client, at(4, "pi-7.pem"), at(5, "pi-7.key"), err, sizeof err), 0);
    CHECK_EQ_INT(pki_issue(ca, &client, at(4, "pi-7.pem"), at(5, "pi-7.key"), err, sizeof err),
                 GK_EEXIST);
    CHECK_EQ_INT(verify(path_buf[0], path_buf[2], NULL), X509_V_OK);
    CHECK_EQ_INT(verify(path_buf[0], path_buf[4], NULL), X509_V_OK);
    struct pki_info info;
    CHECK_EQ_INT(pki_cert_info(path_buf[4], &info, err, sizeof err), 0);
    CHECK_EQ_STR(info.cn, "pi-7");
    CHECK_EQ_STR(info.host, "");
    struct pki_info sinfo;
    CHECK_EQ_INT(pki_cert_info(path_buf[2], &sinfo, err, sizeof err), 0);
    CHECK_EQ_STR(sinfo.host, "gasket.example");
    CHECK(info.not_after - info.not_before == 30 * 86400 + 3600);
    const char *crl = at(6, "crl.pem");
    CHECK_EQ_INT(pki_crl_update(ca, crl, NULL, err, sizeof err), 0); /* empty, as gasket init */
    CHECK_EQ_INT(verify(path_buf[0], path_buf[4], crl), X509_V_OK);
    CHECK_EQ_INT(pki_crl_lists(crl, info.serial, err, sizeof err), 0);
    CHECK_EQ_INT(pki_crl_update(ca, crl, info.serial, err, sizeof err), 0);
    CHECK_EQ_INT(pki_crl_lists(crl, info.serial, err, sizeof err), 1);
    CHECK_EQ_INT(verify(path_buf[0], path_buf[4], crl), X509_V_ERR_CERT_REVOKED);
    CHECK_EQ_INT(verify(path_buf[0], path_buf[2], crl), X509_V_OK);
    struct net_tls_trust *trust;
    CHECK_EQ_INT(net_tls_trust_load(&trust, path_buf[0], crl, err, sizeof err), 0);
    net_tls_trust_free(trust);
    /* another CA's CRL: refused by pki_crl_update and by the trust loader */
    CHECK_EQ_INT(pki_ca_create(at(7, "other.pem"), at(1, "other.key"), "other", 1, err,
                               sizeof err), 0);
    struct pki_ca *other;
    CHECK_EQ_INT(pki_ca_load(&other, path_buf[7], path_buf[1], err, sizeof err), 0);
    CHECK_EQ_INT(pki_crl_update(other, crl, NULL, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "is not signed by this CA") != NULL);
    CHECK_EQ_INT(net_tls_trust_load(&trust, path_buf[7], crl, err, sizeof err), GK_ETLS);
    CHECK(strstr(err, "not signed by the CA") != NULL);
    pki_ca_free(other);
    pki_ca_free(ca);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_ca_kept);
    RUN(test_issue_and_revoke);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    TEST_MAIN_END();
}
