/* broker_auth.c: who a client is, and what it may do.
 *
 * Identity, first match wins: a user the carrier vouches for (a dashboard
 * session on /mqtt: MQTT_ID_DASHBOARD, whatever the CONNECT says); a TLS
 * client certificate verified against
 * [mqtt] tls_ca gives its CN (MQTT_ID_CERT, as IoT Core does); a user name
 * and password the host's login hook accepts (MQTT_ID_KEY: gasketd's
 * principal name and key, a constant-time compare on the loop); a user
 * name and password in the password file (MQTT_ID_PASSWORD); anything
 * else with a user name is refused (5.0 0x86, 3.1.1 code 4). Without a
 * user name a client is anonymous, admitted only with allow_anonymous.
 *
 * A PBKDF2 check costs tens of milliseconds, so it runs on the broker's
 * own small thread pool (not libuv's, which the search queries use) with a
 * bounded queue: when auth_queue checks are waiting the CONNECT is refused
 * at once (5.0 0x89 server busy, 3.1.1 code 3). A client's later packets
 * wait in its buffer, at most auth_pending_bytes, until the answer is back.
 * A queued check whose client has gone is skipped.
 *
 * Authorization: the ACL (auth.h) is applied to PUBLISH and wills (write),
 * SUBSCRIBE (read, the whole filter) and every delivery when it is sent
 * (read, the topic). $SYS/ is never writable by clients; reserved topics
 * (the alert topics) only with an explicit grant in the user's own block.
 * A dashboard client is not judged by the ACL file but by a table of its
 * own, built from the reserved names: it reads them and writes nothing. */
#include "core/log.h"
#include "core/mem.h"
#include "mqtt/auth.h"
#include "mqtt/broker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_job {
    struct auth_job *next;
    struct mqtt_client *c; /* NULL once the client is gone (loop thread) */
    bool cancelled;        /* the client is gone: skip the check (under mu) */
    const struct mqtt_passwd *passwd;
    char *user, *pass;
    size_t ulen, plen;
    uint8_t *packet; /* the CONNECT, to decode again when done */
    size_t packet_len;
    bool ok;
};

/* A FIFO of jobs. */
struct job_list {
    struct auth_job *head, *tail;
};

struct auth_pool {
    uv_mutex_t mu;
    uv_cond_t cv;
    struct job_list todo, done;
    unsigned waiting; /* in todo */
    bool stop;
    uv_async_t async; /* done has jobs */
    uv_thread_t *threads;
    unsigned nthreads;
};

static void list_push(struct job_list *l, struct auth_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct auth_job *list_pop(struct job_list *l)
{
    struct auth_job *j = l->head;
    if (j && !(l->head = j->next))
        l->tail = NULL;
    return j;
}

static void job_free(struct auth_job *j)
{
    if (j->pass)
        memset(j->pass, 0, j->plen);
    free(j->user);
    free(j->pass);
    free(j->packet);
    free(j);
}

/* ---- the pool's threads ---- */

static void worker(void *arg)
{
    struct auth_pool *p = arg;
    uv_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->todo.head)
            uv_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        struct auth_job *j = list_pop(&p->todo);
        p->waiting--;
        bool skip = j->cancelled;
        uv_mutex_unlock(&p->mu);
        if (!skip)
            j->ok = mqtt_passwd_check(j->passwd, j->user, j->ulen, j->pass, j->plen);
        uv_mutex_lock(&p->mu);
        list_push(&p->done, j);
        uv_async_send(&p->async);
    }
    uv_mutex_unlock(&p->mu);
}

/* ---- back on the loop ---- */

static void job_finish(struct auth_job *j)
{
    struct mqtt_client *c = j->c;
    if (!c)
        return;
    c->auth = NULL;
    if (c->closing)
        return; /* e.g. the connect timeout fired */
    struct mqtt_packet p;
    size_t used;
    int reason;
    if (j->ok && mqtt_decode(j->packet, j->packet_len, 0, 0, &p, &used) == 0) {
        c->user_kind = MQTT_ID_PASSWORD;
        reason = mqtt__connect_accept(c, &p);
    } else {
        reason = mqtt__connect_refuse(c, 0x86); /* bad user name or password */
    }
    if (reason)
        mqtt__client_close(c, (uint8_t)reason, mqtt_reason_text((uint8_t)reason));
    else
        mqtt__client_process(c); /* what arrived meanwhile */
}

static void on_done(uv_async_t *a)
{
    struct auth_pool *p = a->data;
    uv_mutex_lock(&p->mu);
    struct job_list done = p->done;
    p->done = (struct job_list){0};
    uv_mutex_unlock(&p->mu);
    for (struct auth_job *j; (j = list_pop(&done));) {
        job_finish(j);
        job_free(j);
    }
}

static struct auth_pool *pool_new(struct mqtt_broker *b)
{
    struct auth_pool *p = xcalloc(1, sizeof *p);
    uv_mutex_init(&p->mu);
    uv_cond_init(&p->cv);
    uv_async_init(b->loop, &p->async, on_done);
    p->async.data = p;
    unsigned n = b->opt.auth_threads ? b->opt.auth_threads : 1;
    p->threads = xcalloc(n, sizeof *p->threads);
    for (; p->nthreads < n; p->nthreads++)
        if (uv_thread_create(&p->threads[p->nthreads], worker, p) != 0)
            abort(); /* the out-of-memory policy: a thread is an internal resource */
    b->open_handles++;
    return p;
}

bool mqtt__auth_pool_close(struct mqtt_broker *b, uv_close_cb closed)
{
    struct auth_pool *p = b->auth;
    if (!p)
        return false;
    uv_mutex_lock(&p->mu);
    p->stop = true;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        uv_thread_join(&p->threads[i]);
    for (struct auth_job *j; (j = list_pop(&p->todo)) || (j = list_pop(&p->done));)
        job_free(j); /* every client is gone by now */
    free(p->threads);
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    p->async.data = b;
    uv_close((uv_handle_t *)&p->async, closed); /* the broker frees p after closed() */
    return true;
}

/* Queues a password check; AUTH_PENDING, or 0x89 (server busy) when full. */
static int start_check(struct mqtt_client *c, const struct mqtt_connect *k)
{
    struct mqtt_broker *b = c->b;
    if (!b->auth)
        b->auth = pool_new(b);
    struct auth_pool *p = b->auth;
    uv_mutex_lock(&p->mu);
    bool full = p->waiting >= b->opt.auth_queue;
    uv_mutex_unlock(&p->mu);
    if (full) {
        log_debug("mqtt: %s: password checks queue full, refusing", c->ops->peer(c->link));
        return 0x89;
    }
    struct auth_job *j = xcalloc(1, sizeof *j);
    j->c = c;
    j->passwd = b->opt.passwd;
    j->user = xstrndup(k->username.p, k->username.len);
    j->ulen = k->username.len;
    j->pass = xstrndup(k->password.p, k->password.len);
    j->plen = k->password.len;
    j->packet = xmalloc(c->raw_len);
    memcpy(j->packet, c->raw, c->raw_len);
    j->packet_len = c->raw_len;
    c->auth = j;
    uv_mutex_lock(&p->mu);
    list_push(&p->todo, j);
    p->waiting++;
    uv_cond_signal(&p->cv);
    uv_mutex_unlock(&p->mu);
    return AUTH_PENDING;
}

int mqtt__auth_connect(struct mqtt_client *c, const struct mqtt_packet *p)
{
    const struct mqtt_connect *k = &p->connect;
    struct mqtt_broker *b = c->b;
    const char *cn = c->ops->tls_cn ? c->ops->tls_cn(c->link) : NULL;
    if (c->vouched) { /* a dashboard user: reads, never writes (a will neither) */
        c->user = xstrdup(c->vouched);
        c->user_kind = MQTT_ID_DASHBOARD;
        return k->will ? 0x87 : 0;
    }
    if (cn) { /* the certificate authenticated it */
        c->user = xstrdup(cn);
        c->user_kind = MQTT_ID_CERT;
        return 0;
    }
    if (!k->has_username) {
        c->user_kind = MQTT_ID_ANONYMOUS;
        return b->opt.allow_anonymous ? 0 : 0x87; /* not authorized */
    }
    if (memchr(k->username.p, '\0', k->username.len))
        return 0x86;
    c->user = xstrndup(k->username.p, k->username.len);
    if (k->has_password && b->login &&
        b->login(b->login_ud, k->username.p, k->username.len, k->password.p, k->password.len)) {
        c->user_kind = MQTT_ID_KEY;
        return 0;
    }
    if (b->opt.passwd && k->has_password)
        return start_check(c, k);
    return 0x86; /* bad user name or password */
}

void mqtt__auth_forget(struct mqtt_client *c)
{
    struct auth_job *j = c->auth;
    if (!j)
        return;
    struct auth_pool *p = c->b->auth;
    uv_mutex_lock(&p->mu);
    j->cancelled = true;
    uv_mutex_unlock(&p->mu);
    j->c = NULL; /* on_done() frees the job */
    c->auth = NULL;
}

static const char *client_id(const struct mqtt_client *c)
{
    return c->s ? c->s->id : "";
}

struct mqtt_identity mqtt__auth_identity(const struct mqtt_client *c)
{
    return (struct mqtt_identity){(enum mqtt_id_kind)c->user_kind, c->user};
}

const char *mqtt__auth_escape(const char *s, size_t n, char *out, size_t cap)
{
    log_escape(out, cap, s, n);
    return out;
}

static bool is_sys(const char *topic, size_t len)
{
    return len >= 5 && memcmp(topic, "$SYS/", 5) == 0;
}

bool mqtt__auth_may_write_reserved(const struct mqtt_client *c, const char *topic, size_t len)
{
    const struct mqtt_broker *b = c->b;
    if (is_sys(topic, len))
        return false;
    if (!mqtt__reserved(b, topic, len))
        return true;
    return c->user_kind != MQTT_ID_DASHBOARD && /* the ACL's users are not dashboard users */
           mqtt_acl_user_grants(b->opt.acl, c->user, topic, len, MQTT_ACL_WRITE);
}

bool mqtt__reserved(const struct mqtt_broker *b, const char *topic, size_t len)
{
    if (map_get(&b->reserved, topic, len))
        return true;
    for (size_t i = 0; i < b->nreserved_filters; i++) {
        const char *f = b->reserved_filters[i];
        if (mqtt_topic_matches(f, strlen(f), topic, len))
            return true;
    }
    return false;
}

bool mqtt__auth_may_write(const struct mqtt_client *c, const char *topic, size_t len)
{
    return mqtt__auth_may_write_reserved(c, topic, len) && mqtt__acl_may_publish(c, topic, len);
}

bool mqtt__acl_may_publish(const struct mqtt_client *c, const char *topic, size_t len)
{
    const struct mqtt_acl *a = c->b->opt.acl;
    if (c->user_kind == MQTT_ID_DASHBOARD)
        return false;
    return !a || mqtt_acl_allows(a, c->user, client_id(c), topic, len, MQTT_ACL_WRITE);
}

bool mqtt__acl_may_subscribe(const struct mqtt_client *c, const char *filter, size_t len)
{
    const struct mqtt_acl *a = c->b->opt.acl;
    if (c->user_kind == MQTT_ID_DASHBOARD)
        return c->b->dashboard &&
               mqtt_acl_allows_filter(c->b->dashboard, NULL, NULL, filter, len, MQTT_ACL_READ);
    return !a || mqtt_acl_allows_filter(a, c->user, client_id(c), filter, len, MQTT_ACL_READ);
}

bool mqtt__acl_may_receive(const struct mqtt_session *s, const char *topic, size_t len)
{
    const struct mqtt_acl *a = s->b->opt.acl;
    if (s->user_kind == MQTT_ID_DASHBOARD)
        return s->b->dashboard &&
               mqtt_acl_allows(s->b->dashboard, NULL, NULL, topic, len, MQTT_ACL_READ);
    return !a || mqtt_acl_allows(a, s->user, s->id, topic, len, MQTT_ACL_READ);
}

/* ---- identities the host withdraws ---- */

static bool is_identity(uint8_t kind, const char *user, enum mqtt_id_kind want, const char *name)
{
    return user && kind == want && strcmp(user, name) == 0;
}

struct owned {
    enum mqtt_id_kind kind;
    const char *name;
    struct mqtt_session **v;
    size_t n, cap;
};

static void collect_owned(void *ud, const char *key, void *value)
{
    struct owned *o = ud;
    struct mqtt_session *s = value;
    (void)key;
    if (s->client || !is_identity(s->user_kind, s->user, o->kind, o->name))
        return;
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 8;
        o->v = xrealloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n++] = s;
}

unsigned mqtt_broker_drop_identity(struct mqtt_broker *b, enum mqtt_id_kind kind,
                                   const char *name, bool end_sessions)
{
    unsigned closed = 0;
    for (struct mqtt_client *c = b->clients; c; c = c->next) {
        if (c->closing || !is_identity(c->user_kind, c->user, kind, name))
            continue;
        if (c->will) { /* a withdrawn identity publishes nothing more */
            mqtt__message_unref(c->will);
            c->will = NULL;
        }
        if (end_sessions && c->s)
            c->s->expiry_s = 0; /* ends with its connection (mqtt__client_gone) */
        mqtt__client_close(c, 0x87, "Not authorized");
        closed++;
    }
    struct owned o = {.kind = kind, .name = name};
    if (end_sessions)
        map_foreach(&b->sessions, collect_owned, &o);
    for (size_t i = 0; i < o.n; i++)
        mqtt__session_free(o.v[i]);
    free(o.v);
    char esc[128];
    if (closed || o.n)
        log_info("mqtt: %s withdrawn: %u client(s) disconnected, %zu offline session(s) ended",
                 mqtt__auth_escape(name, strlen(name), esc, sizeof esc), closed, o.n);
    return closed;
}

/* ---- the host's settings ---- */

void mqtt_broker_set_login_hook(struct mqtt_broker *b, mqtt_login_hook hook, void *ud)
{
    b->login = hook;
    b->login_ud = ud;
}

void mqtt__reserved_free(struct mqtt_broker *b)
{
    mqtt_acl_free(b->dashboard);
    b->dashboard = NULL;
    map_free(&b->reserved);
    for (size_t i = 0; i < b->nreserved_filters; i++)
        free(b->reserved_filters[i]);
    free(b->reserved_filters);
    b->reserved_filters = NULL;
    b->nreserved_filters = 0;
}

void mqtt_broker_set_reserved(struct mqtt_broker *b, const char *const *names, size_t n)
{
    mqtt__reserved_free(b);
    b->reserved_filters = xcalloc(n + 1, sizeof *b->reserved_filters);
    struct buf rules = {0}; /* the dashboard's: "topic read NAME" each */
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            continue;
        if (strpbrk(names[i], "+#"))
            b->reserved_filters[b->nreserved_filters++] = xstrdup(names[i]);
        else
            map_put(&b->reserved, names[i], strlen(names[i]), (void *)1);
        if (mqtt_topic_valid_filter(names[i], strlen(names[i]), NULL) && !strchr(names[i], '\n'))
            buf_printf(&rules, "topic read %s\n", names[i]);
    }
    char err[256];
    if (mqtt_acl_parse(&b->dashboard, rules.data, rules.len, "(dashboard)", err, sizeof err) != 0)
        log_error("mqtt: the dashboard's topics: %s", err); /* none then: reads nothing */
    buf_free(&rules);
}
