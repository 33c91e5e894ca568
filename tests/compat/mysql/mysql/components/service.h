/* A minimal stand-in for MySQL 8.0+'s <mysql/components/service.h>, written
 * for cached_embed from MySQL's source documentation of the component
 * services ("service.h File Reference": mysql_service_status_t and the
 * service definition macros). Not the server's file; used only by the
 * compile test of the MySQL glue (tests/CMakeLists.txt); never installed. */
#ifndef CE_COMPAT_MYSQL_COMPONENTS_SERVICE_H
#define CE_COMPAT_MYSQL_COMPONENTS_SERVICE_H

/* 0 is success (false), non-zero failure (true), as C++ bool. */
typedef int mysql_service_status_t;

#define SERVICE_TYPE_NO_CONST(name) mysql_service_##name##_t
#define SERVICE_TYPE(name) const SERVICE_TYPE_NO_CONST(name)
#define BEGIN_SERVICE_DEFINITION(name) typedef struct s_mysql_##name {
#define END_SERVICE_DEFINITION(name)                                           \
  }                                                                            \
  SERVICE_TYPE_NO_CONST(name);
#define DECLARE_METHOD(retval, name, args) retval(*name) args
#define DECLARE_BOOL_METHOD(name, args)                                        \
  DECLARE_METHOD(mysql_service_status_t, name, args)
#define DEFINE_SERVICE_HANDLE(name) typedef struct name##_imp *name

/* A reference to a service implementation, as the registry hands it out. */
DEFINE_SERVICE_HANDLE(my_h_service);

#endif
