/* Settings: defaults, then the [cached_embed] section of the config file,
 * then CACHED_EMBED_* environment variables. Re-read when the file changes. */
#ifndef CE_CONFIG_H
#define CE_CONFIG_H

#include <stddef.h>

typedef enum { CE_DIALECT_JINA = 0, CE_DIALECT_OPENAI = 1 } ce_dialect;

typedef struct ce_config {
  char endpoint[1024];
  char model[128];
  char api_key[512]; /* never logged, never returned */
  char redis[512];
  char key_prefix[128];
  char task[64];
  char ca_file[512];
  long redis_tls; /* TLS for redis-sentinel:// and redis-cluster:// */
  char redis_tls_ca_file[512];
  char redis_tls_cert_file[512];
  char redis_tls_key_file[512];
  char redis_tls_server_name[256];
  char redis_password_file[512];
  long ttl;
  long timeout_ms;
  long redis_timeout_ms;
  long retries;
  long batch;
  long parallel;
  long dimensions; /* 0 = unset */
  long local_cache_mb;
  long max_text_bytes;
  long truncate;
  long provider; /* ce_dialect */
  long circuit_failures;        /* 0 = no circuit breaker */
  long circuit_cooldown_ms;
  long max_requests_per_minute; /* 0 = unlimited */
  long max_tokens_per_minute;   /* 0 = unlimited */
  char cost_guard_mode[8];      /* "null" or "wait" */
} ce_config;

#define CE_CONFIG_DEFAULT_PATH "/etc/mysql/cached_embed.cnf"
#define CE_MAX_DIMS 16384

void ce_config_defaults(ce_config *c);

/* Sets one setting from its text; `key` is the file key (dashes and
 * underscores alike). Returns 0, or -1 with a message in `err` (which never
 * contains the value of api_key). Unknown keys return -1 as well. */
int ce_config_set(ce_config *c, const char *key, const char *value, char *err,
                  size_t errlen);

/* Applies the [cached_embed] section of INI text. Each bad line is reported
 * through `report` (may be NULL) and skipped. Returns the number of bad
 * lines. */
int ce_config_parse_ini(ce_config *c, const char *text, size_t len,
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx);

/* Applies CACHED_EMBED_* variables read through `get` (getenv in the server).
 * Returns the number of bad values, each reported like parse_ini (line 0). */
int ce_config_apply_env(ce_config *c, const char *(*get)(const char *name),
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx);

/* The process-wide settings, reloaded when the file has changed (checked at
 * most once a second). Copies them into `out`; thread-safe. */
void ce_config_current(ce_config *out);

#endif
