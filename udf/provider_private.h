/* The retry machinery shared by the single call (provider.c) and the batch
 * loop (provider_batch.c): admission by the guard, the verdict on one
 * attempt, the delay before the next. Not an API: include provider.h. */
#ifndef CE_PROVIDER_PRIVATE_H
#define CE_PROVIDER_PRIVATE_H

#include "config.h"
#include "guard.h"
#include "http.h"
#include "provider.h"

#include <stddef.h>

/* Delay before retry number `attempt` (0-based): 250 ms * 2^attempt, capped
 * at 8 s, scaled by a jitter factor in [0.5, 1.0) drawn from `seed`. */
long ce_backoff_ms(int attempt, unsigned *seed);

/* The verdict on one finished attempt (ce_provider_judge). */
typedef enum {
  CE_VERDICT_TOO_LARGE = -2, /* refused as too large (ce_provider_too_large):
                                final for this request, its halves may pass */
  CE_VERDICT_FINAL = -1,     /* a final failure */
  CE_VERDICT_OK = 0,         /* `out` filled */
  CE_VERDICT_RETRY = 1       /* worth another try */
} ce_verdict;

/* Judges one finished attempt of a request for `n` inputs (counts it in the
 * stats and reports it to the guard). CE_VERDICT_RETRY sets *wait_ms
 * (Retry-After, or -1); every failure sets err and *cls (the kind of
 * failure). Shared by the single and the batch paths. */
ce_verdict ce_provider_judge(const ce_config *cfg, ce_guard_ticket *ticket,
                             ce_http_call *call, CURLcode cc, long long t0_ms,
                             size_t n, ce_embeddings *out, long *wait_ms,
                             char *err, size_t errlen, const char **cls);

/* Asks the guard (circuit breaker, cost guard) before an attempt that may
 * wait `wait_ms`: CE_ADMIT_GO, CE_ADMIT_LATER (only with later_ms: ask
 * again in *later_ms; never blocks then), or CE_ADMIT_CIRCUIT /
 * CE_ADMIT_BUDGET (counted as a guard reject) / CE_ADMIT_OFF (a bad
 * setting disabled the provider) with the reason in err and *cls. After an
 * admitted attempt that was not sent, call ce_guard_result(NOT_SENT) with
 * the ticket. */
ce_admit_status ce_provider_admit(const ce_config *cfg, const ce_text *in,
                                  size_t n, long wait_ms, long *later_ms,
                                  ce_guard_ticket *ticket, char *err,
                                  size_t errlen, const char **cls);

/* The time left before `deadline_ms`; 0 when none, with "timeout of N ms
 * used up" added to err. */
long ce_provider_time_left(const ce_config *cfg, long long deadline_ms,
                           char *err, size_t errlen);

/* After attempt `attempt` failed with `verdict` (ce_provider_judge): the
 * delay before the next attempt (Retry-After when given, else back-off),
 * or -1 when there is none: a final failure, retries used up, or no time
 * left before `deadline_ms` (added to err). */
long ce_provider_retry_delay(const ce_config *cfg, ce_verdict verdict,
                             int attempt, long retry_after_ms,
                             long long deadline_ms, char *err, size_t errlen);

#endif
