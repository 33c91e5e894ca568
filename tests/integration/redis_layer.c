/* Drives the Redis layer's lock commands (redis_cache.h) against a real Redis
 * named on the command line, for test_redis_layer.py: the short per-entry
 * lock the cross-server single-flight uses (SET NX PX, released only by
 * its owner through a compare-and-delete script), one at a time and
 * pipelined (the warm-up's), and the "done" note that ends it. */
#include "../unit/check.h"
#include "clock.h"
#include "redis.h"
#include "redis_cache.h"

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
  /* the warm-up's pipelined locks: keys of several slots (on a cluster,
   * of several nodes) in one call */
  const char *mk[3] = {"cached_embed:v2:lock:aa", "cached_embed:v2:lock:bb",
                       "cached_embed:v2:lock:cc"};
  size_t ml[3] = {strlen(mk[0]), strlen(mk[1]), strlen(mk[2])};
  int8_t got[3];
  CHECK(ce_cache_lock_many(&cfg, mk, ml, 3, "owner-w", 7, 5000, got) == 3);
  CHECK(got[0] == 1 && got[1] == 1 && got[2] == 1);
  CHECK(ce_cache_lock_many(&cfg, mk, ml, 3, "owner-x", 7, 5000, got) == 0);
  CHECK(got[0] == 0 && got[1] == 0 && got[2] == 0);
  /* ended by another owner: nothing happens */
  CHECK(ce_cache_lock_end_many(&cfg, mk, ml, 3, "owner-x", 7, NULL, NULL,
                               2000) == 0);
  /* by its owner: a "done" note on the first, the second released, the
   * third kept */
  const char *vals[2] = {"d:the-key", NULL};
  size_t vlens[2] = {9, 0};
  CHECK(ce_cache_lock_end_many(&cfg, mk, ml, 2, "owner-w", 7, vals, vlens,
                               100) == 2);
  ce_redis_cmd c[4];
  for (int i = 0; i < 3; i++) {
    ce_redis_cmd_init(&c[i], mk[i], ml[i]);
    ce_redis_cmd_arg(&c[i], "GET", 3);
    ce_redis_cmd_arg(&c[i], mk[i], ml[i]);
  }
  ce_redis_cmd_init(&c[3], mk[0], ml[0]);
  ce_redis_cmd_arg(&c[3], "PTTL", 4);
  ce_redis_cmd_arg(&c[3], mk[0], ml[0]);
  CHECK(ce_redis_run(&cfg, c, 4) == 4);
  CHECK(c[0].reply->type == CE_REPLY_STRING && c[0].reply->len == 9 &&
        !memcmp(c[0].reply->str, "d:the-key", 9));
  CHECK(c[1].reply->type == CE_REPLY_NIL);
  CHECK(c[2].reply->type == CE_REPLY_STRING &&
        !strcmp(c[2].reply->str, "owner-w"));
  /* the note keeps the lock's remaining lifetime (not the shorter 100 ms) */
  CHECK(c[3].reply->type == CE_REPLY_INTEGER && c[3].reply->integer > 1000);
  ce_redis_cmds_free(c, 4);
  /* a note swapped for a new owner (compare-and-set on the note) */
  const char *own[1] = {"owner-y"};
  size_t own_len[1] = {7};
  CHECK(ce_cache_lock_end_many(&cfg, mk, ml, 1, "d:the-key", 9, own, own_len,
                               5000) == 1);
  CHECK(ce_cache_unlock(&cfg, mk[0], ml[0], "owner-y", 7) == 1);
  CHECK(ce_cache_unlock(&cfg, mk[2], ml[2], "owner-w", 7) == 1);

  /* the warm-up's notes, without a script: a lock's value becomes its note
   * for the time given (here raised from 50 ms, cut from 5 s); a lock gone
   * is not written */
  CHECK(ce_cache_lock(&cfg, mk[0], ml[0], "owner-n", 7, 5000) == 1);
  CHECK(ce_cache_lock(&cfg, mk[1], ml[1], "owner-n", 7, 50) == 1);
  const char *nv[3] = {"d:k0", "d:k1", "d:k2"};
  size_t nl[3] = {4, 4, 4};
  CHECK(ce_cache_note_many(&cfg, mk, ml, 3, nv, nl, 2000) == 2);
  for (int i = 0; i < 3; i++) {
    ce_redis_cmd_init(&c[i], mk[i], ml[i]);
    ce_redis_cmd_arg(&c[i], "GET", 3);
    ce_redis_cmd_arg(&c[i], mk[i], ml[i]);
  }
  CHECK(ce_redis_run(&cfg, c, 3) == 3);
  CHECK(c[0].reply->type == CE_REPLY_STRING &&
        !strcmp(c[0].reply->str, "d:k0"));
  CHECK(c[1].reply->type == CE_REPLY_STRING &&
        !strcmp(c[1].reply->str, "d:k1"));
  CHECK(c[2].reply->type == CE_REPLY_NIL);
  ce_redis_cmds_free(c, 3);
  for (int i = 0; i < 2; i++) {
    ce_redis_cmd_init(&c[i], mk[i], ml[i]);
    ce_redis_cmd_arg(&c[i], "PTTL", 4);
    ce_redis_cmd_arg(&c[i], mk[i], ml[i]);
  }
  CHECK(ce_redis_run(&cfg, c, 2) == 2);
  for (int i = 0; i < 2; i++)
    CHECK(c[i].reply->type == CE_REPLY_INTEGER && c[i].reply->integer > 1000 &&
          c[i].reply->integer <= 2000);
  ce_redis_cmds_free(c, 2);
  CHECK(ce_cache_unlock(&cfg, mk[0], ml[0], "d:k0", 4) == 1);
  CHECK(ce_cache_unlock(&cfg, mk[1], ml[1], "d:k1", 4) == 1);

  /* an entry stored and its lock noted in one go (one round trip on one
   * node, two on a cluster): the note names the entry's key */
  const char *ek = "cached_embed:v2:m:entry-key";
  CHECK(ce_cache_lock(&cfg, mk[1], ml[1], "owner-z", 7, 5000) == 1);
  CHECK(ce_cache_set_noting(&cfg, ek, strlen(ek), (const uint8_t *)"VAL", 3, 60,
                            mk[1], ml[1], "owner-z", 7, 2000) == 0);
  for (int i = 0; i < 2; i++) {
    const char *k = i ? mk[1] : ek;
    ce_redis_cmd_init(&c[i], k, strlen(k));
    ce_redis_cmd_arg(&c[i], "GET", 3);
    ce_redis_cmd_arg(&c[i], k, strlen(k));
  }
  CHECK(ce_redis_run(&cfg, c, 2) == 2);
  CHECK(c[0].reply->type == CE_REPLY_STRING && !strcmp(c[0].reply->str, "VAL"));
  CHECK(c[1].reply->type == CE_REPLY_STRING &&
        !strcmp(c[1].reply->str, "d:cached_embed:v2:m:entry-key"));
  ce_redis_cmds_free(c, 2);
  CHECK(ce_cache_unlock(&cfg, mk[1], ml[1], "d:cached_embed:v2:m:entry-key",
                        29) == 1);

  /* an unreachable Redis: -1, not "held" */
  ce_config down = cfg;
  CHECK(ce_config_set(&down, "redis", "redis://127.0.0.1:9/0", err,
                      sizeof err) == 0);
  CHECK(ce_cache_lock(&down, key, kl, "owner-e", 7, 5000) == -1);
  CHECK(ce_cache_unlock(&down, key, kl, "owner-e", 7) == -1);
  CHECK(ce_cache_lock_many(&down, mk, ml, 3, "owner-e", 7, 5000, got) == 0);
  CHECK(got[0] == -1 && got[1] == -1 && got[2] == -1);
  ce_cache_shutdown();
  return CHECK_DONE();
}
