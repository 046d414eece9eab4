/* send_mqtt.c: gasket-pub's MQTT transport (send_mqtt.h).
 *
 * Threads: libmosquitto's network thread runs the callbacks (on_connect,
 * on_disconnect, on_publish), which append to `events` under `mu` and wake
 * the main thread; everything else (the client's creation and
 * destruction, publishing, the in-flight table) is the main thread's. A
 * PUBACK is matched to its reading by message id on the main thread, after
 * mosquitto_publish_v5() has returned that id. */
#include "device/send_mqtt.h"
#include "core/mem.h"
#include "device/pubopt.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 256

enum ev_kind { EV_UP, EV_FAILED, EV_DOWN, EV_ACK };

struct ev {
    enum ev_kind kind;
    int code; /* EV_ACK: the PUBACK reason; else the CONNACK/disconnect reason */
    int mid;
};

struct flight {
    int mid;
    uint64_t seq;
};

struct mqtt_sender {
    CURLM *wake;
    struct mosquitto *mosq;
    enum mqtt_sender_state state;
    char *host, *topic, *client_id;
    int port;
    const struct pubopt *o;
    struct flight fl[MQTT_SENDER_WINDOW]; /* in publish order */
    size_t nfl;
    pthread_mutex_t mu;
    struct ev events[MAX_EVENTS]; /* under mu */
    size_t nevents;
    int overflow; /* under mu: events were lost: treat as a lost connection */
};

static void push(struct mqtt_sender *m, enum ev_kind kind, int code, int mid)
{
    pthread_mutex_lock(&m->mu);
    if (m->nevents < MAX_EVENTS) m->events[m->nevents++] = (struct ev){kind, code, mid};
    else m->overflow = 1;
    pthread_mutex_unlock(&m->mu);
    curl_multi_wakeup(m->wake);
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq, (void)flags, (void)props;
    push(ud, rc == 0 ? EV_UP : EV_FAILED, rc, 0);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *p)
{
    (void)mosq, (void)p;
    push(ud, EV_DOWN, rc, 0);
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)mosq, (void)props;
    push(ud, EV_ACK, reason, mid);
}

int mqtt_sender_new(struct mqtt_sender **out, CURLM *wake, const struct pubopt *o, char *err,
                    size_t errlen)
{
    const char *colon = strrchr(o->mqtt, ':');
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon == o->mqtt || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "gasket-pub: --mqtt %s: expected HOST:PORT", o->mqtt);
        return -1;
    }
    struct mqtt_sender *m = xcalloc(1, sizeof *m);
    m->wake = wake;
    m->o = o;
    m->host = xstrndup(o->mqtt, (size_t)(colon - o->mqtt));
    m->port = (int)port;
    m->topic = xstrdup(o->topic);
    size_t n = strlen(o->name) + sizeof "gasket-pub-";
    m->client_id = xmalloc(n);
    snprintf(m->client_id, n, "gasket-pub-%s", o->name);
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

void mqtt_sender_reset(struct mqtt_sender *m)
{
    if (m->mosq) {
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_stop(m->mosq, true);
        mosquitto_destroy(m->mosq);
        m->mosq = NULL;
    }
    m->state = MQTT_SENDER_DOWN;
    m->nfl = 0;
    pthread_mutex_lock(&m->mu);
    m->nevents = 0; /* of the client that is gone */
    m->overflow = 0;
    pthread_mutex_unlock(&m->mu);
}

void mqtt_sender_free(struct mqtt_sender *m)
{
    if (!m) return;
    mqtt_sender_reset(m);
    pthread_mutex_destroy(&m->mu);
    free(m->host);
    free(m->topic);
    free(m->client_id);
    free(m);
}

static int fail(struct mqtt_sender *m, int rc, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "MQTT %s:%d: %s: %s", m->host, m->port, what,
             rc == MOSQ_ERR_ERRNO ? "system error" : mosquitto_strerror(rc));
    mqtt_sender_reset(m);
    return -1;
}

int mqtt_sender_connect(struct mqtt_sender *m, char *err, size_t errlen)
{
    const struct pubopt *o = m->o;
    mqtt_sender_reset(m);
    m->mosq = mosquitto_new(m->client_id, true, m);
    if (!m->mosq) return fail(m, MOSQ_ERR_NOMEM, "cannot make a client", err, errlen);
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(m->mosq, on_publish);
    int rc = MOSQ_ERR_SUCCESS;
    if (o->cafile) rc = mosquitto_tls_set(m->mosq, o->cafile, NULL, o->cert, o->keyfile, NULL);
    if (rc != MOSQ_ERR_SUCCESS) return fail(m, rc, "TLS files", err, errlen);
    if (o->user) rc = mosquitto_username_pw_set(m->mosq, o->user, o->password);
    if (rc != MOSQ_ERR_SUCCESS) return fail(m, rc, "user name", err, errlen);
    rc = mosquitto_loop_start(m->mosq);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_connect_async(m->mosq, m->host, m->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) return fail(m, rc, "cannot connect", err, errlen);
    m->state = MQTT_SENDER_CONNECTING;
    return 0;
}

enum mqtt_sender_state mqtt_sender_state(const struct mqtt_sender *m)
{
    return m->state;
}

size_t mqtt_sender_room(const struct mqtt_sender *m)
{
    return m->state == MQTT_SENDER_UP ? MQTT_SENDER_WINDOW - m->nfl : 0;
}

uint64_t mqtt_sender_last_seq(const struct mqtt_sender *m)
{
    return m->nfl ? m->fl[m->nfl - 1].seq : 0;
}

int mqtt_sender_publish(struct mqtt_sender *m, const struct spool_item *it, const char *key_prefix)
{
    char key[256];
    mosquitto_property *props = NULL;
    int mid = 0;
    snprintf(key, sizeof key, "%s%llu", key_prefix, (unsigned long long)it->seq);
    mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "idempotency-key", key);
    int rc = mosquitto_publish_v5(m->mosq, &mid, m->topic, (int)it->len, it->data, 1, false, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        m->state = MQTT_SENDER_DOWN;
        return -1;
    }
    m->fl[m->nfl++] = (struct flight){mid, it->seq};
    return 0;
}

static enum send_verdict verdict_of(int reason)
{
    if (reason < 0x80) return SEND_OK;
    if (reason == MQTT_RC_PAYLOAD_FORMAT_INVALID) return SEND_DROP;
    if (reason == MQTT_RC_NOT_AUTHORIZED) return SEND_REFUSED;
    return SEND_RETRY;
}

/* The PUBACK of mid: its reading's result (removed from the flight), or 0
 * when it is not ours any more. */
static int ack_of(struct mqtt_sender *m, const struct ev *e, struct send_result *r)
{
    for (size_t i = 0; i < m->nfl; i++) {
        if (m->fl[i].mid != e->mid) continue;
        *r = (struct send_result){.seq = m->fl[i].seq, .verdict = verdict_of(e->code)};
        if (e->code >= 0x80)
            snprintf(r->reason, sizeof r->reason, "PUBACK 0x%02x %s", e->code,
                     mosquitto_reason_string(e->code));
        memmove(&m->fl[i], &m->fl[i + 1], (m->nfl - i - 1) * sizeof m->fl[0]);
        m->nfl--;
        return 1;
    }
    return 0;
}

size_t mqtt_sender_poll(struct mqtt_sender *m, struct send_result *res, size_t cap, int *changed,
                        int *refused, char *why, size_t whylen)
{
    struct ev evs[MAX_EVENTS];
    size_t nev, n = 0;
    pthread_mutex_lock(&m->mu);
    nev = m->nevents;
    memcpy(evs, m->events, nev * sizeof evs[0]);
    m->nevents = 0;
    int overflow = m->overflow;
    m->overflow = 0;
    pthread_mutex_unlock(&m->mu);
    *changed = *refused = 0;
    for (size_t i = 0; i < nev; i++) {
        const struct ev *e = &evs[i];
        if (e->kind == EV_ACK && n < cap && ack_of(m, e, &res[n])) n++;
        if (e->kind == EV_UP) m->state = MQTT_SENDER_UP;
        if (e->kind == EV_FAILED || e->kind == EV_DOWN) m->state = MQTT_SENDER_DOWN;
        if (e->kind == EV_UP || e->kind == EV_FAILED || e->kind == EV_DOWN) *changed = 1;
        if (e->kind == EV_FAILED)
            *refused = e->code == MQTT_RC_NOT_AUTHORIZED || e->code == MQTT_RC_BAD_USERNAME_OR_PASSWORD;
        if (e->kind == EV_FAILED)
            snprintf(why, whylen, "MQTT %s:%d refused the connection: %s", m->host, m->port,
                     mosquitto_reason_string(e->code));
        if (e->kind == EV_DOWN)
            snprintf(why, whylen, "MQTT %s:%d: connection lost (%s)", m->host, m->port,
                     mosquitto_strerror(e->code));
    }
    if (overflow) {
        m->state = MQTT_SENDER_DOWN;
        *changed = 1;
        snprintf(why, whylen, "MQTT: too many events at once");
    }
    return n;
}
