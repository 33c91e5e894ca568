#include "clock.h"

#include <errno.h>
#include <time.h>

long long ce_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ce_sleep_ms(long ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void ce_cond_init_mono(pthread_cond_t *cv) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
}

int ce_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                       long long deadline_ms) {
  if (ce_mono_ms() >= deadline_ms)
    return 1;
  struct timespec ts = {(time_t)(deadline_ms / 1000),
                        (long)(deadline_ms % 1000) * 1000000L};
  int rc = pthread_cond_timedwait(cv, mu, &ts);
  return rc == ETIMEDOUT;
}
