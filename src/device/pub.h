/* pub.h: gasket-pub's run: take readings from the source, keep them in the
 * spool, deliver them through the transport, until the source ends (and
 * the spool is empty, or --wait runs out) or a signal stops it.
 *
 * One thread runs everything (libmosquitto adds its network thread, see
 * send_mqtt.h): a loop around curl_multi_poll() that waits for the next
 * reading's time, the next retry's time, stdin, the --exec command's
 * output, SIGTERM/SIGINT (a signalfd) and the transports, and blocks on
 * nothing else (every file write is a spool append of one reading). */
#ifndef GASKET_DEVICE_PUB_H
#define GASKET_DEVICE_PUB_H

struct pubopt;

/* Exit statuses (documented in docs/devices.md and --help). */
enum pub_exit {
    PUB_EXIT_OK = 0,      /* done, or stopped by a signal (the spool keeps the rest) */
    PUB_EXIT_FAIL = 1,    /* runtime failure: the spool cannot be used, no source */
    PUB_EXIT_USAGE = 2,   /* bad options or config file */
    PUB_EXIT_PENDING = 3, /* the run ended (--count, --drain, end of stdin) with readings
                             left in the spool after --wait: the next run sends them */
    PUB_EXIT_REFUSED = 4, /* the same, the server refusing the credentials (401/403) */
};

/* Runs with the parsed options; returns the exit status. */
int pub_run(const struct pubopt *o);

#endif
