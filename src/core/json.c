/* json.c: compact JSON text with short numbers (see json.h). */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_write_real(struct buf *b, double d)
{
    char tmp[40];
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", digits, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    buf_append(b, tmp, (size_t)n);
    if (!strpbrk(tmp, ".eEn"))
        buf_puts(b, ".0"); /* 5.0 stays a real */
}

void json_write(struct buf *b, const json_t *v, int flags)
{
    const char *key;
    json_t *m;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        buf_putc(b, '{');
        i = 0;
        json_object_foreach((json_t *)v, key, m) {
            if (i++)
                buf_putc(b, ',');
            buf_json_str(b, key, strlen(key));
            buf_putc(b, ':');
            json_write(b, m, flags);
        }
        buf_putc(b, '}');
        break;
    case JSON_ARRAY:
        buf_putc(b, '[');
        json_array_foreach((json_t *)v, i, m) {
            if (i)
                buf_putc(b, ',');
            json_write(b, m, flags);
        }
        buf_putc(b, ']');
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if ((flags & JSON_WRITE_RAW_NUL) && n > 0 && s[0] == '\0')
            buf_append(b, s + 1, n - 1);
        else
            buf_json_str(b, s, n);
        break;
    }
    case JSON_INTEGER:
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        json_write_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NULL:
        buf_puts(b, "null");
        break;
    }
}
