/* cmdline.c: a command line split into words (see cmdline.h). */
#include "device/cmdline.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/* Reads one word starting at *p into w; 0, or GK_EINVAL (err). */
static int word(const char **p, struct buf *w, char *err, size_t errlen)
{
    const char *s = *p;
    while (*s && !blank(*s)) {
        if (*s == '\'') {
            const char *end = strchr(s + 1, '\'');
            if (!end)
                return gk_errf(err, errlen, GK_EINVAL, "an unclosed ' in the command");
            buf_append(w, s + 1, (size_t)(end - s - 1));
            s = end + 1;
        } else if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1] && strchr("\"\\$`", s[1]))
                    s++;
                buf_putc(w, *s);
            }
            if (*s != '"')
                return gk_errf(err, errlen, GK_EINVAL, "an unclosed \" in the command");
            s++;
        } else {
            if (*s == '\\' && s[1])
                s++;
            buf_putc(w, *s++);
        }
    }
    *p = s;
    return 0;
}

int cmdline_split(const char *cmd, char ***argv, char *err, size_t errlen)
{
    char **v = xcalloc(1, sizeof *v);
    size_t n = 0;
    for (const char *p = cmd;;) {
        while (blank(*p))
            p++;
        if (!*p)
            break;
        struct buf w = {0};
        buf_reserve(&w, 1);
        if (word(&p, &w, err, errlen) != 0) {
            buf_free(&w);
            cmdline_free(v);
            return GK_EINVAL;
        }
        buf_putc(&w, '\0');
        v = xrealloc(v, (n + 2) * sizeof *v);
        v[n++] = buf_steal(&w);
        v[n] = NULL;
    }
    if (n == 0) {
        cmdline_free(v);
        return gk_errf(err, errlen, GK_EINVAL, "an empty command");
    }
    *argv = v;
    return 0;
}

void cmdline_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}
