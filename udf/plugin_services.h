/* What the server offers the functions while the cached_embed plugin is
 * loaded (INSTALL SONAME; udf/plugin.c attaches it): failing the current
 * statement with an error, the KILL flag of the current statement, progress
 * reports. Without the plugin (plain CREATE FUNCTION, MySQL, the unit tests)
 * every call is a no-op: never killed, no progress, no statement error.
 *
 * "Current" means the statement of the calling thread: the functions run in
 * the thread of the statement that calls them. */
#ifndef CE_PLUGIN_SERVICES_H
#define CE_PLUGIN_SERVICES_H

#include "config.h"

#include <stddef.h>

/* The plugin's implementation; every member is required. */
typedef struct ce_server_ops {
  int (*killed)(void); /* 1 when KILL QUERY / KILL hit the statement */
  void (*progress_start)(void);
  void (*progress_report)(unsigned long long done, unsigned long long total);
  void (*progress_end)(void);
  void (*fail_statement)(const char *msg); /* the statement ends in `msg` */
  void (*fail_killed)(void); /* ... in the server's KILL error (1317) */
} ce_server_ops;

/* Plugin init (ops) and deinit (NULL). */
void ce_server_attach(const ce_server_ops *ops);

/* 1 while the plugin is loaded. */
int ce_server_attached(void);

/* 1 when the current statement was killed. */
int ce_server_killed(void);

/* The current statement, killed, ends in the server's own error, "Query
 * execution was interrupted" (ER_QUERY_INTERRUPTED, 1317), even when the
 * KILL landed after the server's last look at it (after the scan, in a
 * warm-up's last flush): the statement fails, and a procedure running it
 * stops. 1 if the statement was killed (the error is set), else 0; always
 * 0 without the plugin. */
int ce_server_fail_if_killed(void);

/* Progress of the current statement, in rows: `done` rows more are
 * finished, `total` rows more are known. Shown as the Progress column of
 * SHOW PROCESSLIST. */
void ce_server_progress_add(unsigned long long done, unsigned long long total);

/* Everything known so far is finished. */
void ce_server_progress_settle(void);

/* The statement ends: the progress report is removed. */
void ce_server_progress_end(void);

/* on_error = error without the plugin: -1 with why in msg[cap] (for the
 * function's init), else 0. */
int ce_on_error_check(const ce_config *cfg, char *msg, size_t cap);

/* A row could not get its vector: with on_error = error and the plugin
 * loaded, the statement fails with "<fn>: row key '<key>': <why>" and 1 is
 * returned; otherwise 0 (the row is NULL). */
int ce_on_error_fail(const ce_config *cfg, const char *fn, const char *key,
                     const char *why);

#endif
