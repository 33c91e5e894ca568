/* The process-wide settings with the system-variable layer on top: file <
 * environment < layer, unsetting hands back, validation, api_key_file,
 * JINA_API_KEY never following a changed endpoint, the observer, and URL
 * passwords masked when formatted. */
#include "check.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/ce-layer.XXXXXX";
static char ini[256], keyfile[256];
static long seen_ttl = -1;
static int seen_calls;

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void observer(const ce_config *c) {
  seen_ttl = c->ttl;
  seen_calls++;
}

static ce_config now(void) {
  ce_config c;
  ce_config_current(&c);
  return c;
}

static void test_precedence(void) {
  ce_config c = now();
  CHECK(c.ttl == 600);  /* the file */
  CHECK(c.batch == 17); /* the environment over the file */
  CHECK_STR(c.model, "m-file");
  CHECK(ce_config_layer_set("ttl", "77") == 0);
  CHECK(ce_config_layer_set("batch", "5") == 0);
  c = now();
  CHECK(c.ttl == 77 && c.batch == 5); /* the layer over both */
  CHECK(ce_config_layer_set("ttl", NULL) == 0);
  CHECK(ce_config_layer_set("batch", NULL) == 0);
  c = now();
  CHECK(c.ttl == 600 && c.batch == 17); /* unset: back to file and env */
}

static void test_check(void) {
  char err[200];
  CHECK(ce_config_layer_check("ttl", "300", err, sizeof err) == 0);
  CHECK(ce_config_layer_check("ttl", "-1", err, sizeof err) == -1);
  CHECK(strstr(err, "ttl must be a whole number"));
  CHECK(ce_config_layer_check("endpoint", "ftp://x", err, sizeof err) == -1);
  CHECK(strstr(err, "endpoint must start with http://"));
  CHECK(ce_config_layer_check("api_key", "sk-x", err, sizeof err) == -1);
  CHECK(!strstr(err, "sk-x"));
  CHECK(ce_config_layer_set("api_key", "sk-x") == -1); /* secrets: never */
  CHECK(ce_config_layer_check("colour", "blue", err, sizeof err) == -1);
  CHECK(now().ttl == 600);
}

static void test_bad_value_fails_closed(void) {
  /* an option file's value: nothing refused it before */
  CHECK(ce_config_layer_set("endpoint", "ftp://elsewhere") == 0);
  ce_config c = now();
  CHECK(strstr(c.provider_off, "system variable cached_embed_endpoint"));
  CHECK_STR(c.endpoint,
            "https://api.jina.ai/v1/embeddings"); /* not used: off */
  CHECK(ce_config_layer_set("ttl", "-5") == 0);
  c = now();
  CHECK(c.ttl == 600); /* a bad value of a plain setting is ignored */
  ce_config_layer_clear();
  c = now();
  CHECK(!c.provider_off[0] && c.ttl == 600);
}

static void test_keys(void) {
  ce_config c = now();
  CHECK_STR(c.api_key, "jina-key"); /* JINA_API_KEY: the endpoint is Jina's */
  CHECK(ce_config_layer_set("endpoint", "http://127.0.0.1:9/v1/embeddings") ==
        0);
  c = now();
  CHECK_STR(c.api_key, ""); /* never sent to another host */
  CHECK(!c.provider_off[0]);
  CHECK(ce_config_layer_set("endpoint", NULL) == 0);
  CHECK_STR(now().api_key, "jina-key");

  write_file(keyfile, "  from-file-key  \r\nsecond line\n");
  CHECK(ce_config_layer_set("api_key_file", keyfile) == 0);
  c = now();
  CHECK_STR(c.api_key, "from-file-key");
  CHECK_STR(c.api_key_file, keyfile);

  write_file(keyfile, "\n");
  CHECK(ce_config_layer_set("api_key_file", keyfile) == 0); /* re-read */
  c = now();
  CHECK_STR(c.api_key, ""); /* not JINA_API_KEY either */
  CHECK(strstr(c.provider_off, "api_key_file") &&
        strstr(c.provider_off, "is empty"));

  unlink(keyfile);
  CHECK(ce_config_layer_set("api_key_file", keyfile) == 0);
  c = now();
  CHECK(strstr(c.provider_off, "system variable cached_embed_api_key_file: "
                               "cannot read")); /* off: no key is sent */

  CHECK(ce_config_layer_set("api_key_file", NULL) == 0);
  c = now();
  CHECK_STR(c.api_key, "jina-key");
  CHECK(!c.provider_off[0]);
}

static void test_observer(void) {
  ce_config_observe(observer);
  CHECK(seen_calls == 1 && seen_ttl == 600); /* called at once */
  ce_config_layer_set("ttl", "42");
  CHECK(seen_calls == 2 && seen_ttl == 42);
  ce_config_layer_clear();
  CHECK(seen_calls == 3 && seen_ttl == 600);
  ce_config_observe(NULL);
  ce_config_layer_set("ttl", "43");
  CHECK(seen_calls == 3);
  ce_config_layer_clear();
}

static void masked(const char *key, const char *value, const char *want) {
  ce_config c;
  char err[200], out[600];
  ce_config_defaults(&c);
  CHECK(ce_config_set(&c, key, value, err, sizeof err) == 0);
  ce_setting_format(&c, ce_setting_find(key), out, sizeof out);
  CHECK_STR(out, want);
}

static void test_masking(void) {
  masked("redis", "redis://user:s3cret@10.0.0.1:6380/2",
         "redis://user:***@10.0.0.1:6380/2");
  masked("redis", "redis://:s3cret@host", "redis://:***@host");
  masked("redis", "redis://host:6379/0", "redis://host:6379/0");
  masked("redis", "unix:///tmp/r.sock?db=1", "unix:///tmp/r.sock?db=1");
  masked("endpoint", "https://me:pw@h.example/v1/embeddings",
         "https://me:***@h.example/v1/embeddings");
}

int main(void) {
  if (!mkdtemp(dir))
    return 2;
  snprintf(ini, sizeof ini, "%s/cached_embed.cnf", dir);
  snprintf(keyfile, sizeof keyfile, "%s/api.key", dir);
  write_file(ini, "[cached_embed]\nttl = 600\nbatch = 9\nmodel = m-file\n");
  setenv("CACHED_EMBED_CONFIG", ini, 1);
  setenv("CACHED_EMBED_BATCH", "17", 1);
  setenv("JINA_API_KEY", "jina-key", 1);

  test_precedence();
  test_check();
  test_bad_value_fails_closed();
  test_keys();
  test_observer();
  test_masking();

  unlink(keyfile);
  unlink(ini);
  rmdir(dir);
  return CHECK_DONE();
}
