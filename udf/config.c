#include "config.h"

#include "clock.h"
#include "log.h"
#include "redis_url.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- validators named in settings.def ---- */

static int ce_check_endpoint(const char *v, char *err, size_t errlen) {
  const char *host = !strncmp(v, "https://", 8)  ? v + 8
                     : !strncmp(v, "http://", 7) ? v + 7
                                                 : NULL;
  if (!host) {
    snprintf(err, errlen, "endpoint must start with http:// or https://");
    return -1;
  }
  if (!*host || *host == '/' || *host == ':') {
    snprintf(err, errlen, "endpoint has no host name");
    return -1;
  }
  return 0;
}

static int ce_check_model(const char *v, char *err, size_t errlen) {
  if (!v[0]) {
    snprintf(err, errlen, "model must not be empty");
    return -1;
  }
  return 0;
}

/* A bearer token goes into an HTTP header: printable ASCII only. */
static int ce_check_api_key(const char *v, char *err, size_t errlen) {
  for (const char *p = v; *p; p++)
    if (*p < 0x21 || *p > 0x7e) {
      snprintf(err, errlen,
               "api_key may hold only printable ASCII without spaces");
      return -1;
    }
  return 0;
}

static int ce_check_readable_file(const char *v, char *err, size_t errlen) {
  if (v[0] && access(v, R_OK)) {
    snprintf(err, errlen, "cannot read '%.200s' (%s)", v, strerror(errno));
    return -1;
  }
  return 0;
}

static int ce_check_redis(const char *v, char *err, size_t errlen) {
  ce_redis_url u;
  char why[128];
  if (ce_redis_url_parse(v, &u, why, sizeof why)) {
    snprintf(err, errlen, "bad redis url: %s", why);
    return -1;
  }
  return 0;
}

/* ---- the table ---- */

#define CE_STR(n, sz, def, fl, chk, hlp)                                       \
  {#n, CE_T_STR, fl, offsetof(ce_config, n), sz, def, 0, 0, 0, NULL, chk, hlp},
#define CE_NUM(n, def, lo, hi, fl, hlp)                                        \
  {#n, CE_T_NUM, fl, offsetof(ce_config, n), 0, NULL, def, lo, hi, NULL, NULL, hlp},
#define CE_BOOL(n, def, fl, hlp)                                               \
  {#n, CE_T_BOOL, fl, offsetof(ce_config, n), 0, NULL, def, 0, 1, NULL, NULL, hlp},
#define CE_ENUM(n, fl, hlp, ...)                                               \
  {#n, CE_T_ENUM, fl, offsetof(ce_config, n), 0, NULL, 0, 0, 0,                \
   (const char *const[]){__VA_ARGS__, NULL}, NULL, hlp},
const ce_setting ce_settings[] = {
#include "settings.def"
};
#undef CE_STR
#undef CE_NUM
#undef CE_BOOL
#undef CE_ENUM
const size_t ce_n_settings = sizeof ce_settings / sizeof ce_settings[0];

static int same_key(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
    if (x != y)
      return 0;
  }
  return *a == *b;
}

const ce_setting *ce_setting_find(const char *key) {
  for (size_t i = 0; i < ce_n_settings; i++)
    if (same_key(key, ce_settings[i].name))
      return &ce_settings[i];
  return NULL;
}

void ce_setting_env_name(const ce_setting *s, char *out, size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "CACHED_EMBED_");
  for (const char *p = s->name; *p && o + 1 < cap; p++)
    out[o++] = (char)toupper((unsigned char)*p);
  if (o < cap)
    out[o] = '\0';
}

void ce_setting_format(const ce_config *c, const ce_setting *s, char *out,
                       size_t cap) {
  const char *field = (const char *)c + s->offset;
  long n;
  memcpy(&n, field, sizeof n);
  if (s->flags & CE_SECRET)
    snprintf(out, cap, "%s", "");
  else if (s->type == CE_T_STR)
    snprintf(out, cap, "%s", field);
  else if (s->type == CE_T_BOOL)
    snprintf(out, cap, "%s", n ? "on" : "off");
  else if (s->type == CE_T_ENUM)
    snprintf(out, cap, "%s", s->choices[n]);
  else
    snprintf(out, cap, "%ld", n);
}

void ce_config_defaults(ce_config *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    char *field = (char *)c + s->offset;
    if (s->type == CE_T_STR)
      snprintf(field, s->size, "%s", s->def_str);
    else
      memcpy(field, &s->def_num, sizeof s->def_num);
  }
}

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
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

static int parse_bool(const char *v, long *out) {
  static const char *const on[] = {"1", "on", "true", "yes", NULL};
  static const char *const off[] = {"0", "off", "false", "no", NULL};
  for (int i = 0; on[i]; i++)
    if (!strcasecmp(v, on[i]))
      return *out = 1, 0;
  for (int i = 0; off[i]; i++)
    if (!strcasecmp(v, off[i]))
      return *out = 0, 0;
  return -1;
}

static void list_choices(const ce_setting *s, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (int i = 0; s->choices[i] && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? " or " : "",
                          s->choices[i]);
}

static int set_value(ce_config *c, const ce_setting *s, const char *value,
                     char *err, size_t errlen) {
  char *field = (char *)c + s->offset;
  long n = 0;
  switch (s->type) {
  case CE_T_STR:
    if (strlen(value) >= s->size) {
      snprintf(err, errlen, "%s is longer than %zu bytes", s->name,
               s->size - 1);
      return -1;
    }
    if (has_ctl(value)) {
      snprintf(err, errlen, "%s must not contain control characters", s->name);
      return -1;
    }
    if (s->check && s->check(value, err, errlen))
      return -1;
    strcpy(field, value);
    return 0;
  case CE_T_ENUM:
    for (n = 0; s->choices[n]; n++)
      if (!strcmp(value, s->choices[n]))
        break;
    if (!s->choices[n]) {
      char list[128];
      list_choices(s, list, sizeof list);
      snprintf(err, errlen, "%s must be %s, got '%.40s'", s->name, list,
               (s->flags & CE_SECRET) ? "..." : value);
      return -1;
    }
    break;
  case CE_T_BOOL:
    if (parse_bool(value, &n)) {
      snprintf(err, errlen, "%s must be on or off, got '%.40s'", s->name,
               value);
      return -1;
    }
    break;
  case CE_T_NUM:
    if (parse_long(value, &n) || n < s->min || n > s->max) {
      snprintf(err, errlen, "%s must be a whole number %ld..%ld, got '%.40s'",
               s->name, s->min, s->max, value);
      return -1;
    }
    break;
  }
  memcpy(field, &n, sizeof n);
  return 0;
}

int ce_config_set(ce_config *c, const char *key, const char *value, char *err,
                  size_t errlen) {
  const ce_setting *s = ce_setting_find(key);
  if (!s) {
    snprintf(err, errlen, "unknown setting '%.40s'", key);
    return -1;
  }
  return set_value(c, s, value, err, errlen);
}

/* A bad value of a routing setting disables its path (first reason kept). */
static void disable_path(ce_config *c, const ce_setting *s, const char *where,
                         const char *why) {
  char *off = (s->flags & CE_ROUTE_CACHE) ? c->cache_off : c->provider_off;
  if (!off[0])
    snprintf(off, CE_OFF_MSG, "%.40s: %.150s", where, why);
}

/* What a bad value leads to, disabling the path of a routing setting; the
 * consequence is appended to err. */
static void consequence(ce_config *c, const ce_setting *s, const char *where,
                        char *err, size_t errlen) {
  const char *what = "ignored, the default applies";
  if (s->flags & (CE_ROUTE_PROVIDER | CE_ROUTE_CACHE)) {
    disable_path(c, s, where, err);
    what = (s->flags & CE_ROUTE_CACHE) ? "the cache is off until it is fixed"
                                       : "the provider is off until it is fixed";
  }
  size_t l = strlen(err);
  snprintf(err + l, errlen - l, "; %s", what);
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

/* One `key = value` line of the section: 0, 1 = bad value, 2 = malformed. */
static int ini_line(ce_config *c, char *s, int lineno, char *err,
                    size_t errlen) {
  char *eq = strchr(s, '=');
  if (!eq) {
    snprintf(err, errlen, "expected key = value");
    return 2;
  }
  *eq = '\0';
  const ce_setting *set = ce_setting_find(trim(s));
  if (!set) {
    snprintf(err, errlen, "unknown setting '%.40s'", trim(s));
    return 2;
  }
  if (set_value(c, set, unquote(trim(eq + 1)), err, errlen) == 0)
    return 0;
  char where[48];
  snprintf(where, sizeof where, "config line %d", lineno);
  consequence(c, set, where, err, errlen);
  return 1;
}

int ce_config_parse_ini(ce_config *c, const char *text, size_t len,
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx, int *malformed) {
  int bad = 0, broken = 0, lineno = 0, in_section = 0;
  size_t pos = 0;
  char line[2048], err[200];

  while (pos < len) {
    size_t end = pos;
    while (end < len && text[end] != '\n')
      end++;
    size_t n = end - pos;
    lineno++;
    if (n >= sizeof line) {
      if (in_section && report)
        report(ctx, lineno, "line too long");
      broken += in_section;
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
      } else if (in_section) {
        if (report)
          report(ctx, lineno, "section header without ]");
        broken++;
      }
      continue;
    }
    if (!in_section)
      continue;
    int rc = ini_line(c, s, lineno, err, sizeof err);
    if (rc && report)
      report(ctx, lineno, err);
    bad += rc == 1;
    broken += rc == 2;
  }
  if (malformed)
    *malformed = broken;
  return bad;
}

int ce_endpoint_is_jina(const char *endpoint) {
  const char *h = !strncmp(endpoint, "https://", 8) ? endpoint + 8 : NULL;
  if (!h)
    return 0; /* the key travels only over TLS */
  size_t n = strcspn(h, ":/?#");
  static const char dom[] = ".jina.ai";
  if (n == sizeof dom - 2 && !strncasecmp(h, dom + 1, n))
    return 1;
  return n >= sizeof dom && !strncasecmp(h + n - (sizeof dom - 1), dom,
                                         sizeof dom - 1);
}

int ce_config_apply_env(ce_config *c, const char *(*get)(const char *name),
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx) {
  int bad = 0;
  char err[200], msg[300], env[80];

  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    ce_setting_env_name(s, env, sizeof env);
    const char *v = get(env);
    if (!v)
      continue;
    if (set_value(c, s, v, err, sizeof err)) {
      consequence(c, s, env, err, sizeof err);
      snprintf(msg, sizeof msg, "%s: %s", env, err);
      if (report)
        report(ctx, 0, msg);
      bad++;
    }
  }
  /* Jina's own variable is meant for Jina: never sent to another host. */
  const char *jina = get("JINA_API_KEY");
  if (!c->api_key[0] && jina && ce_endpoint_is_jina(c->endpoint)) {
    const ce_setting *s = ce_setting_find("api_key");
    if (set_value(c, s, jina, err, sizeof err)) {
      disable_path(c, s, "JINA_API_KEY", err);
      snprintf(msg, sizeof msg, "JINA_API_KEY: %s", err);
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
static long long cfg_checked_ms;
static struct stat cfg_seen; /* st_ino == 0 && st_mtime == 0: no file */
static char cfg_path_seen[512];

static const char *env_get(const char *name) { return getenv(name); }

static void log_bad(void *ctx, int line, const char *msg) {
  const char *path = ctx;
  if (line)
    ce_log("config %s line %d: %s", path, line, msg);
  else
    ce_log("config: %s", msg);
}

static const char *config_path(void) {
  const char *p = getenv("CACHED_EMBED_CONFIG");
  return p && *p ? p : CE_CONFIG_DEFAULT_PATH;
}

/* Reads the whole file (at most 1 MiB); NULL when unreadable, errno set. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  if (!f)
    return NULL;
  buf = malloc(1 << 20);
  if (buf) {
    *len = fread(buf, 1, 1 << 20, f);
    if (ferror(f)) {
      free(buf);
      buf = NULL;
      errno = EIO;
    }
  }
  fclose(f);
  return buf;
}

/* Why a file others can change must not be trusted; NULL when it is fine.
 * Writable by its owner and, when it is the server's group, by that group. */
static const char *unsafe_mode(const struct stat *st) {
  if (st->st_mode & S_IWOTH)
    return "it is writable by every user";
  if ((st->st_mode & S_IWGRP) && st->st_gid != getegid())
    return "it is writable by a group other than the server's";
  return NULL;
}

/* Reads and parses the file into c (defaults first). 0, or -1 with why the
 * file as a whole cannot be used (unreadable, unsafe, malformed). */
static int load_file(ce_config *c, const char *path, const struct stat *st,
                     char *why, size_t whylen) {
  const char *unsafe = unsafe_mode(st);
  if (unsafe) {
    snprintf(why, whylen, "refused: %s (chmod 640 it)", unsafe);
    return -1;
  }
  size_t len = 0;
  char *text = slurp(path, &len);
  if (!text) {
    snprintf(why, whylen, "cannot read it (%s)", strerror(errno));
    return -1;
  }
  int malformed = 0;
  ce_config_parse_ini(c, text, len, log_bad, (void *)path, &malformed);
  free(text);
  if (malformed) {
    snprintf(why, whylen, "%d malformed line%s or unknown key%s", malformed,
             malformed == 1 ? "" : "s", malformed == 1 ? "" : "s");
    return -1;
  }
  if ((st->st_mode & S_IROTH) && c->api_key[0])
    ce_log("config %s holds an api_key and is world-readable; chmod 640 it",
           path);
  return 0;
}

static void log_off(const ce_config *c) {
  if (c->provider_off[0])
    ce_log("provider disabled until the setting is fixed: %s",
           c->provider_off);
  if (c->cache_off[0])
    ce_log("cache disabled until the setting is fixed: %s", c->cache_off);
}

static void reload(const char *path, const struct stat *st, int exists) {
  ce_config c;
  char why[200];
  ce_config_defaults(&c);
  if (exists && load_file(&c, path, st, why, sizeof why)) {
    if (cfg_loaded) {
      ce_log("config %s: %s; keeping the last good settings", path, why);
      return;
    }
    ce_log("config %s: %s; provider and cache disabled until it is fixed",
           path, why);
    snprintf(c.provider_off, CE_OFF_MSG, "config file %.180s", why);
    snprintf(c.cache_off, CE_OFF_MSG, "config file %.180s", why);
  }
  ce_config_apply_env(&c, env_get, log_bad, (void *)path);
  if (cfg_loaded)
    ce_log("config %s%s: settings reloaded", path, exists ? "" : " (missing)");
  log_off(&c);
  cfg_current = c;
  cfg_loaded = 1;
}

void ce_config_current(ce_config *out) {
  long long now = ce_mono_ms();

  pthread_mutex_lock(&cfg_mu);
  if (!cfg_loaded || now - cfg_checked_ms >= 1000) {
    const char *path = config_path();
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists)
      memset(&st, 0, sizeof st);
    int changed = !cfg_loaded || strcmp(path, cfg_path_seen) ||
                  st.st_ino != cfg_seen.st_ino ||
                  st.st_mode != cfg_seen.st_mode ||
                  st.st_mtim.tv_sec != cfg_seen.st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != cfg_seen.st_mtim.tv_nsec ||
                  st.st_size != cfg_seen.st_size;
    if (changed) {
      snprintf(cfg_path_seen, sizeof cfg_path_seen, "%s", path);
      cfg_seen = st;
      reload(path, &st, exists);
    }
    cfg_checked_ms = now;
  }
  *out = cfg_current;
  pthread_mutex_unlock(&cfg_mu);
}
