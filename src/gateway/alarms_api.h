/* alarms_api.h: GET /alarms and POST /alarms/{id}/ack, the HTTP side of the
 * alarm history (rules/history.h). The gateway parses the request (the
 * query string into a struct history_filter, the principal into a scope)
 * and hands rules a struct; the history answers later, off the loop. */
#ifndef GASKET_GATEWAY_ALARMS_API_H
#define GASKET_GATEWAY_ALARMS_API_H

#include "rules/history.h"

#include <stddef.h>

struct gateway;
struct http_req;

/* Handles path when it is /alarms or /alarms/...; returns 0 when it is
 * neither (or no history is set). An x-api-key or a dashboard session
 * required (gateway_authorize: 401 without either, 403 for an unknown key);
 * a principal sees and acknowledges the alarms of its routes only (an
 * unknown or out-of-scope id is 404), an admin or a key without a routes
 * list every alarm; a dashboard session sees every alarm, and only an
 * admin's acknowledges (a viewer's ack is 403); acked_by is the key's or
 * the dashboard user's name. */
int alarms_api_handle(struct gateway *g, struct http_req *req, const char *path);

/* Fills f from the query string of GET /alarms (without the '?'; NULL or ""
 * for none): `active=true|false`, `group=` (percent-decoded, '+' a space),
 * `since=` as epoch milliseconds or ISO 8601 with a zone (2026-11-26T08:00:00Z,
 * with optional .fff fraction and a Z, +HH:MM or -HH:MM zone; a date alone
 * is its midnight UTC), `limit=1..1000`. f's scope is left NULL (every
 * route). Returns 0, or GK_EINVAL with a reason that starts with the
 * parameter's name in err: an unknown parameter, one given twice or without
 * a value, a bad value or bad percent-encoding. */
int alarms_filter_parse(const char *query, struct history_filter *f, char *err, size_t errlen);

#endif
