/* dash_session.c: the dashboard's sessions (see dash_session.h): a map from
 * the hex SHA-256 of a token to its session, and a list of the sessions in
 * creation order for the bound and the sweep. */
#include "gateway/dash_session.h"
#include "core/map.h"
#include "core/mem.h"
#include "mqtt/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct dash_sessions {
    struct map by_key; /* hex SHA-256 of the token -> struct dash_session * */
    struct dash_session *head, *tail; /* oldest first */
    size_t max;
};

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* DASH_TOKEN_HEX hex digits of fresh random bytes; 0 or -1. */
static int random_token(char out[DASH_TOKEN_HEX + 1])
{
    unsigned char raw[DASH_TOKEN_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    hex(raw, sizeof raw, out);
    return 0;
}

static void key_of(const char *token, char key[DASH_TOKEN_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(token, DASH_TOKEN_HEX, md, &len, EVP_sha256(), NULL);
    hex(md, DASH_TOKEN_HEX / 2, key);
}

/* A viewer reads every index and alarm; an admin also acknowledges. */
static void set_role(struct dash_session *s, int role)
{
    s->role = role;
    s->principal = (struct principal){.name = s->user, .routes = "", .read_all = 1,
                                      .ack_all = role == MQTT_PASSWD_ADMIN};
}

struct dash_sessions *dash_sessions_new(size_t max)
{
    struct dash_sessions *t = xcalloc(1, sizeof *t);
    t->max = max ? max : 1;
    return t;
}

void dash_sessions_end(struct dash_sessions *t, struct dash_session *s)
{
    map_del(&t->by_key, s->key, DASH_TOKEN_HEX);
    *(s->prev ? &s->prev->next : &t->head) = s->next;
    *(s->next ? &s->next->prev : &t->tail) = s->prev;
    while (s->watches) {
        struct dash_watch *w = s->watches;
        dash_sessions_unwatch(w);
        w->end(w->ud);
    }
    free(s->user);
    free(s);
}

void dash_sessions_sweep(struct dash_sessions *t, uint64_t now_mono)
{
    while (t->head && t->head->expires_mono <= now_mono)
        dash_sessions_end(t, t->head);
}

struct dash_session *dash_sessions_create(struct dash_sessions *t, const char *user, int role,
                                          int64_t ttl_ms, uint64_t now_mono, int64_t now_ms,
                                          char token[DASH_TOKEN_HEX + 1])
{
    struct dash_session *s = xcalloc(1, sizeof *s);
    if (random_token(token) != 0 || random_token(s->csrf) != 0) {
        free(s);
        return NULL;
    }
    dash_sessions_sweep(t, now_mono);
    while (t->by_key.count >= t->max)
        dash_sessions_end(t, t->head);
    s->user = xstrdup(user);
    set_role(s, role);
    s->expires_ms = now_ms + ttl_ms;
    s->expires_mono = now_mono + (uint64_t)ttl_ms;
    key_of(token, s->key);
    map_put(&t->by_key, s->key, DASH_TOKEN_HEX, s);
    s->prev = t->tail;
    *(t->tail ? &t->tail->next : &t->head) = s;
    t->tail = s;
    return s;
}

struct dash_session *dash_sessions_find(struct dash_sessions *t, const char *token,
                                        uint64_t now_mono)
{
    char key[DASH_TOKEN_HEX + 1];
    if (!token || strlen(token) != DASH_TOKEN_HEX ||
        strspn(token, "0123456789abcdef") != DASH_TOKEN_HEX)
        return NULL;
    dash_sessions_sweep(t, now_mono);
    key_of(token, key);
    struct dash_session *s = map_get(&t->by_key, key, DASH_TOKEN_HEX);
    if (s && s->expires_mono <= now_mono) {
        dash_sessions_end(t, s);
        s = NULL;
    }
    return s;
}

void dash_sessions_update(struct dash_sessions *t, int (*role_of)(void *ud, const char *user),
                          void *ud)
{
    for (struct dash_session *s = t->head, *next; s; s = next) {
        next = s->next; /* a watch's end never ends another session */
        int role = role_of(ud, s->user);
        if (role < 0)
            dash_sessions_end(t, s);
        else
            set_role(s, role);
    }
}

size_t dash_sessions_count(const struct dash_sessions *t)
{
    return t->by_key.count;
}

void dash_sessions_watch(struct dash_session *s, struct dash_watch *w, void (*end)(void *ud),
                         void *ud)
{
    *w = (struct dash_watch){.s = s, .end = end, .ud = ud, .next = s->watches};
    if (s->watches)
        s->watches->prev = w;
    s->watches = w;
}

void dash_sessions_unwatch(struct dash_watch *w)
{
    if (!w->s)
        return;
    *(w->prev ? &w->prev->next : &w->s->watches) = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->s = NULL;
}

void dash_sessions_free(struct dash_sessions *t)
{
    if (!t)
        return;
    while (t->head)
        dash_sessions_end(t, t->head);
    map_free(&t->by_key);
    free(t);
}
