/* send.h: what gasket-pub's transports (send_http.c, send_mqtt.c) report
 * about each reading they sent, in the order they were sent. */
#ifndef GASKET_DEVICE_SEND_H
#define GASKET_DEVICE_SEND_H

#include <stdint.h>

enum send_verdict {
    SEND_OK,      /* acknowledged: leaves the spool */
    SEND_DROP,    /* refused for good (bad data: a 4xx other than 429): leaves the spool */
    SEND_RETRY,   /* unreachable, 5xx, 429, a lost connection: sent again after a backoff */
    SEND_REFUSED, /* the server refuses us (401, 403, MQTT not authorized): kept, retried
                     after a long backoff, and the exit status says so */
};

struct send_result {
    uint64_t seq;
    enum send_verdict verdict;
    char reason[240]; /* for the log: the server's own words when it gave some */
};

#endif
