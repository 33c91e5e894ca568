/* Read-ahead for the statement after a warm-up: the keys a warm-up found or
 * stored in Redis, listed in the order its rows came (groups of up to
 * CE_READAHEAD_GROUP keys), so that a row function that misses the local
 * cache on one of them fetches its whole group in one pipelined Redis round
 * trip into the local cache (local_cache.h), and the group's other rows —
 * the rows that come next when the statement reads the table in the same
 * order — are local hits. A backfill `UPDATE` after a warm-up larger than
 * the local cache then pays one round trip per group, not one per row.
 *
 * A list is a hint only: what it fetches is checked like any Redis value
 * (cache_entry.h: bound to its text; kept no longer than Redis keeps it), and a
 * group is fetched once (taken from the lists when fetched). Lists live at
 * most local_cache_max_age, like local copies.
 *
 * Memory: the lists of all sessions take at most a quarter of the local
 * cache's budget (ce_local_configure's; none when the cache is off), keys
 * and index included. When full, expired lists are dropped; failing that a
 * new group is not listed (its rows cost a round trip each, as without
 * read-ahead): the oldest lists are the rows a following statement reads
 * first. Groups hold fewer keys when the local cache could not keep a whole
 * group's vectors (a quarter of its budget at most). Thread-safe (one
 * lock; taken only on a local-cache miss and when a warm-up lists keys). */
#ifndef CE_READAHEAD_H
#define CE_READAHEAD_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define CE_READAHEAD_GROUP 256

/* The local cache's budget (bytes; 0: off, and every list is dropped) and
 * the longest life of a list (ms, > 0). Cheap when unchanged: call it with
 * ce_local_configure. */
void ce_readahead_configure(size_t local_budget, long long max_age_ms);

/* Lists keys[0..n) as consecutive groups, for vectors of `dims` values.
 * Keys over CE_KEY_MAX bytes are not listed. */
void ce_readahead_list(const char *const *keys, const size_t *key_lens,
                       size_t n, uint32_t dims);

/* Where a fetched group's values go (ce_readahead_fetch). */
typedef void (*ce_readahead_sink)(void *ctx, const char *key, size_t key_len,
                                  const uint8_t *text_hash, const uint8_t *vec,
                                  uint32_t dims, long long pttl_ms);

/* On a local-cache miss of `key`: if a list holds it, fetches its group
 * from Redis (one round trip; values of `want_dims` values unless 0, each
 * bound to its text) into `sink` (NULL: the local cache; the caller then
 * looks it up again) and returns 0; -1 when no list holds it. Besides,
 * when the group now listed right after the fetched one belongs to the
 * same listing (one warm-up flush's), the first key of that group goes to
 * `next` (CE_KEY_MAX bytes; may be NULL) and its length to *next_len (0:
 * none): the rows that come after this group's, which prefetch.h fetches
 * while these are written. */
int ce_readahead_fetch(const ce_config *cfg, const char *key, size_t key_len,
                       uint32_t want_dims, char *next, size_t *next_len,
                       ce_readahead_sink sink, void *sink_ctx);

/* Bytes and keys listed (tests and stats). */
void ce_readahead_usage(size_t *bytes, size_t *keys);

/* Drops every list (local cache cleared or turned off, library unload). */
void ce_readahead_clear(void);

#endif
