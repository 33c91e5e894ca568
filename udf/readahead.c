#include "readahead.h"

#include "cache_entry.h"
#include "cache_key.h"
#include "clock.h"
#include "hash.h"
#include "local_cache.h"
#include "redis_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct group group;

/* One listed key: in its bucket's chain, and in its group. */
typedef struct node {
  struct node *chain;
  group *g;
  uint64_t h;
  uint32_t off, len; /* the key's suffix in g->data, the whole key's length */
} node;

struct group {
  group *next; /* the FIFO of groups: oldest first */
  long long expires_ms;
  unsigned long long list; /* the listing it came from (ce_readahead_list) */
  size_t bytes;            /* charged to the limit */
  uint32_t n, prefix_len;
  node *nodes; /* n, right after the struct */
  char *data;  /* the shared prefix, then each key's suffix */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static node **buckets;
static size_t n_buckets, n_keys, bytes, limit;
static long long max_age_ms = CE_LOCAL_MAX_AGE_DEFAULT * 1000LL;
static unsigned long long listings;
static group *head, *tail;

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = ce_fnv1a(k, n);
  return h ^ (h >> 29);
}

static int same_key(const node *x, const char *key, size_t len) {
  const group *g = x->g;
  return x->len == len && !memcmp(g->data, key, g->prefix_len) &&
         !memcmp(g->data + x->off, key + g->prefix_len, len - g->prefix_len);
}

/* Takes the group out of the index and the FIFO (under mu). */
static void unlink_group(group *g) {
  for (uint32_t i = 0; i < g->n; i++) {
    node **p = &buckets[g->nodes[i].h & (n_buckets - 1)];
    while (*p && *p != &g->nodes[i])
      p = &(*p)->chain;
    if (*p)
      *p = (*p)->chain;
  }
  group **q = &head;
  group *prev = NULL;
  while (*q && *q != g)
    prev = *q, q = &(*q)->next;
  if (*q)
    *q = g->next;
  if (tail == g)
    tail = prev;
  n_keys -= g->n;
  bytes -= g->bytes;
}

static void drop_all(void) {
  while (head) {
    group *g = head;
    head = g->next;
    free(g);
  }
  tail = NULL;
  free(buckets);
  buckets = NULL;
  n_buckets = n_keys = bytes = 0;
}

static void drop_expired(long long now) {
  while (head && head->expires_ms <= now) {
    group *g = head;
    unlink_group(g);
    free(g);
  }
}

/* Room for `more` keys in the index; 0, or -1 (nothing changed). */
static int fit_buckets(size_t more) {
  if (n_keys + more <= n_buckets)
    return 0;
  size_t n = n_buckets ? n_buckets : 1024;
  while (n < n_keys + more)
    n *= 2;
  node **b = calloc(n, sizeof *b);
  if (!b)
    return -1;
  for (size_t i = 0; i < n_buckets; i++) {
    node *x = buckets[i];
    while (x) {
      node *next = x->chain;
      x->chain = b[x->h & (n - 1)];
      b[x->h & (n - 1)] = x;
      x = next;
    }
  }
  bytes += (n - n_buckets) * sizeof *b;
  free(buckets);
  buckets = b;
  n_buckets = n;
  return 0;
}

void ce_readahead_configure(size_t local_budget, long long max_age) {
  pthread_mutex_lock(&mu);
  if (max_age > 0)
    max_age_ms = max_age;
  if (limit != local_budget / 4) {
    limit = local_budget / 4;
    drop_all(); /* the lists were made for another budget */
  }
  pthread_mutex_unlock(&mu);
}

/* A group of keys[0..n), or NULL out of memory. */
static group *make_group(const char *const *keys, const size_t *key_lens,
                         size_t n) {
  size_t prefix = key_lens[0], total = 0;
  for (size_t i = 1; i < n; i++) {
    size_t p = 0;
    while (p < prefix && p < key_lens[i] && keys[i][p] == keys[0][p])
      p++;
    prefix = p;
  }
  for (size_t i = 0; i < n; i++)
    total += key_lens[i] - prefix;
  group *g = malloc(sizeof *g + n * sizeof(node) + prefix + total);
  if (!g)
    return NULL;
  g->nodes = (node *)(g + 1);
  g->data = (char *)(g->nodes + n);
  g->n = (uint32_t)n;
  g->prefix_len = (uint32_t)prefix;
  g->next = NULL;
  g->bytes = sizeof *g + n * sizeof(node) + prefix + total;
  memcpy(g->data, keys[0], prefix);
  size_t off = prefix;
  for (size_t i = 0; i < n; i++) {
    node *x = &g->nodes[i];
    x->g = g;
    x->h = hash_key(keys[i], key_lens[i]);
    x->off = (uint32_t)off;
    x->len = (uint32_t)key_lens[i];
    memcpy(g->data + off, keys[i] + prefix, key_lens[i] - prefix);
    off += key_lens[i] - prefix;
  }
  return g;
}

/* Lists one group; 0, or -1 when it does not fit (nor would the next). */
static int list_group(const char *const *keys, const size_t *key_lens, size_t n,
                      unsigned long long list) {
  group *g = make_group(keys, key_lens, n);
  if (!g)
    return -1;
  g->list = list;
  int rc = -1;
  long long now = ce_mono_ms();
  pthread_mutex_lock(&mu);
  drop_expired(now);
  size_t index = n_keys + n > n_buckets ? (n_keys + n) * 2 * sizeof(node *)
                                        : 0; /* at most, if it grows */
  if (limit && bytes + g->bytes + index <= limit && !fit_buckets(n)) {
    g->expires_ms = now + max_age_ms;
    for (uint32_t i = 0; i < g->n; i++) {
      node **b = &buckets[g->nodes[i].h & (n_buckets - 1)];
      g->nodes[i].chain = *b; /* first in its chain: the newest listing */
      *b = &g->nodes[i];
    }
    if (tail)
      tail->next = g;
    else
      head = g;
    tail = g;
    n_keys += n;
    bytes += g->bytes;
    g = NULL;
    rc = 0;
  }
  pthread_mutex_unlock(&mu);
  free(g);
  return rc;
}

void ce_readahead_list(const char *const *keys, const size_t *key_lens,
                       size_t n, uint32_t dims) {
  pthread_mutex_lock(&mu);
  size_t lim = limit;
  unsigned long long list = ++listings;
  pthread_mutex_unlock(&mu);
  /* a group's vectors may take a quarter of the local cache at most */
  size_t per = dims ? lim / (ce_entry_size(dims) + 128) : 0;
  if (per > CE_READAHEAD_GROUP)
    per = CE_READAHEAD_GROUP;
  if (per < 2)
    return;
  for (size_t i = 0; i < n;) {
    size_t m = 0;
    while (i + m < n && m < per && key_lens[i + m] < CE_KEY_MAX)
      m++;
    if (m && list_group(keys + i, key_lens + i, m, list))
      return;
    i += m ? m : 1; /* a key too long is skipped */
  }
}

typedef struct {
  const char **keys;
  const size_t *lens;
  uint32_t want_dims;
  ce_readahead_sink sink; /* NULL: the local cache */
  void *sink_ctx;
} fetch_ctx;

static void on_value(void *ctx, size_t i, const uint8_t *val, size_t len,
                     long long pttl_ms) {
  fetch_ctx *fc = ctx;
  const uint8_t *vec;
  uint32_t dims;
  if (!val || len < CE_ENTRY_HEADER)
    return;
  /* bound to the text it names: a row with another text misses it */
  if (ce_entry_decode(val, len, val + 8, fc->want_dims, &vec, &dims) !=
      CE_ENTRY_OK)
    return;
  if (fc->sink)
    fc->sink(fc->sink_ctx, fc->keys[i], fc->lens[i], val + 8, vec, dims,
             pttl_ms);
  else
    ce_local_put_from_redis(fc->keys[i], fc->lens[i], val + 8, vec, dims,
                            pttl_ms);
}

/* Key i of group g (the shared prefix, then its suffix) into out; its
 * length. */
static size_t key_at(const group *g, uint32_t i, char *out) {
  const node *x = &g->nodes[i];
  memcpy(out, g->data, g->prefix_len);
  memcpy(out + g->prefix_len, g->data + x->off, x->len - g->prefix_len);
  return x->len;
}

int ce_readahead_fetch(const ce_config *cfg, const char *key, size_t key_len,
                       uint32_t want_dims, char *next, size_t *next_len,
                       ce_readahead_sink sink, void *sink_ctx) {
  group *g = NULL;
  *next_len = 0;
  uint64_t h = hash_key(key, key_len);
  pthread_mutex_lock(&mu);
  if (n_keys) {
    drop_expired(ce_mono_ms());
    if (n_buckets)
      for (node *x = buckets[h & (n_buckets - 1)]; x; x = x->chain)
        if (x->h == h && same_key(x, key, key_len)) {
          g = x->g;
          if (next && g->next && g->next->list == g->list)
            *next_len = key_at(g->next, 0, next);
          unlink_group(g); /* fetched once */
          break;
        }
  }
  pthread_mutex_unlock(&mu);
  if (!g)
    return -1;
  size_t key_bytes = 0;
  for (uint32_t i = 0; i < g->n; i++)
    key_bytes += g->nodes[i].len;
  const char **keys = malloc(g->n * sizeof *keys);
  size_t *lens = malloc(g->n * sizeof *lens);
  char *buf = malloc(key_bytes);
  if (keys && lens && buf) {
    char *p = buf;
    for (uint32_t i = 0; i < g->n; i++) {
      keys[i] = p;
      lens[i] = key_at(g, i, p);
      p += lens[i];
    }
    fetch_ctx fc = {keys, lens, want_dims, sink, sink_ctx};
    ce_cache_mget(cfg, keys, lens, g->n, on_value, &fc);
  }
  free(keys);
  free(lens);
  free(buf);
  free(g);
  return 0;
}

void ce_readahead_usage(size_t *out_bytes, size_t *out_keys) {
  pthread_mutex_lock(&mu);
  *out_bytes = bytes;
  *out_keys = n_keys;
  pthread_mutex_unlock(&mu);
}

void ce_readahead_clear(void) {
  pthread_mutex_lock(&mu);
  drop_all();
  pthread_mutex_unlock(&mu);
}
