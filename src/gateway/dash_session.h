/* dash_session.h: the dashboard's login sessions, held in memory only (a
 * restart ends them all).
 *
 * A session is named by a token of 32 random bytes (OpenSSL RAND_bytes),
 * given to the browser as 64 hex digits in the gasket_session cookie; the
 * table keys a session by the SHA-256 of the token, never the token
 * itself. Each session has a CSRF token of its own (32 other random bytes)
 * and an absolute lifetime fixed at its creation. The table holds at most
 * `max` sessions: a new one beyond that ends the oldest. Expired sessions
 * are ended when met, and swept (oldest first) whenever one is made or
 * looked up.
 *
 * Something that lives as long as a session (a WebSocket opened with its
 * cookie) registers a watch: when the session ends, for whatever reason,
 * the watch is detached and its `end` callback runs.
 *
 * Times are passed in (monotonic ms for lifetimes, wall-clock ms for the
 * expiry shown), so the table is pure and testable. Loop thread only. */
#ifndef GASKET_GATEWAY_DASH_SESSION_H
#define GASKET_GATEWAY_DASH_SESSION_H

#include "gateway/apikey.h"

#include <stddef.h>
#include <stdint.h>

#define DASH_TOKEN_HEX 64 /* hex digits of a session or CSRF token */
#define DASH_SESSIONS_MAX 10000

struct dash_session;

/* Something bound to a session's life; owned by whoever registers it. */
struct dash_watch {
    struct dash_watch *prev, *next;
    struct dash_session *s; /* NULL once detached */
    void (*end)(void *ud);
    void *ud;
};

struct dash_session {
    char *user;
    int role;                          /* enum mqtt_passwd_role */
    char csrf[DASH_TOKEN_HEX + 1];
    int64_t expires_ms;                /* wall clock: when it ends */
    uint64_t expires_mono;             /* the same, monotonic */
    struct principal principal;        /* what it may do on the APIs (see dashboard.h) */
    /* the table's */
    char key[DASH_TOKEN_HEX + 1];      /* hex SHA-256 of the token */
    struct dash_session *prev, *next;  /* in creation order */
    struct dash_watch *watches;
};

struct dash_sessions;

struct dash_sessions *dash_sessions_new(size_t max);
/* A new session of user with role, living ttl_ms from now (now_mono
 * monotonic, now_ms wall clock); its token (DASH_TOKEN_HEX hex digits and
 * a NUL) is written to token. The oldest session ends first when the table
 * is full. Returns NULL when no random bytes could be had. */
struct dash_session *dash_sessions_create(struct dash_sessions *t, const char *user, int role,
                                          int64_t ttl_ms, uint64_t now_mono, int64_t now_ms,
                                          char token[DASH_TOKEN_HEX + 1]);
/* The live session of token (a cookie's value; NULL or malformed: none),
 * or NULL. Expired sessions are ended first. */
struct dash_session *dash_sessions_find(struct dash_sessions *t, const char *token,
                                        uint64_t now_mono);
/* Ends s: its watches are detached and told, then it is freed. */
void dash_sessions_end(struct dash_sessions *t, struct dash_session *s);
/* Ends the sessions whose user role_of() does not know (a negative
 * result) and gives the others the role it returns (their principal
 * follows). */
void dash_sessions_update(struct dash_sessions *t, int (*role_of)(void *ud, const char *user),
                          void *ud);
/* Ends the expired sessions at the head of the table (the oldest). */
void dash_sessions_sweep(struct dash_sessions *t, uint64_t now_mono);
size_t dash_sessions_count(const struct dash_sessions *t);
/* Binds w to s: w->end(ud) runs when s ends (w is detached first). */
void dash_sessions_watch(struct dash_session *s, struct dash_watch *w, void (*end)(void *ud),
                         void *ud);
/* Unbinds w (nothing when detached already). */
void dash_sessions_unwatch(struct dash_watch *w);
/* Ends every session (their watches are told) and frees the table. */
void dash_sessions_free(struct dash_sessions *t);

#endif
