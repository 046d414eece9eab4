/* pidfile.h: data_dir/gasketd.pid, the process serving a data directory.
 *
 * gasketd writes its pid into the file and holds a write lock on it (fcntl)
 * for as long as it runs. The admin tool asks the kernel who holds that
 * lock (pidfile_owner) instead of trusting the number in the file, so the
 * file a crashed gasketd leaves behind never points at another process,
 * and a second gasketd on the same data directory is refused. */
#ifndef GASKET_CORE_PIDFILE_H
#define GASKET_CORE_PIDFILE_H

#include <sys/types.h>

/* Creates or opens path, locks it and writes the pid in. Returns the open
 * descriptor (keep it: closing it releases the lock), GK_EEXIST when
 * another process holds it (its pid in *other), or GK_EIO. */
int pidfile_hold(const char *path, pid_t *other);
/* Removes the file and releases the lock. */
void pidfile_release(const char *path, int fd);
/* The pid of the process holding the lock on path; 0 when none does (or
 * there is no file). */
pid_t pidfile_owner(const char *path);

#endif
