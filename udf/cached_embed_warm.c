/* cached_embed_warm(key, text): an aggregate that makes sure every row's
 * vector is cached, in few large requests instead of one per row.
 *
 * Rows are queued as they arrive; a full queue (batch * parallel rows, or
 * CE_WARM_MAX_BYTES of text) is flushed: one pipelined Redis round trip per
 * CE_CACHE_PIPELINE keys finds what is cached, identical texts among the
 * misses are embedded once, in requests of `batch` inputs with `parallel` in
 * flight, and the results are written back pipelined with the TTL. Memory
 * stays bounded by the queue, whatever the table's size. Returns how many
 * rows now have their vector cached (in Redis, or in the local cache when
 * Redis is unavailable). With the plugin loaded, KILL QUERY abandons the
 * requests in flight, and the Progress column of SHOW PROCESSLIST shows the
 * share of the rows read so far whose vectors are settled. */
#include "udf_entry_points.h"
#include "udf_charset.h"

#include "cache.h"
#include "config.h"
#include "dims.h"
#include "entry.h"
#include "grow.h"
#include "local_cache.h"
#include "log.h"
#include "plugin_services.h"
#include "provider_batch.h"
#include "stats.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE "cached_embed_warm(key, text)"
/* Text queued before a flush, whatever the row count. */
#define CE_WARM_MAX_BYTES (16u << 20)

typedef struct {
  uint8_t hash[CE_SHA256_LEN]; /* of the text as sent */
  size_t key_off, key_len;     /* in the arena */
  size_t text_off, text_len;   /* the text as sent (text.h), in the arena */
  size_t unique;               /* index of its text among the misses */
  unsigned flags;              /* CE_TEXT_* of its preparation */
  int hit;
} queued;

typedef struct {
  ce_config cfg;
  long long count; /* rows of this group now cached */
  queued *rows;
  size_t n, rows_cap, max_rows; /* rows_cap in bytes */
  char *arena; /* texts as sent and keys of the queued rows */
  size_t arena_len, arena_cap;
  ce_charset charset; /* how the text argument's bytes are read */
  CURLM *multi; /* keeps provider connections open across flushes */
} warm_state;

static ce_ratelimit warm_rl = CE_RATELIMIT_INIT(5, 60);

CE_EXPORT ce_udf_bool cached_embed_warm_init(UDF_INIT *initid, UDF_ARGS *args,
                                             char *message) {
  if (args->arg_count != 2) {
    snprintf(message, MYSQL_ERRMSG_SIZE,
             SIGNATURE " expects 2 arguments, got %u", args->arg_count);
    return 1;
  }
  args->arg_type[0] = STRING_RESULT;
  args->arg_type[1] = STRING_RESULT;
  warm_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(message, MYSQL_ERRMSG_SIZE, "cached_embed_warm: out of memory");
    return 1;
  }
  ce_config_current(&st->cfg);
  ce_local_configure((size_t)st->cfg.local_cache_mb << 20,
                     st->cfg.local_cache_max_age * 1000LL);
  st->max_rows = (size_t)st->cfg.batch * (size_t)st->cfg.parallel;
  st->charset = ce_udf_text_charset(args, 1, (ce_charset)st->cfg.charset);
  st->multi = ce_http_multi_new();
  if (!st->multi) {
    free(st);
    snprintf(message, MYSQL_ERRMSG_SIZE, "cached_embed_warm: out of memory");
    return 1;
  }
  initid->ptr = (char *)st;
  initid->maybe_null = 0;
  return 0;
}

static void flush(warm_state *st);

CE_EXPORT void cached_embed_warm_deinit(UDF_INIT *initid) {
  warm_state *st = (warm_state *)initid->ptr;
  if (!st) {
    ce_server_progress_end();
    return;
  }
  /* Rows of a last group whose result was never asked for (HAVING, LIMIT)
   * are still queued: warm them too. */
  flush(st);
  ce_server_progress_end();
  free(st->rows);
  free(st->arena);
  curl_multi_cleanup(st->multi);
  free(st);
  initid->ptr = NULL;
}

/* ---- the flush ---- */

typedef struct {
  warm_state *st;
  uint32_t want;
} lookup_ctx;

static void on_cached(void *ctx, size_t i, const uint8_t *val, size_t len,
                      long long pttl_ms) {
  lookup_ctx *lc = ctx;
  warm_state *st = lc->st;
  queued *r = &st->rows[i];
  const uint8_t *vec;
  uint32_t dims;
  if (!val)
    return;
  ce_entry_status s = ce_entry_decode(val, len, r->hash, lc->want, &vec, &dims);
  if (s == CE_ENTRY_STALE)
    ce_stat_add(CE_STAT_STALE, 1);
  else if (s == CE_ENTRY_CORRUPT)
    ce_stat_add(CE_STAT_CORRUPT, 1);
  if (s != CE_ENTRY_OK)
    return;
  r->hit = 1;
  ce_local_put_from_redis(st->arena + r->key_off, r->key_len, r->hash, vec,
                          dims, pttl_ms);
}

static int by_hash(const void *a, const void *b) {
  const queued *x = *(const queued *const *)a, *y = *(const queued *const *)b;
  return memcmp(x->hash, y->hash, CE_SHA256_LEN);
}

/* Looks every queued row up, embeds the misses (identical texts once),
 * stores the results; counts cached rows; empties the queue. */
static void flush(warm_state *st) {
  size_t n = st->n;
  const char **keys = NULL;
  size_t *key_lens = NULL, n_miss = 0, n_unique = 0;
  queued **miss = NULL;
  ce_text *texts = NULL;
  uint8_t *vecs = NULL, *ok = NULL, *stored = NULL, *entries = NULL;
  const uint8_t **vals = NULL;
  size_t *val_lens = NULL;
  uint32_t dims = 0;

  if (!n)
    return;
  if (ce_server_killed()) /* KILL QUERY: no new work, the statement ends */
    goto done;
  ce_server_progress_add(0, n);
  keys = malloc(n * sizeof *keys);
  key_lens = malloc(n * sizeof *key_lens);
  miss = malloc(n * sizeof *miss);
  if (!keys || !key_lens || !miss)
    goto oom;
  for (size_t i = 0; i < n; i++) {
    keys[i] = st->arena + st->rows[i].key_off;
    key_lens[i] = st->rows[i].key_len;
  }
  lookup_ctx lc = {st, ce_dims_expected(&st->cfg)};
  ce_cache_mget(&st->cfg, keys, key_lens, n, on_cached, &lc);
  for (size_t i = 0; i < n; i++) {
    if (st->rows[i].hit) {
      st->count++;
      ce_stat_add(CE_STAT_HITS_REDIS, 1);
    } else {
      miss[n_miss++] = &st->rows[i];
      ce_stat_add(CE_STAT_MISSES, 1);
    }
  }
  if (!n_miss)
    goto done;

  /* Identical texts are embedded once: sort the misses by text hash. */
  qsort(miss, n_miss, sizeof *miss, by_hash);
  texts = malloc(n_miss * sizeof *texts);
  if (!texts)
    goto oom;
  for (size_t i = 0; i < n_miss; i++) {
    if (i && !memcmp(miss[i]->hash, miss[i - 1]->hash, CE_SHA256_LEN)) {
      miss[i]->unique = n_unique - 1;
      continue;
    }
    texts[n_unique].s = st->arena + miss[i]->text_off;
    texts[n_unique].len = miss[i]->text_len;
    ce_text_count(miss[i]->flags);
    miss[i]->unique = n_unique++;
  }

  ok = malloc(n_unique);
  if (!ok)
    goto oom;
  ce_provider_embed_many(&st->cfg, st->multi, texts, n_unique, &vecs, &dims,
                         ok);

  /* Write back every miss whose text was embedded. */
  size_t n_put = 0, esize = ce_entry_size(dims);
  if (vecs) {
    entries = malloc(n_miss * esize);
    vals = malloc(n_miss * sizeof *vals);
    val_lens = malloc(n_miss * sizeof *val_lens);
    stored = malloc(n_miss);
    if (!entries || !vals || !val_lens || !stored)
      goto oom;
    for (size_t i = 0; i < n_miss; i++) {
      queued *r = miss[i];
      if (!ok[r->unique])
        continue;
      const uint8_t *v = vecs + r->unique * (size_t)dims * 4;
      ce_entry_encode(r->hash, v, dims, entries + n_put * esize);
      keys[n_put] = st->arena + r->key_off;
      key_lens[n_put] = r->key_len;
      vals[n_put] = entries + n_put * esize;
      val_lens[n_put] = esize;
      miss[n_put] = r; /* compacted: the rows being stored */
      n_put++;
    }
    ce_cache_mset(&st->cfg, keys, key_lens, vals, val_lens, n_put,
                  st->cfg.ttl, stored);
    int local_on = st->cfg.local_cache_mb > 0;
    for (size_t i = 0; i < n_put; i++) {
      ce_local_put(keys[i], key_lens[i], miss[i]->hash,
                   vals[i] + CE_ENTRY_HEADER, dims,
                   (long long)st->cfg.ttl * 1000);
      if (stored[i] || local_on)
        st->count++;
    }
  }
  goto done;

oom:
  ce_log_limited(&warm_rl, NULL,
                 "warm-up: out of memory for %zu rows; they are not cached", n);
done:
  ce_server_progress_settle();
  free(keys);
  free(key_lens);
  free(miss);
  free(texts);
  free(vecs);
  free(ok);
  free(stored);
  free(entries);
  free(vals);
  free(val_lens);
  st->n = 0;
  st->arena_len = 0;
}

/* ---- the aggregate ---- */

CE_EXPORT void cached_embed_warm_clear(UDF_INIT *initid, ce_udf_flag *is_null,
                                       ce_udf_flag *error) {
  warm_state *st = (warm_state *)initid->ptr;
  (void)is_null;
  (void)error;
  /* The server need not have asked for the previous group's result (a
   * HAVING that is false, LIMIT): its queued rows are warmed all the same,
   * then the count starts again for the new group. */
  flush(st);
  st->count = 0;
}

static int present(void *ctx, const uint8_t *vec, uint32_t dims) {
  (void)ctx, (void)vec, (void)dims;
  return 0;
}

CE_EXPORT void cached_embed_warm_add(UDF_INIT *initid, UDF_ARGS *args,
                                     ce_udf_flag *is_null, ce_udf_flag *error) {
  warm_state *st = (warm_state *)initid->ptr;
  const char *text = args->args[1];
  size_t text_len = args->lengths[1];
  (void)is_null;
  (void)error;

  if (!text) {
    ce_stat_add(CE_STAT_NULL_TEXTS, 1);
    return;
  }
  if (ce_text_is_blank(text, text_len)) {
    ce_stat_add(CE_STAT_EMPTY_TEXTS, 1);
    return;
  }
  if (st->cfg.cache_off[0]) { /* a bad redis setting: no fallback host */
    ce_stat_add(CE_STAT_ROWS_FAILED, 1);
    ce_log_limited(&warm_rl, "cache_off",
                   "warm-up: cache disabled: %s; row not cached",
                   st->cfg.cache_off);
    return;
  }
  /* The text as sent goes into the arena, then its key (which depends on
   * the text's hash when content-addressed); both are kept only if the row
   * is queued. */
  size_t max = (size_t)st->cfg.max_text_bytes;
  if (ce_grow(&st->rows, &st->rows_cap, (st->n + 1) * sizeof *st->rows) ||
      ce_grow(&st->arena, &st->arena_cap,
              st->arena_len + ce_text_prepare_cap(text_len, max) +
                  CE_KEY_MAX)) {
    ce_log_limited(&warm_rl, NULL, "warm-up: out of memory; row skipped");
    return;
  }
  queued *r = &st->rows[st->n];
  memset(r, 0, sizeof *r);
  char *out = st->arena + st->arena_len;
  const char *sent;
  size_t sent_len;
  if (ce_text_prepare(text, text_len, max, st->charset, out, &sent, &sent_len,
                      &r->flags)) {
    ce_text_refuse_wide(args->args[0], args->lengths[0], "row skipped");
    return;
  }
  if (sent != out)
    memcpy(out, sent, sent_len);
  ce_sha256(out, sent_len, r->hash);
  char *key = out + sent_len;
  size_t key_len = ce_key_build(&st->cfg, NULL, 0, args->args[0],
                                args->lengths[0], r->hash, key);
  /* Already in the local cache: nothing to queue for this row. */
  if (ce_local_get(key, key_len, r->hash, ce_dims_expected(&st->cfg),
                   present, NULL) == 0) {
    ce_stat_add(CE_STAT_HITS_LOCAL, 1);
    st->count++;
    return;
  }
  r->text_off = st->arena_len;
  r->text_len = sent_len;
  r->key_off = st->arena_len + sent_len;
  r->key_len = key_len;
  st->arena_len += sent_len + key_len;
  st->n++;
  if (st->n >= st->max_rows || st->arena_len >= CE_WARM_MAX_BYTES)
    flush(st);
}

CE_EXPORT long long cached_embed_warm(UDF_INIT *initid, UDF_ARGS *args,
                                      ce_udf_flag *is_null,
                                      ce_udf_flag *error) {
  warm_state *st = (warm_state *)initid->ptr;
  (void)args;
  (void)error;
  flush(st);
  *is_null = 0;
  return st->count;
}
