/* auth.h: MQTT client authentication and authorization from files, with the
 * semantics users know from Mosquitto's password_file and acl_file.
 *
 * Password file: one `user:$7$ITERATIONS$SALT$HASH` line per user (Mosquitto
 * 2's format: base64 salt, base64 of the 64-byte PBKDF2-HMAC-SHA512 output),
 * '#' comments and blank lines. mosquitto_passwd's files load unchanged. A
 * line may end in a third field, `:admin` or `:viewer`: the role of a
 * dashboard user ([http] dashboard_users is a file of this format; the
 * broker ignores the field).
 *
 * ACL file: `user NAME` starts a user's block; `topic [read|write|readwrite|
 * deny] PATTERN` adds a rule to the current block (lines before any `user`
 * line form the anonymous block); `pattern [ACCESS] PATTERN` applies to every
 * client, where a level that is exactly %u or %c stands for the user name or
 * client id. A client may read or write a topic when some rule of its block or
 * a pattern allows that access and no deny rule of either matches.
 *
 * Both loaders are file readers over pure parsers (mqtt_passwd_parse,
 * mqtt_acl_parse: text in, table or "NAME:LINE: reason" out), so they can be
 * unit tested and fuzzed from memory. The loaded tables are immutable: checks
 * take const pointers and may run from several threads. A reload builds a new
 * table and swaps it in. */
#ifndef GASKET_MQTT_AUTH_H
#define GASKET_MQTT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Iterations for new hashes: 500 times mosquitto_passwd's 101, so an offline
 * guess at a stolen file costs 500 times more, while a CONNECT check costs
 * about 20 ms of a server core (AMD EPYC) and some 100-150 ms of a Raspberry
 * Pi 4 core. OWASP's 210,000 would be 4 times that on every CONNECT. */
#define MQTT_PASSWD_ITER_DEFAULT 50000
/* The most a line may carry: more would let a crafted file stall CONNECTs. */
#define MQTT_PASSWD_ITER_MAX 10000000
/* The fewest the admin tool writes (lines with fewer still verify). */
#define MQTT_PASSWD_ITER_MIN_NEW 1000
/* Room for a hash part "$7$ITER$SALT$HASH" and its NUL. */
#define MQTT_PASSWD_HASH_MAX 128

/* ---- Password file ------------------------------------------------------ */

struct mqtt_passwd;

/* The role field of a line (a dashboard user's); a line without one is a
 * viewer. */
enum mqtt_passwd_role { MQTT_PASSWD_VIEWER, MQTT_PASSWD_ADMIN };

/* Parses password-file text (len bytes, NUL bytes refused) into a new table
 * in *out. `name` labels errors: on failure *out is NULL, err holds
 * "NAME:LINE: reason" and the result is GK_ECONFIG. A duplicate user, a hash
 * other than $7$, an iteration count outside 1..MQTT_PASSWD_ITER_MAX, a salt
 * that is not 1..64 bytes of base64, a hash that is not 64 or a role field
 * other than admin or viewer are refused. */
int mqtt_passwd_parse(struct mqtt_passwd **out, const char *text, size_t len, const char *name,
                      char *err, size_t errlen);

/* Reads and parses the file at path (see mqtt_passwd_parse). Returns 0,
 * GK_ECONFIG for a bad line, GK_ENOTFOUND, GK_EIO or GK_ETOOBIG (> 64 MiB)
 * with err set to "PATH: reason". */
int mqtt_passwd_load(struct mqtt_passwd **out, const char *path, char *err, size_t errlen);

/* True when user[0..ulen) is in the table and pass[0..plen) is its password.
 * The hashes are compared in constant time, and an unknown user costs one
 * PBKDF2 like a known one (at the iteration count most lines use), so the time
 * taken does not tell which users exist. Takes milliseconds: the broker should
 * not run it for many CONNECTs on its event loop without thought. */
bool mqtt_passwd_check(const struct mqtt_passwd *p, const char *user, size_t ulen, const char *pass,
                       size_t plen);

/* Number of users in the table. */
size_t mqtt_passwd_count(const struct mqtt_passwd *p);

/* The role (enum mqtt_passwd_role) of user[0..ulen) in the table, or
 * GK_ENOTFOUND when it has no such user. Cheap: no PBKDF2. */
int mqtt_passwd_role(const struct mqtt_passwd *p, const char *user, size_t ulen);

void mqtt_passwd_free(struct mqtt_passwd *p);

/* Writes the hash part of a line, "$7$ITER$SALT$HASH", for the password
 * with a fresh 12-byte random salt into out. Returns 0, GK_EINVAL when
 * iterations is outside 1..MQTT_PASSWD_ITER_MAX, GK_ETOOBIG when outlen is
 * under MQTT_PASSWD_HASH_MAX, GK_ETLS when OpenSSL fails. */
int mqtt_passwd_hash(const char *password, unsigned iterations, char *out, size_t outlen);

/* True when `user` can be written to a password file: non-empty, at most
 * 65535 bytes, no ':' nor control characters, not starting with '#' or
 * white space. */
bool mqtt_passwd_valid_user(const char *user);

/* Sets user's line in the password file at path to "user:HASH" (hash from
 * mqtt_passwd_hash) followed by ":ROLE" when role is "admin" or "viewer";
 * with role NULL the role field user's line had is kept (none on a new
 * line). Deletes the line when hash is NULL (role is then ignored). Other
 * lines are kept as they are. The new file is written beside the old one
 * and renamed over it, so a crash leaves the old file or the new one; a new
 * file gets mode 0600, an existing one keeps its mode. Returns 0; GK_EINVAL
 * for an invalid user or role; GK_ENOTFOUND when deleting a user (or from a
 * file) that is not there; GK_EIO or GK_ETOOBIG; err says why. */
int mqtt_passwd_file_set(const char *path, const char *user, const char *hash, const char *role,
                         char *err, size_t errlen);

/* ---- ACL file ----------------------------------------------------------- */

enum mqtt_acl_access { MQTT_ACL_READ = 1, MQTT_ACL_WRITE = 2 };

/* The longest pattern with %u or %c a file may hold, and the longest it may
 * become once substituted (the stack buffer of a check). */
#define MQTT_ACL_PATTERN_MAX 1024
#define MQTT_ACL_SUBST_MAX   4096

struct mqtt_acl;

/* Parses ACL text into a new table in *out; failures as mqtt_passwd_parse
 * (GK_ECONFIG, "NAME:LINE: reason"): an unknown keyword, a missing user name
 * or pattern, a pattern that is not a valid topic filter, a `pattern` line
 * where %u or %c is not a whole level or that is longer than
 * MQTT_ACL_PATTERN_MAX with them. Repeated `user NAME` blocks merge; in a
 * `topic` line %u and %c are plain text, as in Mosquitto. */
int mqtt_acl_parse(struct mqtt_acl **out, const char *text, size_t len, const char *name, char *err,
                   size_t errlen);

/* Reads and parses the ACL file at path; results as mqtt_passwd_load. */
int mqtt_acl_load(struct mqtt_acl **out, const char *path, char *err, size_t errlen);

/* True when the client (user NULL when anonymous; client_id NULL when
 * unknown) may have `access` (MQTT_ACL_READ: receive, MQTT_ACL_WRITE:
 * publish) to the topic name topic[0..len): a rule of its block (the
 * anonymous block when user is NULL) or a pattern grants it, and no deny rule
 * of either matches the topic. Rules follow mqtt_topic_matches, so `#` does
 * not grant "$SYS/...". A %u or %c level matches only a topic level equal to
 * the whole user name or client id; a pattern with %u never applies to an
 * anonymous client; a user name or client id that is empty or contains '/',
 * '+' or '#', that would start a pattern with '$' (%c/# for client "$SYS"), or
 * that makes a pattern longer than MQTT_ACL_SUBST_MAX, makes the allow rules
 * using it grant nothing and the deny rules using it deny everything (fail
 * closed). client_id is the one in use, the broker's when it assigned one.
 * Does not allocate. */
bool mqtt_acl_allows(const struct mqtt_acl *a, const char *user, const char *client_id,
                     const char *topic, size_t len, int access);

/* As mqtt_acl_allows, for a SUBSCRIBE topic filter (without its "$share/G/"
 * prefix): an allow rule must cover the whole filter (every topic name the
 * filter matches, the rule matches too: rule "sensors/+/data" covers
 * "sensors/x/data" and "sensors/+/data" but not "sensors/#"), and a deny rule
 * that covers the filter refuses it. A deny rule that covers only part of the
 * filter does not refuse the subscription: the broker must still check each
 * message at delivery with mqtt_acl_allows(..., MQTT_ACL_READ). */
bool mqtt_acl_allows_filter(const struct mqtt_acl *a, const char *user, const char *client_id,
                            const char *filter, size_t len, int access);

/* True when a rule of user's own block (`topic` lines after `user USER`;
 * not `pattern` lines, not the anonymous block) grants `access` to the
 * topic name topic[0..len), and no deny rule of that block or of the
 * patterns matches it. An explicit grant, as the broker requires for the
 * topics it reserves (alert topics). False for a NULL user or table. */
bool mqtt_acl_user_grants(const struct mqtt_acl *a, const char *user, const char *topic,
                          size_t len, int access);

void mqtt_acl_free(struct mqtt_acl *a);

#endif
