#include "check.h"
#include "config.h"

#include <stdlib.h>

static char reported[2048];
static int reports;

static void report(void *ctx, int line, const char *msg) {
  (void)ctx;
  size_t n = strlen(reported);
  snprintf(reported + n, sizeof reported - n, "%d:%s\n", line, msg);
  reports++;
}

static void test_defaults(void) {
  ce_config c;
  ce_config_defaults(&c);
  CHECK_STR(c.endpoint, "https://api.jina.ai/v1/embeddings");
  CHECK_STR(c.model, "jina-embeddings-v2-base-en");
  CHECK_STR(c.redis, "redis://127.0.0.1:6379/0");
  CHECK_STR(c.key_prefix, "cached_embed:");
  CHECK(c.ttl == 1200 && c.timeout_ms == 10000 && c.batch == 256 &&
        c.parallel == 4 && c.local_cache_mb == 32 && c.dimensions == 0 &&
        c.provider == CE_DIALECT_JINA && !c.api_key[0] && !c.task[0]);
}

static void test_ini(void) {
  const char *ini = "[mysqld]\n"
                    "ttl = 5\n" /* another section: ignored */
                    "[cached_embed]\n"
                    "# comment\n"
                    "; comment\n"
                    "model = \"jina-embeddings-v3\"\n"
                    "ttl=0\r\n"
                    "timeout-ms = 2500\n"
                    "provider = openai\n"
                    "api_key = sk-SECRET-VALUE\n"
                    "batch = 9999\n"          /* out of range */
                    "parallel = four\n"       /* not a number */
                    "endpoint = ftp://x\n"    /* wrong scheme */
                    "redis = mysql://x\n"     /* checked where used: cache off */
                    "colour = blue\n"         /* unknown */
                    "no equals sign\n"
                    "[other]\n"
                    "model = ignored\n";
  ce_config c;
  ce_config_defaults(&c);
  reported[0] = 0, reports = 0;
  int bad = ce_config_parse_ini(&c, ini, strlen(ini), report, NULL);
  CHECK(bad == 5 && reports == 5);
  CHECK_STR(c.model, "jina-embeddings-v3");
  CHECK(c.ttl == 0 && c.timeout_ms == 2500 && c.provider == CE_DIALECT_OPENAI);
  CHECK_STR(c.api_key, "sk-SECRET-VALUE");
  CHECK(c.batch == 256 && c.parallel == 4); /* defaults kept */
  CHECK_STR(c.endpoint, "https://api.jina.ai/v1/embeddings");
  CHECK_STR(c.redis, "mysql://x"); /* never the default host instead */
  CHECK(strstr(reported, "11:batch must be a whole number 1..2048, got '9999'"));
  CHECK(strstr(reported, "12:parallel must be a whole number"));
  CHECK(strstr(reported, "unknown setting 'colour'"));
  CHECK(!strstr(reported, "SECRET"));
}

static const char *fake_env(const char *name) {
  if (!strcmp(name, "CACHED_EMBED_TTL"))
    return "60";
  if (!strcmp(name, "JINA_API_KEY"))
    return "jina_SECRET";
  if (!strcmp(name, "CACHED_EMBED_DIMENSIONS"))
    return "-1";
  return NULL;
}

static const char *fake_env2(const char *name) {
  if (!strcmp(name, "CACHED_EMBED_API_KEY"))
    return "ce_key";
  if (!strcmp(name, "JINA_API_KEY"))
    return "jina_key";
  return NULL;
}

static void test_env(void) {
  ce_config c;
  ce_config_defaults(&c);
  reported[0] = 0, reports = 0;
  CHECK(ce_config_apply_env(&c, fake_env, report, NULL) == 1);
  CHECK(c.ttl == 60 && c.dimensions == 0);
  CHECK_STR(c.api_key, "jina_SECRET");
  CHECK(strstr(reported, "CACHED_EMBED_DIMENSIONS: dimensions must be"));
  ce_config_defaults(&c);
  CHECK(ce_config_apply_env(&c, fake_env2, NULL, NULL) == 0);
  CHECK_STR(c.api_key, "ce_key"); /* CACHED_EMBED_API_KEY wins */
}

static void test_set_errors(void) {
  ce_config c;
  char err[160];
  ce_config_defaults(&c);
  CHECK(ce_config_set(&c, "api_key", "line1\nInjected: header", err, sizeof err) == -1);
  CHECK(!strstr(err, "Injected"));
  CHECK(ce_config_set(&c, "truncate", "off", err, sizeof err) == 0 && c.truncate == 0);
  CHECK(ce_config_set(&c, "provider", "cohere", err, sizeof err) == -1);
  CHECK(ce_config_set(&c, "model", "", err, sizeof err) == -1);
  char longv[2000];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = 0;
  CHECK(ce_config_set(&c, "endpoint", longv, err, sizeof err) == -1);
  CHECK(ce_config_set(&c, "ttl", "12abc", err, sizeof err) == -1 && c.ttl == 1200);
}

int main(void) {
  test_defaults();
  test_ini();
  test_env();
  test_set_errors();
  return CHECK_DONE();
}
