/* metrics.h: request counters of the gateway and the Prometheus text
 * exposition of everything gasketd counts. */
#ifndef GASKET_GATEWAY_METRICS_H
#define GASKET_GATEWAY_METRICS_H

#include <stdint.h>

#include "core/buf.h"

struct store_stats;
struct mqtt_broker_stats;

struct metrics {
    struct metrics_req *req; /* requests by (route, status) */
    size_t nreq;
    uint64_t rejected;       /* readings refused by validation */
};

/* Counts one answered request; `route` is a configured route's path or a
 * fixed label ("/healthz", "/metrics", "other"). */
void metrics_count(struct metrics *m, const char *route, int status);
/* Writes the exposition: requests, readings, commit latency, connections,
 * and the broker's counters when mq is not NULL. */
void metrics_render(const struct metrics *m, const struct store_stats *st, unsigned connections,
                    const struct mqtt_broker_stats *mq, struct buf *out);
void metrics_free(struct metrics *m);

#endif
