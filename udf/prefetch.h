/* One statement's read-ahead, a group ahead of its rows: when a row fetches
 * its read-ahead group (readahead.h), a background thread (worker.h) fetches
 * the group the same warm-up listed after it, so that the next rows' vectors
 * come from Redis while this group's rows are written. When a row reaches
 * that group (its first row misses the local cache), the statement's thread
 * takes the values the thread fetched into the local cache and hands the
 * group after it to the thread: one group ahead, so what comes is still in
 * the local cache when read; rows read in another order lose the prefetch,
 * never a vector.
 *
 * The thread only fetches into a buffer of the statement's: the local
 * cache's copies are made by the statement's thread, so that the memory
 * they take comes from that thread's malloc arena and not from a new
 * thread's each statement (with glibc, copies made on short-lived threads
 * made mariadbd's RSS grow ~30 MiB per 59,010-row backfill).
 *
 * Owned by one statement (one thread calls it); without a thread (none
 * could be started) every group is fetched by the row that needs it, as
 * without prefetch. */
#ifndef CE_PREFETCH_H
#define CE_PREFETCH_H

#include "config.h"

#include <stdint.h>

typedef struct ce_prefetch ce_prefetch;

/* On a local-cache miss of `key`: waits for the group being fetched ahead
 * and puts its values into the local cache; if that group did not hold the
 * key, fetches the key's own group (ce_readahead_fetch); then hands
 * the group after it to the thread. 0 when a group came that may hold the
 * key (the caller looks the local cache up again), -1 otherwise. *pf is
 * created when there is a group to fetch ahead (NULL: none yet); `cfg` is
 * copied then. */
int ce_prefetch_miss(ce_prefetch **pf, const ce_config *cfg, const char *key,
                     size_t key_len, uint32_t want_dims);

/* Waits for a fetch in flight and frees pf (NULL: nothing). */
void ce_prefetch_free(ce_prefetch *pf);

#endif
