/* broker.h: the embedded MQTT broker (3.1.1 and 5.0 on the same listeners).
 *
 * The broker owns its listeners, clients, sessions, subscriptions and
 * retained messages, all on the loop thread; persistence (persist.c) writes
 * copies of what changed from a thread of its own, which alone uses the
 * mqtt.db connection while the broker runs. Packets are decoded by codec.h
 * and routed through the subscription tree of topic.h. Sessions survive a
 * disconnect when the client asked for it (clean session off in 3.1.1, a
 * session expiry interval in 5.0) and queue QoS 1/2 messages meanwhile.
 *
 * In-process API: mqtt_broker_publish() routes a message from gasketd itself
 * (the rules) exactly as a client PUBLISH would, without a socket. */
#ifndef GASKET_MQTT_BROKER_H
#define GASKET_MQTT_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mqtt/topic.h"

struct mqtt_broker;
struct mqtt_passwd;

/* How a client proved who it is. */
enum mqtt_id_kind {
    MQTT_ID_ANONYMOUS, /* no credential */
    MQTT_ID_KEY,       /* user name and a key the host's login hook accepted */
    MQTT_ID_PASSWORD,  /* user name and password_file password */
    MQTT_ID_CERT,      /* TLS client certificate verified against tls_ca: its CN */
    MQTT_ID_DASHBOARD, /* a dashboard user, vouched for by the carrier (the WebSocket's
                          session cookie): reads the reserved topics, writes nothing */
};
struct mqtt_acl;
struct net_tls;

struct mqtt_broker_options {
    uint32_t max_packet_size;  /* whole packet, both directions (262144) */
    uint16_t max_inflight;     /* QoS 1/2 sent and unacknowledged, per client (20) */
    uint32_t max_queued;       /* messages waiting per session beyond those (1000) */
    uint32_t max_connections;  /* open client connections (10000) */
    uint32_t connect_timeout_ms; /* a connection must be accepted (CONNACK sent, its
                                    password checked) within (10000) */
    uint16_t auth_threads;     /* threads checking password_file passwords (2) */
    uint32_t auth_queue;       /* checks waiting for them; more are refused, server
                                  busy (256) */
    uint32_t auth_pending_bytes; /* bytes buffered from a client whose password is being
                                    checked; more close it (65536) */
    struct mqtt_topic_limits topic; /* names and filters (65535 bytes, 128 levels) */
    bool allow_anonymous;      /* clients without a user name (false) */
    const char *persist_path;  /* SQLite file of retained messages and persistent
                                  sessions; NULL: kept in memory only */
    uint32_t persist_interval_ms; /* save what changed this often, off the loop; 0:
                                     only at close (60000) */
    /* Bounded state; 0: no limit. */
    uint32_t max_session_expiry_s; /* caps 5.0 session expiry; 3.1.1 persistent
                                      sessions end after it (0: never) */
    uint32_t max_subscriptions;    /* per session; more: SUBACK 0x97 (3.1.1: 0x80) */
    uint32_t max_retained_per_identity; /* retained topics one identity holds
                                           (anonymous clients are one) */
    size_t max_retained_bytes;     /* topic + payload of all retained messages */
    /* Who may connect and what they may do (auth.h); NULL: no password file,
     * no ACL. Owned by the caller, alive as long as the broker. */
    const struct mqtt_passwd *passwd;
    const struct mqtt_acl *acl;
};

/* Counters, also published under $SYS/broker/. */
struct mqtt_broker_stats {
    uint64_t clients_connected; /* now */
    uint64_t sessions;          /* now, online or not */
    uint64_t msgs_received;     /* PUBLISH from clients and in-process */
    uint64_t msgs_sent;         /* PUBLISH to clients */
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t msgs_dropped;      /* queue full, slow client or too large for it */
    uint64_t retained;          /* now */
};

void mqtt_broker_options_default(struct mqtt_broker_options *o);

/* Creates the broker and loads what persist_path holds. Returns 0, or
 * GK_ESTORE (reason logged) when that file cannot be used. */
int mqtt_broker_new(struct mqtt_broker **out, uv_loop_t *loop,
                    const struct mqtt_broker_options *o);
/* Adds a listener (plain when tls is NULL); see net_listen() for addr. */
int mqtt_broker_listen(struct mqtt_broker *b, const char *addr, struct net_tls *tls);
/* The bound address of the n-th listener, or NULL. */
const char *mqtt_broker_addr(struct mqtt_broker *b, unsigned n);

/* Routes a message as if a client had published it (retained when retain is
 * set; an empty retained payload clears). topic must be a valid topic name.
 * Returns 0 or GK_EINVAL. */
int mqtt_broker_publish(struct mqtt_broker *b, const char *topic, size_t topic_len,
                        const void *payload, size_t len, int qos, bool retain);

const struct mqtt_broker_stats *mqtt_broker_get_stats(const struct mqtt_broker *b);

/* A client's PUBLISH whose acknowledgement the host has taken over. */
struct mqtt_inbound;

/* Who a client is: how it proved it, and its name (the user name, the
 * certificate CN; NULL when anonymous). */
struct mqtt_identity {
    enum mqtt_id_kind kind;
    const char *name;
};

/* What the host decides about a client's PUBLISH (mqtt_publish_hook). */
enum mqtt_hook_verdict {
    MQTT_HOOK_PASS,    /* not the host's topic: routed as usual, acknowledged by the broker */
    MQTT_HOOK_TAKEN,   /* routed as usual; the host acknowledges it later (mqtt_inbound_done) */
    MQTT_HOOK_REFUSED, /* not authorized: never routed nor stored; 5.0 PUBACK/PUBREC 0x87,
                          3.1.1 acknowledged and dropped (as Mosquitto does) */
};

/* Offered every PUBLISH a client sends, after the broker's own checks (the
 * ACL, reserved topics, $SYS) and BEFORE routing, with the client's identity
 * (valid during the call). On MQTT_HOOK_TAKEN the broker routes the message,
 * then sends PUBACK (QoS 1) or PUBREC (QoS 2) only when mqtt_inbound_done()
 * is called, e.g. after a store commit; `in` must then be passed to
 * mqtt_inbound_done() exactly once, whatever the qos. On the other verdicts
 * `in` is the broker's again. */
typedef enum mqtt_hook_verdict (*mqtt_publish_hook)(void *ud, struct mqtt_inbound *in,
                                                    const struct mqtt_identity *id,
                                                    const char *topic, size_t topic_len,
                                                    const void *payload, size_t len, int qos);
void mqtt_broker_set_publish_hook(struct mqtt_broker *b, mqtt_publish_hook hook, void *ud);
/* During the hook's call: the value of the first MQTT 5 user property of
 * the PUBLISH named `name` (not NUL-terminated), or false when it has none
 * (always for 3.1.1). */
bool mqtt_inbound_user_prop(const struct mqtt_inbound *in, const char *name, const char **value,
                            size_t *len);

/* Checks a CONNECT's user name and password against the host's credentials
 * (gasketd: a principal's name and key). Runs on the loop thread, so it
 * must be cheap (no PBKDF2). True: the client is user, kind MQTT_ID_KEY. */
typedef bool (*mqtt_login_hook)(void *ud, const char *user, size_t ulen, const char *pass,
                                size_t plen);
void mqtt_broker_set_login_hook(struct mqtt_broker *b, mqtt_login_hook hook, void *ud);

/* Topics only gasketd itself writes (the alert topics): a client PUBLISH,
 * retained or not, or a will there is refused unless the client's user has
 * a `topic write|readwrite` rule covering it in its own block of the ACL
 * file. names[0..n) are topic names or filters (with + or #: every topic
 * they match is reserved), copied; each call replaces the set.
 * mqtt_broker_publish() is not affected. */
void mqtt_broker_set_reserved(struct mqtt_broker *b, const char *const *names, size_t n);
/* What a dashboard client (MQTT_ID_DASHBOARD) may do: subscribe to filters
 * the reserved names cover (live_topic/#, an alert topic, or narrower) and
 * receive what matches them; nothing else is granted, the ACL file is not
 * consulted (it names MQTT users, not dashboard users), a PUBLISH is
 * refused (5.0 PUBACK/PUBREC 0x87, 3.1.1 acknowledged and dropped) and a
 * CONNECT with a will is refused (0x87, 3.1.1 code 5). */

/* Acknowledges the PUBLISH (5.0: with `reason`, e.g. 0x99 payload format
 * invalid) if its client is still connected, and frees in. A 3.1.1 client
 * cannot be told a reason: for a failure a resend may cure (0x80
 * unspecified error, e.g. the store commit failed; 0x83, 0x89 server busy,
 * 0x97 quota exceeded) its connection is closed without PUBACK/PUBREC, so
 * that it sends the PUBLISH again; for any other refusal (0x99, 0x87) the
 * PUBLISH is acknowledged and dropped, as a resend would be refused too. */
void mqtt_inbound_done(struct mqtt_inbound *in, uint8_t reason);

/* The host no longer knows identity (kind, name): a principal was removed
 * or its credential changed (SIGHUP). Its connected clients are closed now
 * (5.0: DISCONNECT 0x87 "Not authorized"), without publishing their wills;
 * with end_sessions its sessions end too (subscriptions, queued messages,
 * their rows in mqtt.db), else they wait for it as any session does.
 * Returns how many clients were closed. */
unsigned mqtt_broker_drop_identity(struct mqtt_broker *b, enum mqtt_id_kind kind,
                                   const char *name, bool end_sessions);

/* Back-pressure from the host (its store is behind): while on, a client
 * whose PUBLISH the hook takes is no longer read (its later packets wait
 * in the kernel, so TCP slows the sender down) and keep-alive does not
 * close it; every paused client is read again when it goes off. */
void mqtt_broker_set_backpressure(struct mqtt_broker *b, bool on);

/* Clients carried by something other than the broker's own listeners (MQTT
 * over WebSocket): the carrier gives a byte stream through these operations,
 * feeds what it receives to mqtt_client_input() and reports its end with
 * mqtt_client_closed(), after which the client is gone. */
struct mqtt_link_ops {
    int (*write)(void *link, const void *p, size_t n);
    void (*close)(void *link); /* finish writing, then close; closed() follows */
    size_t (*pending)(void *link); /* bytes written and not yet sent */
    const char *(*peer)(void *link);
    /* The verified client certificate's CN (the client's identity, as in
     * IoT Core), or NULL; the operation itself may be NULL. */
    const char *(*tls_cn)(void *link);
    /* Stop and restart reading the link (back-pressure); may be NULL. */
    void (*pause)(void *link);
    void (*resume)(void *link);
};

struct mqtt_client;

/* A new client on `link`; NULL (and the caller closes the link) when the
 * broker refuses more connections. */
struct mqtt_client *mqtt_broker_attach(struct mqtt_broker *b, const struct mqtt_link_ops *ops,
                                       void *link);
/* As mqtt_broker_attach, for a client the carrier has authenticated as the
 * dashboard user `user` (copied): its CONNECT is accepted as that user
 * (MQTT_ID_DASHBOARD) whatever user name and password it carries, or none. */
struct mqtt_client *mqtt_broker_attach_dashboard(struct mqtt_broker *b,
                                                 const struct mqtt_link_ops *ops, void *link,
                                                 const char *user);
void mqtt_client_input(struct mqtt_client *c, const void *p, size_t n);
void mqtt_client_closed(struct mqtt_client *c);

/* Closes the listeners; clients stay connected. */
void mqtt_broker_stop_accepting(struct mqtt_broker *b);
/* Disconnects every client (5.0: DISCONNECT "Server shutting down"), saves
 * the persistent state, and frees the broker once the last connection has
 * closed. */
void mqtt_broker_close(struct mqtt_broker *b);

#endif
