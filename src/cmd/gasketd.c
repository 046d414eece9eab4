/* gasketd.c: the daemon's main: options, then daemon.c does the rest. */
#include "core/config.h"
#include "core/log.h"
#include "daemon/daemon.h"

#include <getopt.h>
#include <malloc.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gasketd [-c FILE] [-t] [-l LEVEL]\n"
            "\n"
            "gasket: a self-hosted gas-sensor telemetry hub (HTTP ingest, store, alerts).\n"
            "\n"
            "  -c, --config FILE     read the INI configuration FILE (see gasket.example.ini);\n"
            "                        without it the embedded defaults apply: data in ./data,\n"
            "                        HTTP on 0.0.0.0:8080, an API key created in ./data/apikey\n"
            "  -t, --check           check the configuration and exit (0 when valid)\n"
            "  -l, --log-level LEVEL error, warn, info or debug (overrides [server] log_level)\n"
            "  -h, --help            show this help\n"
            "  -V, --version         show the version\n"
            "\n"
            "Signals: SIGINT/SIGTERM finish requests in flight, commit and exit 0;\n"
            "SIGHUP reloads API keys (apikeys_file too), routes, limits and [mqtt] tls_crl\n"
            "without dropping connections.\n");
}

/* Lets the process open as many files as its hard limit allows. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int check_only(const char *path)
{
    struct config c;
    char err[600];
    if (config_load(&c, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s: ok (%zu route(s), %zu API key(s))\n", path ? path : "defaults", c.nroutes,
           c.napikeys);
    config_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int check = 0, level = -1, c;
    /* no global memory statistics: each SQLite allocation took a mutex */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Fixed malloc thresholds: glibc's dynamic ones let a heap's free top
     * above ~300 KB go back to the kernel at every free, so each search
     * reply (a 24 h histogram: ~140 KB, built and copied a few times)
     * faulted its pages in again: 0.72 -> 0.52 ms a query, +40% queries/s
     * (docs/benchmarks.md). An arena keeps at most 2 MiB free; blocks of
     * 1 MiB and more are mapped and unmapped on their own. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
    while ((c = getopt_long(argc, argv, "c:tl:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'l':
            if ((level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "gasketd: bad log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("gasketd %s\n", GASKET_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (check)
        return check_only(path);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    struct gasket *g = gasket_start(path);
    if (!g)
        return 1;
    if (level >= 0)
        log_set_level((enum log_level)level);
    return gasket_run(g);
}
