/* Monotonic time and sleeping, for timeouts, back-off and expiry: on the
 * clock alone, or on a condition variable until a monotonic deadline. */
#ifndef CE_CLOCK_H
#define CE_CLOCK_H

#include <pthread.h>

/* Milliseconds on CLOCK_MONOTONIC (never jumps with the wall clock). */
long long ce_mono_ms(void);

/* Sleeps `ms` milliseconds, resuming after signals. */
void ce_sleep_ms(long ms);

/* Initialises `cv` to time its waits on CLOCK_MONOTONIC. */
void ce_cond_init_mono(pthread_cond_t *cv);

/* pthread_cond_timedwait on `cv` (initialised by ce_cond_init_mono) with
 * `mu` held, until `deadline_ms` (ce_mono_ms time). 1 when the deadline has
 * passed, 0 when woken (perhaps spuriously: the caller checks its
 * condition again). */
int ce_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                       long long deadline_ms);

#endif
