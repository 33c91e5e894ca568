/* Monotonic time and sleeping, for timeouts, back-off and expiry. */
#ifndef CE_CLOCK_H
#define CE_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC (never jumps with the wall clock). */
long long ce_mono_ms(void);

/* Sleeps `ms` milliseconds, resuming after signals. */
void ce_sleep_ms(long ms);

#endif
