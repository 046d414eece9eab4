/* err.c: texts for the GK_E* codes of err.h. */
#include "core/err.h"

#include <stdio.h>

const char *gk_strerror(int err)
{
    switch (err) {
    case GK_OK:
        return "success";
#define GK__ERR_CASE(name, code, text)                                       \
    case GK_##name:                                                          \
        return text;
        GK_ERRNO_MAP(GK__ERR_CASE)
#undef GK__ERR_CASE
    }
    return "unknown error";
}

int gk_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    return rc;
}

int gk_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gk_verrf(err, errlen, rc, fmt, ap);
    va_end(ap);
    return rc;
}
