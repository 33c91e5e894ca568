#include "config.h"

#include "clock.h"
#include "log.h"
#include "redis_url.h"
#include "text.h"

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

int ce_price_parse(const char *v, uint64_t *nano) {
  uint64_t whole = 0, frac = 0;
  int wd = 0, fd = 0;
  const char *p = v;
  for (; *p >= '0' && *p <= '9'; p++, wd++)
    if (wd < 7)
      whole = whole * 10 + (uint64_t)(*p - '0');
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++, fd++)
      if (fd < 9)
        frac = frac * 10 + (uint64_t)(*p - '0');
  if (*p || (!wd && !fd) || wd > 7 || fd > 9 || whole > CE_PRICE_MAX)
    return -1;
  while (fd < 9) {
    frac *= 10;
    fd++;
  }
  *nano = whole * 1000000000u + frac;
  return 0;
}

static int ce_check_price(const char *v, char *err, size_t errlen) {
  uint64_t nano;
  if (v[0] && ce_price_parse(v, &nano)) {
    snprintf(err, errlen,
             "price_per_million_tokens must be a decimal 0..%d with at most "
             "9 decimal places, got '%.40s'",
             CE_PRICE_MAX, v);
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

int ce_task_name_valid(const char *s, size_t len) {
  if (!len || len > CE_TASK_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' &&
        s[i] != '_')
      return 0;
  return 1;
}

static int ce_check_task(const char *v, char *err, size_t errlen) {
  if (v[0] && !ce_task_name_valid(v, strlen(v))) {
    snprintf(err, errlen,
             "task may hold only letters, digits, '.', '-' and '_'");
    return -1;
  }
  return 0;
}

/* A prefix goes into the request's JSON text: it must be UTF-8. */
static int ce_check_prefix(const char *v, char *err, size_t errlen) {
  if (!ce_utf8_valid(v, strlen(v))) {
    snprintf(err, errlen, "prefix is not valid UTF-8");
    return -1;
  }
  return 0;
}

/* ---- the table ---- */

#define CE_STR(n, sz, def, fl, chk, hlp)                                       \
  {#n, CE_T_STR, fl, offsetof(ce_config, n), sz, def, 0, 0, 0, NULL, chk, hlp},
#define CE_NUM(n, def, lo, hi, fl, hlp)                                        \
  {#n,   CE_T_NUM, fl, offsetof(ce_config, n), 0, NULL, def, lo, hi,           \
   NULL, NULL,     hlp},
#define CE_BOOL(n, def, fl, hlp)                                               \
  {#n,   CE_T_BOOL, fl, offsetof(ce_config, n), 0, NULL, def, 0, 1,            \
   NULL, NULL,      hlp},
#define CE_ENUM(n, fl, hlp, ...)                                               \
  {#n,   CE_T_ENUM,                                                            \
   fl,   offsetof(ce_config, n),                                               \
   0,    NULL,                                                                 \
   0,    0,                                                                    \
   0,    (const char *const[]){__VA_ARGS__, NULL},                             \
   NULL, hlp},
const ce_setting ce_settings[] = {
#include "settings.def"
};
#undef CE_STR
#undef CE_NUM
#undef CE_BOOL
#undef CE_ENUM
const size_t ce_n_settings = sizeof ce_settings / sizeof ce_settings[0];
_Static_assert(sizeof ce_settings / sizeof ce_settings[0] == CE_N_SETTINGS,
               "CE_N_SETTINGS counts the rows of settings.def");

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

/* Copies a URL with the password of its user info (scheme://user:pw@host)
 * replaced by "***". */
static void mask_url_password(const char *v, char *out, size_t cap) {
  const char *auth = strstr(v, "://");
  snprintf(out, cap, "%s", v);
  if (!auth)
    return;
  auth += 3;
  size_t n = strcspn(auth, "/");
  const char *at = NULL;
  for (const char *p = auth; p < auth + n; p++)
    if (*p == '@')
      at = p;
  if (!at)
    return;
  const char *colon = memchr(auth, ':', (size_t)(at - auth));
  const char *from = colon ? colon + 1 : auth;
  snprintf(out, cap, "%.*s***%s", (int)(from - v), v, at);
}

void ce_setting_format(const ce_config *c, const ce_setting *s, char *out,
                       size_t cap) {
  const char *field = (const char *)c + s->offset;
  long n;
  memcpy(&n, field, sizeof n);
  if (s->flags & CE_SECRET)
    snprintf(out, cap, "%s", "");
  else if (s->type == CE_T_STR)
    mask_url_password(field, out, cap);
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
    snprintf(off, CE_OFF_MSG, "%.64s: %.130s", where, why);
}

/* What a bad value leads to, disabling the path of a routing setting; the
 * consequence is appended to err. */
static void consequence(ce_config *c, const ce_setting *s, const char *where,
                        char *err, size_t errlen) {
  const char *what = "ignored, the default applies";
  if (s->flags & (CE_ROUTE_PROVIDER | CE_ROUTE_CACHE)) {
    disable_path(c, s, where, err);
    what = (s->flags & CE_ROUTE_CACHE)
               ? "the cache is off until it is fixed"
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

typedef enum { LINE_OK, LINE_BAD_VALUE, LINE_MALFORMED } line_status;

/* One `key = value` line of the section; a failure comes with err. */
static line_status ini_line(ce_config *c, char *s, int lineno, char *err,
                            size_t errlen) {
  char *eq = strchr(s, '=');
  if (!eq) {
    snprintf(err, errlen, "expected key = value");
    return LINE_MALFORMED;
  }
  *eq = '\0';
  const ce_setting *set = ce_setting_find(trim(s));
  if (!set) {
    snprintf(err, errlen, "unknown setting '%.40s'", trim(s));
    return LINE_MALFORMED;
  }
  if (set_value(c, set, unquote(trim(eq + 1)), err, errlen) == 0)
    return LINE_OK;
  char where[48];
  snprintf(where, sizeof where, "config line %d", lineno);
  consequence(c, set, where, err, errlen);
  return LINE_BAD_VALUE;
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
    line_status rc = ini_line(c, s, lineno, err, sizeof err);
    if (rc != LINE_OK && report)
      report(ctx, lineno, err);
    bad += rc == LINE_BAD_VALUE;
    broken += rc == LINE_MALFORMED;
  }
  if (malformed)
    *malformed = broken;
  return bad;
}

long ce_config_max_request_tokens(const ce_config *c) {
  if (c->max_request_tokens > 0)
    return c->max_request_tokens;
  return c->provider == CE_DIALECT_OPENAI ? CE_MAX_REQUEST_TOKENS_OPENAI
                                          : CE_MAX_REQUEST_TOKENS_JINA;
}

int ce_endpoint_is_jina(const char *endpoint) {
  const char *h = !strncmp(endpoint, "https://", 8) ? endpoint + 8 : NULL;
  if (!h)
    return 0; /* the key travels only over TLS */
  size_t n = strcspn(h, ":/?#");
  static const char dom[] = ".jina.ai";
  if (n == sizeof dom - 2 && !strncasecmp(h, dom + 1, n))
    return 1;
  return n >= sizeof dom &&
         !strncasecmp(h + n - (sizeof dom - 1), dom, sizeof dom - 1);
}

/* CACHED_EMBED_<NAME> variables; the number of bad values. */
static int apply_env_vars(ce_config *c, const char *(*get)(const char *name),
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
  return bad;
}

/* JINA_API_KEY when no key is set: meant for Jina, never sent to another
 * host. 1 when it was bad. */
static int apply_jina_key(ce_config *c, const char *(*get)(const char *name),
                          void (*report)(void *ctx, int line, const char *msg),
                          void *ctx) {
  char err[200], msg[300];
  const char *jina = get("JINA_API_KEY");
  if (c->api_key[0] || !jina || !ce_endpoint_is_jina(c->endpoint))
    return 0;
  const ce_setting *s = ce_setting_find("api_key");
  if (!set_value(c, s, jina, err, sizeof err))
    return 0;
  disable_path(c, s, "JINA_API_KEY", err);
  snprintf(msg, sizeof msg, "JINA_API_KEY: %s", err);
  if (report)
    report(ctx, 0, msg);
  return 1;
}

int ce_config_apply_env(ce_config *c, const char *(*get)(const char *name),
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx) {
  int bad = apply_env_vars(c, get, report, ctx);
  return bad + apply_jina_key(c, get, report, ctx);
}

/* ---- the process-wide copy ---- */

static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static ce_config cfg_base;    /* defaults, the file, CACHED_EMBED_* */
static ce_config cfg_current; /* and the system variables, the key */
static int cfg_loaded;
static char *layer_val[CE_N_SETTINGS]; /* the system variables; NULL: unset */
static void (*cfg_observer)(const ce_config *effective);
static struct stat key_seen; /* api_key_file as last read */
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
    ce_log("provider disabled until the setting is fixed: %s", c->provider_off);
  if (c->cache_off[0])
    ce_log("cache disabled until the setting is fixed: %s", c->cache_off);
}

/* The key from api_key_file (its first line), replacing api_key; when the
 * file cannot be used the provider is off, never another key. */
static void apply_key_file(ce_config *c) {
  const ce_setting *s = ce_setting_find("api_key_file");
  char buf[1024], why[CE_OFF_MSG], err[200];
  struct stat st;
  memset(&key_seen, 0, sizeof key_seen);
  if (!c->api_key_file[0])
    return;
  c->api_key[0] = '\0';
  FILE *f = fopen(c->api_key_file, "rb");
  if (!f || fstat(fileno(f), &st)) {
    snprintf(why, sizeof why, "cannot read '%.100s' (%s)", c->api_key_file,
             strerror(errno));
    if (f)
      fclose(f);
    goto off;
  }
  key_seen = st;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, "\r\n")] = '\0';
  char *key = trim(buf);
  int rc = set_value(c, ce_setting_find("api_key"), key, err, sizeof err);
  memset(buf, 0, sizeof buf);
  if (rc) {
    snprintf(why, sizeof why, "'%.100s': %.80s", c->api_key_file, err);
    goto off;
  }
  if (!c->api_key[0]) {
    snprintf(why, sizeof why, "'%.100s' is empty", c->api_key_file);
    goto off;
  }
  if (st.st_mode & S_IROTH)
    ce_log("api_key_file %s is world-readable; chmod 640 it", c->api_key_file);
  return;
off:
  c->api_key[0] = '\0';
  disable_path(c, s, "api_key_file", why);
}

/* The system variables over the base; bad ones (an option file's) are
 * handled like bad environment values. */
static void apply_layer(ce_config *c) {
  char err[300], where[80];
  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    if (!layer_val[i] || !set_value(c, s, layer_val[i], err, sizeof err))
      continue;
    snprintf(where, sizeof where, "system variable cached_embed_%s", s->name);
    if (s->flags & (CE_ROUTE_PROVIDER | CE_ROUTE_CACHE)) {
      consequence(c, s, where, err, sizeof err);
    } else {
      size_t l = strlen(err);
      snprintf(err + l, sizeof err - l, "; ignored");
    }
    ce_log("%s: %s", where, err);
  }
}

/* cfg_current from cfg_base: the layer, JINA_API_KEY, the key file; then
 * the observer. Under cfg_mu. */
static void rebuild(int log_always) {
  ce_config c = cfg_base;
  apply_layer(&c);
  apply_key_file(&c);
  if (!c.api_key_file[0]) /* a key file that fails: no other key */
    apply_jina_key(&c, env_get, log_bad, NULL);
  if (log_always || !cfg_loaded ||
      strcmp(c.provider_off, cfg_current.provider_off) ||
      strcmp(c.cache_off, cfg_current.cache_off))
    log_off(&c);
  cfg_current = c;
  cfg_loaded = 1;
  if (cfg_observer)
    cfg_observer(&cfg_current);
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
    ce_log("config %s: %s; provider and cache disabled until it is fixed", path,
           why);
    snprintf(c.provider_off, CE_OFF_MSG, "config file %.180s", why);
    snprintf(c.cache_off, CE_OFF_MSG, "config file %.180s", why);
  }
  apply_env_vars(&c, env_get, log_bad, (void *)path);
  if (cfg_loaded)
    ce_log("config %s%s: settings reloaded", path, exists ? "" : " (missing)");
  cfg_base = c;
  rebuild(1);
}

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_size == b->st_size;
}

/* Loads the settings the first time, then re-reads the file (and the key
 * file) when they changed, checked at most once a second. Under cfg_mu. */
static void refresh(void) {
  long long now = ce_mono_ms();
  if (cfg_loaded && now - cfg_checked_ms < 1000)
    return;
  const char *path = config_path();
  struct stat st;
  int exists = stat(path, &st) == 0;
  if (!exists)
    memset(&st, 0, sizeof st);
  if (!cfg_loaded || strcmp(path, cfg_path_seen) ||
      !same_file(&st, &cfg_seen)) {
    snprintf(cfg_path_seen, sizeof cfg_path_seen, "%s", path);
    cfg_seen = st;
    reload(path, &st, exists);
  } else if (cfg_current.api_key_file[0]) {
    struct stat ks;
    if (stat(cfg_current.api_key_file, &ks))
      memset(&ks, 0, sizeof ks);
    if (!same_file(&ks, &key_seen))
      rebuild(1);
  }
  cfg_checked_ms = now;
}

void ce_config_current(ce_config *out) {
  pthread_mutex_lock(&cfg_mu);
  refresh();
  *out = cfg_current;
  pthread_mutex_unlock(&cfg_mu);
}

int ce_config_layer_check(const char *key, const char *value, char *err,
                          size_t errlen) {
  const ce_setting *s = ce_setting_find(key);
  ce_config scratch;
  if (!s || (s->flags & CE_SECRET)) {
    snprintf(err, errlen, "'%.40s' is not a setting of the system variables",
             key);
    return -1;
  }
  ce_config_current(&scratch);
  return set_value(&scratch, s, value, err, errlen);
}

int ce_config_layer_set(const char *key, const char *value) {
  const ce_setting *s = ce_setting_find(key);
  char *copy = NULL;
  if (!s || (s->flags & CE_SECRET) || (value && !(copy = strdup(value))))
    return -1;
  size_t i = (size_t)(s - ce_settings);
  pthread_mutex_lock(&cfg_mu);
  refresh();
  free(layer_val[i]);
  layer_val[i] = copy;
  rebuild(0);
  pthread_mutex_unlock(&cfg_mu);
  return 0;
}

void ce_config_layer_clear(void) {
  pthread_mutex_lock(&cfg_mu);
  for (size_t i = 0; i < ce_n_settings; i++) {
    free(layer_val[i]);
    layer_val[i] = NULL;
  }
  if (cfg_loaded)
    rebuild(0);
  pthread_mutex_unlock(&cfg_mu);
}

void ce_config_observe(void (*fn)(const ce_config *effective)) {
  pthread_mutex_lock(&cfg_mu);
  cfg_observer = fn;
  if (fn) {
    refresh();
    fn(&cfg_current);
  }
  pthread_mutex_unlock(&cfg_mu);
}
