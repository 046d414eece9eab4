/* init.c: `gasket init [DIR]`: a data directory ready for TLS devices.
 *
 * Makes DIR (0700) and, for each piece that is missing, writes it: the CA
 * (ca/), gasketd's server certificate for the host names and addresses
 * given (tls/), an empty CRL, an empty devices.ini, the MQTT ACL, and
 * gasket.ini with an admin key. A piece that exists is kept and said so:
 * running it again never replaces a CA, a key or the configuration (every
 * file is written with FILE_EXCL). datadir.h lists the files. */
#include "admin/admin.h"
#include "admin/datadir.h"
#include "admin/pki.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/file.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERT_DAYS 3650 /* CA, server and device certificates: ten years */
#define MAX_HOSTS 32

const char admin_init_usage[] = "usage: gasket init [--host NAME]... [DIR]\n";

const char admin_init_help[] =
    "\n"
    "Makes the data directory DIR (default ./data, mode 0700) ready for devices\n"
    "that use TLS: a CA (DIR/ca/ca.pem, ca.key; EC P-256, ten years), gasketd's\n"
    "server certificate signed by it (DIR/tls/server.pem, server.key), an empty\n"
    "CRL (DIR/ca/crl.pem), DIR/devices.ini for `gasket device add`, MQTT access\n"
    "rules (DIR/acl) and DIR/gasket.ini, which turns on HTTPS on 0.0.0.0:8443,\n"
    "MQTT over TLS with client certificates on 0.0.0.0:8883, plain HTTP and MQTT\n"
    "on loopback only, an admin API key and the gas rules. Then:\n"
    "  gasketd -c DIR/gasket.ini\n"
    "\n"
    "What exists is kept (and said so): running it again never replaces a CA, a\n"
    "key or the configuration. To issue a new server certificate (other host\n"
    "names), remove DIR/tls/ and run it again.\n"
    "\n"
    "  --host NAME   a host name or IP address devices reach gasketd by, for the\n"
    "                server certificate (repeat it; the first one goes into the\n"
    "                devices' bundles); default: this machine's name, NAME.local,\n"
    "                localhost, 127.0.0.1 and ::1\n"
    "  -h, --help    show this help\n";

/* The gas rules of gasket.example.ini (a MiCS-6814 board, in ppm). */
static const struct {
    const char *gas, *warn, *alarm;
} rules[] = {
    {"no2", "88", NULL},      {"co", "35", "200"},       {"c2h5oh", "1000", "3300"},
    {"h2", "4000", "10000"},  {"nh3", "25", "50"},       {"ch4", "5000", "12500"},
    {"c3h8", "1000", "2100"}, {"c4h10", "800", "1600"},
};

struct init {
    struct datadir d;
    const char *hosts[MAX_HOSTS];
    size_t nhosts;
    char hostname[256], local[300];
    int created;
};

static void say(struct init *in, const char *path, int created)
{
    printf("%s %s\n", created ? "created" : "kept   ", path);
    if (created)
        datadir_own(&in->d, path);
    in->created += created;
}

static int make_dir(struct init *in, const char *path)
{
    if (mkdir(path, 0700) == 0) {
        say(in, path, 1);
        return 0;
    }
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    fprintf(stderr, "gasket: cannot make the folder %s: %s\n", path,
            errno == EEXIST ? "a file has that name" : strerror(errno));
    return -1;
}

/* Both files of a pair exist (1), neither (0), or one only (-1, said). */
static int pair_state(const char *a, const char *b)
{
    int ha = access(a, F_OK) == 0, hb = access(b, F_OK) == 0;
    if (ha != hb)
        fprintf(stderr, "gasket: %s exists without %s: restore it, or remove both to make "
                        "new ones\n", ha ? a : b, ha ? b : a);
    return ha && hb ? 1 : ha == hb ? 0 : -1;
}

static int ensure_ca(struct init *in, struct pki_ca **ca)
{
    char err[600];
    int st = pair_state(in->d.ca_cert, in->d.ca_key);
    if (st < 0)
        return -1;
    if (st == 0 &&
        pki_ca_create(in->d.ca_cert, in->d.ca_key, "gasket CA", CERT_DAYS, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: %s\n", err);
        return -1;
    }
    say(in, in->d.ca_cert, st == 0);
    say(in, in->d.ca_key, st == 0);
    if (pki_ca_load(ca, in->d.ca_cert, in->d.ca_key, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: the CA: %s\n", err);
        return -1;
    }
    return 0;
}

static int ensure_server(struct init *in, struct pki_ca *ca)
{
    char err[600];
    int st = pair_state(in->d.server_cert, in->d.server_key);
    if (st < 0)
        return -1;
    struct pki_leaf leaf = {in->hosts[0], in->hosts, in->nhosts, 1, CERT_DAYS};
    if (st == 0 && pki_issue(ca, &leaf, in->d.server_cert, in->d.server_key, err, sizeof err)) {
        fprintf(stderr, "gasket: %s\n", err);
        return -1;
    }
    say(in, in->d.server_cert, st == 0);
    say(in, in->d.server_key, st == 0);
    return 0;
}

static int ensure_crl(struct init *in, struct pki_ca *ca)
{
    char err[600];
    int exists = access(in->d.crl, F_OK) == 0;
    if (!exists && pki_crl_update(ca, in->d.crl, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: %s\n", err);
        return -1;
    }
    say(in, in->d.crl, !exists);
    return 0;
}

/* Writes text to path unless it exists. */
static int ensure_file(struct init *in, const char *path, const struct buf *text, int mode)
{
    char err[600];
    int rc = file_write(path, text->data, text->len, (mode_t)mode, FILE_EXCL, err, sizeof err);
    if (rc != 0 && rc != GK_EEXIST) {
        fprintf(stderr, "gasket: %s\n", err);
        return -1;
    }
    say(in, path, rc == 0);
    return 0;
}

static void acl_text(struct buf *b)
{
    buf_puts(b, "# MQTT access rules written by `gasket init` (Mosquitto's acl_file syntax,\n"
                "# docs/mqtt.md). Every device reads the alert topic and publishes readings;\n"
                "# its principal's routes and groups decide which readings are taken. Read\n"
                "# at start only: restart gasketd after changing this file.\n"
                "pattern read pi/1\n"
                "pattern write gas/+\n"
                "\n"
                "# The operator (the admin key: mosquitto_sub -u admin -P KEY)\n"
                "user admin\n"
                "topic readwrite #\n");
}

static void ini_text(struct init *in, struct buf *b)
{
    unsigned char raw[20];
    char key[41];
    if (RAND_bytes(raw, sizeof raw) != 1)
        abort(); /* no randomness: nothing safe to write */
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(key + 2 * i, 3, "%02x", raw[i]);
    const struct datadir *d = &in->d;
    buf_printf(b,
               "; gasketd's configuration, written by `gasket init` (docs/enrol.md;\n"
               "; every key: docs/config.md). Start: gasketd -c %s\n"
               "; Devices: gasket device add NAME --group G --dir %s\n\n"
               "[server]\ndata_dir = %s\n"
               "; the devices' principals, kept by `gasket device add|revoke`\n"
               "apikeys_file = %s\n\n"
               "[http]\n; plain HTTP on this machine only; HTTPS for the network\n"
               "listen = 127.0.0.1:8080\ntls_listen = 0.0.0.0:8443\n"
               "tls_cert = %s\ntls_key = %s\n\n"
               "[mqtt]\n; plain MQTT on this machine only; TLS with client certificates of\n"
               "; the CA for the network (as IoT Core on 8883)\n"
               "listen = 127.0.0.1:1883\ntls_listen = 0.0.0.0:8883\n"
               "tls_cert = %s\ntls_key = %s\ntls_ca = %s\ntls_crl = %s\nacl_file = %s\n\n"
               "; The operator's key: every route, index and alarm, and /metrics.\n"
               "[apikey admin]\nkey = %s\nadmin = true\n\n"
               "[route /gasdetector]\ntopic = pi/1\n",
               d->ini, d->dir, d->dir, d->devices, d->server_cert, d->server_key, d->server_cert,
               d->server_key, d->ca_cert, d->crl, d->acl, key);
    buf_puts(b, "\n; The gases of a MiCS-6814 board in ppm (gasket.example.ini says where the\n"
                "; levels come from).\n");
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        buf_printf(b, "[rule %s]\nfield = %s.value\nwarn = %s\n", rules[i].gas, rules[i].gas,
                   rules[i].warn);
        if (rules[i].alarm)
            buf_printf(b, "alarm = %s\n", rules[i].alarm);
        buf_puts(b, "unit = ppm\n");
    }
}

static int write_files(struct init *in)
{
    struct pki_ca *ca = NULL;
    struct buf devices = {0}, acl = {0}, ini = {0};
    buf_puts(&devices, "; The devices' principals, written by `gasket device add|revoke`.\n");
    acl_text(&acl);
    ini_text(in, &ini);
    int rc = make_dir(in, in->d.dir) || make_dir(in, in->d.ca_dir) || make_dir(in, in->d.tls_dir) ||
             make_dir(in, in->d.bundles) || ensure_ca(in, &ca) || ensure_server(in, ca) ||
             ensure_crl(in, ca) || ensure_file(in, in->d.devices, &devices, 0600) ||
             ensure_file(in, in->d.acl, &acl, 0600) || ensure_file(in, in->d.ini, &ini, 0600);
    pki_ca_free(ca);
    buf_free(&devices), buf_free(&acl), buf_free(&ini);
    return rc;
}

/* The default names: this machine's name, NAME.local, loopback. */
static void default_hosts(struct init *in)
{
    if (gethostname(in->hostname, sizeof in->hostname - 1) == 0 && in->hostname[0] &&
        strcmp(in->hostname, "localhost") != 0) {
        in->hosts[in->nhosts++] = in->hostname;
        if (!strchr(in->hostname, '.')) {
            snprintf(in->local, sizeof in->local, "%s.local", in->hostname);
            in->hosts[in->nhosts++] = in->local;
        }
    }
    static const char *const loop[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++)
        in->hosts[in->nhosts++] = loop[i];
}

static int valid_host(const char *h)
{
    size_t n = strlen(h);
    return n > 0 && n < 254 && strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789.-:*") == n;
}

int admin_init(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct init in = {0};
    char err[600];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return printf("%s%s", admin_init_usage, admin_init_help), ADMIN_EXIT_OK;
        if (c != 'H' || !valid_host(optarg) || in.nhosts == MAX_HOSTS) {
            fprintf(stderr, "gasket: %s\n%s",
                    c == 'H' ? "--host takes a host name or an IP address (at most 32)"
                             : "bad option or missing value",
                    admin_init_usage);
            return ADMIN_EXIT_USAGE;
        }
        in.hosts[in.nhosts++] = optarg;
    }
    if (argc - optind > 1)
        return fprintf(stderr, "gasket: one DIR at most\n%s", admin_init_usage), ADMIN_EXIT_USAGE;
    if (datadir_of(&in.d, optind < argc ? argv[optind] : "data", err, sizeof err) != 0)
        return fprintf(stderr, "gasket: %s\n", err), ADMIN_EXIT_FAIL;
    if (in.nhosts == 0)
        default_hosts(&in);
    if (access(in.d.dir, F_OK) == 0 && datadir_lock(&in.d) != 0)
        return ADMIN_EXIT_FAIL;
    if (write_files(&in) != 0)
        return ADMIN_EXIT_FAIL;
    printf("%s %s is ready%s.\n"
           "Start gasketd:    gasketd -c %s\n"
           "Enrol a device:   gasket device add NAME --group G --dir %s\n",
           in.created ? "gasket init:" : "gasket init: nothing to do,", in.d.dir,
           in.created ? "" : " (every file exists and was kept)", in.d.ini, in.d.dir);
    return ADMIN_EXIT_OK;
}
