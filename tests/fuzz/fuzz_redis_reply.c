/* libFuzzer: Redis replies as they come off the wire (a server, or anything
 * answering on its port): the bounded reader, then the answers the layer
 * reads itself (MOVED/ASK, CLUSTER SLOTS, sentinel, ROLE). */
#include "redis_private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_range(void *ctx, int first, int last, const ce_redis_host *m) {
  (void)ctx;
  if (first < 0 || last >= CE_REDIS_SLOTS || first > last ||
      !memchr(m->host, '\0', sizeof m->host) || m->port < 1 || m->port > 65535)
    abort();
}

static void inspect(const ce_redis_reply *r) {
  ce_redis_host h;
  int ask, slot;
  if (ce_reply_redirect(r, &ask, &slot, &h) == 0 &&
      (slot < 0 || slot >= CE_REDIS_SLOTS || h.port < 1 || h.port > 65535))
    abort();
  ce_reply_slots(r, on_range, NULL);
  if (ce_reply_master_addr(r, &h) == 0 && (h.port < 1 || !h.host[0]))
    abort();
  ce_reply_role_is_master(r);
  if (r->type == CE_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; i++)
      if (r->element[i])
        inspect(r->element[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  redisReader *rd = ce_reply_reader_new();
  if (!rd)
    return 0;
  /* fed in two pieces: replies split across reads */
  size_t cut = size / 2;
  if (redisReaderFeed(rd, (const char *)data, cut) == REDIS_OK &&
      redisReaderFeed(rd, (const char *)data + cut, size - cut) == REDIS_OK) {
    void *reply;
    while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
      inspect(reply);
      ce_reply_free(reply);
    }
  }
  redisReaderFree(rd);
  return 0;
}
