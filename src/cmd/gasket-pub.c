/* gasket-pub.c: the device's publisher: takes gas readings (a simulated
 * MiCS-6814, the user's script on stdin, or a command run each interval),
 * keeps each in a spool file and sends it to gasketd over HTTP(S) or MQTT
 * until the server acknowledged it, exactly once (idempotency keys).
 * Options: device/pubopt.h; the run: device/pub.h; docs/devices.md. */
#include "core/log.h"
#include "core/version.h"
#include "device/pub.h"
#include "device/pubopt.h"

#include <curl/curl.h>
#include <mosquitto.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    struct pubopt o;
    char err[512];
    if (pubopt_parse(&o, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        pubopt_free(&o);
        return PUB_EXIT_USAGE;
    }
    if (o.help || o.version) {
        fputs(o.help ? pubopt_usage() : "gasket-pub " GASKET_VERSION "\n", stdout);
        pubopt_free(&o);
        return PUB_EXIT_OK;
    }
    log_set_level((enum log_level)o.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mosquitto_lib_init();
    int rc = pub_run(&o);
    mosquitto_lib_cleanup();
    curl_global_cleanup();
    pubopt_free(&o);
    return rc;
}
