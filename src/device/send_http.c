/* send_http.c: gasket-pub's HTTP transport (send_http.h). */
#include "device/send_http.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/version.h"
#include "device/pubopt.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY (16u << 20)

struct http_sender {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url, *bulk_url, *key, *cacert;
    long timeout_ms;
    char index[256]; /* the route's index, from a reply; "" until known */
    int bulk_off;    /* /_bulk is not for us: single POSTs */
    size_t batch;
    struct buf body, reply;
    uint64_t *seqs; /* of the request in flight */
    size_t nseqs;
    int busy, bulk;
    uint64_t retry_after_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct http_sender *h = ud;
    if (h->reply.len + size * n > MAX_REPLY) return 0; /* aborts the transfer */
    buf_append(&h->reply, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct http_sender *h = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[32];
        snprintf(v, sizeof v, "%.*s", (int)(len - 12 < 31 ? len - 12 : 31), p + 12);
        char *end;
        long s = strtol(v, &end, 10);
        if (end != v && s >= 0 && s < 86400) h->retry_after_ms = (uint64_t)s * 1000;
    }
    return len;
}

/* scheme://authority of url, then /_bulk. */
static char *bulk_url_of(const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t n = strcspn(auth, "/?#");
    size_t len = (size_t)(auth - url) + n;
    char *out = xmalloc(len + sizeof "/_bulk");
    memcpy(out, url, len);
    memcpy(out + len, "/_bulk", sizeof "/_bulk");
    return out;
}

int http_sender_new(struct http_sender **out, CURLM *multi, const struct pubopt *o, char *err,
                    size_t errlen)
{
    struct http_sender *h = xcalloc(1, sizeof *h);
    h->multi = multi;
    h->easy = curl_easy_init();
    if (!h->easy) {
        snprintf(err, errlen, "gasket-pub: libcurl cannot start");
        free(h);
        return -1;
    }
    h->url = xstrdup(o->url);
    h->bulk_url = bulk_url_of(o->url);
    h->key = o->key ? xstrdup(o->key) : NULL;
    h->cacert = o->cacert ? xstrdup(o->cacert) : NULL;
    h->timeout_ms = (long)(o->timeout * 1000);
    h->batch = (size_t)o->batch;
    h->seqs = xcalloc(h->batch, sizeof *h->seqs);
    *out = h;
    return 0;
}

void http_sender_free(struct http_sender *h)
{
    if (!h) return;
    if (h->busy) curl_multi_remove_handle(h->multi, h->easy);
    curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->hdrs);
    buf_free(&h->body);
    buf_free(&h->reply);
    free(h->url);
    free(h->bulk_url);
    free(h->key);
    free(h->cacert);
    free(h->seqs);
    free(h);
}

size_t http_sender_room(const struct http_sender *h)
{
    return h->index[0] && !h->bulk_off ? h->batch : 1;
}

int http_sender_busy(const struct http_sender *h)
{
    return h->busy;
}

static void add_header(struct http_sender *h, const char *name, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, "%s: %s", name, value);
    h->hdrs = curl_slist_append(h->hdrs, line);
}

static void set_options(struct http_sender *h, const char *url)
{
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 10000 ? h->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gasket-pub/" GASKET_VERSION);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h->cacert) curl_easy_setopt(e, CURLOPT_CAINFO, h->cacert);
}

void http_sender_start(struct http_sender *h, const struct spool_item *items, size_t n,
                       const char *key_prefix)
{
    char key[256];
    buf_reset(&h->body);
    buf_reset(&h->reply);
    curl_slist_free_all(h->hdrs);
    h->hdrs = NULL;
    h->retry_after_ms = 0;
    h->errbuf[0] = '\0';
    h->bulk = n > 1;
    if (h->key) add_header(h, "x-api-key", h->key);
    add_header(h, "Expect", ""); /* no 100-continue round trip */
    for (size_t i = 0; i < n; i++) {
        h->seqs[i] = items[i].seq;
        snprintf(key, sizeof key, "%s%llu", key_prefix, (unsigned long long)items[i].seq);
        if (h->bulk) {
            buf_printf(&h->body, "{\"create\":{\"_index\":\"%s\",\"idempotency_key\":", h->index);
            buf_json_str(&h->body, key, strlen(key));
            buf_puts(&h->body, "}}\n");
            buf_append(&h->body, items[i].data, items[i].len);
            buf_putc(&h->body, '\n');
        } else {
            add_header(h, "Idempotency-Key", key);
            buf_append(&h->body, items[i].data, items[i].len);
        }
    }
    h->nseqs = n;
    if (h->bulk) log_debug("sending readings %llu to %llu in one _bulk request",
                           (unsigned long long)items[0].seq, (unsigned long long)items[n - 1].seq);
    add_header(h, "Content-Type", h->bulk ? "application/x-ndjson" : "application/json");
    set_options(h, h->bulk ? h->bulk_url : h->url);
    curl_multi_add_handle(h->multi, h->easy);
    h->busy = 1;
}

/* The server's words in a reply body: `message` (and `field`) of gasketd's
 * errors, else the start of the body, printable. */
static void reason_of(const struct buf *body, long status, char *out, size_t outlen)
{
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));
    const char *field = json_string_value(json_object_get(j, "field"));
    if (msg && field && *field)
        snprintf(out, outlen, "%ld %s (field %s)", status, msg, field);
    else if (msg)
        snprintf(out, outlen, "%ld %s", status, msg);
    else
        snprintf(out, outlen, "%ld %.*s", status, (int)(body->len < 160 ? body->len : 160),
                 body->data ? body->data : "");
    json_decref(j);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) *c = ' ';
}

static enum send_verdict verdict_of(long status)
{
    if (status >= 200 && status < 300) return SEND_OK;
    if (status == 429 || status == 408 || status >= 500) return SEND_RETRY;
    if (status == 401 || status == 403 || status == 404 || status == 407 ||
        (status >= 300 && status < 400))
        return SEND_REFUSED;
    if (status >= 400) return SEND_DROP;
    return SEND_RETRY;
}

/* Learns the route's index from a route POST's reply. */
static void learn_index(struct http_sender *h)
{
    json_t *j = h->reply.len ? json_loadb(h->reply.data, h->reply.len, 0, NULL) : NULL;
    const char *idx = json_string_value(json_object_get(j, "_index"));
    int ok = idx && *idx && strlen(idx) < sizeof h->index;
    for (const char *c = idx; ok && *c; c++)
        ok = islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_' || *c == '-';
    if (ok) snprintf(h->index, sizeof h->index, "%s", idx);
    json_decref(j);
}

static void finish_single(struct http_sender *h, long status, struct send_result *res)
{
    res->verdict = verdict_of(status);
    if (res->verdict == SEND_OK) learn_index(h);
    else reason_of(&h->reply, status, res->reason, sizeof res->reason);
}

/* One item of a _bulk reply into res. */
static void bulk_item(struct http_sender *h, json_t *item, struct send_result *res)
{
    json_t *op = json_object_iter_value(json_object_iter(item));
    long st = (long)json_integer_value(json_object_get(op, "status"));
    json_t *e = json_object_get(op, "error");
    res->verdict = st ? verdict_of(st) : SEND_RETRY;
    if (res->verdict == SEND_REFUSED) { /* this key may not use _bulk here: single POSTs */
        h->bulk_off = 1;
        res->verdict = SEND_RETRY;
    }
    const char *why = json_string_value(json_object_get(e, "reason"));
    const char *field = json_string_value(json_object_get(e, "field"));
    if (why)
        snprintf(res->reason, sizeof res->reason, "%ld %s%s%s%s", st, why,
                 field && *field ? " (field " : "", field && *field ? field : "",
                 field && *field ? ")" : "");
}

static void finish_bulk(struct http_sender *h, long status, struct send_result *res, int *at_once)
{
    if (status == 200) {
        json_t *j = json_loadb(h->reply.data ? h->reply.data : "", h->reply.len, 0, NULL);
        json_t *items = json_object_get(j, "items");
        for (size_t i = 0; i < h->nseqs; i++) {
            json_t *it = json_array_get(items, i);
            if (it) bulk_item(h, it, &res[i]);
            else res[i].verdict = SEND_RETRY;
        }
        json_decref(j);
        *at_once = h->bulk_off;
        return;
    }
    enum send_verdict v = verdict_of(status);
    if (status == 413 && h->batch > 1) {
        h->batch /= 2;
        *at_once = 1;
    } else if (v == SEND_REFUSED || v == SEND_DROP) { /* the endpoint is not for us */
        h->bulk_off = 1;
        *at_once = 1;
    }
    for (size_t i = 0; i < h->nseqs; i++) {
        res[i].verdict = SEND_RETRY;
        reason_of(&h->reply, status, res[i].reason, sizeof res[i].reason);
    }
}

int http_sender_finish(struct http_sender *h, CURLMsg *msg, struct send_result *res, size_t *n,
                       uint64_t *retry_after_ms, int *at_once)
{
    if (!h->busy || msg->msg != CURLMSG_DONE || msg->easy_handle != h->easy) return 0;
    curl_multi_remove_handle(h->multi, h->easy);
    h->busy = 0;
    *n = h->nseqs;
    *at_once = 0;
    *retry_after_ms = h->retry_after_ms;
    for (size_t i = 0; i < h->nseqs; i++)
        res[i] = (struct send_result){.seq = h->seqs[i], .verdict = SEND_RETRY};
    if (msg->data.result != CURLE_OK) {
        for (size_t i = 0; i < h->nseqs; i++)
            snprintf(res[i].reason, sizeof res[i].reason, "%.100s: %.120s",
                     h->bulk ? h->bulk_url : h->url,
                     h->errbuf[0] ? h->errbuf : curl_easy_strerror(msg->data.result));
        return 1;
    }
    long status = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    if (h->bulk) finish_bulk(h, status, res, at_once);
    else finish_single(h, status, res);
    return 1;
}
