/* send_mqtt.c: gasket-pub's MQTT transport (send_mqtt.h).
 *
 * Threads: each connection try is an `attempt`, a client connected by a
 * thread of its own with the blocking mosquitto_connect() (TCP connect and
 * TLS handshake; libmosquitto's asynchronous connect does not report a
 * failed TLS connect), which then starts libmosquitto's network thread
 * (mosquitto_loop_start) and ends. The callbacks of that thread
 * (on_connect, on_disconnect, on_publish) and the connect thread's failure
 * append to `events` under `mu`, tagged with the attempt's id, and wake the
 * main thread, which ignores the events of attempts it gave up. Giving up an
 * attempt whose connect thread still blocks (an unreachable host) leaves
 * the client to that thread, which destroys it when its connect returns.
 * Everything else (publishing, the in-flight table) is the main thread's. A
 * PUBACK is matched to its reading by message id on the main thread, after
 * mosquitto_publish_v5() has returned that id. */
#include "device/send_mqtt.h"
#include "core/mem.h"
#include "device/pubopt.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 256
#define KEEPALIVE  30

enum ev_kind { EV_UP, EV_FAILED, EV_DOWN, EV_ACK };

struct ev {
    enum ev_kind kind;
    unsigned attempt;
    int code; /* EV_ACK: the PUBACK reason; else the CONNACK/disconnect reason or MOSQ_ERR */
    int err;  /* EV_FAILED with MOSQ_ERR_ERRNO: errno */
    int mid;
};

struct flight {
    int mid;
    uint64_t seq;
};

struct mqtt_sender;

/* One connection try and its client. */
struct attempt {
    struct mqtt_sender *m;
    struct mosquitto *mosq;
    unsigned id;
    int connect_done; /* under m->mu: the connect thread is finished with it */
    int abandoned;    /* under m->mu: the main thread gave it up before that */
};

struct mqtt_sender {
    CURLM *wake;
    struct attempt *att; /* the current try, or NULL */
    unsigned next_id;
    enum mqtt_sender_state state;
    char *host, *topic, *client_id;
    int port;
    const struct pubopt *o;
    struct flight fl[MQTT_SENDER_WINDOW]; /* in publish order */
    size_t nfl;
    pthread_mutex_t mu;
    struct ev events[MAX_EVENTS]; /* under mu */
    size_t nevents;
    int overflow;  /* under mu: events were lost: treat as a lost connection */
    int orphans;   /* under mu: attempts still owned by their connect thread */
};

/* Under mu. */
static void push_locked(struct mqtt_sender *m, struct ev e)
{
    if (m->nevents < MAX_EVENTS) m->events[m->nevents++] = e;
    else m->overflow = 1;
}

static void push(struct attempt *a, enum ev_kind kind, int code, int mid)
{
    struct mqtt_sender *m = a->m;
    pthread_mutex_lock(&m->mu);
    push_locked(m, (struct ev){kind, a->id, code, 0, mid});
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

/* The connect thread: connects (blocking), starts the network thread, or
 * reports the failure; destroys the client when the attempt was given up. */
static void *connect_main(void *arg)
{
    struct attempt *a = arg;
    struct mqtt_sender *m = a->m;
    int rc = mosquitto_connect(a->mosq, m->host, m->port, KEEPALIVE), err = errno;
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_start(a->mosq);
    pthread_mutex_lock(&m->mu);
    int abandoned = a->abandoned;
    a->connect_done = 1;
    if (abandoned) m->orphans--;
    else if (rc != MOSQ_ERR_SUCCESS) push_locked(m, (struct ev){EV_FAILED, a->id, rc, err, 0});
    pthread_mutex_unlock(&m->mu);
    if (abandoned) {
        mosquitto_loop_stop(a->mosq, true);
        mosquitto_destroy(a->mosq);
        free(a);
    } else {
        curl_multi_wakeup(m->wake);
    }
    return NULL;
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
    struct attempt *a = m->att;
    m->att = NULL;
    if (a) {
        pthread_mutex_lock(&m->mu);
        int owned = !a->connect_done; /* its connect thread still blocks: it cleans up */
        if (owned) {
            a->abandoned = 1;
            m->orphans++;
        }
        pthread_mutex_unlock(&m->mu);
        if (!owned) {
            mosquitto_disconnect(a->mosq);
            mosquitto_loop_stop(a->mosq, true);
            mosquitto_destroy(a->mosq);
            free(a);
        }
    }
    m->state = MQTT_SENDER_DOWN;
    m->nfl = 0;
    pthread_mutex_lock(&m->mu);
    m->nevents = 0; /* of the attempt that is gone */
    m->overflow = 0;
    pthread_mutex_unlock(&m->mu);
}

void mqtt_sender_free(struct mqtt_sender *m)
{
    if (!m) return;
    mqtt_sender_reset(m);
    pthread_mutex_lock(&m->mu);
    int orphans = m->orphans;
    pthread_mutex_unlock(&m->mu);
    if (orphans) return; /* a connect thread still uses m: the process ends with it */
    pthread_mutex_destroy(&m->mu);
    free(m->host);
    free(m->topic);
    free(m->client_id);
    free(m);
}

/* A new client with the options and callbacks, or NULL (err). */
static struct mosquitto *client_new(struct mqtt_sender *m, struct attempt *a, char *err,
                                    size_t errlen)
{
    const struct pubopt *o = m->o;
    struct mosquitto *mosq = mosquitto_new(m->client_id, true, a);
    if (!mosq) {
        snprintf(err, errlen, "MQTT: cannot make a client: %s", strerror(errno));
        return NULL;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    int rc = MOSQ_ERR_SUCCESS;
    const char *what = "TLS files";
    if (o->cafile) rc = mosquitto_tls_set(mosq, o->cafile, NULL, o->cert, o->keyfile, NULL);
    if (rc == MOSQ_ERR_SUCCESS && o->user) {
        what = "user name";
        rc = mosquitto_username_pw_set(mosq, o->user, o->password);
    }
    if (rc == MOSQ_ERR_SUCCESS) return mosq;
    snprintf(err, errlen, "MQTT %s:%d: %s: %s", m->host, m->port, what, mosquitto_strerror(rc));
    mosquitto_destroy(mosq);
    return NULL;
}

int mqtt_sender_connect(struct mqtt_sender *m, char *err, size_t errlen)
{
    mqtt_sender_reset(m);
    struct attempt *a = xcalloc(1, sizeof *a);
    a->m = m;
    a->id = ++m->next_id;
    a->mosq = client_new(m, a, err, errlen);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = a->mosq ? pthread_create(&t, &attr, connect_main, a) : -1;
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        if (a->mosq) {
            snprintf(err, errlen, "MQTT: cannot start a thread: %s", strerror(rc));
            mosquitto_destroy(a->mosq);
        }
        free(a);
        return -1;
    }
    m->att = a;
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
    int rc = mosquitto_publish_v5(m->att->mosq, &mid, m->topic, (int)it->len, it->data, 1, false, props);
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
    unsigned cur = m->att ? m->att->id : 0;
    for (size_t i = 0; i < nev; i++) {
        const struct ev *e = &evs[i];
        if (e->attempt != cur) continue; /* of an attempt given up */
        if (e->kind == EV_ACK && n < cap && ack_of(m, e, &res[n])) n++;
        if (e->kind == EV_UP) m->state = MQTT_SENDER_UP;
        if (e->kind == EV_FAILED || e->kind == EV_DOWN) m->state = MQTT_SENDER_DOWN;
        if (e->kind == EV_UP || e->kind == EV_FAILED || e->kind == EV_DOWN) *changed = 1;
        if (e->kind == EV_FAILED)
            *refused = e->code == MQTT_RC_NOT_AUTHORIZED || e->code == MQTT_RC_BAD_USERNAME_OR_PASSWORD;
        if (e->kind == EV_FAILED && e->code >= 0x80) /* a CONNACK's reason */
            snprintf(why, whylen, "MQTT %s:%d refused the connection: %s", m->host, m->port,
                     mosquitto_reason_string(e->code));
        else if (e->kind == EV_FAILED)
            snprintf(why, whylen, "MQTT %s:%d: cannot connect: %s", m->host, m->port,
                     e->code == MOSQ_ERR_ERRNO ? strerror(e->err) : mosquitto_strerror(e->code));
        if (e->kind == EV_DOWN)
            snprintf(why, whylen, "MQTT %s:%d: connection lost (%s)", m->host, m->port,
                     e->code >= 0x80 ? mosquitto_reason_string(e->code)
                     : e->code       ? mosquitto_strerror(e->code)
                                     : "closed by the server");
    }
    if (overflow) {
        m->state = MQTT_SENDER_DOWN;
        *changed = 1;
        snprintf(why, whylen, "MQTT: too many events at once");
    }
    return n;
}
