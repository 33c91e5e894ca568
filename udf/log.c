#include "log.h"

#include "hash.h"

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

int ce_log_limited(ce_ratelimit *rl, const char *cls, const char *fmt, ...) {
  char suffix[64] = "";
  time_t now = time(NULL);
  uint64_t h = ce_fnv1a_str(cls ? cls : fmt);
  int pass, pick = 0;

  pthread_mutex_lock(&rl->mu);
  /* The slot of this class, or else the one idle longest. */
  for (int i = 0; i < CE_RATELIMIT_SLOTS; i++) {
    if (rl->slot[i].cls == h) {
      pick = i;
      break;
    }
    if (rl->slot[i].start < rl->slot[pick].start)
      pick = i;
  }
  if (rl->slot[pick].cls != h) {
    rl->slot[pick].cls = h;
    rl->slot[pick].start = now;
    rl->slot[pick].lines = 0;
    rl->slot[pick].suppressed = 0;
  }
  if (now - rl->slot[pick].start >= (time_t)rl->window_s) {
    rl->slot[pick].start = now;
    rl->slot[pick].lines = 0;
  }
  pass = rl->slot[pick].lines < rl->burst;
  if (pass) {
    rl->slot[pick].lines++;
    if (rl->slot[pick].suppressed)
      snprintf(suffix, sizeof suffix, " (%lu similar lines suppressed)",
               rl->slot[pick].suppressed);
    rl->slot[pick].suppressed = 0;
  } else {
    rl->slot[pick].suppressed++;
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
