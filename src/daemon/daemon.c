/* daemon.c: gasketd wired together (see daemon.h). */
#include "daemon/daemon.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/pidfile.h"
#include "core/workpool.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "mqtt/auth.h"
#include "mqtt/broker.h"
#include "mqtt/topic.h"
#include "net/net.h"
#include "rules/alarm.h"
#include "rules/alarm_file.h"
#include "rules/history.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DRAIN_TICK_MS 10
#define DRAIN_LIMIT_MS 10000

struct gasket {
    uv_loop_t loop;
    struct config cfg;
    int key_generated; /* cfg's only key is data_dir/apikey's ("default") */
    int key_created;   /* ... and this start created it */
    struct store *store;
    struct gateway *gw;
    struct http_server *http;
    struct net_tls *tls;
    struct mqtt_broker *mqtt;
    struct net_tls *mqtt_tls;
    struct mqtt_passwd *passwd;
    struct mqtt_acl *acl;
    struct alarm_engine *alarms;
    struct history *history; /* data_dir/alarms.db: its own writer thread */
    struct workpool *queries; /* [http] search_threads: queries, exports, GET /alarms */
    uv_timer_t alarm_tick; /* repeats, `for` durations and silent groups */
    char alarm_path[4096]; /* data_dir/alarms.json */
    char seen_path[4096];  /* data_dir/lastseen.json */
    char pid_path[4096];   /* data_dir/gasketd.pid, locked while we run */
    int pid_fd;
    int reloading;    /* a SIGHUP's files are being read on the query pool */
    int reload_again; /* ... and another SIGHUP came meanwhile */
    unsigned ticks;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t drain;
    uint64_t drain_deadline;
    int stopping;
};

static const char sample_reading[] =
    "{\"groupid\":\"2\",\"gps\":\"37.61002501514269, 126.99636868892937\","
    "\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"26.20\","
    "\"createdtime\":\"2021-09-03 18:14:49\"},"
    "\"no2\":{\"sensorid\":\"0006\",\"sensortype\":\"8\",\"value\":\"0.12\","
    "\"createdtime\":\"2021-09-03 18:14:49\"}}";

/* ---- the API key created on first start ---- */

static int read_key_file(const char *path, char *key, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return GK_ENOTFOUND;
    int ok = fgets(key, (int)len, f) != NULL;
    fclose(f);
    key[strcspn(key, "\r\n \t")] = '\0';
    return ok && strlen(key) >= 20 ? 0 : GK_EINVAL;
}

static int write_key_file(const char *path, char *key, size_t len)
{
    unsigned char raw[20];
    if (len < 2 * sizeof raw + 1 || RAND_bytes(raw, sizeof raw) != 1)
        return GK_EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(key + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return GK_EIO;
    char line[64];
    int n = snprintf(line, sizeof line, "%s\n", key);
    int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : GK_EIO;
}

/* The principal of data_dir/apikey: "default", an admin (it is the
 * operator's own key on the embedded defaults). */
static void add_default_key(struct config *c, const char *key)
{
    config_add_apikey(c, "default", key);
    c->apikeys[c->napikeys - 1].admin = 1;
}

/* Uses data_dir/apikey as the key when the configuration names none. */
static int ensure_key(struct gasket *g)
{
    if (g->cfg.napikeys > 0)
        return 0;
    char path[4096], key[64];
    snprintf(path, sizeof path, "%s/apikey", g->cfg.server.data_dir);
    int rc = read_key_file(path, key, sizeof key);
    if (rc == GK_ENOTFOUND) {
        rc = write_key_file(path, key, sizeof key);
        if (rc == 0)
            log_info("created an API key in %s", path);
        g->key_created = rc == 0;
    }
    if (rc != 0) {
        log_error("cannot read or create the API key file %s: %s", path, strerror(errno));
        return rc;
    }
    add_default_key(&g->cfg, key);
    g->key_generated = 1;
    return 0;
}

/* The port of a bound address "HOST:PORT", with its colon, or dflt. */
static const char *port_of(const char *addr, const char *dflt)
{
    const char *port = addr ? strrchr(addr, ':') : NULL;
    return port ? port : dflt;
}

static void print_welcome(struct gasket *g)
{
    if (!g->key_generated)
        return;
    if (!g->key_created) { /* printed in full only when created */
        printf("gasketd is ready. API key 'default' is kept in %s/apikey\n",
               g->cfg.server.data_dir);
        fflush(stdout);
        return;
    }
    const char *key = g->cfg.apikeys[0].key;
    const struct cfg_route *rt = &g->cfg.routes[0];
    printf("gasketd is ready. API key: %s (kept in %s/apikey)\n"
           "Post a reading:\n"
           "  curl -s http://127.0.0.1%s%s -H 'x-api-key: %s' "
           "-H 'Content-Type: application/json' -d '%s'\n",
           key, g->cfg.server.data_dir, port_of(http_server_addr(g->http, 0), ":8080"), rt->path,
           key, sample_reading);
    const char *mqtt = mqtt_broker_addr(g->mqtt, 0);
    if (mqtt && g->cfg.mqtt.listen && rt->topic)
        printf("Watch its alerts:\n"
               "  mosquitto_sub -h 127.0.0.1 -p %s -t %s -q 1 -u default -P %s\n",
               port_of(mqtt, ":1883") + 1, rt->topic, key);
    const char *port = port_of(http_server_addr(g->http, 0), ":8080");
    if (gateway_dashboard_needs_user(g->gw) && g->cfg.http.dashboard_users)
        printf("The dashboard, http://HOST%s/, asks for a login: add its first user with\n"
               "  build/gasket passwd -r admin %s NAME\n",
               port, g->cfg.http.dashboard_users);
    else if (gateway_dashboard_needs_user(g->gw))
        printf("The dashboard, http://HOST%s/, asks for a login: add its first user with\n"
               "  build/gasket passwd -r admin %s/dashboard_users NAME\n",
               port, g->cfg.server.data_dir);
    else
        printf("The dashboard: http://127.0.0.1%s/\n", port);
    fflush(stdout);
}

/* ---- configuration ---- */

/* The alert topics (every route's and every rule's `topic`) and the live
 * readings (live_topic/#): written by gasketd alone. */
static void set_reserved(struct gasket *g)
{
    const struct config *c = &g->cfg;
    const char **names = xcalloc(c->nroutes + c->nrules + 2, sizeof *names);
    size_t n = 0;
    char live[512] = "";
    if (c->http.live_topic) { /* live_topic/<groupid>: every stored reading */
        snprintf(live, sizeof live, "%s/#", c->http.live_topic);
        names[n++] = live;
    }
    for (size_t i = 0; i < c->nroutes; i++)
        names[n++] = c->routes[i].topic;
    for (size_t i = 0; i < c->nrules; i++)
        names[n++] = c->rules[i].topic;
    mqtt_broker_set_reserved(g->mqtt, names, n);
    free(names);
}

static void log_pending(const struct config *c)
{
    for (size_t i = 0; i < c->npending; i++)
        log_warn("config: %s is accepted but not yet in effect (its feature is not built yet)",
                 c->pending[i]);
}

static void http_limits_from(const struct config *c, struct http_limits *lim)
{
    http_limits_default(lim);
    lim->max_body = c->http.max_body;
    lim->max_connections = (unsigned)c->http.max_connections;
    lim->header_timeout_ms = (unsigned)c->http.header_timeout;
    lim->idle_timeout_ms = (unsigned)c->http.idle_timeout;
}

static enum store_durability durability_of(const struct config *c)
{
    return c->server.durability == CFG_DURABILITY_NORMAL ? STORE_DURABILITY_NORMAL
                                                         : STORE_DURABILITY_FULL;
}

static int str_changed(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static void warn_restart_only(const struct config *old, const struct config *new)
{
    const char *names[] = {"[server] data_dir", "[server] timezone", "[http] listen",
                           "[http] tls_listen", "[http] tls_cert", "[http] tls_key"};
    const char *a[] = {old->server.data_dir, old->server.timezone, old->http.listen,
                       old->http.tls_listen, old->http.tls_cert, old->http.tls_key};
    const char *b[] = {new->server.data_dir, new->server.timezone, new->http.listen,
                       new->http.tls_listen, new->http.tls_cert, new->http.tls_key};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (str_changed(a[i], b[i]))
            log_warn("config: %s changed; it takes effect at the next start", names[i]);
    if (old->http.search_threads != new->http.search_threads)
        log_warn("config: [http] search_threads changed; it takes effect at the next start");
}

/* [index NAME] retention of next; indexes of prev that next no longer
 * names keep everything again. */
static void apply_retention(struct gasket *g, const struct config *prev, const struct config *next)
{
    for (size_t i = 0; prev && i < prev->nindexes; i++) {
        int kept = 0;
        for (size_t j = 0; j < next->nindexes && !kept; j++)
            kept = strcmp(prev->indexes[i].name, next->indexes[j].name) == 0;
        if (!kept)
            store_set_retention(g->store, prev->indexes[i].name, 0);
    }
    for (size_t i = 0; i < next->nindexes; i++)
        store_set_retention(g->store, next->indexes[i].name, next->indexes[i].retention);
}

/* [http] live_topic must be a topic name (no wildcards) whose readings
 * (live_topic/<groupid>) no route's mqtt_topic would take for telemetry:
 * reserving them would shut devices out. Returns 0 or GK_ECONFIG (err). */
static int check_live_topic(const struct config *c, char *err, size_t errlen)
{
    const char *live = c->http.live_topic;
    if (!live)
        return 0;
    char probe[512];
    snprintf(probe, sizeof probe, "%s/x", live);
    if (strpbrk(live, "+#") || strlen(live) > 256)
        return gk_errf(err, errlen, GK_ECONFIG, "[http] live_topic '%s' must be a topic name "
                       "without + or # (at most 256 bytes)", live);
    for (size_t i = 0; i < c->nroutes; i++) {
        const char *f = c->routes[i].mqtt_topic;
        if (f && mqtt_topic_matches(f, strlen(f), probe, strlen(probe)))
            return gk_errf(err, errlen, GK_ECONFIG, "[http] live_topic '%s': its readings "
                           "(%s/GROUPID) fall under [route %s] mqtt_topic %s", live, live,
                           c->routes[i].path, f);
    }
    return 0;
}

/* An identity the new configuration no longer has: its MQTT clients are
 * closed; its sessions end when no principal of that name is left. */
static void drop_withdrawn(struct gasket *g, const struct config *old, const struct config *next)
{
    for (size_t i = 0; g->mqtt && i < old->napikeys; i++) {
        const struct cfg_apikey *a = &old->apikeys[i], *same = NULL;
        int user_kept = 0, cn_kept = 0;
        for (size_t j = 0; j < next->napikeys; j++) {
            const struct cfg_apikey *b = &next->apikeys[j];
            if (strcmp(a->name, b->name) == 0)
                same = b;
            user_kept |= a->mqtt_user && b->mqtt_user && strcmp(a->mqtt_user, b->mqtt_user) == 0;
            cn_kept |= a->cert_cn && b->cert_cn && strcmp(a->cert_cn, b->cert_cn) == 0;
        }
        if (a->key && (!same || !same->key || strcmp(same->key, a->key) != 0))
            mqtt_broker_drop_identity(g->mqtt, MQTT_ID_KEY, a->name, !same);
        if (a->mqtt_user && !user_kept)
            mqtt_broker_drop_identity(g->mqtt, MQTT_ID_PASSWORD, a->mqtt_user, true);
        if (a->cert_cn && !cn_kept)
            mqtt_broker_drop_identity(g->mqtt, MQTT_ID_CERT, a->cert_cn, true);
    }
}

/* One SIGHUP: the files are read on the query pool (reload_work), the
 * result applied on the loop (reload_done). */
struct reload {
    struct gasket *g;
    char *path;       /* the configuration file (NULL: the defaults) */
    char *ca, *crl;   /* [mqtt] tls_ca and tls_crl in effect (restart-only names) */
    struct config next;
    struct function **fns;
    struct net_tls_trust *trust; /* the CA with the CRL read again */
    int rc;
    char err[600];
};

static void reload_work(void *arg)
{
    struct reload *r = arg;
    r->rc = config_load(&r->next, r->path, r->err, sizeof r->err);
    if (r->rc != 0)
        return;
    r->rc = check_live_topic(&r->next, r->err, sizeof r->err);
    if (r->rc == 0)
        r->rc = gateway_load_functions(&r->next, &r->fns, r->err, sizeof r->err);
    if (r->rc == 0 && r->crl)
        r->rc = net_tls_trust_load(&r->trust, r->ca, r->crl, r->err, sizeof r->err);
    if (r->rc != 0 && r->fns)
        gateway_free_functions(r->fns, r->next.nroutes);
    if (r->rc != 0)
        config_free(&r->next);
}

/* Makes r's configuration the running one; on an error it stays as is. */
static void reload_apply(struct gasket *g, struct reload *r)
{
    struct config next = r->next;
    char err[600];
    if (alarm_engine_configure(g->alarms, &next, err, sizeof err) != 0) {
        log_error("reload refused, configuration unchanged: %s", err);
        gateway_free_functions(r->fns, next.nroutes);
        net_tls_trust_free(r->trust);
        config_free(&next);
        return;
    }
    warn_restart_only(&g->cfg, &next);
    /* Keep the restart-only values running, so the swap below is honest. */
    char *keep[] = {next.server.data_dir, next.server.timezone};
    next.server.data_dir = xstrdup(g->cfg.server.data_dir);
    next.server.timezone = g->cfg.server.timezone ? xstrdup(g->cfg.server.timezone) : NULL;
    free(keep[0]), free(keep[1]);
    if (next.napikeys == 0 && g->key_generated)
        add_default_key(&next, g->cfg.apikeys[0].key);
    log_set_level((enum log_level)next.server.log_level);
    store_set_durability(g->store, durability_of(&next));
    store_set_idem_window(g->store, next.server.idempotency_window);
    apply_retention(g, &g->cfg, &next);
    struct http_limits lim;
    http_limits_from(&next, &lim);
    http_server_configure(g->http, &lim, GATEWAY_CORS_HEADERS);
    gateway_configure(g->gw, &next, r->fns);
    if (r->trust)
        net_tls_set_trust(g->mqtt_tls, r->trust); /* the next handshakes see the new CRL */
    drop_withdrawn(g, &g->cfg, &next);
    log_pending(&next);
    config_free(&g->cfg);
    g->cfg = next;
    set_reserved(g);
    gateway_reload_dashboard_users(g->gw, &g->cfg); /* on the thread pool */
    log_info("reloaded %s: %zu route(s), %zu API key(s)", g->cfg.path ? g->cfg.path : "defaults",
             g->cfg.nroutes, g->cfg.napikeys);
}

static void start_reload(struct gasket *g);

static void reload_done(void *arg, int status)
{
    struct reload *r = arg;
    struct gasket *g = r->g;
    g->reloading = 0;
    if (status != 0 || g->stopping) { /* the pool closed: we are stopping */
        if (status == 0 && r->rc == 0) {
            gateway_free_functions(r->fns, r->next.nroutes);
            net_tls_trust_free(r->trust);
            config_free(&r->next);
        }
    } else if (r->rc != 0) {
        log_error("reload refused, configuration unchanged: %s", r->err);
    } else {
        reload_apply(g, r);
    }
    free(r->path), free(r->ca), free(r->crl), free(r);
    if (g->reload_again && !g->stopping) {
        g->reload_again = 0;
        start_reload(g);
    }
}

/* SIGHUP: re-reads the file (and [mqtt] tls_crl) off the loop; on any error
 * the running configuration stays. A SIGHUP during a reload runs another
 * one after it. */
static void start_reload(struct gasket *g)
{
    if (g->stopping)
        return;
    if (g->reloading) {
        g->reload_again = 1;
        return;
    }
    struct reload *r = xcalloc(1, sizeof *r);
    const struct cfg_mqtt *m = &g->cfg.mqtt;
    r->g = g;
    r->path = g->cfg.path ? xstrdup(g->cfg.path) : NULL;
    if (g->mqtt_tls && m->tls_crl) {
        r->ca = xstrdup(m->tls_ca);
        r->crl = xstrdup(m->tls_crl);
    }
    g->reloading = 1;
    workpool_submit(g->queries, reload_work, reload_done, r);
}

/* ---- stopping ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Renders the alarm engine's state on the loop (cheap) and hands the text
 * to the history's thread, which writes alarms.json (fsync, rename); the
 * principals' last-seen times likewise when they changed. */
static void save_alarm_state(struct gasket *g)
{
    char *text = alarm_file_render(g->alarms);
    if (!text)
        log_error("alarms: cannot save %s: out of memory", g->alarm_path);
    else
        history_write_file(g->history, g->alarm_path, text);
    if ((text = gateway_seen_text(g->gw)))
        history_write_file(g->history, g->seen_path, text);
}

static void finish(struct gasket *g)
{
    uv_timer_stop(&g->drain);
    if (http_server_inflight(g->http) > 0)
        log_warn("stopping with %u request(s) still unanswered", http_server_inflight(g->http));
    store_close(g->store); /* commits whatever is queued and answers it */
    save_alarm_state(g);
    alarm_engine_on_event(g->alarms, NULL, NULL); /* nothing reaches the history now */
    gateway_set_history(g->gw, NULL);
    history_close(g->history); /* commits its queue, writes alarms.json, answers acks */
    g->history = NULL;
    workpool_close(g->queries); /* after the store and the history: their reads end */
    g->store = NULL;
    http_server_close(g->http); /* writes the answers, then closes */
    mqtt_broker_close(g->mqtt);
    uv_close((uv_handle_t *)&g->drain, on_handle_closed);
    uv_close((uv_handle_t *)&g->alarm_tick, on_handle_closed);
    uv_close((uv_handle_t *)&g->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&g->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&g->sig_hup, on_handle_closed);
}

static void on_drain_tick(uv_timer_t *t)
{
    struct gasket *g = t->data;
    if (http_server_inflight(g->http) == 0 || clock_mono_ms() >= g->drain_deadline)
        finish(g);
}

static void begin_stop(struct gasket *g, int signum)
{
    if (g->stopping) {
        log_warn("second %s: exiting at once", strsignal(signum));
        _exit(1);
    }
    g->stopping = 1;
    log_info("%s: no new connections; finishing requests in flight", strsignal(signum));
    http_server_stop_accepting(g->http);
    mqtt_broker_stop_accepting(g->mqtt);
    g->drain_deadline = clock_mono_ms() + DRAIN_LIMIT_MS;
    uv_timer_start(&g->drain, on_drain_tick, 0, DRAIN_TICK_MS);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct gasket *g = s->data;
    if (signum == SIGHUP)
        start_reload(g);
    else
        begin_stop(g, signum);
}

static void watch_signal(struct gasket *g, uv_signal_t *s, int signum)
{
    uv_signal_init(&g->loop, s);
    s->data = g;
    uv_signal_start(s, on_signal, signum);
}

/* ---- starting ---- */

/* data_dir, private (0700), and ours: the lock on its gasketd.pid. */
static int take_data_dir(struct gasket *g)
{
    const char *dir = g->cfg.server.data_dir;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create data_dir %s: %s", dir, strerror(errno));
        return GK_EIO;
    }
    if (chmod(dir, 0700) != 0) /* also when it existed */
        log_warn("cannot make data_dir %s private (0700): %s", dir, strerror(errno));
    pid_t other;
    snprintf(g->pid_path, sizeof g->pid_path, "%s/gasketd.pid", dir);
    g->pid_fd = pidfile_hold(g->pid_path, &other);
    if (g->pid_fd == GK_EEXIST) {
        log_error("data_dir %s is in use by another gasketd (pid %ld)", dir, (long)other);
        return GK_EEXIST;
    }
    if (g->pid_fd < 0)
        log_warn("cannot write %s: %s (gasket device add cannot reload gasketd by itself)",
                 g->pid_path, strerror(errno));
    return 0;
}

static int open_store(struct gasket *g)
{
    struct store_options so = {.dir = g->cfg.server.data_dir, .durability = durability_of(&g->cfg),
                               .idem_window_ms = g->cfg.server.idempotency_window,
                               .move_docs = (size_t)g->cfg.server.flush_docs,
                               .move_ms = g->cfg.server.flush_interval,
                               .pool = g->queries};
    return store_open(&g->store, &g->loop, &so);
}

static int start_http(struct gasket *g)
{
    struct http_server_options o = {.extra_headers = GATEWAY_CORS_HEADERS,
                                    .handler = gateway_handle,
                                    .on_response = gateway_on_response,
                                    .ud = g->gw};
    http_limits_from(&g->cfg, &o.limits);
    int rc = http_server_new(&g->http, &g->loop, &o);
    if (rc == 0)
        rc = http_server_listen(g->http, g->cfg.http.listen, NULL);
    if (rc == 0 && g->cfg.http.tls_listen) {
        char err[256];
        rc = net_tls_new(&g->tls, g->cfg.http.tls_cert, g->cfg.http.tls_key, NULL, err, sizeof err);
        if (rc != 0)
            log_error("[http] TLS: %s", err);
        else
            rc = http_server_listen(g->http, g->cfg.http.tls_listen, g->tls);
    }
    gateway_set_http(g->gw, g->http);
    return rc;
}

static void mqtt_options_from(const struct config *c, struct mqtt_broker_options *o)
{
    mqtt_broker_options_default(o);
    o->max_packet_size = (uint32_t)c->mqtt.max_packet_size;
    o->max_inflight = (uint16_t)c->mqtt.max_inflight;
    o->max_queued = (uint32_t)c->mqtt.max_queued;
    o->max_connections = (uint32_t)c->mqtt.max_connections;
    o->allow_anonymous = c->mqtt.allow_anonymous;
    o->persist_interval_ms = (uint32_t)c->mqtt.persist_interval;
    o->topic.max_len = (size_t)c->mqtt.max_topic_length;
    o->topic.max_levels = (unsigned)c->mqtt.max_topic_levels;
    int64_t expiry_s = c->mqtt.max_session_expiry / 1000;
    o->max_session_expiry_s = expiry_s >= (int64_t)UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)expiry_s;
    if (c->mqtt.max_session_expiry > 0 && o->max_session_expiry_s == 0)
        o->max_session_expiry_s = 1; /* under a second: a second, 0 would mean no cap */
    o->max_subscriptions = (uint32_t)c->mqtt.max_subscriptions;
    o->max_retained_per_identity = (uint32_t)c->mqtt.max_retained_per_identity;
    o->max_retained_bytes = c->mqtt.max_retained_bytes;
}

/* Loads [mqtt] password_file and acl_file, refusing to start on an error. */
static int load_mqtt_auth(struct gasket *g)
{
    const struct cfg_mqtt *m = &g->cfg.mqtt;
    char err[600];
    if (m->password_file && mqtt_passwd_load(&g->passwd, m->password_file, err, sizeof err) != 0) {
        log_error("[mqtt] password_file: %s", err);
        return GK_ECONFIG;
    }
    if (m->acl_file && mqtt_acl_load(&g->acl, m->acl_file, err, sizeof err) != 0) {
        log_error("[mqtt] acl_file: %s", err);
        return GK_ECONFIG;
    }
    return 0;
}

/* With allow_anonymous, anyone who reaches an MQTT listener (TCP, TLS, or
 * /mqtt over WebSocket on the HTTP listeners) may use ordinary topics. */
static void warn_anonymous(struct gasket *g)
{
    if (!g->cfg.mqtt.allow_anonymous)
        return;
    const char *a;
    for (unsigned i = 0; (a = mqtt_broker_addr(g->mqtt, i)); i++)
        if (!net_addr_is_loopback(a))
            log_warn("[mqtt] allow_anonymous is on and MQTT listens on %s (not loopback): "
                     "anyone who reaches it may publish and subscribe without a credential", a);
    for (unsigned i = 0; (a = http_server_addr(g->http, i)); i++)
        if (!net_addr_is_loopback(a))
            log_warn("[mqtt] allow_anonymous is on and MQTT over WebSocket (/mqtt) listens on %s "
                     "(not loopback): anyone who reaches it may publish and subscribe without "
                     "a credential", a);
}


static int start_mqtt(struct gasket *g)
{
    const struct cfg_mqtt *m = &g->cfg.mqtt;
    struct mqtt_broker_options o;
    char path[4096];
    if (load_mqtt_auth(g) != 0)
        return GK_ECONFIG;
    mqtt_options_from(&g->cfg, &o);
    o.passwd = g->passwd;
    o.acl = g->acl;
    snprintf(path, sizeof path, "%s/mqtt.db", g->cfg.server.data_dir);
    o.persist_path = path;
    int rc = mqtt_broker_new(&g->mqtt, &g->loop, &o);
    if (rc != 0)
        return rc;
    gateway_set_broker(g->gw, g->mqtt);
    mqtt_broker_set_publish_hook(g->mqtt, gateway_telemetry, g->gw);
    mqtt_broker_set_login_hook(g->mqtt, gateway_mqtt_login, g->gw);
    set_reserved(g);
    if (rc == 0 && m->listen)
        rc = mqtt_broker_listen(g->mqtt, m->listen, NULL);
    if (rc == 0 && m->tls_listen) {
        char err[256];
        rc = net_tls_new(&g->mqtt_tls, m->tls_cert, m->tls_key, m->tls_ca, err, sizeof err);
        struct net_tls_trust *trust = NULL;
        if (rc == 0 && m->tls_crl && m->tls_ca) {
            rc = net_tls_trust_load(&trust, m->tls_ca, m->tls_crl, err, sizeof err);
            if (rc == 0)
                net_tls_set_trust(g->mqtt_tls, trust);
        }
        if (rc != 0)
            log_error("[mqtt] TLS: %s", err);
        else
            rc = mqtt_broker_listen(g->mqtt, m->tls_listen, g->mqtt_tls);
    }
    return rc;
}

#define ALARM_SAVE_TICKS 30 /* the alarm state is saved every 30 s, and at stop */

static void on_alarm_tick(uv_timer_t *t)
{
    struct gasket *g = t->data;
    alarm_tick(g->alarms, clock_now_ms(), gateway_publish, g->gw);
    if (++g->ticks % ALARM_SAVE_TICKS == 0)
        save_alarm_state(g);
}

static void record_event(void *ud, const struct alarm_event *ev)
{
    history_record(ud, ev);
}

/* The rules of [rule] sections, judged on every reading, and their history. */
static int start_alarms(struct gasket *g)
{
    char err[600], path[4096];
    snprintf(path, sizeof path, "%s/alarms.db", g->cfg.server.data_dir);
    if (history_open(&g->history, &g->loop, g->queries, path, err, sizeof err) != 0) {
        log_error("%s", err);
        return GK_ESTORE;
    }
    gateway_set_history(g->gw, g->history);
    g->alarms = alarm_engine_new();
    alarm_engine_on_event(g->alarms, record_event, g->history);
    if (alarm_engine_configure(g->alarms, &g->cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        return GK_ECONFIG;
    }
    snprintf(g->alarm_path, sizeof g->alarm_path, "%s/alarms.json", g->cfg.server.data_dir);
    if (alarm_file_load(g->alarms, g->alarm_path, clock_now_ms()) != 0)
        return GK_ECONFIG;
    gateway_set_alarms(g->gw, g->alarms);
    uv_timer_init(&g->loop, &g->alarm_tick);
    g->alarm_tick.data = g;
    uv_timer_start(&g->alarm_tick, on_alarm_tick, 1000, 1000);
    return 0;
}

struct gasket *gasket_start(const char *config_path)
{
    struct gasket *g = xcalloc(1, sizeof *g);
    char err[600];
    g->pid_fd = -1;
    if (config_load(&g->cfg, config_path, err, sizeof err) != 0) {
        log_error("%s", err);
        free(g);
        return NULL;
    }
    if (check_live_topic(&g->cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        config_free(&g->cfg);
        free(g);
        return NULL;
    }
    log_set_level((enum log_level)g->cfg.server.log_level);
    clock_set_zone(g->cfg.server.timezone);
    umask(077); /* every file gasketd creates (data_dir's above all) is its own: 0600 */
    log_pending(&g->cfg);
    uv_loop_init(&g->loop);
    uv_timer_init(&g->loop, &g->drain);
    g->drain.data = g;
    /* Caught from here on (and handled once the loop runs), so a signal
     * sent as soon as the listeners are announced is never fatal. */
    watch_signal(g, &g->sig_int, SIGINT);
    watch_signal(g, &g->sig_term, SIGTERM);
    watch_signal(g, &g->sig_hup, SIGHUP);
    g->queries = workpool_new(&g->loop, (unsigned)g->cfg.http.search_threads);
    if (take_data_dir(g) != 0 || open_store(g) != 0 || ensure_key(g) != 0)
        goto fail;
    apply_retention(g, NULL, &g->cfg);
    g->gw = gateway_new(g->store);
    snprintf(g->seen_path, sizeof g->seen_path, "%s/lastseen.json", g->cfg.server.data_dir);
    gateway_load_seen(g->gw, g->seen_path);
    struct function **fns;
    if (gateway_load_functions(&g->cfg, &fns, err, sizeof err) != 0) {
        log_error("%s", err);
        goto fail;
    }
    gateway_configure(g->gw, &g->cfg, fns);
    if (gateway_load_dashboard_users(g->gw, &g->cfg, err, sizeof err) != 0) {
        log_error("[http] dashboard_users: %s", err);
        goto fail;
    }
    if (start_http(g) != 0 || start_mqtt(g) != 0 || start_alarms(g) != 0)
        goto fail;
    warn_anonymous(g);
    print_welcome(g);
    return g;
fail:
    log_error("gasketd could not start");
    pidfile_release(g->pid_path, g->pid_fd); /* no pid file of a gasketd that never ran */
    exit(1); /* handles are open on the loop; nothing to save yet */
}

int gasket_run(struct gasket *g)
{
    uv_run(&g->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&g->loop) == 0 ? 0 : 1;
    if (rc != 0)
        log_error("event loop closed with handles still open");
    gateway_free(g->gw);
    alarm_engine_free(g->alarms);
    if (g->tls)
        net_tls_free(g->tls);
    if (g->mqtt_tls)
        net_tls_free(g->mqtt_tls);
    mqtt_passwd_free(g->passwd);
    mqtt_acl_free(g->acl);
    pidfile_release(g->pid_path, g->pid_fd);
    config_free(&g->cfg);
    free(g);
    log_info("stopped");
    return rc;
}
