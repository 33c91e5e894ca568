/* Text arguments in utf8mb4 where the server can convert them (udf_charset.h):
 * MySQL 8.0.19+'s documented mysql_udf_metadata service. The library is
 * linked with -z defs, so nothing of the server is bound at link time: the
 * registry bridge (mysql_plugin_registry_acquire/_release, exported by
 * mysqld) is looked up with dlsym when first needed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_DEFAULT */
#endif
#include "udf_charset.h"

#ifdef CE_MYSQL_UDF_HEADERS

#include "log.h"

#include <dlfcn.h>
#include <mysql/components/services/registry.h>
#include <mysql/components/services/udf_metadata.h>
#include <pthread.h>
#include <string.h>

typedef SERVICE_TYPE(registry) * (*registry_acquire_fn)(void);
typedef int (*registry_release_fn)(SERVICE_TYPE(registry) *);

static registry_acquire_fn registry_acquire;
static registry_release_fn registry_release;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static int unavailable_logged;

static void resolve(void) {
  void *a = dlsym(RTLD_DEFAULT, "mysql_plugin_registry_acquire");
  void *r = dlsym(RTLD_DEFAULT, "mysql_plugin_registry_release");
  if (a && r) {
    memcpy(&registry_acquire, &a, sizeof a);
    memcpy(&registry_release, &r, sizeof r);
  }
}

static void log_unavailable(const char *why) {
  if (!__atomic_exchange_n(&unavailable_logged, 1, __ATOMIC_RELAXED))
    ce_log("%s: text arguments are read per the charset setting "
           "(CONVERT(col USING utf8mb4) is always exact)",
           why);
}

ce_charset ce_udf_text_charset(UDF_ARGS *args, unsigned index,
                               ce_charset setting) {
  SERVICE_TYPE(registry) * reg;
  my_h_service h = NULL;
  ce_charset cs = setting;

  pthread_once(&resolve_once, resolve);
  if (index >= args->arg_count)
    return setting;
  if (!registry_acquire || !(reg = registry_acquire())) {
    log_unavailable("the server has no plugin registry");
    return setting;
  }
  if (reg->acquire("mysql_udf_metadata", &h) || !h) {
    log_unavailable("the server has no mysql_udf_metadata service "
                    "(MySQL before 8.0.19?)");
  } else {
    SERVICE_TYPE(mysql_udf_metadata) *md =
        (SERVICE_TYPE(mysql_udf_metadata) *)h;
    void *name = NULL;
    int binary = !md->argument_get(args, "charset", index, &name) && name &&
                 !strcmp((const char *)name, "binary");
    if (!binary && !md->argument_set(args, "charset", index, (void *)"utf8mb4"))
      cs = CE_CHARSET_UTF8MB4;
    reg->release(h);
  }
  registry_release(reg);
  return cs;
}

#else /* MariaDB: no way to ask; the setting decides. */

ce_charset ce_udf_text_charset(UDF_ARGS *args, unsigned index,
                               ce_charset setting) {
  (void)args;
  (void)index;
  return setting;
}

#endif
