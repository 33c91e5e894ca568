#include "cache_entry.h"
#include "cache_key.h"
#include "check.h"
#include "vector.h"

#include <math.h>
#include <stdlib.h>

static void test_keys(void) {
  ce_config c;
  char key[CE_KEY_MAX];
  uint8_t h[32];
  ce_config_defaults(&c);
  ce_sha256("text", 4, h);

  size_t n = ce_key_build(&c, NULL, 0, "beer:1", 6, h, key);
  CHECK_STR(key, "cached_embed:v2:jina-embeddings-v2-base-en:beer:1");
  CHECK(n == strlen(key));
  ce_key_build(&c, NULL, 0, NULL, 0, h, key);
  CHECK_STR(key,
            "cached_embed:v2:jina-embeddings-v2-base-en:sha256:"
            "982d9e3eb996f559e633f4d194def3761d909f5a3b647d1a851fead67c32c9d1");
  c.dimensions = 256;
  strcpy(c.task, "retrieval.passage");
  strcpy(c.model, "jina-embeddings-v3");
  ce_key_build(&c, NULL, 0, "k", 1, h, key);
  CHECK_STR(key, "cached_embed:v2:jina-embeddings-v3@256#retrieval.passage:k");
  /* a task of the call's own replaces the configured one */
  ce_key_build(&c, "query", 5, "k", 1, h, key);
  CHECK_STR(key, "cached_embed:v2:jina-embeddings-v3@256#query:k");

  /* binary-safe, and long keys are hashed to a bounded length */
  n = ce_key_build(&c, NULL, 0, "a\0b", 3, h, key);
  CHECK(n ==
        strlen("cached_embed:v2:jina-embeddings-v3@256#retrieval.passage:") +
            3);
  char *longkey = malloc(100000);
  memset(longkey, 'k', 100000);
  n = ce_key_build(&c, NULL, 0, longkey, 100000, h, key);
  CHECK(n < CE_KEY_MAX && strstr(key, ":key-sha256:"));
  /* so are long tasks */
  n = ce_key_build(&c, longkey, 1000, "k", 1, h, key);
  CHECK(n < CE_KEY_MAX && strstr(key, "@256#sha256-") && !strstr(key, "kkk"));
  free(longkey);
}

/* The parts are escaped: a separator in the model or task cannot move the
 * boundary between the identity and the user key. */
static void test_keys_unambiguous(void) {
  ce_config a, b;
  char ka[CE_KEY_MAX], kb[CE_KEY_MAX];
  uint8_t h[32];
  ce_sha256("text", 4, h);
  ce_config_defaults(&a);
  ce_config_defaults(&b);
  strcpy(a.model, "nomic-embed-text");
  strcpy(b.model, "nomic-embed-text:latest");
  ce_key_build(&a, NULL, 0, "latest:doc1", 11, h, ka);
  ce_key_build(&b, NULL, 0, "doc1", 4, h, kb);
  CHECK(strcmp(ka, kb) != 0);
  CHECK_STR(kb, "cached_embed:v2:nomic-embed-text%3Alatest:doc1");

  /* model "m@5" vs model "m" with dimensions 5; task "t:x" vs key "x:..." */
  strcpy(a.model, "m@5");
  strcpy(b.model, "m");
  b.dimensions = 5;
  ce_key_build(&a, NULL, 0, "k", 1, h, ka);
  ce_key_build(&b, NULL, 0, "k", 1, h, kb);
  CHECK(strcmp(ka, kb) != 0);
  strcpy(a.model, "m");
  a.dimensions = 0;
  ce_key_build(&a, "t:x", 3, "k", 1, h, ka);
  ce_key_build(&a, "t", 1, "x:k", 3, h, kb);
  CHECK(strcmp(ka, kb) != 0);
  CHECK_STR(ka, "cached_embed:v2:m#t%3Ax:k");
  ce_key_build(&a, "100%", 4, "k", 1, h, ka);
  CHECK_STR(ka, "cached_embed:v2:m#100%25:k");
  ce_key_build(&a, "a b{c}#", 7, "k", 1, h, ka);
  CHECK_STR(ka, "cached_embed:v2:m#a%20b%7Bc%7D%23:k");

  /* the longest model and task fit */
  memset(a.model, 0x01, sizeof a.model - 1);
  a.model[sizeof a.model - 1] = '\0';
  memset(a.key_prefix, 'p', sizeof a.key_prefix - 1);
  a.key_prefix[sizeof a.key_prefix - 1] = '\0';
  a.dimensions = 16384;
  char task[CE_KEY_TASK_MAX], *userkey = malloc(CE_USER_KEY_MAX);
  memset(task, ':', sizeof task);
  memset(userkey, 'u', CE_USER_KEY_MAX);
  size_t n =
      ce_key_build(&a, task, sizeof task, userkey, CE_USER_KEY_MAX, h, ka);
  CHECK(n + 1 <= CE_KEY_MAX && n == strlen(ka));
  free(userkey);
}

static void test_entry(void) {
  uint8_t h[32], other[32], vec[12], buf[CE_ENTRY_HEADER + 12];
  const uint8_t *got;
  uint32_t dims;
  ce_sha256("text", 4, h);
  ce_sha256("other", 5, other);
  ce_f32_store(vec, 0.5f), ce_f32_store(vec + 4, -0.25f),
      ce_f32_store(vec + 8, 1);

  CHECK(ce_entry_size(3) == sizeof buf);
  ce_entry_encode(h, vec, 3, buf);
  CHECK(ce_entry_decode(buf, sizeof buf, h, 0, &got, &dims) == CE_ENTRY_OK);
  CHECK(dims == 3 && !memcmp(got, vec, 12));
  CHECK(ce_entry_decode(buf, sizeof buf, h, 3, &got, &dims) == CE_ENTRY_OK);
  CHECK(ce_entry_decode(buf, sizeof buf, h, 4, &got, &dims) ==
        CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode(buf, sizeof buf, other, 0, &got, &dims) ==
        CE_ENTRY_STALE);
  CHECK(ce_entry_decode(buf, sizeof buf - 1, h, 0, &got, &dims) ==
        CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode(buf, 3, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode((const uint8_t *)"hello", 5, h, 0, &got, &dims) ==
        CE_ENTRY_CORRUPT);

  uint8_t bad[sizeof buf];
  memcpy(bad, buf, sizeof buf);
  bad[0] = 'X';
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) ==
        CE_ENTRY_CORRUPT);
  memcpy(bad, buf, sizeof buf);
  ce_f32_store(bad + CE_ENTRY_HEADER + 4, NAN);
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) ==
        CE_ENTRY_CORRUPT);
  memcpy(bad, buf, sizeof buf);
  bad[4] = 0; /* zero dims */
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) ==
        CE_ENTRY_CORRUPT);
}

int main(void) {
  test_keys();
  test_keys_unambiguous();
  test_entry();
  return CHECK_DONE();
}
