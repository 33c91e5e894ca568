/* cached_embed_stats(): the process-wide counters as one JSON object
 * (hits, misses, provider requests / inputs / tokens / errors, retries,
 * cache errors, provider latency, single-flight and shared requests, tokens
 * saved; money spent and saved when price_per_million_tokens is set).
 * Never any setting, never the API key. */
#include "udf_args.h"
#include "udf_entry_points.h"

#include "config.h"
#include "grow.h"
#include "guard.h"
#include "local_cache.h"
#include "readahead.h"
#include "stats.h"

#include <stdio.h>

#define SIGNATURE "cached_embed_stats()"

CE_EXPORT ce_udf_bool cached_embed_stats_init(UDF_INIT *initid, UDF_ARGS *args,
                                              char *message) {
  if (ce_udf_args(args, 0, 0, "", SIGNATURE, message) ||
      ce_udf_buf_init(initid, "cached_embed_stats", message))
    return 1;
  initid->maybe_null = 1;
  initid->const_item = 0; /* the counters move during a statement */
  initid->max_length = 4096;
  return 0;
}

CE_EXPORT void cached_embed_stats_deinit(UDF_INIT *initid) {
  ce_udf_buf_deinit(initid);
}

CE_EXPORT char *cached_embed_stats(UDF_INIT *initid, UDF_ARGS *args,
                                   char *result, unsigned long *length,
                                   ce_udf_flag *is_null, ce_udf_flag *error) {
  ce_udf_buf *st = (ce_udf_buf *)initid->ptr;
  (void)args;
  (void)result;
  (void)error;
  char extra[256];
  size_t bytes, entries, ra_bytes, ra_keys;
  ce_config cfg;
  ce_config_current(&cfg);
  ce_local_usage(&bytes, &entries);
  ce_readahead_usage(&ra_bytes, &ra_keys);
  snprintf(extra, sizeof extra,
           "\"circuit\":\"%s\",\"local_cache_entries\":%zu,"
           "\"local_cache_bytes\":%zu,\"readahead_keys\":%zu,"
           "\"readahead_bytes\":%zu",
           ce_guard_circuit_state(), entries, bytes, ra_keys, ra_bytes);
  *is_null = 1;
  /* Sized by a first pass; retried if the counters grew a digit meanwhile. */
  for (int attempt = 0; attempt < 3; attempt++) {
    size_t n =
        ce_stats_json(st->buf, st->cap, extra, cfg.price_per_million_tokens);
    if (st->buf && n < st->cap) {
      *is_null = 0;
      *length = (unsigned long)n;
      return st->buf;
    }
    if (ce_grow(&st->buf, &st->cap, n + 64))
      return NULL;
  }
  return NULL;
}
