/* broker_session.c: sessions and what they owe their client.
 *
 * A session keeps one FIFO of deliveries: those in flight (sent, waiting
 * for their acknowledgement) first, in the order they were sent, then those
 * queued behind the in-flight window or while the client is away. QoS 0
 * messages are never queued: they go out at once to an online client that
 * keeps up, and are dropped (and counted) otherwise.
 *
 * Every change to what a persistent session holds marks it for the next
 * persistence batch (persist.c). */
#include "core/mem.h"
#include "mqtt/broker_int.h"

#include <stdlib.h>
#include <string.h>

/* Output queued for a client above which QoS 0 messages are dropped. */
#define SLOW_CLIENT_BYTES (4u << 20)

struct mqtt_session *mqtt__session_new(struct mqtt_broker *b, const char *id, size_t len)
{
    struct mqtt_session *s = xcalloc(1, sizeof *s);
    s->b = b;
    s->id = xstrndup(id, len);
    s->next_pid = 1;
    map_put(&b->sessions, id, len, s);
    b->stats.sessions++;
    return s;
}

static void delivery_free(struct delivery *d)
{
    mqtt__message_unref(d->msg);
    free(d);
}

static void sub_rec_free(struct sub_rec *r)
{
    free(r->filter);
    free(r->group);
}

void mqtt__session_free(struct mqtt_session *s)
{
    struct mqtt_broker *b = s->b;
    mqtt_topic_remove_all(b->subs, s);
    for (size_t i = 0; i < s->nsubs; i++)
        sub_rec_free(&s->subs[i]);
    free(s->subs);
    mqtt__persist_mark_session(s); /* deleted from mqtt.db if it was there */
    for (struct delivery *d = s->head, *next; d; d = next) {
        next = d->next;
        delivery_free(d);
    }
    map_del(&b->sessions, s->id, strlen(s->id));
    b->stats.sessions--;
    free(s->qos2_in);
    free(s->user);
    free(s->id);
    free(s);
}

static void unlink_delivery(struct mqtt_session *s, struct delivery *prev, struct delivery *d)
{
    if (prev)
        prev->next = d->next;
    else
        s->head = d->next;
    if (s->tail == d)
        s->tail = prev;
}

static void append(struct mqtt_session *s, struct delivery *d)
{
    if (s->tail)
        s->tail->next = d;
    else
        s->head = d;
    s->tail = d;
}

static bool online(const struct mqtt_session *s)
{
    return s->client && s->client->connected && !s->client->closing;
}

void mqtt__session_deliver(struct mqtt_session *s, struct mqtt_message *m, uint8_t qos, bool retain,
                     uint32_t sub_id)
{
    struct mqtt_broker *b = s->b;
    if (mqtt__message_expired(b, m))
        return;
    if (qos == 0) {
        struct delivery d = {.msg = m, .sub_id = sub_id, .retain = retain};
        if (online(s) && s->client->ops->pending(s->client->link) < SLOW_CLIENT_BYTES)
            mqtt__send_publish(s->client, &d, false);
        else if (online(s))
            b->stats.msgs_dropped++;
        return;
    }
    if (s->queued >= b->opt.max_queued) {
        b->stats.msgs_dropped++;
        return;
    }
    struct delivery *d = xcalloc(1, sizeof *d);
    d->msg = m;
    mqtt__message_ref(m);
    d->qos = qos;
    d->retain = retain;
    d->sub_id = sub_id;
    append(s, d);
    s->queued++;
    mqtt__persist_mark_session(s);
    mqtt__session_pump(s);
}

void mqtt__session_restore(struct mqtt_session *s, struct mqtt_message *m, uint8_t qos, bool retain,
                     uint32_t sub_id, uint8_t state, uint16_t pid)
{
    struct delivery *d = xcalloc(1, sizeof *d);
    d->msg = m;
    if (m)
        mqtt__message_ref(m);
    d->qos = qos;
    d->retain = retain;
    d->sub_id = sub_id;
    d->state = state;
    d->pid = pid;
    append(s, d);
    if (state == D_QUEUED)
        s->queued++;
    else
        s->inflight++;
}

static bool pid_in_use(const struct mqtt_session *s, uint16_t pid)
{
    for (const struct delivery *d = s->head; d && d->state != D_QUEUED; d = d->next)
        if (d->pid == pid)
            return true;
    return false;
}

static uint16_t next_pid(struct mqtt_session *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        if (pid != 0 && !pid_in_use(s, pid))
            return pid;
    }
}

static unsigned window(const struct mqtt_session *s)
{
    unsigned w = s->b->opt.max_inflight, r = s->client->recv_max;
    return r && r < w ? r : w;
}

void mqtt__session_pump(struct mqtt_session *s)
{
    if (!online(s))
        return;
    struct delivery *prev = NULL, *d = s->head;
    while (d && d->state != D_QUEUED)
        prev = d, d = d->next;
    if (d && s->inflight < window(s))
        mqtt__persist_mark_session(s);
    while (d && s->inflight < window(s)) {
        struct delivery *next = d->next;
        s->queued--;
        d->pid = next_pid(s);
        /* an expired message, or one too large for the client, is done */
        if (mqtt__message_expired(s->b, d->msg) || !mqtt__send_publish(s->client, d, false)) {
            unlink_delivery(s, prev, d);
            delivery_free(d);
        } else {
            d->state = d->qos == 1 ? D_WAIT_PUBACK : D_WAIT_PUBREC;
            s->inflight++;
            prev = d;
        }
        d = next;
    }
}

void mqtt__session_resume(struct mqtt_session *s)
{
    for (struct delivery *d = s->head; d && d->state != D_QUEUED; d = d->next) {
        if (d->state == D_WAIT_PUBCOMP)
            mqtt__send_ack(s->client, MQTT_PUBREL, d->pid, 0);
        else
            mqtt__send_publish(s->client, d, true);
    }
    mqtt__session_pump(s);
}

static struct delivery *find_inflight(struct mqtt_session *s, uint16_t pid, struct delivery **prev)
{
    *prev = NULL;
    for (struct delivery *d = s->head; d && d->state != D_QUEUED; *prev = d, d = d->next)
        if (d->pid == pid)
            return d;
    return NULL;
}

static void finish(struct mqtt_session *s, struct delivery *prev, struct delivery *d)
{
    unlink_delivery(s, prev, d);
    delivery_free(d);
    s->inflight--;
}

void mqtt__session_ack(struct mqtt_session *s, uint8_t type, uint16_t pid, uint8_t code)
{
    struct delivery *prev, *d = find_inflight(s, pid, &prev);
    mqtt__persist_mark_session(s);
    if (type == MQTT_PUBACK && d && d->state == D_WAIT_PUBACK) {
        finish(s, prev, d);
    } else if (type == MQTT_PUBREC && d && d->state == D_WAIT_PUBREC && code >= 0x80) {
        finish(s, prev, d); /* 5.0: the receiver refused it; the flow ends here */
    } else if (type == MQTT_PUBREC && d && d->state != D_WAIT_PUBACK) {
        mqtt__message_unref(d->msg);
        d->msg = NULL;
        d->state = D_WAIT_PUBCOMP;
        mqtt__send_ack(s->client, MQTT_PUBREL, pid, 0);
    } else if (type == MQTT_PUBREC) {
        mqtt__send_ack(s->client, MQTT_PUBREL, pid, 0x92); /* packet identifier not found */
    } else if (type == MQTT_PUBCOMP && d && d->state == D_WAIT_PUBCOMP) {
        finish(s, prev, d);
    }
    mqtt__session_pump(s);
}

static struct sub_rec *find_sub(struct mqtt_session *s, const struct mqtt_topic_filter *f)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        struct sub_rec *r = &s->subs[i];
        bool same_group = f->group ? r->group && strlen(r->group) == f->group_len &&
                                         memcmp(r->group, f->group, f->group_len) == 0
                                   : !r->group;
        if (same_group && strlen(r->filter) == f->len && memcmp(r->filter, f->filter, f->len) == 0)
            return r;
    }
    return NULL;
}

bool mqtt__session_may_subscribe(const struct mqtt_session *s, const struct mqtt_topic_filter *f)
{
    uint32_t max = s->b->opt.max_subscriptions;
    return !max || s->nsubs < max || find_sub((struct mqtt_session *)s, f) != NULL;
}

uint32_t mqtt__session_set_expiry(struct mqtt_session *s, uint32_t expiry_s)
{
    uint32_t max = s->b->opt.max_session_expiry_s;
    s->expiry_s = max && expiry_s > max ? max : expiry_s;
    mqtt__persist_mark_session(s);
    return s->expiry_s;
}

int mqtt__session_subscribe(struct mqtt_session *s, const struct mqtt_topic_filter *f,
                      const struct mqtt_topic_opts *o)
{
    int existed = mqtt_topic_add(s->b->subs, s, f, o);
    struct sub_rec *r = find_sub(s, f);
    if (!r) {
        if (s->nsubs == s->subs_cap) {
            s->subs_cap = s->subs_cap ? 2 * s->subs_cap : 4;
            s->subs = xrealloc(s->subs, s->subs_cap * sizeof *s->subs);
        }
        r = &s->subs[s->nsubs++];
        r->filter = xstrndup(f->filter, f->len);
        r->group = f->group ? xstrndup(f->group, f->group_len) : NULL;
    }
    r->o = *o;
    mqtt__persist_mark_session(s);
    return existed;
}

int mqtt__session_unsubscribe(struct mqtt_session *s, const struct mqtt_topic_filter *f)
{
    struct sub_rec *r = find_sub(s, f);
    if (r) {
        sub_rec_free(r);
        *r = s->subs[--s->nsubs];
    }
    mqtt__persist_mark_session(s);
    return mqtt_topic_remove(s->b->subs, s, f);
}

bool mqtt__session_qos2_has(const struct mqtt_session *s, uint16_t pid)
{
    for (size_t i = 0; i < s->nqos2_in; i++)
        if (s->qos2_in[i] == pid)
            return true;
    return false;
}

void mqtt__session_qos2_add(struct mqtt_session *s, uint16_t pid)
{
    if (s->nqos2_in == s->qos2_cap) {
        s->qos2_cap = s->qos2_cap ? s->qos2_cap * 2 : 8;
        s->qos2_in = xrealloc(s->qos2_in, s->qos2_cap * sizeof *s->qos2_in);
    }
    s->qos2_in[s->nqos2_in++] = pid;
    mqtt__persist_mark_session(s);
}

bool mqtt__session_qos2_del(struct mqtt_session *s, uint16_t pid)
{
    for (size_t i = 0; i < s->nqos2_in; i++) {
        if (s->qos2_in[i] == pid) {
            s->qos2_in[i] = s->qos2_in[--s->nqos2_in];
            mqtt__persist_mark_session(s);
            return true;
        }
    }
    return false;
}
