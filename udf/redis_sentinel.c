/* Redis Sentinel: which node is the master. The sentinels named in the URL
 * are asked in turn (SENTINEL get-master-addr-by-name) when the master is
 * unknown: at first use, after a connection to it failed, after it answered
 * READONLY, or when a new connection's ROLE check found a replica. Data
 * connections check ROLE themselves (redis_pool.c), so a sentinel that has
 * not yet noticed a fail-over cannot send writes to a replica. */
#include "redis_private.h"

#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#define ASK_AGAIN_MS 100 /* when no sentinel answered */

static ce_ratelimit rl = CE_RATELIMIT_INIT(5, 60);

/* Asks one sentinel; 0 with the master's address, or -1 with a message.
 * AUTH (the URL's credentials) only when the sentinel asks for it. */
static int ask_one(ce_rtopo *t, const ce_redis_host *sentinel,
                   ce_redis_host *master, char *err, size_t errlen) {
  const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", t->url.master};
  size_t lens[3] = {8, 23, strlen(t->url.master)};
  ce_rconn *c = ce_topo_dial(t, sentinel, 0, err, errlen);
  int rc = -1;
  if (!c)
    return -1;
  for (int attempt = 0; attempt < 2 && rc; attempt++) {
    if (ce_rconn_append(c, 3, argv, lens)) {
      snprintf(err, errlen, "out of memory");
      break;
    }
    ce_rconn_exchange(&c, 1, t->timeout_ms);
    if (c->err) {
      snprintf(err, errlen, "%s", c->errstr);
      break;
    }
    const ce_redis_reply *r = c->rep[0];
    if (ce_reply_master_addr(r, master) == 0)
      rc = 0;
    else if (ce_reply_error_is(r, "NOAUTH") && !attempt) {
      ce_rconn_reset(c);
      if (ce_rconn_setup(c, t->url.user, t->password, t->has_password, 0, 0,
                         t->timeout_ms, err, errlen))
        break;
      continue;
    } else
      snprintf(err, errlen, "%s",
               r->type == CE_REPLY_NIL ? "master name unknown to the sentinel"
               : r->type == CE_REPLY_ERROR ? r->str
                                           : "unexpected reply");
    ce_rconn_reset(c);
  }
  ce_rconn_close(c);
  return rc;
}

static int discover(ce_rtopo *t) {
  char err[200] = "no sentinel configured";
  ce_redis_host m;
  for (size_t i = 0; i < t->url.n_hosts; i++)
    if (ask_one(t, &t->url.hosts[i], &m, err, sizeof err) == 0) {
      int node = ce_topo_node(t, &m);
      if (node >= 0)
        ce_log_limited(&rl, "sentinel master",
                       "redis sentinel: master %s is "
                       "at %s:%d",
                       t->url.master, m.host, m.port);
      return node;
    }
  ce_log_limited(&rl, "sentinel down",
                 "redis sentinel: no sentinel named "
                 "master %s: %s",
                 t->url.master, err);
  return -1;
}

int ce_sentinel_master(ce_rtopo *t) {
  pthread_mutex_lock(&t->mu);
  int m = t->master;
  pthread_mutex_unlock(&t->mu);
  if (m >= 0)
    return m;
  pthread_mutex_lock(&t->refresh_mu); /* one asks, the others wait for it */
  pthread_mutex_lock(&t->mu);
  m = t->master;
  long long asked = t->map_ms;
  pthread_mutex_unlock(&t->mu);
  if (m < 0 && ce_mono_ms() - asked >= ASK_AGAIN_MS) {
    m = discover(t);
    pthread_mutex_lock(&t->mu);
    t->master = m;
    t->map_ms = ce_mono_ms();
    pthread_mutex_unlock(&t->mu);
  }
  pthread_mutex_unlock(&t->refresh_mu);
  return m;
}

void ce_sentinel_forget(ce_rtopo *t, int node) {
  pthread_mutex_lock(&t->mu);
  if (t->master == node) {
    t->master = -1;
    t->map_ms = 0; /* ask at once */
  }
  pthread_mutex_unlock(&t->mu);
}
