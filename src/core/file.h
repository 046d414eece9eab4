/* file.h: whole small files, read at once and written safely.
 *
 * file_write() writes beside the target (a temporary file), fsyncs it, then
 * renames it over the target, or with FILE_EXCL links it to the target's
 * name so that an existing file is never replaced; then it fsyncs the
 * directory. A crash leaves the old file or the new one, never half of
 * one. For admin tools and worker threads: these block. */
#ifndef GASKET_CORE_FILE_H
#define GASKET_CORE_FILE_H

#include "core/buf.h"

#include <stddef.h>
#include <sys/types.h>

#define FILE_EXCL 1 /* file_write: GK_EEXIST rather than replace */

/* Appends path's bytes to b (NUL-terminated); *mode (may be NULL) gets its
 * permission bits. Returns 0, GK_ENOTFOUND, GK_EIO, or GK_ETOOBIG past max
 * bytes; err says why with the path. */
int file_read(const char *path, struct buf *b, size_t max, mode_t *mode, char *err, size_t errlen);
/* Writes data[0..len) to path with mode (see above). Returns 0, GK_EEXIST
 * (FILE_EXCL and path exists) or GK_EIO; err says why with the path. */
int file_write(const char *path, const void *data, size_t len, mode_t mode, int flags, char *err,
               size_t errlen);

#endif
