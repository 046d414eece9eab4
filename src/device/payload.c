/* payload.c: the reading's body (payload.h). */
#include "device/payload.h"
#include "core/err.h"
#include "core/json.h"
#include "device/sim.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void payload_local_time(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static void put_str(struct buf *b, const char *s)
{
    buf_json_str(b, s, strlen(s));
}

/* "name":{"sensorid":..,"sensortype":..,"value":"..","createdtime":..} */
static void put_meas(struct buf *b, const char *name, const char *sensorid, const char *sensortype,
                     const char *value, const char *createdtime)
{
    put_str(b, name);
    buf_puts(b, ":{\"sensorid\":");
    put_str(b, sensorid);
    buf_puts(b, ",\"sensortype\":");
    put_str(b, sensortype);
    buf_puts(b, ",\"value\":");
    put_str(b, value);
    buf_puts(b, ",\"createdtime\":");
    put_str(b, createdtime);
    buf_putc(b, '}');
}

static void put_head(struct buf *b, const char *group, const char *gps)
{
    buf_puts(b, "{\"groupid\":");
    put_str(b, group);
    if (gps) {
        buf_puts(b, ",\"gps\":");
        put_str(b, gps);
    }
}

void payload_build(struct buf *out, const struct payload_ctx *c, const struct payload_meas *m,
                   size_t n, const char *createdtime)
{
    put_head(out, c->group ? c->group : "1", c->gps);
    for (size_t i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%.2f", m[i].value);
        buf_putc(out, ',');
        put_meas(out, m[i].name, m[i].sensorid, m[i].sensortype, v, createdtime);
    }
    buf_putc(out, '}');
}

/* The text of a number member ("26.2", "7"), or NULL when v is no number
 * nor a string holding a finite one. */
static char *number_text(json_t *v)
{
    if (json_is_integer(v) || json_is_real(v))
        return json_text(v, 0); /* 26.2 as read, no digit lost */
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d) || strlen(s) != json_string_length(v)) return NULL;
    return strdup(s);
}

/* One member of the line into b (after a ','); 1 when it was a measurement. */
static int put_member(struct buf *b, const char *key, json_t *v, const char *createdtime)
{
    char *num = number_text(v);
    if (num) {
        const char *id, *type;
        sim_sensor_of(key, &id, &type);
        put_meas(b, key, id, type, num, createdtime);
        free(num);
        return 1;
    }
    int meas = json_is_object(v) && json_object_get(v, "value");
    json_t *copy = meas && !json_object_get(v, "createdtime") ? json_deep_copy(v) : json_incref(v);
    if (meas && copy != v) json_object_set_new(copy, "createdtime", json_string(createdtime));
    char *text = json_text(copy, 0);
    json_decref(copy);
    put_str(b, key);
    buf_putc(b, ':');
    buf_puts(b, text ? text : "null");
    free(text);
    return meas;
}

/* The groupid and gps members' text for the head. */
static int head_of(json_t *doc, const struct payload_ctx *c, char *group, size_t glen,
                   const char **gps, char *err, size_t errlen)
{
    json_t *g = json_object_get(doc, "groupid");
    if (json_is_string(g))
        snprintf(group, glen, "%s", json_string_value(g));
    else if (json_is_integer(g))
        snprintf(group, glen, "%lld", (long long)json_integer_value(g));
    else if (g)
        return gk_errf(err, errlen, GK_EINVAL, "groupid must be a string or an integer");
    else if (c->group)
        snprintf(group, glen, "%s", c->group);
    else
        return gk_errf(err, errlen, GK_EINVAL, "no groupid: give one in the line or --group");
    json_t *p = json_object_get(doc, "gps");
    if (p && !json_is_string(p)) return gk_errf(err, errlen, GK_EINVAL, "gps must be a string");
    *gps = p ? json_string_value(p) : c->gps;
    return 0;
}

int payload_from_json(struct buf *out, const char *line, size_t len, const struct payload_ctx *c,
                      const char *createdtime, char *err, size_t errlen)
{
    json_error_t je;
    if (len > PAYLOAD_MAX_LINE)
        return gk_errf(err, errlen, GK_EINVAL, "longer than %u bytes", PAYLOAD_MAX_LINE);
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return gk_errf(err, errlen, GK_EINVAL, "not a JSON object: %s", je.text);
    char group[256];
    const char *gps = NULL;
    int rc = head_of(doc, c, group, sizeof group, &gps, err, errlen);
    json_t *t = json_object_get(doc, "createdtime");
    if (rc == 0 && t && !json_is_string(t))
        rc = gk_errf(err, errlen, GK_EINVAL, "createdtime must be a string");
    if (rc != 0) {
        json_decref(doc);
        return rc;
    }
    const char *when = t ? json_string_value(t) : createdtime;
    struct buf b = {0};
    put_head(&b, group, gps);
    const char *key;
    json_t *v;
    int nmeas = 0;
    json_object_foreach(doc, key, v)
    {
        if (!strcmp(key, "groupid") || !strcmp(key, "gps") || !strcmp(key, "createdtime")) continue;
        buf_putc(&b, ',');
        nmeas += put_member(&b, key, v, when);
    }
    buf_putc(&b, '}');
    json_decref(doc);
    if (nmeas == 0) {
        buf_free(&b);
        return gk_errf(err, errlen, GK_EINVAL,
                       "no measurement (a number, or an object with a value)");
    }
    buf_append(out, b.data, b.len);
    buf_free(&b);
    return 0;
}
