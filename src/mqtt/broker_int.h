/* broker_int.h: the broker's internal structures, shared by its files:
 *
 *   broker.c          lifecycle, listeners, connections, the read loop, timers
 *   broker_msg.c      messages (refcounted) and routing to subscribers
 *   broker_session.c  sessions: deliveries, in-flight window, queue, expiry
 *   broker_send.c     packets the broker sends
 *   handle_connect.c  CONNECT and the end of a connection (will, takeover)
 *   handle_publish.c  PUBLISH and its acknowledgements, both directions
 *   handle_subscribe.c SUBSCRIBE and UNSUBSCRIBE
 *
 * Ownership: a client owns its connection; a session outlives its clients
 * and is owned by the broker's session map; a message is shared by the
 * deliveries and the retained store that reference it. */
#ifndef GASKET_MQTT_BROKER_INT_H
#define GASKET_MQTT_BROKER_INT_H

#include "core/buf.h"
#include "core/map.h"
#include "mqtt/broker.h"
#include "mqtt/codec.h"

struct net_listener;

/* A published message, shared by everything that will send it. */
struct mqtt_message {
    unsigned refs;
    uint8_t qos;       /* as published */
    bool retain;       /* as published */
    uint64_t expiry_at; /* loop ms when it expires; 0: never */
    size_t topic_len;
    size_t payload_len;
    char *topic;       /* NUL-terminated; in data */
    uint8_t *payload;  /* in data */
    struct mqtt_props props; /* the 5.0 properties forwarded; views into data */
    char *owner;       /* who published it, "<enum mqtt_id_kind>:<user>" ("0:"
                          anonymous: one identity); NULL: gasketd itself (no
                          retained limits) */
    uint8_t data[];
};

enum delivery_state {
    D_QUEUED,       /* not sent yet */
    D_WAIT_PUBACK,  /* QoS 1 sent */
    D_WAIT_PUBREC,  /* QoS 2 sent */
    D_WAIT_PUBCOMP, /* QoS 2: PUBREC received, PUBREL sent; msg released */
};

/* One message on its way to one session. */
struct delivery {
    struct delivery *next;
    struct mqtt_message *msg; /* NULL once in D_WAIT_PUBCOMP */
    uint32_t sub_id;
    uint16_t pid;
    uint8_t qos;
    uint8_t state; /* enum delivery_state */
    bool retain;   /* the RETAIN flag to send */
};

struct mqtt_client;

/* A subscription as the session holds it (the tree holds it too), so that
 * persistent sessions can be saved. */
struct sub_rec {
    char *filter;
    char *group; /* NULL: not shared */
    struct mqtt_topic_opts o;
};

struct mqtt_session {
    struct mqtt_broker *b;
    char *id;
    struct mqtt_client *client; /* NULL while offline */
    uint32_t expiry_s;          /* UINT32_MAX: never */
    uint64_t expire_at;         /* loop ms, while offline; 0 otherwise */
    struct delivery *head, *tail; /* in-flight ones first, in send order */
    unsigned inflight, queued;
    uint16_t next_pid;
    uint16_t *qos2_in;          /* inbound QoS 2 ids waiting for PUBREL */
    size_t nqos2_in, qos2_cap;
    struct sub_rec *subs;
    size_t nsubs, subs_cap;
    char *user; /* its client's identity, for the ACL; NULL: anonymous */
    uint8_t user_kind; /* enum mqtt_id_kind of user: the session's owner */
    bool persisted;    /* mqtt.db holds it (as of the last batch handed over) */
};

/* An acknowledgement the host owes (mqtt_publish_hook). */
struct mqtt_inbound {
    struct mqtt_client *c; /* NULL once the client is gone */
    struct mqtt_inbound *prev, *next; /* the client's list */
    const struct mqtt_props *props;   /* the PUBLISH's, during the hook's call only */
    uint16_t pid;
    uint8_t qos;
};

struct mqtt_client {
    struct mqtt_broker *b;
    const struct mqtt_link_ops *ops; /* the connection: TCP, TLS or WebSocket */
    void *link;
    struct mqtt_session *s;      /* NULL before CONNECT and after takeover */
    struct mqtt_client *prev, *next;
    struct buf in;               /* received bytes not yet decoded */
    int version;                 /* 0 until CONNECT */
    uint16_t keep_alive;         /* seconds; 0: none */
    uint64_t last_rx;            /* loop ms */
    uint64_t connected_at;       /* loop ms of accept */
    uint16_t recv_max;           /* the client's Receive Maximum */
    uint32_t max_packet_out;     /* the client's Maximum Packet Size; 0: protocol max */
    uint16_t alias_max;          /* topic aliases we accept from it */
    char **aliases;              /* alias -> topic, [1..alias_max] */
    struct mqtt_message *will;
    uint32_t will_delay_s;
    char *user;                  /* identity: user name or certificate CN; NULL: anonymous */
    uint8_t user_kind;           /* enum mqtt_id_kind: how user proved it */
    char *vouched;               /* a dashboard user the carrier vouches for, or NULL */
    struct auth_job *auth;       /* a password check running off the loop */
    struct mqtt_inbound *owed;   /* acknowledgements the host will send */
    const uint8_t *raw;          /* the packet being handled, as received */
    size_t raw_len;
    bool connected;              /* CONNACK 0 sent */
    bool paused;                 /* not read: the host's store is behind */
    bool closing;
};

/* A will waiting for its delay (5.0) before it is published. */
struct pending_will {
    struct pending_will *next;
    struct mqtt_message *msg;
    char *session_id;
    uint64_t at; /* loop ms */
};

struct mqtt_broker {
    uv_loop_t *loop;
    struct mqtt_broker_options opt;
    struct mqtt_broker_stats stats;
    struct net_listener **ls;
    unsigned nls;
    struct mqtt_client *clients;  /* every open connection */
    unsigned nclients;
    struct map sessions;          /* client id -> struct mqtt_session */
    struct mqtt_topic_tree *subs; /* subscribers are sessions */
    struct mqtt_retain *retained; /* messages are struct mqtt_message */
    struct pending_will *wills;
    uv_timer_t tick;              /* keep-alive, connect timeout, expiry */
    uint64_t next_client_no;      /* for assigned client identifiers */
    struct buf scratch, ids;      /* encoding space for outgoing packets */
    mqtt_publish_hook hook;       /* offered every client PUBLISH */
    void *hook_ud;
    mqtt_login_hook login;        /* user name + key, before the password file */
    void *login_ud;
    struct map reserved;          /* topic name -> (void *)1: written by gasketd alone */
    char **reserved_filters;      /* ... and the topics these filters match (live/#) */
    size_t nreserved_filters;
    struct mqtt_acl *dashboard;   /* what MQTT_ID_DASHBOARD clients may read: the reserved
                                     names, as the anonymous block's read rules */
    struct auth_pool *auth;       /* password checks off the loop; NULL until the first */
    unsigned open_handles;        /* tick (and the pool's async): freed at 0 */
    struct mqtt_persist *persist; /* NULL: nothing survives a restart */
    size_t retained_bytes;        /* topic + payload of every retained message but $SYS */
    struct map retained_owners;   /* owner -> (uintptr_t) retained topics it holds */
    uint64_t retain_warned;       /* loop ms of the last "not retained" log line */
    bool backpressure;            /* mqtt_broker_set_backpressure() */
    uint64_t next_save;           /* loop ms */
    uint64_t next_sys, started;   /* loop ms */
    bool closing;
};

/* broker.c */
/* Sends bytes to a client (counted). */
void mqtt__client_write(struct mqtt_client *c, const void *p, size_t n);
/* Ends a connection after what is queued; 5.0 clients get a DISCONNECT with
 * `reason` first when reason is not 0 and the protocol allows it. */
void mqtt__client_close(struct mqtt_client *c, uint8_t reason, const char *why);
/* Stops reading a client (back-pressure) until mqtt_broker_set_backpressure
 * turns it off. */
void mqtt__client_pause(struct mqtt_client *c);

/* broker_msg.c */
/* A message from a PUBLISH (topic resolved), copying what it forwards. */
struct mqtt_message *mqtt__message_new(struct mqtt_broker *b, const char *topic, size_t topic_len,
                                 const void *payload, size_t len, uint8_t qos, bool retain,
                                 const struct mqtt_props *props);
void mqtt__message_ref(struct mqtt_message *m);
void mqtt__message_unref(struct mqtt_message *m);
bool mqtt__message_expired(const struct mqtt_broker *b, const struct mqtt_message *m);
/* Routes m to every matching subscription and updates the retained store;
 * `from` (NULL in-process) is the publisher, for No Local. */
void mqtt__broker_route(struct mqtt_broker *b, struct mqtt_message *m, struct mqtt_session *from);

/* Sets m's owner (copied) from the identity kind and user of a client. */
void mqtt__message_set_owner(struct mqtt_message *m, uint8_t kind, const char *user);
/* Puts a retained message loaded from disk in the store (accounted, not
 * checked against the limits). */
void mqtt__broker_retain_restore(struct mqtt_broker *b, struct mqtt_message *m);
/* Forgets the accounting of retained messages (the broker is freed). */
void mqtt__broker_retain_free(struct mqtt_broker *b);

/* Publishes a retained QoS 0 $SYS message, not counted as received and not
 * saved. */
void mqtt__broker_sys_publish(struct mqtt_broker *b, const char *topic, const char *value);

/* broker_session.c */
struct mqtt_session *mqtt__session_new(struct mqtt_broker *b, const char *id, size_t len);
/* Ends a session: subscriptions, deliveries and the map entry. */
void mqtt__session_free(struct mqtt_session *s);
/* Sets the session expiry (seconds, UINT32_MAX: never) a client asked for,
 * capped to max_session_expiry; returns the value in effect. */
uint32_t mqtt__session_set_expiry(struct mqtt_session *s, uint32_t expiry_s);
/* False when f would be a new subscription beyond max_subscriptions. */
bool mqtt__session_may_subscribe(const struct mqtt_session *s, const struct mqtt_topic_filter *f);
/* Queues m for s at qos with the given RETAIN flag and subscription id. */
void mqtt__session_deliver(struct mqtt_session *s, struct mqtt_message *m, uint8_t qos, bool retain,
                     uint32_t sub_id);
/* Sends what the window allows (after an ack, on reconnect). */
void mqtt__session_pump(struct mqtt_session *s);
/* On reconnect: resends the in-flight deliveries (DUP), then pumps. */
void mqtt__session_resume(struct mqtt_session *s);
/* An acknowledgement from the client for an outgoing QoS 1/2 message. */
void mqtt__session_ack(struct mqtt_session *s, uint8_t type, uint16_t pid, uint8_t code);
/* Appends a delivery loaded from disk (m NULL for D_WAIT_PUBCOMP). */
void mqtt__session_restore(struct mqtt_session *s, struct mqtt_message *m, uint8_t qos, bool retain,
                     uint32_t sub_id, uint8_t state, uint16_t pid);
/* Adds or replaces a subscription in the tree and the session's records;
 * returns 1 when it replaced one, 0 when new. */
int mqtt__session_subscribe(struct mqtt_session *s, const struct mqtt_topic_filter *f,
                      const struct mqtt_topic_opts *o);
/* Returns 1 when the subscription existed. */
int mqtt__session_unsubscribe(struct mqtt_session *s, const struct mqtt_topic_filter *f);
/* Inbound QoS 2 ids: remember, test, forget. */
bool mqtt__session_qos2_has(const struct mqtt_session *s, uint16_t pid);
void mqtt__session_qos2_add(struct mqtt_session *s, uint16_t pid);
bool mqtt__session_qos2_del(struct mqtt_session *s, uint16_t pid);

/* broker_send.c */
/* Encodes p for the client's version and writes it. */
void mqtt__send_packet(struct mqtt_client *c, const struct mqtt_packet *p);
void mqtt__send_connack(struct mqtt_client *c, bool present, uint8_t code, const struct mqtt_props *p);
void mqtt__send_ack(struct mqtt_client *c, uint8_t type, uint16_t pid, uint8_t code);
/* Returns false when the message was dropped: the receiving session's
 * identity may not read its topic (the ACL, checked at every send), or it
 * is too large for the client. */
bool mqtt__send_publish(struct mqtt_client *c, const struct delivery *d, bool dup);
void mqtt__send_disconnect(struct mqtt_client *c, uint8_t reason, const char *why);

/* persist.c: retained messages and persistent sessions in SQLite, loaded
 * at start (loop thread) and saved by a thread of their own: what changed,
 * every persist_interval, and at close. */
struct mqtt_persist;
/* Opens (creating or upgrading) the file. Loop thread. */
int mqtt__persist_open(struct mqtt_persist **out, const char *path);
/* Loads everything into b. Loop thread, before mqtt__persist_start(). */
int mqtt__persist_load(struct mqtt_persist *p, struct mqtt_broker *b);
/* Starts the writer thread; from now on only it touches the database. */
void mqtt__persist_start(struct mqtt_persist *p);
/* Hands what changed to the writer unless it is still writing the last
 * batch; returns false then (try again later). Never blocks. */
bool mqtt__persist_tick(struct mqtt_persist *p, struct mqtt_broker *b);
/* Writes what changed (blocking), stops the writer and closes; p may be
 * NULL. */
void mqtt__persist_close(struct mqtt_persist *p, struct mqtt_broker *b);
/* Marks a retained topic ($SYS/ ones are never saved) or a session as
 * changed; nothing without persistence. */
void mqtt__persist_mark_retained(struct mqtt_broker *b, const char *topic, size_t len);
void mqtt__persist_mark_session(struct mqtt_session *s);

/* broker_auth.c */
#define AUTH_PENDING (-1)
/* Establishes who the client is (certificate CN, or user name and password
 * against the password file). Returns 0 to go on, AUTH_PENDING when a
 * password check runs on the worker pool (mqtt__connect_accept() follows), or the
 * reason code refusing the CONNECT. */
int mqtt__auth_connect(struct mqtt_client *c, const struct mqtt_packet *p);
/* The client is gone: a queued check is skipped, a running one forgotten. */
void mqtt__auth_forget(struct mqtt_client *c);
/* Stops the pool's threads (waiting for a running check), frees the jobs
 * left and closes its handle (counted in open_handles; `closed` runs once
 * it is closed, and broker_free frees the pool's memory). Returns false
 * when there is no pool. Every client must be gone. */
bool mqtt__auth_pool_close(struct mqtt_broker *b, uv_close_cb closed);
/* True when topic is neither $SYS/ nor a reserved topic the client's user
 * is not explicitly granted (mqtt_acl_user_grants). */
bool mqtt__auth_may_write_reserved(const struct mqtt_client *c, const char *topic, size_t len);
/* True when topic is one of the host's reserved names or matches one of its
 * reserved filters (mqtt_broker_set_reserved). */
bool mqtt__reserved(const struct mqtt_broker *b, const char *topic, size_t len);
/* Forgets the reserved names and filters. */
void mqtt__reserved_free(struct mqtt_broker *b);
/* True when the client may write topic (a PUBLISH or its will): not $SYS/,
 * not a reserved topic unless its user's own ACL block grants it, and the
 * ACL allows it. */
bool mqtt__auth_may_write(const struct mqtt_client *c, const char *topic, size_t len);
/* The client's identity for the publish hook. */
struct mqtt_identity mqtt__auth_identity(const struct mqtt_client *c);
/* A client value for a log line, cut at cap bytes of output, its control
 * characters escaped as every log line's are (log_escape); returns out. */
const char *mqtt__auth_escape(const char *s, size_t n, char *out, size_t cap);
/* ACL checks; true when no ACL is configured. */
bool mqtt__acl_may_publish(const struct mqtt_client *c, const char *topic, size_t len);
bool mqtt__acl_may_subscribe(const struct mqtt_client *c, const char *filter, size_t len);
bool mqtt__acl_may_receive(const struct mqtt_session *s, const char *topic, size_t len);

/* broker.c: decodes and handles what the client has sent so far. */
void mqtt__client_process(struct mqtt_client *c);
/* handle_connect.c: the CONNECT once its sender is known. */
int mqtt__connect_accept(struct mqtt_client *c, const struct mqtt_packet *p);
/* Answers a refused CONNECT; returns the reason. */
int mqtt__connect_refuse(struct mqtt_client *c, uint8_t reason);

/* handle_*.c: one per packet type the broker receives; each returns 0 or
 * an MQTT 5 reason code that ends the connection. */
int mqtt__handle_connect(struct mqtt_client *c, const struct mqtt_packet *p);
int mqtt__handle_publish(struct mqtt_client *c, const struct mqtt_packet *p);
int mqtt__handle_ack(struct mqtt_client *c, const struct mqtt_packet *p);
int mqtt__handle_subscribe(struct mqtt_client *c, const struct mqtt_packet *p);
int mqtt__handle_unsubscribe(struct mqtt_client *c, const struct mqtt_packet *p);
int mqtt__handle_disconnect(struct mqtt_client *c, const struct mqtt_packet *p);
/* The connection is gone: will, session expiry. */
void mqtt__client_gone(struct mqtt_client *c);
/* Publishes the wills whose delay is over. */
void mqtt__wills_tick(struct mqtt_broker *b, uint64_t now);

#endif
