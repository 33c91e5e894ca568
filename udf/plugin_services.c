#include "plugin_services.h"

#include <stdio.h>

static const ce_server_ops *server_ops;

/* The current statement's progress, per thread: the statement's functions
 * run in its thread. */
static __thread struct {
  const ce_server_ops *ops; /* that started it: ends it even if detached */
  unsigned long long done, total;
} progress;

static const ce_server_ops *ops(void) {
  return __atomic_load_n(&server_ops, __ATOMIC_ACQUIRE);
}

void ce_server_attach(const ce_server_ops *o) {
  __atomic_store_n(&server_ops, o, __ATOMIC_RELEASE);
}

int ce_server_attached(void) { return ops() != NULL; }

int ce_server_killed(void) {
  const ce_server_ops *o = ops();
  return o && o->killed();
}

int ce_server_fail_if_killed(void) {
  const ce_server_ops *o = ops();
  if (!o || !o->killed())
    return 0;
  o->fail_killed();
  return 1;
}

static void report(void) {
  const ce_server_ops *o = ops();
  if (!o)
    return;
  if (!progress.ops) {
    o->progress_start();
    progress.ops = o;
  }
  progress.ops->progress_report(progress.done, progress.total);
}

void ce_server_progress_add(unsigned long long done, unsigned long long total) {
  progress.done += done;
  progress.total += total;
  if (progress.done > progress.total)
    progress.done = progress.total;
  report();
}

void ce_server_progress_settle(void) {
  progress.done = progress.total;
  report();
}

void ce_server_progress_end(void) {
  if (progress.ops)
    progress.ops->progress_end();
  progress.ops = NULL;
  progress.done = progress.total = 0;
}

int ce_on_error_check(const ce_config *cfg, char *msg, size_t cap) {
  if (cfg->on_error != CE_ON_ERROR_ERROR || ce_server_attached())
    return 0;
  snprintf(msg, cap,
           "cached_embed: on_error = error needs the cached_embed plugin "
           "(INSTALL SONAME 'cached_embed'): without it a failed row can "
           "only be NULL");
  return -1;
}

int ce_on_error_fail(const ce_config *cfg, const char *fn, const char *key,
                     const char *why) {
  const ce_server_ops *o = ops();
  char msg[512];
  if (cfg->on_error != CE_ON_ERROR_ERROR || !o)
    return 0;
  snprintf(msg, sizeof msg, "%s: row key '%.80s': %s (on_error = error)", fn,
           key, why);
  o->fail_statement(msg);
  return 1;
}
