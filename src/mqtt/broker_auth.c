/* broker_auth.c: who a client is, and what it may do.
 *
 * Identity: a TLS client certificate verified against [mqtt] tls_ca gives
 * its CN (as IoT Core does); otherwise the CONNECT's user name, checked
 * against the password file when there is one. A PBKDF2 check costs tens
 * of milliseconds, so it runs on libuv's worker pool; the client's later
 * packets wait in its buffer until the answer is back. Without a user name
 * a client is anonymous, admitted only with allow_anonymous.
 *
 * The ACL (auth.h) is applied to PUBLISH (write), SUBSCRIBE (read, the
 * whole filter) and every delivery (read, the topic). */
#include "core/log.h"
#include "core/mem.h"
#include "mqtt/auth.h"
#include "mqtt/broker_int.h"

#include <stdlib.h>
#include <string.h>

struct auth_job {
    uv_work_t work;
    struct mqtt_client *c; /* NULL once the client is gone */
    const struct mqtt_passwd *passwd;
    char *user, *pass;
    size_t ulen, plen;
    uint8_t *packet; /* the CONNECT, to decode again when done */
    size_t packet_len;
    bool ok;
};

static void check_work(uv_work_t *w)
{
    struct auth_job *j = w->data;
    j->ok = mqtt_passwd_check(j->passwd, j->user, j->ulen, j->pass, j->plen);
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

static void check_done(uv_work_t *w, int status)
{
    struct auth_job *j = w->data;
    struct mqtt_client *c = j->c;
    if (c) {
        c->auth = NULL;
        struct mqtt_packet p;
        size_t used;
        int reason = 0x86; /* bad user name or password */
        if (status == 0 && j->ok &&
            mqtt_decode(j->packet, j->packet_len, 0, 0, &p, &used) == 0)
            reason = connect_accept(c, &p);
        else
            connect_refuse(c, 0x86);
        if (reason)
            client_close(c, (uint8_t)reason, mqtt_reason_text((uint8_t)reason));
        else
            client_process(c); /* what arrived meanwhile */
    }
    job_free(j);
}

static int start_check(struct mqtt_client *c, const struct mqtt_connect *k)
{
    struct auth_job *j = xcalloc(1, sizeof *j);
    j->work.data = j;
    j->c = c;
    j->passwd = c->b->opt.passwd;
    j->user = xstrndup(k->username.p, k->username.len);
    j->ulen = k->username.len;
    j->pass = xstrndup(k->password.p, k->password.len);
    j->plen = k->password.len;
    j->packet = xmalloc(c->raw_len);
    memcpy(j->packet, c->raw, c->raw_len);
    j->packet_len = c->raw_len;
    c->auth = j;
    uv_queue_work(c->b->loop, &j->work, check_work, check_done);
    return AUTH_PENDING;
}

int auth_connect(struct mqtt_client *c, const struct mqtt_packet *p)
{
    const struct mqtt_connect *k = &p->connect;
    const struct mqtt_broker_options *o = &c->b->opt;
    const char *cn = c->ops->tls_cn ? c->ops->tls_cn(c->link) : NULL;
    if (cn) { /* the certificate authenticated it */
        c->user = xstrdup(cn);
        return 0;
    }
    if (!k->has_username)
        return o->allow_anonymous ? 0 : 0x87; /* not authorized */
    c->user = xstrndup(k->username.p, k->username.len);
    if (o->passwd)
        return start_check(c, k);
    return o->allow_anonymous ? 0 : 0x86; /* no password file to check it against */
}

void auth_forget(struct mqtt_client *c)
{
    if (c->auth)
        c->auth->c = NULL; /* check_done() frees the job */
}

static const char *client_id(const struct mqtt_client *c)
{
    return c->s ? c->s->id : "";
}

bool acl_may_publish(const struct mqtt_client *c, const char *topic, size_t len)
{
    const struct mqtt_acl *a = c->b->opt.acl;
    return !a || mqtt_acl_allows(a, c->user, client_id(c), topic, len, MQTT_ACL_WRITE);
}

bool acl_may_subscribe(const struct mqtt_client *c, const char *filter, size_t len)
{
    const struct mqtt_acl *a = c->b->opt.acl;
    return !a || mqtt_acl_allows_filter(a, c->user, client_id(c), filter, len, MQTT_ACL_READ);
}

bool acl_may_receive(const struct mqtt_session *s, const char *topic, size_t len)
{
    const struct mqtt_acl *a = s->b->opt.acl;
    return !a || mqtt_acl_allows(a, s->user, s->id, topic, len, MQTT_ACL_READ);
}
