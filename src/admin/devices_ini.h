/* devices_ini.h: edits of the devices file ([server] apikeys_file) as
 * text, so that comments and the other sections stay as they are.
 * gasketd reads the file with the configuration's own parser. */
#ifndef GASKET_ADMIN_DEVICES_INI_H
#define GASKET_ADMIN_DEVICES_INI_H

#include "core/buf.h"

/* Copies text to out without the section [apikey NAME] (its header up to
 * the next section header); returns 1 when it was there. */
int devices_ini_remove(const char *text, const char *name, struct buf *out);

#endif
