#include "local_cache.h"

#include "clock.h"
#include "config.h"
#include "hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  struct entry *chain;       /* next in the bucket */
  struct entry *prev, *next; /* LRU: head = most recent */
  uint64_t key_hash;
  long long expires_ms; /* monotonic */
  uint8_t text_hash[CE_SHA256_LEN];
  uint32_t dims;
  uint32_t key_len;
  size_t size;          /* bytes charged to the budget */
  unsigned char data[]; /* key, then dims float32 */
} entry;

typedef struct {
  pthread_mutex_t mu;
  entry **buckets;
  size_t n_buckets, n_entries, bytes;
  entry *head, *tail;
} shard;

static shard shards[CE_LOCAL_SHARDS];
static size_t budget; /* total bytes; read with atomics */
static long long max_age_ms = CE_LOCAL_MAX_AGE_DEFAULT * 1000LL; /* atomics */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_shards(void) {
  for (int i = 0; i < CE_LOCAL_SHARDS; i++)
    pthread_mutex_init(&shards[i].mu, NULL);
}

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = ce_fnv1a(k, n);
  return h ^ (h >> 29);
}

static shard *shard_of(uint64_t h) { return &shards[h % CE_LOCAL_SHARDS]; }

static size_t shard_budget(void) {
  return __atomic_load_n(&budget, __ATOMIC_RELAXED) / CE_LOCAL_SHARDS;
}

static void lru_unlink(shard *s, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    s->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    s->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(shard *s, entry *e) {
  e->prev = NULL;
  e->next = s->head;
  if (s->head)
    s->head->prev = e;
  s->head = e;
  if (!s->tail)
    s->tail = e;
}

/* The link that points at the entry for `key`, or at the bucket's end. */
static entry **find(shard *s, uint64_t h, const char *key, size_t key_len) {
  entry **p = &s->buckets[(h / CE_LOCAL_SHARDS) & (s->n_buckets - 1)];
  while (*p && !((*p)->key_hash == h && (*p)->key_len == key_len &&
                 !memcmp((*p)->data, key, key_len)))
    p = &(*p)->chain;
  return p;
}

static void remove_entry(shard *s, entry **link) {
  entry *e = *link;
  *link = e->chain;
  lru_unlink(s, e);
  s->bytes -= e->size;
  s->n_entries--;
  free(e);
}

static void evict_to(shard *s, size_t limit) {
  while (s->tail && s->bytes > limit) {
    entry *e = s->tail;
    remove_entry(s, find(s, e->key_hash, (const char *)e->data, e->key_len));
  }
}

/* Doubles the bucket array when the chains get long; failure is harmless. */
static void maybe_grow(shard *s) {
  if (s->n_buckets && s->n_entries < s->n_buckets)
    return;
  size_t n = s->n_buckets ? s->n_buckets * 2 : 64;
  entry **b = calloc(n, sizeof *b);
  if (!b)
    return;
  for (size_t i = 0; i < s->n_buckets; i++) {
    entry *e = s->buckets[i];
    while (e) {
      entry *next = e->chain;
      size_t j = (e->key_hash / CE_LOCAL_SHARDS) & (n - 1);
      e->chain = b[j];
      b[j] = e;
      e = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->n_buckets = n;
}

static void clear_shard(shard *s) {
  while (s->head) {
    entry *e = s->head;
    s->head = e->next;
    free(e);
  }
  free(s->buckets);
  s->buckets = NULL;
  s->tail = NULL;
  s->n_buckets = s->n_entries = s->bytes = 0;
}

void ce_local_configure(size_t budget_bytes, long long max_age) {
  pthread_once(&init_once, init_shards);
  if (max_age > 0)
    __atomic_store_n(&max_age_ms, max_age, __ATOMIC_RELAXED);
  if (__atomic_load_n(&budget, __ATOMIC_RELAXED) == budget_bytes)
    return;
  __atomic_store_n(&budget, budget_bytes, __ATOMIC_RELAXED);
  for (int i = 0; i < CE_LOCAL_SHARDS; i++) {
    pthread_mutex_lock(&shards[i].mu);
    if (budget_bytes)
      evict_to(&shards[i], budget_bytes / CE_LOCAL_SHARDS);
    else
      clear_shard(&shards[i]);
    pthread_mutex_unlock(&shards[i].mu);
  }
}

int ce_local_get(const char *key, size_t key_len,
                 const uint8_t text_hash[CE_SHA256_LEN], uint32_t want_dims,
                 int (*take)(void *ctx, const uint8_t *vec, uint32_t dims),
                 void *ctx) {
  if (!__atomic_load_n(&budget, __ATOMIC_RELAXED))
    return -1;
  uint64_t h = hash_key(key, key_len);
  shard *s = shard_of(h);
  int rc = -1;

  pthread_mutex_lock(&s->mu);
  if (s->n_buckets) {
    entry **link = find(s, h, key, key_len);
    entry *e = *link;
    if (e && e->expires_ms <= ce_mono_ms()) {
      remove_entry(s, link);
    } else if (e && !memcmp(e->text_hash, text_hash, CE_SHA256_LEN) &&
               (!want_dims || e->dims == want_dims)) {
      lru_unlink(s, e);
      lru_push_front(s, e);
      rc = take(ctx, e->data + e->key_len, e->dims);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void ce_local_put(const char *key, size_t key_len,
                  const uint8_t text_hash[CE_SHA256_LEN], const uint8_t *vec,
                  uint32_t dims, long long ttl_ms) {
  size_t limit = shard_budget();
  size_t size = sizeof(entry) + key_len + (size_t)dims * 4;
  if (!limit || size > limit / 4) /* one entry may not crowd out a shard */
    return;
  uint64_t h = hash_key(key, key_len);
  shard *s = shard_of(h);
  entry *e = malloc(size);
  if (!e)
    return;
  memset(e, 0, sizeof *e);
  e->key_hash = h;
  long long age = __atomic_load_n(&max_age_ms, __ATOMIC_RELAXED);
  if (ttl_ms <= 0 || ttl_ms > age)
    ttl_ms = age;
  e->expires_ms = ce_mono_ms() + ttl_ms;
  memcpy(e->text_hash, text_hash, CE_SHA256_LEN);
  e->dims = dims;
  e->key_len = (uint32_t)key_len;
  e->size = size;
  memcpy(e->data, key, key_len);
  memcpy(e->data + key_len, vec, (size_t)dims * 4);

  pthread_mutex_lock(&s->mu);
  maybe_grow(s);
  if (!s->n_buckets) {
    pthread_mutex_unlock(&s->mu);
    free(e);
    return;
  }
  entry **link = find(s, h, key, key_len);
  if (*link)
    remove_entry(s, link);
  link = find(s, h, key, key_len);
  e->chain = NULL;
  *link = e;
  lru_push_front(s, e);
  s->bytes += size;
  s->n_entries++;
  evict_to(s, limit);
  pthread_mutex_unlock(&s->mu);
}

void ce_local_put_from_redis(const char *key, size_t key_len,
                             const uint8_t text_hash[CE_SHA256_LEN],
                             const uint8_t *vec, uint32_t dims,
                             long long pttl_ms) {
  if (pttl_ms > 0 || pttl_ms == -1)
    ce_local_put(key, key_len, text_hash, vec, dims, pttl_ms);
}

void ce_local_usage(size_t *bytes, size_t *entries) {
  size_t b = 0, n = 0;
  pthread_once(&init_once, init_shards);
  for (int i = 0; i < CE_LOCAL_SHARDS; i++) {
    pthread_mutex_lock(&shards[i].mu);
    b += shards[i].bytes;
    n += shards[i].n_entries;
    pthread_mutex_unlock(&shards[i].mu);
  }
  *bytes = b;
  *entries = n;
}

void ce_local_clear(void) {
  pthread_once(&init_once, init_shards);
  for (int i = 0; i < CE_LOCAL_SHARDS; i++) {
    pthread_mutex_lock(&shards[i].mu);
    clear_shard(&shards[i]);
    pthread_mutex_unlock(&shards[i].mu);
  }
}
