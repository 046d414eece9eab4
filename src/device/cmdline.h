/* cmdline.h: a command line split into words without a shell, for
 * gasket-sub --on-warning: words are separated by blanks; '...' keeps
 * everything inside as it is; "..." keeps everything but \" \\ \$ and \`,
 * which lose their backslash; a backslash outside quotes keeps the next
 * character. Nothing is expanded ($VAR, `...`, globs, ~): the words go to
 * execvp() as they are, so a message can never become a command. */
#ifndef GASKET_DEVICE_CMDLINE_H
#define GASKET_DEVICE_CMDLINE_H

#include <stddef.h>

/* Splits cmd into a NULL-terminated array (free with cmdline_free). Returns
 * 0, or GK_EINVAL with the reason (an empty command, an unclosed quote). */
int cmdline_split(const char *cmd, char ***argv, char *err, size_t errlen);
void cmdline_free(char **argv);

#endif
