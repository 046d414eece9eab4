/* err.c: texts for the GK_E* codes of err.h. */
#include "core/err.h"

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
