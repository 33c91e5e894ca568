/* The vector cache in Redis: entries read and written by key, one at a time
 * for rows and pipelined for the warm-up, on whatever deployment the
 * `redis` setting names (redis.h). A cache problem is never a row error:
 * callers treat it as a miss, and rows go to the provider. */
#ifndef CE_REDIS_CACHE_H
#define CE_REDIS_CACHE_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { CE_CACHE_HIT, CE_CACHE_MISS, CE_CACHE_ERROR } ce_cache_result;

/* GET, plus PTTL in the same round trip when `want_ttl`; `accept` sees the
 * value while it is alive with its remaining lifetime (ms, -1 = no expiry,
 * -2 = not asked) and returns 0 to take it (HIT) or non-zero to reject it
 * (MISS). */
ce_cache_result ce_cache_get(const ce_config *cfg, const char *key,
                             size_t key_len, int want_ttl,
                             int (*accept)(void *ctx, const uint8_t *val,
                                           size_t len, long long pttl_ms),
                             void *ctx);

/* Keys per pipelined round trip in the batch calls below (on a cluster, the
 * keys of one round trip are split per node and sent to all at once). */
#define CE_CACHE_PIPELINE 256

/* GET + PTTL for n keys, pipelined; each(i, value or NULL, len, pttl) is
 * called for every key that answered. Returns 0, or -1 if Redis failed (keys
 * not reported are misses). */
int ce_cache_mget(const ce_config *cfg, const char *const *keys,
                  const size_t *key_lens, size_t n,
                  void (*each)(void *ctx, size_t i, const uint8_t *val,
                               size_t len, long long pttl_ms),
                  void *ctx);

/* The warm-up's look-up of n keys, pipelined per CE_CACHE_PIPELINE keys:
 * GET, or for keys with probe[i] set only PTTL (is it there: a copy is at
 * hand); then, when `hits_ttl`, the PTTL of each key GET found, in one more
 * round trip only if GET found any (misses cost no PTTL). each(i, value,
 * len, pttl) for a GET hit (pttl -2 when not asked), each(i, NULL, 0, -2)
 * for a GET miss, each(i, NULL, 0, pttl) for a probe (-2: not there).
 * Returns 0, or -1 if Redis failed (keys not reported were not answered). */
int ce_cache_mlookup(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, size_t n, const uint8_t *probe,
                     int hits_ttl,
                     void (*each)(void *ctx, size_t i, const uint8_t *val,
                                  size_t len, long long pttl_ms),
                     void *ctx);

/* SET (EX ttl unless ttl == 0) for n keys, pipelined; ok[i] = 1 for each
 * stored value. Returns how many were stored. */
size_t ce_cache_mset(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, const uint8_t *const *vals,
                     const size_t *val_lens, size_t n, long ttl, uint8_t *ok);

/* SET with EX ttl (no expiry when ttl == 0); 0 or -1. */
int ce_cache_set(const ce_config *cfg, const char *key, size_t key_len,
                 const uint8_t *val, size_t len, long ttl);

/* Answers of the lock calls below. */
typedef enum {
  CE_LOCK_NO_REDIS = -1, /* Redis unavailable */
  CE_LOCK_NOT_OURS = 0,  /* held by someone else (expired, taken over) */
  CE_LOCK_OK = 1         /* taken (lock), released (unlock) */
} ce_lock_result;

/* A short lock on `key` (SET key owner NX PX ttl_ms). `owner` must be
 * unique to the caller. */
ce_lock_result ce_cache_lock(const ce_config *cfg, const char *key,
                             size_t key_len, const char *owner,
                             size_t owner_len, long ttl_ms);
/* Releases the lock only if `owner` still holds it (compare-and-delete in
 * one script). */
ce_lock_result ce_cache_unlock(const ce_config *cfg, const char *key,
                               size_t key_len, const char *owner,
                               size_t owner_len);

/* ce_cache_lock for n keys, pipelined (on a cluster each key goes to its
 * slot's node): got[i] is the ce_lock_result of key i (CE_LOCK_NO_REDIS:
 * no answer). Returns how many were taken. */
size_t ce_cache_lock_many(const ce_config *cfg, const char *const *keys,
                          const size_t *key_lens, size_t n, const char *owner,
                          size_t owner_len, long ttl_ms, int8_t *got);

/* Ends n locks held by `owner`, pipelined, each only if `owner` still holds
 * it (one script a key): vals[i] NULL releases it (compare-and-delete);
 * otherwise the lock's value becomes vals[i] (compare-and-set) for the
 * rest of the lock's lifetime, and at least `linger_ms`: a note for
 * whoever waits on it ("done: the entry is under key ..."), or a new
 * owner's value. Returns how many were still held by owner. */
size_t ce_cache_lock_end_many(const ce_config *cfg, const char *const *keys,
                              const size_t *key_lens, size_t n,
                              const char *owner, size_t owner_len,
                              const char *const *vals, const size_t *val_lens,
                              long linger_ms);

/* Turns n locks into the notes notes[i] ("done: the entry is under key
 * ..."), each to live px_ms, pipelined, without a script: SET XX PX (the
 * caller knows how long its locks have left). Not compare-and-set: a lock
 * that expired and was taken by another payer of the same identity gets
 * the note too, which is as true for its waiters (the entry named holds
 * the same text's vector); a lock gone is not written. For the warm-up,
 * which notes thousands of locks: a script costs Redis several times one
 * SET, and needs +eval. Returns how many locks were there to note. */
size_t ce_cache_note_many(const ce_config *cfg, const char *const *keys,
                          const size_t *key_lens, size_t n,
                          const char *const *notes, const size_t *note_lens,
                          long px_ms);

/* SET (as ce_cache_set) of an entry whose lock `owner` holds, then the
 * lock turned into the note "d:<key>" (as ce_cache_lock_end_many) — one
 * round trip where Redis is one node (one pipeline keeps the order: the
 * entry lands first), two on a Cluster. When the entry is not stored, the
 * lock is released instead. 0 stored, -1 not. */
int ce_cache_set_noting(const ce_config *cfg, const char *key, size_t key_len,
                        const uint8_t *val, size_t len, long ttl,
                        const char *lock, size_t lock_len, const char *owner,
                        size_t owner_len, long linger_ms);

/* Closes every connection (library unload). */
void ce_cache_shutdown(void);

#endif
