#include "check.h"
#include "local_cache.h"
#include "vector.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int take_first(void *ctx, const uint8_t *vec, uint32_t dims) {
  float *out = ctx;
  out[0] = ce_f32_load(vec);
  out[1] = (float)dims;
  return 0;
}

static void put_vec(const char *key, const char *text, float v, uint32_t dims,
                    long long ttl_ms) {
  uint8_t h[32], vec[4 * 16];
  ce_sha256(text, strlen(text), h);
  for (uint32_t i = 0; i < dims; i++)
    ce_f32_store(vec + 4 * i, v);
  ce_local_put(key, strlen(key), h, vec, dims, ttl_ms);
}

static int get_vec(const char *key, const char *text, uint32_t want,
                   float *out) {
  uint8_t h[32];
  ce_sha256(text, strlen(text), h);
  return ce_local_get(key, strlen(key), h, want, take_first, out);
}

static void test_basics(void) {
  float got[2];
  ce_local_configure(1 << 20, 60000);
  put_vec("k1", "text one", 1.5f, 4, 0);
  CHECK(get_vec("k1", "text one", 0, got) == 0 && got[0] == 1.5f &&
        got[1] == 4);
  CHECK(get_vec("k1", "text one", 4, got) == 0);
  CHECK(get_vec("k1", "text one", 8, got) == -1); /* other dims */
  CHECK(get_vec("k1", "text two", 0, got) == -1); /* other text */
  CHECK(get_vec("k2", "text one", 0, got) == -1); /* other key */
  put_vec("k1", "text two", 2.5f, 4, 0);          /* replaced */
  CHECK(get_vec("k1", "text one", 0, got) == -1);
  CHECK(get_vec("k1", "text two", 0, got) == 0 && got[0] == 2.5f);
  size_t bytes, entries;
  ce_local_usage(&bytes, &entries);
  CHECK(entries == 1 && bytes > 0);

  put_vec("short", "t", 1, 4, 50);
  CHECK(get_vec("short", "t", 0, got) == 0);
  usleep(80 * 1000);
  CHECK(get_vec("short", "t", 0, got) == -1); /* expired */

  /* no entry outlives the maximum age: neither one with no expiry of its
   * own nor a copy of a Redis entry without a TTL */
  ce_local_configure(1 << 20, 50);
  put_vec("forever", "t", 1, 4, 0);
  uint8_t h[32], vec[16] = {0};
  ce_sha256("t", 1, h);
  ce_local_put_from_redis("no-ttl", 6, h, vec, 4, -1);
  ce_local_put_from_redis("long-ttl", 8, h, vec, 4, 3600 * 1000);
  CHECK(get_vec("forever", "t", 0, got) == 0 &&
        get_vec("no-ttl", "t", 0, got) == 0 &&
        get_vec("long-ttl", "t", 0, got) == 0);
  usleep(80 * 1000);
  CHECK(get_vec("forever", "t", 0, got) == -1);
  CHECK(get_vec("no-ttl", "t", 0, got) == -1);
  CHECK(get_vec("long-ttl", "t", 0, got) == -1);
  ce_local_configure(1 << 20, 60000);

  ce_local_configure(0, 60000); /* disabled: everything freed, nothing stored */
  ce_local_usage(&bytes, &entries);
  CHECK(entries == 0 && bytes == 0);
  put_vec("k3", "x", 1, 4, 0);
  CHECK(get_vec("k3", "x", 0, got) == -1);
}

static void test_budget(void) {
  size_t bytes, entries;
  char key[32];
  ce_local_configure(64 * 16 * 1024, 60000); /* 16 KiB a shard */
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof key, "key:%d", i);
    put_vec(key, key, (float)i, 16, 0);
  }
  ce_local_usage(&bytes, &entries);
  CHECK(bytes <= 64 * 16 * 1024);
  CHECK(entries > 1000 && entries < 20000);
  float got[2];
  CHECK(get_vec("key:19999", "key:19999", 0, got) == 0 && got[0] == 19999.0f);
  CHECK(get_vec("key:0", "key:0", 0, got) == -1); /* least recent: evicted */
  ce_local_clear();
}

static void *hammer(void *arg) {
  long id = (long)arg;
  char key[32];
  float got[2];
  int wrong = 0;
  for (int i = 0; i < 20000; i++) {
    int k = (int)((i * 7 + id) % 500);
    snprintf(key, sizeof key, "shared:%d", k);
    if (i % 3 == 0)
      put_vec(key, key, (float)k, 8, (i % 5) ? 0 : 1);
    else if (get_vec(key, key, 0, got) == 0 && got[0] != (float)k)
      wrong++;
  }
  return (void *)(long)wrong;
}

static void test_threads(void) {
  pthread_t t[8];
  long wrong = 0;
  ce_local_configure(256 * 1024, 60000);
  for (long i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, hammer, (void *)i);
  for (int i = 0; i < 8; i++) {
    void *r;
    pthread_join(t[i], &r);
    wrong += (long)r;
  }
  CHECK(wrong == 0);
  ce_local_clear();
}

int main(void) {
  test_basics();
  test_budget();
  test_threads();
  return CHECK_DONE();
}
