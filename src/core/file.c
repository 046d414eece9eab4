/* file.c: whole files, read at once and written atomically (see file.h). */
#include "core/file.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, struct buf *b, size_t max, mode_t *mode, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gk_errf(err, errlen, errno == ENOENT ? GK_ENOTFOUND : GK_EIO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (mode && fstat(fd, &st) == 0)
        *mode = st.st_mode & 07777;
    size_t start = b->len;
    int rc = 0;
    buf_reserve(b, 1);
    b->data[b->len] = '\0';
    for (;;) {
        buf_reserve(b, 65536);
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = gk_errf(err, errlen, GK_EIO, "%s: %s", path, strerror(errno));
        if (n <= 0)
            break;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        if (b->len - start > max) {
            rc = gk_errf(err, errlen, GK_ETOOBIG, "%s: larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    return rc;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Flushes the directory holding path so a rename in it is durable. */
static void sync_dir(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int file_write(const char *path, const void *data, size_t len, mode_t mode, int flags, char *err,
               size_t errlen)
{
    struct buf tmp = {0};
    buf_printf(&tmp, "%s.XXXXXX", path);
    int fd = mkostemp(tmp.data, O_CLOEXEC), e = errno;
    bool ok = fd >= 0 && fchmod(fd, mode) == 0 && write_all(fd, data, len) && fsync(fd) == 0;
    if (fd >= 0 && !ok)
        e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && ((flags & FILE_EXCL) ? link(tmp.data, path) : rename(tmp.data, path)) != 0) {
        ok = false;
        e = errno;
    }
    if (fd >= 0 && (!ok || (flags & FILE_EXCL)))
        unlink(tmp.data);
    if (ok)
        sync_dir(path);
    int rc = ok               ? 0
             : e == EEXIST    ? gk_errf(err, errlen, GK_EEXIST, "%s exists already", path)
                              : gk_errf(err, errlen, GK_EIO, "%s: %s", fd >= 0 ? path : tmp.data,
                                        strerror(e));
    buf_free(&tmp);
    return rc;
}
