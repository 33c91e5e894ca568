/* Topologies, nodes and their pools. A topology is what one value of the
 * Redis settings describes (the URL, TLS files, password file, timeout):
 * its nodes (the server, the discovered master, or the cluster's nodes),
 * each node's idle connections and skip window, the cluster slot map and
 * the sentinel's answer. A few are kept (settings change while statements
 * holding the old ones run); one that cannot work (bad URL, unreadable
 * file) is remembered as disabled, logged once, and re-checked every few
 * seconds and whenever its files change. */
#include "redis_private.h"

#include "clock.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOPOS 4
#define DISABLED_RECHECK_MS 5000
#define FILES_RECHECK_MS 1000
#define NODE_LOG_EVERY_MS 60000

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static ce_rtopo *reg[MAX_TOPOS];

/* ---- the settings a topology is built from ---- */

static void keep_settings(ce_rtopo *t, const ce_config *cfg) {
  memcpy(t->redis, cfg->redis, sizeof t->redis);
  memcpy(t->ca_file, cfg->redis_tls_ca_file, sizeof t->ca_file);
  memcpy(t->cert_file, cfg->redis_tls_cert_file, sizeof t->cert_file);
  memcpy(t->key_file, cfg->redis_tls_key_file, sizeof t->key_file);
  memcpy(t->server_name, cfg->redis_tls_server_name, sizeof t->server_name);
  memcpy(t->password_file, cfg->redis_password_file, sizeof t->password_file);
  t->tls_on = cfg->redis_tls;
  t->timeout_ms = cfg->redis_timeout_ms;
}

static int same_settings(const ce_rtopo *t, const ce_config *cfg) {
  return t->tls_on == cfg->redis_tls &&
         t->timeout_ms == cfg->redis_timeout_ms &&
         !strcmp(t->redis, cfg->redis) &&
         !strcmp(t->ca_file, cfg->redis_tls_ca_file) &&
         !strcmp(t->cert_file, cfg->redis_tls_cert_file) &&
         !strcmp(t->key_file, cfg->redis_tls_key_file) &&
         !strcmp(t->server_name, cfg->redis_tls_server_name) &&
         !strcmp(t->password_file, cfg->redis_password_file);
}

/* Changes when any of the files the topology read changes. */
static uint64_t files_stamp(const ce_config *cfg) {
  const char *files[] = {cfg->redis_password_file, cfg->redis_tls_ca_file,
                         cfg->redis_tls_cert_file, cfg->redis_tls_key_file};
  uint64_t h = CE_FNV1A_OFFSET;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct stat st;
    if (!files[i][0])
      continue;
    if (stat(files[i], &st)) {
      h = ce_fnv1a_u64(h, (uint64_t)errno);
      continue;
    }
    h = ce_fnv1a_u64(h, (uint64_t)st.st_ino);
    h = ce_fnv1a_u64(h, (uint64_t)st.st_size);
    h = ce_fnv1a_u64(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
                            (uint64_t)st.st_mtim.tv_nsec);
  }
  return h;
}

/* ---- building ---- */

static int read_password_file(const char *path, char *out, size_t cap,
                              char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) {
    snprintf(err, errlen, "cannot read redis_password_file %.200s: %s", path,
             strerror(errno));
    return -1;
  }
  n = read(fd, out, cap);
  close(fd);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    n--;
  if (n <= 0 || (size_t)n >= cap || memchr(out, '\0', (size_t)n)) {
    snprintf(err, errlen,
             "redis_password_file %.200s: expected one line of "
             "1..%zu bytes",
             path, cap - 1);
    return -1;
  }
  out[n] = '\0';
  return 0;
}

static int add_node(ce_rtopo *t, const ce_redis_host *h) {
  if (t->n_nodes == CE_REDIS_MAX_NODES)
    return -1;
  ce_rnode *n = calloc(1, sizeof *n);
  if (!n)
    return -1;
  n->addr = *h;
  t->nodes[t->n_nodes] = n;
  return t->n_nodes++;
}

/* The parts that can fail: URL, password, TLS, first nodes. */
static int topo_setup(ce_rtopo *t, const ce_config *cfg) {
  char why[160];
  if (ce_redis_url_parse(cfg->redis, &t->url, why, sizeof why)) {
    snprintf(t->why, sizeof t->why, "the redis setting is not usable: %s", why);
    return -1;
  }
  memcpy(t->password, t->url.password, sizeof t->password);
  t->has_password = t->url.has_password;
  if (cfg->redis_password_file[0]) {
    if (read_password_file(cfg->redis_password_file, t->password,
                           sizeof t->password, t->why, sizeof t->why))
      return -1;
    t->has_password = 1;
  }
  if ((t->url.tls || cfg->redis_tls) && !t->url.is_unix &&
      !(t->tls = ce_tls_context(cfg, t->why, sizeof t->why)))
    return -1;
  snprintf(t->tls_name, sizeof t->tls_name, "%s", cfg->redis_tls_server_name);
  if (t->url.mode == CE_REDIS_CLUSTER) {
    t->slots = malloc(CE_REDIS_SLOTS * sizeof *t->slots);
    if (!t->slots) {
      snprintf(t->why, sizeof t->why, "out of memory");
      return -1;
    }
    memset(t->slots, 0xff, CE_REDIS_SLOTS * sizeof *t->slots);
  }
  if (t->url.mode == CE_REDIS_SENTINEL)
    return 0; /* the master is found later */
  ce_redis_host unix_node = {"", 0};
  for (size_t i = 0; i < (t->url.is_unix ? 1 : t->url.n_hosts); i++)
    if (add_node(t, t->url.is_unix ? &unix_node : &t->url.hosts[i]) < 0) {
      snprintf(t->why, sizeof t->why, "out of memory");
      return -1;
    }
  return 0;
}

static void topo_free(ce_rtopo *t) {
  for (int i = 0; i < t->n_nodes; i++) {
    ce_rconn *c = t->nodes[i]->idle;
    while (c) {
      ce_rconn *next = c->next;
      ce_rconn_close(c);
      c = next;
    }
    free(t->nodes[i]);
  }
  if (t->tls)
    SSL_CTX_free(t->tls);
  free(t->slots);
  pthread_mutex_destroy(&t->mu);
  pthread_mutex_destroy(&t->refresh_mu);
  memset(t->password, 0, sizeof t->password);
  memset(t->url.password, 0, sizeof t->url.password);
  memset(t->redis, 0, sizeof t->redis);
  free(t);
}

static ce_rtopo *topo_build(const ce_config *cfg, const char *prev_why) {
  ce_rtopo *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  pthread_mutex_init(&t->mu, NULL);
  pthread_mutex_init(&t->refresh_mu, NULL);
  keep_settings(t, cfg);
  t->registered = 1;
  t->master = -1;
  t->files_stamp = files_stamp(cfg);
  t->files_checked_ms = ce_mono_ms();
  if (topo_setup(t, cfg)) {
    t->disabled = 1;
    t->retry_ms = ce_mono_ms() + DISABLED_RECHECK_MS;
    if (!prev_why || strcmp(prev_why, t->why))
      ce_log("redis: %s; the Redis cache is off until this is fixed (rows go "
             "to the provider)",
             t->why);
  }
  return t;
}

/* ---- the registry ---- */

static int stale(ce_rtopo *t, const ce_config *cfg, long long now) {
  if (t->disabled && now >= t->retry_ms)
    return 1;
  if (now - t->files_checked_ms < FILES_RECHECK_MS)
    return 0;
  t->files_checked_ms = now;
  return files_stamp(cfg) != t->files_stamp;
}

/* A free slot, evicting the least recently used unreferenced topology
 * (one still referenced is unhooked and freed by its last release). */
static int free_slot(void) {
  int lru = -1;
  for (int i = 0; i < MAX_TOPOS; i++) {
    if (!reg[i])
      return i;
    if (lru < 0 || reg[i]->used_ms < reg[lru]->used_ms)
      lru = i;
  }
  reg[lru]->registered = 0;
  if (!reg[lru]->refs)
    topo_free(reg[lru]);
  reg[lru] = NULL;
  return lru;
}

ce_rtopo *ce_topo_acquire(const ce_config *cfg) {
  char why[sizeof((ce_rtopo *)0)->why] = "";
  long long now = ce_mono_ms();
  int slot = -1;
  pthread_mutex_lock(&reg_mu);
  for (int i = 0; i < MAX_TOPOS && slot < 0; i++)
    if (reg[i] && same_settings(reg[i], cfg))
      slot = i;
  if (slot >= 0 && stale(reg[slot], cfg, now)) {
    ce_rtopo *old = reg[slot];
    if (old->disabled)
      snprintf(why, sizeof why, "%s", old->why);
    old->registered = 0;
    if (!old->refs)
      topo_free(old);
    reg[slot] = NULL;
  }
  if (slot < 0 || !reg[slot]) {
    if (slot < 0)
      slot = free_slot();
    reg[slot] = topo_build(cfg, why[0] ? why : NULL);
  }
  ce_rtopo *t = reg[slot];
  if (t) {
    t->refs++;
    t->used_ms = now;
  }
  pthread_mutex_unlock(&reg_mu);
  if (t && t->disabled) {
    ce_topo_release(t);
    return NULL;
  }
  return t;
}

void ce_topo_release(ce_rtopo *t) {
  if (!t)
    return;
  pthread_mutex_lock(&reg_mu);
  int last = --t->refs == 0 && !t->registered;
  pthread_mutex_unlock(&reg_mu);
  if (last)
    topo_free(t);
}

void ce_topo_shutdown(void) {
  pthread_mutex_lock(&reg_mu);
  for (int i = 0; i < MAX_TOPOS; i++)
    if (reg[i]) {
      reg[i]->registered = 0;
      if (!reg[i]->refs)
        topo_free(reg[i]);
      reg[i] = NULL;
    }
  pthread_mutex_unlock(&reg_mu);
}

int ce_topo_node(ce_rtopo *t, const ce_redis_host *h) {
  int found = -1;
  pthread_mutex_lock(&t->mu);
  for (int i = 0; i < t->n_nodes && found < 0; i++)
    if (t->nodes[i]->addr.port == h->port &&
        !strcmp(t->nodes[i]->addr.host, h->host))
      found = i;
  if (found < 0)
    found = add_node(t, h);
  pthread_mutex_unlock(&t->mu);
  return found;
}

/* ---- connections ---- */

ce_rconn *ce_topo_dial(ce_rtopo *t, const ce_redis_host *h, int auth, char *err,
                       size_t errlen) {
  ce_rdial d = {h, t->url.is_unix ? t->url.path : NULL, t->tls, t->tls_name,
                t->timeout_ms};
  ce_rconn *c = ce_rconn_dial(&d, err, errlen);
  if (c && auth &&
      ce_rconn_setup(c, t->url.user, t->password, t->has_password, 0, 0,
                     t->timeout_ms, err, errlen)) {
    ce_rconn_close(c);
    c = NULL;
  }
  return c;
}

static void node_name(const ce_rtopo *t, int i, char *out, size_t cap) {
  const ce_redis_host *h = &t->nodes[i]->addr;
  if (t->url.is_unix)
    snprintf(out, cap, "%s", t->url.path);
  else
    snprintf(out, cap, strchr(h->host, ':') ? "[%s]:%d" : "%s:%d", h->host,
             h->port);
}

/* Starts node i's skip window; logs once per node, again after a minute or
 * when the reason changes. */
static void node_down(ce_rtopo *t, int i, const char *what, const char *why) {
  char name[300];
  long long now = ce_mono_ms();
  node_name(t, i, name, sizeof name);
  pthread_mutex_lock(&t->mu);
  ce_rnode *n = t->nodes[i];
  n->down_until_ms = now + CE_REDIS_BACKOFF_MS;
  int say = strcmp(n->last_err, why) || now - n->logged_ms >= NODE_LOG_EVERY_MS;
  if (say) {
    snprintf(n->last_err, sizeof n->last_err, "%s", why);
    n->logged_ms = now;
  }
  pthread_mutex_unlock(&t->mu);
  if (say)
    ce_log("redis %s %s failed: %s; skipping it for %d ms", what, name, why,
           CE_REDIS_BACKOFF_MS);
}

static void node_up(ce_rtopo *t, int i) {
  pthread_mutex_lock(&t->mu);
  t->nodes[i]->last_err[0] = '\0';
  pthread_mutex_unlock(&t->mu);
}

int ce_node_is_down(ce_rtopo *t, int i) {
  pthread_mutex_lock(&t->mu);
  int down = ce_mono_ms() < t->nodes[i]->down_until_ms;
  pthread_mutex_unlock(&t->mu);
  return down;
}

static ce_rconn *dial_node(ce_rtopo *t, int i) {
  char err[200];
  int want_master = t->url.mode == CE_REDIS_SENTINEL;
  ce_rconn *c = ce_topo_dial(t, &t->nodes[i]->addr, 0, err, sizeof err);
  if (c && ce_rconn_setup(c, t->url.user, t->password, t->has_password,
                          t->url.mode == CE_REDIS_CLUSTER ? 0 : t->url.db,
                          want_master, t->timeout_ms, err, sizeof err)) {
    ce_rconn_close(c);
    c = NULL;
  }
  if (!c) {
    node_down(t, i, "connection to", err);
    if (want_master)
      ce_sentinel_forget(t, i);
    return NULL;
  }
  c->node = i;
  node_up(t, i);
  return c;
}

ce_rconn *ce_node_get(ce_rtopo *t, int i, int fresh) {
  ce_rconn *c = NULL;
  pthread_mutex_lock(&t->mu);
  ce_rnode *n = t->nodes[i];
  if (ce_mono_ms() < n->down_until_ms) {
    pthread_mutex_unlock(&t->mu);
    return NULL;
  }
  if (!fresh && (c = n->idle)) {
    n->idle = c->next;
    n->n_idle--;
    c->reused = 1;
  }
  pthread_mutex_unlock(&t->mu);
  return c ? c : dial_node(t, i);
}

void ce_node_put(ce_rtopo *t, ce_rconn *c) {
  ce_rconn_reset(c);
  if (c->err || c->reader->pos < c->reader->len) { /* unusable, or desync */
    ce_rconn_close(c);
    return;
  }
  c->reused = 0;
  pthread_mutex_lock(&t->mu);
  ce_rnode *n = t->nodes[c->node];
  if (n->n_idle < CE_REDIS_POOL_MAX) {
    c->next = n->idle;
    n->idle = c;
    n->n_idle++;
    c = NULL;
  }
  pthread_mutex_unlock(&t->mu);
  ce_rconn_close(c);
}

/* Closes node i's idle connections (they died with their sibling). */
static void drop_idle(ce_rtopo *t, int i) {
  pthread_mutex_lock(&t->mu);
  ce_rconn *c = t->nodes[i]->idle;
  t->nodes[i]->idle = NULL;
  t->nodes[i]->n_idle = 0;
  pthread_mutex_unlock(&t->mu);
  while (c) {
    ce_rconn *next = c->next;
    ce_rconn_close(c);
    c = next;
  }
}

int ce_node_failed(ce_rtopo *t, ce_rconn *c) {
  int i = c->node, retry = c->reused && c->err != CE_RERR_TIMEOUT;
  if (retry)
    drop_idle(t, i);
  else {
    node_down(t, i, "command on", c->errstr);
    if (t->url.mode == CE_REDIS_SENTINEL)
      ce_sentinel_forget(t, i);
  }
  ce_rconn_close(c);
  return retry;
}
