/* kvfile.h: `key = value` files, the --config of the device programs
 * (gasket-sub's sub.conf, gasket-pub's pub.conf; `gasket device add`
 * writes both).
 *
 * One pair a line; whitespace around the key and the value is dropped;
 * blank lines and lines starting with '#' or ';' are skipped; a value runs
 * to the end of its line (no quoting, no inline comments). A key may
 * repeat (gasket-sub's `topic`). A relative file name in a value is
 * relative to the file's folder (kvfile_path), so a bundle folder works
 * wherever it is copied. */
#ifndef GASKET_DEVICE_KVFILE_H
#define GASKET_DEVICE_KVFILE_H

#include <stddef.h>

struct kv {
    char *key, *value;
    int line;
};

struct kvfile {
    char *path;
    struct kv *v;
    size_t n;
};

/* Reads path. Returns 0; GK_ENOTFOUND or GK_EIO ("PATH: reason"); or
 * GK_EINVAL ("PATH:LINE: expected key = value") and nothing to free. */
int kvfile_load(struct kvfile *f, const char *path, char *err, size_t errlen);
void kvfile_free(struct kvfile *f);
/* The last value of key, or NULL. */
const char *kvfile_get(const struct kvfile *f, const char *key);
/* value as a file name: itself when absolute, else joined to the folder of
 * the file (malloc'ed). */
char *kvfile_path(const struct kvfile *f, const char *value);

#endif
