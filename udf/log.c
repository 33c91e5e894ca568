#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


static void ce_vlog(const char *suffix, const char *fmt, va_list ap) {
  char line[1024];
  struct tm tm;
  time_t now = time(NULL);
  size_t n;

  localtime_r(&now, &tm);
  n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S cached_embed: ", &tm);
  int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
  if (w < 0)
    w = 0;
  n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
  if (suffix && n < sizeof line - 1) {
    w = snprintf(line + n, sizeof line - n, "%s", suffix);
    if (w > 0)
      n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
  }
  /* Control characters would break the one-line promise. */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)line[i] < 0x20)
      line[i] = ' ';
  if (n >= sizeof line - 1)
    n = sizeof line - 2;
  line[n++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, n);
  (void)ignored;
}

void ce_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ce_vlog(NULL, fmt, ap);
  va_end(ap);
}

int ce_log_limited(ce_ratelimit *rl, const char *fmt, ...) {
  char suffix[64] = "";
  time_t now = time(NULL);
  int pass;

  pthread_mutex_lock(&rl->mu);
  if (now - rl->window_start >= (time_t)rl->window_s) {
    rl->window_start = now;
    rl->lines = 0;
  }
  pass = rl->lines < rl->burst;
  if (pass) {
    rl->lines++;
    if (rl->suppressed)
      snprintf(suffix, sizeof suffix, " (%lu similar lines suppressed)",
               rl->suppressed);
    rl->suppressed = 0;
  } else {
    rl->suppressed++;
  }
  pthread_mutex_unlock(&rl->mu);

  if (pass) {
    va_list ap;
    va_start(ap, fmt);
    ce_vlog(suffix[0] ? suffix : NULL, fmt, ap);
    va_end(ap);
  }
  return pass;
}
