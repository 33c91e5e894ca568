/* The circuit breaker and cost guard, on a fake clock. */
#include "check.h"
#include "guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One ticket per thread: each thread here has one request at a time. */
static __thread ce_guard_ticket T;
static long long fake_now = 1000;
static long slept_total;
static long long fake_clock(void) { return fake_now; }
static void fake_sleep(long ms) {
  slept_total += ms;
  fake_now += ms;
}

static void real_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static ce_config base(void) {
  ce_config c;
  ce_config_defaults(&c);
  c.circuit_failures = 3;
  c.circuit_failure_percent = 50;
  c.circuit_min_requests = 20;
  c.circuit_window_ms = 10000;
  c.circuit_cooldown_ms = 10000;
  c.timeout_ms = 5000;
  return c;
}

/* One attempt, may block up to timeout_ms. */
static int admit(const ce_config *c, char *err) {
  return ce_guard_admit(c, 1, 40, c->timeout_ms, NULL, &T, err, 200);
}

/* A whole request whose attempts end with these outcomes; returns the
 * admit answer of the attempt that was refused, or CE_ADMIT_GO. */
static int request(const ce_config *c, int n, const int *outcomes) {
  char err[200];
  int rc = CE_ADMIT_GO;
  ce_guard_ticket_init(&T);
  for (int i = 0; i < n && rc == CE_ADMIT_GO; i++) {
    rc = admit(c, err);
    if (rc == CE_ADMIT_GO)
      ce_guard_result(c, &T, outcomes[i], 0);
  }
  ce_guard_request_done(c, &T);
  return rc;
}

static int fail_once(const ce_config *c) {
  int o[] = {CE_GUARD_FAIL};
  return request(c, 1, o);
}

static int ok_once(const ce_config *c) {
  int o[] = {CE_GUARD_OK};
  return request(c, 1, o);
}

/* The blip: every request fails twice and then succeeds on its retry. */
static void test_retried_requests_count_once(void) {
  ce_config c = base();
  int blip[] = {CE_GUARD_FAIL, CE_GUARD_FAIL, CE_GUARD_OK};
  ce_guard_reset();
  for (int i = 0; i < 15; i++)
    CHECK(request(&c, 3, blip) == CE_ADMIT_GO);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* ... whereas requests that fail after their retries do count */
  int down[] = {CE_GUARD_FAIL, CE_GUARD_FAIL, CE_GUARD_FAIL};
  for (int i = 0; i < 3; i++)
    request(&c, 3, down);
  CHECK_STR(ce_guard_circuit_state(), "open");
}

static void test_consecutive_rule(void) {
  ce_config c = base();
  ce_guard_reset();
  /* two failures, one success: the count starts again */
  fail_once(&c);
  fail_once(&c);
  ok_once(&c);
  fail_once(&c);
  fail_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* neutral answers (400) neither count nor reset */
  int neutral[] = {CE_GUARD_NEUTRAL};
  request(&c, 1, neutral);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  fail_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "open");
}

static void test_rate_rule(void) {
  ce_config c = base();
  char err[200];
  c.circuit_failures = 1000; /* only the rate rule */
  ce_guard_reset();
  /* half of 19: below the volume */
  for (int i = 0; i < 19; i++)
    i % 2 ? fail_once(&c) : ok_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* the 20th, a failure: 10 of 20 */
  fail_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "open");
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  CHECK_STR(err, "circuit open after 10 of 20 provider requests failed in "
                 "10000 ms; probing the provider again in 1000 ms");

  /* failures older than the window are forgotten */
  ce_guard_reset();
  for (int i = 0; i < 18; i++)
    i % 2 ? fail_once(&c) : ok_once(&c);
  fake_now += 11000;
  for (int i = 0; i < 18; i++)
    i % 2 ? fail_once(&c) : ok_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* 40 % of 20: not enough */
  ce_guard_reset();
  fake_now += 11000;
  for (int i = 0; i < 20; i++)
    i % 5 < 3 ? ok_once(&c) : fail_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "closed");
}

static void trip(const ce_config *c) {
  for (int i = 0; i < c->circuit_failures; i++)
    fail_once(c);
}

static void test_open_period_doubles_and_is_capped(void) {
  ce_config c = base();
  char err[200];
  long later;
  c.circuit_cooldown_ms = 3000;
  ce_guard_reset();
  fake_now += 100000;
  trip(&c);
  CHECK_STR(ce_guard_circuit_state(), "open");
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  CHECK_STR(err, "circuit open after 3 failed provider requests in a row; "
                 "probing the provider again in 1000 ms");
  fake_now += 999;
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  /* after 1 s: up to CE_GUARD_PROBES probes, the next one waits */
  fake_now += 1;
  ce_guard_ticket p[CE_GUARD_PROBES];
  for (int i = 0; i < CE_GUARD_PROBES; i++) {
    ce_guard_ticket_init(&p[i]);
    CHECK(ce_guard_admit(&c, 1, 4, 5000, &later, &p[i], err, 200) ==
          CE_ADMIT_GO);
  }
  CHECK_STR(ce_guard_circuit_state(), "half_open");
  ce_guard_ticket_init(&T);
  CHECK(ce_guard_admit(&c, 1, 4, 5000, &later, &T, err, 200) == CE_ADMIT_LATER);
  CHECK(later > 0 && later <= 5000);
  /* a failed probe: open again for twice as long */
  ce_guard_result(&c, &p[0], CE_GUARD_FAIL, 0);
  ce_guard_request_done(&c, &p[0]);
  CHECK_STR(ce_guard_circuit_state(), "open");
  CHECK(ce_guard_admit(&c, 1, 4, 5000, &later, &T, err, 200) ==
        CE_ADMIT_CIRCUIT);
  CHECK(strstr(err, "again in 2000 ms") != NULL);
  /* the other probes' late failures change nothing */
  ce_guard_result(&c, &p[1], CE_GUARD_FAIL, 0);
  ce_guard_result(&c, &p[2], CE_GUARD_NOT_SENT, 0);
  fake_now += 2000;
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  /* 4 s would be next: capped at circuit_cooldown_ms */
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  CHECK(strstr(err, "again in 3000 ms") != NULL);
  fake_now += 3000;
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* opening again soon after (flapping): the period goes on doubling */
  trip(&c);
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  CHECK(strstr(err, "again in 3000 ms") != NULL);
  fake_now += 3000;
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  /* closed for a whole window: back to 1 s */
  fake_now += c.circuit_window_ms;
  trip(&c);
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  CHECK(strstr(err, "again in 1000 ms") != NULL);
  fake_now += 1000;
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  /* a probe's 400: the provider is up */
  ce_guard_result(&c, &T, CE_GUARD_NEUTRAL, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
}

/* ---- half-open: rows wait for the verdict ---- */

static ce_config waiter_cfg;
static volatile int waiter_rc = 99, waiter_done;
static void *waiter(void *arg) {
  char err[200];
  ce_guard_ticket t;
  long wait_ms = (long)(intptr_t)arg;
  ce_guard_ticket_init(&t);
  waiter_rc = ce_guard_admit(&waiter_cfg, 1, 4, wait_ms, NULL, &t, err, 200);
  if (waiter_rc == CE_ADMIT_GO)
    ce_guard_result(&waiter_cfg, &t, CE_GUARD_OK, 0);
  __atomic_store_n(&waiter_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void half_open_with_all_probes_out(ce_guard_ticket *p) {
  char err[200];
  ce_guard_reset();
  fake_now += 100000;
  trip(&waiter_cfg);
  fake_now += 1000;
  for (int i = 0; i < CE_GUARD_PROBES; i++) {
    ce_guard_ticket_init(&p[i]);
    CHECK(ce_guard_admit(&waiter_cfg, 1, 4, 5000, NULL, &p[i], err, 200) ==
          CE_ADMIT_GO);
  }
  waiter_rc = 99;
  waiter_done = 0;
}

static void test_half_open_waiters(void) {
  ce_guard_ticket p[CE_GUARD_PROBES];
  pthread_t t;
  waiter_cfg = base();

  /* a probe succeeds: the waiting row goes ahead */
  half_open_with_all_probes_out(p);
  pthread_create(&t, NULL, waiter, (void *)(intptr_t)5000);
  real_sleep_ms(200);
  CHECK(!__atomic_load_n(&waiter_done, __ATOMIC_SEQ_CST)); /* it waits */
  ce_guard_result(&waiter_cfg, &p[0], CE_GUARD_OK, 0);
  pthread_join(t, NULL);
  CHECK(waiter_rc == CE_ADMIT_GO);
  CHECK_STR(ce_guard_circuit_state(), "closed");

  /* a probe fails: the waiting row is refused */
  half_open_with_all_probes_out(p);
  pthread_create(&t, NULL, waiter, (void *)(intptr_t)5000);
  real_sleep_ms(200);
  CHECK(!__atomic_load_n(&waiter_done, __ATOMIC_SEQ_CST));
  ce_guard_result(&waiter_cfg, &p[0], CE_GUARD_FAIL, 0);
  pthread_join(t, NULL);
  CHECK(waiter_rc == CE_ADMIT_CIRCUIT);

  /* a probe not sent gives its slot to a waiting row */
  half_open_with_all_probes_out(p);
  pthread_create(&t, NULL, waiter, (void *)(intptr_t)5000);
  real_sleep_ms(200);
  ce_guard_result(&waiter_cfg, &p[0], CE_GUARD_NOT_SENT, 0);
  pthread_join(t, NULL);
  CHECK(waiter_rc == CE_ADMIT_GO);

  /* no verdict in its time: refused */
  half_open_with_all_probes_out(p);
  pthread_create(&t, NULL, waiter, (void *)(intptr_t)100);
  pthread_join(t, NULL);
  CHECK(waiter_rc == CE_ADMIT_CIRCUIT);

  /* lost probes give way after timeout_ms + 1 s */
  fake_now += waiter_cfg.timeout_ms + 1000;
  pthread_create(&t, NULL, waiter, (void *)(intptr_t)100);
  pthread_join(t, NULL);
  CHECK(waiter_rc == CE_ADMIT_GO);
}

static void test_circuit_off_and_endpoint_change(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  c.circuit_failures = 0;
  for (int i = 0; i < 50; i++)
    fail_once(&c);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  c.circuit_failures = 1;
  fail_once(&c);
  CHECK(admit(&c, err) == CE_ADMIT_CIRCUIT);
  strcpy(c.endpoint, "http://127.0.0.1:1/other");
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  CHECK_STR(ce_guard_circuit_state(), "closed");
}

static void test_requests_per_minute(void) {
  ce_config c = base();
  char err[200];
  long later;
  ce_guard_reset();
  c.max_requests_per_minute = 100;
  for (int i = 0; i < 100; i++)
    CHECK(ok_once(&c) == CE_ADMIT_GO);
  CHECK(admit(&c, err) == CE_ADMIT_BUDGET);
  CHECK_STR(err, "cost guard: max_requests_per_minute 100 reached");
  /* requests not sent are given back */
  fake_now += 60000;
  CHECK(admit(&c, err) == CE_ADMIT_GO);
  ce_guard_result(&c, &T, CE_GUARD_NOT_SENT, 0);
  for (int i = 0; i < 100; i++)
    CHECK(admit(&c, err) == CE_ADMIT_GO);
  CHECK(admit(&c, err) == CE_ADMIT_BUDGET);
  /* wait mode: sleeps until the window turns over, within wait_ms */
  c.cost_guard_mode = CE_COST_GUARD_WAIT;
  slept_total = 0;
  long long t0 = fake_now;
  CHECK(ce_guard_admit(&c, 1, 40, 120000, NULL, &T, err, 200) == CE_ADMIT_GO);
  CHECK(slept_total > 0 && fake_now - t0 <= 60000);
  for (int i = 0; i < 99; i++)
    CHECK(admit(&c, err) == CE_ADMIT_GO);
  /* ... a caller that must not block is told when instead */
  fake_now += 20000;
  slept_total = 0;
  CHECK(ce_guard_admit(&c, 1, 40, 50000, &later, &T, err, 200) ==
        CE_ADMIT_LATER);
  CHECK(later == 40000 && slept_total == 0);
  /* ... but never past the time it may wait */
  CHECK(ce_guard_admit(&c, 1, 40, 1000, NULL, &T, err, 200) == CE_ADMIT_BUDGET);
  CHECK_STR(err, "cost guard: max_requests_per_minute 100 reached; the "
                 "budget returns in 40000 ms, after the 1000 ms this request "
                 "may wait");
  CHECK(ce_guard_admit(&c, 1, 40, 1000, &later, &T, err, 200) ==
        CE_ADMIT_BUDGET);
}

static void test_tokens_per_minute(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  fake_now += 120000;
  c.max_tokens_per_minute = 1000;
  /* 400 bytes -> estimated 100 tokens */
  for (int i = 0; i < 10; i++) {
    CHECK(ce_guard_admit(&c, 1, 400, 5000, NULL, &T, err, sizeof err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  }
  CHECK(ce_guard_admit(&c, 1, 400, 5000, NULL, &T, err, sizeof err) ==
        CE_ADMIT_BUDGET);
  CHECK_STR(err, "cost guard: max_tokens_per_minute 1000 reached");
  /* the reported usage replaces the estimate */
  fake_now += 60000;
  for (int i = 0; i < 10; i++) {
    CHECK(ce_guard_admit(&c, 1, 400, 5000, NULL, &T, err, sizeof err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_OK, 10); /* it was only 10 */
  }
  CHECK(ce_guard_admit(&c, 1, 400, 5000, NULL, &T, err, sizeof err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 10);
  /* one request bigger than the whole budget goes when the window is new */
  fake_now += 60000;
  CHECK(ce_guard_admit(&c, 1, 40000, 5000, NULL, &T, err, sizeof err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  CHECK(ce_guard_admit(&c, 1, 4, 5000, NULL, &T, err, sizeof err) ==
        CE_ADMIT_BUDGET);
}

/* Many threads at once: the budget holds exactly. */
static ce_config shared_cfg;
static int admitted_count;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static void *hammer(void *arg) {
  char err[200];
  (void)arg;
  for (int i = 0; i < 200; i++) {
    ce_guard_ticket_init(&T);
    if (ce_guard_admit(&shared_cfg, 1, 8, 5000, NULL, &T, err, sizeof err) ==
        0) {
      pthread_mutex_lock(&count_mu);
      admitted_count++;
      pthread_mutex_unlock(&count_mu);
      ce_guard_result(&shared_cfg, &T, CE_GUARD_OK, 0);
    }
    ce_guard_request_done(&shared_cfg, &T);
  }
  return NULL;
}

static void test_threads(void) {
  pthread_t t[8];
  ce_guard_set_clock(NULL, NULL); /* the real clock: one window */
  ce_guard_reset();
  shared_cfg = base();
  shared_cfg.max_requests_per_minute = 777;
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, hammer, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  CHECK(admitted_count == 777);
  ce_guard_set_clock(fake_clock, fake_sleep);
}

/* The warm-up has several requests in flight on one thread: each carries
 * its own ticket, so a probe's result is recognised as the probe's. */
static void test_tickets_in_one_thread(void) {
  ce_config c = base();
  ce_guard_ticket a[CE_GUARD_PROBES], b;
  char err[200];
  long later;
  ce_guard_reset();
  fake_now += 100000;
  trip(&c);
  CHECK_STR(ce_guard_circuit_state(), "open");
  fake_now += 1000;
  for (int i = 0; i < CE_GUARD_PROBES; i++) {
    ce_guard_ticket_init(&a[i]);
    CHECK(ce_guard_admit(&c, 1, 40, 5000, &later, &a[i], err, sizeof err) ==
          CE_ADMIT_GO);
  }
  ce_guard_ticket_init(&b);
  CHECK(ce_guard_admit(&c, 1, 40, 5000, &later, &b, err, sizeof err) ==
        CE_ADMIT_LATER);
  ce_guard_result(&c, &a[1], CE_GUARD_OK, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  CHECK(ce_guard_admit(&c, 1, 40, 5000, &later, &b, err, sizeof err) ==
        CE_ADMIT_GO);
  ce_guard_result(&c, &b, CE_GUARD_OK, 0);
}

int main(void) {
  ce_guard_set_clock(fake_clock, fake_sleep);
  CHECK(ce_guard_outcome_for_status(200) == CE_GUARD_OK);
  CHECK(ce_guard_outcome_for_status(401) == CE_GUARD_FAIL);
  CHECK(ce_guard_outcome_for_status(429) == CE_GUARD_FAIL);
  CHECK(ce_guard_outcome_for_status(503) == CE_GUARD_FAIL);
  CHECK(ce_guard_outcome_for_status(400) == CE_GUARD_NEUTRAL);
  CHECK(ce_guard_outcome_for_status(422) == CE_GUARD_NEUTRAL);
  test_retried_requests_count_once();
  test_consecutive_rule();
  test_rate_rule();
  test_open_period_doubles_and_is_capped();
  test_half_open_waiters();
  test_circuit_off_and_endpoint_change();
  test_requests_per_minute();
  test_tokens_per_minute();
  test_threads();
  test_tickets_in_one_thread();
  return CHECK_DONE();
}
