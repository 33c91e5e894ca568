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

/* The request body; malloc'd, NULL on failure (e.g. invalid UTF-8).
 * cfg->task is the call's effective task (task.h): sent as `task` in the
 * Jina dialect when the model takes one, never in the openai dialect. */
char *ce_provider_request_json(const ce_config *cfg, const ce_text *in,
                               size_t n);

/* Kinds of failure. Each failing call also gives a constant string naming
 * its kind (`cls`), the log class of the failed row or request
 * (ce_log_limited), so that messages with changing numbers are limited
 * together: libcurl's text of the error code for network errors, the status
 * family for error answers (provider_status_class), the reader's message
 * format for bad answers, or one of these. */
#define CE_FAIL_RESPONSE "provider sent a bad response"
#define CE_FAIL_TOO_BIG "provider response over its size limit"
#define CE_FAIL_CIRCUIT "circuit open"
#define CE_FAIL_BUDGET "cost guard"
#define CE_FAIL_TIMEOUT "timeout used up"
#define CE_FAIL_LOCAL "request not sent"
#define CE_FAIL_OFF "provider disabled"

/* ce_provider_admit's answer when a bad setting disabled the provider (on
 * top of guard.h's CE_ADMIT_*). */
#define CE_ADMIT_OFF -3

/* Parses a 200 body for `n` inputs (udf/provider_parse.c). Vectors may be
 * base64 strings or float arrays; they are ordered by data[].index, which
 * must cover 0..n-1 once. `want_dims` 0 accepts any common length. No JSON
 * tree is built: the only memory taken is the n vectors, and only once the
 * body is long enough to hold them. 0, or -1 with a message and, when cls
 * is not NULL, its format in *cls (the kind of failure). */
int ce_provider_parse_response(const char *body, size_t len, size_t n,
                               uint32_t want_dims, ce_embeddings *out,
                               char *err, size_t errlen, const char **cls);

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

/* Response size cap for `n` inputs of `dims` values (0: not known yet,
 * taken as CE_MAX_DIMS): CE_RESPONSE_VALUE_BYTES a value, which allows float
 * arrays printed with indentation (six times the base64 size), plus
 * CE_RESPONSE_ITEM_BYTES an input and CE_RESPONSE_FIXED_BYTES. Enforced
 * while reading (the transfer is aborted past it). */
#define CE_RESPONSE_VALUE_BYTES 32
#define CE_RESPONSE_ITEM_BYTES 512
#define CE_RESPONSE_FIXED_BYTES (64 << 10)
size_t ce_provider_response_limit(size_t n, uint32_t dims);

/* The length to size a response limit by: the configured or published one;
 * else twice the learned one (a model replaced by a bigger one is still
 * read, and learned: dims.h); else 0 (not known). */
uint32_t ce_provider_limit_dims(const ce_config *cfg);

/* Estimated tokens of `bytes` of text in `n` inputs, for the request size
 * budget (max_request_tokens): bytes / 2 plus one an input. Conservative:
 * English averages about 4 bytes a token, code and non-Latin scripts 1.5 to
 * 3; a request still refused as too large is split (ce_provider_judge). */
uint64_t ce_provider_tokens_estimate(size_t bytes, size_t n);

/* 1 when an error answer says the request was too large (too many tokens
 * or inputs, payload over a limit): 413, or 400/422 with such a message.
 * Splitting the request in halves may then succeed. */
int ce_provider_too_large(long status, const char *msg);

/* Embeds `n` texts in one request (plus retries). 0 on success (free with
 * ce_embeddings_free), -1 with a one-line message in err and its kind
 * (CE_FAIL_*) in *cls. */
int ce_provider_embed(const ce_config *cfg, const ce_text *in, size_t n,
                      ce_embeddings *out, char *err, size_t errlen,
                      const char **cls);

void ce_embeddings_free(ce_embeddings *e);

/* Judges one finished attempt of a request for `n` inputs (counts it in the
 * stats and reports it to the guard): 0 = `out` filled; 1 = worth another
 * try (*wait_ms = Retry-After, or -1); -1 = final failure; -2 = refused as
 * too large (ce_provider_too_large): final for this request, its halves may
 * pass. *cls gets the kind of failure. Shared by the single and the batch
 * paths. */
int ce_provider_judge(const ce_config *cfg, ce_guard_ticket *ticket,
                      ce_http_call *call, CURLcode cc, long long t0_ms,
                      size_t n, ce_embeddings *out, long *wait_ms, char *err,
                      size_t errlen, const char **cls);

/* Asks the guard (circuit breaker, cost guard) before an attempt that may
 * wait `wait_ms`: CE_ADMIT_GO, CE_ADMIT_LATER (only with later_ms: ask
 * again in *later_ms; never blocks then), or CE_ADMIT_CIRCUIT /
 * CE_ADMIT_BUDGET (counted as a guard reject) / CE_ADMIT_OFF (a bad
 * setting disabled the provider) with the reason in err and *cls. After an admitted attempt that was not sent, call
 * ce_guard_result(NOT_SENT) with the ticket. */
int ce_provider_admit(const ce_config *cfg, const ce_text *in, size_t n,
                      long wait_ms, long *later_ms, ce_guard_ticket *ticket,
                      char *err, size_t errlen, const char **cls);

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
