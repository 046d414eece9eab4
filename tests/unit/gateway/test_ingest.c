/* test_ingest.c: gateway_ingest() never calls back inside itself (libuv's
 * rule), also for a document refused before the store (issue 9). */
#include "core/config.h"
#include "core/err.h"
#include "gateway/gateway.h"
#include "gateway/gateway_int.h"
#include "http/http.h"
#include "test.h"

#include <string.h>
#include <uv.h>

struct seen {
    int calls, status;
    char field[32];
};

static void on_result(void *ud, const struct gateway_ingest_result *res)
{
    struct seen *s = ud;
    s->calls++;
    s->status = res->status;
    snprintf(s->field, sizeof s->field, "%s", res->field ? res->field : "(null)");
}

static void ignore(void *ud, struct http_req *req)
{
    (void)ud;
    (void)req;
}

static void test_refused_later(void)
{
    uv_loop_t loop;
    struct config cfg;
    char err[256];
    struct http_server *srv;
    struct http_server_options opt = {.handler = ignore};
    uv_loop_init(&loop);
    http_limits_default(&opt.limits);
    CHECK_EQ_INT(http_server_new(&srv, &loop, &opt), 0);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof err), 0);
    struct gateway *g = gateway_new(NULL); /* nothing reaches the store */
    gateway_configure(g, &cfg, NULL);
    gateway_set_http(g, srv);
    struct seen a = {0}, b = {0};
    static const char no_group[] = "{\"no2\":{\"value\":\"1\"}}";
    static const char far_date[] = "{\"groupid\":\"1\",\"date\":253402300800000}";
    gateway_ingest(g, NULL, NULL, "x", no_group, sizeof no_group - 1, 0, NULL, on_result, &a);
    gateway_ingest(g, NULL, NULL, "x", far_date, sizeof far_date - 1, 1, NULL, on_result, &b);
    CHECK_EQ_INT(a.calls, 0); /* not inside the call */
    CHECK_EQ_INT(b.calls, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(a.status, GK_EINVAL);
    CHECK_EQ_STR(a.field, "groupid");
    CHECK_EQ_INT(b.calls, 1);
    CHECK_EQ_INT(b.status, GK_EINVAL);
    CHECK_EQ_STR(b.field, "date");
    http_server_close(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(a.calls, 1);
    gateway_free(g);
    config_free(&cfg);
}

int main(void)
{
    RUN(test_refused_later);
    TEST_MAIN_END();
}
