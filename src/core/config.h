/* config.h: gasketd's configuration, read from an INI file (libinih).
 *
 * Every section and key is declared once in a table in config.c: its type,
 * its default, its bounds and whether its feature is built yet. A key whose
 * feature is not built yet is accepted and reported by config_pending() so
 * the daemon can log it once. Unknown sections and keys, bad values and
 * duplicates are refused with "FILE:LINE: reason".
 *
 * Without a file (path NULL) the embedded defaults apply; a file that has no
 * [route] sections gets the default /gasdetector route, and one with no
 * [apikey] sections leaves the daemon to create a key in data_dir. */
#ifndef GASKET_CORE_CONFIG_H
#define GASKET_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum cfg_durability { CFG_DURABILITY_FULL, CFG_DURABILITY_NORMAL };
enum cfg_alerts { CFG_ALERTS_ON_CHANGE, CFG_ALERTS_EVERY_READING };
enum cfg_op { CFG_OP_GE, CFG_OP_LE };
enum cfg_login { CFG_LOGIN_AUTO, CFG_LOGIN_ON, CFG_LOGIN_OFF };

struct cfg_server {
    char *data_dir;
    char *timezone; /* NULL: the system's zone */
    int log_level;  /* enum log_level */
    int durability; /* enum cfg_durability */
    long max_pending; /* readings waiting for the store before 503 / MQTT back-pressure */
    int64_t idempotency_window; /* ms: idempotency keys are kept at least this long */
    long flush_docs;            /* the hot tier is moved into gasket.db at this many documents */
    int64_t flush_interval;     /* ms: or once its oldest is this old */
    char *apikeys_file; /* more [apikey] sections (gasket device add's); NULL: none */
};

struct cfg_http {
    char *listen;
    char *tls_listen; /* NULL: no HTTPS */
    char *tls_cert;
    char *tls_key;
    size_t max_body;
    size_t max_bulk_body; /* the body limit of the _bulk endpoints */
    long max_connections;
    int64_t header_timeout; /* ms */
    int64_t idle_timeout;   /* ms */
    char *dashboard_users;   /* NULL: data_dir/dashboard_users */
    int dashboard_login;     /* enum cfg_login */
    int64_t dashboard_session;  /* ms: a dashboard session's absolute lifetime */
    char *live_topic;
    char *allowed_origins;   /* comma-separated; NULL: the server's own origin */
    char *web_root;          /* the dashboard's files from this folder; NULL: embedded */
    int metrics_public;      /* /metrics for anyone; else loopback or an admin key */
    long search_threads;     /* the query pool */
    int64_t search_max_timeout; /* ms: the cap on a request's `timeout` */
    long search_max_buckets; /* per request, all aggregations together */
    long search_max_aggs;    /* aggregations in a request's whole tree */
    size_t search_max_memory; /* aggregation state held by one request */
};

struct cfg_mqtt {
    char *listen;
    char *tls_listen;
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
    char *tls_crl; /* revoked client certificates of tls_ca; reloaded on SIGHUP */
    int allow_anonymous;
    char *password_file;
    char *acl_file;
    size_t max_packet_size;
    long max_inflight;
    long max_queued;
    long max_connections;
    int64_t persist_interval; /* ms; 0: save only at shutdown */
    long max_topic_length; /* bytes of a topic name or filter */
    long max_topic_levels;
    int64_t max_session_expiry;        /* ms; caps 5.0 expiry and 3.1.1 persistent sessions */
    long max_subscriptions;         /* per client */
    long max_retained_per_identity; /* retained topics one identity may hold */
    size_t max_retained_bytes;      /* all retained messages together */
};

struct cfg_apikey {
    char *name;
    char *key;
    double rate;  /* requests per second, refill of the bucket */
    double burst; /* bucket size */
    char *routes; /* comma-separated route paths; NULL: every route */
    char *read;   /* comma-separated indexes it may read; NULL: its routes' indexes */
    int admin;    /* every route, index and endpoint */
    char *mqtt_user; /* a password-file user that is this principal */
    char *cert_cn;   /* a TLS client certificate CN that is this principal */
    char *groups;    /* comma-separated groupids its readings may carry; NULL: any */
    const char *file; /* the file of its section (the config's or apikeys_file) */
    int line;
};

struct cfg_route {
    char *path;
    char *index;
    char *topic;
    char *function;
    int status;
    int alerts; /* enum cfg_alerts */
    char *mqtt_topic;
    int64_t offline_after; /* ms; 0: off */
    int line;
};

struct cfg_rule {
    char *name;
    char *field;
    int op; /* enum cfg_op */
    double warn, alarm, clear;
    int has_warn, has_alarm, has_clear;
    int64_t for_ms;
    char *groups;
    char *topic;
    long qos;
    char *message;
    int64_t repeat; /* ms; 0: off */
    char *unit;  /* shown by the dashboard ("ppm"); NULL: none */
    int line;
};

struct cfg_index {
    char *name;
    int64_t retention; /* ms; 0: keep forever */
    int line;
};

struct config {
    char *path; /* the file read, or NULL for the embedded defaults */
    struct cfg_server server;
    struct cfg_http http;
    struct cfg_mqtt mqtt;
    struct cfg_apikey *apikeys;
    size_t napikeys;
    struct cfg_route *routes;
    size_t nroutes;
    struct cfg_rule *rules;
    size_t nrules;
    struct cfg_index *indexes;
    size_t nindexes;
    char **pending; /* "[mqtt] listen"-style names of keys set but not yet in effect */
    size_t npending;
};

/* Loads path (NULL: embedded defaults) into c. Returns 0, or GK_ECONFIG
 * with "FILE:LINE: reason" in err. On failure c holds nothing to free. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
void config_free(struct config *c);
/* Finds a route by exact path, or NULL. */
const struct cfg_route *config_route(const struct config *c, const char *path);

/* Adds an [apikey NAME] with the given key and the default rate and burst
 * (the key the daemon creates in data_dir when the file names none). */
void config_add_apikey(struct config *c, const char *name, const char *key);

/* 1 when the comma-separated list (NULL: none) has item (items trimmed). */
int config_list_has(const char *list, const char *item);

/* 1 when s can be a group id in an [apikey] groups list: 1 to 64 ASCII
 * letters, digits, '.', '_' or '-' (one MQTT topic level, no wildcard). */
int config_valid_group(const char *s);

/* 1 when a comma-separated route list (NULL: all routes) admits path. */
int config_route_allowed(const char *list, const char *path);

/* The i-th key of the table as "[section] key" in buf, or NULL past the
 * end (for documentation checks). */
const char *config_key_name(size_t i, char *buf, size_t len);

/* Value parsers shared with other modules. Each returns 0 or GK_EINVAL. */
int config_parse_size(const char *s, size_t *out);      /* "1MiB", "512k", "1048576" */
int config_parse_duration(const char *s, int64_t *out_ms); /* "30d", "10s", "250ms", "5" (s) */
int config_parse_bool(const char *s, int *out);         /* true/false yes/no on/off 1/0 */

#endif
