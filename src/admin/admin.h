/* admin.h: the admin tool's enrolment commands (gasket.c's table runs
 * them): `gasket init` makes a data directory with a CA, a server
 * certificate and a configuration that turns on TLS, client certificates
 * and API keys; `gasket device add|list|revoke` enrols devices into it and
 * takes them out. Each takes the arguments after its own name and returns
 * the exit status: 0 done, 1 failed, 2 usage. docs/enrol.md is the guide. */
#ifndef GASKET_ADMIN_ADMIN_H
#define GASKET_ADMIN_ADMIN_H

#define ADMIN_EXIT_OK 0
#define ADMIN_EXIT_FAIL 1
#define ADMIN_EXIT_USAGE 2

extern const char admin_init_usage[], admin_init_help[];
extern const char admin_device_usage[], admin_device_help[];

int admin_init(int argc, char **argv);
int admin_device(int argc, char **argv);

#endif
