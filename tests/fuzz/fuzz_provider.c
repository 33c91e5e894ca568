/* libFuzzer: the provider-response parser and the error-body reader.
 * Byte 0 picks the number of inputs (1..4) and whether a length is
 * expected; the rest is the HTTP body. */
#include "provider.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t n = 1 + (data[0] & 3);
  uint32_t want = (data[0] & 4) ? 768 : (data[0] & 8) ? 4 : 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  ce_embeddings e;
  char err[160], msg[200];
  if (ce_provider_parse_response(body, len, n, want, &e, err, sizeof err,
                                 NULL) == 0) {
    /* success: n vectors of dims values, all finite */
    if (e.n != n || !e.dims || (want && e.dims != want))
      abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n * e.dims * 4; i++)
      sink ^= e.vecs[i];
    ce_embeddings_free(&e);
  } else if (!err[0] || memchr(err, '\0', sizeof err) == NULL) {
    abort();
  }
  ce_provider_error_message(body, len, "sk-fuzz-key", msg, sizeof msg);
  if (memchr(msg, '\0', sizeof msg) == NULL)
    abort();
  return 0;
}
