#include "check.h"
#include "config.h"
#include "text.h"

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
        c.parallel == 8 && c.local_cache_mb == 32 && c.dimensions == 0 &&
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
                    "batch = 9999\n"       /* out of range */
                    "parallel = four\n"    /* not a number */
                    "endpoint = ftp://x\n" /* wrong scheme */
                    "redis = mysql://x\n"  /* not a redis url */
                    "colour = blue\n"      /* unknown */
                    "no equals sign\n"
                    "[other]\n"
                    "model = ignored\n";
  ce_config c;
  int malformed = -1;
  ce_config_defaults(&c);
  reported[0] = 0, reports = 0;
  int bad = ce_config_parse_ini(&c, ini, strlen(ini), report, NULL, &malformed);
  CHECK(bad == 4 && malformed == 2 && reports == 6);
  CHECK_STR(c.model, "jina-embeddings-v3");
  CHECK(c.ttl == 0 && c.timeout_ms == 2500 && c.provider == CE_DIALECT_OPENAI);
  CHECK_STR(c.api_key, "sk-SECRET-VALUE");
  CHECK(c.batch == 256 && c.parallel == 8); /* defaults kept */
  CHECK(
      strstr(reported, "11:batch must be a whole number 1..2048, got '9999'"));
  CHECK(strstr(reported, "12:parallel must be a whole number"));
  CHECK(strstr(reported, "unknown setting 'colour'"));
  CHECK(!strstr(reported, "SECRET"));
  /* fail closed: a bad endpoint or redis disables the path, no fallback */
  CHECK(strstr(c.provider_off, "config line 13: endpoint must start with"));
  CHECK(strstr(c.cache_off, "config line 14: bad redis url"));
  CHECK(!strstr(c.provider_off, "SECRET"));
}

static void test_fail_closed(void) {
  char err[200];
  ce_config c;
  const char *cases[][2] = {
      {"endpoint = api.openai.com/v1/embeddings\n", "provider"},
      {"endpoint = https:///v1\n", "provider"},
      {"provider = cohere\n", "provider"},
      {"api_key = \"sk key with spaces\"\n", "provider"},
      {"ca_file = /nonexistent/ca.pem\n", "provider"},
      {"redis = redis://host:99999\n", "cache"},
      {"ttl = forever\n", "none"},
      {"key_prefix = ok:\n", "none"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char ini[256];
    snprintf(ini, sizeof ini, "[cached_embed]\napi_key = sk-1\n%s",
             cases[i][0]);
    ce_config_defaults(&c);
    ce_config_parse_ini(&c, ini, strlen(ini), NULL, NULL, NULL);
    int p = c.provider_off[0] != 0, k = c.cache_off[0] != 0;
    CHECK(p == !strcmp(cases[i][1], "provider"));
    CHECK(k == !strcmp(cases[i][1], "cache"));
    if (p != !strcmp(cases[i][1], "provider") ||
        k != !strcmp(cases[i][1], "cache"))
      fprintf(stderr, "  case %s", cases[i][0]);
    /* the default endpoint stays, but the path is off: never a fallback */
    CHECK(!strstr(c.provider_off, "sk key"));
  }
  (void)err;
}

static void test_table(void) {
  char env[80], val[64];
  const ce_setting *s = ce_setting_find("redis-timeout-ms");
  CHECK(s && !strcmp(s->name, "redis_timeout_ms"));
  ce_setting_env_name(s, env, sizeof env);
  CHECK_STR(env, "CACHED_EMBED_REDIS_TIMEOUT_MS");
  ce_config c;
  ce_config_defaults(&c);
  ce_setting_format(&c, ce_setting_find("provider"), val, sizeof val);
  CHECK_STR(val, "jina");
  CHECK(ce_config_set(&c, "api_key", "sk-TOPSECRET", val, sizeof val) == 0);
  ce_setting_format(&c, ce_setting_find("api_key"), val, sizeof val);
  CHECK_STR(val, ""); /* a secret is never formatted */
  ce_setting_format(&c, ce_setting_find("truncate"), val, sizeof val);
  CHECK_STR(val, "on");
  /* every row: a help line, a default that its own check accepts */
  for (size_t i = 0; i < ce_n_settings; i++) {
    char err[200];
    const ce_setting *r = &ce_settings[i];
    CHECK(r->help && r->help[0]);
    ce_setting_format(&c, r, val, sizeof val);
    if (!(r->flags & CE_SECRET) && r->type == CE_T_STR)
      CHECK(!r->check || !r->def_str[0] ||
            r->check(r->def_str, err, sizeof err) == 0);
  }
}

static void test_jina_endpoint(void) {
  CHECK(ce_endpoint_is_jina("https://api.jina.ai/v1/embeddings"));
  CHECK(ce_endpoint_is_jina("https://eu.api.JINA.ai:443/v1/embeddings"));
  CHECK(!ce_endpoint_is_jina("http://api.jina.ai/v1/embeddings")); /* no TLS */
  CHECK(!ce_endpoint_is_jina("https://api.openai.com/v1/embeddings"));
  CHECK(!ce_endpoint_is_jina("https://api.jina.ai.evil.com/v1"));
  CHECK(!ce_endpoint_is_jina("https://notjina.ai/v1"));
  CHECK(!ce_endpoint_is_jina("https://127.0.0.1:8080/v1/embeddings"));
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

static const char *fake_env3(const char *name) {
  if (!strcmp(name, "CACHED_EMBED_ENDPOINT"))
    return "https://api.openai.com/v1/embeddings";
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
  CHECK_STR(c.api_key, "jina_SECRET"); /* the default endpoint is Jina's */
  CHECK(strstr(reported, "CACHED_EMBED_DIMENSIONS: dimensions must be"));
  ce_config_defaults(&c);
  CHECK(ce_config_apply_env(&c, fake_env2, NULL, NULL) == 0);
  CHECK_STR(c.api_key, "ce_key"); /* CACHED_EMBED_API_KEY wins */
  /* JINA_API_KEY is never sent to another company's endpoint */
  ce_config_defaults(&c);
  CHECK(ce_config_apply_env(&c, fake_env3, NULL, NULL) == 0);
  CHECK_STR(c.api_key, "");
  ce_config_defaults(&c);
  strcpy(c.endpoint, "http://127.0.0.1:9/v1/embeddings");
  CHECK(ce_config_apply_env(&c, fake_env, NULL, NULL) == 1);
  CHECK_STR(c.api_key, "");
}

static void test_set_errors(void) {
  ce_config c;
  char err[160];
  ce_config_defaults(&c);
  CHECK(ce_config_set(&c, "api_key", "line1\nInjected: header", err,
                      sizeof err) == -1);
  CHECK(!strstr(err, "Injected"));
  CHECK(ce_config_set(&c, "truncate", "off", err, sizeof err) == 0 &&
        c.truncate == 0);
  CHECK(ce_config_set(&c, "provider", "cohere", err, sizeof err) == -1);
  CHECK(ce_config_set(&c, "model", "", err, sizeof err) == -1);
  char longv[2000];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = 0;
  CHECK(ce_config_set(&c, "endpoint", longv, err, sizeof err) == -1);
  CHECK(ce_config_set(&c, "ttl", "12abc", err, sizeof err) == -1 &&
        c.ttl == 1200);
  CHECK(c.charset == CE_CHARSET_AUTO && c.local_cache_max_age == 60);
  CHECK(ce_config_set(&c, "charset", "latin1", err, sizeof err) == 0 &&
        c.charset == CE_CHARSET_LATIN1);
  CHECK(ce_config_set(&c, "charset", "utf8mb4", err, sizeof err) == 0 &&
        c.charset == CE_CHARSET_UTF8MB4);
  CHECK(ce_config_set(&c, "charset", "utf16", err, sizeof err) == -1 &&
        c.charset == CE_CHARSET_UTF8MB4);
  CHECK_STR(err, "charset must be auto or utf8mb4 or latin1, got 'utf16'");
  CHECK(ce_config_set(&c, "local_cache_max_age", "0", err, sizeof err) == -1);
}

int main(void) {
  test_defaults();
  test_ini();
  test_env();
  test_fail_closed();
  test_table();
  test_jina_endpoint();
  test_set_errors();
  return CHECK_DONE();
}
