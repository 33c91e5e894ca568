/* The embeddings API: request JSON per dialect (jina / openai), response and
 * error-body parsing (pure, tested without a network), and the blocking call
 * with retries (429/5xx/network: exponential back-off with jitter, honouring
 * Retry-After, all within timeout_ms). */
#ifndef CE_PROVIDER_H
#define CE_PROVIDER_H

#include "config.h"
#include "text.h"

#include <stddef.h>
#include <stdint.h>

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

#endif
