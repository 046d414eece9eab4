/* send_http.h: gasket-pub's HTTP transport (libcurl, one easy handle kept
 * for keep-alive, driven by the caller's multi handle).
 *
 * One request at a time. A single reading is a POST to --url with
 * `x-api-key` and `Idempotency-Key`; its 2xx reply names the route's index
 * (`_index`). Once that is known and several readings wait (catching up
 * after an outage), up to --batch of them go as one POST /_bulk on the same
 * server, each with its key as the action's `idempotency_key`: one round
 * trip and one commit for hundreds of readings, in order. A server whose
 * /_bulk refuses the request as a whole (401, 403, 404, 405: not gasketd,
 * or a proxy that only forwards the route) gets single POSTs from then on;
 * a 413 halves the batch. What each answer means for a reading: send.h
 * (2xx: OK; 429, 5xx, no answer: RETRY, honouring Retry-After; 401, 403,
 * 404: REFUSED; any other 4xx: DROP with the server's reason). */
#ifndef GASKET_DEVICE_SEND_HTTP_H
#define GASKET_DEVICE_SEND_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "device/send.h"
#include "device/spool.h"

struct http_sender;
struct pubopt;

/* Returns 0, or -1 with the reason in err. */
int http_sender_new(struct http_sender **out, CURLM *multi, const struct pubopt *o, char *err,
                    size_t errlen);
void http_sender_free(struct http_sender *h);
/* How many readings the next request may carry (1 or --batch). */
size_t http_sender_room(const struct http_sender *h);
/* Starts a request for items[0..n) (n <= http_sender_room()); keys are
 * key_prefix followed by each item's seq. */
void http_sender_start(struct http_sender *h, const struct spool_item *items, size_t n,
                       const char *key_prefix);
int http_sender_busy(const struct http_sender *h);
/* For a finished transfer of the multi handle: when it is h's, fills
 * res[0..*n) (one per reading sent, in order), *retry_after_ms (0: none)
 * and *at_once (retry without a backoff: the transport changed its way),
 * and returns 1; else 0. res has room for the request's readings. */
int http_sender_finish(struct http_sender *h, CURLMsg *msg, struct send_result *res, size_t *n,
                       uint64_t *retry_after_ms, int *at_once);

#endif
