#include "cache.h"

#include "clock.h"
#include "log.h"
#include "redis_url.h"
#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ce_redis_conn {
  redisContext *ctx;
  char url[sizeof(((ce_config *)0)->redis)];
  long timeout_ms;
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
    if (!strcmp(c->url, cfg->redis) && c->timeout_ms == cfg->redis_timeout_ms)
      break;
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

ce_cache_result ce_cache_get(const ce_config *cfg, const char *key,
                             size_t key_len, int want_ttl,
                             int (*accept)(void *ctx, const uint8_t *val,
                                           size_t len, long long pttl_ms),
                             void *ctx) {
  ce_redis_conn *c = ce_redis_acquire(cfg);
  redisReply *get = NULL, *ttl = NULL;
  ce_cache_result res;
  if (!c)
    return CE_CACHE_ERROR;
  if (redisAppendCommand(c->ctx, "GET %b", key, key_len) != REDIS_OK ||
      (want_ttl &&
       redisAppendCommand(c->ctx, "PTTL %b", key, key_len) != REDIS_OK) ||
      redisGetReply(c->ctx, (void **)&get) != REDIS_OK ||
      (want_ttl && redisGetReply(c->ctx, (void **)&ttl) != REDIS_OK)) {
    if (get)
      freeReplyObject(get);
    ce_redis_release(c, 1);
    return CE_CACHE_ERROR;
  }
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
    for (size_t i = start; i < end; i++)
      if (redisAppendCommand(c->ctx, "GET %b", keys[i], key_lens[i]) != REDIS_OK ||
          redisAppendCommand(c->ctx, "PTTL %b", keys[i], key_lens[i]) != REDIS_OK) {
        ce_redis_release(c, 1);
        return -1;
      }
    for (size_t i = start; i < end; i++) {
      redisReply *get = NULL, *ttl = NULL;
      if (redisGetReply(c->ctx, (void **)&get) != REDIS_OK ||
          redisGetReply(c->ctx, (void **)&ttl) != REDIS_OK) {
        if (get)
          freeReplyObject(get);
        ce_redis_release(c, 1);
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
  }
  ce_redis_release(c, 0);
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
    for (size_t i = start; i < end; i++) {
      int rc = ttl > 0 ? redisAppendCommand(c->ctx, "SET %b %b EX %ld", keys[i],
                                            key_lens[i], vals[i], val_lens[i], ttl)
                       : redisAppendCommand(c->ctx, "SET %b %b", keys[i],
                                            key_lens[i], vals[i], val_lens[i]);
      if (rc != REDIS_OK) {
        ce_redis_release(c, 1);
        return stored;
      }
    }
    for (size_t i = start; i < end; i++) {
      redisReply *r = NULL;
      if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK) {
        ce_redis_release(c, 1);
        return stored;
      }
      if (r->type == REDIS_REPLY_STATUS) {
        ok[i] = 1;
        stored++;
      }
      freeReplyObject(r);
    }
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
  if (ttl > 0)
    r = redisCommand(c->ctx, "SET %b %b EX %ld", key, key_len, val, len, ttl);
  else
    r = redisCommand(c->ctx, "SET %b %b", key, key_len, val, len);
  if (!r) {
    ce_redis_release(c, 1);
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

void ce_cache_shutdown(void) {
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
