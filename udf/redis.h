/* Redis commands on whatever deployment the `redis` setting names — one
 * server (TCP, TLS, unix socket), a master found through Sentinel, or a
 * Redis Cluster — without the caller knowing which.
 *
 * ce_redis_run(cfg, cmds, n) sends every command to the node that owns its
 * key (cluster slot; the master otherwise), pipelined per node, the nodes
 * in parallel, and stores each answer in cmds[i].reply. Behind it: pooled
 * connections with connect/read/write timeouts; a failed command on a pooled
 * connection is retried once on a fresh one; a node that cannot be reached
 * on a fresh connection is skipped for CE_REDIS_BACKOFF_MS; MOVED / ASK are
 * followed and the slot map refreshed; sentinels are asked again on
 * connection errors and READONLY. Nothing here blocks longer than a few
 * times redis_timeout_ms, and nothing is logged with the password. */
#ifndef CE_REDIS_H
#define CE_REDIS_H

#include "config.h"

#include <stddef.h>

/* After a fresh connection to a node fails, that node is skipped this long. */
#define CE_REDIS_BACKOFF_MS 1000
/* Idle connections kept per node. */
#define CE_REDIS_POOL_MAX 64
#define CE_REDIS_MAX_ARGS 8

/* RESP2 reply types (the numbers hiredis uses). */
enum {
  CE_REPLY_STRING = 1,
  CE_REPLY_ARRAY = 2,
  CE_REPLY_INTEGER = 3,
  CE_REPLY_NIL = 4,
  CE_REPLY_STATUS = 5,
  CE_REPLY_ERROR = 6
};

typedef struct ce_redis_reply {
  int type;
  long long integer; /* INTEGER */
  size_t len;        /* STRING, STATUS, ERROR */
  char *str;         /* NUL-terminated as well */
  size_t elements;   /* ARRAY */
  struct ce_redis_reply **element;
} ce_redis_reply;

typedef struct ce_redis_cmd {
  /* The key that decides the node (cluster slot); NULL: any node. */
  const char *key;
  size_t key_len;
  int argc; /* <= CE_REDIS_MAX_ARGS */
  const char *argv[CE_REDIS_MAX_ARGS];
  size_t argv_len[CE_REDIS_MAX_ARGS];
  /* Set by ce_redis_run: the answer (possibly an error reply such as
   * WRONGTYPE), or NULL when Redis could not be asked. */
  ce_redis_reply *reply;
} ce_redis_cmd;

/* Starts a command routed by `key` (may be NULL); then add its arguments,
 * the command name first: ce_redis_cmd_arg(&c, "GET", 3); ... */
void ce_redis_cmd_init(ce_redis_cmd *c, const char *key, size_t key_len);
/* Appends one argument (not copied: it must outlive ce_redis_run). */
void ce_redis_cmd_arg(ce_redis_cmd *c, const void *arg, size_t len);

/* Runs n commands; returns how many got an answer (== n when Redis was
 * reachable for all of them). Free the answers with ce_redis_cmds_free. */
size_t ce_redis_run(const ce_config *cfg, ce_redis_cmd *cmds, size_t n);
void ce_redis_cmds_free(ce_redis_cmd *cmds, size_t n);

/* Closes every connection and forgets every topology (library unload). */
void ce_redis_shutdown(void);

#endif
