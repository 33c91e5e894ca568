#include "check.h"
#include "entry.h"
#include "vector.h"

#include <math.h>
#include <stdlib.h>

static void test_keys(void) {
  ce_config c;
  char key[CE_KEY_MAX];
  uint8_t h[32];
  ce_config_defaults(&c);
  ce_sha256("text", 4, h);

  size_t n = ce_key_build(&c, "beer:1", 6, h, key);
  CHECK_STR(key, "cached_embed:jina-embeddings-v2-base-en:beer:1");
  CHECK(n == strlen(key));
  ce_key_build(&c, NULL, 0, h, key);
  CHECK_STR(key, "cached_embed:jina-embeddings-v2-base-en:sha256:"
                 "982d9e3eb996f559e633f4d194def3761d909f5a3b647d1a851fead67c32c9d1");
  c.dimensions = 256;
  strcpy(c.task, "retrieval.passage");
  strcpy(c.model, "jina-embeddings-v3");
  ce_key_build(&c, "k", 1, h, key);
  CHECK_STR(key, "cached_embed:jina-embeddings-v3@256#retrieval.passage:k");

  /* binary-safe, and long keys are hashed to a bounded length */
  n = ce_key_build(&c, "a\0b", 3, h, key);
  CHECK(n == strlen("cached_embed:jina-embeddings-v3@256#retrieval.passage:") + 3);
  char *longkey = malloc(100000);
  memset(longkey, 'k', 100000);
  n = ce_key_build(&c, longkey, 100000, h, key);
  CHECK(n < CE_KEY_MAX && strstr(key, ":key-sha256:"));
  free(longkey);
}

static void test_entry(void) {
  uint8_t h[32], other[32], vec[12], buf[CE_ENTRY_HEADER + 12];
  const uint8_t *got;
  uint32_t dims;
  ce_sha256("text", 4, h);
  ce_sha256("other", 5, other);
  ce_f32_store(vec, 0.5f), ce_f32_store(vec + 4, -0.25f), ce_f32_store(vec + 8, 1);

  CHECK(ce_entry_size(3) == sizeof buf);
  ce_entry_encode(h, vec, 3, buf);
  CHECK(ce_entry_decode(buf, sizeof buf, h, 0, &got, &dims) == CE_ENTRY_OK);
  CHECK(dims == 3 && !memcmp(got, vec, 12));
  CHECK(ce_entry_decode(buf, sizeof buf, h, 3, &got, &dims) == CE_ENTRY_OK);
  CHECK(ce_entry_decode(buf, sizeof buf, h, 4, &got, &dims) == CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode(buf, sizeof buf, other, 0, &got, &dims) == CE_ENTRY_STALE);
  CHECK(ce_entry_decode(buf, sizeof buf - 1, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode(buf, 3, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
  CHECK(ce_entry_decode((const uint8_t *)"hello", 5, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);

  uint8_t bad[sizeof buf];
  memcpy(bad, buf, sizeof buf);
  bad[0] = 'X';
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
  memcpy(bad, buf, sizeof buf);
  ce_f32_store(bad + CE_ENTRY_HEADER + 4, NAN);
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
  memcpy(bad, buf, sizeof buf);
  bad[4] = 0; /* zero dims */
  CHECK(ce_entry_decode(bad, sizeof bad, h, 0, &got, &dims) == CE_ENTRY_CORRUPT);
}

int main(void) {
  test_keys();
  test_entry();
  return CHECK_DONE();
}
