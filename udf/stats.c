#include "stats.h"

#include "config.h"

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
    [CE_STAT_WAITED] = "waited",
    [CE_STAT_SHARED_REQUESTS] = "shared_requests",
    [CE_STAT_TOKENS_SAVED] = "tokens_saved",
};

/* The provider's usage reports: text bytes and tokens, for the rate. */
static uint64_t usage_bytes, usage_tokens;

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
  while (us > max && !__atomic_compare_exchange_n(
                         &counters[CE_STAT_LATENCY_US_MAX], &max, us, 1,
                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

void ce_stat_usage(size_t text_bytes, uint64_t tokens) {
  if (!tokens || !text_bytes)
    return;
  __atomic_fetch_add(&usage_bytes, text_bytes, __ATOMIC_RELAXED);
  __atomic_fetch_add(&usage_tokens, tokens, __ATOMIC_RELAXED);
}

uint64_t ce_stat_tokens_of(size_t bytes) {
  uint64_t b = __atomic_load_n(&usage_bytes, __ATOMIC_RELAXED);
  uint64_t t = __atomic_load_n(&usage_tokens, __ATOMIC_RELAXED);
  uint64_t est = b ? (uint64_t)((double)bytes * (double)t / (double)b + 0.5)
                   : (uint64_t)bytes / 4;
  return est ? est : 1;
}

void ce_stat_hit_saved(size_t bytes) {
  ce_stat_add(CE_STAT_TOKENS_SAVED, ce_stat_tokens_of(bytes));
}

/* tokens at `nano` billionths of the currency a million tokens, written
 * with six decimal places. */
static void money(uint64_t tokens, uint64_t nano, char *out) {
  /* micro-units = tokens * nano / 1e9, rounded */
  unsigned __int128 micro =
      ((unsigned __int128)tokens * nano + 500000000u) / 1000000000u;
  uint64_t whole = (uint64_t)(micro / 1000000u),
           frac = (uint64_t)(micro % 1000000u);
  snprintf(out, CE_MONEY_MAX, "%llu.%06llu", (unsigned long long)whole,
           (unsigned long long)frac);
}

int ce_stats_money(const char *price, char *spent, char *saved) {
  uint64_t nano;
  if (!price || !*price || ce_price_parse(price, &nano))
    return -1;
  money(ce_stat_get(CE_STAT_PROVIDER_TOKENS), nano, spent);
  money(ce_stat_get(CE_STAT_TOKENS_SAVED), nano, saved);
  return 0;
}

size_t ce_stats_json(char *out, size_t cap, const char *extra,
                     const char *price) {
  char spent[CE_MONEY_MAX], saved[CE_MONEY_MAX];
  size_t o = 0;
  int n;
#define PUT(...)                                                               \
  do {                                                                         \
    n = snprintf(o < cap ? out + o : NULL, o < cap ? cap - o : 0,              \
                 __VA_ARGS__);                                                 \
    if (n > 0)                                                                 \
      o += (size_t)n;                                                          \
  } while (0)

  PUT("{");
  uint64_t hits =
      ce_stat_get(CE_STAT_HITS_LOCAL) + ce_stat_get(CE_STAT_HITS_REDIS);
  PUT("\"hits\":%llu", (unsigned long long)hits);
  for (int i = 0; i < CE_STAT__COUNT; i++)
    PUT(",\"%s\":%llu", NAMES[i], (unsigned long long)ce_stat_get((ce_stat)i));
  uint64_t cnt = ce_stat_get(CE_STAT_LATENCY_COUNT);
  PUT(",\"latency_ms_mean\":%.3f",
      cnt ? (double)ce_stat_get(CE_STAT_LATENCY_US_SUM) / (double)cnt / 1000.0
          : 0.0);
  PUT(",\"latency_ms_max\":%.3f",
      (double)ce_stat_get(CE_STAT_LATENCY_US_MAX) / 1000.0);
  if (ce_stats_money(price, spent, saved) == 0)
    PUT(",\"spent\":%s,\"saved\":%s", spent, saved);
  if (extra && *extra)
    PUT(",%s", extra);
  PUT("}");
#undef PUT
  return o;
}
