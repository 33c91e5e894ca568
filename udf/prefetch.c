#include "prefetch.h"

#include "cache_key.h"
#include "readahead.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

struct ce_prefetch {
  ce_config cfg;     /* the statement's settings, for the thread */
  ce_worker *worker; /* NULL: none could be started */
  int busy;          /* a fetch was handed to the thread, not yet drained */
  /* The thread's job: the first key of the group to fetch (set before it is
   * handed over, read-only while busy) ... */
  uint32_t dims;
  size_t key_len;
  char key[CE_KEY_MAX];
  /* ... and what it found (read once drained): whether the group was still
   * listed, and the first key of the group after it. */
  int found;
  size_t next_len;
  char next[CE_KEY_MAX];
};

static void fetch_ahead(void *arg) {
  ce_prefetch *pf = arg;
  pf->found = ce_readahead_fetch_next(&pf->cfg, pf->key, pf->key_len, pf->dims,
                                      pf->next, &pf->next_len) == 0;
}

/* Hands the group whose first key is key[0..len) to the thread. */
static void start(ce_prefetch *pf, const char *key, size_t len, uint32_t dims) {
  memmove(pf->key, key, len); /* key may be pf->next */
  pf->key_len = len;
  pf->dims = dims;
  pf->busy = 1;
  ce_worker_submit(pf->worker, fetch_ahead, pf);
}

static void drain(ce_prefetch *pf) {
  ce_worker_drain(pf->worker);
  pf->busy = 0;
}

/* A prefetcher with its thread, or NULL (no memory, no thread). */
static ce_prefetch *prefetch_new(const ce_config *cfg) {
  ce_prefetch *pf = calloc(1, sizeof *pf);
  if (!pf)
    return NULL;
  pf->cfg = *cfg;
  pf->worker = ce_worker_start();
  if (!pf->worker) {
    free(pf);
    return NULL;
  }
  return pf;
}

int ce_prefetch_miss(ce_prefetch **pfp, const ce_config *cfg, const char *key,
                     size_t key_len, uint32_t want_dims) {
  ce_prefetch *pf = *pfp;
  int came = 0;
  char next[CE_KEY_MAX];
  size_t next_len;
  if (pf && pf->busy) { /* the rows caught up with the thread */
    drain(pf);
    came = pf->found;
  }
  if (ce_readahead_fetch_next(cfg, key, key_len, want_dims, next, &next_len)) {
    /* not listed (any more): in the group just fetched ahead, or nowhere */
    if (came && pf->next_len)
      start(pf, pf->next, pf->next_len, want_dims);
    return came ? 0 : -1;
  }
  if (next_len && !pf)
    pf = *pfp = prefetch_new(cfg);
  if (next_len && pf)
    start(pf, next, next_len, want_dims);
  return 0;
}

void ce_prefetch_hit(ce_prefetch *pf, const char *key, size_t key_len) {
  /* The rows reached the group fetched ahead (its first key): the thread
   * goes on with the group after it. */
  if (!pf || !pf->busy || key_len != pf->key_len ||
      memcmp(key, pf->key, key_len))
    return;
  drain(pf);
  if (pf->found && pf->next_len)
    start(pf, pf->next, pf->next_len, pf->dims);
}

void ce_prefetch_free(ce_prefetch *pf) {
  if (!pf)
    return;
  ce_worker_finish(pf->worker);
  free(pf);
}
