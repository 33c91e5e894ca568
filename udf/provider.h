/* The embeddings API: request JSON per dialect (jina / openai), response and
 * error-body parsing (pure, tested without a network), and the blocking call
 * with retries (429/5xx/network: exponential back-off with jitter, honouring
 * Retry-After, all within timeout_ms). */
#ifndef CE_PROVIDER_H
#define CE_PROVIDER_H

#include "config.h"
#include "guard.h"
#include "http.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ce_text {
  const char *s; /* valid UTF-8 */
  size_t len;
} ce_text;

typedef struct ce_embeddings {
  uint8_t *vecs; /* n * dims little-endian float32, in input order */
  uint32_t dims;
  size_t n;
  uint64_t tokens; /* usage.total_tokens, 0 if absent */
} ce_embeddings;

/* The request body; malloc'd, NULL on failure (e.g. invalid UTF-8). */
char *ce_provider_request_json(const ce_config *cfg, const ce_text *in,
                               size_t n);

/* Parses a 200 body for `n` inputs. Vectors may be base64 strings or float
 * arrays; they are ordered by data[].index, which must cover 0..n-1 once.
 * `want_dims` 0 accepts any common length. 0, or -1 with a message. */
int ce_provider_parse_response(const char *body, size_t len, size_t n,
                               uint32_t want_dims, ce_embeddings *out,
                               char *err, size_t errlen);

/* The human message of an error body ({"detail": "..."}, {"detail": [..]},
 * {"error": {"message": ..}}, {"error": ".."}, {"message": ..}), fit for the
 * log: `api_key` (may be NULL or empty) and any "Bearer <token>" a gateway
 * echoed are replaced by "[redacted]", control characters by spaces. */
void ce_provider_error_message(const char *body, size_t len,
                               const char *api_key, char *msg, size_t cap);

/* 1 for statuses worth another try: 408, 425, 429, 5xx. */
int ce_provider_retryable(long status);

/* Delay before retry number `attempt` (0-based): 250 ms * 2^attempt, capped
 * at 8 s, scaled by a jitter factor in [0.5, 1.0) drawn from `seed`. */
long ce_backoff_ms(int attempt, unsigned *seed);

/* Response size cap for `n` inputs. */
size_t ce_provider_response_limit(size_t n);

/* Embeds `n` texts in one request (plus retries). 0 on success (free with
 * ce_embeddings_free), -1 with a one-line message in err. */
int ce_provider_embed(const ce_config *cfg, const ce_text *in, size_t n,
                      ce_embeddings *out, char *err, size_t errlen);

void ce_embeddings_free(ce_embeddings *e);

/* Judges one finished attempt of a request for `n` inputs (counts it in the
 * stats): 0 = `out` filled; 1 = worth another try (*wait_ms = Retry-After,
 * or -1); -1 = final failure. Shared by the single and the batch paths. */
int ce_provider_judge(const ce_config *cfg, ce_guard_ticket *ticket,
                      ce_http_call *call, CURLcode cc, long long t0_ms,
                      size_t n, ce_embeddings *out, long *wait_ms, char *err,
                      size_t errlen);

/* Asks the guard (circuit breaker, cost guard) before an attempt; 0 to go
 * ahead (fills *ticket), -1 with the reason in err (counted as a guard
 * reject). After an admitted attempt that was not sent, call
 * ce_guard_result(NOT_SENT) with the ticket. */
int ce_provider_admit(const ce_config *cfg, const ce_text *in, size_t n,
                      ce_guard_ticket *ticket, char *err, size_t errlen);

/* The time left before `deadline_ms`; 0 when none, with "timeout of N ms
 * used up" added to err. */
long ce_provider_time_left(const ce_config *cfg, long long deadline_ms,
                           char *err, size_t errlen);

/* After attempt `attempt` failed with `verdict` (1 or -1, from
 * ce_provider_judge): the delay before the next attempt (Retry-After when
 * given, else back-off), or -1 when there is none: a final failure, retries
 * used up, or no time left before `deadline_ms` (added to err). */
long ce_provider_retry_delay(const ce_config *cfg, int verdict, int attempt,
                             long retry_after_ms, long long deadline_ms,
                             char *err, size_t errlen);

#endif
