/* apikey.h: principals (gasketd's one notion of identity), their
 * credentials, scopes and token-bucket throttles.
 *
 * A principal is an [apikey NAME] section. Its credentials: `key` (the
 * x-api-key header over HTTP; over MQTT, user name NAME with the key as the
 * password), `mqtt_user` (a user of [mqtt] password_file) and `cert_cn` (the
 * CN of a TLS client certificate signed by [mqtt] tls_ca). Its scope:
 * `routes` it may post to (and whose MQTT telemetry topics it may publish
 * to; NULL: every route), `read` (indexes it may search; NULL: the indexes
 * of its routes) and `admin` (everything, including indexes no route
 * writes). Each principal has a bucket of `burst` tokens refilled at `rate`
 * per second; an HTTP request takes one. Reconfiguring (SIGHUP) keeps the
 * bucket of every principal whose name stays.
 *
 * The principal pointers returned below stay valid until the next
 * apikeys_configure(): use them within the current loop turn and copy what
 * outlives it. A dashboard session is a principal too (dash_session.h),
 * without a key or a bucket. */
#ifndef GASKET_GATEWAY_APIKEY_H
#define GASKET_GATEWAY_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct bucket {
    double tokens;
    int64_t last_ms;
};

/* Takes one token at time now_ms (starting full on first use). Returns 1
 * when taken; otherwise 0 and the seconds until one is available. */
int bucket_take(struct bucket *b, double rate, double burst, int64_t now_ms, double *wait_s);

enum apikey_verdict { APIKEY_OK, APIKEY_FORBIDDEN, APIKEY_THROTTLED };

struct principal {
    const char *name;
    const char *routes;    /* comma-separated route paths; NULL: every route */
    const char *read;      /* comma-separated indexes; NULL: its routes' indexes */
    const char *mqtt_user; /* NULL: none */
    const char *cert_cn;   /* NULL: none */
    const char *groups;    /* comma-separated groupids its readings may carry; NULL: any */
    int admin;
    /* A dashboard session's principal (dash_session.h) has routes "" (none)
     * and these instead: */
    int read_all; /* reads every index and sees every alarm */
    int ack_all;  /* acknowledges every alarm (a dashboard admin) */
};

/* How an MQTT client proved who it is. */
enum apikey_cred { APIKEY_CRED_KEY, APIKEY_CRED_MQTT_USER, APIKEY_CRED_CERT };

struct apikeys;

struct apikeys *apikeys_new(void);
/* Replaces the keys with cfg[0..n). */
void apikeys_configure(struct apikeys *k, const struct cfg_apikey *cfg, size_t n);
/* Judges a request carrying `key` (NULL when absent) for route `path`
 * (NULL: an endpoint open to every key, such as /alarms; its own scope
 * checks follow). On APIKEY_THROTTLED, *wait_s is the time until a token is
 * available; on APIKEY_OK, *who is the principal. */
enum apikey_verdict apikeys_check(struct apikeys *k, const char *key, const char *path,
                                  int64_t now_ms, double *wait_s, const struct principal **who);
/* The principal whose key is `key` (compared in constant time), or NULL. */
const struct principal *apikeys_find(struct apikeys *k, const char *key);
/* The principal an authenticated MQTT client is: for APIKEY_CRED_KEY the one
 * named `name`, for APIKEY_CRED_MQTT_USER the one whose mqtt_user is `name`,
 * for APIKEY_CRED_CERT the one whose cert_cn is `name`; or NULL. */
const struct principal *apikeys_for_mqtt(struct apikeys *k, enum apikey_cred cred,
                                         const char *name);
/* True when user[0..ulen) names a principal with a key and pass[0..plen)
 * is that key (constant time in the key; cheap enough for the loop). */
int apikeys_mqtt_login(struct apikeys *k, const char *user, size_t ulen, const char *pass,
                       size_t plen);
/* 1 when p may post to route path (admin, or listed in its routes). */
int principal_may_route(const struct principal *p, const char *path);
/* 1 when p may send readings of group groupid (admin, no `groups`, or
 * listed there). */
int principal_may_group(const struct principal *p, const char *groupid);
size_t apikeys_count(const struct apikeys *k);
void apikeys_free(struct apikeys *k);

#endif
