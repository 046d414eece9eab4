/* source.h: where gasket-pub's readings come from, besides the simulator:
 * lines of the user's sensor script on stdin (linebuf), and a command run
 * each interval (runner).
 *
 * linebuf cuts a byte stream into numbered lines ("\n" or "\r\n" ends; a
 * last line without one counts at the end of the stream); a line longer
 * than PAYLOAD_MAX_LINE is reported as too long (once, with its number)
 * and its bytes are skipped up to its end. Pure: the caller feeds bytes.
 *
 * runner starts a command without a shell (its words split by
 * device/cmdline.h: nothing is expanded, no pipes, variables, globs or
 * redirections; write `sh -c '...'` for those). Its stdin is /dev/null,
 * its stderr gasket-pub's, and its stdout is read without blocking, up to
 * PAYLOAD_MAX_LINE bytes. */
#ifndef GASKET_DEVICE_SOURCE_H
#define GASKET_DEVICE_SOURCE_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One line: its number (from 1), its bytes (no line end), too_long when
 * it was over the limit (line and len are then empty). */
typedef void (*linebuf_fn)(void *ud, size_t lineno, const char *line, size_t len, int too_long);

struct linebuf {
    struct buf b;
    size_t lineno;
    int skipping; /* inside a line that was too long */
};

/* Feeds data[0..len) (eof: the stream ended after it), calling fn for
 * every line completed. */
void linebuf_feed(struct linebuf *lb, const char *data, size_t len, int eof, linebuf_fn fn,
                  void *ud);
/* Reads what fd has without blocking and feeds it. Returns 0, 1 at the end
 * of the stream, or -1 (errno) on a read error. */
int linebuf_read(struct linebuf *lb, int fd, linebuf_fn fn, void *ud);
void linebuf_free(struct linebuf *lb);

struct runner {
    pid_t pid; /* 0: not running */
    int fd;    /* its stdout, or -1 */
    struct buf out;
    int too_long;
};

/* Starts argv. Returns 0, or -1 with the reason in err. */
int runner_start(struct runner *r, char *const argv[], char *err, size_t errlen);
/* Reads what its stdout has. Returns 1 once it closed, 0 else. */
int runner_read(struct runner *r);
/* Reaps it (after runner_read() returned 1): its exit status as waitpid's. */
int runner_wait(struct runner *r);
/* Kills and reaps it (a command over its time). */
void runner_kill(struct runner *r);

#endif
