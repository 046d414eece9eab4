/* device.c: `gasket device add|list|revoke`, enrolment in a data directory
 * made by `gasket init` (datadir.h).
 *
 * A device is one principal, [apikey NAME] in the devices file ([server]
 * apikeys_file): its API key, its certificate's CN (NAME, signed by the
 * CA), its route and its group. `add` writes its bundle folder
 * (DIR/devices/NAME: cert.pem, key.pem, ca.pem, pub.conf, sub.conf) under a
 * temporary name and renames it into place, then adds the section (the
 * devices file is rewritten atomically): a failure leaves nothing half
 * written. `revoke` puts the certificate's serial in the CRL and removes
 * the section. Both then send gasketd SIGHUP (its pid file's lock holder):
 * it reads both files again, and disconnects the MQTT clients of a removed
 * principal. The bundle of a revoked device stays, so `list` still shows
 * it and its name stays taken. */
#include "admin/admin.h"
#include "admin/datadir.h"
#include "admin/devices_ini.h"
#include "admin/pki.h"
#include "core/config.h"
#include "core/err.h"
#include "core/file.h"
#include "core/mem.h"
#include "device/kvfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEVICE_DAYS 3650
#define BUNDLE_FILES 5

const char admin_device_usage[] =
    "usage: gasket device add NAME --group G [--dir DIR] [--host HOST] [--days N]\n"
    "       gasket device list [--dir DIR]\n"
    "       gasket device revoke NAME [--dir DIR]\n";

const char admin_device_help[] =
    "\n"
    "Enrols devices into a data directory made by `gasket init` (DIR, default\n"
    "./data), and takes them out. A running gasketd picks the change up at once\n"
    "(SIGHUP to the process holding DIR/gasketd.pid).\n"
    "\n"
    "add NAME --group G\n"
    "    A principal for the device in DIR/devices.ini: an API key, a client\n"
    "    certificate with CN NAME signed by the CA, the route /gasdetector and\n"
    "    the group G (its readings must carry groupid G; over MQTT it publishes\n"
    "    to gas/G and reads the alert topic). Writes the bundle folder\n"
    "    DIR/devices/NAME (cert.pem, key.pem, ca.pem, pub.conf for gasket-pub,\n"
    "    sub.conf for gasket-sub) and prints the command lines for the Pi. NAME:\n"
    "    1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a\n"
    "    digit, not used before; G likewise (a groupid).\n"
    "      --host HOST  the name or address the device reaches gasketd by\n"
    "                   (default: the first name of gasketd's certificate)\n"
    "      --days N     the certificate's lifetime (default 3650)\n"
    "list\n"
    "    Every enrolled device: group, created, last seen by gasketd (its last\n"
    "    request, key login or reading, as of gasketd's last save, every 30 s),\n"
    "    key state (active, removed) and certificate state (valid, expired,\n"
    "    revoked).\n"
    "revoke NAME\n"
    "    Adds the device's certificate to the CRL (DIR/ca/crl.pem) and removes its\n"
    "    principal: its key gets 403, its certificate is refused at the TLS\n"
    "    handshake, its open MQTT connections are closed and its sessions end.\n"
    "\n"
    "  --dir DIR     the data directory (default ./data)\n"
    "  -h, --help    show this help\n";

struct dev_opts {
    const char *dir, *group, *host;
    long days;
};

/* ---- checks ---- */

static int valid_name(const char *s)
{
    return isalnum((unsigned char)s[0]) && config_valid_group(s);
}

/* The configuration of d (with its devices file); 0 or -1 (said). */
static int load_config(const struct datadir *d, struct config *cfg)
{
    char err[600];
    if (config_load(cfg, d->ini, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: %s\n%s", err,
                access(d->ini, F_OK) != 0 ? "(run `gasket init` first, or give --dir)\n" : "");
        return -1;
    }
    if (!cfg->server.apikeys_file) {
        fprintf(stderr, "gasket: %s has no [server] apikeys_file: gasket device keeps its "
                        "devices there\n", d->ini);
        config_free(cfg);
        return -1;
    }
    return 0;
}

/* The principal of cfg that name or its certificate CN would clash with. */
static const struct cfg_apikey *clash(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->napikeys; i++)
        if (strcmp(cfg->apikeys[i].name, name) == 0 ||
            (cfg->apikeys[i].cert_cn && strcmp(cfg->apikeys[i].cert_cn, name) == 0))
            return &cfg->apikeys[i];
    return NULL;
}

static const struct cfg_apikey *device_principal(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->napikeys; i++)
        if (strcmp(cfg->apikeys[i].name, name) == 0 && cfg->apikeys[i].file &&
            strcmp(cfg->apikeys[i].file, cfg->server.apikeys_file) == 0)
            return &cfg->apikeys[i];
    return NULL;
}

/* ---- the bundle ---- */

static const char *const bundle_files[BUNDLE_FILES] = {"cert.pem", "key.pem", "ca.pem", "pub.conf",
                                                       "sub.conf"};

/* dir/name, malloc'ed. */
static char *join(const char *dir, const char *name)
{
    struct buf b = {0};
    buf_printf(&b, "%s/%s", dir, name);
    return buf_steal(&b);
}

static void remove_bundle(const char *dir)
{
    for (size_t i = 0; i < BUNDLE_FILES; i++) {
        char *path = join(dir, bundle_files[i]);
        unlink(path);
        free(path);
    }
    rmdir(dir);
}

/* The port of "HOST:PORT", or dflt. */
static const char *port_of(const char *addr, const char *dflt)
{
    const char *c = addr ? strrchr(addr, ':') : NULL;
    return c && c[1] ? c + 1 : dflt;
}

/* "[::1]" for an IPv6 address in a URL or HOST:PORT, else host. */
static void url_host(const char *host, char *out, size_t len)
{
    snprintf(out, len, strchr(host, ':') ? "[%s]" : "%s", host);
}

struct enrol {
    const char *name, *group, *host, *key;
    const struct config *cfg;
};

static void pub_conf(const struct enrol *e, struct buf *b)
{
    const struct cfg_http *h = &e->cfg->http;
    const struct cfg_mqtt *m = &e->cfg->mqtt;
    char host[300];
    url_host(e->host, host, sizeof host);
    buf_printf(b, "# gasket-pub: device %s of group %s (written by gasket device add).\n"
                  "# File names are relative to this file's folder.\n"
                  "name = %s\ngroup = %s\nkey = %s\n", e->name, e->group, e->name, e->group,
               e->key);
    if (h->tls_listen)
        buf_printf(b, "url = https://%s:%s%s\ncacert = ca.pem\n", host,
                   port_of(h->tls_listen, "8443"), e->cfg->routes[0].path);
    else
        buf_printf(b, "url = http://%s:%s%s\n", host, port_of(h->listen, "8080"),
                   e->cfg->routes[0].path);
    buf_puts(b, "# To publish over MQTT instead of HTTP, remove url and uncomment:\n");
    if (m->tls_listen && m->tls_ca)
        buf_printf(b, "#mqtt = %s:%s\n#cert = cert.pem\n#keyfile = key.pem\n#cafile = ca.pem\n",
                   host, port_of(m->tls_listen, "8883"));
    else
        buf_printf(b, "#mqtt = %s:%s\n#user = %s\n#password = %s\n", host,
                   port_of(m->listen, "1883"), e->name, e->key);
}

static void sub_conf(const struct enrol *e, struct buf *b)
{
    const struct cfg_mqtt *m = &e->cfg->mqtt;
    buf_printf(b, "# gasket-sub: the alerts for device %s (written by gasket device add).\n"
                  "# File names are relative to this file's folder.\n"
                  "host = %s\ntopic = %s\n# a persistent session: alerts sent while it is away "
                  "arrive when it is back\nid = %s-sub\n",
               e->name, e->host, e->cfg->routes[0].topic ? e->cfg->routes[0].topic : "pi/1",
               e->name);
    if (m->tls_listen && m->tls_ca)
        buf_printf(b, "port = %s\ncert = cert.pem\nkeyfile = key.pem\ncafile = ca.pem\n",
                   port_of(m->tls_listen, "8883"));
    else
        buf_printf(b, "port = %s\nuser = %s\npassword = %s\n", port_of(m->listen, "1883"),
                   e->name, e->key);
}

/* Writes text to dir/name with mode, never replacing. */
static int write_in(const char *dir, const char *name, const struct buf *text, int mode, char *err,
                    size_t errlen)
{
    char *path = join(dir, name);
    int rc = file_write(path, text->data, text->len, (mode_t)mode, FILE_EXCL, err, errlen);
    free(path);
    return rc;
}

/* Writes the bundle's files into the folder tmp; 0 or -1 (said). */
static int write_bundle(const struct datadir *d, const struct enrol *e, const char *tmp, long days)
{
    char err[600];
    char *cert = join(tmp, "cert.pem"), *key = join(tmp, "key.pem");
    struct pki_ca *ca = NULL;
    struct buf ca_pem = {0}, pub = {0}, sub = {0};
    struct pki_leaf leaf = {e->name, NULL, 0, 0, (int)days};
    pub_conf(e, &pub);
    sub_conf(e, &sub);
    int rc = pki_ca_load(&ca, d->ca_cert, d->ca_key, err, sizeof err);
    if (rc == 0)
        rc = pki_issue(ca, &leaf, cert, key, err, sizeof err);
    if (rc == 0)
        rc = file_read(d->ca_cert, &ca_pem, 1 << 20, NULL, err, sizeof err);
    if (rc == 0)
        rc = write_in(tmp, "ca.pem", &ca_pem, 0644, err, sizeof err);
    if (rc == 0)
        rc = write_in(tmp, "pub.conf", &pub, 0600, err, sizeof err);
    if (rc == 0)
        rc = write_in(tmp, "sub.conf", &sub, 0600, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "gasket: %s\n", err);
    pki_ca_free(ca);
    free(cert), free(key);
    buf_free(&ca_pem), buf_free(&pub), buf_free(&sub);
    return rc ? -1 : 0;
}

/* Appends the device's section to the devices file; 0 or -1 (said). */
static int add_section(const struct enrol *e, const char *file)
{
    char err[600], when[32];
    struct buf text = {0};
    mode_t mode = 0600;
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    int rc = file_read(file, &text, 16 << 20, &mode, err, sizeof err);
    if (rc == GK_ENOTFOUND)
        rc = 0;
    if (text.len && text.data[text.len - 1] != '\n')
        buf_putc(&text, '\n');
    buf_printf(&text, "\n[apikey %s]\n; enrolled %s: gasket device add %s --group %s\n"
                      "key = %s\ncert_cn = %s\nroutes = %s\ngroups = %s\n",
               e->name, when, e->name, e->group, e->key, e->name, e->cfg->routes[0].path,
               e->group);
    if (rc == 0)
        rc = file_write(file, text.data, text.len, mode, 0, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "gasket: %s\n", err);
    buf_free(&text);
    return rc ? -1 : 0;
}

static void random_key(char out[41])
{
    unsigned char raw[20];
    if (RAND_bytes(raw, sizeof raw) != 1)
        abort(); /* no randomness: no key worth writing */
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The host devices reach gasketd by: --host, else the first name of
 * gasketd's certificate, else localhost. */
static void default_host(const struct datadir *d, const struct dev_opts *o, char *out, size_t len)
{
    struct pki_info info;
    char err[600];
    if (o->host)
        snprintf(out, len, "%s", o->host);
    else if (pki_cert_info(d->server_cert, &info, err, sizeof err) == 0 && info.host[0])
        snprintf(out, len, "%s", info.host);
    else
        snprintf(out, len, "localhost");
}

static void print_enrolled(const struct enrol *e, const char *bundle)
{
    printf("enrolled %s (group %s): API key and certificate CN=%s\n"
           "bundle:  %s\n"
           "         cert.pem key.pem ca.pem pub.conf sub.conf (secret: the device's keys)\n"
           "Copy the bundle to the Pi as /etc/gasket (docs/enrol.md), then run there:\n"
           "  gasket-pub --config /etc/gasket/pub.conf --sim   # or --exec YOUR-SENSOR-SCRIPT\n"
           "  gasket-sub --config /etc/gasket/sub.conf\n",
           e->name, e->group, e->name, bundle);
    datadir_reload(e->cfg->server.data_dir);
}

static int device_add(const struct datadir *d, const char *name, const struct dev_opts *o)
{
    struct config cfg;
    char bundle[2048], tmp[2048], host[256], key[41];
    if (load_config(d, &cfg) != 0)
        return ADMIN_EXIT_FAIL;
    const struct cfg_apikey *other = clash(&cfg, name);
    snprintf(bundle, sizeof bundle, "%s/%s", d->bundles, name);
    int rc = ADMIN_EXIT_FAIL;
    if (other)
        fprintf(stderr, "gasket: %s is taken: [apikey %s] in %s:%d\n", name, other->name,
                other->file ? other->file : d->ini, other->line);
    else if (access(bundle, F_OK) == 0)
        fprintf(stderr, "gasket: %s is taken: %s exists (a revoked device keeps its name)\n",
                name, bundle);
    if (other || access(bundle, F_OK) == 0)
        goto done;
    random_key(key);
    default_host(d, o, host, sizeof host);
    struct enrol e = {name, o->group, host, key, &cfg};
    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", d->bundles, name);
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "gasket: cannot make a folder in %s: %s\n", d->bundles, strerror(errno));
        goto done;
    }
    if (write_bundle(d, &e, tmp, o->days) != 0 || rename(tmp, bundle) != 0) {
        if (errno && access(tmp, F_OK) == 0)
            fprintf(stderr, "gasket: cannot write %s: %s\n", bundle, strerror(errno));
        remove_bundle(tmp);
        goto done;
    }
    if (add_section(&e, cfg.server.apikeys_file) != 0) {
        remove_bundle(bundle);
        goto done;
    }
    datadir_own(d, bundle);
    for (size_t i = 0; i < BUNDLE_FILES; i++) {
        char *path = join(bundle, bundle_files[i]);
        datadir_own(d, path);
        free(path);
    }
    datadir_own(d, cfg.server.apikeys_file);
    print_enrolled(&e, bundle);
    rc = ADMIN_EXIT_OK;
done:
    config_free(&cfg);
    return rc;
}

/* ---- revoke ---- */

/* Puts the serial of the certificate file in d's CRL: 1 when it was there
 * already, 0 when added, -1 on an error (said). */
static int revoke_cert(const struct datadir *d, const struct pki_info *cert)
{
    char err[600];
    struct pki_ca *ca = NULL;
    int rc = pki_crl_lists(d->crl, cert->serial, err, sizeof err);
    if (rc == 0 && (rc = pki_ca_load(&ca, d->ca_cert, d->ca_key, err, sizeof err)) == 0)
        rc = pki_crl_update(ca, d->crl, cert->serial, err, sizeof err);
    pki_ca_free(ca);
    if (rc < 0)
        return fprintf(stderr, "gasket: %s\n", err), -1;
    if (rc == 0)
        datadir_own(d, d->crl);
    return rc;
}

/* Takes [apikey NAME] out of the devices file; 0 or -1 (said). */
static int remove_principal(const char *file, const char *name)
{
    char err[600];
    struct buf text = {0}, out = {0};
    mode_t mode = 0600;
    int rc = file_read(file, &text, 16 << 20, &mode, err, sizeof err);
    if (rc == 0 && devices_ini_remove(text.data, name, &out))
        rc = file_write(file, out.data, out.len, mode, 0, err, sizeof err);
    buf_free(&text), buf_free(&out);
    return rc ? (fprintf(stderr, "gasket: %s\n", err), -1) : 0;
}

/* The CRL first, then the principal: an interrupted revoke is completed
 * by running it again. */
static int device_revoke(const struct datadir *d, const char *name)
{
    struct config cfg;
    struct pki_info cert;
    char err[600], path[4096];
    if (load_config(d, &cfg) != 0)
        return ADMIN_EXIT_FAIL;
    snprintf(path, sizeof path, "%s/%s/cert.pem", d->bundles, name);
    int has_cert = pki_cert_info(path, &cert, err, sizeof err) == 0;
    int had_key = device_principal(&cfg, name) != NULL, listed = 1, rc = 0;
    if (!has_cert && !had_key) {
        fprintf(stderr, "gasket: no device %s in %s\n", name, d->dir);
        rc = -1;
    }
    if (rc == 0 && has_cert)
        rc = (listed = revoke_cert(d, &cert)) < 0 ? -1 : 0;
    if (rc == 0 && had_key)
        rc = remove_principal(cfg.server.apikeys_file, name);
    if (rc == 0 && !had_key && listed) {
        printf("%s was revoked already\n", name);
    } else if (rc == 0) {
        printf("revoked %s: %s%s%s\n", name, had_key ? "principal removed" : "",
               had_key && has_cert ? ", " : "",
               !has_cert ? "" : listed ? "certificate already in the CRL" : "certificate in the CRL");
        datadir_reload(cfg.server.data_dir);
    }
    config_free(&cfg);
    return rc ? ADMIN_EXIT_FAIL : ADMIN_EXIT_OK;
}

/* ---- list ---- */

static void local_time(int64_t unix_s, char *out, size_t len)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M", &tm))
        snprintf(out, len, "?");
}

/* The device's group: its principal's groups, else its bundle's pub.conf. */
static void group_of(const struct config *cfg, const char *dir, const char *name, char *out,
                     size_t len)
{
    const struct cfg_apikey *p = device_principal(cfg, name);
    struct kvfile kv;
    char path[4096], err[600];
    snprintf(out, len, "?");
    if (p && p->groups) {
        snprintf(out, len, "%s", p->groups);
        return;
    }
    snprintf(path, sizeof path, "%s/%s/pub.conf", dir, name);
    if (kvfile_load(&kv, path, err, sizeof err) == 0) {
        const char *g = kvfile_get(&kv, "group");
        snprintf(out, len, "%s", g ? g : "?");
        kvfile_free(&kv);
    }
}

static void list_one(const struct datadir *d, const struct config *cfg, json_t *seen,
                     const char *name)
{
    char cert[4096], err[600], group[128], created[32] = "?", last[32] = "never", until[32],
        state[64] = "missing";
    struct pki_info info;
    snprintf(cert, sizeof cert, "%s/%s/cert.pem", d->bundles, name);
    group_of(cfg, d->bundles, name, group, sizeof group);
    if (pki_cert_info(cert, &info, err, sizeof err) == 0) {
        local_time(info.not_before + PKI_BACKDATE_S, created, sizeof created);
        int revoked = pki_crl_lists(d->crl, info.serial, err, sizeof err);
        if (revoked != 0)
            snprintf(state, sizeof state, "%s", revoked > 0 ? "revoked" : "? (CRL unreadable)");
        else if (info.not_after < (int64_t)time(NULL))
            snprintf(state, sizeof state, "expired");
        else {
            local_time(info.not_after, until, sizeof until);
            snprintf(state, sizeof state, "valid until %.10s", until);
        }
    }
    json_t *ms = json_object_get(seen, name);
    if (json_is_integer(ms))
        local_time(json_integer_value(ms) / 1000, last, sizeof last);
    printf("%-20s %-8s %-17s %-17s %-8s %s\n", name, group, created, last,
           device_principal(cfg, name) ? "active" : "removed", state);
}

static int hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int device_list(const struct datadir *d)
{
    struct config cfg;
    struct dirent **names;
    if (load_config(d, &cfg) != 0)
        return ADMIN_EXIT_FAIL;
    int n = scandir(d->bundles, &names, hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "gasket: %s: %s\n", d->bundles, strerror(errno));
        config_free(&cfg);
        return ADMIN_EXIT_FAIL;
    }
    char path[DATADIR_PATH + 32];
    snprintf(path, sizeof path, "%s/lastseen.json", cfg.server.data_dir);
    json_t *seen = json_load_file(path, 0, NULL);
    printf("%-20s %-8s %-17s %-17s %-8s %s\n", "NAME", "GROUP", "CREATED", "LAST SEEN", "KEY",
           "CERTIFICATE");
    for (int i = 0; i < n; i++) {
        list_one(d, &cfg, seen, names[i]->d_name);
        free(names[i]);
    }
    if (n == 0)
        printf("(no devices: gasket device add NAME --group G --dir %s)\n", d->dir);
    free(names);
    json_decref(seen);
    config_free(&cfg);
    return ADMIN_EXIT_OK;
}

/* ---- the command ---- */

static int usage_error(const char *what)
{
    fprintf(stderr, "gasket: %s\n%s", what, admin_device_usage);
    return ADMIN_EXIT_USAGE;
}

/* Options after the subcommand; the NAME (if wanted) in *name. */
static int parse(int argc, char **argv, struct dev_opts *o, const char **name, int want_name)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},   {"group", required_argument, NULL, 'g'},
        {"host", required_argument, NULL, 'H'},  {"days", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->dir = optarg; break;
        case 'g': o->group = optarg; break;
        case 'H': o->host = optarg; break;
        case 'D':
            o->days = strtol(optarg, &end, 10);
            if (*end || o->days < 1 || o->days > 36500)
                return usage_error("--days takes 1 to 36500");
            break;
        case 'h': return printf("%s%s", admin_device_usage, admin_device_help), -1;
        default: return usage_error("bad option or missing value");
        }
    }
    if (argc - optind != want_name)
        return usage_error(want_name ? "expected one NAME" : "no NAME expected here");
    *name = want_name ? argv[optind] : NULL;
    if (*name && !valid_name(*name))
        return usage_error("NAME must be 1 to 64 letters, digits, '.', '_' or '-', starting "
                           "with a letter or a digit");
    return 0;
}

int admin_device(int argc, char **argv)
{
    struct dev_opts o = {.dir = "data", .days = DEVICE_DAYS};
    struct datadir d;
    const char *name, *sub = argc > 1 ? argv[1] : "";
    char err[600];
    int add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0,
        revoke = strcmp(sub, "revoke") == 0;
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
        return printf("%s%s", admin_device_usage, admin_device_help), ADMIN_EXIT_OK;
    if (!add && !list && !revoke)
        return usage_error(argc > 1 ? "unknown subcommand (add, list or revoke)"
                                    : "expected add, list or revoke");
    int rc = parse(argc - 1, argv + 1, &o, &name, !list);
    if (rc != 0)
        return rc < 0 && rc != ADMIN_EXIT_USAGE ? ADMIN_EXIT_OK : rc;
    if (add && (!o.group || !config_valid_group(o.group)))
        return usage_error(o.group ? "--group takes a groupid: 1 to 64 letters, digits, '.', '_' "
                                     "or '-'"
                                   : "add needs --group G");
    if (!add && (o.group || o.host))
        return usage_error("--group and --host are for add");
    if (datadir_of(&d, o.dir, err, sizeof err) != 0)
        return fprintf(stderr, "gasket: %s\n", err), ADMIN_EXIT_FAIL;
    if (list)
        return device_list(&d);
    if (access(d.ini, F_OK) == 0 && datadir_lock(&d) != 0)
        return ADMIN_EXIT_FAIL;
    return add ? device_add(&d, name, &o) : device_revoke(&d, name);
}
