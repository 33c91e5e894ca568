/* One-line messages to the server's error log (mariadbd sends stderr there). */
#ifndef CE_LOG_H
#define CE_LOG_H

#include <pthread.h>
#include <time.h>

/* A rate limit for one kind of message: at most `burst` lines per `window_s`
 * seconds; the rest are counted and reported with the next line that passes. */
typedef struct ce_ratelimit {
  pthread_mutex_t mu;
  time_t window_start;
  unsigned lines;
  unsigned long suppressed;
  unsigned burst;
  unsigned window_s;
} ce_ratelimit;

#define CE_RATELIMIT_INIT(burst, window)                                       \
  { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, (burst), (window) }

/* Writes "<timestamp> cached_embed: <message>\n" in one write(2). */
void ce_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like ce_log, subject to `rl`; returns 1 when the line was written. */
int ce_log_limited(ce_ratelimit *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
