/* alarm_file.h: the alarm engine's state in a file, so that a restart
 * neither forgets an active alarm nor raises it a second time. */
#ifndef GASKET_RULES_ALARM_FILE_H
#define GASKET_RULES_ALARM_FILE_H

#include <stdint.h>

struct alarm_engine;

/* Writes every non-OK alarm and group state to path as JSON, atomically
 * (temporary file, fsync, rename). Returns 0 or GK_EIO (logged). Blocks:
 * the daemon renders on the loop and writes on the history's thread. */
int alarm_file_save(const struct alarm_engine *e, const char *path);
/* The JSON text alarm_file_save() writes (malloc'ed; the caller frees it),
 * or NULL when out of memory. Cheap: no I/O. */
char *alarm_file_render(const struct alarm_engine *e);
/* Writes text to path atomically (path.tmp, fsync, rename). Returns 0 or
 * GK_EIO (logged). Any thread. */
int alarm_file_write(const char *path, const char *text);
/* Restores what path holds (a missing file is an empty state); records
 * whose rule or route is gone are skipped. Returns 0, or GK_EIO / GK_EINVAL
 * (logged) for an unreadable file. Call after alarm_engine_configure(). */
int alarm_file_load(struct alarm_engine *e, const char *path, int64_t now_ms);

#endif
