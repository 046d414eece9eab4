/* err.h: gasket's one error convention.
 *
 * Every fallible function returns 0 on success or a negative GK_E* code from
 * the table below; gk_strerror() names it. The table is the single source of
 * both the codes and their text (as libuv's UV_ERRNO_MAP). */
#ifndef GASKET_CORE_ERR_H
#define GASKET_CORE_ERR_H

#define GK_ERRNO_MAP(X)                                                      \
    X(EINVAL, -1, "invalid argument")                                        \
    X(ENOMEM, -2, "out of memory")                                           \
    X(EIO, -3, "input/output error")                                         \
    X(EFULL, -4, "disk full")                                                \
    X(ECLOSED, -5, "closed")                                                 \
    X(EPROTO, -6, "protocol error")                                          \
    X(ETOOBIG, -7, "too large")                                              \
    X(EAGAIN, -8, "need more input")                                         \
    X(ENOTFOUND, -9, "not found")                                            \
    X(ESTORE, -10, "store failure")                                          \
    X(ETLS, -11, "TLS error")                                                \
    X(EADDR, -12, "bad address")                                             \
    X(ECONFIG, -13, "bad configuration")                                     \
    X(EEXIST, -14, "already exists")                                         \
    X(ELIMIT, -15, "limit reached")                                          \
    X(ECANCELED, -16, "dropped")                                             \
    X(EPERM, -17, "not permitted")                                          \
    X(ETIMEDOUT, -18, "timed out")

enum gk_err {
    GK_OK = 0,
#define GK__ERR_ENUM(name, code, text) GK_##name = (code),
    GK_ERRNO_MAP(GK__ERR_ENUM)
#undef GK__ERR_ENUM
};

/* Returns a static, human-readable text for a GK_E* code (or "unknown error"). */
const char *gk_strerror(int err);

#include <stdarg.h>
#include <stddef.h>

/* Formats a reason into err[errlen] (nothing when err is NULL or errlen 0)
 * and returns rc: `return gk_errf(err, errlen, GK_EINVAL, "bad %s", x);`. */
int gk_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gk_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap);

#endif
