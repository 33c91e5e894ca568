/* The guard in front of every provider request: a circuit breaker and a cost
 * guard, process-wide, behind one mutex; the clock and the sleep are
 * injectable for the unit tests.
 *
 * Requests and attempts. A request (one call of ce_provider_embed, one
 * warm-up batch) makes one or more attempts (retries). Each attempt is
 * admitted (ce_guard_admit) and reported (ce_guard_result) with the same
 * ticket; when the request is over, ce_guard_request_done reports it once.
 * The cost guard counts attempts; the circuit counts requests, each ONCE,
 * by the outcome of its last attempt that was sent: a request that failed
 * twice and then succeeded is a success, so a blip that retries absorb
 * never opens the circuit.
 *
 * The circuit (off when circuit_failures is 0). CLOSED: finished requests
 * go into a sliding window of circuit_window_ms (ten buckets). It opens
 * when either
 *   - at least circuit_min_requests requests finished in the window and at
 *     least circuit_failure_percent % of them failed, or
 *   - circuit_failures requests failed in a row (each after its retries:
 *     so that one session alone, which never reaches the volume, still
 *     trips on a dead provider).
 * OPEN: attempts are refused at once for the open period: 1 s the first
 * time (or circuit_cooldown_ms if smaller), doubled each time it opens
 * again without having stayed closed for a whole window, at most
 * circuit_cooldown_ms. HALF_OPEN: when the period is over, up to
 * CE_GUARD_PROBES attempts go through as probes; attempts that arrive
 * meanwhile wait (condition variable, at most their wait_ms) for the
 * verdict instead of failing. A probe that succeeds (or is answered
 * 400/413/422: the provider is up) closes the circuit and wakes them all;
 * a probe that fails opens it again. Any successful answer closes it.
 *
 * What counts as a failure: network errors and timeouts, 5xx, 429, 401,
 * 403, 404 and every other status except the three that mean "this
 * request's content was refused" (400, 413, 422), and 200 answers that are
 * not usable (malformed, wrong count or length, NaN). Those three are
 * neutral: neither success nor failure in the window.
 *
 * The cost guard: max_requests_per_minute and max_tokens_per_minute in a
 * fixed 60 s window (started again when the limits change), attempts
 * included. Tokens are estimated before an attempt as text_bytes / 4 (at
 * least one an input), counted at once, and corrected with the provider's
 * reported usage after the answer. A single request whose estimate alone
 * exceeds max_tokens_per_minute is let through when the window is still
 * unused, so that it is not refused forever. Past the budget, mode `null`
 * refuses; mode `wait` waits for the next window if it comes within the
 * attempt's wait_ms (blocking callers sleep, the others are told when). */
#ifndef CE_GUARD_H
#define CE_GUARD_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

/* Outcomes for ce_guard_result. */
typedef enum {
  CE_GUARD_NOT_SENT = -1, /* admitted, but no request went out */
  CE_GUARD_FAIL = 0,
  CE_GUARD_OK = 1,
  CE_GUARD_NEUTRAL = 2 /* 400/413/422: the provider is up */
} ce_guard_outcome;

/* Answers of ce_guard_admit (and ce_provider_admit). */
typedef enum {
  CE_ADMIT_OFF = -3,     /* ce_provider_admit: a bad setting disabled the
                            provider */
  CE_ADMIT_BUDGET = -2,  /* refused: the cost guard's budget is spent */
  CE_ADMIT_CIRCUIT = -1, /* refused: the circuit is open */
  CE_ADMIT_GO = 0,
  CE_ADMIT_LATER = 1 /* non-blocking callers: ask again in *later_ms */
} ce_admit_status;

/* Attempts of a half-open circuit let through at once. */
#define CE_GUARD_PROBES 3
/* The first open period (ms), unless circuit_cooldown_ms is smaller. */
#define CE_GUARD_FIRST_OPEN_MS 1000

/* One request's state in the guard: ce_guard_ticket_init before its first
 * attempt. A thread may have several requests in flight (the warm-up's
 * batches), each with its own ticket. */
typedef struct ce_guard_ticket {
  int pending; /* the attempt in flight is counted in the cost window */
  unsigned long win_gen;
  uint64_t estimate;
  int probe; /* the attempt in flight is a half-open probe */
  unsigned long probe_gen;
  ce_guard_outcome last; /* of the last attempt sent; CE_GUARD_NOT_SENT if
                            none */
} ce_guard_ticket;

void ce_guard_ticket_init(ce_guard_ticket *t);

/* Before each attempt. `wait_ms` is the longest this attempt may wait (the
 * cost guard's mode wait, a half-open verdict). With later_ms NULL the call
 * may block that long; otherwise it never blocks and answers
 * CE_ADMIT_LATER with the delay in *later_ms. CE_ADMIT_CIRCUIT and
 * CE_ADMIT_BUDGET come with a message in err. */
ce_admit_status ce_guard_admit(const ce_config *cfg, size_t n_inputs,
                               size_t text_bytes, long wait_ms, long *later_ms,
                               ce_guard_ticket *t, char *err, size_t errlen);

/* After each admitted attempt: one of the outcomes above and the tokens the
 * provider reported (0 = unknown: the estimate stands). */
void ce_guard_result(const ce_config *cfg, ce_guard_ticket *t,
                     ce_guard_outcome outcome, uint64_t tokens);

/* Once, when the request is over (success, or no attempt left): counts it
 * in the circuit's window by its last attempt sent. */
void ce_guard_request_done(const ce_config *cfg, ce_guard_ticket *t);

/* The outcome an HTTP status stands for. */
ce_guard_outcome ce_guard_outcome_for_status(long status);

/* "closed", "open" or "half_open". */
const char *ce_guard_circuit_state(void);

/* For the tests: a fake clock (monotonic ms) and sleep; NULL restores the
 * real ones. ce_guard_reset forgets all state. */
void ce_guard_set_clock(long long (*now_ms)(void), void (*sleep_ms)(long ms));
void ce_guard_reset(void);

#endif
