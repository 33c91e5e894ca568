/* The cached_embed daemon plugin (MariaDB): the same library as the
 * functions, loaded by INSTALL SONAME 'cached_embed' or plugin_load_add.
 * It adds, while loaded:
 *   - status variables Cached_embed_<counter> (udf/stats.c's own counters,
 *     read in place), Cached_embed_hits, _circuit, _local_cache_*, and
 *     _provider_disabled / _cache_disabled (why a bad setting turned that
 *     path off, else empty);
 *   - a system variable cached_embed_<name> for every setting of
 *     settings.def but the secrets, built from that table at load time;
 *   - the server services the functions use through plugin_services.h:
 *     statement errors (on_error = error), KILL, progress reports.
 * The functions work without it (plain CREATE FUNCTION): nothing here runs
 * then, and no service is called (their pointers are only filled in when
 * the server loads the plugin).
 *
 * Every variable is a string that overrides the file and the environment
 * (config.h's layer) while it has a value: given in an option file, on the
 * command line or with SET GLOBAL (validated like the file: a bad value is
 * refused). SET GLOBAL ... = DEFAULT (NULL) hands the setting back to the
 * file and the environment. What SHOW VARIABLES shows is the value in
 * effect, wherever it comes from. */
#define MYSQL_DYNAMIC_PLUGIN
/* Some service headers declare `f()` callbacks: theirs, not ours. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <mysql/plugin.h>
#pragma GCC diagnostic pop
#include <mysqld_error.h>
#include <typelib.h>

#include "clock.h"
#include "config.h"
#include "guard.h"
#include "local_cache.h"
#include "log.h"
#include "plugin_services.h"
#include "readahead.h"
#include "stats.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the server's current statement ---- */

/* The server's own accessor for the calling thread's THD (a function gets
 * no THD; thd_kill_level(NULL) crashes 10.11). NULL: KILL and progress stay
 * off. */
static MYSQL_THD (*current_thd_fn)(void);

static MYSQL_THD current(void) {
  return current_thd_fn ? current_thd_fn() : NULL;
}

static int op_killed(void) {
  MYSQL_THD thd = current();
  return thd && thd_kill_level(thd) != THD_IS_NOT_KILLED;
}

static void op_progress_start(void) {
  MYSQL_THD thd = current();
  if (thd)
    thd_progress_init(thd, 1);
}

static void op_progress_report(unsigned long long done,
                               unsigned long long total) {
  MYSQL_THD thd = current();
  if (thd)
    thd_progress_report(thd, done, total);
}

static void op_progress_end(void) {
  MYSQL_THD thd = current();
  if (thd)
    thd_progress_end(thd);
}

static void op_fail_statement(const char *msg) {
  my_printf_error(ER_UNKNOWN_ERROR, "%s", 0, msg);
}

static void op_fail_killed(void) {
  my_error(ER_QUERY_INTERRUPTED, 0); /* the server's own words */
}

static const ce_server_ops server_ops = {op_killed,          op_progress_start,
                                         op_progress_report, op_progress_end,
                                         op_fail_statement,  op_fail_killed};

/* ---- status variables ---- */

static int show_hits(MYSQL_THD thd, struct st_mysql_show_var *var, void *buff,
                     struct system_status_var *sv, enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  *(unsigned long long *)buff = *ce_stat_counter(CE_STAT_HITS_LOCAL) +
                                *ce_stat_counter(CE_STAT_HITS_REDIS);
  var->type = SHOW_ULONGLONG;
  var->value = buff;
  return 0;
}

static int show_circuit(MYSQL_THD thd, struct st_mysql_show_var *var,
                        void *buff, struct system_status_var *sv,
                        enum enum_var_type scope) {
  (void)thd, (void)buff, (void)sv, (void)scope;
  var->type = SHOW_CHAR;
  var->value = (void *)ce_guard_circuit_state(); /* a string constant */
  return 0;
}

/* A count or a size in bytes of a bounded in-process store: the local
 * cache (ce_local_usage) or the read-ahead lists (ce_readahead_usage). */
static int show_usage(struct st_mysql_show_var *var, void *buff,
                      void (*usage)(size_t *bytes, size_t *n), int count) {
  size_t bytes, n;
  usage(&bytes, &n);
  *(unsigned long long *)buff = count ? n : bytes;
  var->type = SHOW_ULONGLONG;
  var->value = buff;
  return 0;
}

static int show_local_entries(MYSQL_THD thd, struct st_mysql_show_var *var,
                              void *buff, struct system_status_var *sv,
                              enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_usage(var, buff, ce_local_usage, 1);
}

static int show_local_bytes(MYSQL_THD thd, struct st_mysql_show_var *var,
                            void *buff, struct system_status_var *sv,
                            enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_usage(var, buff, ce_local_usage, 0);
}

static int show_readahead_keys(MYSQL_THD thd, struct st_mysql_show_var *var,
                               void *buff, struct system_status_var *sv,
                               enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_usage(var, buff, ce_readahead_usage, 1);
}

static int show_readahead_bytes(MYSQL_THD thd, struct st_mysql_show_var *var,
                                void *buff, struct system_status_var *sv,
                                enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_usage(var, buff, ce_readahead_usage, 0);
}

/* Why the provider / the cache is off (a bad routing setting), or "". */
static int show_off(struct st_mysql_show_var *var, void *buff, int cache) {
  ce_config c;
  ce_config_current(&c);
  snprintf(buff, SHOW_VAR_FUNC_BUFF_SIZE, "%s",
           cache ? c.cache_off : c.provider_off);
  var->type = SHOW_CHAR;
  var->value = buff;
  return 0;
}

static int show_provider_off(MYSQL_THD thd, struct st_mysql_show_var *var,
                             void *buff, struct system_status_var *sv,
                             enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_off(var, buff, 0);
}

static int show_cache_off(MYSQL_THD thd, struct st_mysql_show_var *var,
                          void *buff, struct system_status_var *sv,
                          enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_off(var, buff, 1);
}

/* Money at price_per_million_tokens, as cached_embed_stats() prints it;
 * "" while no price is set. */
static int show_money(struct st_mysql_show_var *var, void *buff, int saved) {
  ce_config c;
  char spent[CE_MONEY_MAX], kept[CE_MONEY_MAX];
  ce_config_current(&c);
  if (ce_stats_money(c.price_per_million_tokens, spent, kept))
    spent[0] = kept[0] = '\0';
  snprintf(buff, SHOW_VAR_FUNC_BUFF_SIZE, "%s", saved ? kept : spent);
  var->type = SHOW_CHAR;
  var->value = buff;
  return 0;
}

static int show_spent(MYSQL_THD thd, struct st_mysql_show_var *var, void *buff,
                      struct system_status_var *sv, enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_money(var, buff, 0);
}

static int show_saved(MYSQL_THD thd, struct st_mysql_show_var *var, void *buff,
                      struct system_status_var *sv, enum enum_var_type scope) {
  (void)thd, (void)sv, (void)scope;
  return show_money(var, buff, 1);
}

/* Filled at load from stats.c's table: counters, then the derived values
 * cached_embed_stats() also reports, then the end marker. */
static struct st_mysql_show_var status_inner[CE_STAT__COUNT + 11];
static struct st_mysql_show_var status_vars[] = {
    {"Cached_embed", status_inner, SHOW_ARRAY}, {0, 0, 0}};

static void build_status(void) {
  size_t o = 0;
  for (int i = 0; i < CE_STAT__COUNT; i++)
    status_inner[o++] = (struct st_mysql_show_var){
        ce_stat_name((ce_stat)i), (void *)ce_stat_counter((ce_stat)i),
        SHOW_ULONGLONG};
  status_inner[o++] =
      (struct st_mysql_show_var){"hits", (void *)show_hits, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "circuit", (void *)show_circuit, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "local_cache_entries", (void *)show_local_entries, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "local_cache_bytes", (void *)show_local_bytes, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "readahead_keys", (void *)show_readahead_keys, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "readahead_bytes", (void *)show_readahead_bytes, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "provider_disabled", (void *)show_provider_off, SHOW_SIMPLE_FUNC};
  status_inner[o++] = (struct st_mysql_show_var){
      "cache_disabled", (void *)show_cache_off, SHOW_SIMPLE_FUNC};
  status_inner[o++] =
      (struct st_mysql_show_var){"spent", (void *)show_spent, SHOW_SIMPLE_FUNC};
  status_inner[o++] =
      (struct st_mysql_show_var){"saved", (void *)show_saved, SHOW_SIMPLE_FUNC};
  status_inner[o] = (struct st_mysql_show_var){0, 0, 0};
}

/* ---- system variables ---- */

/* The layouts MYSQL_SYSVAR_STR / _LONG / _BOOL / _ENUM declare, built at run
 * time from the table (one per setting but the secrets). */
typedef struct {
  MYSQL_PLUGIN_VAR_HEADER;
  char **value;
  char *def_val;
} str_var;
typedef struct {
  MYSQL_PLUGIN_VAR_HEADER;
  long *value;
  long def_val, min_val, max_val, blk_sz;
} num_var;
typedef struct {
  MYSQL_PLUGIN_VAR_HEADER;
  char *value;
  char def_val;
} bool_var;
typedef struct {
  MYSQL_PLUGIN_VAR_HEADER;
  unsigned long *value;
  unsigned long def_val;
  TYPELIB *typelib;
} enum_var;
typedef union {
  str_var s;
  num_var n;
  bool_var b;
  enum_var e;
} any_var;

/* What SHOW VARIABLES reads, per variable. */
typedef union {
  char *s;
  long n;
  char b;
  unsigned long e;
} var_store;

/* A string once shown; kept until the library is unloaded, since the server
 * may read a variable's string while it is replaced. */
typedef struct shown {
  struct shown *next;
  char text[];
} shown;

static size_t n_vars;
static any_var vars[CE_N_SETTINGS];
static const ce_setting *var_setting[CE_N_SETTINGS];
static var_store var_value[CE_N_SETTINGS];
static char *var_comment[CE_N_SETTINGS];
static TYPELIB var_typelib[CE_N_SETTINGS];
static shown *var_shown[CE_N_SETTINGS];
static struct st_mysql_sys_var *sys_vars[CE_N_SETTINGS + 1];

static size_t var_index(const struct st_mysql_sys_var *var) {
  return (size_t)((const any_var *)var - vars);
}

/* Where the server passes a variable's default to update (SET GLOBAL ... =
 * DEFAULT): the def_val member itself. */
static const void *def_ptr(size_t j) {
  switch (var_setting[j]->type) {
  case CE_T_STR:
    return &vars[j].s.def_val;
  case CE_T_NUM:
    return &vars[j].n.def_val;
  case CE_T_BOOL:
    return &vars[j].b.def_val;
  default:
    return &vars[j].e.def_val;
  }
}

/* The string to show for variable j, equal to `text`: reused or added. */
static char *intern(size_t j, const char *text) {
  for (shown *s = var_shown[j]; s; s = s->next)
    if (!strcmp(s->text, text))
      return s->text;
  size_t n = strlen(text) + 1;
  shown *s = malloc(sizeof *s + n);
  if (!s)
    return NULL;
  memcpy(s->text, text, n);
  s->next = var_shown[j];
  var_shown[j] = s;
  return s->text;
}

static int is_shown(size_t j, const char *p) {
  for (shown *s = var_shown[j]; s; s = s->next)
    if (s->text == p)
      return 1;
  return 0;
}

/* config.c's observer: the settings in effect, into the variables. */
static void show_effective(const ce_config *c) {
  char buf[1200];
  for (size_t j = 0; j < n_vars; j++) {
    const ce_setting *s = var_setting[j];
    long n;
    memcpy(&n, (const char *)c + s->offset, sizeof n);
    switch (s->type) {
    case CE_T_STR: {
      ce_setting_format(c, s, buf, sizeof buf);
      char *p = intern(j, buf);
      if (p)
        __atomic_store_n(&var_value[j].s, p, __ATOMIC_RELEASE);
      break;
    }
    case CE_T_NUM:
      __atomic_store_n(&var_value[j].n, n, __ATOMIC_RELAXED);
      break;
    case CE_T_BOOL:
      __atomic_store_n(&var_value[j].b, (char)(n != 0), __ATOMIC_RELAXED);
      break;
    case CE_T_ENUM:
      __atomic_store_n(&var_value[j].e, (unsigned long)n, __ATOMIC_RELAXED);
      break;
    }
  }
}

/* Variable j's value as the server left it, as setting text into buf[cap];
 * NULL when it is the default (no option given). */
static const char *option_value(size_t j, char *buf, size_t cap) {
  const ce_setting *s = var_setting[j];
  switch (s->type) {
  case CE_T_STR:
    return var_value[j].s && !is_shown(j, var_value[j].s) ? var_value[j].s
                                                          : NULL;
  case CE_T_NUM:
    if (var_value[j].n == vars[j].n.def_val)
      return NULL;
    snprintf(buf, cap, "%ld", var_value[j].n);
    return buf;
  case CE_T_BOOL:
    if (var_value[j].b == vars[j].b.def_val)
      return NULL;
    return var_value[j].b ? "on" : "off";
  default:
    if (var_value[j].e == vars[j].e.def_val ||
        var_value[j].e >= var_typelib[j].count)
      return NULL;
    return s->choices[var_value[j].e];
  }
}

/* Back to what the server sets before reading the options. */
static void reset_values(void) {
  for (size_t j = 0; j < n_vars; j++) {
    __atomic_store_n(&var_value[j].s, NULL, __ATOMIC_RELEASE);
    switch (var_setting[j]->type) {
    case CE_T_NUM:
      var_value[j].n = vars[j].n.def_val;
      break;
    case CE_T_BOOL:
      var_value[j].b = vars[j].b.def_val;
      break;
    case CE_T_ENUM:
      var_value[j].e = vars[j].e.def_val;
      break;
    default:
      break;
    }
  }
}

/* The text of a SET GLOBAL value into buf[cap]: NULL for SQL NULL, "" with
 * *bad set when it does not fit or holds a NUL byte. An enum's number is
 * its choice. */
static const char *value_text(const ce_setting *s, struct st_mysql_value *value,
                              char *buf, size_t cap, int *bad) {
  long long ll;
  double d;
  *bad = 0;
  switch (value->value_type(value)) {
  case MYSQL_VALUE_TYPE_INT:
    if (value->val_int(value, &ll))
      return NULL;
    if (s->type == CE_T_ENUM && !value->is_unsigned(value) && ll >= 0) {
      long long k = 0;
      while (s->choices[k] && k < ll)
        k++;
      if (s->choices[k])
        return s->choices[k];
    }
    snprintf(buf, cap, value->is_unsigned(value) ? "%llu" : "%lld", ll);
    return buf;
  case MYSQL_VALUE_TYPE_REAL:
    if (value->val_real(value, &d))
      return NULL;
    snprintf(buf, cap, "%.17g", d);
    return buf;
  default: {
    int len = (int)cap;
    const char *str = value->val_str(value, buf, &len);
    if (!str)
      return NULL;
    if (len < 0 || (size_t)len >= cap || memchr(str, '\0', (size_t)len)) {
      *bad = 1;
      return "";
    }
    memmove(buf, str, (size_t)len);
    buf[len] = '\0';
    return buf;
  }
  }
}

/* SET GLOBAL: validated like the file's values (a bad one is refused, with
 * why); the text goes to var_update through `save`. */
static int var_check(MYSQL_THD thd, struct st_mysql_sys_var *var, void *save,
                     struct st_mysql_value *value) {
  const ce_setting *s = var_setting[var_index(var)];
  char buf[1100], err[300];
  int bad;
  const char *text = value_text(s, value, buf, sizeof buf, &bad);
  if (!text) { /* NULL, like DEFAULT: back to the file and the environment */
    *(const char **)save = NULL;
    return 0;
  }
  if (bad) {
    snprintf(err, sizeof err,
             "the value is longer than %zu bytes or holds a NUL byte",
             sizeof buf - 1);
  } else if (!ce_config_layer_check(s->name, text, err, sizeof err)) {
    char *copy = thd_strmake(thd, text, strlen(text));
    if (copy) {
      *(const char **)save = copy;
      return 0;
    }
    snprintf(err, sizeof err, "out of memory");
  }
  my_printf_error(ER_WRONG_VALUE_FOR_VAR, "cached_embed_%s: %s", 0, s->name,
                  err);
  return 1;
}

/* A checked value (its text in *save), or DEFAULT (save is the def_val
 * member): unset. The observer then shows the value in effect. */
static void var_update(MYSQL_THD thd, struct st_mysql_sys_var *var,
                       void *var_ptr, const void *save) {
  size_t j = var_index(var);
  (void)thd, (void)var_ptr;
  ce_config_layer_set(var_setting[j]->name,
                      save == def_ptr(j) ? NULL : *(const char *const *)save);
}

/* The variable's help, from the table's: no markdown, where unset comes
 * from. */
static char *make_comment(const ce_setting *s) {
  char env[80], def[600], text[1600];
  size_t o = 0;
  ce_config d;
  ce_config_defaults(&d);
  ce_setting_env_name(s, env, sizeof env);
  ce_setting_format(&d, s, def, sizeof def);
  for (const char *p = s->help; *p && o + 1 < sizeof text; p++)
    if (*p != '`')
      text[o++] = *p;
  snprintf(text + o, sizeof text - o,
           ". DEFAULT: the config file's value or %s's, else '%s'", env, def);
  return strdup(text);
}

static void build_var(size_t j, const ce_setting *s) {
  const int flags = PLUGIN_VAR_RQCMDARG;
  const char *comment = var_comment[j] ? var_comment[j] : s->help;
  switch (s->type) {
  case CE_T_STR:
    vars[j].s = (str_var){
        PLUGIN_VAR_STR | flags, s->name, comment, var_check, var_update,
        &var_value[j].s,        NULL};
    break;
  case CE_T_NUM:
    vars[j].n = (num_var){
        PLUGIN_VAR_LONG | flags, s->name,    comment, var_check, var_update,
        &var_value[j].n,         s->def_num, s->min,  s->max,    0};
    var_value[j].n = s->def_num;
    break;
  case CE_T_BOOL:
    vars[j].b = (bool_var){PLUGIN_VAR_BOOL | flags,
                           s->name,
                           comment,
                           var_check,
                           var_update,
                           &var_value[j].b,
                           (char)s->def_num};
    var_value[j].b = (char)s->def_num;
    break;
  case CE_T_ENUM: {
    unsigned n = 0;
    while (s->choices[n])
      n++;
    var_typelib[j] = (TYPELIB){n, s->name, (const char **)s->choices, NULL};
    vars[j].e = (enum_var){PLUGIN_VAR_ENUM | flags,
                           s->name,
                           comment,
                           var_check,
                           var_update,
                           &var_value[j].e,
                           (unsigned long)s->def_num,
                           &var_typelib[j]};
    var_value[j].e = (unsigned long)s->def_num;
    break;
  }
  }
  sys_vars[j] = (struct st_mysql_sys_var *)&vars[j];
}

static void build_vars(void) {
  n_vars = 0;
  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    if (s->flags & CE_SECRET) /* never a variable */
      continue;
    var_setting[n_vars] = s;
    var_comment[n_vars] = make_comment(s);
    build_var(n_vars, s);
    n_vars++;
  }
  sys_vars[n_vars] = NULL;
}

/* ---- the file, watched ---- */

/* Re-reads the config file once a second (when it changed) even when no
 * function runs, so SHOW VARIABLES follows an edited file. */
static pthread_t watcher;
static int watcher_on, watcher_stop;
static pthread_mutex_t watcher_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watcher_cv; /* CLOCK_MONOTONIC */
static pthread_once_t watcher_cv_once = PTHREAD_ONCE_INIT;

static void watcher_cv_init(void) { ce_cond_init_mono(&watcher_cv); }

static void *watch(void *arg) {
  (void)arg;
  pthread_mutex_lock(&watcher_mu);
  while (!watcher_stop) {
    ce_cond_wait_until(&watcher_cv, &watcher_mu, ce_mono_ms() + 1000);
    if (watcher_stop)
      break;
    pthread_mutex_unlock(&watcher_mu);
    ce_config c;
    ce_config_current(&c); /* reloads a changed file; the observer shows it */
    pthread_mutex_lock(&watcher_mu);
  }
  pthread_mutex_unlock(&watcher_mu);
  return NULL;
}

static void watcher_start(void) {
  pthread_once(&watcher_cv_once, watcher_cv_init);
  watcher_stop = 0;
  watcher_on = pthread_create(&watcher, NULL, watch, NULL) == 0;
  if (!watcher_on)
    ce_log("could not start the config watcher: the variables show an "
           "edited file once a function runs");
}

static void watcher_end(void) {
  if (!watcher_on)
    return;
  pthread_mutex_lock(&watcher_mu);
  watcher_stop = 1;
  pthread_cond_signal(&watcher_cv);
  pthread_mutex_unlock(&watcher_mu);
  pthread_join(watcher, NULL);
  watcher_on = 0;
}

/* ---- load, init, deinit, unload ---- */

/* At dlopen (CREATE FUNCTION or INSTALL SONAME), before the server reads
 * the declaration: only our own tables, no service. */
__attribute__((constructor)) static void plugin_tables(void) {
  build_status();
  build_vars();
}

__attribute__((destructor)) static void plugin_tables_free(void) {
  for (size_t j = 0; j < CE_N_SETTINGS; j++) {
    free(var_comment[j]);
    var_comment[j] = NULL;
    while (var_shown[j]) {
      shown *next = var_shown[j]->next;
      free(var_shown[j]);
      var_shown[j] = next;
    }
  }
}

static int plugin_init(void *p) {
  (void)p;
  *(void **)&current_thd_fn = dlsym(RTLD_DEFAULT, "_current_thd");
  if (!current_thd_fn)
    ce_log("the server exports no _current_thd: KILL QUERY and progress "
           "reports do not reach the warm-up");
  /* Values from option files or the command line: the server set every
   * variable to its default, then applied them. (A value equal to the
   * built-in default cannot be told apart from none.) */
  char buf[64];
  for (size_t j = 0; j < n_vars; j++) {
    const char *v = option_value(j, buf, sizeof buf);
    if (v)
      ce_config_layer_set(var_setting[j]->name, v);
  }
  ce_config_observe(show_effective);
  ce_server_attach(&server_ops);
  watcher_start();
  return 0;
}

static int plugin_deinit(void *p) {
  (void)p;
  watcher_end();
  ce_server_attach(NULL);
  ce_config_observe(NULL);
  ce_config_layer_clear();
  reset_values();
  return 0;
}

static struct st_mysql_daemon cached_embed_daemon = {
    MYSQL_DAEMON_INTERFACE_VERSION};

/* What the server looks up by name: exported despite -fvisibility=hidden. */
#pragma GCC visibility push(default)
maria_declare_plugin(cached_embed){
    MYSQL_DAEMON_PLUGIN,
    &cached_embed_daemon,
    "cached_embed",
    "cached_embed",
    "Embeddings cached in Redis: status and system variables, statement "
    "errors, KILL and progress for the cached_embed functions",
    PLUGIN_LICENSE_GPL,
    plugin_init,
    plugin_deinit,
    0x0100,
    status_vars,
    sys_vars,
    "1.0",
    MariaDB_PLUGIN_MATURITY_STABLE} maria_declare_plugin_end;
#pragma GCC visibility pop
