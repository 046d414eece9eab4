/* alert.h: which MQTT messages are alerts, for gasket-sub --on-warning.
 *
 * gasketd's rules publish {"warning":"no2 warning"}, {"alarm":"no2 alarm"}
 * and {"emergency":"emergency"} (docs/api.md); a message is that kind of
 * alert when it is a JSON object with that member (the most severe wins:
 * emergency, alarm, warning). Anything else, JSON or not, is no alert.
 * The payload comes from the network: alert_classify() reads it with
 * jansson and never fails (tests/fuzz/fuzz_alert.c). */
#ifndef GASKET_DEVICE_ALERT_H
#define GASKET_DEVICE_ALERT_H

#include <stddef.h>

enum alert_kind { ALERT_NONE, ALERT_WARNING, ALERT_ALARM, ALERT_EMERGENCY };

/* The kind of payload[0..len); text gets the member's value when it is a
 * string (cut to textlen - 1 bytes, at a NUL if it holds one), else "". */
enum alert_kind alert_classify(const void *payload, size_t len, char *text, size_t textlen);
/* "warning", "alarm", "emergency" or "none". */
const char *alert_kind_name(enum alert_kind k);

#endif
