/* test_net.c: unit tests for src/net: addresses, a plain and a TLS echo
 * server in a libuv loop on the main thread, driven by a blocking client
 * (test_client.h) on a second thread: flush-then-close, abort, on_drain,
 * pause/resume, client certificates and their CN. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "net/net.h"
#include "net/test_client.h"
#include "test.h"

#define BIG (32u << 20) /* more than loopback socket buffers take at once */

struct nfx {
    uv_loop_t loop;
    struct net_listener *l;
    struct net_tls *tls;
    int port;
    uv_async_t done;
    uv_timer_t resume;
    struct net_conn *paused;
    pthread_t th;
    void (*client)(struct nfx *);
    char *big;
    int accepted, drains, closes, close_err, reads_while_paused;
    char tmp[64];
};

/* ---- server side (loop thread) ---- */

static void resume_cb(uv_timer_t *t);

static void srv_read(struct net_conn *c, const char *data, size_t len)
{
    struct nfx *f = net_conn_data(c);
    if (f->paused == c) f->reads_while_paused++;
    if (len >= 4 && memcmp(data, "quit", 4) == 0) {
        net_conn_write(c, "bye\n", 4);
        net_conn_close(c);
        CHECK_EQ_INT(net_conn_write(c, "x", 1), GK_ECLOSED);
    } else if (len >= 8 && memcmp(data, "bigclose", 8) == 0) {
        net_conn_write(c, f->big, BIG);
        net_conn_close(c);
    } else if (len >= 5 && memcmp(data, "abort", 5) == 0) {
        net_conn_write(c, f->big, BIG);
        net_conn_abort(c);
    } else if (len >= 3 && memcmp(data, "big", 3) == 0) {
        net_conn_write(c, f->big, BIG);
        CHECK(net_conn_pending(c) > 0);
    } else if (len >= 2 && memcmp(data, "cn", 2) == 0) {
        const char *cn = net_conn_tls_cn(c);
        net_conn_write(c, cn ? cn : "none", strlen(cn ? cn : "none"));
    } else if (len >= 5 && memcmp(data, "pause", 5) == 0) {
        net_conn_pause(c);
        net_conn_write(c, "paused\n", 7);
        f->paused = c;
        uv_timer_start(&f->resume, resume_cb, 150, 0);
    } else {
        net_conn_write(c, data, len);
    }
}

static void srv_drain(struct net_conn *c)
{
    struct nfx *f = net_conn_data(c);
    f->drains++;
}

static void srv_close(struct net_conn *c, int err)
{
    struct nfx *f = net_conn_data(c);
    f->closes++;
    f->close_err = err;
    if (f->paused == c) f->paused = NULL;
}

static const struct net_conn_handler srv_handler = {srv_read, srv_drain, srv_close};

static void srv_accept(struct net_listener *l, struct net_conn *c)
{
    struct nfx *f = net_listener_data(l);
    f->accepted++;
    CHECK(strncmp(net_conn_peer(c), "127.0.0.1:", 10) == 0);
    CHECK_EQ_INT(net_conn_is_tls(c), f->tls != NULL);
    net_conn_start(c, &srv_handler, f);
}

static void resume_cb(uv_timer_t *t)
{
    struct nfx *f = t->data;
    if (f->paused) {
        net_conn_write(f->paused, "resumed\n", 8);
        net_conn_resume(f->paused);
        f->paused = NULL;
    }
}

static void done_cb(uv_async_t *a)
{
    struct nfx *f = a->data;
    net_listener_close(f->l);
    uv_close((uv_handle_t *)&f->resume, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void *client_main(void *arg)
{
    struct nfx *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void nfx_run(struct nfx *f, void (*client)(struct nfx *))
{
    uv_loop_init(&f->loop);
    f->big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        f->big[i] = (char)('a' + i % 26);
    CHECK_EQ_INT(net_listen(&f->l, &f->loop, "127.0.0.1:0", f->tls, srv_accept, f), 0);
    f->port = atoi(strrchr(net_listener_addr(f->l), ':') + 1);
    CHECK(f->port > 0);
    uv_async_init(&f->loop, &f->done, done_cb);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->resume);
    f->resume.data = f;
    f->client = client;
    pthread_create(&f->th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->th, NULL);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    CHECK_EQ_INT(f->closes, f->accepted);
    free(f->big);
}

/* ---- addresses ---- */

static void test_addresses(void)
{
    static const char *bad[] = {"nope", "1.2.3.4", "[::1]8080",    ":99999", "1.2.3.4:",
                                ":8o",  "::1:80",  "300.1.1.1:80", "[zz]:80"};
    uv_loop_t loop;
    struct net_listener *l;
    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(net_listen(&l, &loop, bad[i], NULL, srv_accept, NULL), GK_EADDR);
    CHECK_EQ_INT(net_listen(&l, &loop, "127.0.0.1:0", NULL, srv_accept, NULL), 0);
    CHECK(strncmp(net_listener_addr(l), "127.0.0.1:", 10) == 0);
    CHECK(strcmp(net_listener_addr(l), "127.0.0.1:0") != 0);
    int port = atoi(strrchr(net_listener_addr(l), ':') + 1);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct net_listener *dup;
    CHECK_EQ_INT(net_listen(&dup, &loop, addr, NULL, srv_accept, NULL), GK_EIO); /* in use */
    net_listener_close(l);
    if (net_listen(&l, &loop, "[::1]:0", NULL, srv_accept, NULL) == 0) { /* when IPv6 exists */
        CHECK(strncmp(net_listener_addr(l), "[::1]:", 6) == 0);
        net_listener_close(l);
    }
    CHECK_EQ_INT(net_listen(&l, &loop, ":0", NULL, srv_accept, NULL), 0);
    CHECK(strncmp(net_listener_addr(l), "0.0.0.0:", 8) == 0);
    net_listener_close(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- plain transport ---- */

static int read_big(struct cl *c)
{
    char *got = malloc(BIG);
    int rc = cl_read_exact(c, got, BIG);
    for (size_t i = 0; rc == 0 && i < BIG; i++) {
        if (got[i] != (char)('a' + i % 26)) rc = -1;
    }
    free(got);
    return rc;
}

static void client_plain(struct nfx *f)
{
    struct cl c;
    char buf[16];
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "hello"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, buf, 5), 0);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ_INT(cl_send(&c, "big"), 0); /* on_drain once the kernel has it all */
    CHECK_EQ_INT(read_big(&c), 0);
    CHECK_EQ_INT(cl_send(&c, "pause"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, buf, 7), 0);
    CHECK(memcmp(buf, "paused\n", 7) == 0);
    CHECK_EQ_INT(cl_send(&c, "echo"), 0); /* not read until the server resumes */
    CHECK_EQ_INT(cl_read_exact(&c, buf, 12), 0);
    CHECK(memcmp(buf, "resumed\necho", 12) == 0);
    CHECK_EQ_INT(cl_send(&c, "quit"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, buf, 4), 0);
    CHECK(memcmp(buf, "bye\n", 4) == 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
    /* Flush then close: every byte arrives before the end of stream. */
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "bigclose"), 0);
    CHECK_EQ_INT(read_big(&c), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0);
    cl_close(&c);
}

static void test_plain(void)
{
    struct nfx f;
    memset(&f, 0, sizeof(f));
    nfx_run(&f, client_plain);
    CHECK_EQ_INT(f.accepted, 2);
    CHECK(f.drains >= 1);
    CHECK_EQ_INT(f.close_err, 0);
    CHECK_EQ_INT(f.reads_while_paused, 0);
}

static void client_abort(struct nfx *f)
{
    struct cl c;
    CHECK_EQ_INT(cl_connect(&c, f->port), 0);
    CHECK_EQ_INT(cl_send(&c, "abort"), 0);
    while (cl_more(&c) > 0)
        c.len = 0; /* whatever made it out, then the end */
    CHECK(c.len < BIG);
    cl_close(&c);
}

static void test_abort(void)
{
    struct nfx f;
    memset(&f, 0, sizeof(f));
    nfx_run(&f, client_abort);
    CHECK_EQ_INT(f.accepted, 1);
}

/* ---- TLS ---- */

static int sh(const char *fmt, const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir, dir, dir, dir, dir, dir);
    return system(cmd);
}

static int make_pki(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/gasket-net-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    return sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
              "-days 1 -subj /CN=test-ca 2>/dev/null && "
              "openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.pem -days 1 "
              "-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null && "
              "openssl req -newkey rsa:2048 -nodes -keyout dev.key -out dev.csr "
              "-subj /CN=device-42 2>/dev/null && "
              "openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
              "-out dev.pem -days 1 2>/dev/null",
              dir);
}

static void client_tls(struct nfx *f)
{
    struct cl c;
    char buf[16], ca[128], cert[128], key[128];
    snprintf(ca, sizeof(ca), "%s/srv.pem", f->tmp);
    snprintf(cert, sizeof(cert), "%s/dev.pem", f->tmp);
    snprintf(key, sizeof(key), "%s/dev.key", f->tmp);
    CHECK_EQ_INT(cl_connect_tls(&c, f->port, ca, cert, key), 0);
    CHECK_EQ_INT(cl_send(&c, "cn"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, buf, 9), 0);
    CHECK(memcmp(buf, "device-42", 9) == 0);
    CHECK_EQ_INT(cl_send(&c, "big"), 0);
    CHECK_EQ_INT(read_big(&c), 0);
    CHECK_EQ_INT(cl_send(&c, "quit"), 0);
    CHECK_EQ_INT(cl_read_exact(&c, buf, 4), 0);
    CHECK_EQ_INT(cl_wait_close(&c), 0); /* close_notify, then FIN */
    cl_close(&c);
    /* Without a client certificate the server refuses the handshake. */
    int rc = cl_connect_tls(&c, f->port, ca, NULL, NULL);
    if (rc == 0 && cl_send(&c, "cn") == 0)
        rc = cl_more(&c) > 0 ? 0 : -1; /* TLS 1.3: refused after the client's Finished */
    CHECK(rc != 0);
    cl_close(&c);
}

static void test_tls_client_cert(void)
{
    struct nfx f;
    char cert[128], key[128], ca[128], err[256];
    memset(&f, 0, sizeof(f));
    CHECK_EQ_INT(make_pki(f.tmp, sizeof(f.tmp)), 0);
    snprintf(cert, sizeof(cert), "%s/srv.pem", f.tmp);
    snprintf(key, sizeof(key), "%s/srv.key", f.tmp);
    snprintf(ca, sizeof(ca), "%s/ca.pem", f.tmp);
    CHECK_EQ_INT(net_tls_new(&f.tls, cert, "/nonexistent.key", NULL, err, sizeof(err)), GK_ETLS);
    CHECK(f.tls == NULL && strlen(err) > 0);
    CHECK_EQ_INT(net_tls_new(&f.tls, cert, key, ca, err, sizeof(err)), 0);
    nfx_run(&f, client_tls);
    CHECK_EQ_INT(f.accepted, 2);
    CHECK_EQ_INT(f.close_err, GK_ETLS); /* the refused one closed last */
    net_tls_free(f.tls);
    sh("rm -rf %s", f.tmp);
}

static void test_loopback_addresses(void)
{
    const char *yes[] = {"127.0.0.1:80", "127.1.2.3:1883", "[::1]:8080", "::1",
                         "[::ffff:127.0.0.1]:5000", "localhost:8080"};
    const char *no[] = {"0.0.0.0:1883", "10.0.0.1:80", "[::]:80", "[::ffff:10.0.0.1]:80",
                        "192.168.1.127:80", "1.127.0.0:80", ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(net_addr_is_loopback(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(!net_addr_is_loopback(no[i]));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    alarm(300);
    RUN(test_addresses);
    RUN(test_loopback_addresses);
    RUN(test_plain);
    RUN(test_abort);
    RUN(test_tls_client_cert);
    TEST_MAIN_END();
}
