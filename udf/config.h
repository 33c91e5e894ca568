/* Settings: defaults, then the [cached_embed] section of the config file,
 * then CACHED_EMBED_* environment variables, then the plugin's system
 * variables (a layer that exists only while the plugin is loaded: values
 * given in the server's option files, on its command line or with SET
 * GLOBAL). Re-read when the file changes. Every setting is one row of
 * settings.def. api_key_file, when set, replaces api_key with the first line
 * of that file; JINA_API_KEY is a last resort for Jina's own endpoint only.
 *
 * Fail closed: a bad value of a setting that decides where data or secrets
 * go (flag CE_ROUTE_* in settings.def) disables that path until it is fixed
 * (provider_off / cache_off hold why), never a fall back to the default. A
 * file that cannot be read or parsed, or that others can write, keeps the
 * last good settings (at the first load: both paths disabled). Any other
 * bad value: one log line, the default applies. */
/* Conventions for all of udf/ (return codes, names, messages, headers):
 * ARCHITECTURE.md, "Conventions". */
#ifndef CE_CONFIG_H
#define CE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CE_DIALECT_JINA = 0, CE_DIALECT_OPENAI = 1 } ce_dialect;
typedef enum { CE_COST_GUARD_NULL = 0, CE_COST_GUARD_WAIT = 1 } ce_cost_mode;
typedef enum { CE_ON_ERROR_NULL = 0, CE_ON_ERROR_ERROR = 1 } ce_on_error;

/* Flags of settings.def. */
#define CE_SECRET 1
#define CE_ROUTE_PROVIDER 2
#define CE_ROUTE_CACHE 4

#define CE_OFF_MSG 200
/* Longest task name in bytes (the `task` setting and the task argument). */
#define CE_TASK_MAX 63
/* Longest query_prefix / passage_prefix in bytes. */
#define CE_PREFIX_MAX 255

typedef struct ce_config {
#define CE_STR(name, size, def, flags, check, help) char name[size];
#define CE_NUM(name, def, lo, hi, flags, help) long name;
#define CE_BOOL(name, def, flags, help) long name;
#define CE_ENUM(name, flags, help, ...) long name;
#include "settings.def"
#undef CE_STR
#undef CE_NUM
#undef CE_BOOL
#undef CE_ENUM
  /* Non-empty: the path is disabled, and why (no secret in it). */
  char provider_off[CE_OFF_MSG];
  char cache_off[CE_OFF_MSG];
} ce_config;

#define CE_CONFIG_DEFAULT_PATH "/etc/mysql/cached_embed.cnf"
#define CE_MAX_DIMS 16384
/* max_request_tokens when unset: OpenAI refuses requests over 300,000
 * tokens summed over their inputs; Jina publishes no such cap, but a request
 * must fit the key's tokens-per-minute allowance. */
#define CE_MAX_REQUEST_TOKENS_OPENAI 250000
#define CE_MAX_REQUEST_TOKENS_JINA 100000
/* The longest TTL, in seconds (ten years): the `ttl` setting's bound (in
 * settings.def), and the clamp of a ttl_seconds argument. */
#define CE_TTL_MAX 315360000L
/* Seconds a local-cache copy lives at most by default (local_cache.h; the
 * default of local_cache_max_age in settings.def). */
#define CE_LOCAL_MAX_AGE_DEFAULT 60

/* price_per_million_tokens: a decimal ("0.02"), at most CE_PRICE_MAX with
 * at most 9 decimal places, read as billionths of the currency into *nano.
 * 0, or -1 for anything else (no sign, no exponent; the locale plays no
 * part). */
#define CE_PRICE_MAX 1000000
int ce_price_parse(const char *v, uint64_t *nano);

/* How many rows settings.def has. */
enum {
  CE_N_SETTINGS = 0
#define CE_STR(...) +1
#define CE_NUM(...) +1
#define CE_BOOL(...) +1
#define CE_ENUM(...) +1
#include "settings.def"
#undef CE_STR
#undef CE_NUM
#undef CE_BOOL
#undef CE_ENUM
};

/* One row of settings.def, for the code that walks all of them (the INI
 * parser, the environment, the plugin's variables, the docs). */
typedef enum { CE_T_STR, CE_T_NUM, CE_T_BOOL, CE_T_ENUM } ce_setting_type;

typedef struct ce_setting {
  const char *name;
  ce_setting_type type;
  int flags;
  size_t offset, size;        /* size: T_STR only */
  const char *def_str;        /* T_STR */
  long def_num, min, max;     /* T_NUM, T_BOOL, T_ENUM (index) */
  const char *const *choices; /* T_ENUM, NULL-terminated */
  int (*check)(const char *v, char *err, size_t errlen);
  const char *help;
} ce_setting;

extern const ce_setting ce_settings[];
extern const size_t ce_n_settings;

/* The row of `key` (file key; dashes and underscores alike), or NULL. */
const ce_setting *ce_setting_find(const char *key);

/* CACHED_EMBED_<NAME> of a setting, into out[cap]. */
void ce_setting_env_name(const ce_setting *s, char *out, size_t cap);

/* A setting's value as text into out[cap]: secrets "", the password of a
 * URL (scheme://user:password@host) replaced by "***". */
void ce_setting_format(const ce_config *c, const ce_setting *s, char *out,
                       size_t cap);

void ce_config_defaults(ce_config *c);

/* max_request_tokens, or the dialect's default when it is 0. */
long ce_config_max_request_tokens(const ce_config *c);

/* Sets one setting from its text. Returns 0, or -1 with a message in `err`
 * (which never contains the value of a secret). Unknown keys return -1 as
 * well. A bad value leaves the setting as it was. */
int ce_config_set(ce_config *c, const char *key, const char *value, char *err,
                  size_t errlen);

/* Applies the [cached_embed] section of INI text. Each bad line is reported
 * through `report` (may be NULL). A bad value of a routing setting disables
 * its path (provider_off / cache_off); other bad values keep the default.
 * Returns the number of bad values; *malformed (may be NULL) gets the number
 * of lines that are not `key = value` or name an unknown key. */
int ce_config_parse_ini(ce_config *c, const char *text, size_t len,
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx, int *malformed);

/* Applies CACHED_EMBED_* variables read through `get` (getenv in the
 * server), then JINA_API_KEY when no key is set and the endpoint is Jina's.
 * Returns the number of bad values, each reported like parse_ini (line 0)
 * and handled the same way. */
int ce_config_apply_env(ce_config *c, const char *(*get)(const char *name),
                        void (*report)(void *ctx, int line, const char *msg),
                        void *ctx);

/* 1 when s[0..len) is a task name: 1..CE_TASK_MAX ASCII letters, digits,
 * '.', '-' or '_' (Jina's names, e.g. retrieval.query, text-matching). */
int ce_task_name_valid(const char *s, size_t len);

/* 1 when `endpoint`'s host is api.jina.ai or under .jina.ai. */
int ce_endpoint_is_jina(const char *endpoint);

/* The process-wide settings, reloaded when the file has changed (checked at
 * most once a second). Copies them into `out`; thread-safe. */
void ce_config_current(ce_config *out);

/* ---- the system-variable layer (the plugin) ----
 * A value set here wins over the environment and the file until it is
 * unset; without any (the plugin not loaded) the file and the environment
 * work alone. Thread-safe; the process-wide settings are rebuilt at once, so
 * the next ce_config_current sees them. */

/* Whether `value` is acceptable for `key` (the same validators as the file:
 * ce_config_set on a scratch copy). 0, or -1 with a message in err. */
int ce_config_layer_check(const char *key, const char *value, char *err,
                          size_t errlen);

/* Sets (value NULL: unsets) the layer's value of `key`. A value that turns
 * out bad (an option file's, which nothing checked before) is handled like a
 * bad environment value: logged, and a routing setting disables its path.
 * -1 for an unknown key. */
int ce_config_layer_set(const char *key, const char *value);

/* Unsets every layer value (the plugin is being unloaded). */
void ce_config_layer_clear(void);

/* `fn` is called with the settings in effect now and after every change
 * (file reloaded, layer changed), under the settings' lock: it must not call
 * back into config.c. NULL stops the calls. */
void ce_config_observe(void (*fn)(const ce_config *effective));

#endif
