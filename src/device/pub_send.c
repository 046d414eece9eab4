/* pub_send.c: gasket-pub's delivery: spool -> transport -> spool_ack.
 *
 * Readings are sent in spool order; an answered reading (OK, or DROP with
 * the server's reason logged) is marked done, and the spool is acknowledged
 * up to the first reading not done yet, so a reading leaves the spool only
 * after the server acknowledged it (or refused it for good). The first
 * failure (RETRY, REFUSED) stops the round: after a backoff (exponential,
 * with jitter, Retry-After as a floor; REFUSED at least 30 s) everything
 * not done is sent again, in order, under the same idempotency keys.
 * A run of failures is logged when it starts, once a minute while it
 * lasts, and when delivery works again. */
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "device/pub_int.h"
#include "device/pubopt.h"
#include "device/send_http.h"
#include "device/send_mqtt.h"
#include "device/spool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH_BYTES (4u << 20) /* of one _bulk request's readings */
#define REFUSED_MIN_MS  30000
#define CONNECT_MAX_MS  15000 /* for the connection and its CONNACK */
#define FAIL_LOG_MS     60000

int pub_send_init(struct pub *p, char *err, size_t errlen)
{
    p->res_cap = (size_t)p->o->batch > MQTT_SENDER_WINDOW ? (size_t)p->o->batch : MQTT_SENDER_WINDOW;
    p->res = xcalloc(p->res_cap, sizeof *p->res);
    backoff_init(&p->bo, 500, 60000, clock_now_ms() ^ (uint64_t)(uintptr_t)p);
    if (p->o->url) return http_sender_new(&p->http, p->multi, p->o, err, errlen);
    return mqtt_sender_new(&p->mq, p->multi, p->o, err, errlen);
}

void pub_send_free(struct pub *p)
{
    http_sender_free(p->http);
    mqtt_sender_free(p->mq);
    free(p->res);
}

int pub_idle(const struct pub *p)
{
    return p->http ? !http_sender_busy(p->http) : mqtt_sender_last_seq(p->mq) == 0;
}

/* ---- answers ---- */

static int is_done(struct pub *p, uint64_t seq)
{
    for (size_t i = 0; i < p->ndone; i++)
        if (p->done[i] == seq) {
            p->done[i] = p->done[--p->ndone];
            return 1;
        }
    return 0;
}

/* Records an answered reading: *upto (everything up to it is done) moves
 * on when it is the next one, else it waits in p->done (MQTT answers out
 * of order). */
static void mark_done(struct pub *p, const struct send_result *r, uint64_t *upto)
{
    if (r->verdict == SEND_DROP) {
        p->dropped++;
        log_warn("reading %" PRIu64 " dropped, the server refused it: %s", r->seq, r->reason);
    } else {
        p->delivered++;
    }
    if (r->seq == *upto + 1) {
        ++*upto;
        while (is_done(p, *upto + 1))
            ++*upto;
    } else if (r->seq > *upto && p->ndone < PUB_DONE_MAX) {
        p->done[p->ndone++] = r->seq;
    }
}

/* Acknowledges the spool up to upto. */
static void advance(struct pub *p, uint64_t upto)
{
    char err[256];
    if (upto > spool_acked(p->sp) && spool_ack(p->sp, upto, err, sizeof err) != 0) {
        log_error("%s", err);
        p->fatal = 1;
    }
}

static void on_failure(struct pub *p, const struct send_result *r, uint64_t retry_after,
                       int at_once, uint64_t now)
{
    if (p->mq) mqtt_sender_reset(p->mq); /* in flight: sent again */
    p->ndone = 0;
    if (at_once) {
        p->next_try = now;
        return;
    }
    uint64_t delay = backoff_next(&p->bo, retry_after);
    if (r->verdict == SEND_REFUSED && delay < REFUSED_MIN_MS) delay = REFUSED_MIN_MS;
    p->next_try = now + delay;
    p->refused = r->verdict == SEND_REFUSED;
    if (!p->failing || now - p->fail_logged >= FAIL_LOG_MS) {
        log_warn("cannot deliver: %s; %" PRIu64 " readings kept in the spool, next try in %.1f s",
                 r->reason[0] ? r->reason : "no answer", spool_pending(p->sp), delay / 1000.0);
        p->fail_logged = now;
    }
    if (!p->failing) p->fail_since = now;
    p->failing = 1;
}

static void on_success(struct pub *p, uint64_t now)
{
    if (p->failing)
        log_info("delivering again after %.0f s; %" PRIu64 " readings to catch up",
                 (now - p->fail_since) / 1000.0, spool_pending(p->sp));
    p->failing = p->refused = 0;
    backoff_reset(&p->bo);
}

/* Results of one transport answer, in send order. */
static void take_results(struct pub *p, size_t n, uint64_t retry_after, int at_once, uint64_t now)
{
    size_t i = 0;
    uint64_t upto = spool_acked(p->sp);
    for (size_t k = 0; k < p->ndone;) /* dropped from a full spool meanwhile */
        if (p->done[k] <= upto) p->done[k] = p->done[--p->ndone];
        else k++;
    for (; i < n && (p->res[i].verdict == SEND_OK || p->res[i].verdict == SEND_DROP); i++)
        mark_done(p, &p->res[i], &upto);
    if (i > 0) on_success(p, now);
    advance(p, upto);
    if (i < n) on_failure(p, &p->res[i], retry_after, at_once, now);
}

void pub_collect(struct pub *p, uint64_t now)
{
    if (p->http) {
        CURLMsg *msg;
        int left;
        size_t n;
        uint64_t retry_after;
        int at_once;
        while ((msg = curl_multi_info_read(p->multi, &left)))
            if (http_sender_finish(p->http, msg, p->res, &n, &retry_after, &at_once))
                take_results(p, n, retry_after, at_once, now);
        return;
    }
    int changed, refused;
    char why[256] = "";
    size_t n = mqtt_sender_poll(p->mq, p->res, p->res_cap, &changed, &refused, why, sizeof why);
    if (n) take_results(p, n, 0, 0, now);
    if (changed && mqtt_sender_state(p->mq) == MQTT_SENDER_UP) {
        log_info("MQTT connected to %s", p->o->mqtt);
    } else if (changed && mqtt_sender_state(p->mq) == MQTT_SENDER_DOWN) {
        struct send_result r = {.verdict = refused ? SEND_REFUSED : SEND_RETRY};
        snprintf(r.reason, sizeof r.reason, "%.200s", why);
        on_failure(p, &r, 0, 0, now);
    }
}

/* ---- sending ---- */

static void send_http(struct pub *p)
{
    struct spool_item items[1];
    size_t room = http_sender_room(p->http), n = 0;
    struct spool_item *it = room > 1 ? xcalloc(room, sizeof *it) : items;
    if (spool_peek(p->sp, 0, room, MAX_BATCH_BYTES, it, &n) != 0) {
        log_error("cannot read the spool back");
        p->fatal = 1;
    } else if (n > 0) {
        http_sender_start(p->http, it, n, p->key_prefix);
        spool_items_free(it, n);
    }
    if (it != items) free(it);
}

static void send_mqtt(struct pub *p, uint64_t now)
{
    char err[256];
    enum mqtt_sender_state st = mqtt_sender_state(p->mq);
    if (st == MQTT_SENDER_DOWN) {
        p->connect_since = now;
        if (mqtt_sender_connect(p->mq, err, sizeof err) != 0) {
            struct send_result r = {.verdict = SEND_RETRY};
            snprintf(r.reason, sizeof r.reason, "%.200s", err);
            on_failure(p, &r, 0, 0, now);
        }
        return;
    }
    if (st == MQTT_SENDER_CONNECTING && now - p->connect_since > CONNECT_MAX_MS) {
        struct send_result r = {.verdict = SEND_RETRY};
        snprintf(r.reason, sizeof r.reason, "MQTT %s: not connected within %d s", p->o->mqtt,
                 CONNECT_MAX_MS / 1000);
        on_failure(p, &r, 0, 0, now);
        return;
    }
    struct spool_item it[MQTT_SENDER_WINDOW];
    size_t room = mqtt_sender_room(p->mq), n = 0;
    if (room == 0) return;
    if (spool_peek(p->sp, mqtt_sender_last_seq(p->mq), room, MAX_BATCH_BYTES, it, &n) != 0) {
        log_error("cannot read the spool back");
        p->fatal = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (mqtt_sender_publish(p->mq, &it[i], p->key_prefix) != 0) break;
    spool_items_free(it, n);
}

void pub_send(struct pub *p, uint64_t now)
{
    if (now < p->next_try) return;
    if (p->mq) return send_mqtt(p, now);
    if (!http_sender_busy(p->http) && spool_pending(p->sp) > 0) send_http(p);
}

uint64_t pub_send_due(const struct pub *p, uint64_t now)
{
    if (p->mq && mqtt_sender_state(p->mq) == MQTT_SENDER_CONNECTING)
        return p->connect_since + CONNECT_MAX_MS + 1;
    if (p->mq && mqtt_sender_state(p->mq) == MQTT_SENDER_DOWN) return p->next_try;
    if (spool_pending(p->sp) == 0 || (p->http && http_sender_busy(p->http))) return UINT64_MAX;
    if (p->mq) { /* up: room, and readings not in flight yet */
        uint64_t last = mqtt_sender_last_seq(p->mq), acked = spool_acked(p->sp);
        uint64_t flying = last > acked ? last - acked : 0;
        if (!mqtt_sender_room(p->mq) || spool_pending(p->sp) <= flying) return UINT64_MAX;
    }
    return p->next_try > now ? p->next_try : now;
}
