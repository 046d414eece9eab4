/* dash_config.c: the "config" member of the dashboard's session JSON
 * (dashboard.h): what the page needs of the configuration and cannot get
 * from the data APIs. Built once per configuration, on the loop thread. */
#include "gateway/dashboard.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mem.h"
#include "rules/alarm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The system's zone name: /etc/localtime's link target below zoneinfo/
 * ("Asia/Seoul"), else $TZ when it names a zone, else "UTC". */
static void local_zone_name(char *out, size_t len)
{
    char link[PATH_MAX];
    ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
    const char *tz = getenv("TZ"), *at;
    snprintf(out, len, "UTC");
    if (n > 0) {
        link[n] = '\0';
        if ((at = strstr(link, "zoneinfo/")) && at[9])
            snprintf(out, len, "%s", at + 9);
    } else if (tz && *tz) {
        snprintf(out, len, "%s", tz + (*tz == ':'));
    }
}

/* Appends the JSON array of strings list[0..n), each once, in order. */
static void string_set(struct buf *b, const char *const *list, size_t n)
{
    size_t shown = 0;
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        int seen = !list[i];
        for (size_t j = 0; j < i && !seen; j++)
            seen = list[j] && strcmp(list[j], list[i]) == 0;
        if (seen)
            continue;
        if (shown++)
            buf_putc(b, ',');
        buf_json_str(b, list[i], strlen(list[i]));
    }
    buf_putc(b, ']');
}

static void number_or_null(struct buf *b, int has, double v)
{
    if (has)
        json_write_real(b, v);
    else
        buf_puts(b, "null");
}

/* One rule: its levels as the alarm engine reads them (clear defaulted). */
static void rule_json(struct buf *b, const struct cfg_rule *c, const struct alarm_rule *r)
{
    buf_puts(b, "{\"name\":");
    buf_json_str(b, r->name, strlen(r->name));
    buf_puts(b, ",\"measurement\":");
    buf_json_str(b, r->measurement, strlen(r->measurement));
    buf_printf(b, ",\"op\":\"%s\",\"warn\":", r->op == CFG_OP_LE ? "<=" : ">=");
    number_or_null(b, r->has_warn, r->warn);
    buf_puts(b, ",\"alarm\":");
    number_or_null(b, r->has_alarm, r->alarm);
    buf_puts(b, ",\"clear\":");
    json_write_real(b, r->clear);
    buf_puts(b, ",\"groups\":");
    if (r->ngroups)
        string_set(b, (const char *const *)r->groups, r->ngroups);
    else
        buf_puts(b, "null");
    buf_puts(b, ",\"unit\":");
    if (c->unit)
        buf_json_str(b, c->unit, strlen(c->unit));
    else
        buf_puts(b, "null");
    buf_putc(b, '}');
}

char *dashboard_config_json(const struct config *cfg)
{
    struct buf b = {0};
    size_t n = cfg->nroutes, shown = 0;
    const char **names = xcalloc(n + cfg->nrules + 1, sizeof *names);
    int64_t offline_ms = 0;
    for (size_t i = 0; i < n; i++) {
        names[i] = cfg->routes[i].index;
        if (cfg->routes[i].offline_after > offline_ms)
            offline_ms = cfg->routes[i].offline_after;
    }
    buf_puts(&b, "{\"indexes\":");
    string_set(&b, names, n);
    buf_puts(&b, ",\"live_topic\":");
    if (cfg->http.live_topic)
        buf_json_str(&b, cfg->http.live_topic, strlen(cfg->http.live_topic));
    else
        buf_puts(&b, "null");
    for (size_t i = 0; i < n; i++)
        names[i] = cfg->routes[i].topic;
    for (size_t i = 0; i < cfg->nrules; i++)
        names[n + i] = cfg->rules[i].topic;
    buf_puts(&b, ",\"alert_topics\":");
    string_set(&b, names, n + cfg->nrules);
    char zone[256];
    if (cfg->server.timezone)
        snprintf(zone, sizeof zone, "%s", cfg->server.timezone);
    else
        local_zone_name(zone, sizeof zone);
    buf_puts(&b, ",\"timezone\":");
    buf_json_str(&b, zone, strlen(zone));
    buf_puts(&b, ",\"rules\":[");
    for (size_t i = 0; i < cfg->nrules; i++) {
        struct alarm_rule r;
        char err[256];
        if (alarm_rule_compile(&r, &cfg->rules[i], err, sizeof err) != 0)
            continue; /* refused by the alarm engine as well */
        if (shown++)
            buf_putc(&b, ',');
        rule_json(&b, &cfg->rules[i], &r);
        alarm_rule_free(&r);
    }
    buf_printf(&b, "],\"offline_after\":%lld}", (long long)((offline_ms + 999) / 1000));
    free(names);
    return buf_steal(&b);
}
