/* gasket.c: the admin tool, `gasket COMMAND ...`.
 *
 * Commands live in one table; each parses its own options. `gasket init`
 * and `gasket device` (enrolment) are in src/admin (admin.h). `gasket passwd`
 * manages the MQTT broker's password file and the dashboard's users file
 * (Mosquitto's $7$ PBKDF2-SHA512 format, with a role field for dashboard
 * users); the file handling and hashing are in mqtt/auth.c, this file only
 * reads arguments and the password. Exit status: 0 done, 1 failed, 2 usage. */
#include "admin/admin.h"
#include "core/err.h"
#include "mqtt/auth.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/version.h"
#define PASS_MAX       1024

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char passwd_usage[] =
    "usage: gasket passwd [-i ITERATIONS] [-r viewer|admin] FILE USER\n"
    "       gasket passwd -D FILE USER\n";

static const char passwd_help[] =
    "\n"
    "Adds USER to the password FILE (the MQTT broker's password_file, or the\n"
    "dashboard's users file, [http] dashboard_users), or replaces the password\n"
    "USER has there.\n"
    "The password is read twice from the terminal without echo, or once (one line)\n"
    "from standard input when that is not a terminal. FILE is created with mode 0600\n"
    "when missing; it is rewritten through a temporary file and a rename, so it is\n"
    "never left half-written. Lines are Mosquitto's: USER:$7$ITERATIONS$SALT$HASH\n"
    "(PBKDF2-HMAC-SHA512), so mosquitto_passwd files work both ways.\n"
    "\n"
    "  -D             delete USER from FILE instead\n"
    "  -i ITERATIONS  PBKDF2 iterations for the new hash (default 50000,\n"
    "                 1000 to 10000000)\n"
    "  -r ROLE        the dashboard role written after the hash (USER:HASH:ROLE):\n"
    "                 viewer (reads everything) or admin (also acknowledges\n"
    "                 alarms); without -r a changed password keeps the role the\n"
    "                 line had, and a new line has none (a viewer)\n"
    "  -h             show this help\n";

static int cmd_passwd(int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage, *help, *summary;
} commands[] = {
    {"passwd", cmd_passwd, passwd_usage, passwd_help,
     "add, change or delete an MQTT or dashboard user"},
    {"init", admin_init, admin_init_usage, admin_init_help,
     "make a data directory with a CA, TLS and API keys for devices"},
    {"device", admin_device, admin_device_usage, admin_device_help,
     "enrol devices (add), show them (list), take them out (revoke)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: gasket COMMAND [ARGS]\n"
               "       gasket help COMMAND\n"
               "\n"
               "gasket's admin tool. Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "  -h, --help     show this help\n"
               "  -V, --version  show the version\n");
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int usage_error(const struct command *c, const char *fmt, const char *arg)
{
    fprintf(stderr, "gasket: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", c ? c->usage : "usage: gasket COMMAND [ARGS] (gasket --help)\n");
    return EXIT_USAGE;
}

/* ---- Reading the password ------------------------------------------------ */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty(int sig)
{
    if (tty_changed) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line from stdin into out (NUL-terminated, without "\n" or
 * "\r\n"); returns its length, or -1 on error or when it does not fit. */
static long read_line(char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0 || c == '\n') break;
        if (n + 1 >= cap) return -1;
        out[n++] = c;
    }
    if (n && out[n - 1] == '\r') n--;
    out[n] = '\0';
    return (long)n;
}

/* Prompts on stderr and reads a line from the terminal without echo. */
static long read_hidden(const char *prompt, char *out, size_t cap)
{
    struct termios quiet;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0) return -1;
    quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    signal(SIGINT, restore_tty);
    signal(SIGTERM, restore_tty);
    tty_changed = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    long n = read_line(out, cap);
    if (tty_changed) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    return n;
}

/* Reads the new password into pass: twice from a terminal, else once. */
static bool read_password(char *pass, size_t cap)
{
    char again[PASS_MAX];
    bool tty = isatty(STDIN_FILENO);
    long n = tty ? read_hidden("Password: ", pass, cap) : read_line(pass, cap);
    if (n < 0) {
        fprintf(stderr, "gasket: cannot read the password (at most %d bytes)\n", PASS_MAX - 1);
        return false;
    }
    if (n == 0) {
        fprintf(stderr, "gasket: empty password\n");
        return false;
    }
    if (!tty) return true;
    bool same =
        read_hidden("Reenter password: ", again, sizeof again) == n && strcmp(pass, again) == 0;
    explicit_bzero(again, sizeof again);
    if (!same) fprintf(stderr, "gasket: passwords do not match\n");
    return same;
}

/* ---- gasket passwd ------------------------------------------------------- */

/* Sets user's password in file, hashed with `iterations`, with role (NULL:
 * the line's own). */
static int passwd_set(const char *file, const char *user, unsigned iterations, const char *role)
{
    char pass[PASS_MAX], hash[MQTT_PASSWD_HASH_MAX], err[512];
    if (!mqtt_passwd_valid_user(user)) {
        fprintf(stderr,
                "gasket: invalid user name \"%s\" (empty, ':', a control character, or a "
                "leading '#' or space)\n",
                user);
        return EXIT_FAIL;
    }
    bool got = read_password(pass, sizeof pass);
    int rc = got ? mqtt_passwd_hash(pass, iterations, hash, sizeof hash) : GK_EINVAL;
    explicit_bzero(pass, sizeof pass);
    if (!got) return EXIT_FAIL;
    if (rc != 0) {
        fprintf(stderr, "gasket: cannot hash the password: %s\n", gk_strerror(rc));
        return EXIT_FAIL;
    }
    if (mqtt_passwd_file_set(file, user, hash, role, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: %s\n", err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_passwd(int argc, char **argv)
{
    const struct command *c = find_command("passwd");
    bool del = false, iter_set = false;
    const char *role = NULL;
    unsigned long iterations = MQTT_PASSWD_ITER_DEFAULT;
    char *end, optstr[2] = {0};
    int opt;
    opterr = 0;
    while ((opt = getopt(argc, argv, "+Di:r:h")) != -1) {
        switch (opt) {
        case 'D':
            del = true;
            break;
        case 'i':
            errno = 0;
            iter_set = true;
            iterations = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] < '0' || optarg[0] > '9' ||
                iterations < MQTT_PASSWD_ITER_MIN_NEW || iterations > MQTT_PASSWD_ITER_MAX)
                return usage_error(c, "iterations must be 1000 to 10000000, not \"%s\"", optarg);
            break;
        case 'r':
            if (strcmp(optarg, "viewer") != 0 && strcmp(optarg, "admin") != 0)
                return usage_error(c, "the role must be viewer or admin, not \"%s\"", optarg);
            role = optarg;
            break;
        case 'h':
            printf("%s%s", c->usage, c->help);
            return EXIT_OK;
        default:
            optstr[0] = (char)optopt;
            return usage_error(c, "bad option or missing value: -%s", optstr);
        }
    }
    if (argc - optind != 2) return usage_error(c, "%s", "expected FILE and USER");
    if (del && (iter_set || role))
        return usage_error(c, "%s", iter_set ? "-i does not go with -D" : "-r does not go with -D");
    if (!del) return passwd_set(argv[optind], argv[optind + 1], (unsigned)iterations, role);
    char err[512];
    if (mqtt_passwd_file_set(argv[optind], argv[optind + 1], NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "gasket: %s\n", err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- main ---------------------------------------------------------------- */

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    const struct command *c = find_command(argv[1]);
    if (!c || argc > 2) return usage_error(NULL, "no help for \"%s\"", argv[argc > 2 ? 2 : 1]);
    printf("%s%s", c->usage, c->help);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return cmd_help(1, argv);
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        printf("gasket %s\n", GASKET_VERSION);
        return EXIT_OK;
    }
    if (strcmp(a, "help") == 0) return cmd_help(argc - 1, argv + 1);
    const struct command *c = find_command(a);
    if (!c) return usage_error(NULL, "unknown command \"%s\"", a);
    return c->run(argc - 1, argv + 1);
}
