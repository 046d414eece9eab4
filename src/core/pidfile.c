/* pidfile.c: the lock-held pid file of a data directory (see pidfile.h).
 * POSIX record locks (not OFD locks): F_GETLK reports the holder's pid. */
#include "core/pidfile.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct flock whole_file(short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fl;
}

int pidfile_hold(const char *path, pid_t *other)
{
    *other = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return GK_EIO;
    struct flock fl = whole_file(F_WRLCK);
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int busy = errno == EACCES || errno == EAGAIN;
        *other = busy ? pidfile_owner(path) : 0;
        close(fd);
        return busy ? GK_EEXIST : GK_EIO;
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        close(fd);
        return GK_EIO;
    }
    return fd;
}

void pidfile_release(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path); /* before the lock goes: no one sees an unlocked file of ours */
    close(fd);
}

pid_t pidfile_owner(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct flock fl = whole_file(F_WRLCK);
    pid_t pid = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
    close(fd);
    return pid;
}
