/* version.h: gasket's version, one place for every program and $SYS. */
#ifndef GASKET_CORE_VERSION_H
#define GASKET_CORE_VERSION_H

#define GASKET_VERSION "0.1.0"

#endif
