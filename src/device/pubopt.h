/* pubopt.h: gasket-pub's options, from the command line and from a
 * config file (--config FILE).
 *
 * One table (pubopt.c) declares every option once: its name, whether it
 * takes a value, its help line. On the command line an option is
 * `--name VALUE` or `--name=VALUE` (a flag: `--name`); in the file it is a
 * line `name = VALUE` (a flag: `name = true|false`), with blank lines and
 * lines starting with `#` or `;` ignored, values taken as they are (no
 * quotes: `gps = 37.61, 126.99`; device/kvfile.h), a relative file name
 * (cacert, cert, keyfile, cafile, spool) taken from the file's folder, so
 * that a bundle works wherever it is copied. The command line wins over
 * the file (--mqtt there replaces the file's url, and --url its mqtt).
 * These are the names `gasket device add` writes into a device's
 * gasket-pub.conf (url, key, cacert, mqtt, cert, keyfile, cafile, user,
 * password, group, gps, interval, spool, name, ...). */
#ifndef GASKET_DEVICE_PUBOPT_H
#define GASKET_DEVICE_PUBOPT_H

#include <stddef.h>
#include <stdint.h>

enum pub_source { PUB_SRC_NONE, PUB_SRC_SIM, PUB_SRC_STDIN, PUB_SRC_EXEC, PUB_SRC_DRAIN };

struct pubopt {
    enum pub_source source;
    char *exec;        /* --exec's command line */
    uint64_t seed;     /* --seed; has_seed 0: from the clock */
    int has_seed;
    double interval;   /* s */
    uint64_t count;    /* 0: no end */
    double wait;       /* s to keep delivering after the last reading; 0: forever */
    char *group, *gps, *name;
    char *url, *key, *cacert;
    char *mqtt, *topic, *cert, *keyfile, *cafile, *user, *password;
    char *spool;
    uint64_t spool_max;
    long batch;        /* readings per _bulk request at most */
    double timeout;    /* s per HTTP request */
    int log_level;
    int help, version;
};

/* Fills o from argv (and the --config file it names). Returns 0, or -1
 * with "gasket-pub: ..." in err (a usage error: exit 2). Defaults: see
 * pubopt_usage(). */
int pubopt_parse(struct pubopt *o, int argc, char **argv, char *err, size_t errlen);
void pubopt_free(struct pubopt *o);
/* The --help text. */
const char *pubopt_usage(void);

#endif
