/* The circuit breaker and cost guard, on a fake clock. */
#include "check.h"
#include "guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One ticket per thread: each thread here has one request at a time. */
static __thread ce_guard_ticket T;
static long long fake_now = 1000;
static long slept_total;
static long long fake_clock(void) { return fake_now; }
static void fake_sleep(long ms) {
  slept_total += ms;
  fake_now += ms;
}

static ce_config base(void) {
  ce_config c;
  ce_config_defaults(&c);
  c.circuit_failures = 3;
  c.circuit_cooldown_ms = 10000;
  c.timeout_ms = 5000;
  return c;
}

static int admit(const ce_config *c, char *err) {
  return ce_guard_admit(c, 1, 40, &T, err, 200);
}

static void test_circuit(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* two failures, one success: the count starts again */
  for (int i = 0; i < 2; i++) {
    CHECK(admit(&c, err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  }
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 5);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  /* neutral answers (400) neither count nor reset */
  for (int i = 0; i < 2; i++) {
    CHECK(admit(&c, err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  }
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_NEUTRAL, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  CHECK_STR(ce_guard_circuit_state(), "open");
  /* open: fail fast with the numbers */
  err[0] = 0;
  CHECK(admit(&c, err) == -1);
  CHECK_STR(err, "circuit open after 3 consecutive provider failures; "
                 "retrying in 10 s");
  fake_now += 4000;
  CHECK(admit(&c, err) == -1);
  CHECK_STR(err, "circuit open after 3 consecutive provider failures; "
                 "retrying in 6 s");
  /* cool-down over: exactly one probe */
  fake_now += 6000;
  CHECK(admit(&c, err) == 0);
  CHECK_STR(ce_guard_circuit_state(), "half_open");
  /* the probe fails: open again for the cool-down */
  ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  CHECK_STR(ce_guard_circuit_state(), "open");
  CHECK(admit(&c, err) == -1);
  fake_now += 10000;
  CHECK(admit(&c, err) == 0);
  CHECK_STR(ce_guard_circuit_state(), "half_open");
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
}

static int other_rc;
static void *other_admit(void *arg) {
  char err[200];
  other_rc = ce_guard_admit(arg, 1, 4, &T, err, sizeof err);
  if (other_rc == 0)
    ce_guard_result(arg, &T, CE_GUARD_NOT_SENT, 0);
  return NULL;
}

static void test_single_probe(void) {
  ce_config c = base();
  char err[200];
  pthread_t t;
  ce_guard_reset();
  for (int i = 0; i < 3; i++) {
    CHECK(admit(&c, err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  }
  fake_now += 10000;
  CHECK(admit(&c, err) == 0); /* this thread holds the probe */
  pthread_create(&t, NULL, other_admit, &c);
  pthread_join(t, NULL);
  CHECK(other_rc == -1);
  /* a probe that was admitted but never sent gives its slot back */
  ce_guard_result(&c, &T, CE_GUARD_NOT_SENT, 0);
  CHECK_STR(ce_guard_circuit_state(), "half_open");
  pthread_create(&t, NULL, other_admit, &c);
  pthread_join(t, NULL);
  CHECK(other_rc == 0);
  /* a lost probe gives way after timeout_ms + 1 s */
  CHECK(admit(&c, err) == 0);
  CHECK(admit(&c, err) == -1);
  fake_now += c.timeout_ms + 1000;
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_NEUTRAL, 0); /* a probe's 400: provider is up */
  CHECK_STR(ce_guard_circuit_state(), "closed");
}

static void test_circuit_off_and_endpoint_change(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  c.circuit_failures = 0;
  for (int i = 0; i < 50; i++) {
    CHECK(admit(&c, err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  }
  CHECK_STR(ce_guard_circuit_state(), "closed");
  c.circuit_failures = 1;
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_FAIL, 0);
  CHECK(admit(&c, err) == -1);
  strcpy(c.endpoint, "http://127.0.0.1:1/other");
  CHECK(admit(&c, err) == 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
}

static void test_requests_per_minute(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  c.max_requests_per_minute = 100;
  for (int i = 0; i < 100; i++) {
    CHECK(admit(&c, err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  }
  CHECK(admit(&c, err) == -1);
  CHECK_STR(err, "cost guard: max_requests_per_minute 100 reached");
  /* requests not sent are given back */
  fake_now += 60000;
  CHECK(admit(&c, err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_NOT_SENT, 0);
  for (int i = 0; i < 100; i++)
    CHECK(admit(&c, err) == 0);
  CHECK(admit(&c, err) == -1);
  /* wait mode: sleeps until the window turns over, within timeout_ms */
  c.cost_guard_mode = CE_COST_GUARD_WAIT;
  c.timeout_ms = 120000;
  slept_total = 0;
  long long t0 = fake_now;
  CHECK(admit(&c, err) == 0);
  CHECK(slept_total > 0 && fake_now - t0 <= 60000);
  /* ... but not past timeout_ms */
  for (int i = 0; i < 99; i++)
    CHECK(admit(&c, err) == 0);
  c.timeout_ms = 1000;
  CHECK(admit(&c, err) == -1);
  CHECK(strstr(err, "max_requests_per_minute 100 reached") != NULL);
  CHECK(strstr(err, "after timeout_ms 1000") != NULL);
}

static void test_tokens_per_minute(void) {
  ce_config c = base();
  char err[200];
  ce_guard_reset();
  fake_now += 120000;
  c.max_tokens_per_minute = 1000;
  /* 400 bytes -> estimated 100 tokens */
  for (int i = 0; i < 10; i++) {
    CHECK(ce_guard_admit(&c, 1, 400, &T, err, sizeof err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  }
  CHECK(ce_guard_admit(&c, 1, 400, &T, err, sizeof err) == -1);
  CHECK_STR(err, "cost guard: max_tokens_per_minute 1000 reached");
  /* the reported usage replaces the estimate */
  fake_now += 60000;
  for (int i = 0; i < 10; i++) {
    CHECK(ce_guard_admit(&c, 1, 400, &T, err, sizeof err) == 0);
    ce_guard_result(&c, &T, CE_GUARD_OK, 10); /* it was only 10 */
  }
  CHECK(ce_guard_admit(&c, 1, 400, &T, err, sizeof err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 10);
  /* one request bigger than the whole budget goes when the window is new */
  fake_now += 60000;
  CHECK(ce_guard_admit(&c, 1, 40000, &T, err, sizeof err) == 0);
  ce_guard_result(&c, &T, CE_GUARD_OK, 0);
  CHECK(ce_guard_admit(&c, 1, 4, &T, err, sizeof err) == -1);
}

/* Many threads at once: the budget holds exactly. */
static ce_config shared_cfg;
static int admitted_count;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static void *hammer(void *arg) {
  char err[200];
  (void)arg;
  for (int i = 0; i < 200; i++) {
    if (ce_guard_admit(&shared_cfg, 1, 8, &T, err, sizeof err) == 0) {
      pthread_mutex_lock(&count_mu);
      admitted_count++;
      pthread_mutex_unlock(&count_mu);
      ce_guard_result(&shared_cfg, &T, CE_GUARD_OK, 0);
    }
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
 * its own ticket, so the probe's result is recognised as the probe's. */
static void test_tickets_in_one_thread(void) {
  ce_config c = base();
  ce_guard_ticket a, b;
  char err[200];
  ce_guard_reset();
  for (int i = 0; i < 3; i++) {
    CHECK(ce_guard_admit(&c, 1, 40, &a, err, sizeof err) == 0);
    ce_guard_result(&c, &a, CE_GUARD_FAIL, 0);
  }
  CHECK_STR(ce_guard_circuit_state(), "open");
  fake_now += 10001;
  CHECK(ce_guard_admit(&c, 1, 40, &a, err, sizeof err) == 0); /* the probe */
  CHECK(ce_guard_admit(&c, 1, 40, &b, err, sizeof err) == -1);
  CHECK(strstr(err, "a probe request is deciding") != NULL);
  ce_guard_result(&c, &a, CE_GUARD_OK, 0);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  CHECK(ce_guard_admit(&c, 1, 40, &b, err, sizeof err) == 0);
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
  test_circuit();
  test_single_probe();
  test_circuit_off_and_endpoint_change();
  test_requests_per_minute();
  test_tokens_per_minute();
  test_threads();
  test_tickets_in_one_thread();
  return CHECK_DONE();
}
