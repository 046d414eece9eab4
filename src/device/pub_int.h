/* pub_int.h: what pub.c (the loop and the sources) and pub_send.c (the
 * delivery) share. */
#ifndef GASKET_DEVICE_PUB_INT_H
#define GASKET_DEVICE_PUB_INT_H

#include <curl/curl.h>
#include <stdint.h>

#include "device/backoff.h"
#include "device/payload.h"
#include "device/send.h"
#include "device/sim.h"
#include "device/source.h"

#define PUB_DONE_MAX 64 /* readings answered out of order, waiting for the ones before */

struct pub {
    const struct pubopt *o;
    struct spool *sp;
    char key_prefix[96]; /* "NAME:SPOOLID:" */
    CURLM *multi;
    struct http_sender *http;
    struct mqtt_sender *mq;
    struct backoff bo;
    struct sim sim;
    struct payload_ctx pctx;
    struct linebuf lb;
    char **exec_argv;
    struct runner run;
    uint64_t run_deadline;
    int sigfd;
    /* the source */
    uint64_t taken;         /* readings taken */
    uint64_t next_sample;   /* clock_mono_ms() of the next reading */
    uint64_t last_reading;  /* of the last reading, or the start (--wait) */
    int source_done, stop;
    /* the delivery */
    uint64_t next_try;      /* no send before */
    uint64_t connect_since; /* MQTT: connecting since */
    struct send_result *res;
    size_t res_cap;
    uint64_t done[PUB_DONE_MAX]; /* answered, above the spool's acknowledged */
    size_t ndone;
    int failing, refused;
    uint64_t fail_since, fail_logged;
    uint64_t delivered, dropped;
    int fatal; /* the spool failed: exit 1 */
};

/* pub_send.c */
int pub_send_init(struct pub *p, char *err, size_t errlen);
void pub_send_free(struct pub *p);
/* Sends what the transport has room for, when it is time. */
void pub_send(struct pub *p, uint64_t now);
/* Collects the transports' answers (after curl_multi_perform). */
void pub_collect(struct pub *p, uint64_t now);
/* Nothing sent is waiting for an answer. */
int pub_idle(const struct pub *p);
/* When pub_send() next needs to run (UINT64_MAX: on an event only). */
uint64_t pub_send_due(const struct pub *p, uint64_t now);

/* pub.c: appends one reading's body to the spool (sync: fsync now). */
void pub_keep(struct pub *p, const char *body, size_t len, int sync);

#endif
