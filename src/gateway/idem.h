/* idem.h: idempotency keys as the gateway takes them from clients.
 *
 * A client names a document with a key of its own: the `Idempotency-Key`
 * header of a POST on a route or on /{index}/_doc, the `idempotency_key`
 * member of a _bulk action's metadata, or the MQTT 5 user property
 * `idempotency-key` of a telemetry PUBLISH. Keys are scoped to the
 * principal that sends them: the store sees "<principal>\n<key>" (a newline
 * is in no principal name nor key), with a fingerprint of the document's
 * bytes as sent (idem_fingerprint), and stores at most one document per
 * such key within [server] idempotency_window (store.h). */
#ifndef GASKET_GATEWAY_IDEM_H
#define GASKET_GATEWAY_IDEM_H

#include <stddef.h>
#include <stdint.h>

#define IDEM_KEY_MAX 200 /* characters of a client's key */
#define IDEM_HEADER  "Idempotency-Key"
#define IDEM_BULK    "idempotency_key"
#define IDEM_MQTT    "idempotency-key"

/* A client's key, as read from a request. */
struct idem_key {
    const char *key; /* NULL: none given */
    size_t len;
};

/* Checks s[0..len) as a client's key: 1 to IDEM_KEY_MAX characters from
 * 0x20-0x7E other than '"' and '\'. One pair of surrounding double quotes
 * (a structured-field string, as the IETF draft writes the header) is
 * taken off first: *key and *klen are what remains. Returns 0, or
 * GK_EINVAL with the reason in err. */
int idem_key_check(const char *s, size_t len, const char **key, size_t *klen, char *err,
                   size_t errlen);
/* "<principal>\n<key>" into out (malloc'd, *outlen bytes, NUL-terminated). */
char *idem_scoped(const char *principal, const struct idem_key *k, size_t *outlen);
/* The fingerprint of a document's bytes as sent. */
uint64_t idem_fingerprint(const char *body, size_t len);

#endif
