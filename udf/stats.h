/* Process-wide counters, lock-free (atomic adds), read by cached_embed_stats().
 */
#ifndef CE_STATS_H
#define CE_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  CE_STAT_HITS_LOCAL, /* served by the in-process cache */
  CE_STAT_HITS_REDIS, /* served by Redis */
  CE_STAT_MISSES,     /* not cached (or stale / corrupt): provider asked */
  CE_STAT_STALE,      /* key found but bound to another text */
  CE_STAT_CORRUPT,    /* key found but the value was not ours / broken */
  CE_STAT_PROVIDER_REQUESTS, /* HTTP requests sent, retries included */
  CE_STAT_PROVIDER_INPUTS,   /* texts sent in successful requests */
  CE_STAT_PROVIDER_TOKENS,   /* usage.total_tokens reported */
  CE_STAT_PROVIDER_ERRORS,   /* calls that failed after retries */
  CE_STAT_RETRIES,           /* requests repeated after 429/5xx/network error */
  CE_STAT_CACHE_ERRORS,      /* Redis unreachable, timed out or failed */
  CE_STAT_NULL_TEXTS,        /* NULL text: NULL, no call */
  CE_STAT_EMPTY_TEXTS,       /* empty or blank text: NULL, no call */
  CE_STAT_INVALID_UTF8,      /* texts whose bad bytes became U+FFFD */
  CE_STAT_TRUNCATED,         /* texts cut to max_text_bytes before sending */
  CE_STAT_LATIN1_TEXTS,      /* texts sent decoded from latin1 (cp1252) */
  CE_STAT_WIDE_TEXTS,        /* texts with NUL bytes (utf16/ucs2/utf32): NULL */
  CE_STAT_ROWS_FAILED,       /* rows returned NULL because of an error */
  CE_STAT_LATENCY_COUNT,     /* successful provider calls timed */
  CE_STAT_LATENCY_US_SUM,
  CE_STAT_LATENCY_US_MAX,
  CE_STAT_GUARD_REJECTS,   /* attempts refused by the circuit or cost guard */
  CE_STAT_WAITED,          /* misses served by another's request of the same
                              entry (single-flight, in a server or across) */
  CE_STAT_SHARED_REQUESTS, /* provider requests that carried the rows of
                              several sessions (shared requests) */
  CE_STAT_TOKENS_SAVED,    /* tokens not paid: hits and waited rows, by the
                              provider's usage when known, else estimated */
  CE_STAT__COUNT
} ce_stat;

void ce_stat_add(ce_stat s, uint64_t n);
uint64_t ce_stat_get(ce_stat s);
/* Records one provider call's wall time. */
void ce_stat_latency(uint64_t us);

/* A successful request's text bytes and the tokens the provider reported
 * for it (usage; ignored when 0): the rate ce_stat_tokens_of uses. */
void ce_stat_usage(size_t text_bytes, uint64_t tokens);

/* The tokens a text of `bytes` costs: at the rate of the provider's usage
 * reports so far (tokens per byte), else bytes / 4 (the guard's estimate);
 * at least 1. */
uint64_t ce_stat_tokens_of(size_t bytes);

/* Counts a hit of a text of `bytes` in tokens_saved. */
void ce_stat_hit_saved(size_t bytes);

/* Money: with `price` (price_per_million_tokens, a decimal; "" = unset),
 * provider_tokens (spent) and tokens_saved (saved) at that price, each
 * written as a decimal with six places ("0.012345") into a buffer of
 * CE_MONEY_MAX bytes, exactly (integer arithmetic, no locale). 0, or -1
 * when no valid price is set. */
#define CE_MONEY_MAX 48
int ce_stats_money(const char *price, char *spent, char *saved);

/* A counter's name (the JSON member, the status variable's suffix) and its
 * storage (read by the plugin's status variables: the same numbers). */
const char *ce_stat_name(ce_stat s);
const uint64_t *ce_stat_counter(ce_stat s);

/* Writes the counters as one JSON object; returns its length (or the length
 * it would need, like snprintf). `extra` (may be NULL) is appended verbatim
 * as further members, e.g. "\"circuit\":\"closed\"". With `price` set,
 * "spent" and "saved" follow (ce_stats_money). */
size_t ce_stats_json(char *out, size_t cap, const char *extra,
                     const char *price);

#endif
