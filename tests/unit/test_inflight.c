/* The single-flight table (inflight.h): one leader per identity at a time,
 * waiters get the leader's bytes or its error, deadlines free the waiters
 * of a stuck leader, and a hammer from many threads. Built under ASan here
 * and under TSan by tests/sanitize/sanitize.cmake (sanitize.tsan_inflight). */
#include "check.h"
#include "clock.h"
#include "inflight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void id_of(unsigned n, uint8_t id[CE_SHA256_LEN]) {
  memset(id, 0, CE_SHA256_LEN);
  memcpy(id, &n, sizeof n);
  id[31] = 0x5a;
}

/* The vector a leader of identity n publishes: 4 floats' worth of bytes. */
static void vec_of(unsigned n, uint8_t out[16]) {
  for (int i = 0; i < 16; i++)
    out[i] = (uint8_t)(n * 7 + (unsigned)i);
}

typedef struct {
  uint8_t vec[16];
  uint32_t dims;
  char key[32];
} got_t;

static int take(void *ctx, const ce_flight_result *r) {
  got_t *g = ctx;
  if (r->dims != 4)
    return 1;
  memcpy(g->vec, r->vec, 16);
  g->dims = r->dims;
  snprintf(g->key, sizeof g->key, "%.*s", (int)r->key_len, r->key);
  return 0;
}

/* A waiter in its own thread. */
typedef struct {
  ce_flight *f;
  long long until;
  int rc;
  got_t got;
  char err[200];
  const char *cls;
} waiter;

static void *wait_thread(void *arg) {
  waiter *w = arg;
  w->cls = NULL;
  w->rc = ce_flight_wait(w->f, w->until, take, &w->got, w->err, sizeof w->err,
                         &w->cls);
  return NULL;
}

static void test_publish(void) {
  uint8_t id[CE_SHA256_LEN], v[16];
  ce_flight *lead, *f1, *f2;
  id_of(1, id);
  vec_of(1, v);
  long long far = ce_mono_ms() + 60000;
  CHECK(ce_flight_claim(id, far, &lead) == CE_FLIGHT_LEAD);
  CHECK(ce_flight_claim(id, far, &f1) == CE_FLIGHT_WAIT);
  CHECK(ce_flight_claim(id, far, &f2) == CE_FLIGHT_WAIT);
  CHECK(f1 == lead && f2 == lead);
  CHECK(ce_flight_pending() == 1);
  waiter w1 = {f1, far, -1, {{0}, 0, ""}, "", NULL};
  waiter w2 = {f2, far, -1, {{0}, 0, ""}, "", NULL};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, wait_thread, &w1);
  pthread_create(&t2, NULL, wait_thread, &w2);
  ce_sleep_ms(20);
  ce_flight_publish(lead, v, 4, 7, "k:1", 3);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CHECK(w1.rc == 0 && w2.rc == 0);
  CHECK(!memcmp(w1.got.vec, v, 16) && !memcmp(w2.got.vec, v, 16));
  CHECK_STR(w1.got.key, "k:1");
  /* ended: out of the table, the next claim leads */
  CHECK(ce_flight_pending() == 0);
  CHECK(ce_flight_claim(id, far, &lead) == CE_FLIGHT_LEAD);
  ce_flight_publish(lead, v, 4, 0, NULL, 0);
}

static void test_fail_fast(void) {
  uint8_t id[CE_SHA256_LEN];
  ce_flight *lead, *f;
  id_of(2, id);
  long long far = ce_mono_ms() + 60000;
  CHECK(ce_flight_claim(id, far, &lead) == CE_FLIGHT_LEAD);
  CHECK(ce_flight_claim(id, far, &f) == CE_FLIGHT_WAIT);
  waiter w = {f, far, -1, {{0}, 0, ""}, "", NULL};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  ce_flight_fail(lead, "provider answered 5xx", "provider answered 503: busy");
  pthread_join(t, NULL);
  CHECK(w.rc == 1);
  CHECK_STR(w.err, "provider answered 503: busy");
  CHECK_STR(w.cls, "provider answered 5xx");
  CHECK(ce_flight_pending() == 0);
}

static void test_stuck_leader(void) {
  uint8_t id[CE_SHA256_LEN], v[16];
  ce_flight *stuck, *f, *next;
  id_of(3, id);
  vec_of(3, v);
  CHECK(ce_flight_claim(id, ce_mono_ms() + 150, &stuck) == CE_FLIGHT_LEAD);
  CHECK(ce_flight_claim(id, ce_mono_ms() + 60000, &f) == CE_FLIGHT_WAIT);
  /* the waiter's own bound is far: the entry's deadline frees it */
  waiter w = {f, ce_mono_ms() + 60000, -1, {{0}, 0, ""}, "", NULL};
  wait_thread(&w);
  CHECK(w.rc == 2);
  CHECK(strstr(w.err, "did not finish") != NULL);
  /* a stuck entry is out of the table: the next claim leads */
  CHECK(ce_flight_claim(id, ce_mono_ms() + 60000, &next) == CE_FLIGHT_LEAD);
  CHECK(next != stuck);
  ce_flight_publish(next, v, 4, 0, NULL, 0);
  ce_flight_publish(stuck, v, 4, 0, NULL, 0); /* late: harmless, freed */
  CHECK(ce_flight_pending() == 0);
  /* and a claim that finds an entry already past its deadline replaces it */
  CHECK(ce_flight_claim(id, ce_mono_ms() - 1, &stuck) == CE_FLIGHT_LEAD);
  CHECK(ce_flight_claim(id, ce_mono_ms() + 60000, &next) == CE_FLIGHT_LEAD);
  ce_flight_fail(stuck, "x", "late");
  ce_flight_publish(next, v, 4, 0, NULL, 0);
  CHECK(ce_flight_pending() == 0);
}

static void test_extend_and_own_bound(void) {
  uint8_t id[CE_SHA256_LEN], v[16];
  ce_flight *lead, *f, *g;
  id_of(4, id);
  vec_of(4, v);
  CHECK(ce_flight_claim(id, ce_mono_ms() + 50, &lead) == CE_FLIGHT_LEAD);
  ce_flight_extend(lead, ce_mono_ms() + 60000);
  ce_flight_extend(lead, ce_mono_ms() + 10); /* never earlier */
  CHECK(ce_flight_claim(id, ce_mono_ms() + 60000, &f) == CE_FLIGHT_WAIT);
  CHECK(ce_flight_claim(id, ce_mono_ms() + 60000, &g) == CE_FLIGHT_WAIT);
  waiter w = {f, ce_mono_ms() + 60000, -1, {{0}, 0, ""}, "", NULL};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  /* a waiter whose own bound comes first leaves; the entry stays */
  waiter short_w = {g, ce_mono_ms() + 30, -1, {{0}, 0, ""}, "", NULL};
  wait_thread(&short_w);
  CHECK(short_w.rc == 2);
  CHECK(ce_flight_pending() == 1);
  ce_sleep_ms(200); /* past the first deadline */
  ce_flight_publish(lead, v, 4, 0, "k:4", 3);
  pthread_join(t, NULL);
  CHECK(w.rc == 0);
  CHECK(!memcmp(w.got.vec, v, 16));
  CHECK(ce_flight_pending() == 0);
}

/* ---- the hammer ---- */

#define H_THREADS 16
#define H_OPS 3000
#define H_IDS 48

static int active[H_IDS]; /* leaders of each identity right now */
static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static long h_leads, h_waits, h_ok, h_failed, h_bad, h_double;

static void *hammer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
  long leads = 0, waits = 0, ok = 0, failed = 0, bad = 0, dbl = 0;
  for (int k = 0; k < H_OPS; k++) {
    seed = seed * 1103515245u + 12345u;
    unsigned n = (seed >> 8) % H_IDS;
    uint8_t id[CE_SHA256_LEN], v[16];
    ce_flight *f;
    id_of(n, id);
    vec_of(n, v);
    int role = ce_flight_claim(id, ce_mono_ms() + 60000, &f);
    if (role == CE_FLIGHT_LEAD) {
      leads++;
      if (__atomic_add_fetch(&active[n], 1, __ATOMIC_SEQ_CST) != 1)
        dbl++;
      if ((seed >> 20) % 3 == 0)
        ce_sleep_ms(1);
      __atomic_sub_fetch(&active[n], 1, __ATOMIC_SEQ_CST);
      if ((seed >> 16) % 10 == 0)
        ce_flight_fail(f, "test", "leader failed");
      else
        ce_flight_publish(f, v, 4, n, "k", 1);
    } else if (role == CE_FLIGHT_WAIT) {
      got_t g;
      char err[200];
      const char *cls = NULL;
      waits++;
      int rc = ce_flight_wait(f, ce_mono_ms() + 60000, take, &g, err,
                              sizeof err, &cls);
      if (rc == 0 && !memcmp(g.vec, v, 16))
        ok++;
      else if (rc == 1 && !strcmp(err, "leader failed") && cls &&
               !strcmp(cls, "test"))
        failed++;
      else
        bad++;
    } else {
      bad++;
    }
  }
  pthread_mutex_lock(&hmu);
  h_leads += leads;
  h_waits += waits;
  h_ok += ok;
  h_failed += failed;
  h_bad += bad;
  h_double += dbl;
  pthread_mutex_unlock(&hmu);
  return NULL;
}

static void test_hammer(void) {
  pthread_t t[H_THREADS];
  for (long i = 0; i < H_THREADS; i++)
    pthread_create(&t[i], NULL, hammer, (void *)i);
  for (int i = 0; i < H_THREADS; i++)
    pthread_join(t[i], NULL);
  printf("hammer: %ld leads, %ld waits (%ld vectors, %ld leader errors)\n",
         h_leads, h_waits, h_ok, h_failed);
  CHECK(h_leads + h_waits == (long)H_THREADS * H_OPS);
  CHECK(h_bad == 0);
  CHECK(h_double == 0); /* never two leaders of one identity at once */
  CHECK(h_waits > 0);
  CHECK(ce_flight_pending() == 0);
}

int main(void) {
  test_publish();
  test_fail_fast();
  test_stuck_leader();
  test_extend_and_own_bound();
  test_hammer();
  return CHECK_DONE();
}
