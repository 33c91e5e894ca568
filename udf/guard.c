#include "guard.h"

#include "clock.h"
#include "hash.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define COST_WINDOW_MS 60000LL
#define BUCKETS 10
/* How often a non-blocking caller asks again while probes decide. */
#define HALF_OPEN_POLL_MS 20

typedef enum { CLOSED = 0, OPEN = 1, HALF_OPEN = 2 } circuit_state;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t verdict; /* CLOCK_MONOTONIC; broadcast on a verdict */
static pthread_once_t verdict_once = PTHREAD_ONCE_INIT;
static long long (*now_fn)(void) = ce_mono_ms;
static void (*sleep_fn)(long) = ce_sleep_ms;

static struct {
  circuit_state state;
  uint64_t endpoint_hash; /* a new endpoint starts closed */
  /* CLOSED: finished requests per bucket of circuit_window_ms / BUCKETS */
  struct {
    long long slot;
    long ok, fail;
  } bucket[BUCKETS];
  long bucket_ms;
  long consecutive; /* failed requests in a row */
  long long closed_since;
  /* OPEN */
  long long open_until;
  long open_ms; /* the current open period */
  char why[96]; /* what opened it */
  /* HALF_OPEN */
  int probes_out;
  long long probe_since;   /* the latest probe admitted */
  unsigned long probe_gen; /* one per half-open period */
  /* cost guard: a fixed window */
  long long win_start;
  unsigned long win_gen;
  long requests;
  uint64_t tokens;
  int logged_budget;
  long win_rpm, win_tpm; /* the limits the window counts for */
} g;

static const char *const STATE_NAMES[] = {"closed", "open", "half_open"};

static void verdict_init(void) { ce_cond_init_mono(&verdict); }

void ce_guard_set_clock(long long (*now_ms)(void), void (*sleep_ms)(long ms)) {
  pthread_mutex_lock(&mu);
  now_fn = now_ms ? now_ms : ce_mono_ms;
  sleep_fn = sleep_ms ? sleep_ms : ce_sleep_ms;
  pthread_mutex_unlock(&mu);
}

void ce_guard_reset(void) {
  pthread_mutex_lock(&mu);
  memset(&g, 0, sizeof g);
  pthread_mutex_unlock(&mu);
}

void ce_guard_ticket_init(ce_guard_ticket *t) {
  memset(t, 0, sizeof *t);
  t->last = CE_GUARD_NOT_SENT;
}

const char *ce_guard_circuit_state(void) {
  return STATE_NAMES[__atomic_load_n(&g.state, __ATOMIC_RELAXED)];
}

static void set_state(circuit_state s) {
  __atomic_store_n(&g.state, s, __ATOMIC_RELAXED);
}

ce_guard_outcome ce_guard_outcome_for_status(long status) {
  if (status >= 200 && status < 300)
    return CE_GUARD_OK;
  if (status == 400 || status == 413 || status == 422)
    return CE_GUARD_NEUTRAL;
  return CE_GUARD_FAIL;
}

static int wait_mode(const ce_config *cfg) {
  return cfg->cost_guard_mode == CE_COST_GUARD_WAIT;
}

/* ---- the circuit, under the lock ---- */

static void close_circuit(long long now) {
  set_state(CLOSED);
  memset(g.bucket, 0, sizeof g.bucket);
  g.consecutive = 0;
  g.probes_out = 0;
  g.closed_since = now;
  pthread_once(&verdict_once, verdict_init);
  pthread_cond_broadcast(&verdict);
}

static void open_circuit(const ce_config *cfg, long long now, long period) {
  set_state(OPEN);
  g.open_ms = period;
  g.open_until = now + period;
  g.probes_out = 0;
  pthread_once(&verdict_once, verdict_init);
  pthread_cond_broadcast(&verdict);
  (void)cfg;
}

static long first_period(const ce_config *cfg) {
  return cfg->circuit_cooldown_ms < CE_GUARD_FIRST_OPEN_MS
             ? cfg->circuit_cooldown_ms
             : CE_GUARD_FIRST_OPEN_MS;
}

static long doubled_period(const ce_config *cfg) {
  long p = g.open_ms ? g.open_ms * 2 : first_period(cfg);
  return p > cfg->circuit_cooldown_ms ? cfg->circuit_cooldown_ms : p;
}

/* Waits for a verdict until `left` ms have passed (on the real clock); 1
 * when the wait timed out. */
static int wait_verdict(long left) {
  pthread_once(&verdict_once, verdict_init);
  return ce_cond_wait_until(&verdict, &mu, ce_mono_ms() + left);
}

/* Circuit part of admit. `logmsg` gets a state-change line to print after
 * unlocking. */
static ce_admit_status circuit_admit(const ce_config *cfg, long long deadline,
                                     long *later_ms, ce_guard_ticket *mine,
                                     char *err, size_t errlen, char *logmsg,
                                     size_t logcap) {
  uint64_t eh = ce_fnv1a_str(cfg->endpoint);
  int timed_out = 0;
  if (cfg->circuit_failures <= 0 || eh != g.endpoint_hash) {
    if (g.state != CLOSED && cfg->circuit_failures > 0)
      snprintf(logmsg, logcap,
               "circuit closed: the endpoint changed; trying the provider "
               "again");
    if (g.state != CLOSED || eh != g.endpoint_hash)
      close_circuit(now_fn());
    g.open_ms = 0;
    g.endpoint_hash = eh;
    if (cfg->circuit_failures <= 0)
      return CE_ADMIT_GO;
  }
  for (;;) {
    long long now = now_fn();
    if (g.state == CLOSED)
      return CE_ADMIT_GO;
    if (g.state == OPEN) {
      if (now < g.open_until) {
        snprintf(err, errlen,
                 "circuit open after %s; probing the provider again in "
                 "%lld ms",
                 g.why, g.open_until - now);
        return CE_ADMIT_CIRCUIT;
      }
      set_state(HALF_OPEN);
      g.probes_out = 0;
      g.probe_gen++;
      snprintf(logmsg, logcap,
               "circuit half-open: %ld ms open period over; letting up to %d "
               "probe requests through",
               g.open_ms, CE_GUARD_PROBES);
    }
    /* HALF_OPEN. Probes that never reported back (their thread died with
     * the statement) give way after timeout_ms plus a second. */
    if (g.probes_out && now - g.probe_since >= cfg->timeout_ms + 1000)
      g.probes_out = 0;
    if (g.probes_out < CE_GUARD_PROBES) {
      g.probes_out++;
      g.probe_since = now;
      mine->probe = 1;
      mine->probe_gen = g.probe_gen;
      return CE_ADMIT_GO;
    }
    long long left = deadline - now;
    if (left <= 0 || timed_out) {
      snprintf(err, errlen,
               "circuit half-open after %s; no verdict from the probe "
               "requests in time",
               g.why);
      return CE_ADMIT_CIRCUIT;
    }
    if (later_ms) {
      *later_ms = left < HALF_OPEN_POLL_MS ? (long)left : HALF_OPEN_POLL_MS;
      return CE_ADMIT_LATER;
    }
    timed_out = wait_verdict((long)left);
  }
}

/* Gives back a probe slot that was not used, under the lock. */
static void release_probe(ce_guard_ticket *mine) {
  if (mine->probe && g.state == HALF_OPEN && g.probe_gen == mine->probe_gen &&
      g.probes_out > 0) {
    g.probes_out--;
    pthread_once(&verdict_once, verdict_init);
    pthread_cond_broadcast(&verdict);
  }
  mine->probe = 0;
}

/* Adds a finished request to the window; returns the failures and total
 * over the window in *fail and *total. */
static void window_add(const ce_config *cfg, long long now, int ok, long *fail,
                       long *total) {
  long width = cfg->circuit_window_ms / BUCKETS;
  if (width < 1)
    width = 1;
  if (width != g.bucket_ms) {
    memset(g.bucket, 0, sizeof g.bucket);
    g.bucket_ms = width;
  }
  long long slot = now / width;
  int b = (int)(slot % BUCKETS);
  if (g.bucket[b].slot != slot) {
    g.bucket[b].slot = slot;
    g.bucket[b].ok = g.bucket[b].fail = 0;
  }
  if (ok)
    g.bucket[b].ok++;
  else
    g.bucket[b].fail++;
  *fail = *total = 0;
  for (int i = 0; i < BUCKETS; i++) {
    if (g.bucket[i].slot > slot - BUCKETS) {
      *fail += g.bucket[i].fail;
      *total += g.bucket[i].ok + g.bucket[i].fail;
    }
  }
}

void ce_guard_request_done(const ce_config *cfg, ce_guard_ticket *mine) {
  char logmsg[200] = "";
  ce_guard_outcome last = mine->last;

  mine->last = CE_GUARD_NOT_SENT; /* counted once */
  if (cfg->circuit_failures <= 0 ||
      (last != CE_GUARD_OK && last != CE_GUARD_FAIL))
    return;
  pthread_mutex_lock(&mu);
  long long now = now_fn();
  if (g.state == CLOSED && g.endpoint_hash == ce_fnv1a_str(cfg->endpoint)) {
    long fail, total;
    window_add(cfg, now, last == CE_GUARD_OK, &fail, &total);
    g.consecutive = last == CE_GUARD_OK ? 0 : g.consecutive + 1;
    if (last == CE_GUARD_FAIL && g.consecutive >= cfg->circuit_failures)
      snprintf(g.why, sizeof g.why, "%ld failed provider requests in a row",
               g.consecutive);
    else if (last == CE_GUARD_FAIL && total >= cfg->circuit_min_requests &&
             fail * 100 >= cfg->circuit_failure_percent * total)
      snprintf(g.why, sizeof g.why,
               "%ld of %ld provider requests failed in %ld ms", fail, total,
               cfg->circuit_window_ms);
    else
      last = CE_GUARD_OK; /* no trip */
    if (last == CE_GUARD_FAIL) {
      /* Closed for less than a window since it last opened: flapping, so
       * the period goes on doubling. */
      long period = g.open_ms && now - g.closed_since < cfg->circuit_window_ms
                        ? doubled_period(cfg)
                        : first_period(cfg);
      open_circuit(cfg, now, period);
      snprintf(logmsg, sizeof logmsg,
               "circuit open: %s; failing fast for %ld ms", g.why, period);
    }
  }
  pthread_mutex_unlock(&mu);
  if (logmsg[0])
    ce_log("%s", logmsg);
}

/* ---- the cost guard, under the lock ---- */

/* Cost part of admit; `budget_msg` (cap 200) gets the once-a-window line to
 * print after unlocking. */
static ce_admit_status budget_admit(const ce_config *cfg, uint64_t estimate,
                                    long long deadline, long *later_ms,
                                    ce_guard_ticket *mine, char *err,
                                    size_t errlen, char *budget_msg) {
  ce_admit_status rc = CE_ADMIT_GO;

  if (cfg->max_requests_per_minute <= 0 && cfg->max_tokens_per_minute <= 0)
    return CE_ADMIT_GO;
  for (;;) {
    long long now = now_fn();
    /* New limits (a config reload) start a new window too. */
    if (now - g.win_start >= COST_WINDOW_MS || g.win_start == 0 ||
        g.win_rpm != cfg->max_requests_per_minute ||
        g.win_tpm != cfg->max_tokens_per_minute) {
      g.win_start = now ? now : 1;
      g.win_rpm = cfg->max_requests_per_minute;
      g.win_tpm = cfg->max_tokens_per_minute;
      g.win_gen++;
      g.requests = 0;
      g.tokens = 0;
      g.logged_budget = 0;
    }
    const char *what = NULL;
    long limit = 0;
    if (cfg->max_requests_per_minute > 0 &&
        g.requests + 1 > cfg->max_requests_per_minute) {
      what = "max_requests_per_minute";
      limit = cfg->max_requests_per_minute;
    } else if (cfg->max_tokens_per_minute > 0 && g.tokens > 0 &&
               g.tokens + estimate > (uint64_t)cfg->max_tokens_per_minute) {
      what = "max_tokens_per_minute";
      limit = cfg->max_tokens_per_minute;
    }
    if (!what)
      break;
    long long wait = g.win_start + COST_WINDOW_MS - now;
    if (wait < 1)
      wait = 1;
    if (!g.logged_budget) {
      g.logged_budget = 1;
      snprintf(budget_msg, 200, "cost guard: %s %ld reached; %s for %lld s",
               what, limit, wait_mode(cfg) ? "requests wait" : "rows are NULL",
               (wait + 999) / 1000);
    }
    if (!wait_mode(cfg) || now + wait > deadline) {
      if (wait_mode(cfg))
        snprintf(err, errlen,
                 "cost guard: %s %ld reached; the budget returns in %lld ms, "
                 "after the %lld ms this request may wait",
                 what, limit, wait, deadline > now ? deadline - now : 0);
      else
        snprintf(err, errlen, "cost guard: %s %ld reached", what, limit);
      rc = CE_ADMIT_BUDGET;
      break;
    }
    if (later_ms) {
      *later_ms = (long)wait;
      rc = CE_ADMIT_LATER;
      break;
    }
    pthread_mutex_unlock(&mu);
    if (budget_msg[0]) {
      ce_log("%s", budget_msg);
      budget_msg[0] = '\0';
    }
    sleep_fn((long)wait);
    pthread_mutex_lock(&mu);
  }
  if (rc == CE_ADMIT_GO) {
    g.requests++;
    g.tokens += estimate;
    mine->pending = 1;
    mine->win_gen = g.win_gen;
    mine->estimate = estimate;
  }
  return rc;
}

ce_admit_status ce_guard_admit(const ce_config *cfg, size_t n_inputs,
                               size_t text_bytes, long wait_ms, long *later_ms,
                               ce_guard_ticket *mine, char *err,
                               size_t errlen) {
  char logmsg[200] = "", budget_msg[200] = "";
  uint64_t estimate = text_bytes / 4;

  if (estimate < n_inputs)
    estimate = n_inputs;
  mine->pending = 0;
  mine->probe = 0;
  if (wait_ms < 0)
    wait_ms = 0;

  pthread_mutex_lock(&mu);
  long long deadline = now_fn() + wait_ms;
  ce_admit_status rc = circuit_admit(cfg, deadline, later_ms, mine, err, errlen,
                                     logmsg, sizeof logmsg);
  if (rc == CE_ADMIT_GO) {
    rc = budget_admit(cfg, estimate, deadline, later_ms, mine, err, errlen,
                      budget_msg);
    if (rc != CE_ADMIT_GO)
      release_probe(mine);
  }
  pthread_mutex_unlock(&mu);
  if (logmsg[0])
    ce_log("%s", logmsg);
  if (budget_msg[0])
    ce_log("%s", budget_msg);
  return rc;
}

void ce_guard_result(const ce_config *cfg, ce_guard_ticket *mine,
                     ce_guard_outcome outcome, uint64_t tokens) {
  char logmsg[200] = "";

  pthread_mutex_lock(&mu);
  long long now = now_fn();
  if (mine->pending && mine->win_gen == g.win_gen) {
    if (outcome == CE_GUARD_NOT_SENT) {
      g.requests = g.requests > 0 ? g.requests - 1 : 0;
      g.tokens = g.tokens >= mine->estimate ? g.tokens - mine->estimate : 0;
    } else if (tokens) {
      g.tokens = g.tokens >= mine->estimate ? g.tokens - mine->estimate : 0;
      g.tokens += tokens;
    }
  }
  mine->pending = 0;
  if (outcome != CE_GUARD_NOT_SENT)
    mine->last = outcome;

  int probe =
      mine->probe && g.state == HALF_OPEN && g.probe_gen == mine->probe_gen;
  if (cfg->circuit_failures > 0 && outcome != CE_GUARD_NOT_SENT &&
      g.endpoint_hash == ce_fnv1a_str(cfg->endpoint)) {
    if (outcome == CE_GUARD_OK || (outcome == CE_GUARD_NEUTRAL && probe)) {
      if (g.state != CLOSED) {
        snprintf(logmsg, sizeof logmsg,
                 "circuit closed: the provider answered again (it opened "
                 "after %s)",
                 g.why);
        close_circuit(now);
      }
    } else if (outcome == CE_GUARD_FAIL && probe) {
      long period = doubled_period(cfg);
      open_circuit(cfg, now, period);
      snprintf(logmsg, sizeof logmsg,
               "circuit open again: a probe request failed; failing fast for "
               "%ld ms",
               period);
    }
    mine->probe = 0;
  }
  release_probe(mine); /* not sent, or the verdict is someone else's */
  pthread_mutex_unlock(&mu);
  if (logmsg[0])
    ce_log("%s", logmsg);
}
