/* ingest.c: one reading's way from a device to the store (see gateway_int.h).
 *
 * A document from a POST, an MQTT telemetry message or a _bulk item goes:
 * validation (reading.c) -> `date` (the receive time, or with keep_date the
 * document's own) -> the emergency message -> the route's judge: its Lua
 * function when it has one (whose returned document is validated again and
 * is what gets stored), else the alarm engine -> store_append -> the
 * caller's callback once the store committed. Nothing is stored for a
 * document refused or failed at any step.
 *
 * A document with an idempotency key (idem.h) is first looked up in the
 * store's memory of recent keys: a duplicate found there is answered as
 * the first was (its _id and _seq_no; GK_EEXIST for another body) without
 * running anything of the above again; otherwise it goes the whole way
 * with its key, and the store's writer, which checks the key in the
 * document's transaction, stores nothing for a duplicate it finds there.
 * Only a first copy is published live and sends the route's status message.
 *
 * The ingest queue is bounded: when [server] max_pending readings wait for
 * the store, HTTP ingest answers 503 (gateway_reply_busy) and the broker
 * stops reading the MQTT clients that send telemetry (back-pressure), until
 * fewer than half of max_pending wait. */
#include "core/clock.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "gateway/apikey.h"
#include "gateway/gateway.h"
#include "gateway/gateway_int.h"
#include "gateway/idem.h"
#include "gateway/reading.h"
#include "gateway/seen.h"
#include "http/http.h"
#include "mqtt/broker.h"
#include "mqtt/topic.h"
#include "rules/alarm.h"
#include "rules/function.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON "application/json"

/* A document waiting for its commit. */
struct pending {
    struct gateway *g;
    gateway_ingest_cb cb;
    void *ud;
    char *status_topic; /* the route's topic when it sends status messages */
    char *live_topic;   /* [http] live_topic/<groupid>, or NULL ... */
    char *doc;          /* ... and then the document as stored */
    size_t doc_len;
    char index[]; /* copied: a reload may drop the route meanwhile; then, in the
                   * same allocation, live_topic and doc */
};

/* {"msg":"success"} or {"msg":"fail","reason":"..."} to a status route's topic. */
static void publish_status(struct gateway *g, const char *topic, const char *reason)
{
    struct buf b = {0};
    if (!reason) {
        buf_puts(&b, "{\"msg\":\"success\"}");
    } else {
        buf_puts(&b, "{\"msg\":\"fail\",\"reason\":");
        buf_json_str(&b, reason, strlen(reason));
        buf_putc(&b, '}');
    }
    gateway_publish(g, topic, b.data, b.len, 1);
    buf_free(&b);
}

static const char *local_date(struct gateway *g, int64_t now_ms)
{
    if (now_ms / 1000 != g->date_sec) {
        g->date_sec = now_ms / 1000;
        clock_format_local(now_ms, g->date);
    }
    return g->date;
}

/* Back-pressure on the broker's telemetry senders: on at the high-water
 * mark, off below half of it (checked as readings are queued and as
 * commits complete). */
static void pressure(struct gateway *g)
{
    size_t n = store_pending(g->store);
    if (g->broker && n >= g->max_pending)
        mqtt_broker_set_backpressure(g->broker, true);
    else if (g->broker && n < g->max_pending / 2 + (g->max_pending == 1))
        mqtt_broker_set_backpressure(g->broker, false);
}

int gateway_reply_busy(struct gateway *g, struct http_req *req)
{
    if (store_pending(g->store) < g->max_pending)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "Store busy: %zu readings are waiting to be written; retry shortly",
             store_pending(g->store));
    gateway_reply_message(req, 503, "Retry-After: 1\r\n", msg);
    return 1;
}

static void on_stored(void *ud, const struct store_ack *ack)
{
    struct pending *p = ud;
    int first = !ack->dup && ack->status != GK_EEXIST; /* not an answer to a duplicate */
    if (p->status_topic && first)
        publish_status(p->g, p->status_topic, ack->status ? gk_strerror(ack->status) : NULL);
    const char *reason = ack->status == GK_EEXIST ? GATEWAY_IDEM_REUSED
                         : ack->status            ? gk_strerror(ack->status)
                                                  : NULL;
    struct gateway_ingest_result res = {.status = ack->status, .index = p->index, .ack = ack,
                                        .reason = reason, .field = ""};
    struct gateway *g = p->g;
    if (p->live_topic && ack->status == 0 && first) /* the dashboard sees what is stored */
        gateway_publish(g, p->live_topic, p->doc, p->doc_len, 0);
    p->cb(p->ud, &res);
    free(p->status_topic);
    free(p);
    pressure(g);
}

/* A pending document for index, with room for `extra` bytes past the
 * index's copy. */
static struct pending *pending_new(struct gateway *g, const char *index, size_t extra,
                                   gateway_ingest_cb cb, void *ud)
{
    size_t ilen = strlen(index) + 1;
    struct pending *p = xcalloc(1, sizeof *p + ilen + extra);
    p->g = g;
    p->cb = cb;
    p->ud = ud;
    memcpy(p->index, index, ilen);
    return p;
}

/* A result for a document refused before the store, delivered on a later
 * loop turn (gateway_ingest() never calls back inside itself). */
struct gateway_later {
    struct gateway_later *next;
    gateway_ingest_cb cb;
    void *ud;
    int status;
    char *reason, *field;
    char index[];
};

static void later_closed(uv_handle_t *h)
{
    free(h);
}

/* Delivers the queued results (and those they queue, on the next turn). */
static void later_run(uv_idle_t *h)
{
    struct gateway *g = h->data;
    struct gateway_later *list = g->later;
    g->later = NULL;
    g->later_tail = &g->later;
    g->later_idle = NULL;
    uv_close((uv_handle_t *)h, later_closed);
    while (list) {
        struct gateway_later *l = list;
        list = l->next;
        struct gateway_ingest_result res = {.status = l->status, .index = l->index,
                                            .reason = l->reason, .field = l->field};
        l->cb(l->ud, &res);
        free(l->reason);
        free(l->field);
        free(l);
    }
}

static void later_queue(struct gateway *g, const char *index, int status, const char *reason,
                        const char *field, gateway_ingest_cb cb, void *ud)
{
    size_t ilen = strlen(index) + 1;
    struct gateway_later *l = xcalloc(1, sizeof *l + ilen);
    *l = (struct gateway_later){.cb = cb, .ud = ud, .status = status,
                                .reason = reason ? xstrdup(reason) : NULL,
                                .field = xstrdup(field ? field : "")};
    memcpy(l->index, index, ilen);
    *g->later_tail = l;
    g->later_tail = &l->next;
    if (!g->later_idle) {
        g->later_idle = xmalloc(sizeof *g->later_idle);
        uv_idle_init(g->loop, g->later_idle);
        g->later_idle->data = g;
        uv_idle_start(g->later_idle, later_run);
    }
}

/* Answers a document that will not be stored: status, reason, field. */
static void finish(struct gateway *g, const struct route *rt, const char *index, int status,
                   const char *reason, const char *field, gateway_ingest_cb cb, void *ud)
{
    if (status == GK_EINVAL)
        g->metrics.rejected++;
    if (rt && rt->cfg.status && status != GK_ECANCELED)
        publish_status(g, rt->cfg.topic, reason);
    later_queue(g, index, status, reason, field, cb, ud);
}

/* The time of a document that keeps its own `date`: 0 with *ts set and
 * *text its own text (the caller frees it) or NULL (format ts), or GK_EINVAL
 * with the reason in err. */
static int own_date(struct gateway *g, struct reading *r, int64_t *ts, char **text, char *err,
                    size_t errlen)
{
    *text = NULL;
    if (r->date) {
        int rc = dt_parse(r->date, r->date_len, g->zone, ts, err, errlen);
        if (rc == 0) *text = xstrndup(r->date, r->date_len);
        return rc;
    }
    json_t *d = json_object_get(reading_doc(r), "date");
    if (json_is_integer(d)) {
        *ts = json_integer_value(d);
        *text = NULL;
        if (*ts < CLOCK_MIN_MS || *ts > CLOCK_MAX_MS)
            return gk_errf(err, errlen, GK_EINVAL,
                           "date %lld is out of range: epoch milliseconds must be from 0 "
                           "(1970-01-01) to %lld (9999-12-31)",
                           (long long)*ts, CLOCK_MAX_MS);
        return 0;
    }
    return gk_errf(err, errlen, GK_EINVAL, "date must be a string or epoch milliseconds");
}

/* Runs the route's function on r's document; on success r holds the
 * document it returned (validated again, in memory) and *text its JSON
 * (the caller frees it), or, when the function returned the document
 * unchanged, r and *text stay as they were (the body as posted is kept). Returns 0, GK_ECANCELED (dropped) or GK_ELIMIT (reason in
 * err). */
static int run_function(struct gateway *g, const struct route *rt, struct reading *r, char **text,
                        char *err, size_t errlen)
{
    json_t *out = NULL, *in = reading_doc(r);
    char why[256];
    if (function_call(rt->fn, in, &out, gateway_publish, g, why, sizeof why) != 0) {
        log_warn("function %s failed for group %s: %s", function_path(rt->fn), r->groupid, why);
        return gk_errf(err, errlen, GK_ELIMIT, "function failed: %s", why);
    }
    if (!out)
        return GK_ECANCELED;
    if (json_equal(out, in)) { /* returned as it came: store the body as posted */
        json_decref(out);
        return 0;
    }
    struct reading_error e;
    reading_free(r);
    if (reading_from_json(r, out, &e) != 0) {
        log_warn("function %s returned an invalid document: %s%s%s", function_path(rt->fn),
                 e.field, e.field[0] ? ": " : "", e.message);
        return gk_errf(err, errlen, GK_ELIMIT, "function returned an invalid document: %s%s%s",
                       e.field, e.field[0] ? ": " : "", e.message);
    }
    struct buf out_text = {0};
    json_write(&out_text, r->doc, 0); /* 26.2 stays 26.2 */
    *text = buf_steal(&out_text);
    return 0;
}

/* The verdict of the rules (or of the route's function) on an accepted
 * reading, published at once: a gas alert should not wait for the disk. */
static void judge(struct gateway *g, const struct route *rt, const struct reading *r, int64_t now)
{
    if (r->has_emergency && rt->cfg.topic) {
        static const char emergency[] = "{\"emergency\":\"emergency\"}";
        gateway_publish(g, rt->cfg.topic, emergency, sizeof emergency - 1, 1);
    }
    if (!g->alarms)
        return;
    struct alarm_value v[READING_MAX_MEAS];
    size_t n = rt->fn ? 0 : r->nmeas; /* a function judges instead; keep silence tracking */
    for (size_t i = 0; i < n; i++)
        v[i] = (struct alarm_value){r->meas[i].name, r->meas[i].value};
    alarm_judge(g->alarms, &rt->cfg, r->groupid, v, n, now, gateway_publish, g);
}

/* The length of "[http] live_topic/<groupid>", or 0 when there is no live
 * topic or the groupid is not one topic level (empty, or holding '/', '+',
 * '#'). */
static size_t live_topic_len(const struct gateway *g, const char *groupid)
{
    if (!g->live_topic || !groupid || !*groupid || strpbrk(groupid, "/+#")) return 0;
    return strlen(g->live_topic) + 1 + strlen(groupid);
}

/* A document's key as the store sees it (or key NULL). */
struct scoped_key {
    char *key;
    size_t len;
    uint64_t fp;
};

static void append(struct gateway *g, const struct route *rt, const char *index,
                   const struct reading *r, const char *doc, size_t len, int64_t ts,
                   const struct scoped_key *k, gateway_ingest_cb cb, void *ud)
{
    size_t tlen = live_topic_len(g, r->groupid);
    struct pending *p = pending_new(g, index, tlen ? tlen + 1 + len : 0, cb, ud);
    p->status_topic = rt && rt->cfg.status && rt->cfg.topic ? xstrdup(rt->cfg.topic) : NULL;
    if (tlen) {
        char *t = p->index + strlen(p->index) + 1;
        size_t llen = strlen(g->live_topic);
        memcpy(t, g->live_topic, llen);
        t[llen] = '/';
        memcpy(t + llen + 1, r->groupid, tlen - llen - 1);
        t[tlen] = '\0';
        p->live_topic = t;
        p->doc = t + tlen + 1;
        memcpy(p->doc, doc, len);
        p->doc_len = len;
    }
    struct store_meas meas[READING_MAX_MEAS];
    for (size_t i = 0; i < r->nmeas; i++)
        meas[i] = (struct store_meas){r->meas[i].name, r->meas[i].value};
    struct store_doc d = {.index = index, .source = doc, .source_len = len, .ts_ms = ts,
                          .groupid = r->groupid, .nmeas = r->nmeas, .meas = meas,
                          .idem_key = k->key, .idem_len = k->len, .idem_fp = k->fp};
    store_append(g->store, &d, on_stored, p);
    pressure(g);
}

/* A document not answered from the memory of keys: checked against
 * who's groups, validated, dated, judged, stored (with its key, if any). */
static void ingest(struct gateway *g, const struct principal *who, const struct route *rt,
                   const char *index, const char *body, size_t len, int keep_date,
                   const struct scoped_key *k, gateway_ingest_cb cb, void *ud)
{
    struct reading r;
    struct reading_error e;
    char err[320];
    if (reading_parse(&r, body, len, &e) != 0)
        return finish(g, rt, index, GK_EINVAL, e.message, e.field, cb, ud);
    if (who && !principal_may_group(who, r.groupid)) {
        snprintf(err, sizeof err, "groupid '%s' is not one of %s's groups", r.groupid, who->name);
        reading_free(&r);
        return finish(g, rt, index, GK_EPERM, err, "groupid", cb, ud);
    }
    int64_t now = clock_now_ms(), ts = now;
    const char *date = NULL;
    char *own_text = NULL; /* a `date` string kept as posted */
    int own = keep_date && r.has_date;
    if (own && own_date(g, &r, &ts, &own_text, err, sizeof err) != 0) {
        reading_free(&r);
        return finish(g, rt, index, GK_EINVAL, err, "date", cb, ud);
    }
    char date_buf[20];
    if (!own) {
        date = local_date(g, now);
    } else if (own_text) {
        date = own_text;
    } else {
        if (clock_format_local(ts, date_buf) != 0) { /* an end of the range, past the zone */
            reading_free(&r);
            return finish(g, rt, index, GK_EINVAL, "date is out of range in the local time zone",
                          "date", cb, ud);
        }
        date = date_buf;
    }
    char *fn_text = NULL;
    if (rt) {
        judge(g, rt, &r, now);
        int rc = rt->fn ? run_function(g, rt, &r, &fn_text, err, sizeof err) : 0;
        if (rc != 0) {
            reading_free(&r);
            free(own_text);
            return finish(g, rt, index, rc, rc == GK_ECANCELED ? "dropped by the function" : err,
                          "", cb, ud);
        }
        if (fn_text)
            body = fn_text, len = strlen(fn_text);
    }
    struct buf doc = {0};
    if (own_text && !fn_text)
        buf_append(&doc, body, len); /* kept as posted */
    else
        reading_document(&r, body, len, date, &doc);
    append(g, rt, index, &r, doc.data, doc.len, ts, k, cb, ud);
    buf_free(&doc);
    free(fn_text);
    free(own_text);
    reading_free(&r);
}

void gateway_ingest(struct gateway *g, const struct principal *who, const struct route *rt,
                    const char *index, const char *body, size_t len, int keep_date,
                    const struct idem_key *key, gateway_ingest_cb cb, void *ud)
{
    struct scoped_key k = {0};
    if (who && key && key->key) {
        k.key = idem_scoped(who->name, key, &k.len);
        k.fp = idem_fingerprint(body, len);
        struct pending *p = pending_new(g, index, 0, cb, ud);
        if (store_idem_find(g->store, k.key, k.len, k.fp, on_stored, p)) {
            free(k.key);
            return;
        }
        free(p);
    }
    ingest(g, who, rt, index, body, len, keep_date, &k, cb, ud);
    free(k.key);
}

/* ---- POST on a route ---- */

static void reply_stored(struct http_req *req, const struct gateway_ingest_result *res)
{
    char body[512];
    int n;
    size_t ilen = strlen(res->index);
    if (res->status != GK_ECANCELED && ilen < 256 && res->ack->seq_no >= 0) {
        /* the answer to every reading, without printf: it fits (an index
         * under 256 bytes, an _id under 24, 20 digits) */
        char *p = stpcpy(body, "{\"_index\":\"");
        p = mempcpy(p, res->index, ilen);
        p = stpcpy(p, "\",\"_id\":\"");
        p = stpcpy(p, res->ack->id);
        p = stpcpy(p, "\",\"_version\":1,\"result\":\"created\","
                      "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":");
        p = i64_text(p, res->ack->seq_no);
        p = stpcpy(p, ",\"_primary_term\":1}");
        http_respond(req, 200, NULL, JSON, body, (size_t)(p - body));
        return;
    }
    if (res->status == GK_ECANCELED)
        n = snprintf(body, sizeof body,
                     "{\"_index\":\"%s\",\"result\":\"noop\","
                     "\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0}}",
                     res->index);
    else
        n = snprintf(body, sizeof body,
                     "{\"_index\":\"%s\",\"_id\":\"%s\",\"_version\":1,\"result\":\"created\","
                     "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},"
                     "\"_seq_no\":%lld,\"_primary_term\":1}",
                     res->index, res->ack->id, (long long)res->ack->seq_no);
    http_respond(req, 200, NULL, JSON, body, (size_t)n);
}

/* 400 {"message":...,"field":...}: a refused payload (422: a reused
 * idempotency key). */
static void reply_invalid(struct http_req *req, int status, const char *message, const char *field)
{
    struct buf b = {0};
    buf_puts(&b, "{\"message\":");
    buf_json_str(&b, message, strlen(message));
    buf_puts(&b, ",\"field\":");
    buf_json_str(&b, field, strlen(field));
    buf_putc(&b, '}');
    http_respond(req, status, NULL, JSON, b.data, b.len);
    buf_free(&b);
}

static void on_posted(void *ud, const struct gateway_ingest_result *res)
{
    struct http_req *req = ud;
    switch (res->status) {
    case 0:
    case GK_ECANCELED:
        return reply_stored(req, res);
    case GK_EINVAL:
        return reply_invalid(req, 400, res->reason, res->field);
    case GK_EPERM:
        return gateway_reply_message(req, 403, NULL, res->reason);
    case GK_ELIMIT:
        return gateway_reply_message(req, 500, NULL, res->reason);
    case GK_EEXIST:
        return reply_invalid(req, 422, res->reason, IDEM_HEADER);
    case GK_EFULL:
        return gateway_reply_message(req, 503, "Retry-After: 5\r\n",
                                     "Store unavailable: disk full");
    default:
        return gateway_reply_message(req, 503, "Retry-After: 5\r\n",
                                     "Store unavailable: write failed");
    }
}

int gateway_idem_header(struct http_req *req, struct idem_key *key)
{
    char err[200];
    const char *h = http_req_header(req, IDEM_HEADER);
    *key = (struct idem_key){0};
    if (!h)
        return 0;
    if (idem_key_check(h, strlen(h), &key->key, &key->len, err, sizeof err) == 0)
        return 0;
    char msg[240];
    snprintf(msg, sizeof msg, "%s: %s", IDEM_HEADER, err);
    reply_invalid(req, 400, msg, IDEM_HEADER);
    return -1;
}

void gateway_post(struct gateway *g, struct http_req *req, const struct principal *who,
                  const struct route *rt)
{
    size_t len;
    struct idem_key key;
    if (gateway_reply_busy(g, req) || gateway_idem_header(req, &key) != 0)
        return;
    const char *body = http_req_body(req, &len);
    gateway_ingest(g, who, rt, rt->index, body, len, 0, &key, on_posted, req);
}

/* ---- MQTT telemetry ---- */

static void on_published(void *ud, const struct gateway_ingest_result *res)
{
    struct mqtt_inbound *in = ud;
    int code = 0;
    if (res->status == GK_EINVAL || res->status == GK_EEXIST)
        code = 0x99; /* payload format invalid */
    else if (res->status == GK_EPERM)
        code = 0x87; /* not authorized: another group's reading */
    else if (res->status != 0 && res->status != GK_ECANCELED)
        code = 0x80; /* unspecified error */
    mqtt_inbound_done(in, code);
}

/* The principal an MQTT identity is (apikeys_for_mqtt), or NULL. */
static const struct principal *mqtt_principal(struct gateway *g, const struct mqtt_identity *id)
{
    if (!id->name)
        return NULL; /* anonymous */
    switch (id->kind) {
    case MQTT_ID_KEY:
        return apikeys_for_mqtt(g->keys, APIKEY_CRED_KEY, id->name);
    case MQTT_ID_PASSWORD:
        return apikeys_for_mqtt(g->keys, APIKEY_CRED_MQTT_USER, id->name);
    case MQTT_ID_CERT:
        return apikeys_for_mqtt(g->keys, APIKEY_CRED_CERT, id->name);
    default:
        return NULL;
    }
}

/* The last level of topic[0..len) in out (cut to cap - 1 bytes: no group
 * id is that long, so a cut one matches none). */
static const char *last_level(const char *topic, size_t len, char *out, size_t cap)
{
    size_t i = len;
    while (i > 0 && topic[i - 1] != '/')
        i--;
    size_t n = len - i < cap - 1 ? len - i : cap - 1;
    memcpy(out, topic + i, n);
    out[n] = '\0';
    return out;
}

enum mqtt_hook_verdict gateway_telemetry(void *ud, struct mqtt_inbound *in,
                                         const struct mqtt_identity *id, const char *topic,
                                         size_t topic_len, const void *payload, size_t len,
                                         int qos)
{
    struct gateway *g = ud;
    const struct route *rt = NULL;
    char level[80];
    (void)qos;
    for (size_t i = 0; i < g->nroutes && !rt; i++) {
        const char *f = g->routes[i].mqtt_topic;
        if (f && mqtt_topic_matches(f, strlen(f), topic, topic_len))
            rt = &g->routes[i];
    }
    if (!rt)
        return MQTT_HOOK_PASS; /* an ordinary message */
    const struct principal *p = mqtt_principal(g, id);
    if (!p || !principal_may_route(p, rt->path))
        return MQTT_HOOK_REFUSED; /* THE rule: only a principal of that route ingests */
    if (!principal_may_group(p, last_level(topic, topic_len, level, sizeof level)))
        return MQTT_HOOK_REFUSED; /* a scoped device sends on its groups' topics only */
    seen_mark(g->seen, p->name, clock_now_ms());
    struct idem_key key = {0};
    const char *v;
    size_t vlen;
    char err[200];
    if (mqtt_inbound_user_prop(in, IDEM_MQTT, &v, &vlen) &&
        idem_key_check(v, vlen, &key.key, &key.len, err, sizeof err) != 0) {
        finish(g, rt, rt->index, GK_EINVAL, err, IDEM_MQTT, on_published, in);
        return MQTT_HOOK_TAKEN;
    }
    gateway_ingest(g, p, rt, rt->index, payload, len, 0, &key, on_published, in);
    return MQTT_HOOK_TAKEN;
}

bool gateway_mqtt_login(void *ud, const char *user, size_t ulen, const char *pass, size_t plen)
{
    struct gateway *g = ud;
    if (!apikeys_mqtt_login(g->keys, user, ulen, pass, plen))
        return false;
    char name[256]; /* a principal's name, so no NUL inside */
    if (ulen < sizeof name) {
        memcpy(name, user, ulen);
        name[ulen] = '\0';
        seen_mark(g->seen, name, clock_now_ms());
    }
    return true;
}

const struct route *gateway_route_for_index(const struct gateway *g, const char *index)
{
    for (size_t i = 0; i < g->nroutes; i++)
        if (strcmp(g->routes[i].index, index) == 0)
            return &g->routes[i];
    return NULL;
}
