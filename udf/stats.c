#include "stats.h"

#include <stdio.h>

static uint64_t counters[CE_STAT__COUNT];

static const char *const NAMES[CE_STAT__COUNT] = {
    [CE_STAT_HITS_LOCAL] = "hits_local",
    [CE_STAT_HITS_REDIS] = "hits_redis",
    [CE_STAT_MISSES] = "misses",
    [CE_STAT_STALE] = "stale",
    [CE_STAT_CORRUPT] = "corrupt",
    [CE_STAT_PROVIDER_REQUESTS] = "provider_requests",
    [CE_STAT_PROVIDER_INPUTS] = "provider_inputs",
    [CE_STAT_PROVIDER_TOKENS] = "provider_tokens",
    [CE_STAT_PROVIDER_ERRORS] = "provider_errors",
    [CE_STAT_RETRIES] = "retries",
    [CE_STAT_CACHE_ERRORS] = "cache_errors",
    [CE_STAT_NULL_TEXTS] = "null_texts",
    [CE_STAT_EMPTY_TEXTS] = "empty_texts",
    [CE_STAT_INVALID_UTF8] = "invalid_utf8",
    [CE_STAT_TRUNCATED] = "truncated",
    [CE_STAT_LATIN1_TEXTS] = "latin1_texts",
    [CE_STAT_WIDE_TEXTS] = "wide_charset_texts",
    [CE_STAT_ROWS_FAILED] = "rows_failed",
    [CE_STAT_LATENCY_COUNT] = "latency_count",
    [CE_STAT_LATENCY_US_SUM] = "latency_us_sum",
    [CE_STAT_LATENCY_US_MAX] = "latency_us_max",
    [CE_STAT_GUARD_REJECTS] = "guard_rejects",
};

const char *ce_stat_name(ce_stat s) { return NAMES[s]; }

const uint64_t *ce_stat_counter(ce_stat s) { return &counters[s]; }

void ce_stat_add(ce_stat s, uint64_t n) {
  __atomic_fetch_add(&counters[s], n, __ATOMIC_RELAXED);
}

uint64_t ce_stat_get(ce_stat s) {
  return __atomic_load_n(&counters[s], __ATOMIC_RELAXED);
}

void ce_stat_latency(uint64_t us) {
  uint64_t max = ce_stat_get(CE_STAT_LATENCY_US_MAX);
  ce_stat_add(CE_STAT_LATENCY_COUNT, 1);
  ce_stat_add(CE_STAT_LATENCY_US_SUM, us);
  while (us > max &&
         !__atomic_compare_exchange_n(&counters[CE_STAT_LATENCY_US_MAX], &max,
                                      us, 1, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED))
    ;
}

size_t ce_stats_json(char *out, size_t cap, const char *extra) {
  size_t o = 0;
  int n;
#define PUT(...)                                                               \
  do {                                                                         \
    n = snprintf(o < cap ? out + o : NULL, o < cap ? cap - o : 0, __VA_ARGS__); \
    if (n > 0)                                                                 \
      o += (size_t)n;                                                          \
  } while (0)

  PUT("{");
  uint64_t hits = ce_stat_get(CE_STAT_HITS_LOCAL) + ce_stat_get(CE_STAT_HITS_REDIS);
  PUT("\"hits\":%llu", (unsigned long long)hits);
  for (int i = 0; i < CE_STAT__COUNT; i++)
    PUT(",\"%s\":%llu", NAMES[i], (unsigned long long)ce_stat_get((ce_stat)i));
  uint64_t cnt = ce_stat_get(CE_STAT_LATENCY_COUNT);
  PUT(",\"latency_ms_mean\":%.3f",
      cnt ? (double)ce_stat_get(CE_STAT_LATENCY_US_SUM) / (double)cnt / 1000.0
          : 0.0);
  PUT(",\"latency_ms_max\":%.3f",
      (double)ce_stat_get(CE_STAT_LATENCY_US_MAX) / 1000.0);
  if (extra && *extra)
    PUT(",%s", extra);
  PUT("}");
#undef PUT
  return o;
}
