/* datadir.c: a data directory's files and gasketd's reload (datadir.h). */
#include "admin/datadir.h"
#include "core/err.h"
#include "core/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int datadir_of(struct datadir *d, const char *dir, char *err, size_t errlen)
{
    char cwd[DATADIR_PATH];
    memset(d, 0, sizeof *d);
    while (dir[0] == '.' && dir[1] == '/') /* "./data": cwd/data */
        for (dir += 2; *dir == '/'; dir++)
            ;
    if (strcmp(dir, ".") == 0 || !dir[0])
        dir = "";
    if (dir[0] != '/' && !getcwd(cwd, sizeof cwd))
        return gk_errf(err, errlen, GK_EINVAL, "cannot tell the current folder: %s",
                       strerror(errno));
    int n = dir[0] == '/' ? snprintf(d->dir, sizeof d->dir, "%s", dir)
                          : snprintf(d->dir, sizeof d->dir, "%s%s%s", cwd, dir[0] ? "/" : "", dir);
    if (n < 0 || (size_t)n >= sizeof d->dir || strpbrk(d->dir, "\n\r"))
        return gk_errf(err, errlen, GK_EINVAL, "unusable folder name '%s'", dir);
    for (size_t e = strlen(d->dir); e > 1 && d->dir[e - 1] == '/'; e--)
        d->dir[e - 1] = '\0';
#define AT(field, name) snprintf(d->field, sizeof d->field, "%s/%s", d->dir, name)
    AT(ini, "gasket.ini");
    AT(devices, "devices.ini");
    AT(acl, "acl");
    AT(ca_dir, "ca");
    AT(ca_cert, "ca/ca.pem");
    AT(ca_key, "ca/ca.key");
    AT(crl, "ca/crl.pem");
    AT(tls_dir, "tls");
    AT(server_cert, "tls/server.pem");
    AT(server_key, "tls/server.key");
    AT(bundles, "devices");
#undef AT
    return 0;
}

int datadir_lock(const struct datadir *d)
{
    char path[DATADIR_PATH + 32];
    snprintf(path, sizeof path, "%s/.admin.lock", d->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* kept open: the lock's life */
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "gasket: cannot lock %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    datadir_own(d, path);
    return 0;
}

void datadir_reload(const char *data_dir)
{
    char path[DATADIR_PATH + 32];
    snprintf(path, sizeof path, "%s/gasketd.pid", data_dir);
    pid_t pid = pidfile_owner(path);
    if (pid <= 0) {
        printf("gasketd is not running on %s: it reads this when it starts\n", data_dir);
    } else if (kill(pid, SIGHUP) == 0) {
        printf("gasketd (pid %ld) reloads its devices now\n", (long)pid);
    } else {
        printf("could not tell gasketd (pid %ld) to reload: %s; run `systemctl reload gasketd` "
               "or `kill -HUP %ld` as its user\n",
               (long)pid, strerror(errno), (long)pid);
    }
}

void datadir_own(const struct datadir *d, const char *path)
{
    struct stat st;
    if (geteuid() != 0 || stat(d->dir, &st) != 0 || st.st_uid == 0)
        return;
    if (lchown(path, st.st_uid, st.st_gid) != 0)
        fprintf(stderr, "gasket: cannot give %s to uid %ld: %s\n", path, (long)st.st_uid,
                strerror(errno));
}
