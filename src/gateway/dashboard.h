/* dashboard.h: the dashboard's login (docs/api.md, "Dashboard login"):
 * its users, its sessions and the endpoints that make and end them.
 *
 * Users: [http] dashboard_users (default data_dir/dashboard_users; a
 * missing file has no users), the password-file format of mqtt/auth.h with
 * a role field (USER:$7$...:admin|viewer, none: a viewer), written by
 * `gasket passwd -r`. Read at start (a bad line stops gasketd) and on
 * SIGHUP on libuv's thread pool (a bad file keeps the users in effect);
 * the sessions of users no longer in the file end then, the others take
 * their user's role.
 *
 * Endpoints, handled before the dashboard's file server:
 *   POST /_dashboard/login    {"user":U,"password":P} -> 200 session JSON and
 *                             the gasket_session cookie; {} -> user "local",
 *                             admin, when no login is required
 *   GET  /_dashboard/session  200 session JSON, or 200 {user:null, login_required}
 *   POST /_dashboard/logout   204, the session ended and the cookie cleared
 * The password is checked by PBKDF2 on libuv's thread pool (at most
 * DASHBOARD_CHECKS_MAX at once; more get 503), and failed attempts are
 * limited per address and user name (dash_limit.h: 429 with Retry-After).
 *
 * Login is required unless [http] dashboard_login = off, or = auto (the
 * default) and every HTTP listener is on loopback.
 *
 * A live session is a principal on the APIs (gateway_authorize, gateway_int.h):
 * it reads every index and every alarm, an admin's also acknowledges
 * alarms; it writes nothing. A request it authenticates with a method
 * other than GET or HEAD must carry the session's CSRF token in
 * X-Gasket-CSRF, and an Origin header, when it has one, must be the
 * server's own (dashboard_csrf_ok). Loop thread only. */
#ifndef GASKET_GATEWAY_DASHBOARD_H
#define GASKET_GATEWAY_DASHBOARD_H

#include "core/config.h"

#include <stddef.h>
#include <uv.h>

struct dashboard;
struct dash_session;
struct http_req;

#define DASHBOARD_COOKIE     "gasket_session"
#define DASHBOARD_CSRF_HEADER "X-Gasket-CSRF"
#define DASHBOARD_CHECKS_MAX 32 /* password checks running or queued */
#define DASHBOARD_LOCAL_USER "local"

struct dashboard *dashboard_new(void);
/* Takes [http] dashboard_login and dashboard_session and what the session
 * JSON's "config" tells the page (indexes, topics, time zone, rules,
 * offline_after) from cfg; at start and on SIGHUP. */
void dashboard_configure(struct dashboard *d, const struct config *cfg);
/* The session JSON's "config" member for cfg (malloc'ed JSON text, see
 * docs/api.md): {"indexes":[...],"live_topic":...,"alert_topics":[...],
 * "timezone":...,"rules":[...],"offline_after":SECONDS}. Pure but for the
 * system's zone name when [server] timezone is unset (dash_config.c). */
char *dashboard_config_json(const struct config *cfg);
/* Whether every HTTP listener is on loopback (from the bound addresses). */
void dashboard_set_loopback(struct dashboard *d, int all_loopback);
/* 1 when a session needs a user and password (see above). */
int dashboard_login_required(const struct dashboard *d);
/* The number of users in the users file in effect. */
size_t dashboard_user_count(const struct dashboard *d);
/* The users file of cfg: [http] dashboard_users or data_dir/dashboard_users
 * (malloc'ed). */
char *dashboard_users_path(const struct config *cfg);
/* Reads the users file at path now (at start, before the loop runs).
 * Returns 0 (a missing file: no users), or GK_ECONFIG / GK_EIO with
 * "PATH:LINE: reason" in err. */
int dashboard_load_users(struct dashboard *d, const char *path, char *err, size_t errlen);
/* Reads it again on libuv's thread pool (SIGHUP), then puts it in effect
 * on the loop and logs the outcome; a file that fails to load is logged
 * and the users stay. */
void dashboard_reload_users(struct dashboard *d, uv_loop_t *loop, const char *path);

/* Answers req and returns 1 when path is /_dashboard/login, /logout or
 * /session; else 0. */
int dashboard_handle(struct dashboard *d, struct http_req *req, const char *path);
/* The live session of req's gasket_session cookie, or NULL. */
struct dash_session *dashboard_session_of(struct dashboard *d, const struct http_req *req);
/* 1 when req may act for session s: its method is GET or HEAD, or it
 * carries s's CSRF token in X-Gasket-CSRF and no Origin other than the
 * server's own. */
int dashboard_csrf_ok(const struct dash_session *s, const struct http_req *req);
void dashboard_free(struct dashboard *d);

#endif
