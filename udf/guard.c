#include "guard.h"

#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define WINDOW_MS 60000LL

typedef enum { CLOSED = 0, OPEN = 1, HALF_OPEN = 2 } circuit_state;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long long (*now_fn)(void) = ce_mono_ms;
static void (*sleep_fn)(long) = ce_sleep_ms;

static struct {
  circuit_state state;
  long failures;           /* consecutive */
  long long open_until;    /* OPEN: when the probe may go */
  int probe_out;           /* HALF_OPEN: the probe is in flight */
  long long probe_since;
  unsigned long probe_gen; /* which probe is out */
  uint64_t endpoint_hash;  /* a new endpoint starts closed */
  /* cost guard: a fixed window */
  long long win_start;
  unsigned long win_gen;
  long requests;
  uint64_t tokens;
  int logged_budget;
  long win_rpm, win_tpm; /* the limits the window counts for */
} g;

static const char *const STATE_NAMES[] = {"closed", "open", "half_open"};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

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

const char *ce_guard_circuit_state(void) {
  return STATE_NAMES[__atomic_load_n(&g.state, __ATOMIC_RELAXED)];
}

static void set_state(circuit_state s) {
  __atomic_store_n(&g.state, s, __ATOMIC_RELAXED);
}

int ce_guard_outcome_for_status(long status) {
  if (status >= 200 && status < 300)
    return CE_GUARD_OK;
  if (status == 400 || status == 413 || status == 422)
    return CE_GUARD_NEUTRAL;
  return CE_GUARD_FAIL;
}

static int wait_mode(const ce_config *cfg) {
  return cfg->cost_guard_mode == CE_COST_GUARD_WAIT;
}

/* Circuit part of admit, under the lock. 0, or -1 with err. `logmsg` gets
 * a state-change line to print after unlocking. */
static int circuit_admit(const ce_config *cfg, long long now,
                         ce_guard_ticket *mine, char *err, size_t errlen,
                         char *logmsg, size_t logcap) {
  uint64_t eh = hash_str(cfg->endpoint);
  if (cfg->circuit_failures <= 0 || eh != g.endpoint_hash) {
    if (g.state != CLOSED && cfg->circuit_failures > 0)
      snprintf(logmsg, logcap,
               "circuit closed: the endpoint changed; trying the provider "
               "again");
    set_state(CLOSED);
    g.failures = 0;
    g.probe_out = 0;
    g.endpoint_hash = eh;
    if (cfg->circuit_failures <= 0)
      return 0;
  }
  if (g.state == OPEN) {
    if (now < g.open_until) {
      long long left = (g.open_until - now + 999) / 1000;
      snprintf(err, errlen,
               "circuit open after %ld consecutive provider failures; "
               "retrying in %lld s",
               g.failures, left);
      return -1;
    }
    set_state(HALF_OPEN);
    g.probe_out = 0;
    snprintf(logmsg, logcap,
             "circuit half-open: %ld ms cool-down over; letting one probe "
             "request through",
             cfg->circuit_cooldown_ms);
  }
  if (g.state == HALF_OPEN) {
    /* A probe that never reported back (its thread died with the
     * statement) gives way after timeout_ms plus a second. */
    if (g.probe_out && now - g.probe_since < cfg->timeout_ms + 1000) {
      snprintf(err, errlen,
               "circuit half-open after %ld consecutive provider failures; "
               "a probe request is deciding",
               g.failures);
      return -1;
    }
    g.probe_out = 1;
    g.probe_since = now;
    g.probe_gen++;
    mine->probe = 1;
    mine->probe_gen = g.probe_gen;
  }
  return 0;
}

/* Gives back an unused probe slot, under the lock. */
static void release_probe(ce_guard_ticket *mine) {
  if (mine->probe && g.state == HALF_OPEN && g.probe_gen == mine->probe_gen)
    g.probe_out = 0;
  mine->probe = 0;
}

int ce_guard_admit(const ce_config *cfg, size_t n_inputs, size_t text_bytes,
                   ce_guard_ticket *mine, char *err, size_t errlen) {
  char logmsg[200] = "";
  char budget_msg[200] = "";
  uint64_t estimate = text_bytes / 4;
  int rc = 0;

  if (estimate < n_inputs)
    estimate = n_inputs;
  mine->pending = 0;
  mine->probe = 0;

  pthread_mutex_lock(&mu);
  long long now = now_fn();
  long long deadline = now + cfg->timeout_ms;

  if (circuit_admit(cfg, now, mine, err, errlen, logmsg, sizeof logmsg)) {
    rc = -1;
    goto out;
  }
  if (cfg->max_requests_per_minute <= 0 && cfg->max_tokens_per_minute <= 0)
    goto admitted;
  for (;;) {
    now = now_fn();
    /* New limits (a config reload) start a new window too. */
    if (now - g.win_start >= WINDOW_MS || g.win_start == 0 ||
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
    long long wait = g.win_start + WINDOW_MS - now;
    if (!g.logged_budget) {
      g.logged_budget = 1;
      snprintf(budget_msg, sizeof budget_msg,
               "cost guard: %s %ld reached; %s for %lld s", what, limit,
               wait_mode(cfg) ? "requests wait" : "rows are NULL",
               (wait + 999) / 1000);
    }
    if (!wait_mode(cfg) || now + wait > deadline) {
      if (wait_mode(cfg))
        snprintf(err, errlen,
                 "cost guard: %s %ld reached; the budget returns in %lld ms, "
                 "after timeout_ms %ld",
                 what, limit, wait, cfg->timeout_ms);
      else
        snprintf(err, errlen, "cost guard: %s %ld reached", what, limit);
      release_probe(mine);
      rc = -1;
      goto out;
    }
    pthread_mutex_unlock(&mu);
    if (budget_msg[0]) {
      ce_log("%s", budget_msg);
      budget_msg[0] = '\0';
    }
    sleep_fn((long)(wait < 1 ? 1 : wait));
    pthread_mutex_lock(&mu);
  }
  g.requests++;
  g.tokens += estimate;
  mine->pending = 1;
  mine->win_gen = g.win_gen;
  mine->estimate = estimate;
admitted:
out:
  pthread_mutex_unlock(&mu);
  if (logmsg[0])
    ce_log("%s", logmsg);
  if (budget_msg[0])
    ce_log("%s", budget_msg);
  return rc;
}

void ce_guard_result(const ce_config *cfg, ce_guard_ticket *mine, int outcome,
                     uint64_t tokens) {
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

  if (cfg->circuit_failures > 0 && outcome != CE_GUARD_NOT_SENT) {
    int probe = mine->probe && g.probe_gen == mine->probe_gen;
    if (outcome == CE_GUARD_OK || (outcome == CE_GUARD_NEUTRAL && probe)) {
      if (g.state != CLOSED)
        snprintf(logmsg, sizeof logmsg,
                 "circuit closed: the provider answered again after %ld "
                 "consecutive failures",
                 g.failures);
      set_state(CLOSED);
      g.failures = 0;
      g.probe_out = 0;
    } else if (outcome == CE_GUARD_FAIL) {
      g.failures++;
      if (g.state == HALF_OPEN && probe) {
        set_state(OPEN);
        g.open_until = now + cfg->circuit_cooldown_ms;
        g.probe_out = 0;
        snprintf(logmsg, sizeof logmsg,
                 "circuit open again: the probe request failed; failing fast "
                 "for %ld s",
                 (cfg->circuit_cooldown_ms + 999) / 1000);
      } else if (g.state == CLOSED && g.failures >= cfg->circuit_failures) {
        set_state(OPEN);
        g.open_until = now + cfg->circuit_cooldown_ms;
        snprintf(logmsg, sizeof logmsg,
                 "circuit open after %ld consecutive provider failures; "
                 "failing fast for %ld s",
                 g.failures, (cfg->circuit_cooldown_ms + 999) / 1000);
      }
    }
  } else if (outcome == CE_GUARD_NOT_SENT) {
    release_probe(mine);
  }
  mine->probe = 0;
  pthread_mutex_unlock(&mu);
  if (logmsg[0])
    ce_log("%s", logmsg);
}
