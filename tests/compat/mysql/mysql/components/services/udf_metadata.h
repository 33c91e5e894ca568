/* A minimal stand-in for MySQL 8.0.19+'s
 * <mysql/components/services/udf_metadata.h>: the "mysql_udf_metadata"
 * service (struct s_mysql_mysql_udf_metadata: argument_get, result_get,
 * argument_set, result_set, in this order), from MySQL's source
 * documentation and WL#12370. Extension types: "charset" (value: the
 * character set name, const char *) and "collation". Compile test only;
 * never installed. */
#ifndef CE_COMPAT_MYSQL_SERVICES_UDF_METADATA_H
#define CE_COMPAT_MYSQL_SERVICES_UDF_METADATA_H

#include <mysql/components/service.h>
#include <mysql/udf_registration_types.h>

BEGIN_SERVICE_DEFINITION(mysql_udf_metadata)
DECLARE_BOOL_METHOD(argument_get, (UDF_ARGS * udf_args,
                                   const char *extension_type,
                                   unsigned int index, void **out_value));
DECLARE_BOOL_METHOD(result_get, (UDF_INIT * udf_init,
                                 const char *extension_type,
                                 void **out_value));
DECLARE_BOOL_METHOD(argument_set, (UDF_ARGS * udf_args,
                                   const char *extension_type,
                                   unsigned int index, void *in_value));
DECLARE_BOOL_METHOD(result_set, (UDF_INIT * udf_init,
                                 const char *extension_type, void *in_value));
END_SERVICE_DEFINITION(mysql_udf_metadata)

#endif
