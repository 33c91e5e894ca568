/* cached_embed(key, text [, ttl_seconds [, task]]): the embedding of `text`
 * as a float32 BLOB, from the cache (Redis) or the provider; `task` (query,
 * passage or a provider's own name; NULL = the `task` setting) is resolved
 * per row (task.h). cached_embed_query(text): the same with a NULL key, the
 * configured ttl and task `query`, for the text of a search. A failing row
 * is NULL (is_null) with one line in the error log; never *error, which
 * would make every later row of the statement NULL too. With on_error =
 * error (the plugin loaded) it fails the statement instead. */
#include "udf_args.h"
#include "udf_charset.h"
#include "udf_entry_points.h"

#include "cache_entry.h"
#include "cache_key.h"
#include "config.h"
#include "dims.h"
#include "flight.h"
#include "grow.h"
#include "http.h"
#include "local_cache.h"
#include "log.h"
#include "plugin_services.h"
#include "prefetch.h"
#include "provider.h"
#include "readahead.h"
#include "redis_cache.h"
#include "share.h"
#include "stats.h"
#include "task.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE "cached_embed(key, text [, ttl_seconds [, task]])"
#define SIGNATURE_QUERY "cached_embed_query(text)"

typedef struct {
  ce_config cfg; /* settings as of the statement's start; cfg.task is
                    the row's effective task (task.h) */
  char default_task[CE_TASK_MAX + 1]; /* a row's task when it names none */
  uint8_t *vec;                       /* the row's result; reused across rows */
  size_t vec_cap;
  uint8_t *entry; /* the value written to Redis */
  size_t entry_cap;
  char *scratch; /* the text as sent, when it differs from the argument */
  size_t scratch_cap;
  ce_charset charset; /* how the text argument's bytes are read */
  uint8_t hash[CE_SHA256_LEN];
  uint32_t dims;
  uint32_t want_dims;    /* the row's expected length (ce_dims_expected) */
  int stored_elsewhere;  /* a shared vector came under another key */
  ce_prefetch *prefetch; /* read-ahead a group ahead of the rows, or NULL */
  size_t key_len;
  char key[CE_KEY_MAX];
} embed_state;

static ce_ratelimit row_rl = CE_RATELIMIT_INIT(5, 60);
static ce_ratelimit cache_rl = CE_RATELIMIT_INIT(5, 60);

static int is_integer(const char *s, size_t len) {
  size_t i = len && (s[0] == '-' || s[0] == '+');
  if (i == len)
    return 0;
  for (; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

/* The statement's state: settings, the default task (`task` NULL: the
 * setting's), the text argument's character set. 0, or -1 with a message. */
static int embed_init(UDF_INIT *initid, UDF_ARGS *args, char *message,
                      unsigned text_arg, const char *task,
                      const char *signature) {
  char err[160];
  embed_state *st = calloc(1, sizeof *st);
  if (!st)
    return ce_udf_message(message, "cached_embed: out of memory");
  ce_config_current(&st->cfg);
  if (ce_on_error_check(&st->cfg, message, MYSQL_ERRMSG_SIZE)) {
    free(st);
    return -1;
  }
  if (ce_task_resolve(&st->cfg, task, task ? strlen(task) : 0, st->default_task,
                      err, sizeof err)) {
    free(st);
    return ce_udf_message(message, "%s: %s", signature, err);
  }
  ce_local_configure((size_t)st->cfg.local_cache_mb << 20,
                     st->cfg.local_cache_max_age * 1000LL);
  ce_readahead_configure((size_t)st->cfg.local_cache_mb << 20,
                         st->cfg.local_cache_max_age * 1000LL);
  st->charset =
      ce_udf_text_charset(args, text_arg, (ce_charset)st->cfg.charset);
  initid->ptr = (char *)st;
  initid->maybe_null = 1;
  initid->const_item = 0;
  initid->max_length = (unsigned long)CE_MAX_DIMS * 4;
  return 0;
}

CE_EXPORT ce_udf_bool cached_embed_init(UDF_INIT *initid, UDF_ARGS *args,
                                        char *message) {
  if (ce_udf_args(args, 2, 4, "ss", SIGNATURE, message))
    return 1;
  /* A constant string ttl must read as a number; NULL and string columns
   * are converted by the server (NULL: the configured ttl). */
  if (args->arg_count >= 3 && args->arg_type[2] == STRING_RESULT &&
      args->args[2] && !is_integer(args->args[2], args->lengths[2])) {
    ce_udf_message(message, SIGNATURE ": ttl_seconds is not a number");
    return 1;
  }
  if (args->arg_count == 4 &&
      ce_task_arg_check(args->arg_type[3] == STRING_RESULT, args->args[3],
                        args->lengths[3], SIGNATURE, "cached_embed", message,
                        MYSQL_ERRMSG_SIZE))
    return 1;
  ce_udf_arg_types(args, "--i");
  return embed_init(initid, args, message, 1, NULL, SIGNATURE) != 0;
}

CE_EXPORT ce_udf_bool cached_embed_query_init(UDF_INIT *initid, UDF_ARGS *args,
                                              char *message) {
  if (ce_udf_args(args, 1, 1, "s", SIGNATURE_QUERY, message))
    return 1;
  return embed_init(initid, args, message, 0, "query", SIGNATURE_QUERY) != 0;
}

CE_EXPORT void cached_embed_deinit(UDF_INIT *initid) {
  embed_state *st = (embed_state *)initid->ptr;
  if (!st)
    return;
  ce_prefetch_free(st->prefetch);
  free(st->vec);
  free(st->entry);
  free(st->scratch);
  free(st);
  initid->ptr = NULL;
}

CE_EXPORT void cached_embed_query_deinit(UDF_INIT *initid) {
  cached_embed_deinit(initid);
}

/* Copies a vector into the row's result buffer. */
static int take_vector(void *ctx, const uint8_t *vec, uint32_t dims) {
  embed_state *st = ctx;
  if (ce_grow(&st->vec, &st->vec_cap, (size_t)dims * 4))
    return 1;
  memcpy(st->vec, vec, (size_t)dims * 4);
  st->dims = dims;
  return 0;
}

/* Takes a Redis value if it is a valid entry for this text, and keeps a copy
 * in the local cache for no longer than Redis keeps it. */
static int accept_entry(void *ctx, const uint8_t *val, size_t len,
                        long long pttl_ms) {
  embed_state *st = ctx;
  const uint8_t *vec;
  uint32_t dims;
  ce_entry_status s =
      ce_entry_decode(val, len, st->hash, st->want_dims, &vec, &dims);
  if (s == CE_ENTRY_STALE) {
    ce_stat_add(CE_STAT_STALE, 1);
    return 1;
  }
  if (s != CE_ENTRY_OK) {
    ce_stat_add(CE_STAT_CORRUPT, 1);
    ce_log_limited(&cache_rl, NULL,
                   "key '%.80s' holds a value that is not a valid entry; "
                   "treated as a miss and replaced",
                   st->key);
    return 1;
  }
  if (take_vector(st, vec, dims))
    return 1;
  ce_local_put_from_redis(st->key, st->key_len, st->hash, vec, dims, pttl_ms);
  return 0;
}

typedef enum { PREPARED, PREPARE_WIDE, PREPARE_OOM } prepare_status;

/* The text as sent (ce_text_prepare, after the task's prefix): the
 * argument itself, or a copy in st->scratch. PREPARE_WIDE: the text holds
 * NUL bytes. */
static prepare_status prepare_text(embed_state *st, const char *text,
                                   size_t len, ce_text *out, unsigned *flags) {
  size_t max = (size_t)st->cfg.max_text_bytes;
  const char *prefix = ce_task_prefix(&st->cfg);
  size_t plen = strlen(prefix);
  if (ce_grow(&st->scratch, &st->scratch_cap,
              plen + ce_text_prepare_cap(len, max) + 1))
    return PREPARE_OOM;
  if (ce_text_prepare_prefixed(prefix, plen, text, len, max, st->charset,
                               st->scratch, &out->s, &out->len, flags))
    return PREPARE_WIDE;
  return PREPARED;
}

/* The row's key as the log names it before the Redis key is built. */
static void label_key(embed_state *st, const char *key, size_t key_len) {
  snprintf(st->key, sizeof st->key, "%.*s",
           key ? (int)(key_len < 80 ? key_len : 80) : 6, key ? key : "(NULL)");
}

/* `cls`: the kind of failure (CE_FAIL_*), the log line's rate-limit class. */
static char *fail_row(embed_state *st, ce_udf_flag *is_null_flag,
                      const char *cls, const char *why) {
  ce_stat_add(CE_STAT_ROWS_FAILED, 1);
  *is_null_flag = 1;
  if (ce_on_error_fail(&st->cfg, "cached_embed", st->key, why)) {
    ce_log_limited(&row_rl, cls,
                   "row key '%.80s': %s; statement failed "
                   "(on_error = error)",
                   st->key, why);
    return NULL;
  }
  ce_log_limited(&row_rl, cls, "row key '%.80s': %s; returning NULL", st->key,
                 why);
  return NULL;
}

/* Keeps a vector that another's request of the same entry brought
 * (single-flight, flight.h); notes whether it is stored under another key
 * than the row's. */
static int take_shared(void *ctx, const uint8_t *vec, uint32_t dims,
                       const char *key, size_t key_len) {
  embed_state *st = ctx;
  if (take_vector(st, vec, dims))
    return 1;
  st->stored_elsewhere =
      key_len != st->key_len || memcmp(key, st->key, key_len) != 0;
  return 0;
}

/* Stores the row's vector (st->vec) under its key in Redis (`to_redis`;
 * with `m`, the miss this row paid for, whose lock it ends) and in the
 * local cache. 0, or -1 when Redis did not take it. */
static int store_row(embed_state *st, long ttl, int to_redis, ce_miss *m) {
  int rc = -1;
  if (to_redis) {
    if (ce_grow(&st->entry, &st->entry_cap, ce_entry_size(st->dims)))
      return -1;
    ce_entry_encode(st->hash, st->vec, st->dims, st->entry);
    rc = m ? ce_miss_store(m, st->entry, ce_entry_size(st->dims), ttl)
           : ce_cache_set(&st->cfg, st->key, st->key_len, st->entry,
                          ce_entry_size(st->dims), ttl);
  }
  ce_local_put(st->key, st->key_len, st->hash, st->vec, st->dims,
               (long long)ttl * 1000);
  return rc;
}

/* A miss: paid once per entry across sessions and servers (flight.h) —
 * this row pays (alone or in a shared request: share.h), or gets the
 * vector another's request brings. */
static char *embed_miss(embed_state *st, const ce_text *t, long ttl,
                        unsigned long *length, ce_udf_flag *is_null) {
  uint8_t id[CE_SHA256_LEN];
  ce_miss m;
  ce_embeddings emb;
  const char *cls = CE_FAIL_LOCAL;
  char err[320];
  ce_entry_identity(&st->cfg, NULL, 0, st->hash, id);
  ce_miss_role role =
      ce_miss_begin(&m, &st->cfg, id, st->hash, t->len, st->want_dims, st->key,
                    st->key_len, take_shared, st, err, sizeof err, &cls);
  if (role == CE_MISS_FAILED)
    return fail_row(st, is_null, cls, err);
  if (role == CE_MISS_SERVED) {
    store_row(st, ttl, st->stored_elsewhere, NULL);
    *length = (unsigned long)st->dims * 4;
    return (char *)st->vec;
  }
  if (ce_share_embed(&st->cfg, t, &emb, err, sizeof err, &cls)) {
    ce_miss_fail(&m, cls, err);
    return fail_row(st, is_null, cls, err);
  }
  if (take_vector(st, emb.vecs, emb.dims)) {
    ce_embeddings_free(&emb);
    ce_miss_fail(&m, CE_FAIL_LOCAL, "out of memory");
    return fail_row(st, is_null, CE_FAIL_LOCAL, "out of memory");
  }
  uint64_t tokens = emb.tokens;
  ce_embeddings_free(&emb);
  int stored = store_row(st, ttl, 1, &m) == 0;
  ce_miss_done(&m, st->vec, st->dims, tokens, stored);
  *length = (unsigned long)st->dims * 4;
  return (char *)st->vec;
}

/* Makes the row's task (`task` NULL: the statement's default) the
 * effective one: it decides the prefix, the request and the key. 0, or -1
 * with the message in err. */
static int use_task(embed_state *st, const char *task, size_t task_len,
                    char *err, size_t errlen) {
  char eff[CE_TASK_MAX + 1];
  if (!task)
    strcpy(eff, st->default_task);
  else if (ce_task_resolve(&st->cfg, task, task_len, eff, err, errlen))
    return -1;
  if (strcmp(eff, st->cfg.task))
    strcpy(st->cfg.task, eff);
  return 0;
}

/* Looks the row up in the local cache, then in a read-ahead group, then in
 * Redis, and counts a hit. 0 when st->vec holds the vector, -1 on a miss. */
static int lookup_row(embed_state *st, size_t text_len) {
  if (ce_local_get(st->key, st->key_len, st->hash, st->want_dims, take_vector,
                   st) == 0) {
    ce_stat_add(CE_STAT_HITS_LOCAL, 1);
    ce_stat_hit_saved(text_len);
    return 0;
  }
  /* Listed by a warm-up: its group comes from Redis in one round trip (the
   * rows that follow it are then local hits), and the next group is
   * fetched while they are written (prefetch.h). */
  int hit = ce_prefetch_miss(&st->prefetch, &st->cfg, st->key, st->key_len,
                             st->want_dims) == 0 &&
            ce_local_get(st->key, st->key_len, st->hash, st->want_dims,
                         take_vector, st) == 0;
  /* The remaining TTL is only needed to copy the entry to the local cache. */
  if (!hit)
    hit =
        ce_cache_get(&st->cfg, st->key, st->key_len, st->cfg.local_cache_mb > 0,
                     accept_entry, st) == CE_CACHE_HIT;
  if (!hit)
    return -1;
  ce_stat_add(CE_STAT_HITS_REDIS, 1);
  ce_stat_hit_saved(text_len);
  return 0;
}

/* One row: `key` NULL = content-addressed, `ttl_arg` < 0 = the setting's,
 * `task` NULL = the statement's default task. */
static char *embed_row(embed_state *st, const char *key, size_t key_len,
                       const char *text, size_t text_len, long long ttl_arg,
                       const char *task, size_t task_len, unsigned long *length,
                       ce_udf_flag *is_null) {
  long ttl = st->cfg.ttl;
  char err[320];

  *is_null = 0;
  if (!text) {
    ce_stat_add(CE_STAT_NULL_TEXTS, 1);
    *is_null = 1;
    return NULL;
  }
  if (ce_text_is_blank(text, text_len)) {
    ce_stat_add(CE_STAT_EMPTY_TEXTS, 1);
    *is_null = 1;
    return NULL;
  }
  if (ttl_arg >= 0) /* clamped as the setting is */
    ttl = ttl_arg > CE_TTL_MAX ? CE_TTL_MAX : (long)ttl_arg;
  if (use_task(st, task, task_len, err, sizeof err)) {
    label_key(st, key, key_len);
    return fail_row(st, is_null, "bad task", err);
  }

  /* The entry and a content-addressed key are bound to the text as sent,
   * so one text is one entry whatever column (character set) it came from. */
  ce_text t;
  unsigned flags;
  prepare_status prc = prepare_text(st, text, text_len, &t, &flags);
  if (prc == PREPARE_OOM) {
    snprintf(st->key, sizeof st->key, "(not built)");
    return fail_row(st, is_null, CE_FAIL_LOCAL, "out of memory");
  }
  if (prc == PREPARE_WIDE) {
    ce_text_refuse_wide(key, key_len, "returning NULL");
    *is_null = 1;
    label_key(st, key, key_len);
    ce_on_error_fail(&st->cfg, "cached_embed", st->key,
                     "the text holds NUL bytes (a utf16, ucs2 or utf32 "
                     "column?); pass CONVERT(col USING utf8mb4)");
    return NULL;
  }
  ce_sha256(t.s, t.len, st->hash);
  st->key_len =
      ce_key_build(&st->cfg, NULL, 0, key, key_len, st->hash, st->key);
  st->want_dims = ce_dims_expected(&st->cfg);
  if (st->cfg.cache_off[0]) { /* a bad redis setting: no fallback host */
    char why[CE_OFF_MSG + 32];
    snprintf(why, sizeof why, "cache disabled: %s", st->cfg.cache_off);
    return fail_row(st, is_null, "cache disabled", why);
  }
  if (lookup_row(st, t.len) == 0) {
    *length = (unsigned long)st->dims * 4;
    return (char *)st->vec;
  }
  ce_stat_add(CE_STAT_MISSES, 1);
  ce_text_count(flags);
  return embed_miss(st, &t, ttl, length, is_null);
}

CE_EXPORT char *cached_embed(UDF_INIT *initid, UDF_ARGS *args, char *result,
                             unsigned long *length, ce_udf_flag *is_null,
                             ce_udf_flag *error) {
  long long ttl = -1;
  (void)result;
  (void)error;
  if (args->arg_count >= 3 && args->args[2])
    ttl = *(long long *)args->args[2];
  return embed_row((embed_state *)initid->ptr, args->args[0], args->lengths[0],
                   args->args[1], args->lengths[1], ttl,
                   args->arg_count == 4 ? args->args[3] : NULL,
                   args->arg_count == 4 ? args->lengths[3] : 0, length,
                   is_null);
}

CE_EXPORT char *cached_embed_query(UDF_INIT *initid, UDF_ARGS *args,
                                   char *result, unsigned long *length,
                                   ce_udf_flag *is_null, ce_udf_flag *error) {
  (void)result;
  (void)error;
  return embed_row((embed_state *)initid->ptr, NULL, 0, args->args[0],
                   args->lengths[0], -1, NULL, 0, length, is_null);
}

/* DROP FUNCTION unloads the library: close pooled connections first. */
__attribute__((destructor)) static void cached_embed_unload(void) {
  ce_readahead_clear();
  ce_local_clear();
  ce_share_shutdown();
  ce_cache_shutdown();
  ce_http_shutdown();
}
