/* Drives the Redis layer's lock commands (cache.h) against a real Redis
 * named on the command line, for test_redis_layer.py: the short per-entry
 * lock the cross-server single-flight uses (SET NX PX, released only by
 * its owner through a compare-and-delete script). */
#include "../unit/check.h"
#include "cache.h"
#include "clock.h"

int main(int argc, char **argv) {
  ce_config cfg;
  char err[160];
  if (argc != 2) {
    fprintf(stderr, "usage: %s REDIS_URL\n", argv[0]);
    return 2;
  }
  ce_config_defaults(&cfg);
  if (ce_config_set(&cfg, "redis", argv[1], err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  const char *key = "cached_embed:lock:{layer}:k";
  size_t kl = strlen(key);
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-a", 7, 5000) == 1);
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-b", 7, 5000) == 0); /* held */
  CHECK(ce_cache_unlock(&cfg, key, kl, "owner-b", 7) == 0);     /* not b's */
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-b", 7, 5000) == 0); /* still a's */
  CHECK(ce_cache_unlock(&cfg, key, kl, "owner-a", 7) == 1);
  CHECK(ce_cache_unlock(&cfg, key, kl, "owner-a", 7) == 0); /* gone */
  /* a holder that dies costs at most the lock's lifetime */
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-c", 7, 200) == 1);
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-d", 7, 200) == 0);
  ce_sleep_ms(400);
  CHECK(ce_cache_lock(&cfg, key, kl, "owner-d", 7, 5000) == 1);
  CHECK(ce_cache_unlock(&cfg, key, kl, "owner-d", 7) == 1);
  /* an unreachable Redis: -1, not "held" */
  ce_config down = cfg;
  CHECK(ce_config_set(&down, "redis", "redis://127.0.0.1:9/0", err,
                      sizeof err) == 0);
  CHECK(ce_cache_lock(&down, key, kl, "owner-e", 7, 5000) == -1);
  CHECK(ce_cache_unlock(&down, key, kl, "owner-e", 7) == -1);
  ce_cache_shutdown();
  return CHECK_DONE();
}
