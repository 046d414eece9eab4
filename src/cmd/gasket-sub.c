/* gasket-sub.c: the device side of the alerts (sub.py of the original
 * system): subscribes with libmosquitto to the alert topic, prints each
 * message, and runs a command for warnings, alarms and emergencies.
 *
 * Options come from the command line and from --config FILE (key = value
 * lines with the options' long names, device/kvfile.h; what `gasket device
 * add` writes as sub.conf); the command line wins. It connects with MQTT
 * 3.1.1, subscribes at QoS 1 and, with --id, keeps a persistent session
 * (clean session off), so that alerts sent while it was away arrive when
 * it is back. It reconnects forever: after a failure it waits 1 s, then
 * twice as long each time up to 60 s (with jitter), back to 1 s once a
 * connection is accepted. The loop is its own (mosquitto_loop and
 * mosquitto_reconnect), not mosquitto_loop_forever's: that one gives up on
 * a TLS or DNS error and does not retry a first connection, and a Pi that
 * boots without network meets exactly those. --on-warning CMD is split into words once, at
 * start (device/cmdline.h), and run without a shell with the message in its
 * environment only (GASKET_TOPIC, GASKET_MESSAGE, GASKET_KIND, GASKET_TEXT);
 * at most 8 run at once (the 9th waits for one), and gasket-sub waits for
 * the last ones before it exits.
 *
 * Exit status: 0 stopped (SIGINT, SIGTERM, or --count messages received),
 * 1 could not start (the TLS files are unusable), 2 bad option or config. */
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/version.h"
#include "device/alert.h"
#include "device/backoff.h"
#include "device/cmdline.h"
#include "device/kvfile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOPICS 16
#define MAX_RUNNING 8
#define BACKOFF_MAX_S 60
#define ENV_MESSAGE_MAX 65536

enum { EXIT_STOPPED = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct sub_opts {
    char *host, *id, *cafile, *cert, *keyfile, *user, *password, *on_warning;
    char *topics[MAX_TOPICS];
    int ntopics;
    long port, keepalive, count;
    int json, verbose; /* -1: not given */
};

struct sub {
    struct sub_opts o;
    char **cmd; /* --on-warning, split */
    int mids[MAX_TOPICS]; /* the SUBSCRIBE message id of each topic */
    long received;
    int running; /* --on-warning commands not reaped yet */
    bool accepted; /* the last connection got CONNACK 0 */
    struct backoff backoff; /* between connection attempts: 1 s doubling to 60 s */
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gasket-sub: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char usage_text[] =
    "usage: gasket-sub [--config FILE] [--host HOST] [--port N] [--topic T]... [--id ID]\n"
    "                  [--cafile F] [--cert F --keyfile F] [--user U --password P]\n"
    "                  [--json] [-v] [--on-warning CMD] [--count N] [--keepalive S]\n";

static const char help_text[] =
    "\n"
    "Subscribes to gasketd's alerts (QoS 1) and prints each message, as sub.py did.\n"
    "\n"
    "  -c, --config FILE  key = value lines with these options' long names (host,\n"
    "                     port, topic, id, cafile, cert, keyfile, user, password,\n"
    "                     json, verbose, on-warning, count, keepalive); `gasket device\n"
    "                     add` writes one (sub.conf). File names in it are relative\n"
    "                     to its folder. The command line wins over the file.\n"
    "  --host HOST        the broker (default localhost)\n"
    "  --port N           default 8883 with TLS, 1883 without\n"
    "  --topic T          a topic filter to subscribe to; repeat for more (default pi/1)\n"
    "  --id ID            the client id, with a persistent session: what is published\n"
    "                     while gasket-sub is away arrives when it is back (without\n"
    "                     it: a random id and a clean session)\n"
    "  --cafile F         TLS, trusting the CA in F (with --cert only: the system's CAs)\n"
    "  --cert F, --keyfile F  TLS with this client certificate and key\n"
    "  --user U, --password P  an MQTT user name and password (a principal's name and key)\n"
    "  --json             print JSON messages pretty-printed\n"
    "  -v, --verbose      print the topic before each message\n"
    "  --on-warning CMD   run CMD for each warning, alarm or emergency: CMD is split\n"
    "                     into words (quotes ' and \" group, nothing is expanded) and\n"
    "                     run without a shell; the message is in its environment:\n"
    "                     GASKET_TOPIC, GASKET_MESSAGE (the payload), GASKET_KIND\n"
    "                     (warning, alarm or emergency), GASKET_TEXT (\"no2 warning\")\n"
    "  --count N          exit after N messages\n"
    "  --keepalive S      MQTT keep-alive in seconds (default 60)\n"
    "  --help, --version\n"
    "\n"
    "It reconnects forever, waiting 1 s to 60 s between attempts. Exit status: 0\n"
    "stopped (SIGINT, SIGTERM, --count), 1 could not start, 2 bad option or config.\n";

/* ---- options ---- */

enum kind { K_STR, K_PATH, K_NUM, K_BOOL, K_TOPIC, K_CONFIG, K_HELP, K_VERSION };

/* Every option, on the command line (--NAME) and in --config (NAME = ...). */
static const struct opt_def {
    const char *name;
    enum kind kind;
    size_t off; /* into struct sub_opts */
    long min, max;
} defs[] = {
    {"host", K_STR, offsetof(struct sub_opts, host), 0, 0},
    {"port", K_NUM, offsetof(struct sub_opts, port), 1, 65535},
    {"topic", K_TOPIC, 0, 0, 0},
    {"id", K_STR, offsetof(struct sub_opts, id), 0, 0},
    {"cafile", K_PATH, offsetof(struct sub_opts, cafile), 0, 0},
    {"cert", K_PATH, offsetof(struct sub_opts, cert), 0, 0},
    {"keyfile", K_PATH, offsetof(struct sub_opts, keyfile), 0, 0},
    {"user", K_STR, offsetof(struct sub_opts, user), 0, 0},
    {"password", K_STR, offsetof(struct sub_opts, password), 0, 0},
    {"json", K_BOOL, offsetof(struct sub_opts, json), 0, 0},
    {"verbose", K_BOOL, offsetof(struct sub_opts, verbose), 0, 0},
    {"on-warning", K_STR, offsetof(struct sub_opts, on_warning), 0, 0},
    {"count", K_NUM, offsetof(struct sub_opts, count), 1, 1000000000},
    {"keepalive", K_NUM, offsetof(struct sub_opts, keepalive), 5, 65535},
    {"config", K_CONFIG, 0, 0, 0},
    {"help", K_HELP, 0, 0, 0},
    {"version", K_VERSION, 0, 0, 0},
};
#define NDEFS (sizeof defs / sizeof defs[0])

static const struct opt_def *def_named(const char *name)
{
    for (size_t k = 0; k < NDEFS; k++)
        if (strcmp(defs[k].name, name) == 0)
            return &defs[k];
    return NULL;
}

static int number(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int add_topic(struct sub_opts *o, const char *t, const char *where)
{
    if (o->ntopics == MAX_TOPICS || !*t)
        return say("%s: %s", where, *t ? "at most 16 topics" : "an empty topic"), -1;
    o->topics[o->ntopics++] = xstrdup(t);
    return 0;
}

/* Sets d's option to value unless already set (the command line comes
 * first); file: where value came from (NULL: the command line, else its
 * folder resolves file names). Returns 0 or -1 (said, naming where). */
static int set_opt(struct sub_opts *o, const struct opt_def *d, const char *value,
                   const struct kvfile *file, const char *where)
{
    void *field = (char *)o + d->off;
    char **s = field;
    long *n = field;
    int *b = field;
    switch (d->kind) {
    case K_STR:
    case K_PATH:
        if (!*s)
            *s = file && d->kind == K_PATH ? kvfile_path(file, value) : xstrdup(value);
        return 0;
    case K_NUM:
        if (*n < 0 && number(value, d->min, d->max, n) != 0)
            return say("%s: expected a number from %ld to %ld, not '%s'", where, d->min, d->max,
                       value), -1;
        return 0;
    case K_BOOL:
        if (*b < 0 && (file ? config_parse_bool(value, b) : (*b = 1, 0)) != 0)
            return say("%s: expected true or false, not '%s'", where, value), -1;
        return 0;
    case K_TOPIC:
        return add_topic(o, value, where);
    default:
        return say("%s: not a key of the file", where), -1;
    }
}

/* The --config file's pairs, under the command line's. */
static int read_config(struct sub_opts *o, const char *path)
{
    struct kvfile f;
    char err[600], where[700];
    if (kvfile_load(&f, path, err, sizeof err) != 0)
        return say("%s", err), -1;
    int cli_topics = o->ntopics, rc = 0;
    for (size_t i = 0; i < f.n && rc == 0; i++) {
        const char *key = strcmp(f.v[i].key, "on_warning") == 0 ? "on-warning" : f.v[i].key;
        const struct opt_def *d = def_named(key);
        snprintf(where, sizeof where, "%s:%d: %s", path, f.v[i].line, f.v[i].key);
        if (!d)
            rc = (say("%s:%d: unknown key '%s'", path, f.v[i].line, f.v[i].key), -1);
        else if (!(d->kind == K_TOPIC && cli_topics)) /* --topic replaces the file's */
            rc = set_opt(o, d, f.v[i].value, &f, where);
    }
    kvfile_free(&f);
    return rc;
}

/* Parses argv into o; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct sub_opts *o)
{
    struct option long_opts[NDEFS + 1];
    for (size_t k = 0; k < NDEFS; k++)
        long_opts[k] = (struct option){defs[k].name,
                                       defs[k].kind == K_BOOL || defs[k].kind >= K_HELP
                                           ? no_argument
                                           : required_argument,
                                       NULL, (int)(k + 256)};
    long_opts[NDEFS] = (struct option){NULL, 0, NULL, 0};
    const char *config = NULL;
    char where[32];
    int c;
    while ((c = getopt_long(argc, argv, "c:v", long_opts, NULL)) != -1) {
        if (c == '?')
            return fputs(usage_text, stderr), EXIT_USAGE;
        const struct opt_def *d = c == 'c'   ? def_named("config")
                                  : c == 'v' ? def_named("verbose")
                                             : &defs[c - 256];
        snprintf(where, sizeof where, "--%s", d->name);
        if (d->kind == K_HELP)
            return printf("%s%s", usage_text, help_text), EXIT_STOPPED;
        if (d->kind == K_VERSION)
            return printf("gasket-sub %s (libmosquitto %d.%d.%d)\n", GASKET_VERSION,
                          LIBMOSQUITTO_MAJOR, LIBMOSQUITTO_MINOR, LIBMOSQUITTO_REVISION),
                   EXIT_STOPPED;
        if (d->kind == K_CONFIG)
            config = optarg;
        else if (set_opt(o, d, optarg, NULL, where) != 0)
            return EXIT_USAGE;
    }
    if (optind < argc)
        return say("unexpected argument '%s'", argv[optind]), fputs(usage_text, stderr),
               EXIT_USAGE;
    if (config && read_config(o, config) != 0)
        return EXIT_USAGE;
    return -1;
}

/* Defaults and combinations; -1 to go on, else EXIT_USAGE. */
static int finish_opts(struct sub *s)
{
    struct sub_opts *o = &s->o;
    char err[256];
    if (!o->host)
        o->host = xstrdup("localhost");
    if (o->ntopics == 0)
        o->topics[o->ntopics++] = xstrdup("pi/1");
    if (!o->cert != !o->keyfile)
        return say("--cert and --keyfile go together"), EXIT_USAGE;
    if (!o->user && o->password)
        return say("--password needs --user"), EXIT_USAGE;
    if (o->port < 0)
        o->port = o->cafile || o->cert ? 8883 : 1883;
    if (o->keepalive < 0)
        o->keepalive = 60;
    if (o->on_warning && cmdline_split(o->on_warning, &s->cmd, err, sizeof err) != 0)
        return say("--on-warning: %s", err), EXIT_USAGE;
    return -1;
}

/* ---- the command for alerts ---- */

static void reap(struct sub *s, int block)
{
    int st;
    pid_t pid;
    while (s->running > 0 && (pid = waitpid(-1, &st, block ? 0 : WNOHANG)) != 0) {
        if (pid < 0) {
            if (errno == ECHILD)
                s->running = 0; /* none left to wait for */
            if (errno != EINTR)
                break;
            continue;
        }
        s->running--;
        block = 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
            say("--on-warning command (pid %ld) exited with %d", (long)pid, WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            say("--on-warning command (pid %ld) killed by signal %d", (long)pid, WTERMSIG(st));
    }
}

/* In the child: the message in the environment, nothing on stdin. */
static void exec_child(struct sub *s, const struct mosquitto_message *m, const char *kind,
                       const char *text)
{
    size_t n = (size_t)m->payloadlen < ENV_MESSAGE_MAX ? (size_t)m->payloadlen : ENV_MESSAGE_MAX;
    char *msg = malloc(n + 1);
    if (msg) {
        memcpy(msg, m->payload, n);
        msg[n] = '\0';
        setenv("GASKET_MESSAGE", msg, 1);
    }
    setenv("GASKET_TOPIC", m->topic, 1);
    setenv("GASKET_KIND", kind, 1);
    setenv("GASKET_TEXT", text, 1);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
        dup2(null, STDIN_FILENO);
    execvp(s->cmd[0], s->cmd);
    fprintf(stderr, "gasket-sub: --on-warning: cannot run %s: %s\n", s->cmd[0], strerror(errno));
    _exit(127);
}

static void run_command(struct sub *s, const struct mosquitto_message *m, enum alert_kind k,
                        const char *text)
{
    if (s->running >= MAX_RUNNING)
        reap(s, 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(s, m, alert_kind_name(k), text);
    if (pid < 0)
        say("--on-warning: cannot start a process: %s", strerror(errno));
    else
        s->running++;
}

/* ---- MQTT ---- */

static void print_message(const struct sub *s, const struct mosquitto_message *m)
{
    if (s->o.verbose > 0)
        printf("%s ", m->topic);
    json_t *doc = s->o.json > 0 ? json_loadb(m->payload, (size_t)m->payloadlen, 0, NULL) : NULL;
    char *pretty = json_text(doc, JSON_WRITE_INDENT(2)); /* 26.2 stays 26.2 */
    if (pretty)
        fputs(pretty, stdout);
    else
        fwrite(m->payload, 1, (size_t)m->payloadlen, stdout);
    putchar('\n');
    fflush(stdout);
    free(pretty);
    json_decref(doc);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *m)
{
    struct sub *s = ud;
    char text[1024];
    (void)mosq;
    print_message(s, m);
    enum alert_kind k = alert_classify(m->payload, (size_t)m->payloadlen, text, sizeof text);
    if (k != ALERT_NONE && s->cmd)
        run_command(s, m, k, text);
    if (s->o.count > 0 && ++s->received >= s->o.count)
        stop = 1;
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    struct sub *s = ud;
    if (rc != 0) {
        say("%s:%ld refused the connection: %s%s", s->o.host, s->o.port,
            mosquitto_connack_string(rc),
            rc == 4 || rc == 5 ? " (a revoked device, or a wrong key or certificate)" : "");
        return;
    }
    s->accepted = true;
    backoff_reset(&s->backoff);
    say("connected to %s:%ld", s->o.host, s->o.port);
    for (int i = 0; i < s->o.ntopics; i++) {
        int mid = 0; /* libmosquitto gives it; its SUBACK names it */
        mosquitto_subscribe(mosq, &mid, s->o.topics[i], 1);
        s->mids[i] = mid;
    }
}

/* One SUBSCRIBE per topic: granted_qos[0] is its answer (0x80: refused). */
static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted_qos)
{
    struct sub *s = ud;
    (void)mosq;
    const char *topic = "a topic";
    for (int i = 0; i < s->o.ntopics; i++)
        if (s->mids[i] == mid)
            topic = s->o.topics[i];
    if (n >= 1 && granted_qos[0] <= 2)
        say("subscribed to %s (QoS %d)", topic, granted_qos[0]);
    else
        say("the broker refused the subscription to %s (not authorized?)", topic);
}

static void on_log(struct mosquitto *mosq, void *ud, int level, const char *line)
{
    (void)mosq, (void)ud;
    if (level & MOSQ_LOG_ERR)
        say("%s", line);
}

/* Waits the next backoff delay (device/backoff.h; interrupted by a stop). */
static void back_off(struct sub *s, const char *why)
{
    uint64_t ms = backoff_next(&s->backoff, 0);
    say("%s; trying again in %.1f s", why, (double)ms / 1000);
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (!stop && nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* 0 when every TLS file given can be read, else -1 (said). */
static int tls_files_readable(const struct sub_opts *o)
{
    const char *files[] = {o->cafile, o->cert, o->keyfile};
    for (size_t i = 0; i < 3; i++)
        if (files[i] && access(files[i], R_OK) != 0)
            return say("cannot read %s: %s", files[i], strerror(errno)), -1;
    return 0;
}

static struct mosquitto *client_new(struct sub *s)
{
    const struct sub_opts *o = &s->o;
    if (tls_files_readable(o) != 0)
        return NULL;
    struct mosquitto *m = mosquitto_new(o->id, o->id == NULL, s);
    if (!m)
        return say("cannot make an MQTT client: %s", strerror(errno)), NULL;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_log_callback_set(m, on_log);
    if (o->user)
        mosquitto_username_pw_set(m, o->user, o->password);
    int rc = o->cafile || o->cert
                 ? mosquitto_tls_set(m, o->cafile, o->cafile ? NULL : "/etc/ssl/certs", o->cert,
                                     o->keyfile, NULL)
                 : MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS) {
        say("cannot use the TLS files (cafile %s, cert %s, keyfile %s): %s",
            o->cafile ? o->cafile : "-", o->cert ? o->cert : "-", o->keyfile ? o->keyfile : "-",
            mosquitto_strerror(rc));
        mosquitto_destroy(m);
        return NULL;
    }
    return m;
}

/* Connects, runs, and connects again until stopped. */
static void run(struct sub *s, struct mosquitto *m)
{
    char why[512];
    bool started = false;
    backoff_init(&s->backoff, 1000, BACKOFF_MAX_S * 1000, (uint64_t)getpid() ^ (uint64_t)time(NULL));
    while (!stop) {
        s->accepted = false;
        int rc = started ? mosquitto_reconnect(m)
                         : mosquitto_connect(m, s->o.host, (int)s->o.port, (int)s->o.keepalive);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(why, sizeof why, "cannot connect to %s:%ld: %s", s->o.host, s->o.port,
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            back_off(s, why);
            continue;
        }
        started = true;
        while (!stop && (rc = mosquitto_loop(m, 1000, 1)) == MOSQ_ERR_SUCCESS)
            reap(s, 0);
        if (stop)
            break;
        snprintf(why, sizeof why, "the connection to %s:%ld %s: %s", s->o.host, s->o.port,
                 s->accepted ? "was lost" : "failed",
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        back_off(s, why);
    }
    if (s->accepted) {
        mosquitto_disconnect(m);
        for (int i = 0; i < 10 && mosquitto_want_write(m); i++)
            mosquitto_loop(m, 100, 1);
    }
}

static void free_opts(struct sub *s)
{
    struct sub_opts *o = &s->o;
    char *strs[] = {o->host, o->id, o->cafile, o->cert, o->keyfile, o->user, o->password,
                    o->on_warning};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    for (int i = 0; i < o->ntopics; i++)
        free(o->topics[i]);
    cmdline_free(s->cmd);
}

int main(int argc, char **argv)
{
    struct sub s = {.o = {.port = -1, .keepalive = -1, .count = -1, .json = -1, .verbose = -1}};
    int rc = parse_args(argc, argv, &s.o);
    if (rc < 0)
        rc = finish_opts(&s);
    if (rc >= 0) {
        free_opts(&s);
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: a stop ends a wait */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)(time(NULL) ^ getpid()));
    mosquitto_lib_init();
    struct mosquitto *m = client_new(&s);
    rc = m ? EXIT_STOPPED : EXIT_FAILED;
    if (m) {
        run(&s, m);
        mosquitto_destroy(m);
    }
    while (s.running > 0) /* the commands of the last alerts finish first */
        reap(&s, 1);
    mosquitto_lib_cleanup();
    free_opts(&s);
    return rc;
}
