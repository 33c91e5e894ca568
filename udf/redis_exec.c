/* ce_redis_run: sends commands to the nodes that own their keys, pipelined
 * per node, all nodes at once, and follows what the answers say: MOVED (the
 * slot map changed), ASK (a slot is migrating), READONLY (the sentinel's
 * master was demoted), a dead pooled connection (retried once on a fresh
 * one). At most MAX_ROUNDS rounds, each bounded by redis_timeout_ms. */
#include "redis_private.h"

#include "stats.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 5

typedef struct {
  int node; /* this round's target, -1 when it cannot be asked */
  int ask;  /* node named by -ASK, or -1 */
  int done;
} job;

typedef struct {
  ce_rtopo *t;
  ce_redis_cmd *cmds;
  job *jobs;
  size_t n, *order;
  int span; /* nodes 0..span-1 have jobs this round */
  ce_rconn *conn[CE_REDIS_MAX_NODES];
  size_t first[CE_REDIS_MAX_NODES + 1]; /* jobs of node i: order[first[i]..] */
  unsigned char fresh_only[CE_REDIS_MAX_NODES];
  int need_refresh;
} run;

void ce_redis_cmd_init(ce_redis_cmd *c, const char *key, size_t key_len) {
  memset(c, 0, sizeof *c);
  c->key = key;
  c->key_len = key_len;
}

void ce_redis_cmd_arg(ce_redis_cmd *c, const void *arg, size_t len) {
  if (c->argc < CE_REDIS_MAX_ARGS) {
    c->argv[c->argc] = arg;
    c->argv_len[c->argc++] = len;
  }
}

void ce_redis_cmds_free(ce_redis_cmd *cmds, size_t n) {
  for (size_t i = 0; i < n; i++) {
    ce_reply_free(cmds[i].reply);
    cmds[i].reply = NULL;
  }
}

/* The node a command goes to this round. */
static int route(run *r, size_t i) {
  ce_rtopo *t = r->t;
  if (r->jobs[i].ask >= 0)
    return r->jobs[i].ask;
  switch (t->url.mode) {
  case CE_REDIS_SENTINEL:
    return ce_sentinel_master(t);
  case CE_REDIS_CLUSTER:
    return ce_cluster_node(
        t, r->cmds[i].key
               ? ce_redis_key_slot(r->cmds[i].key, r->cmds[i].key_len)
               : 0);
  default:
    return 0;
  }
}

/* Routes the pending jobs and groups them by node (a counting sort into
 * r->order); returns how many are pending. */
static size_t group(run *r) {
  size_t count[CE_REDIS_MAX_NODES + 1], pending = 0;
  int span = 0;
  for (size_t i = 0; i < r->n; i++) {
    job *j = &r->jobs[i];
    if (j->done)
      continue;
    j->node = route(r, i);
    if (j->node < 0 || j->node >= CE_REDIS_MAX_NODES)
      j->done = 1; /* no node to ask: unanswered */
    else if (j->node >= span)
      span = j->node + 1;
  }
  memset(count, 0, (size_t)(span + 1) * sizeof count[0]);
  for (size_t i = 0; i < r->n; i++)
    if (!r->jobs[i].done) {
      count[r->jobs[i].node + 1]++;
      pending++;
    }
  r->span = span;
  r->first[0] = 0;
  for (int k = 0; k < span; k++)
    r->first[k + 1] = r->first[k] + count[k + 1];
  size_t at[CE_REDIS_MAX_NODES];
  memcpy(at, r->first, (size_t)span * sizeof at[0]);
  for (size_t i = 0; i < r->n; i++)
    if (!r->jobs[i].done)
      r->order[at[r->jobs[i].node]++] = i;
  return pending;
}

static void fail_node_jobs(run *r, int node) {
  for (size_t k = r->first[node]; k < r->first[node + 1]; k++)
    r->jobs[r->order[k]].done = 1;
}

/* Takes a connection per node and queues its commands. */
static void send_all(run *r) {
  static const char *asking[] = {"ASKING"};
  static const size_t asking_len[] = {6};
  for (int node = 0; node < r->span; node++) {
    r->conn[node] = NULL;
    if (r->first[node] == r->first[node + 1])
      continue;
    ce_rconn *c = ce_node_get(r->t, node, r->fresh_only[node]);
    if (!c) {
      r->need_refresh = 1;
      fail_node_jobs(r, node);
      continue;
    }
    for (size_t k = r->first[node]; k < r->first[node + 1] && !c->err; k++) {
      size_t i = r->order[k];
      if ((r->jobs[i].ask >= 0 && ce_rconn_append(c, 1, asking, asking_len)) ||
          ce_rconn_append(c, r->cmds[i].argc, r->cmds[i].argv,
                          r->cmds[i].argv_len))
        c->err = CE_RERR_OOM;
    }
    r->conn[node] = c;
  }
}

/* One reply for job i from `node`: taken, or the job goes round again. */
static void answer(run *r, int node, size_t i, ce_redis_reply **slot) {
  job *j = &r->jobs[i];
  ce_redis_reply *rep = *slot;
  ce_redis_host to;
  int ask, s;
  if (ce_reply_redirect(rep, &ask, &s, &to) == 0 &&
      r->t->url.mode == CE_REDIS_CLUSTER) {
    if (!to.host[0]) /* "MOVED 12 :7001": the host we asked */
      memcpy(to.host, r->t->nodes[node]->addr.host, sizeof to.host);
    int target = ce_topo_node(r->t, &to);
    j->ask = ask ? target : -1;
    if (!ask && target >= 0)
      ce_cluster_moved(r->t, s, target);
    return;
  }
  if (ce_reply_error_is(rep, "READONLY") &&
      r->t->url.mode == CE_REDIS_SENTINEL) {
    ce_sentinel_forget(r->t, node);
    return;
  }
  r->cmds[i].reply = rep;
  *slot = NULL;
  j->done = 1;
  j->ask = -1;
}

static void read_node(run *r, int node) {
  ce_rconn *c = r->conn[node];
  if (c->err) {
    if (ce_node_failed(r->t, c) && !r->fresh_only[node])
      r->fresh_only[node] = 1; /* jobs stay pending: next round, new conn */
    else {
      fail_node_jobs(r, node);
      r->need_refresh = 1;
    }
    return;
  }
  size_t at = 0;
  for (size_t k = r->first[node]; k < r->first[node + 1]; k++) {
    size_t i = r->order[k];
    if (r->jobs[i].ask >= 0)
      at++; /* ASKING's +OK */
    answer(r, node, i, &c->rep[at++]);
  }
  ce_node_put(r->t, c);
}

static void round_trip(run *r) {
  ce_rconn *live[CE_REDIS_MAX_NODES];
  size_t k = 0;
  send_all(r);
  for (int node = 0; node < r->span; node++)
    if (r->conn[node])
      live[k++] = r->conn[node];
  ce_rconn_exchange(live, k, r->t->timeout_ms);
  for (int node = 0; node < r->span; node++)
    if (r->conn[node])
      read_node(r, node);
}

#define SMALL 8 /* a row's commands: no allocation */

size_t ce_redis_run(const ce_config *cfg, ce_redis_cmd *cmds, size_t n) {
  run r;
  job jobs_small[SMALL];
  size_t order_small[SMALL], answered = 0;
  for (size_t i = 0; i < n; i++)
    cmds[i].reply = NULL;
  if (!n)
    return 0;
  r.cmds = cmds;
  r.n = n;
  r.need_refresh = 0;
  r.jobs = n <= SMALL ? jobs_small : malloc(n * sizeof *r.jobs);
  r.order = n <= SMALL ? order_small : malloc(n * sizeof *r.order);
  memset(r.fresh_only, 0, sizeof r.fresh_only);
  if (!r.jobs || !r.order || !(r.t = ce_topo_acquire(cfg)))
    goto out;
  for (size_t i = 0; i < n; i++)
    r.jobs[i] = (job){-1, -1, 0};
  for (int round = 0; round < MAX_ROUNDS && group(&r); round++) {
    round_trip(&r);
    if (r.t->url.mode != CE_REDIS_CLUSTER)
      continue;
    if (r.need_refresh)
      ce_cluster_stale(r.t);
    r.need_refresh = 0;
    ce_cluster_refresh(r.t, 0);
  }
  ce_topo_release(r.t);
out:
  for (size_t i = 0; i < n; i++)
    answered += cmds[i].reply != NULL;
  if (answered < n)
    ce_stat_add(CE_STAT_CACHE_ERRORS, 1);
  if (r.jobs != jobs_small)
    free(r.jobs);
  if (r.order != order_small)
    free(r.order);
  return answered;
}

void ce_redis_shutdown(void) {
  ce_topo_shutdown();
  ce_tls_shutdown();
}
