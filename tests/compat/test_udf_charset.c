/* The MySQL glue of udf_charset.h (cached_embed_charset.c, built the MySQL
 * way against tests/compat/mysql) driven through a stand-in of the two
 * documented services it uses: the plugin registry bridge
 * (mysql_plugin_registry_acquire/_release, found with dlsym as in mysqld)
 * and mysql_udf_metadata. Checks our side of the protocol only: what is
 * asked, in which order, that every reference is released, and the
 * fallback to the setting. Whether a real MySQL converts is not tested here
 * (no MySQL on Debian). */
#include "check.h"
#include "udf_charset.h"

#include <mysql/components/services/registry.h>
#include <mysql/components/services/udf_metadata.h>

/* What the stand-in server does and saw. */
static const char *arg_charset = "latin1"; /* argument_get's answer */
static int fail_set, fail_service, refs, sets, set_index;
static char set_value[32];

static mysql_service_status_t md_argument_get(UDF_ARGS *a, const char *type,
                                              unsigned int i, void **out) {
  (void)a, (void)i;
  if (strcmp(type, "charset"))
    return 1;
  *out = (void *)arg_charset;
  return 0;
}
static mysql_service_status_t md_result_get(UDF_INIT *u, const char *t,
                                            void **o) {
  (void)u, (void)t, (void)o;
  return 1;
}
static mysql_service_status_t md_argument_set(UDF_ARGS *a, const char *type,
                                              unsigned int i, void *in) {
  (void)a;
  if (strcmp(type, "charset") || fail_set)
    return 1;
  sets++;
  set_index = (int)i;
  snprintf(set_value, sizeof set_value, "%s", (const char *)in);
  return 0;
}
static mysql_service_status_t md_result_set(UDF_INIT *u, const char *t,
                                            void *i) {
  (void)u, (void)t, (void)i;
  return 1;
}
static SERVICE_TYPE_NO_CONST(mysql_udf_metadata) metadata = {
    md_argument_get, md_result_get, md_argument_set, md_result_set};

static mysql_service_status_t reg_acquire(const char *name, my_h_service *out) {
  if (fail_service || strcmp(name, "mysql_udf_metadata"))
    return 1;
  refs++;
  *out = (my_h_service)(void *)&metadata;
  return 0;
}
static mysql_service_status_t reg_acquire_related(const char *n, my_h_service s,
                                                  my_h_service *o) {
  (void)n, (void)s, (void)o;
  return 1;
}
static mysql_service_status_t reg_release(my_h_service s) {
  CHECK((void *)s == (void *)&metadata);
  refs--;
  return 0;
}
static SERVICE_TYPE_NO_CONST(registry) registry = {
    reg_acquire, reg_acquire_related, reg_release};

/* Exported (-rdynamic) like mysqld's: the glue finds them with dlsym. */
__attribute__((visibility("default"))) SERVICE_TYPE(registry) *
    mysql_plugin_registry_acquire(void);
__attribute__((visibility("default"))) int
mysql_plugin_registry_release(SERVICE_TYPE(registry) *);

SERVICE_TYPE(registry) * mysql_plugin_registry_acquire(void) {
  refs++;
  return &registry;
}
int mysql_plugin_registry_release(SERVICE_TYPE(registry) * r) {
  CHECK(r == &registry);
  refs--;
  return 0;
}

int main(void) {
  enum Item_result types[2] = {STRING_RESULT, STRING_RESULT};
  char *argv[2] = {NULL, NULL};
  unsigned long lengths[2] = {0, 0};
  UDF_ARGS args = {2, types, argv, lengths, NULL, NULL, NULL, NULL};

  /* a latin1 (or any character set) argument: converted to utf8mb4 */
  CHECK(ce_udf_text_charset(&args, 1, CE_CHARSET_AUTO) == CE_CHARSET_UTF8MB4);
  CHECK(sets == 1 && set_index == 1 && !strcmp(set_value, "utf8mb4"));
  CHECK(refs == 0);
  /* a binary argument has no character set to convert from */
  arg_charset = "binary";
  CHECK(ce_udf_text_charset(&args, 1, CE_CHARSET_LATIN1) == CE_CHARSET_LATIN1);
  CHECK(sets == 1 && refs == 0);
  /* the server refuses: the setting decides */
  arg_charset = "utf16";
  fail_set = 1;
  CHECK(ce_udf_text_charset(&args, 1, CE_CHARSET_AUTO) == CE_CHARSET_AUTO);
  CHECK(refs == 0);
  /* no such service (MySQL before 8.0.19): the setting decides */
  fail_set = 0;
  fail_service = 1;
  CHECK(ce_udf_text_charset(&args, 1, CE_CHARSET_UTF8MB4) ==
        CE_CHARSET_UTF8MB4);
  CHECK(sets == 1 && refs == 0);
  /* an index past the arguments is never asked about */
  fail_service = 0;
  CHECK(ce_udf_text_charset(&args, 2, CE_CHARSET_AUTO) == CE_CHARSET_AUTO);
  CHECK(sets == 1 && refs == 0);
  return CHECK_DONE();
}
