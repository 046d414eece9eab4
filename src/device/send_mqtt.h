/* send_mqtt.h: gasket-pub's MQTT transport (libmosquitto, MQTT 5, QoS 1).
 *
 * Each reading is one PUBLISH to --topic (gas/<group>) at QoS 1 carrying
 * its idempotency key as the user property `idempotency-key`; gasketd
 * sends PUBACK after the commit. Up to MQTT_SENDER_WINDOW readings are in
 * flight at once, in order. TLS with --cafile (and --cert/--keyfile for a
 * client certificate), or --user/--password.
 *
 * A thread of its own connects each new client, and libmosquitto's thread
 * (mosquitto_loop_start) runs the connection; they only queue what
 * happened (under a mutex) and wake the caller's multi handle
 * (curl_multi_wakeup), whose thread collects it with mqtt_sender_poll().
 * A failed or lost connection is not resumed: the client is dropped
 * (mqtt_sender_reset) and a new one made after a backoff, and the readings
 * that were in flight are sent again from the spool (their keys make that
 * harmless). PUBACK reason codes: below 0x80 OK, 0x99 (payload
 * format invalid) DROP, 0x87 (not authorized) REFUSED, others RETRY. */
#ifndef GASKET_DEVICE_SEND_MQTT_H
#define GASKET_DEVICE_SEND_MQTT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "device/send.h"
#include "device/spool.h"

#define MQTT_SENDER_WINDOW 32

enum mqtt_sender_state { MQTT_SENDER_DOWN, MQTT_SENDER_CONNECTING, MQTT_SENDER_UP };

struct mqtt_sender;
struct pubopt;

/* Returns 0, or -1 with the reason in err (a bad --mqtt, TLS files). */
int mqtt_sender_new(struct mqtt_sender **out, CURLM *wake, const struct pubopt *o, char *err,
                    size_t errlen);
void mqtt_sender_free(struct mqtt_sender *m);
/* Starts connecting a fresh client. Returns 0, or -1 (err) when it could
 * not even start (name resolution, ...): try again after a backoff. */
int mqtt_sender_connect(struct mqtt_sender *m, char *err, size_t errlen);
/* Drops the client and what was in flight. */
void mqtt_sender_reset(struct mqtt_sender *m);
enum mqtt_sender_state mqtt_sender_state(const struct mqtt_sender *m);
/* Readings that may be published now (0 unless up). */
size_t mqtt_sender_room(const struct mqtt_sender *m);
/* The highest seq in flight (0: none), to peek the spool after it. */
uint64_t mqtt_sender_last_seq(const struct mqtt_sender *m);
/* Publishes one reading. Returns 0, or -1 (the connection is gone: the
 * state is DOWN). */
int mqtt_sender_publish(struct mqtt_sender *m, const struct spool_item *it, const char *key_prefix);
/* What happened since the last call: the acknowledged readings into
 * res[0..returned) (at most cap), and *changed set when the connection
 * came up, failed or went down (why: what the broker or libmosquitto
 * said; *refused when it refused our credentials). */
size_t mqtt_sender_poll(struct mqtt_sender *m, struct send_result *res, size_t cap, int *changed,
                        int *refused, char *why, size_t whylen);

#endif
