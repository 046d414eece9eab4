/* seen.h: when each principal was last seen, for `gasket device list`.
 *
 * A principal is seen when it is the caller of an HTTP request its key
 * authorizes, logs in over MQTT with its key, or has an MQTT reading taken.
 * The times (wall clock, milliseconds) live in memory on the loop thread;
 * the daemon saves them as data_dir/lastseen.json ({"NAME": MS, ...}) every
 * 30 s when they changed and at stop, and loads them at start, so the file
 * keeps principals that have since been removed (a revoked device's last
 * contact stays visible). Marking is one hash lookup. */
#ifndef GASKET_GATEWAY_SEEN_H
#define GASKET_GATEWAY_SEEN_H

#include <stdint.h>

struct seen;

struct seen *seen_new(void);
/* Reads what a previous run saved (a missing or unreadable file: nothing,
 * logged when unreadable). Before the loop runs. */
void seen_load(struct seen *s, const char *path);
/* name was seen at now_ms. */
void seen_mark(struct seen *s, const char *name, int64_t now_ms);
/* The JSON text to save (malloc'ed), or NULL when nothing changed since
 * the last call. */
char *seen_render(struct seen *s);
void seen_free(struct seen *s);

#endif
