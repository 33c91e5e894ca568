#include "cache_entry.h"

#include "config.h"
#include "vector.h"

#include <string.h>

void ce_entry_encode(const uint8_t text_hash[CE_SHA256_LEN], const uint8_t *vec,
                     uint32_t dims, uint8_t *out) {
  memcpy(out, CE_ENTRY_MAGIC, 4);
  out[4] = (uint8_t)dims;
  out[5] = (uint8_t)(dims >> 8);
  out[6] = (uint8_t)(dims >> 16);
  out[7] = (uint8_t)(dims >> 24);
  memcpy(out + 8, text_hash, CE_SHA256_LEN);
  memcpy(out + CE_ENTRY_HEADER, vec, (size_t)dims * 4);
}

ce_entry_status ce_entry_decode(const uint8_t *val, size_t len,
                                const uint8_t text_hash[CE_SHA256_LEN],
                                uint32_t want_dims, const uint8_t **vec,
                                uint32_t *dims) {
  uint32_t d;

  if (len < CE_ENTRY_HEADER || memcmp(val, CE_ENTRY_MAGIC, 4))
    return CE_ENTRY_CORRUPT;
  d = (uint32_t)val[4] | (uint32_t)val[5] << 8 | (uint32_t)val[6] << 16 |
      (uint32_t)val[7] << 24;
  if (d == 0 || d > CE_MAX_DIMS || len != ce_entry_size(d) ||
      (want_dims && d != want_dims) || !ce_vec_finite(val + CE_ENTRY_HEADER, d))
    return CE_ENTRY_CORRUPT;
  if (memcmp(val + 8, text_hash, CE_SHA256_LEN))
    return CE_ENTRY_STALE;
  *vec = val + CE_ENTRY_HEADER;
  *dims = d;
  return CE_ENTRY_OK;
}
