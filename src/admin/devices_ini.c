/* devices_ini.c: the devices file edited as text (see devices_ini.h). */
#include "admin/devices_ini.h"

#include <ctype.h>
#include <string.h>

/* 1 when line [p, p+n) is a section header; *mine when it is
 * [apikey NAME] (any spacing inside the brackets). */
static int header(const char *p, size_t n, const char *name, int *mine)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    *mine = 0;
    if (!n || *p != '[')
        return 0;
    const char *end = memchr(p, ']', n);
    if (!end)
        return 1;
    const char *s = p + 1;
    while (s < end && isspace((unsigned char)*s))
        s++;
    if ((size_t)(end - s) < 6 || memcmp(s, "apikey", 6) != 0 || !isspace((unsigned char)s[6]))
        return 1;
    for (s += 6; s < end && isspace((unsigned char)*s);)
        s++;
    const char *e = end;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *mine = (size_t)(e - s) == strlen(name) && memcmp(s, name, strlen(name)) == 0;
    return 1;
}

int devices_ini_remove(const char *text, const char *name, struct buf *out)
{
    int found = 0, skipping = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        int mine;
        if (header(p, n, name, &mine)) {
            skipping = mine;
            found |= mine;
        }
        if (!skipping)
            buf_append(out, p, n);
        p += n;
    }
    return found;
}
