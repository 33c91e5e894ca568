/* The UDF API as MariaDB and MySQL 8+ declare it. MariaDB: my_bool and
 * char flags, from the server headers (/usr/include/mariadb/server; the
 * client connector's copy has an older UDF_ARGS). MySQL 8+: bool and
 * unsigned char flags, from mysql/udf_registration_types.h (CMake defines
 * CE_MYSQL_UDF_HEADERS when it builds against MySQL's headers). Both flag
 * types are one byte, and so are my_bool (char) and bool. */
/* Conventions for all of udf/ (return codes, names, messages, headers):
 * ARCHITECTURE.md, "Conventions". */
#ifndef CE_UDF_COMPAT_H
#define CE_UDF_COMPAT_H

#ifdef CE_MYSQL_UDF_HEADERS
#include <mysql/udf_registration_types.h>
#include <stdbool.h>
typedef bool ce_udf_bool;
typedef unsigned char ce_udf_flag;
/* MySQL declares the entry points' types (Udf_func_*): the glue's own
 * declarations must match them exactly, checked at compile time. */
#define CE_CHECK_ENTRY(sym, type)                                              \
  _Static_assert(__builtin_types_compatible_p(__typeof__(&sym), type),         \
                 #sym " does not match MySQL's " #type)
#else
#include <mysql.h>
typedef my_bool ce_udf_bool;
typedef char ce_udf_flag;
#define CE_CHECK_ENTRY(sym, type) _Static_assert(1, #sym)
#endif

#ifndef MYSQL_ERRMSG_SIZE
#define MYSQL_ERRMSG_SIZE 512
#endif

/* Only the UDF entry points leave the library (-fvisibility=hidden). */
#define CE_EXPORT __attribute__((visibility("default")))

#endif
