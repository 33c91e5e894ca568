/* The UDF API as MariaDB and MySQL 8+ declare it. MariaDB: my_bool and
 * char flags, from the server headers (/usr/include/mariadb/server; the
 * client connector's copy has an older UDF_ARGS). MySQL 8+: bool and
 * unsigned char flags, from mysql/udf_registration_types.h. */
#ifndef CE_UDF_COMPAT_H
#define CE_UDF_COMPAT_H

#ifdef CE_MYSQL_UDF_HEADERS
#include <mysql/udf_registration_types.h>
#include <stdbool.h>
typedef bool ce_udf_bool;
typedef unsigned char ce_udf_flag;
#else
#include <mysql.h>
typedef my_bool ce_udf_bool;
typedef char ce_udf_flag;
#endif

#ifndef MYSQL_ERRMSG_SIZE
#define MYSQL_ERRMSG_SIZE 512
#endif

/* Only the UDF entry points leave the library (-fvisibility=hidden). */
#define CE_EXPORT __attribute__((visibility("default")))

#endif
