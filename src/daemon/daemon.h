/* daemon.h: gasketd as one object: configuration, store, gateway and
 * listeners wired together on one libuv loop, with the signals that drive
 * it (SIGINT/SIGTERM: drain and exit 0; SIGHUP: reload keys, routes and
 * limits without dropping connections).
 *
 * This is the top library layer: it is the only place that knows every
 * module, so the modules themselves only look down. */
#ifndef GASKET_DAEMON_DAEMON_H
#define GASKET_DAEMON_DAEMON_H

struct gasket;

/* Loads the configuration (NULL: embedded defaults), opens the store and
 * starts listening. Returns NULL after logging why when the configuration
 * is refused; once handles are open on the loop, a failure to start (port
 * taken, store unusable) logs why and exits the process with status 1. */
struct gasket *gasket_start(const char *config_path);
/* Runs until a stop signal has drained everything; returns the exit code. */
int gasket_run(struct gasket *g);

#endif
