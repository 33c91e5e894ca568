/* libFuzzer: the Redis-URL parser (every form: redis, rediss, unix,
 * redis-sentinel, redis-cluster). Neither the message on failure nor the
 * description used in log lines may contain the credentials. */
#include "redis_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hosts(const ce_redis_url *u) {
  if (u->n_hosts > CE_REDIS_MAX_HOSTS || (!u->is_unix && !u->n_hosts))
    abort();
  for (size_t i = 0; i < u->n_hosts; i++)
    if (!memchr(u->hosts[i].host, '\0', sizeof u->hosts[i].host) ||
        !u->hosts[i].host[0] || u->hosts[i].port < 1 ||
        u->hosts[i].port > 65535)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  ce_redis_url u;
  char err[160], desc[512];
  if (!url)
    return 0;
  memcpy(url, data, size);
  url[size] = '\0';
  if (ce_redis_url_parse(url, &u, err, sizeof err) == 0) {
    if (!memchr(u.path, '\0', sizeof u.path) ||
        !memchr(u.user, '\0', sizeof u.user) ||
        !memchr(u.master, '\0', sizeof u.master) ||
        !memchr(u.password, '\0', sizeof u.password) || u.db < 0 ||
        (u.mode == CE_REDIS_SENTINEL && !u.master[0]) ||
        (u.mode == CE_REDIS_CLUSTER && u.db))
      abort();
    check_hosts(&u);
    ce_redis_url_describe(&u, desc, sizeof desc);
    /* hosts never hold '@', so an '@' before the master name (which may
     * hold one) would be credentials leaking */
    if (!memchr(desc, '\0', sizeof desc))
      abort();
    char *master = strstr(desc, " master ");
    if (master)
      *master = '\0';
    if (!u.is_unix && strchr(desc, '@'))
      abort();
  } else if (!memchr(err, '\0', sizeof err)) {
    abort();
  }
  free(url);
  return 0;
}
