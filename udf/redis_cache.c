/* The vector cache's Redis commands, on ce_redis_run (redis.h). */
#include "redis_cache.h"

#include "log.h"
#include "redis.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ce_ratelimit cache_rl = CE_RATELIMIT_INIT(5, 60);

static void cmd2(ce_redis_cmd *c, const char *name, const char *key,
                 size_t key_len) {
  ce_redis_cmd_init(c, key, key_len);
  ce_redis_cmd_arg(c, name, strlen(name));
  ce_redis_cmd_arg(c, key, key_len);
}

/* SET key val [EX ttl]; `ttl_buf` holds the number's text. */
static void set_cmd(ce_redis_cmd *c, const char *key, size_t key_len,
                    const uint8_t *val, size_t len, long ttl, char *ttl_buf,
                    size_t ttl_cap) {
  cmd2(c, "SET", key, key_len);
  ce_redis_cmd_arg(c, val, len);
  if (ttl > 0) {
    int n = snprintf(ttl_buf, ttl_cap, "%ld", ttl);
    ce_redis_cmd_arg(c, "EX", 2);
    ce_redis_cmd_arg(c, ttl_buf, (size_t)n);
  }
}

static long long pttl_of(const ce_redis_reply *r) {
  return r && r->type == CE_REPLY_INTEGER ? r->integer : -2;
}

static void log_error_reply(const char *what, const ce_redis_reply *r) {
  ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
  ce_log_limited(&cache_rl, what, "redis %s failed: %.100s", what,
                 r->type == CE_REPLY_ERROR ? r->str : "unexpected reply");
}

ce_cache_result ce_cache_get(const ce_config *cfg, const char *key,
                             size_t key_len, int want_ttl,
                             int (*accept)(void *ctx, const uint8_t *val,
                                           size_t len, long long pttl_ms),
                             void *ctx) {
  ce_redis_cmd c[2];
  size_t n = want_ttl ? 2 : 1;
  ce_cache_result res = CE_CACHE_ERROR;
  cmd2(&c[0], "GET", key, key_len);
  cmd2(&c[1], "PTTL", key, key_len);
  if (ce_redis_run(cfg, c, n) < 1) {
    ce_redis_cmds_free(c, n);
    return CE_CACHE_ERROR;
  }
  const ce_redis_reply *get = c[0].reply;
  if (get->type == CE_REPLY_STRING)
    res = accept(ctx, (const uint8_t *)get->str, get->len,
                 want_ttl ? pttl_of(c[1].reply) : -2)
              ? CE_CACHE_MISS
              : CE_CACHE_HIT;
  else if (get->type == CE_REPLY_NIL)
    res = CE_CACHE_MISS;
  else
    log_error_reply("GET", get); /* e.g. WRONGTYPE, NOPERM */
  ce_redis_cmds_free(c, n);
  return res;
}

int ce_cache_mget(const ce_config *cfg, const char *const *keys,
                  const size_t *key_lens, size_t n,
                  void (*each)(void *ctx, size_t i, const uint8_t *val,
                               size_t len, long long pttl_ms),
                  void *ctx) {
  ce_redis_cmd *c = malloc(2 * CE_CACHE_PIPELINE * sizeof *c);
  int rc = 0;
  if (!c)
    return -1;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    for (size_t k = 0; k < m; k++) {
      cmd2(&c[2 * k], "GET", keys[start + k], key_lens[start + k]);
      cmd2(&c[2 * k + 1], "PTTL", keys[start + k], key_lens[start + k]);
    }
    if (ce_redis_run(cfg, c, 2 * m) < 2 * m)
      rc = -1;
    for (size_t k = 0; k < m; k++) {
      const ce_redis_reply *get = c[2 * k].reply;
      if (!get)
        continue;
      if (get->type == CE_REPLY_STRING)
        each(ctx, start + k, (const uint8_t *)get->str, get->len,
             pttl_of(c[2 * k + 1].reply));
      else
        each(ctx, start + k, NULL, 0, -2);
    }
    ce_redis_cmds_free(c, 2 * m);
  }
  free(c);
  return rc;
}

int ce_cache_mlookup(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, size_t n, const uint8_t *probe,
                     int hits_ttl,
                     void (*each)(void *ctx, size_t i, const uint8_t *val,
                                  size_t len, long long pttl_ms),
                     void *ctx) {
  ce_redis_cmd *c = malloc(2 * CE_CACHE_PIPELINE * sizeof *c);
  size_t *hit = malloc(CE_CACHE_PIPELINE * sizeof *hit);
  int rc = 0;
  if (!c || !hit) {
    free(c);
    free(hit);
    return -1;
  }
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    size_t n_hit = 0;
    for (size_t k = 0; k < m; k++)
      cmd2(&c[k], probe && probe[start + k] ? "PTTL" : "GET", keys[start + k],
           key_lens[start + k]);
    if (ce_redis_run(cfg, c, m) < m)
      rc = -1;
    for (size_t k = 0; k < m; k++) /* the hits' remaining lives */
      if (hits_ttl && c[k].reply && c[k].reply->type == CE_REPLY_STRING &&
          !(probe && probe[start + k])) {
        cmd2(&c[m + n_hit], "PTTL", keys[start + k], key_lens[start + k]);
        hit[n_hit++] = k;
      }
    if (n_hit && ce_redis_run(cfg, c + m, n_hit) < n_hit)
      rc = -1;
    for (size_t k = 0, h = 0; k < m; k++) {
      const ce_redis_reply *r = c[k].reply;
      if (!r)
        continue;
      if (probe && probe[start + k]) {
        if (r->type == CE_REPLY_INTEGER)
          each(ctx, start + k, NULL, 0, r->integer);
      } else if (r->type == CE_REPLY_STRING)
        each(ctx, start + k, (const uint8_t *)r->str, r->len,
             h < n_hit && hit[h] == k ? pttl_of(c[m + h++].reply) : -2);
      else
        each(ctx, start + k, NULL, 0, -2);
    }
    ce_redis_cmds_free(c, m + n_hit);
  }
  free(c);
  free(hit);
  return rc;
}

size_t ce_cache_mset(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, const uint8_t *const *vals,
                     const size_t *val_lens, size_t n, long ttl, uint8_t *ok) {
  ce_redis_cmd *c = malloc(CE_CACHE_PIPELINE * sizeof *c);
  char ttl_buf[24];
  size_t stored = 0;
  memset(ok, 0, n);
  if (!c)
    return 0;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    for (size_t k = 0; k < m; k++)
      set_cmd(&c[k], keys[start + k], key_lens[start + k], vals[start + k],
              val_lens[start + k], ttl, ttl_buf, sizeof ttl_buf);
    ce_redis_run(cfg, c, m);
    for (size_t k = 0; k < m; k++)
      if (c[k].reply && c[k].reply->type == CE_REPLY_STATUS) {
        ok[start + k] = 1;
        stored++;
      }
    ce_redis_cmds_free(c, m);
  }
  free(c);
  return stored;
}

int ce_cache_set(const ce_config *cfg, const char *key, size_t key_len,
                 const uint8_t *val, size_t len, long ttl) {
  ce_redis_cmd c;
  char ttl_buf[24];
  int rc = -1;
  set_cmd(&c, key, key_len, val, len, ttl, ttl_buf, sizeof ttl_buf);
  if (ce_redis_run(cfg, &c, 1) == 1) {
    if (c.reply->type == CE_REPLY_STATUS)
      rc = 0;
    else
      log_error_reply("SET", c.reply);
  }
  ce_redis_cmds_free(&c, 1);
  return rc;
}

ce_lock_result ce_cache_lock(const ce_config *cfg, const char *key,
                             size_t key_len, const char *owner,
                             size_t owner_len, long ttl_ms) {
  ce_redis_cmd c;
  char ms[24];
  int n = snprintf(ms, sizeof ms, "%ld", ttl_ms > 0 ? ttl_ms : 1);
  ce_lock_result rc = CE_LOCK_NO_REDIS;
  cmd2(&c, "SET", key, key_len);
  ce_redis_cmd_arg(&c, owner, owner_len);
  ce_redis_cmd_arg(&c, "NX", 2);
  ce_redis_cmd_arg(&c, "PX", 2);
  ce_redis_cmd_arg(&c, ms, (size_t)n);
  if (ce_redis_run(cfg, &c, 1) == 1) {
    if (c.reply->type == CE_REPLY_STATUS)
      rc = CE_LOCK_OK;
    else if (c.reply->type == CE_REPLY_NIL)
      rc = CE_LOCK_NOT_OURS;
    else
      log_error_reply("SET NX", c.reply);
  }
  ce_redis_cmds_free(&c, 1);
  return rc;
}

ce_lock_result ce_cache_unlock(const ce_config *cfg, const char *key,
                               size_t key_len, const char *owner,
                               size_t owner_len) {
  static const char script[] =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then "
      "return redis.call('DEL', KEYS[1]) else return 0 end";
  ce_redis_cmd c;
  ce_lock_result rc = CE_LOCK_NO_REDIS;
  ce_redis_cmd_init(&c, key, key_len);
  ce_redis_cmd_arg(&c, "EVAL", 4);
  ce_redis_cmd_arg(&c, script, sizeof script - 1);
  ce_redis_cmd_arg(&c, "1", 1);
  ce_redis_cmd_arg(&c, key, key_len);
  ce_redis_cmd_arg(&c, owner, owner_len);
  if (ce_redis_run(cfg, &c, 1) == 1) {
    if (c.reply->type == CE_REPLY_INTEGER)
      rc = c.reply->integer > 0 ? CE_LOCK_OK : CE_LOCK_NOT_OURS;
    else
      log_error_reply("EVAL (unlock)", c.reply);
  }
  ce_redis_cmds_free(&c, 1);
  return rc;
}

size_t ce_cache_lock_many(const ce_config *cfg, const char *const *keys,
                          const size_t *key_lens, size_t n, const char *owner,
                          size_t owner_len, long ttl_ms, int8_t *got) {
  ce_redis_cmd *c = malloc(CE_CACHE_PIPELINE * sizeof *c);
  char ms[24];
  int msl = snprintf(ms, sizeof ms, "%ld", ttl_ms > 0 ? ttl_ms : 1);
  size_t taken = 0;
  memset(got, CE_LOCK_NO_REDIS, n);
  if (!c)
    return 0;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    for (size_t k = 0; k < m; k++) {
      cmd2(&c[k], "SET", keys[start + k], key_lens[start + k]);
      ce_redis_cmd_arg(&c[k], owner, owner_len);
      ce_redis_cmd_arg(&c[k], "NX", 2);
      ce_redis_cmd_arg(&c[k], "PX", 2);
      ce_redis_cmd_arg(&c[k], ms, (size_t)msl);
    }
    ce_redis_run(cfg, c, m);
    for (size_t k = 0; k < m; k++) {
      const ce_redis_reply *r = c[k].reply;
      if (!r)
        continue;
      if (r->type == CE_REPLY_STATUS) {
        got[start + k] = CE_LOCK_OK;
        taken++;
      } else if (r->type == CE_REPLY_NIL) {
        got[start + k] = CE_LOCK_NOT_OURS;
      } else {
        log_error_reply("SET NX", r);
      }
    }
    ce_redis_cmds_free(c, m);
  }
  free(c);
  return taken;
}

/* EVAL of the script that ends `key` held by `owner`: deleted (val NULL)
 * or replaced by val for the rest of its lifetime, at least `ms`. */
static void lock_end_cmd(ce_redis_cmd *c, const char *key, size_t key_len,
                         const char *owner, size_t owner_len, const char *val,
                         size_t val_len, const char *ms, size_t ms_len) {
  static const char del[] =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then "
      "return redis.call('DEL', KEYS[1]) else return 0 end";
  static const char set[] =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then "
      "local t = redis.call('PTTL', KEYS[1]) "
      "if t < tonumber(ARGV[3]) then t = tonumber(ARGV[3]) end "
      "redis.call('SET', KEYS[1], ARGV[2], 'PX', t) return 1 "
      "else return 0 end";
  ce_redis_cmd_init(c, key, key_len);
  ce_redis_cmd_arg(c, "EVAL", 4);
  if (val)
    ce_redis_cmd_arg(c, set, sizeof set - 1);
  else
    ce_redis_cmd_arg(c, del, sizeof del - 1);
  ce_redis_cmd_arg(c, "1", 1);
  ce_redis_cmd_arg(c, key, key_len);
  ce_redis_cmd_arg(c, owner, owner_len);
  if (val) {
    ce_redis_cmd_arg(c, val, val_len);
    ce_redis_cmd_arg(c, ms, ms_len);
  }
}

/* 1 when the script's answer says the lock was still the owner's. */
static int lock_ended(const ce_redis_reply *r) {
  if (!r)
    return 0;
  if (r->type == CE_REPLY_INTEGER)
    return r->integer > 0;
  log_error_reply("EVAL (lock end)", r);
  return 0;
}

size_t ce_cache_lock_end_many(const ce_config *cfg, const char *const *keys,
                              const size_t *key_lens, size_t n,
                              const char *owner, size_t owner_len,
                              const char *const *vals, const size_t *val_lens,
                              long linger_ms) {
  ce_redis_cmd *c = malloc(CE_CACHE_PIPELINE * sizeof *c);
  char ms[24];
  int msl = snprintf(ms, sizeof ms, "%ld", linger_ms > 0 ? linger_ms : 1);
  size_t held = 0;
  if (!c)
    return 0;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    for (size_t k = 0; k < m; k++) {
      size_t i = start + k;
      lock_end_cmd(&c[k], keys[i], key_lens[i], owner, owner_len,
                   vals ? vals[i] : NULL, vals && vals[i] ? val_lens[i] : 0, ms,
                   (size_t)msl);
    }
    ce_redis_run(cfg, c, m);
    for (size_t k = 0; k < m; k++)
      held += (size_t)lock_ended(c[k].reply);
    ce_redis_cmds_free(c, m);
  }
  free(c);
  return held;
}

size_t ce_cache_note_many(const ce_config *cfg, const char *const *keys,
                          const size_t *key_lens, size_t n,
                          const char *const *notes, const size_t *note_lens,
                          long px_ms) {
  ce_redis_cmd *c = malloc(CE_CACHE_PIPELINE * sizeof *c);
  char ms[24];
  int msl = snprintf(ms, sizeof ms, "%ld", px_ms > 0 ? px_ms : 1);
  size_t noted = 0;
  if (!c)
    return 0;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t m = n - start < CE_CACHE_PIPELINE ? n - start : CE_CACHE_PIPELINE;
    for (size_t k = 0; k < m; k++) {
      size_t i = start + k;
      cmd2(&c[k], "SET", keys[i], key_lens[i]);
      ce_redis_cmd_arg(&c[k], notes[i], note_lens[i]);
      ce_redis_cmd_arg(&c[k], "XX", 2);
      ce_redis_cmd_arg(&c[k], "PX", 2);
      ce_redis_cmd_arg(&c[k], ms, (size_t)msl);
    }
    ce_redis_run(cfg, c, m);
    for (size_t k = 0; k < m; k++) {
      const ce_redis_reply *r = c[k].reply;
      if (r && r->type == CE_REPLY_STATUS)
        noted++;
      else if (r && r->type != CE_REPLY_NIL)
        log_error_reply("SET XX (note)", r);
    }
    ce_redis_cmds_free(c, m);
  }
  free(c);
  return noted;
}

int ce_cache_set_noting(const ce_config *cfg, const char *key, size_t key_len,
                        const uint8_t *val, size_t len, long ttl,
                        const char *lock, size_t lock_len, const char *owner,
                        size_t owner_len, long linger_ms) {
  ce_redis_cmd c[2];
  char ttl_buf[24], ms[24];
  int msl = snprintf(ms, sizeof ms, "%ld", linger_ms > 0 ? linger_ms : 1);
  char *note = malloc(key_len + 2);
  int rc = -1;
  if (!note)
    return ce_cache_set(cfg, key, key_len, val, len, ttl);
  memcpy(note, "d:", 2);
  memcpy(note + 2, key, key_len);
  set_cmd(&c[0], key, key_len, val, len, ttl, ttl_buf, sizeof ttl_buf);
  lock_end_cmd(&c[1], lock, lock_len, owner, owner_len, note, key_len + 2, ms,
               (size_t)msl);
  /* One node: both in one pipeline, in order (the entry lands first). A
   * Cluster may put them on two nodes: one after the other. */
  if (strncmp(cfg->redis, "redis-cluster://", 16) != 0) {
    ce_redis_run(cfg, c, 2);
    rc = c[0].reply && c[0].reply->type == CE_REPLY_STATUS ? 0 : -1;
    if (c[0].reply && rc)
      log_error_reply("SET", c[0].reply);
    if (rc && lock_ended(c[1].reply)) { /* a note naming nothing: drop it */
      ce_redis_cmds_free(c, 2);
      ce_cache_unlock(cfg, lock, lock_len, note, key_len + 2);
      free(note);
      return rc;
    }
    lock_ended(c[1].reply);
    ce_redis_cmds_free(c, 2);
  } else {
    if (ce_redis_run(cfg, c, 1) == 1) {
      if (c[0].reply->type == CE_REPLY_STATUS)
        rc = 0;
      else
        log_error_reply("SET", c[0].reply);
    }
    ce_redis_cmds_free(c, 1);
    if (rc == 0) {
      ce_redis_run(cfg, &c[1], 1);
      lock_ended(c[1].reply);
      ce_redis_cmds_free(&c[1], 1);
    } else {
      ce_cache_unlock(cfg, lock, lock_len, owner, owner_len);
    }
  }
  free(note);
  return rc;
}

void ce_cache_shutdown(void) { ce_redis_shutdown(); }
