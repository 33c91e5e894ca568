/* The guard in front of every provider request: a circuit breaker (after
 * circuit_failures consecutive failed attempts, fail fast for
 * circuit_cooldown_ms, then let exactly one probe through) and a cost guard
 * (max_requests_per_minute, max_tokens_per_minute in a fixed 60 s window,
 * started again when the limits change,
 * shared by all threads). Process-wide, behind one mutex; the clock and the
 * sleep are injectable for the unit tests.
 *
 * What counts as a failure (opens the circuit): network errors and
 * timeouts, 5xx, 429, 401, 403, 404 and every other status except the
 * three that mean "this request's content was refused" (400, 413, 422),
 * and 200 answers that are not usable (malformed, wrong count or length,
 * NaN). Those three are neutral: the provider is up and accepts the key,
 * so they neither count towards opening nor keep a half-open circuit open.
 *
 * Tokens are estimated before a request as text_bytes / 4 (at least one a
 * input), counted at once, and corrected with the provider's reported
 * usage after the answer. A single request whose estimate alone exceeds
 * max_tokens_per_minute is let through when the window is still unused,
 * so that it is not refused forever. */
#ifndef CE_GUARD_H
#define CE_GUARD_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

/* Outcomes for ce_guard_result. */
#define CE_GUARD_FAIL 0
#define CE_GUARD_OK 1
#define CE_GUARD_NEUTRAL 2   /* 400/413/422: the provider is up */
#define CE_GUARD_NOT_SENT -1 /* admitted, but no request went out */

/* What one admitted request took, handed back with its result. A thread
 * may have several requests in flight (the warm-up's batches), each with
 * its own ticket. */
typedef struct ce_guard_ticket {
  int pending; /* counted in the cost window below */
  unsigned long win_gen;
  uint64_t estimate;
  int probe; /* this request is the half-open circuit's probe */
  unsigned long probe_gen;
} ce_guard_ticket;

/* Before each HTTP attempt: 0 to go ahead (fills *t); -1 (message in err)
 * when the circuit is open, or over budget in mode null, or in mode wait
 * when the budget does not come back within cfg->timeout_ms. */
int ce_guard_admit(const ce_config *cfg, size_t n_inputs, size_t text_bytes,
                   ce_guard_ticket *t, char *err, size_t errlen);

/* After each admitted attempt: its ticket, one of the outcomes above and
 * the tokens the provider reported (0 = unknown: the estimate stands). */
void ce_guard_result(const ce_config *cfg, ce_guard_ticket *t, int outcome,
                     uint64_t tokens);

/* The outcome an HTTP status stands for. */
int ce_guard_outcome_for_status(long status);

/* "closed", "open" or "half_open". */
const char *ce_guard_circuit_state(void);

/* For the tests: a fake clock (monotonic ms) and sleep; NULL restores the
 * real ones. ce_guard_reset forgets all state. */
void ce_guard_set_clock(long long (*now_ms)(void), void (*sleep_ms)(long ms));
void ce_guard_reset(void);

#endif
