/* kvfile.c: `key = value` files (see kvfile.h). */
#include "device/kvfile.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/file.h"
#include "core/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVFILE_MAX (1u << 20)

static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

/* One line (without its newline); 0, or GK_EINVAL when it is no pair. */
static int take_line(struct kvfile *f, const char *s, size_t n, int line)
{
    char *text = trimmed(s, n);
    int rc = 0;
    char *eq = strchr(text, '=');
    if (text[0] && text[0] != '#' && text[0] != ';') {
        if (!eq || eq == text) {
            rc = GK_EINVAL;
        } else {
            f->v = xrealloc(f->v, (f->n + 1) * sizeof *f->v);
            f->v[f->n++] = (struct kv){trimmed(text, (size_t)(eq - text)),
                                       trimmed(eq + 1, strlen(eq + 1)), line};
        }
    }
    free(text);
    return rc;
}

int kvfile_load(struct kvfile *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    struct buf b = {0};
    int rc = file_read(path, &b, KVFILE_MAX, NULL, err, errlen);
    int line = 0;
    if (rc == 0 && strlen(b.data) != b.len)
        rc = gk_errf(err, errlen, GK_EINVAL, "%s: not a text file (a NUL byte)", path);
    for (const char *p = b.data; rc == 0 && p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (take_line(f, p, n, ++line) != 0)
            rc = gk_errf(err, errlen, GK_EINVAL, "%s:%d: expected key = value", path, line);
        p = nl ? nl + 1 : NULL;
    }
    buf_free(&b);
    if (rc != 0) {
        kvfile_free(f);
        return rc;
    }
    f->path = xstrdup(path);
    return 0;
}

void kvfile_free(struct kvfile *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].key), free(f->v[i].value);
    free(f->v);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const char *kvfile_get(const struct kvfile *f, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].key, key) == 0)
            v = f->v[i].value;
    return v;
}

char *kvfile_path(const struct kvfile *f, const char *value)
{
    const char *slash = f->path ? strrchr(f->path, '/') : NULL;
    if (value[0] == '/' || !slash)
        return xstrdup(value);
    struct buf b = {0};
    buf_printf(&b, "%.*s/%s", (int)(slash - f->path), f->path, value);
    return buf_steal(&b);
}
