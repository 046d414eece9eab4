/* pubopt.c: gasket-pub's options (pubopt.h): the table, the command line,
 * the config file (read by kvfile.c, as gasket-sub's), the checks. */
#include "device/pubopt.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "device/kvfile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* K_PATH: a file name, relative to a config file's folder when given there. */
enum kind { K_SRC, K_EXEC, K_STR, K_PATH, K_U64, K_SEED, K_SECS, K_SIZE, K_LONG, K_LEVEL, K_BOOL };

struct opt {
    const char *name;
    enum kind kind;
    size_t off;  /* into struct pubopt */
    int src;     /* K_SRC: the source it selects */
    const char *help;
};

#define O(f) offsetof(struct pubopt, f)

static const struct opt opts[] = {
    {"sim", K_SRC, 0, PUB_SRC_SIM, "readings of a simulated MiCS-6814 (8 gases)"},
    {"seed", K_SEED, O(seed), 0, "N: --sim's random seed (the same N, the same readings)"},
    {"stdin", K_SRC, 0, PUB_SRC_STDIN, "one reading per JSON line on stdin"},
    {"exec", K_EXEC, O(exec), 0, "CMD: run CMD each interval, one JSON object from its stdout"},
    {"drain", K_SRC, 0, PUB_SRC_DRAIN, "no source: send what the spool holds, then exit"},
    {"interval", K_SECS, O(interval), 0, "S: seconds between readings (10; --sim, --exec)"},
    {"count", K_U64, O(count), 0, "N: stop after N readings (0: never)"},
    {"wait", K_SECS, O(wait), 0,
     "S: after the last reading, keep delivering for S seconds at most (30; 0: forever)"},
    {"group", K_STR, O(group), 0, "G: the readings' groupid (1)"},
    {"gps", K_STR, O(gps), 0, "\"LAT, LON\": the readings' position"},
    {"name", K_STR, O(name), 0, "NAME: this device's name in idempotency keys (the host name)"},
    {"url", K_STR, O(url), 0, "URL: POST readings to this route (http:// or https://)"},
    {"key", K_STR, O(key), 0, "KEY: the API key, sent as x-api-key"},
    {"cacert", K_PATH, O(cacert), 0, "FILE: CA certificate(s) that sign the HTTPS server's"},
    {"mqtt", K_STR, O(mqtt), 0, "HOST:PORT: publish readings over MQTT instead"},
    {"topic", K_STR, O(topic), 0, "T: the MQTT topic (gas/<group>)"},
    {"cert", K_PATH, O(cert), 0, "FILE: MQTT TLS client certificate"},
    {"keyfile", K_PATH, O(keyfile), 0, "FILE: its private key"},
    {"cafile", K_PATH, O(cafile), 0, "FILE: CA certificate of the MQTT server (turns TLS on)"},
    {"user", K_STR, O(user), 0, "USER: MQTT user name"},
    {"password", K_STR, O(password), 0, "PASS: MQTT password (better in --config's file)"},
    {"spool", K_PATH, O(spool), 0,
     "FILE: the spool ($STATE_DIRECTORY/spool under systemd, else ./gasket-pub.spool)"},
    {"spool-max", K_SIZE, O(spool_max), 0, "SIZE: the spool's size at most (64MiB)"},
    {"batch", K_LONG, O(batch), 0, "N: readings per _bulk request when catching up (500)"},
    {"timeout", K_SECS, O(timeout), 0, "S: one HTTP request's time at most (30)"},
    {"log-level", K_LEVEL, O(log_level), 0, "error, warn, info (default) or debug"},
    {"config", K_STR, 0, 0, "FILE: read options from FILE (name = value lines)"},
    {"help", K_BOOL, O(help), 0, "this text"},
    {"version", K_BOOL, O(version), 0, "print the version"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const struct opt *find(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

static int takes_value(const struct opt *o)
{
    return o->kind != K_SRC && o->kind != K_BOOL;
}

static int bad(char *err, size_t errlen, const char *where, const char *name, const char *why)
{
    snprintf(err, errlen, "gasket-pub: %s%s%s: %s", where ? where : "", where ? ": " : "--", name,
             why);
    return -1;
}

static int set_source(struct pubopt *p, int src, const char *where, const char *name, char *err,
                      size_t errlen)
{
    if (p->source != PUB_SRC_NONE && p->source != (enum pub_source)src)
        return bad(err, errlen, where, name,
                   "one source only: --sim, --stdin, --exec or --drain");
    p->source = (enum pub_source)src;
    return 0;
}

/* Sets o from its text value (NULL for a flag given without one); file:
 * the config file it comes from, or NULL (the command line). */
static int apply(struct pubopt *p, const struct opt *o, const char *v, const struct kvfile *file,
                 const char *where, char *err, size_t errlen)
{
    char *field = (char *)p + o->off, *end;
    int on = 1;
    if (!takes_value(o) && v && config_parse_bool(v, &on) != 0)
        return bad(err, errlen, where, o->name, "expected true or false");
    switch (o->kind) {
    case K_SRC:
        return on ? set_source(p, o->src, where, o->name, err, errlen) : 0;
    case K_BOOL:
        *(int *)field = on;
        return 0;
    case K_EXEC:
        if (set_source(p, PUB_SRC_EXEC, where, o->name, err, errlen)) return -1;
        __attribute__((fallthrough)); /* the command line is kept as a string */
    case K_STR:
    case K_PATH:
        free(*(char **)field);
        *(char **)field = o->kind == K_PATH && file ? kvfile_path(file, v) : xstrdup(v);
        return 0;
    case K_U64:
    case K_SEED: {
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return bad(err, errlen, where, o->name, "expected a whole number");
        *(uint64_t *)field = n;
        if (o->kind == K_SEED) p->has_seed = 1;
        return 0;
    }
    case K_LONG: {
        long n = strtol(v, &end, 10);
        if (end == v || *end || n < 1 || n > 10000)
            return bad(err, errlen, where, o->name, "expected a number from 1 to 10000");
        *(long *)field = n;
        return 0;
    }
    case K_SECS: {
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d) || d < 0 || d > 86400 * 365.0)
            return bad(err, errlen, where, o->name, "expected seconds, such as 10 or 0.1");
        *(double *)field = d;
        return 0;
    }
    case K_SIZE: {
        size_t n;
        if (config_parse_size(v, &n) != 0)
            return bad(err, errlen, where, o->name, "expected a size, such as 64MiB or 512k");
        *(uint64_t *)field = n;
        return 0;
    }
    case K_LEVEL: {
        int l = log_level_parse(v);
        if (l < 0) return bad(err, errlen, where, o->name, "expected error, warn, info or debug");
        *(int *)field = l;
        return 0;
    }
    }
    return 0;
}

/* Reads the `name = value` lines of path (kvfile.h) into p. */
static int read_config(struct pubopt *p, const char *path, char *err, size_t errlen)
{
    struct kvfile f;
    char why[400], where[512];
    if (kvfile_load(&f, path, why, sizeof why) != 0) {
        snprintf(err, errlen, "gasket-pub: --config %s", why);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        const char *name = f.v[i].key;
        const struct opt *o = find(name, strlen(name));
        snprintf(where, sizeof where, "%s:%d", path, f.v[i].line);
        if (!o || !strcmp(name, "config") || !strcmp(name, "help") || !strcmp(name, "version"))
            rc = bad(err, errlen, where, name, "unknown option");
        else
            rc = apply(p, o, f.v[i].value, &f, where, err, errlen);
    }
    kvfile_free(&f);
    return rc;
}

/* The value of argv[*i] (--name=VALUE or the next argument). */
static const char *arg_value(int argc, char **argv, int *i, const char *eq)
{
    if (eq) return eq + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* A transport named on the command line replaces the config file's other
 * one (--mqtt on a bundle's pub.conf that names a url, and back). */
static void cli_transport(struct pubopt *p, const struct opt *o, int *url, int *mqtt)
{
    int is_url = !strcmp(o->name, "url"), is_mqtt = !strcmp(o->name, "mqtt");
    *url |= is_url;
    *mqtt |= is_mqtt;
    char **other = is_url ? &p->mqtt : is_mqtt ? &p->url : NULL;
    if (other && !(is_url ? *mqtt : *url)) {
        free(*other);
        *other = NULL;
    }
}

static int parse_args(struct pubopt *p, int argc, char **argv, int config_pass, char *err,
                      size_t errlen)
{
    int url = 0, mqtt = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "gasket-pub: unexpected argument %s (see --help)", a);
            return -1;
        }
        const char *eq = strchr(a, '=');
        const struct opt *o = find(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (!o) {
            snprintf(err, errlen, "gasket-pub: unknown option %s (see --help)", a);
            return -1;
        }
        const char *v = takes_value(o) ? arg_value(argc, argv, &i, eq) : eq ? eq + 1 : NULL;
        if (takes_value(o) && !v) return bad(err, errlen, NULL, o->name, "needs a value");
        int is_config = !strcmp(o->name, "config");
        if (is_config && config_pass && read_config(p, v, err, errlen) != 0) return -1;
        if (!is_config && !config_pass) cli_transport(p, o, &url, &mqtt);
        if (!is_config && !config_pass && apply(p, o, v, NULL, NULL, err, errlen) != 0) return -1;
    }
    return 0;
}

/* The host name, made fit for a key (letters, digits, '.', '_', '-'). */
static char *default_name(void)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) strcpy(host, "gasket-pub");
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = '-';
    host[64] = '\0';
    return xstrdup(host);
}

static char *default_spool(void)
{
    const char *dir = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (!dir || !*dir) return xstrdup("./gasket-pub.spool");
    char *colon = strchr(dir, ':'), path[4096];
    snprintf(path, sizeof path, "%.*s/spool", colon ? (int)(colon - dir) : (int)strlen(dir), dir);
    return xstrdup(path);
}

static int check_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64) return -1;
    for (; *n; n++)
        if (*n <= 0x20 || *n >= 0x7f || *n == ':' || *n == '"' || *n == '\\') return -1;
    return 0;
}

static int check(struct pubopt *p, char *err, size_t errlen)
{
    if (p->help || p->version) return 0;
    if (p->source == PUB_SRC_NONE)
        return bad(err, errlen, NULL, "sim", "name a source: --sim, --stdin, --exec CMD or --drain");
    if (!p->url == !p->mqtt) return bad(err, errlen, NULL, "url", "give --url or --mqtt (one)");
    if (p->url && strncmp(p->url, "http://", 7) && strncmp(p->url, "https://", 8))
        return bad(err, errlen, NULL, "url", "must start with http:// or https://");
    if (p->mqtt && !strrchr(p->mqtt, ':'))
        return bad(err, errlen, NULL, "mqtt", "expected HOST:PORT");
    if ((p->cert == NULL) != (p->keyfile == NULL))
        return bad(err, errlen, NULL, "cert", "--cert and --keyfile go together");
    if (p->cert && !p->cafile)
        return bad(err, errlen, NULL, "cafile", "TLS needs --cafile (the server's CA)");
    if (p->interval < 0.001 && (p->source == PUB_SRC_SIM || p->source == PUB_SRC_EXEC))
        return bad(err, errlen, NULL, "interval", "at least 0.001 seconds");
    if (check_name(p->name))
        return bad(err, errlen, NULL, "name",
                   "1 to 64 printable characters without spaces, ':', '\"' or '\\'");
    if (p->spool_max < (64u << 10)) return bad(err, errlen, NULL, "spool-max", "at least 64KiB");
    const char *files[] = {"cacert", p->cacert, "cafile", p->cafile, "cert", p->cert,
                           "keyfile", p->keyfile};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i += 2) {
        if (files[i + 1] && access(files[i + 1], R_OK) != 0) {
            char why[300];
            snprintf(why, sizeof why, "%s: %s", files[i + 1], strerror(errno));
            return bad(err, errlen, NULL, files[i], why);
        }
    }
    return 0;
}

int pubopt_parse(struct pubopt *p, int argc, char **argv, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->interval = 10;
    p->wait = 30;
    p->spool_max = 64u << 20;
    p->batch = 500;
    p->timeout = 30;
    p->log_level = LOG_INFO;
    if (parse_args(p, argc, argv, 1, err, errlen) != 0 ||
        parse_args(p, argc, argv, 0, err, errlen) != 0)
        return -1;
    if (!p->group) p->group = xstrdup("1");
    if (!p->name) p->name = default_name();
    if (!p->spool) p->spool = default_spool();
    if (!p->topic) {
        size_t n = strlen(p->group) + sizeof "gas/";
        p->topic = xmalloc(n);
        snprintf(p->topic, n, "gas/%s", p->group);
    }
    return check(p, err, errlen);
}

void pubopt_free(struct pubopt *p)
{
    char **strs[] = {&p->exec, &p->group, &p->gps, &p->name, &p->url, &p->key,
                     &p->cacert, &p->mqtt, &p->topic, &p->cert, &p->keyfile, &p->cafile,
                     &p->user, &p->password, &p->spool};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

const char *pubopt_usage(void)
{
    static char text[6144];
    if (text[0]) return text;
    size_t n = (size_t)snprintf(
        text, sizeof text,
        "usage: gasket-pub SOURCE (--url URL [--key KEY] | --mqtt HOST:PORT) [options]\n"
        "Takes gas readings and sends them to gasketd (or any server of the same API),\n"
        "keeping them in a spool file until the server has acknowledged them.\n\n");
    for (size_t i = 0; i < NOPTS && n < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "  --%-11s %s\n", opts[i].name,
                              opts[i].help);
    if (n < sizeof text)
        snprintf(text + n, sizeof text - n,
                 "\nExit status: 0 done (or stopped by SIGTERM/SIGINT), 1 runtime failure\n"
                 "(spool unusable), 2 usage, 3 readings left in the spool after --count,\n"
                 "--drain or the end of stdin (the next run sends them), 4 the same, the server\n"
                 "refusing the credentials (401/403). See docs/devices.md.\n");
    return text;
}
