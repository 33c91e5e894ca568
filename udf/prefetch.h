/* One statement's read-ahead, a group ahead of its rows: when a row fetches
 * its read-ahead group (readahead.h), a background thread (worker.h) fetches
 * the group the same warm-up listed after it, so that the next rows' vectors
 * come from Redis while this group's rows are written, and are local hits
 * when their turn comes. The thread stays one group ahead of the rows (it
 * goes on with the next group when a row reaches the first key of the one
 * it fetched), so what it brings in is still in the local cache when read;
 * rows read in another order lose the prefetch, never a vector.
 *
 * Owned by one statement (one thread calls it); without a thread (none
 * could be started) every group is fetched by the row that needs it, as
 * without prefetch. */
#ifndef CE_PREFETCH_H
#define CE_PREFETCH_H

#include "config.h"

#include <stdint.h>

typedef struct ce_prefetch ce_prefetch;

/* On a local-cache miss of `key`: waits for a group being fetched ahead
 * (it may hold the key); if it did not, fetches the key's own group as
 * ce_readahead_fetch does, then starts fetching the group after it. 0 when
 * a group came that may hold the key (the caller looks the local cache up
 * again), -1 otherwise. *pf is created when there is a group to fetch
 * ahead (NULL: none yet); `cfg` is copied then. */
int ce_prefetch_miss(ce_prefetch **pf, const ce_config *cfg, const char *key,
                     size_t key_len, uint32_t want_dims);

/* On a local-cache hit of `key`: when it is the first key of the group
 * fetched ahead (the rows reached it), the thread goes on with the group
 * after it. Cheap otherwise (pf NULL, or a compare of two keys). */
void ce_prefetch_hit(ce_prefetch *pf, const char *key, size_t key_len);

/* Waits for a fetch in flight and frees pf (NULL: nothing). */
void ce_prefetch_free(ce_prefetch *pf);

#endif
