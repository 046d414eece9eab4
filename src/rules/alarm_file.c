/* alarm_file.c: the alarm engine's state on disk (see alarm_file.h). */
#include "rules/alarm_file.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "rules/alarm.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void add_record(void *ud, const struct alarm_record *r)
{
    json_array_append_new(ud, json_pack("{s:i, s:s, s:s?, s:i, s:i, s:I, s:f, s:f, s:I}", "kind",
                                        r->kind, "key", r->key, "route", r->route, "state",
                                        r->state, "severity", r->severity, "since",
                                        (json_int_t)r->since_ms, "value", r->value, "peak",
                                        r->peak, "last_repeat", (json_int_t)r->last_repeat_ms));
}

static int write_all(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return GK_EIO;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return GK_EIO;
    }
    return 0;
}

char *alarm_file_render(const struct alarm_engine *e)
{
    json_t *all = json_array();
    alarm_state_foreach(e, add_record, all);
    char *text = json_text(all, 0);
    json_decref(all);
    return text;
}

int alarm_file_write(const char *path, const char *text)
{
    int rc = write_all(path, text);
    if (rc != 0)
        log_error("alarms: cannot save %s: %s", path, strerror(errno));
    return rc;
}

int alarm_file_save(const struct alarm_engine *e, const char *path)
{
    char *text = alarm_file_render(e);
    int rc = text ? alarm_file_write(path, text) : GK_EIO;
    if (!text)
        log_error("alarms: cannot save %s: out of memory", path);
    free(text);
    return rc;
}

static int restore_one(struct alarm_engine *e, json_t *o, int64_t now_ms)
{
    struct alarm_record r = {0};
    json_int_t since = 0, last = 0;
    if (json_unpack(o, "{s:i, s:s, s?s, s:i, s:i, s:I, s:F, s:F, s:I}", "kind", &r.kind, "key",
                    &r.key, "route", &r.route, "state", &r.state, "severity", &r.severity,
                    "since", &since, "value", &r.value, "peak", &r.peak, "last_repeat",
                    &last) != 0)
        return GK_EINVAL;
    r.since_ms = since;
    r.last_repeat_ms = last;
    return alarm_state_restore(e, &r, now_ms);
}

int alarm_file_load(struct alarm_engine *e, const char *path, int64_t now_ms)
{
    json_error_t jerr;
    if (access(path, F_OK) != 0)
        return 0;
    json_t *all = json_load_file(path, 0, &jerr);
    if (!json_is_array(all)) {
        log_error("alarms: cannot read %s: %s", path, all ? "not a JSON array" : jerr.text);
        json_decref(all);
        return GK_EINVAL;
    }
    size_t i, restored = 0;
    json_t *o;
    json_array_foreach(all, i, o)
        restored += restore_one(e, o, now_ms) == 0;
    log_info("alarms: restored %zu of %zu state(s) from %s", restored, json_array_size(all), path);
    json_decref(all);
    return 0;
}
