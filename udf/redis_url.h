/* The `redis` setting, parsed. Forms:
 *   redis://[user[:password]@]host[:port][/db]
 *   rediss://[user[:password]@]host[:port][/db]              (TLS)
 *   unix:///path[?db=N]
 *   redis-sentinel://[user[:password]@]h[:p][,h[:p]...]/master[/db]
 *   redis-cluster://[user[:password]@]h[:p][,h[:p]...]
 * Characters with a meaning in the URL (@ : / , % ?) are percent-encoded in
 * the user name, password and master name. Pure: no I/O. */
#ifndef CE_REDIS_URL_H
#define CE_REDIS_URL_H

#include <stddef.h>

#define CE_REDIS_MAX_HOSTS 16
#define CE_REDIS_DEFAULT_PORT 6379
#define CE_REDIS_SENTINEL_PORT 26379

typedef enum {
  CE_REDIS_SINGLE,   /* one server: redis://, rediss://, unix:// */
  CE_REDIS_SENTINEL, /* the sentinels to ask for the master */
  CE_REDIS_CLUSTER   /* seed nodes of a Redis Cluster */
} ce_redis_mode;

typedef struct ce_redis_host {
  char host[256]; /* name or address, IPv6 without brackets */
  int port;
} ce_redis_host;

typedef struct ce_redis_url {
  ce_redis_mode mode;
  int tls;     /* rediss:// (the other forms take the redis_tls setting) */
  int is_unix; /* unix://: `path` instead of hosts */
  char path[256];
  size_t n_hosts;
  ce_redis_host hosts[CE_REDIS_MAX_HOSTS];
  char user[128];     /* ACL user; empty: the default user */
  char password[256]; /* never logged */
  int has_password;
  char master[128]; /* sentinel: the monitored master's name */
  int db;
} ce_redis_url;

/* 0, or -1 with a message in `err` that never contains the user name, the
 * password or any other part of the input. */
int ce_redis_url_parse(const char *url, ce_redis_url *out, char *err,
                       size_t errlen);

/* "redis-cluster 10.0.0.1:7000,10.0.0.2:7000" — what the URL points at,
 * for log lines: no user name, no password. */
void ce_redis_url_describe(const ce_redis_url *u, char *out, size_t cap);

#endif
