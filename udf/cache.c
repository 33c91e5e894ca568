#include "cache.h"

#include "clock.h"
#include "log.h"
#include "redis_url.h"
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ce_redis_conn {
  redisContext *ctx;
  char url[sizeof(((ce_config *)0)->redis)];
  long timeout_ms;
  int reused; /* came from the pool: may have died while idle */
  struct ce_redis_conn *next;
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static ce_redis_conn *pool_head;
static int pool_idle;
static long long down_until_ms; /* monotonic; Redis skipped until then */
static ce_ratelimit redis_rl = CE_RATELIMIT_INIT(5, 60);

static void mark_down(void) {
  pthread_mutex_lock(&pool_mu);
  down_until_ms = ce_mono_ms() + CE_REDIS_BACKOFF_MS;
  pthread_mutex_unlock(&pool_mu);
}

static void conn_free(ce_redis_conn *c) {
  if (c->ctx)
    redisFree(c->ctx);
  free(c);
}

/* Runs one command during setup (AUTH, SELECT); 0 when the reply is OK. */
static int setup_cmd(redisContext *ctx, const char *what, redisReply *r) {
  int ok = r && r->type != REDIS_REPLY_ERROR;
  if (!ok)
    ce_log_limited(&redis_rl, NULL, "redis %s failed: %.100s", what,
                   r && r->str ? r->str : ctx->errstr);
  if (r)
    freeReplyObject(r);
  return ok ? 0 : -1;
}

static ce_redis_conn *conn_open(const ce_config *cfg) {
  ce_redis_url u;
  char why[128];
  struct timeval tv = {cfg->redis_timeout_ms / 1000,
                       (cfg->redis_timeout_ms % 1000) * 1000};
  redisContext *ctx;

  if (ce_redis_url_parse(cfg->redis, &u, why, sizeof why)) {
    ce_log_limited(&redis_rl, NULL, "redis url: %s", why);
    return NULL;
  }
  ctx = u.is_unix ? redisConnectUnixWithTimeout(u.path, tv)
                  : redisConnectWithTimeout(u.host, u.port, tv);
  if (!ctx || ctx->err) {
    ce_log_limited(&redis_rl, NULL, "redis connect to %s failed: %.100s",
                   u.is_unix ? u.path : u.host,
                   ctx ? ctx->errstr : "out of memory");
    if (ctx)
      redisFree(ctx);
    return NULL;
  }
  if (redisSetTimeout(ctx, tv) != REDIS_OK ||
      (u.password[0] &&
       setup_cmd(ctx, "AUTH",
                 u.user[0] ? redisCommand(ctx, "AUTH %s %s", u.user, u.password)
                           : redisCommand(ctx, "AUTH %s", u.password))) ||
      (u.db && setup_cmd(ctx, "SELECT", redisCommand(ctx, "SELECT %d", u.db)))) {
    redisFree(ctx);
    return NULL;
  }
  ce_redis_conn *c = calloc(1, sizeof *c);
  if (!c) {
    redisFree(ctx);
    return NULL;
  }
  c->ctx = ctx;
  strcpy(c->url, cfg->redis);
  c->timeout_ms = cfg->redis_timeout_ms;
  return c;
}

ce_redis_conn *ce_redis_acquire(const ce_config *cfg) {
  ce_redis_conn *c = NULL, *stale = NULL;

  pthread_mutex_lock(&pool_mu);
  if (ce_mono_ms() < down_until_ms) {
    pthread_mutex_unlock(&pool_mu);
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
    return NULL;
  }
  while (pool_head) {
    c = pool_head;
    pool_head = c->next;
    pool_idle--;
    if (!strcmp(c->url, cfg->redis) && c->timeout_ms == cfg->redis_timeout_ms) {
      c->reused = 1;
      break;
    }
    c->next = stale; /* settings changed: close outside the lock */
    stale = c;
    c = NULL;
  }
  pthread_mutex_unlock(&pool_mu);

  while (stale) {
    ce_redis_conn *next = stale->next;
    conn_free(stale);
    stale = next;
  }
  if (!c) {
    c = conn_open(cfg);
    if (!c) {
      ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
      mark_down();
    }
  }
  return c;
}

void ce_redis_release(ce_redis_conn *c, int failed) {
  if (!c)
    return;
  if (failed || c->ctx->err) {
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
    ce_log_limited(&redis_rl, NULL, "redis command failed: %.100s",
                   c->ctx->err ? c->ctx->errstr : "unexpected reply");
    conn_free(c);
    mark_down();
    return;
  }
  pthread_mutex_lock(&pool_mu);
  if (pool_idle < CE_REDIS_POOL_MAX) {
    c->next = pool_head;
    pool_head = c;
    pool_idle++;
    c = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  if (c)
    conn_free(c);
}

redisContext *ce_redis_context(ce_redis_conn *c) { return c->ctx; }

/* Closes every idle connection: when one pooled connection turned out dead
 * (restart, CLIENT KILL, idle timeout), its siblings most likely are too. */
static void pool_drop_idle(void) {
  pthread_mutex_lock(&pool_mu);
  ce_redis_conn *c = pool_head;
  pool_head = NULL;
  pool_idle = 0;
  pthread_mutex_unlock(&pool_mu);
  while (c) {
    ce_redis_conn *next = c->next;
    conn_free(c);
    c = next;
  }
}

/* A command on *c failed. A pooled connection may simply have died while
 * idle: it is replaced by a fresh one and the caller retries (returns 0).
 * A failure on a fresh connection means Redis is unavailable: the
 * connection is released as failed, which starts the skip window (-1). */
static int retry_fresh(const ce_config *cfg, ce_redis_conn **c) {
  /* A timeout is a slow Redis, not a dead connection: no second wait. */
  int timed_out = (*c)->ctx->err == REDIS_ERR_IO &&
                  !strcmp((*c)->ctx->errstr, strerror(EAGAIN));
  if (!(*c)->reused || timed_out) {
    ce_redis_release(*c, 1);
    *c = NULL;
    return -1;
  }
  conn_free(*c);
  pool_drop_idle();
  *c = conn_open(cfg);
  if (!*c) {
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
    mark_down();
    return -1;
  }
  return 0;
}

/* Sends GET (+ PTTL) and reads the replies; 0, or -1 if the connection
 * failed (nothing allocated then). */
static int get_round_trip(ce_redis_conn *c, const char *key, size_t key_len,
                          int want_ttl, redisReply **get, redisReply **ttl) {
  *get = *ttl = NULL;
  if (redisAppendCommand(c->ctx, "GET %b", key, key_len) != REDIS_OK ||
      (want_ttl &&
       redisAppendCommand(c->ctx, "PTTL %b", key, key_len) != REDIS_OK) ||
      redisGetReply(c->ctx, (void **)get) != REDIS_OK ||
      (want_ttl && redisGetReply(c->ctx, (void **)ttl) != REDIS_OK)) {
    if (*get)
      freeReplyObject(*get);
    *get = NULL;
    return -1;
  }
  return 0;
}

ce_cache_result ce_cache_get(const ce_config *cfg, const char *key,
                             size_t key_len, int want_ttl,
                             int (*accept)(void *ctx, const uint8_t *val,
                                           size_t len, long long pttl_ms),
                             void *ctx) {
  ce_redis_conn *c = ce_redis_acquire(cfg);
  redisReply *get, *ttl;
  ce_cache_result res;
  if (!c)
    return CE_CACHE_ERROR;
  while (get_round_trip(c, key, key_len, want_ttl, &get, &ttl))
    if (retry_fresh(cfg, &c))
      return CE_CACHE_ERROR;
  if (get->type == REDIS_REPLY_STRING)
    res = accept(ctx, (const uint8_t *)get->str, get->len,
                 ttl && ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2)
              ? CE_CACHE_MISS
              : CE_CACHE_HIT;
  else if (get->type == REDIS_REPLY_NIL)
    res = CE_CACHE_MISS;
  else
    res = CE_CACHE_ERROR; /* e.g. WRONGTYPE: not fatal to the connection */
  freeReplyObject(get);
  if (ttl)
    freeReplyObject(ttl);
  if (res == CE_CACHE_ERROR)
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
  ce_redis_release(c, 0);
  return res;
}

/* One pipelined chunk of GET + PTTL, keys [start, end); 0 or -1 (connection
 * failed; keys already reported stay reported). */
static int mget_chunk(ce_redis_conn *c, const char *const *keys,
                      const size_t *key_lens, size_t start, size_t end,
                      void (*each)(void *ctx, size_t i, const uint8_t *val,
                                   size_t len, long long pttl_ms),
                      void *ctx) {
  for (size_t i = start; i < end; i++)
    if (redisAppendCommand(c->ctx, "GET %b", keys[i], key_lens[i]) != REDIS_OK ||
        redisAppendCommand(c->ctx, "PTTL %b", keys[i], key_lens[i]) != REDIS_OK)
      return -1;
  for (size_t i = start; i < end; i++) {
    redisReply *get = NULL, *ttl = NULL;
    if (redisGetReply(c->ctx, (void **)&get) != REDIS_OK ||
        redisGetReply(c->ctx, (void **)&ttl) != REDIS_OK) {
      if (get)
        freeReplyObject(get);
      return -1;
    }
    if (get->type == REDIS_REPLY_STRING)
      each(ctx, i, (const uint8_t *)get->str, get->len,
           ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2);
    else
      each(ctx, i, NULL, 0, -2);
    freeReplyObject(get);
    freeReplyObject(ttl);
  }
  return 0;
}

int ce_cache_mget(const ce_config *cfg, const char *const *keys,
                  const size_t *key_lens, size_t n,
                  void (*each)(void *ctx, size_t i, const uint8_t *val,
                               size_t len, long long pttl_ms),
                  void *ctx) {
  ce_redis_conn *c = ce_redis_acquire(cfg);
  if (!c)
    return -1;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t end = start + CE_CACHE_PIPELINE < n ? start + CE_CACHE_PIPELINE : n;
    while (mget_chunk(c, keys, key_lens, start, end, each, ctx))
      if (retry_fresh(cfg, &c))
        return -1;
    c->reused = 0; /* it answered: a later failure is Redis, not a corpse */
  }
  ce_redis_release(c, 0);
  return 0;
}

/* One pipelined chunk of SET, keys [start, end); 0 or -1. */
static int mset_chunk(ce_redis_conn *c, const char *const *keys,
                      const size_t *key_lens, const uint8_t *const *vals,
                      const size_t *val_lens, size_t start, size_t end,
                      long ttl, uint8_t *ok) {
  for (size_t i = start; i < end; i++) {
    int rc = ttl > 0 ? redisAppendCommand(c->ctx, "SET %b %b EX %ld", keys[i],
                                          key_lens[i], vals[i], val_lens[i], ttl)
                     : redisAppendCommand(c->ctx, "SET %b %b", keys[i],
                                          key_lens[i], vals[i], val_lens[i]);
    if (rc != REDIS_OK)
      return -1;
  }
  for (size_t i = start; i < end; i++) {
    redisReply *r = NULL;
    if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
      return -1;
    ok[i] = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  return 0;
}

size_t ce_cache_mset(const ce_config *cfg, const char *const *keys,
                     const size_t *key_lens, const uint8_t *const *vals,
                     const size_t *val_lens, size_t n, long ttl,
                     uint8_t *ok) {
  size_t stored = 0;
  memset(ok, 0, n);
  ce_redis_conn *c = ce_redis_acquire(cfg);
  if (!c)
    return 0;
  for (size_t start = 0; start < n; start += CE_CACHE_PIPELINE) {
    size_t end = start + CE_CACHE_PIPELINE < n ? start + CE_CACHE_PIPELINE : n;
    while (mset_chunk(c, keys, key_lens, vals, val_lens, start, end, ttl, ok)) {
      memset(ok + start, 0, end - start);
      if (retry_fresh(cfg, &c))
        return stored;
    }
    c->reused = 0;
    for (size_t i = start; i < end; i++)
      stored += ok[i];
  }
  ce_redis_release(c, 0);
  return stored;
}

int ce_cache_set(const ce_config *cfg, const char *key, size_t key_len,
                 const uint8_t *val, size_t len, long ttl) {
  ce_redis_conn *c = ce_redis_acquire(cfg);
  redisReply *r;
  if (!c)
    return -1;
  for (;;) {
    if (ttl > 0)
      r = redisCommand(c->ctx, "SET %b %b EX %ld", key, key_len, val, len, ttl);
    else
      r = redisCommand(c->ctx, "SET %b %b", key, key_len, val, len);
    if (r)
      break;
    if (retry_fresh(cfg, &c))
      return -1;
  }
  int ok = r->type == REDIS_REPLY_STATUS;
  if (!ok) {
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
    ce_log_limited(&redis_rl, NULL, "redis SET failed: %.100s",
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
  }
  freeReplyObject(r);
  ce_redis_release(c, 0);
  return ok ? 0 : -1;
}

void ce_cache_shutdown(void) { pool_drop_idle(); }
