/* libFuzzer: the cache-entry decoder. The first 32 bytes are the text
 * hash the caller expects, the rest is the Redis value. */
#include "cache_entry.h"
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t hash[CE_SHA256_LEN] = {0};
  if (size > CE_SHA256_LEN) {
    memcpy(hash, data, CE_SHA256_LEN);
    data += CE_SHA256_LEN;
    size -= CE_SHA256_LEN;
  }
  /* the value in its own allocation, so ASan sees every overread */
  uint8_t *val = malloc(size ? size : 1);
  if (!val)
    return 0;
  memcpy(val, data, size);
  for (int w = 0; w < 2; w++) {
    const uint8_t *vec = NULL;
    uint32_t dims = 0;
    uint32_t want = w ? 768 : 0;
    if (ce_entry_decode(val, size, hash, want, &vec, &dims) == CE_ENTRY_OK) {
      if (!dims || dims > CE_MAX_DIMS || (want && dims != want) ||
          vec + (size_t)dims * 4 > val + size || ce_entry_size(dims) != size)
        abort();
      /* encode(decode(x)) == x */
      uint8_t *again = malloc(ce_entry_size(dims));
      if (again) {
        ce_entry_encode(hash, vec, dims, again);
        if (memcmp(again, val, size))
          abort();
        free(again);
      }
    }
  }
  free(val);
  return 0;
}
