/* dashboard.c: the dashboard's login (see dashboard.h).
 *
 * Three parts: the users table, shared by reference count between the
 * dashboard and the password checks running on libuv's pool (a reload
 * swaps it while a check holds the old one); the endpoints; and what the
 * rest of the gateway asks of a request (its session, its CSRF token). */
#include "gateway/dashboard.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "gateway/dash_limit.h"
#include "gateway/dash_session.h"
#include "gateway/gateway_int.h"
#include "gateway/mqtt_ws.h"
#include "http/http.h"
#include "mqtt/auth.h"

#include <ctype.h>
#include <http_parser.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON "application/json"
#define NO_STORE "Cache-Control: no-store\r\n"
#define USER_MAX 256
#define PASS_MAX 1024

/* A users table; freed by the last of the dashboard and the checks. */
struct users {
    unsigned refs;
    struct mqtt_passwd *pw;
};

struct dashboard {
    struct users *users;
    struct dash_sessions *sessions;
    struct dash_limit *limit;
    int login;        /* enum cfg_login */
    int all_loopback; /* every HTTP listener */
    int64_t session_ms; /* [http] dashboard_session */
    char *config;     /* the session JSON's "config" */
    unsigned checks;  /* password checks queued or running */
    unsigned reload_gen, applied_gen; /* users file reloads started and put in effect */
};

static struct users *users_new(struct mqtt_passwd *pw)
{
    struct users *u = xcalloc(1, sizeof *u);
    u->refs = 1;
    u->pw = pw;
    return u;
}

static void users_unref(struct users *u)
{
    if (u && --u->refs == 0) {
        mqtt_passwd_free(u->pw);
        free(u);
    }
}

struct dashboard *dashboard_new(void)
{
    struct dashboard *d = xcalloc(1, sizeof *d);
    d->sessions = dash_sessions_new(DASH_SESSIONS_MAX);
    d->limit = dash_limit_new(DASH_LIMIT_MAX);
    d->session_ms = 12 * 3600 * 1000L;
    char err[64];
    struct mqtt_passwd *none;
    if (mqtt_passwd_parse(&none, "", 0, "(none)", err, sizeof err) != 0)
        abort(); /* an empty text always parses */
    d->users = users_new(none);
    return d;
}

void dashboard_configure(struct dashboard *d, const struct config *cfg)
{
    d->login = cfg->http.dashboard_login;
    d->session_ms = cfg->http.dashboard_session;
    free(d->config);
    d->config = dashboard_config_json(cfg);
}

void dashboard_set_loopback(struct dashboard *d, int all_loopback)
{
    d->all_loopback = all_loopback;
}

int dashboard_login_required(const struct dashboard *d)
{
    return d->login == CFG_LOGIN_ON || (d->login == CFG_LOGIN_AUTO && !d->all_loopback);
}

size_t dashboard_user_count(const struct dashboard *d)
{
    return d->users ? mqtt_passwd_count(d->users->pw) : 0;
}

void dashboard_free(struct dashboard *d)
{
    if (!d)
        return;
    dash_sessions_free(d->sessions);
    dash_limit_free(d->limit);
    users_unref(d->users);
    free(d->config);
    free(d);
}

/* ---- the users file ---- */

char *dashboard_users_path(const struct config *cfg)
{
    struct buf b = {0};
    if (cfg->http.dashboard_users)
        buf_puts(&b, cfg->http.dashboard_users);
    else
        buf_printf(&b, "%s/dashboard_users", cfg->server.data_dir);
    return buf_steal(&b);
}

/* Reads path into *out: a missing file is an empty table. */
static int read_users(const char *path, struct mqtt_passwd **out, char *err, size_t errlen)
{
    int rc = mqtt_passwd_load(out, path, err, errlen);
    if (rc == GK_ENOTFOUND)
        rc = mqtt_passwd_parse(out, "", 0, path, err, errlen);
    return rc;
}

static int role_in(void *ud, const char *user)
{
    return mqtt_passwd_role(ud, user, strlen(user));
}

/* Puts pw in effect: the sessions of users it lacks end. */
static void use_users(struct dashboard *d, struct mqtt_passwd *pw, const char *path)
{
    size_t before = dash_sessions_count(d->sessions);
    users_unref(d->users);
    d->users = users_new(pw);
    dash_sessions_update(d->sessions, role_in, pw);
    size_t ended = before - dash_sessions_count(d->sessions);
    log_info("dashboard: %zu user(s) in %s%s", mqtt_passwd_count(pw), path,
             ended ? "; the sessions of removed users ended" : "");
}

int dashboard_load_users(struct dashboard *d, const char *path, char *err, size_t errlen)
{
    struct mqtt_passwd *pw;
    int rc = read_users(path, &pw, err, errlen);
    if (rc == 0)
        use_users(d, pw, path);
    return rc;
}

struct reload {
    uv_work_t work;
    struct dashboard *d;
    char *path;
    unsigned gen;
    struct mqtt_passwd *pw;
    int rc;
    char err[600];
};

static void reload_work(uv_work_t *w)
{
    struct reload *r = w->data;
    r->rc = read_users(r->path, &r->pw, r->err, sizeof r->err);
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload *r = w->data;
    if (status != 0 || r->rc != 0)
        log_error("dashboard: users file not reloaded, the users stay: %s",
                  status ? uv_strerror(status) : r->err);
    else if (r->gen <= r->d->applied_gen)
        mqtt_passwd_free(r->pw); /* a later reload finished first */
    else {
        r->d->applied_gen = r->gen;
        use_users(r->d, r->pw, r->path);
    }
    free(r->path);
    free(r);
}

void dashboard_reload_users(struct dashboard *d, uv_loop_t *loop, const char *path)
{
    struct reload *r = xcalloc(1, sizeof *r);
    r->work.data = r;
    r->d = d;
    r->path = xstrdup(path);
    r->gen = ++d->reload_gen;
    if (uv_queue_work(loop, &r->work, reload_work, reload_done) != 0) {
        log_error("dashboard: users file not reloaded: no worker");
        free(r->path);
        free(r);
    }
}

/* ---- requests ---- */

/* The value of cookie `name` in a Cookie header into out ("" when absent
 * or too long). */
static void cookie_value(const char *header, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = n - nl - 1;
            while (vl && (p[nl + vl] == ' ' || p[nl + vl] == '\t'))
                vl--;
            if (vl < len)
                snprintf(out, len, "%.*s", (int)vl, p + nl + 1);
            return;
        }
        p += n;
    }
}

struct dash_session *dashboard_session_of(struct dashboard *d, const struct http_req *req)
{
    char token[DASH_TOKEN_HEX + 2];
    cookie_value(http_req_header(req, "cookie"), DASHBOARD_COOKIE, token, sizeof token);
    return token[0] ? dash_sessions_find(d->sessions, token, clock_mono_ms()) : NULL;
}

/* No Origin, or the server's own. */
static int own_origin(const struct http_req *req)
{
    const char *origin = http_req_header(req, "origin");
    return !origin ||
           mqtt_ws_same_origin(origin, http_req_header(req, "host"), http_req_is_tls(req));
}

int dashboard_csrf_ok(const struct dash_session *s, const struct http_req *req)
{
    int m = http_req_method(req);
    if (m == HTTP_GET || m == HTTP_HEAD)
        return 1;
    const char *t = http_req_header(req, DASHBOARD_CSRF_HEADER);
    return t && strlen(t) == DASH_TOKEN_HEX && CRYPTO_memcmp(t, s->csrf, DASH_TOKEN_HEX) == 0 &&
           own_origin(req);
}

static void reply_login_required(struct dashboard *d, struct http_req *req, const char *headers)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"message\":\"Login required\",\"login_required\":%s}",
                     dashboard_login_required(d) ? "true" : "false");
    struct buf h = {0};
    buf_printf(&h, NO_STORE "%s", headers ? headers : "");
    http_respond(req, 401, h.data, JSON, body, (size_t)n);
    buf_free(&h);
}

/* GET /_dashboard/session without a live session: 200, not 401, so that a
 * page's first question is not logged as a failed request by the browser. */
static void reply_no_session(struct dashboard *d, struct http_req *req)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"user\":null,\"login_required\":%s}",
                     dashboard_login_required(d) ? "true" : "false");
    http_respond(req, 200, NO_STORE, JSON, body, (size_t)n);
}

/* "Set-Cookie: ..." for token (NULL: clearing it). */
static void set_cookie(struct buf *h, const struct http_req *req, const char *token, long max_age)
{
    buf_printf(h, "Set-Cookie: " DASHBOARD_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; "
                  "Max-Age=%ld%s\r\n",
               token ? token : "", max_age, http_req_is_tls(req) ? "; Secure" : "");
}

static void reply_session(struct dashboard *d, struct http_req *req, const struct dash_session *s,
                          const char *token)
{
    char expires[64], err[64];
    if (dt_format(s->expires_ms, tz_utc(), NULL, expires, sizeof expires, err, sizeof err) < 0)
        snprintf(expires, sizeof expires, "%s", "");
    struct buf b = {0}, h = {0};
    buf_puts(&b, "{\"user\":");
    buf_json_str(&b, s->user, strlen(s->user));
    buf_printf(&b, ",\"role\":\"%s\",\"csrf\":\"%s\",\"expires\":\"%s\",\"login_required\":%s,"
                   "\"config\":%s}",
               s->role == MQTT_PASSWD_ADMIN ? "admin" : "viewer", s->csrf, expires,
               dashboard_login_required(d) ? "true" : "false", d->config ? d->config : "{}");
    buf_puts(&h, NO_STORE);
    if (token)
        set_cookie(&h, req, token, (long)((d->session_ms + 999) / 1000));
    http_respond(req, 200, h.data, JSON, b.data, b.len);
    buf_free(&b);
    buf_free(&h);
}

/* A new session of user with role, answered with its cookie. */
static void open_session(struct dashboard *d, struct http_req *req, const char *user, int role)
{
    char token[DASH_TOKEN_HEX + 1];
    struct dash_session *s = dash_sessions_create(d->sessions, user, role, d->session_ms,
                                                  clock_mono_ms(), clock_now_ms(), token);
    if (!s)
        return gateway_reply_message(req, 500, NULL, "No random bytes for a session");
    log_info("dashboard: %s logged in as %s (%s)", http_req_peer(req), user,
             role == MQTT_PASSWD_ADMIN ? "admin" : "viewer");
    reply_session(d, req, s, token);
    OPENSSL_cleanse(token, sizeof token);
}

/* ---- POST /_dashboard/login ---- */

struct check {
    uv_work_t work;
    struct dashboard *d;
    struct http_req *req;
    struct users *users; /* a reference */
    char *user, *pass;
    size_t plen;
    char addr[64];
    int ok;
};

static void check_work(uv_work_t *w)
{
    struct check *c = w->data;
    c->ok = mqtt_passwd_check(c->users->pw, c->user, strlen(c->user), c->pass, c->plen);
}

static void check_done(uv_work_t *w, int status)
{
    struct check *c = w->data;
    struct dashboard *d = c->d;
    d->checks--;
    /* the users in effect now: one removed meanwhile does not log in */
    int role = mqtt_passwd_role(d->users->pw, c->user, strlen(c->user));
    if (status != 0) {
        gateway_reply_message(c->req, 503, "Retry-After: 1\r\n", "Login unavailable");
    } else if (c->ok && role >= 0) {
        dash_limit_refund(d->limit, c->addr, c->user);
        open_session(d, c->req, c->user, role);
    } else {
        log_info("dashboard: failed login from %s as %s", http_req_peer(c->req), c->user);
        gateway_reply_message(c->req, 401, NO_STORE, "Wrong user or password");
    }
    OPENSSL_cleanse(c->pass, c->plen);
    users_unref(c->users);
    free(c->user);
    free(c->pass);
    free(c);
}

/* The client's address without its port ("[::1]", "127.0.0.1"). */
static void peer_addr(const struct http_req *req, char *out, size_t len)
{
    const char *peer = http_req_peer(req);
    const char *colon = strrchr(peer, ':');
    size_t n = colon && colon != peer ? (size_t)(colon - peer) : strlen(peer);
    snprintf(out, len, "%.*s", (int)n, peer);
}

static void reply_throttled(struct http_req *req, double wait_s)
{
    char hdr[64], msg[128];
    int secs = (int)ceil(wait_s < 1 ? 1 : wait_s);
    snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", secs);
    snprintf(msg, sizeof msg, "Too many failed logins: try again in %d s", secs);
    gateway_reply_message(req, 429, hdr, msg);
}

/* Starts the password check of user and pass (a JSON string's bytes). */
static void start_check(struct dashboard *d, struct http_req *req, const char *user,
                        const char *pass, size_t plen)
{
    char addr[64];
    double wait_s = 0;
    peer_addr(req, addr, sizeof addr);
    if (!dash_limit_take(d->limit, addr, user, (int64_t)clock_mono_ms(), &wait_s))
        return reply_throttled(req, wait_s);
    if (d->checks >= DASHBOARD_CHECKS_MAX) {
        dash_limit_refund(d->limit, addr, user);
        return gateway_reply_message(req, 503, "Retry-After: 1\r\n", "Busy: try again");
    }
    struct check *c = xcalloc(1, sizeof *c);
    c->work.data = c;
    c->d = d;
    c->req = req;
    c->users = d->users;
    c->users->refs++;
    c->user = xstrdup(user);
    c->pass = xmalloc(plen + 1);
    memcpy(c->pass, pass, plen);
    c->plen = plen;
    memcpy(c->addr, addr, sizeof addr);
    d->checks++;
    if (uv_queue_work(http_req_loop(req), &c->work, check_work, check_done) != 0)
        check_done(&c->work, UV_ECANCELED);
}

/* A JSON string member's bytes (never a NUL: jansson refuses \u0000), or
 * NULL when absent; *bad when present but not a string, or too long. */
static const char *member(json_t *o, const char *name, size_t max, size_t *len, int *bad)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return NULL;
    *len = json_string_length(v);
    if (!json_is_string(v) || *len > max)
        *bad = 1;
    return *bad ? NULL : json_string_value(v);
}

static void login(struct dashboard *d, struct http_req *req)
{
    size_t len, ulen = 0, plen = 0;
    const char *body = http_req_body(req, &len);
    if (!own_origin(req))
        return gateway_reply_message(req, 403, NULL, "Forbidden: a login from another origin");
    json_t *o = json_loadb(body ? body : "", len, 0, NULL);
    int bad = !json_is_object(o);
    const char *user = bad ? NULL : member(o, "user", USER_MAX, &ulen, &bad);
    const char *pass = bad ? NULL : member(o, "password", PASS_MAX, &plen, &bad);
    if (bad || (!user) != (!pass) || (user && ulen == 0))
        gateway_reply_message(req, 400, NULL,
                              "Expected {\"user\":\"...\",\"password\":\"...\"} (a user of at "
                              "most 256 bytes, a password of at most 1024)");
    else if (user)
        start_check(d, req, user, pass, plen);
    else if (dashboard_login_required(d))
        reply_login_required(d, req, NULL);
    else
        open_session(d, req, DASHBOARD_LOCAL_USER, MQTT_PASSWD_ADMIN);
    json_decref(o);
}

/* ---- GET /_dashboard/session, POST /_dashboard/logout ---- */

static void logout(struct dashboard *d, struct http_req *req)
{
    struct dash_session *s = dashboard_session_of(d, req);
    if (s && !dashboard_csrf_ok(s, req))
        return gateway_reply_message(req, 403, NULL, "CSRF token missing or wrong");
    if (s)
        dash_sessions_end(d->sessions, s);
    struct buf h = {0};
    buf_puts(&h, NO_STORE);
    set_cookie(&h, req, NULL, 0);
    http_respond(req, 204, h.data, NULL, NULL, 0);
    buf_free(&h);
}

int dashboard_handle(struct dashboard *d, struct http_req *req, const char *path)
{
    static const char prefix[] = "/_dashboard/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *what = path + sizeof prefix - 1;
    int m = http_req_method(req), get = m == HTTP_GET || m == HTTP_HEAD;
    struct dash_session *s;
    if (strcmp(what, "session") == 0 && get) {
        if ((s = dashboard_session_of(d, req)))
            reply_session(d, req, s, NULL);
        else
            reply_no_session(d, req);
    } else if (strcmp(what, "login") == 0 && m == HTTP_POST) {
        login(d, req);
    } else if (strcmp(what, "logout") == 0 && m == HTTP_POST) {
        logout(d, req);
    } else if (strcmp(what, "session") == 0 || strcmp(what, "login") == 0 ||
               strcmp(what, "logout") == 0) {
        gateway_reply_message(req, 405, what[0] == 's' ? "Allow: GET, HEAD\r\n" : "Allow: POST\r\n",
                              "Method Not Allowed");
    } else {
        return 0;
    }
    return 1;
}
