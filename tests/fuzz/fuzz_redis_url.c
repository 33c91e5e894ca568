/* libFuzzer: the Redis-URL parser. The message on failure must never
 * contain the password part of the input. */
#include "redis_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  ce_redis_url u;
  char err[160];
  if (!url)
    return 0;
  memcpy(url, data, size);
  url[size] = '\0';
  if (ce_redis_url_parse(url, &u, err, sizeof err) == 0) {
    if (!memchr(u.host, '\0', sizeof u.host) ||
        !memchr(u.path, '\0', sizeof u.path) ||
        !memchr(u.password, '\0', sizeof u.password) || u.db < 0)
      abort();
    if (!u.is_unix && (u.port < 1 || u.port > 65535))
      abort();
  } else if (!memchr(err, '\0', sizeof err)) {
    abort();
  }
  free(url);
  return 0;
}
