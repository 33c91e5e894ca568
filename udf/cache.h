/* Redis: a pool of connections shared by all threads, with connect and
 * command timeouts, reconnect after failure, and a short back-off while
 * Redis is down so that rows do not each wait for a dead server. A cache
 * problem is never a row error: callers treat it as a miss. */
#ifndef CE_CACHE_H
#define CE_CACHE_H

#include "config.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* After a failure, Redis is skipped for this long. */
#define CE_REDIS_BACKOFF_MS 1000
/* Idle connections kept for reuse. */
#define CE_REDIS_POOL_MAX 64

typedef enum { CE_CACHE_HIT, CE_CACHE_MISS, CE_CACHE_ERROR } ce_cache_result;

typedef struct ce_redis_conn ce_redis_conn;

/* A connection for cfg->redis, from the pool or new; NULL (counted and
 * logged, rate-limited) when Redis cannot be reached. */
ce_redis_conn *ce_redis_acquire(const ce_config *cfg);
/* Back to the pool; `failed` closes it instead and starts the back-off. */
void ce_redis_release(ce_redis_conn *c, int failed);
redisContext *ce_redis_context(ce_redis_conn *c);

/* GET, plus PTTL in the same round trip when `want_ttl`; `accept` sees the
 * value while it is alive with its remaining lifetime (ms, -1 = no expiry,
 * -2 = not asked) and returns 0 to take it (HIT) or non-zero to reject it
 * (MISS). */
ce_cache_result ce_cache_get(const ce_config *cfg, const char *key,
                             size_t key_len, int want_ttl,
                             int (*accept)(void *ctx, const uint8_t *val,
                                           size_t len, long long pttl_ms),
                             void *ctx);

/* Keys per pipelined round trip in the batch calls below. */
#define CE_CACHE_PIPELINE 256

/* GET + PTTL for n keys, pipelined; each(i, value or NULL, len, pttl) is
 * called for every key that answered. Returns 0, or -1 if Redis failed (keys
 * not reported are misses). */
int ce_cache_mget(const ce_config *cfg, const char *const *keys,
                  const size_t *key_lens, size_t n,
                  void (*each)(void *ctx, size_t i, const uint8_t *val,
                               size_t len, long long pttl_ms),
                  void *ctx);

/* SET (EX ttl unless ttl == 0) for n keys, pipelined; ok[i] = 1 for each
 * stored value. Returns how many were stored. */
size_t ce_cache_mset(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, const uint8_t *const *vals,
                     const size_t *val_lens, size_t n, long ttl,
                     uint8_t *ok);

/* SET with EX ttl (no expiry when ttl == 0); 0 or -1. */
int ce_cache_set(const ce_config *cfg, const char *key, size_t key_len,
                 const uint8_t *val, size_t len, long ttl);

/* Closes every pooled connection (library unload). */
void ce_cache_shutdown(void);

#endif
