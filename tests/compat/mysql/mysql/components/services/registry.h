/* A minimal stand-in for MySQL 8.0+'s
 * <mysql/components/services/registry.h>: the "registry" service (struct
 * s_mysql_registry: acquire, acquire_related, release, in this order), from
 * MySQL's source documentation. Compile test only; never installed. */
#ifndef CE_COMPAT_MYSQL_SERVICES_REGISTRY_H
#define CE_COMPAT_MYSQL_SERVICES_REGISTRY_H

#include <mysql/components/service.h>

BEGIN_SERVICE_DEFINITION(registry)
DECLARE_BOOL_METHOD(acquire, (const char *service_name,
                              my_h_service *out_service));
DECLARE_BOOL_METHOD(acquire_related,
                    (const char *service_name, my_h_service service,
                     my_h_service *out_service));
DECLARE_BOOL_METHOD(release, (my_h_service service));
END_SERVICE_DEFINITION(registry)

#endif
