#include "prefetch.h"

#include "cache_key.h"
#include "grow.h"
#include "local_cache.h"
#include "readahead.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

/* One fetched value in the buffer, followed by its key and its vector. */
typedef struct {
  uint32_t key_len, dims;
  long long pttl_ms;
  uint8_t text_hash[CE_SHA256_LEN];
} value_head;

struct ce_prefetch {
  ce_config cfg;     /* the statement's settings, for the thread */
  ce_worker *worker; /* NULL: none could be started */
  int busy;          /* a fetch was handed to the thread, not yet drained */
  /* The thread's job: the first key of the group to fetch (set before it is
   * handed over) ... */
  uint32_t dims;
  size_t key_len;
  char key[CE_KEY_MAX];
  /* ... and what it found (read once drained): whether the group was still
   * listed, the first key of the group after it, the group's values. */
  int found;
  size_t next_len;
  char next[CE_KEY_MAX];
  uint8_t *buf;
  size_t len, cap;
};

/* The values' size in the buffer: aligned for the next value_head. */
static size_t value_size(size_t key_len, uint32_t dims) {
  size_t n = sizeof(value_head) + key_len + (size_t)dims * 4;
  return (n + 7) & ~(size_t)7;
}

/* ce_readahead_sink, on the thread: the value into the buffer (grown only
 * when the statement's thread could not size it). */
static void keep(void *ctx, const char *key, size_t key_len,
                 const uint8_t *text_hash, const uint8_t *vec, uint32_t dims,
                 long long pttl_ms) {
  ce_prefetch *pf = ctx;
  size_t n = value_size(key_len, dims);
  if (ce_grow(&pf->buf, &pf->cap, pf->len + n))
    return; /* out of memory: that row reads Redis itself */
  value_head h = {(uint32_t)key_len, dims, pttl_ms, {0}};
  memcpy(h.text_hash, text_hash, CE_SHA256_LEN);
  uint8_t *p = pf->buf + pf->len;
  memcpy(p, &h, sizeof h);
  memcpy(p + sizeof h, key, key_len);
  memcpy(p + sizeof h + key_len, vec, (size_t)dims * 4);
  pf->len += n;
}

static void fetch_ahead(void *arg) {
  ce_prefetch *pf = arg;
  pf->found = ce_readahead_fetch(&pf->cfg, pf->key, pf->key_len, pf->dims,
                                 pf->next, &pf->next_len, keep, pf) == 0;
}

/* Hands the group whose first key is key[0..len) to the thread, with a
 * buffer sized here for a whole group of `dims`-value vectors. */
static void start(ce_prefetch *pf, const char *key, size_t len, uint32_t dims) {
  memmove(pf->key, key, len); /* key may be pf->next */
  pf->key_len = len;
  pf->dims = dims;
  pf->len = 0;
  if (dims)
    ce_grow(&pf->buf, &pf->cap,
            CE_READAHEAD_GROUP * value_size(CE_KEY_MAX, dims));
  pf->busy = 1;
  ce_worker_submit(pf->worker, fetch_ahead, pf);
}

/* Waits for the thread; its values go to the local cache. Whether the group
 * came. */
static int drain(ce_prefetch *pf) {
  ce_worker_drain(pf->worker);
  pf->busy = 0;
  for (size_t at = 0; at < pf->len;) {
    value_head h;
    memcpy(&h, pf->buf + at, sizeof h);
    const uint8_t *key = pf->buf + at + sizeof h;
    ce_local_put_from_redis((const char *)key, h.key_len, h.text_hash,
                            key + h.key_len, h.dims, h.pttl_ms);
    at += value_size(h.key_len, h.dims);
  }
  pf->len = 0;
  return pf->found;
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
  int came = pf && pf->busy && drain(pf); /* the rows reached the thread */
  char next[CE_KEY_MAX];
  size_t next_len;
  if (ce_readahead_fetch(cfg, key, key_len, want_dims, next, &next_len, NULL,
                         NULL)) {
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

void ce_prefetch_free(ce_prefetch *pf) {
  if (!pf)
    return;
  ce_worker_finish(pf->worker);
  free(pf->buf);
  free(pf);
}
