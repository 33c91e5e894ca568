/* The in-process cache in front of Redis: a bounded LRU of vectors, split in
 * shards with a lock each (no global lock on the hit path). Entries are keyed
 * like Redis entries, bound to the SHA-256 of their text, and live no longer
 * than the TTL they were stored with (or the remaining TTL of the Redis entry
 * they were copied from), and never longer than the maximum age (setting
 * `local_cache_max_age`, default CE_LOCAL_MAX_AGE_DEFAULT seconds, in
 * config.h): after
 * that the row asks Redis again, so a DEL, a FLUSHDB or a re-embed elsewhere
 * reaches this server within that time, even for entries with no expiry. */
#ifndef CE_LOCAL_CACHE_H
#define CE_LOCAL_CACHE_H

#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_LOCAL_SHARDS 64

/* Sets the memory budget in bytes (0 disables and frees everything) and the
 * longest life of an entry stored from now on (ms, > 0). Cheap when
 * unchanged: call it with the current settings at every statement. */
void ce_local_configure(size_t budget_bytes, long long max_age_ms);

/* On a hit for `key` bound to `text_hash` (and of `want_dims` values unless
 * 0), calls take() with the vector while the entry is locked; returns what
 * take() returned (0 = taken), or -1 on a miss. */
int ce_local_get(const char *key, size_t key_len,
                 const uint8_t text_hash[CE_SHA256_LEN], uint32_t want_dims,
                 int (*take)(void *ctx, const uint8_t *vec, uint32_t dims),
                 void *ctx);

/* Stores (or replaces) the entry for `ttl_ms` (<= 0: no expiry of its own),
 * at most the maximum age. */
void ce_local_put(const char *key, size_t key_len,
                  const uint8_t text_hash[CE_SHA256_LEN], const uint8_t *vec,
                  uint32_t dims, long long ttl_ms);

/* Keeps a copy of a Redis entry for no longer than Redis keeps it (nor the
 * maximum age); `pttl_ms` as PTTL answers: -1 = no expiry, -2 (gone, or not
 * asked) and 0 = not kept. */
void ce_local_put_from_redis(const char *key, size_t key_len,
                             const uint8_t text_hash[CE_SHA256_LEN],
                             const uint8_t *vec, uint32_t dims,
                             long long pttl_ms);

/* Bytes and entries in use (for stats and tests). */
void ce_local_usage(size_t *bytes, size_t *entries);

/* Frees every entry (library unload, or budget 0). */
void ce_local_clear(void);

#endif
