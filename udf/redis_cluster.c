/* Redis Cluster: which node owns a slot. The slot map comes from CLUSTER
 * SLOTS, asked of any known node (the seeds first, then every node the map
 * named); it is re-read when a MOVED reply or a failed node says it is out
 * of date, by one thread at a time and at most every REFRESH_MS — the
 * others keep routing with the map they have (a MOVED slot is patched in at
 * once). */
#include "redis_private.h"

#include "clock.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define REFRESH_MS 100

static ce_ratelimit rl = CE_RATELIMIT_INIT(5, 60);

typedef struct {
  ce_rtopo *t;
  uint16_t *slots;
  const ce_redis_host *asked;
  int bad;
} fill_ctx;

static void fill(void *ctx, int first, int last, const ce_redis_host *master) {
  fill_ctx *f = ctx;
  ce_redis_host h = *master;
  if (!h.host[0]) /* unknown endpoint: the node we asked */
    memcpy(h.host, f->asked->host, sizeof h.host);
  int node = ce_topo_node(f->t, &h);
  if (node < 0) {
    f->bad = 1;
    return;
  }
  for (int s = first; s <= last; s++)
    f->slots[s] = (uint16_t)node;
}

/* CLUSTER SLOTS from node i into `slots`; 0 or -1. */
static int load_from(ce_rtopo *t, int i, uint16_t *slots) {
  static const char *argv[] = {"CLUSTER", "SLOTS"};
  static const size_t lens[] = {7, 5};
  ce_rconn *c = ce_node_get(t, i, 0);
  if (!c)
    return -1;
  if (ce_rconn_append(c, 2, argv, lens)) {
    ce_node_put(t, c);
    return -1;
  }
  ce_rconn_exchange(&c, 1, t->timeout_ms);
  if (c->err) {
    ce_node_failed(t, c);
    return -1;
  }
  ce_redis_host asked = t->nodes[i]->addr;
  fill_ctx f = {t, slots, &asked, 0};
  memset(slots, 0xff, CE_REDIS_SLOTS * sizeof *slots);
  int n = ce_reply_slots(c->rep[0], fill, &f);
  if (n <= 0 || f.bad)
    ce_log_limited(&rl, "cluster slots", "redis cluster: node %s:%d %s",
                   asked.host, asked.port,
                   c->rep[0]->type == CE_REPLY_ERROR
                       ? c->rep[0]->str
                       : "sent no usable slot map");
  ce_node_put(t, c);
  return n > 0 && !f.bad ? 0 : -1;
}

static void reload(ce_rtopo *t) {
  uint16_t *slots = malloc(CE_REDIS_SLOTS * sizeof *slots);
  int loaded = 0;
  if (!slots)
    return;
  pthread_mutex_lock(&t->mu);
  int n = t->n_nodes;
  pthread_mutex_unlock(&t->mu);
  for (int i = 0; i < n && !loaded; i++)
    loaded = !ce_node_is_down(t, i) && load_from(t, i, slots) == 0;
  pthread_mutex_lock(&t->mu);
  if (loaded) {
    memcpy(t->slots, slots, CE_REDIS_SLOTS * sizeof *slots);
    t->map_ok = 1;
    t->map_stale = 0;
  }
  t->map_ms = ce_mono_ms();
  pthread_mutex_unlock(&t->mu);
  free(slots);
}

void ce_cluster_refresh(ce_rtopo *t, int force) {
  pthread_mutex_lock(&t->mu);
  int due = force ? !t->map_ok : t->map_stale;
  due =
      due && ce_mono_ms() - t->map_ms >= (force && !t->map_ok ? 0 : REFRESH_MS);
  pthread_mutex_unlock(&t->mu);
  if (!due)
    return;
  if (force)
    pthread_mutex_lock(&t->refresh_mu); /* no map yet: wait for it */
  else if (pthread_mutex_trylock(&t->refresh_mu))
    return; /* another thread is at it */
  pthread_mutex_lock(&t->mu);
  due = force ? !t->map_ok : t->map_stale;
  pthread_mutex_unlock(&t->mu);
  if (due)
    reload(t);
  pthread_mutex_unlock(&t->refresh_mu);
}

int ce_cluster_node(ce_rtopo *t, int slot) {
  pthread_mutex_lock(&t->mu);
  int ok = t->map_ok, node = t->slots[slot];
  pthread_mutex_unlock(&t->mu);
  if (!ok) {
    ce_cluster_refresh(t, 1);
    pthread_mutex_lock(&t->mu);
    node = t->map_ok ? t->slots[slot] : 0xffff;
    pthread_mutex_unlock(&t->mu);
  }
  return node == 0xffff ? -1 : node;
}

void ce_cluster_moved(ce_rtopo *t, int slot, int node) {
  pthread_mutex_lock(&t->mu);
  t->slots[slot] = (uint16_t)node;
  t->map_stale = 1;
  pthread_mutex_unlock(&t->mu);
}

void ce_cluster_stale(ce_rtopo *t) {
  pthread_mutex_lock(&t->mu);
  t->map_stale = 1;
  pthread_mutex_unlock(&t->mu);
}
