/* Internals shared by the Redis files (not an API: include redis.h or
 * redis_cache.h instead). Layers, bottom up:
 *   redis_reply.c   RESP replies: a bounded hiredis reader that builds
 *                   ce_redis_reply objects; reading MOVED/ASK, CLUSTER SLOTS,
 *                   sentinel and ROLE answers (pure, no I/O)
 *   redis_slot.c    CRC16 and the cluster key slot (pure)
 *   redis_tls.c     OpenSSL: the context from the settings, the handshake,
 *                   certificate and host-name verification
 *   redis_conn.c    one connection: non-blocking connect, TLS, pipelined
 *                   writes and reads over poll() with timeouts, AUTH/SELECT
 *   redis_pool.c    topologies (one per distinct setting), their nodes, each
 *                   node's idle connections and skip window
 *   redis_sentinel.c  which node is the master
 *   redis_cluster.c   which node owns a slot
 *   redis_exec.c    ce_redis_run: routing, retries, redirections */
#ifndef CE_REDIS_PRIVATE_H
#define CE_REDIS_PRIVATE_H

#include "redis.h"
#include "redis_url.h"

#include <hiredis/read.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

/* ---- replies (redis_reply.c) ---- */

/* Unparsed bytes one connection may hold: far above the largest entry
 * (16,384 floats) times a pipeline, far below what would hurt mariadbd. */
#define CE_REDIS_MAX_PENDING (64u << 20)
/* Elements one array reply may announce. */
#define CE_REDIS_MAX_ELEMENTS (1 << 20)
#define CE_REDIS_SLOTS 16384

/* A hiredis reader whose replies are ce_redis_reply objects and whose
 * arrays are bounded; NULL when out of memory. */
redisReader *ce_reply_reader_new(void);
void ce_reply_free(ce_redis_reply *r);
/* 1 when r is an error reply whose first word is `code` ("MOVED"). */
int ce_reply_error_is(const ce_redis_reply *r, const char *code);
/* -MOVED / -ASK <slot> <host>:<port>: 0 with *ask, *slot and `to` filled
 * (an empty host means the node that answered: to->host is ""), or -1. */
int ce_reply_redirect(const ce_redis_reply *r, int *ask, int *slot,
                      ce_redis_host *to);
/* CLUSTER SLOTS: each(ctx, first, last, master) per slot range; returns the
 * number of ranges, or -1 when the reply is not a slot map. */
int ce_reply_slots(const ce_redis_reply *r,
                   void (*each)(void *ctx, int first, int last,
                                const ce_redis_host *master),
                   void *ctx);
/* SENTINEL get-master-addr-by-name: 0 with the address, or -1. */
int ce_reply_master_addr(const ce_redis_reply *r, ce_redis_host *out);
/* ROLE: 1 when the first element is "master". */
int ce_reply_role_is_master(const ce_redis_reply *r);

/* ---- slots (redis_slot.c) ---- */

uint16_t ce_crc16(const char *buf, size_t len);
/* The cluster slot of a key: CRC16 of the key, or of the text between the
 * first { and the next } when that is not empty, modulo 16384. */
int ce_redis_key_slot(const char *key, size_t len);

/* ---- TLS (redis_tls.c) ---- */

/* A client context from the redis_tls_* settings: certificates verified
 * against redis_tls_ca_file (or the system store), optional client
 * certificate and key. NULL with a message naming the file on failure. */
SSL_CTX *ce_tls_context(const ce_config *cfg, char *err, size_t errlen);
/* The TLS handshake on a connected non-blocking socket, verifying the
 * certificate and `name` (a host name or an IP address). NULL with a
 * message on failure (a certificate problem says which). */
SSL *ce_tls_connect(SSL_CTX *ctx, int fd, const char *name,
                    long long deadline_ms, char *err, size_t errlen);
void ce_tls_shutdown(void);

/* ---- one connection (redis_conn.c) ---- */

typedef enum {
  CE_FD_ERROR = -1,
  CE_FD_TIMEOUT = 0,
  CE_FD_READY = 1
} ce_fd_status;

/* Waits until fd is ready for `events` (POLLIN/POLLOUT) or the monotonic
 * deadline passes. */
ce_fd_status ce_fd_wait(int fd, short events, long long deadline_ms);

typedef enum {
  CE_RERR_NONE,
  CE_RERR_IO,      /* closed or reset by the peer */
  CE_RERR_TIMEOUT, /* no progress within redis_timeout_ms */
  CE_RERR_PROTO,   /* not RESP, or over the bounds */
  CE_RERR_CONNECT, /* could not connect (refused, unreachable, TLS) */
  CE_RERR_SETUP,   /* AUTH / SELECT / ROLE refused */
  CE_RERR_OOM
} ce_rerr;

typedef struct ce_rconn {
  int fd;
  SSL *ssl;
  int ssl_want_write; /* the last SSL call asked to wait for POLLOUT */
  redisReader *reader;
  char *out; /* queued commands */
  size_t out_len, out_off, out_cap;
  ce_redis_reply **rep; /* the replies of this exchange, in order */
  size_t want, got, rep_cap;
  ce_rerr err;
  char errstr[128];
  int reused; /* taken from the pool: may have died while idle */
  int node;   /* index in the topology */
  struct ce_rconn *next;
} ce_rconn;

typedef struct ce_rdial {
  const ce_redis_host *addr; /* or `path` for a unix socket */
  const char *path;
  SSL_CTX *tls;         /* NULL: plain */
  const char *tls_name; /* the name the certificate must carry */
  long timeout_ms;
} ce_rdial;

/* Connects (and does the TLS handshake); NULL with a message. */
ce_rconn *ce_rconn_dial(const ce_rdial *d, char *err, size_t errlen);
void ce_rconn_close(ce_rconn *c);
/* Queues one command (hiredis's formatter); -1 when out of memory. */
int ce_rconn_append(ce_rconn *c, int argc, const char *const *argv,
                    const size_t *lens);
/* Sends what is queued on every connection and reads each one's replies,
 * all connections at once; a connection that fails gets c->err. */
void ce_rconn_exchange(ce_rconn *const *cs, size_t n, long timeout_ms);
/* Frees the replies of the last exchange and empties the queue. */
void ce_rconn_reset(ce_rconn *c);
/* AUTH (user + password), SELECT db, and ROLE when `want_master`; 0, or -1
 * with a message (the server's, never the password). */
int ce_rconn_setup(ce_rconn *c, const char *user, const char *password,
                   int has_password, int db, int want_master, long timeout_ms,
                   char *err, size_t errlen);

/* ---- topologies, nodes, pools (redis_pool.c) ---- */

#define CE_REDIS_MAX_NODES 128

typedef struct ce_rnode {
  ce_redis_host addr;
  ce_rconn *idle;
  int n_idle;
  long long down_until_ms;
  char last_err[160]; /* logged once, again after a minute or a change */
  long long logged_ms;
} ce_rnode;

typedef struct ce_rtopo {
  /* the settings it was built from (the URL may hold the password) */
  char redis[sizeof((ce_config *)0)->redis];
  char ca_file[sizeof((ce_config *)0)->redis_tls_ca_file];
  char cert_file[sizeof((ce_config *)0)->redis_tls_cert_file];
  char key_file[sizeof((ce_config *)0)->redis_tls_key_file];
  char server_name[sizeof((ce_config *)0)->redis_tls_server_name];
  char password_file[sizeof((ce_config *)0)->redis_password_file];
  long tls_on;
  int registered; /* in the registry (else freed by its last release) */
  int refs;
  long long used_ms;
  ce_redis_url url;
  char password[256]; /* from the URL or redis_password_file */
  int has_password;
  SSL_CTX *tls;
  char tls_name[256]; /* redis_tls_server_name, or empty: each host's */
  long timeout_ms;
  int disabled;       /* the settings cannot work: skipped, re-checked */
  long long retry_ms; /* when a disabled topology is rebuilt */
  char why[320];
  long long files_checked_ms;
  uint64_t files_stamp; /* password/TLS files: re-read when they change */
  pthread_mutex_t mu;   /* everything below */
  ce_rnode *nodes[CE_REDIS_MAX_NODES];
  int n_nodes;
  uint16_t *slots; /* cluster: node of each slot, 0xffff unknown */
  int map_ok, map_stale;
  long long map_ms;
  int master;                 /* sentinel: node index, -1 unknown */
  pthread_mutex_t refresh_mu; /* one refresh / discovery at a time */
} ce_rtopo;

/* The topology for cfg (built on first use), referenced; NULL when the
 * cache is off (bad setting, unreadable file: logged once) or out of
 * memory. */
ce_rtopo *ce_topo_acquire(const ce_config *cfg);
void ce_topo_release(ce_rtopo *t);
/* Index of the node at `h`, added when new; -1 when the table is full. */
int ce_topo_node(ce_rtopo *t, const ce_redis_host *h);
/* A ready connection to node i: pooled (unless `fresh`), or new
 * (connected, authenticated, database selected, ROLE checked for a
 * sentinel's master). NULL when the node is in its skip window or a new
 * connection failed (which starts the window, is logged, and makes a
 * sentinel topology forget its master). */
ce_rconn *ce_node_get(ce_rtopo *t, int i, int fresh);
/* Back to the pool after a clean exchange. */
void ce_node_put(ce_rtopo *t, ce_rconn *c);
/* A connection failed, and is closed. Returns 1 when it came from the pool
 * and did not time out: it may just have died while idle, the node's other
 * idle connections are closed too, and the caller retries once on a fresh
 * one. Otherwise (0) the node's skip window starts. */
int ce_node_failed(ce_rtopo *t, ce_rconn *c);
int ce_node_is_down(ce_rtopo *t, int i);
/* Dials a node for a one-off question (sentinel, CLUSTER SLOTS): AUTH as
 * for the data nodes when `auth`. */
ce_rconn *ce_topo_dial(ce_rtopo *t, const ce_redis_host *h, int auth, char *err,
                       size_t errlen);
/* Frees every topology (unload). */
void ce_topo_shutdown(void);

/* ---- routing ---- */

/* Sentinel: the master's node index, asking the sentinels when unknown; -1
 * when none answers. ce_sentinel_forget: the master failed or is read-only. */
int ce_sentinel_master(ce_rtopo *t);
void ce_sentinel_forget(ce_rtopo *t, int node);
/* Cluster: the node owning `slot`, loading the slot map when there is none;
 * -1 when unknown. */
int ce_cluster_node(ce_rtopo *t, int slot);
/* A MOVED reply: slot now at node; the map is re-read soon. */
void ce_cluster_moved(ce_rtopo *t, int slot, int node);
/* A node failed: the map is re-read before the next use (rate-limited). */
void ce_cluster_stale(ce_rtopo *t);
/* Re-reads the slot map if it is stale (at most every 100 ms). */
void ce_cluster_refresh(ce_rtopo *t, int force);

#endif
