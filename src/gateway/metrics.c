/* metrics.c: counters and the Prometheus text format (version 0.0.4). */
#include "gateway/metrics.h"
#include "core/mem.h"
#include "mqtt/broker.h"
#include "store/store.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct metrics_req {
    char *route;
    int status;
    uint64_t count;
};

void metrics_count(struct metrics *m, const char *route, int status)
{
    for (size_t i = 0; i < m->nreq; i++) {
        if (m->req[i].status == status && strcmp(m->req[i].route, route) == 0) {
            m->req[i].count++;
            return;
        }
    }
    m->req = xrealloc(m->req, (m->nreq + 1) * sizeof *m->req);
    m->req[m->nreq++] = (struct metrics_req){xstrdup(route), status, 1};
}

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_latency(const struct store_stats *st, struct buf *out)
{
    family(out, "gasket_store_commit_seconds", "histogram",
           "Time to commit one group of documents (BEGIN to durable COMMIT).");
    uint64_t cum = 0;
    for (int i = 0; i < STORE_LAT_NBUCKETS; i++) {
        cum += st->lat_count[i];
        if (i == STORE_LAT_NBUCKETS - 1)
            buf_printf(out, "gasket_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                       (unsigned long long)cum);
        else
            buf_printf(out, "gasket_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
                       store_lat_bounds[i], (unsigned long long)cum);
    }
    buf_printf(out, "gasket_store_commit_seconds_sum %.6f\n", st->lat_sum);
    buf_printf(out, "gasket_store_commit_seconds_count %llu\n", (unsigned long long)cum);
}

static void render_mqtt(const struct mqtt_broker_stats *mq, struct buf *out)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
#define ROW(n, t, h, f) {"gasket_mqtt_" n, t, h, offsetof(struct mqtt_broker_stats, f)}
        ROW("clients_connected", "gauge", "MQTT clients connected.", clients_connected),
        ROW("sessions", "gauge", "MQTT sessions, online or not.", sessions),
        ROW("messages_received_total", "counter", "PUBLISH received (and in-process).",
            msgs_received),
        ROW("messages_sent_total", "counter", "PUBLISH sent to clients.", msgs_sent),
        ROW("messages_dropped_total", "counter", "Messages dropped: queue full or slow client.",
            msgs_dropped),
        ROW("bytes_received_total", "counter", "MQTT bytes received.", bytes_received),
        ROW("bytes_sent_total", "counter", "MQTT bytes sent.", bytes_sent),
        ROW("retained_messages", "gauge", "Retained messages held.", retained),
#undef ROW
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        family(out, rows[i].name, rows[i].type, rows[i].help);
        buf_printf(out, "%s %llu\n", rows[i].name,
                   (unsigned long long)*(const uint64_t *)((const char *)mq + rows[i].off));
    }
}

void metrics_render(const struct metrics *m, const struct store_stats *st, unsigned connections,
                    const struct mqtt_broker_stats *mq, struct buf *out)
{
    family(out, "gasket_http_requests_total", "counter", "HTTP requests answered, by route and status.");
    for (size_t i = 0; i < m->nreq; i++) {
        buf_puts(out, "gasket_http_requests_total{route=");
        buf_json_str(out, m->req[i].route, strlen(m->req[i].route));
        buf_printf(out, ",status=\"%d\"} %llu\n", m->req[i].status,
                   (unsigned long long)m->req[i].count);
    }
    family(out, "gasket_http_connections_open", "gauge", "Open HTTP connections.");
    buf_printf(out, "gasket_http_connections_open %u\n", connections);
    family(out, "gasket_readings_stored_total", "counter", "Readings committed to the store.");
    buf_printf(out, "gasket_readings_stored_total %llu\n", (unsigned long long)st->docs);
    family(out, "gasket_readings_duplicate_total", "counter",
           "Readings answered as duplicates of an idempotency key, not stored again.");
    buf_printf(out, "gasket_readings_duplicate_total %llu\n", (unsigned long long)st->dups);
    family(out, "gasket_readings_rejected_total", "counter", "Readings refused by validation.");
    buf_printf(out, "gasket_readings_rejected_total %llu\n", (unsigned long long)m->rejected);
    family(out, "gasket_store_commits_total", "counter", "Store transactions committed.");
    buf_printf(out, "gasket_store_commits_total %llu\n", (unsigned long long)st->commits);
    family(out, "gasket_store_failures_total", "counter", "Store transactions rolled back.");
    buf_printf(out, "gasket_store_failures_total %llu\n", (unsigned long long)st->failures);
    render_latency(st, out);
    if (mq)
        render_mqtt(mq, out);
}

void metrics_free(struct metrics *m)
{
    for (size_t i = 0; i < m->nreq; i++)
        free(m->req[i].route);
    free(m->req);
    m->req = NULL;
    m->nreq = 0;
}
