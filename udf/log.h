/* One-line messages to the server's error log (mariadbd sends stderr there). */
#ifndef CE_LOG_H
#define CE_LOG_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define CE_RATELIMIT_SLOTS 16

/* A rate limit per kind of message: each class gets at most `burst` lines
 * per `window_s` seconds; the rest are counted and reported with the next
 * line of that class that passes. */
typedef struct ce_ratelimit {
  pthread_mutex_t mu;
  unsigned burst;
  unsigned window_s;
  struct {
    uint64_t cls;
    time_t start;
    unsigned lines;
    unsigned long suppressed;
  } slot[CE_RATELIMIT_SLOTS];
} ce_ratelimit;

#define CE_RATELIMIT_INIT(burst, window)                                       \
  {                                                                            \
    PTHREAD_MUTEX_INITIALIZER, (burst), (window), {                            \
      { 0, 0, 0, 0 }                                                           \
    }                                                                          \
  }

/* Writes "<timestamp> cached_embed: <message>\n" in one write(2). */
void ce_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like ce_log, subject to `rl` for the class `cls`: a short constant name
 * of the kind of message ("circuit open", "provider answered an error"), or
 * NULL for the format string. Never formatted text: a message that carries
 * changing numbers would make every line a class of its own, never limited.
 * Returns 1 when the line was written. */
int ce_log_limited(ce_ratelimit *rl, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
