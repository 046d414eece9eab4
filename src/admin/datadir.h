/* datadir.h: the files of a data directory that `gasket init` made, and
 * what the admin commands do around them.
 *
 *   DIR/gasket.ini        gasketd's configuration (gasketd -c DIR/gasket.ini)
 *   DIR/devices.ini       the devices' [apikey] sections ([server] apikeys_file)
 *   DIR/acl               MQTT access rules ([mqtt] acl_file)
 *   DIR/ca/ca.pem, ca.key the CA; DIR/ca/crl.pem its revocation list
 *   DIR/tls/server.pem, server.key  gasketd's certificate (HTTPS, MQTT TLS)
 *   DIR/devices/NAME/     a device's bundle (gasket device add)
 *
 * and gasketd's own files in its data_dir (DIR as gasket init writes it):
 * gasketd.pid, locked while it runs (core/pidfile.h), and lastseen.json
 * (gateway/seen.h).
 *
 * Paths are absolute, so the configuration works from any folder. */
#ifndef GASKET_ADMIN_DATADIR_H
#define GASKET_ADMIN_DATADIR_H

#include <stddef.h>

#define DATADIR_PATH 1024

struct datadir {
    char dir[DATADIR_PATH];
    char ini[DATADIR_PATH + 32], devices[DATADIR_PATH + 32], acl[DATADIR_PATH + 32];
    char ca_dir[DATADIR_PATH + 32], ca_cert[DATADIR_PATH + 32], ca_key[DATADIR_PATH + 32];
    char crl[DATADIR_PATH + 32];
    char tls_dir[DATADIR_PATH + 32], server_cert[DATADIR_PATH + 32], server_key[DATADIR_PATH + 32];
    char bundles[DATADIR_PATH + 32];
};

/* Fills d for dir (made absolute; it need not exist yet). 0, or GK_EINVAL
 * with the reason (a path too long or holding a newline). */
int datadir_of(struct datadir *d, const char *dir, char *err, size_t errlen);
/* Serializes the commands that change d (two `gasket device add` at once
 * would each rewrite devices.ini from what it read): takes an exclusive
 * lock on DIR/.admin.lock, waiting for another command holding it, for as
 * long as the process runs. 0, or -1 when DIR cannot hold the file (said
 * on stderr). */
int datadir_lock(const struct datadir *d);
/* After a change gasketd must see: sends SIGHUP to the gasketd holding
 * data_dir/gasketd.pid (the configuration's data_dir, DIR after gasket
 * init) and says so on stdout, or says why it could not. */
void datadir_reload(const char *data_dir);
/* When running as root in a directory owned by another user (gasketd's),
 * gives path to that user, so that gasketd can read what root wrote. */
void datadir_own(const struct datadir *d, const char *path);

#endif
