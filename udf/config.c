#include "config.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef enum { T_STR, T_LONG, T_DIALECT, T_BOOL } setting_type;

typedef struct {
  const char *key;
  const char *env;
  setting_type type;
  size_t offset;
  size_t size;
  long min, max;
} setting;

#define STR(k, E) {#k, E, T_STR, offsetof(ce_config, k), sizeof(((ce_config *)0)->k), 0, 0}
#define NUM(k, E, lo, hi) {#k, E, T_LONG, offsetof(ce_config, k), 0, lo, hi}

static const setting SETTINGS[] = {
    STR(endpoint, "CACHED_EMBED_ENDPOINT"),
    STR(model, "CACHED_EMBED_MODEL"),
    STR(api_key, "CACHED_EMBED_API_KEY"),
    STR(redis, "CACHED_EMBED_REDIS"),
    STR(key_prefix, "CACHED_EMBED_KEY_PREFIX"),
    STR(task, "CACHED_EMBED_TASK"),
    STR(ca_file, "CACHED_EMBED_CA_FILE"),
    {"redis_tls", "CACHED_EMBED_REDIS_TLS", T_BOOL, offsetof(ce_config, redis_tls), 0, 0, 1},
    STR(redis_tls_ca_file, "CACHED_EMBED_REDIS_TLS_CA_FILE"),
    STR(redis_tls_cert_file, "CACHED_EMBED_REDIS_TLS_CERT_FILE"),
    STR(redis_tls_key_file, "CACHED_EMBED_REDIS_TLS_KEY_FILE"),
    STR(redis_tls_server_name, "CACHED_EMBED_REDIS_TLS_SERVER_NAME"),
    STR(redis_password_file, "CACHED_EMBED_REDIS_PASSWORD_FILE"),
    NUM(ttl, "CACHED_EMBED_TTL", 0, 315360000),
    NUM(timeout_ms, "CACHED_EMBED_TIMEOUT_MS", 100, 600000),
    NUM(redis_timeout_ms, "CACHED_EMBED_REDIS_TIMEOUT_MS", 10, 60000),
    NUM(retries, "CACHED_EMBED_RETRIES", 0, 10),
    NUM(batch, "CACHED_EMBED_BATCH", 1, 2048),
    NUM(parallel, "CACHED_EMBED_PARALLEL", 1, 64),
    NUM(dimensions, "CACHED_EMBED_DIMENSIONS", 0, CE_MAX_DIMS),
    NUM(local_cache_mb, "CACHED_EMBED_LOCAL_CACHE_MB", 0, 65536),
    NUM(max_text_bytes, "CACHED_EMBED_MAX_TEXT_BYTES", 64, 16777216),
    {"truncate", "CACHED_EMBED_TRUNCATE", T_BOOL, offsetof(ce_config, truncate), 0, 0, 1},
    {"provider", "CACHED_EMBED_PROVIDER", T_DIALECT, offsetof(ce_config, provider), 0, 0, 1},
    NUM(circuit_failures, "CACHED_EMBED_CIRCUIT_FAILURES", 0, 1000000),
    NUM(circuit_cooldown_ms, "CACHED_EMBED_CIRCUIT_COOLDOWN_MS", 100, 3600000),
    NUM(max_requests_per_minute, "CACHED_EMBED_MAX_REQUESTS_PER_MINUTE", 0, 1000000000),
    NUM(max_tokens_per_minute, "CACHED_EMBED_MAX_TOKENS_PER_MINUTE", 0, 1000000000000L),
    STR(cost_guard_mode, "CACHED_EMBED_COST_GUARD_MODE"),
};
#define N_SETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

void ce_config_defaults(ce_config *c) {
  memset(c, 0, sizeof *c);
  strcpy(c->endpoint, "https://api.jina.ai/v1/embeddings");
  strcpy(c->model, "jina-embeddings-v2-base-en");
  strcpy(c->redis, "redis://127.0.0.1:6379/0");
  strcpy(c->key_prefix, "cached_embed:");
  c->ttl = 1200;
  c->timeout_ms = 10000;
  c->redis_timeout_ms = 500;
  c->retries = 3;
  c->batch = 256;
  c->parallel = 4;
  c->local_cache_mb = 32;
  c->max_text_bytes = 65536;
  c->truncate = 1;
  c->provider = CE_DIALECT_JINA;
  c->circuit_failures = 5;
  c->circuit_cooldown_ms = 30000;
  strcpy(c->cost_guard_mode, "null");
}

static int same_key(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
    if (x != y)
      return 0;
  }
  return *a == *b;
}

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
  return 0;
}

/* Extra checks beyond type and range; 0 when the value is acceptable. */
static int check_string(const char *key, const char *v, char *err,
                        size_t errlen) {
  if (has_ctl(v)) {
    snprintf(err, errlen, "%s must not contain control characters", key);
    return -1;
  }
  if (!strcmp(key, "endpoint") && strncmp(v, "http://", 7) &&
      strncmp(v, "https://", 8)) {
    snprintf(err, errlen, "endpoint must start with http:// or https://");
    return -1;
  }
  if (!strcmp(key, "model") && !v[0]) {
    snprintf(err, errlen, "model must not be empty");
    return -1;
  }
  if (!strcmp(key, "cost_guard_mode") && strcmp(v, "null") &&
      strcmp(v, "wait")) {
    snprintf(err, errlen, "cost_guard_mode must be null or wait, got '%.40s'",
             v);
    return -1;
  }
  /* `redis` is checked where it is used: a bad value turns the cache off
   * (one log line) instead of falling back to another host. */
  return 0;
}

static int parse_long(const char *v, long *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end)
    return -1;
  *out = n;
  return 0;
}

int ce_config_set(ce_config *c, const char *key, const char *value, char *err,
                  size_t errlen) {
  const setting *s = NULL;
  for (size_t i = 0; i < N_SETTINGS; i++)
    if (same_key(key, SETTINGS[i].key))
      s = &SETTINGS[i];
  if (!s) {
    snprintf(err, errlen, "unknown setting '%.40s'", key);
    return -1;
  }
  char *field = (char *)c + s->offset;
  long n;

  switch (s->type) {
  case T_STR:
    if (strlen(value) >= s->size) {
      snprintf(err, errlen, "%s is longer than %zu bytes", s->key, s->size - 1);
      return -1;
    }
    if (check_string(s->key, value, err, errlen))
      return -1;
    strcpy(field, value);
    return 0;
  case T_DIALECT:
    if (!strcmp(value, "jina"))
      n = CE_DIALECT_JINA;
    else if (!strcmp(value, "openai"))
      n = CE_DIALECT_OPENAI;
    else {
      snprintf(err, errlen, "provider must be jina or openai, got '%.40s'",
               value);
      return -1;
    }
    break;
  case T_BOOL:
    if (!strcmp(value, "1") || !strcmp(value, "on") || !strcmp(value, "true"))
      n = 1;
    else if (!strcmp(value, "0") || !strcmp(value, "off") ||
             !strcmp(value, "false"))
      n = 0;
    else {
      snprintf(err, errlen, "%s must be on or off, got '%.40s'", s->key, value);
      return -1;
    }
    break;
  default:
    if (parse_long(value, &n) || n < s->min || n > s->max) {
      snprintf(err, errlen, "%s must be a whole number %ld..%ld, got '%.40s'",
               s->key, s->min, s->max, value);
      return -1;
    }
  }
  memcpy(field, &n, sizeof n);
  return 0;
}

static char *trim(char *s) {
  char *e;
  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = '\0';
  return s;
}

/* Strips one pair of matching quotes, as the server's option files allow. */
static char *unquote(char *v) {
  size_t n = strlen(v);
  if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
    v[n - 1] = '\0';
    return v + 1;
  }
  return v;
}

int ce_config_parse_ini(ce_config *c, const char *text, size_t len,
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx) {
  int bad = 0, lineno = 0, in_section = 0;
  size_t pos = 0;
  char line[2048], err[160];

  while (pos < len) {
    size_t end = pos;
    while (end < len && text[end] != '\n')
      end++;
    size_t n = end - pos;
    lineno++;
    if (n >= sizeof line) {
      if (in_section && report)
        report(ctx, lineno, "line too long");
      bad += in_section;
      pos = end + 1;
      continue;
    }
    memcpy(line, text + pos, n);
    line[n] = '\0';
    pos = end + 1;

    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      char *close = strchr(s, ']');
      if (close) {
        *close = '\0';
        in_section = !strcmp(trim(s + 1), "cached_embed");
      }
      continue;
    }
    if (!in_section)
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(err, sizeof err, "expected key = value");
      if (report)
        report(ctx, lineno, err);
      bad++;
      continue;
    }
    *eq = '\0';
    if (ce_config_set(c, trim(s), unquote(trim(eq + 1)), err, sizeof err)) {
      if (report)
        report(ctx, lineno, err);
      bad++;
    }
  }
  return bad;
}

int ce_config_apply_env(ce_config *c, const char *(*get)(const char *name),
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx) {
  int bad = 0;
  char err[160], msg[240];

  for (size_t i = 0; i < N_SETTINGS; i++) {
    const char *v = get(SETTINGS[i].env);
    if (!v && !strcmp(SETTINGS[i].key, "api_key"))
      v = get("JINA_API_KEY");
    if (!v)
      continue;
    if (ce_config_set(c, SETTINGS[i].key, v, err, sizeof err)) {
      snprintf(msg, sizeof msg, "%s: %s", SETTINGS[i].env, err);
      if (report)
        report(ctx, 0, msg);
      bad++;
    }
  }
  return bad;
}

/* ---- the process-wide copy ---- */

static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static ce_config cfg_current;
static int cfg_loaded;
static struct timespec cfg_checked;
static struct stat cfg_seen; /* st_ino == 0 && st_mtime == 0: no file */
static char cfg_path_seen[512];

static const char *env_get(const char *name) { return getenv(name); }

static void log_bad(void *ctx, int line, const char *msg) {
  const char *path = ctx;
  if (line)
    ce_log("config %s line %d: %s; line ignored, the default applies", path, line,
           msg);
  else
    ce_log("config: %s; ignored, the file or default value applies", msg);
}

static const char *config_path(void) {
  const char *p = getenv("CACHED_EMBED_CONFIG");
  return p && *p ? p : CE_CONFIG_DEFAULT_PATH;
}

/* Reads the whole file (at most 1 MiB); NULL when missing or unreadable. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  if (!f)
    return NULL;
  buf = malloc(1 << 20);
  if (buf)
    *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static void reload(const char *path, const struct stat *st, int exists) {
  ce_config c;
  ce_config_defaults(&c);
  if (exists) {
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text) {
      ce_config_parse_ini(&c, text, len, log_bad, (void *)path);
      free(text);
    } else {
      ce_log("config %s: cannot read it (%s); using defaults", path,
             strerror(errno));
    }
    if (st->st_mode & S_IROTH && c.api_key[0])
      ce_log("config %s holds an api_key and is world-readable; "
             "chmod 640 it",
             path);
  }
  ce_config_apply_env(&c, env_get, log_bad, (void *)path);
  if (cfg_loaded)
    ce_log("config %s%s: settings reloaded", path,
           exists ? "" : " (missing)");
  cfg_current = c;
  cfg_loaded = 1;
}

void ce_config_current(ce_config *out) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);

  pthread_mutex_lock(&cfg_mu);
  long since_ms = (now.tv_sec - cfg_checked.tv_sec) * 1000 +
                  (now.tv_nsec - cfg_checked.tv_nsec) / 1000000;
  if (!cfg_loaded || since_ms >= 1000) {
    const char *path = config_path();
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists)
      memset(&st, 0, sizeof st);
    int changed = !cfg_loaded || strcmp(path, cfg_path_seen) ||
                  st.st_ino != cfg_seen.st_ino ||
                  st.st_mtim.tv_sec != cfg_seen.st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != cfg_seen.st_mtim.tv_nsec ||
                  st.st_size != cfg_seen.st_size;
    if (changed) {
      snprintf(cfg_path_seen, sizeof cfg_path_seen, "%s", path);
      cfg_seen = st;
      reload(path, &st, exists);
    }
    cfg_checked = now;
  }
  *out = cfg_current;
  pthread_mutex_unlock(&cfg_mu);
}
