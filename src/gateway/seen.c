/* seen.c: principals' last contact times (see seen.h). */
#include "gateway/seen.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "core/mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    struct map times; /* name -> int64_t * (wall ms) */
    int changed;
};

struct seen *seen_new(void)
{
    return xcalloc(1, sizeof(struct seen));
}

static void set(struct seen *s, const char *name, int64_t ms)
{
    size_t len = strlen(name);
    int64_t *t = map_get(&s->times, name, len);
    if (!t) {
        t = xmalloc(sizeof *t);
        map_put(&s->times, name, len, t);
    }
    *t = ms;
}

void seen_load(struct seen *s, const char *path)
{
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    if (!root) {
        if (e.line >= 0 || strstr(e.text, "No such file") == NULL)
            log_warn("%s: not read (%s); last-seen times start afresh", path, e.text);
        return;
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v)
        if (json_is_integer(v))
            set(s, name, json_integer_value(v));
    json_decref(root);
}

void seen_mark(struct seen *s, const char *name, int64_t now_ms)
{
    set(s, name, now_ms);
    s->changed = 1;
}

struct render {
    struct buf b;
    size_t n;
};

static void render_one(void *ud, const char *key, void *value)
{
    struct render *r = ud;
    buf_putc(&r->b, r->n++ ? ',' : '{');
    buf_json_str(&r->b, key, strlen(key));
    buf_printf(&r->b, ":%lld", (long long)*(int64_t *)value);
}

char *seen_render(struct seen *s)
{
    if (!s->changed)
        return NULL;
    s->changed = 0;
    struct render r = {{0}, 0};
    map_foreach(&s->times, render_one, &r);
    buf_puts(&r.b, r.n ? "}\n" : "{}\n");
    return buf_steal(&r.b);
}

static void free_value(void *ud, const char *key, void *value)
{
    (void)ud, (void)key;
    free(value);
}

void seen_free(struct seen *s)
{
    if (!s)
        return;
    map_foreach(&s->times, free_value, NULL);
    map_free(&s->times);
    free(s);
}
